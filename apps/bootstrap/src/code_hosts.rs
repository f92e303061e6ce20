//! Code hosts: each host adapter's typed configuration (`GITHUB_*`, feature
//! `git-github`; `BITBUCKET_*`, feature `git-bitbucket`) and the providers
//! [`wire`](crate::wire) hands the engine. A host whose variables are set in
//! a build without its feature fails at start-up with the usual
//! `missing_feature` error.

use crate::config::EnvMap;
use lettuce_ports::config::{ConfigError, Settings};

/// The code hosts' configuration.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CodeHostsConfig {
    /// `GITHUB_HOST`, `GITHUB_APP_*` (secrets are read through the store).
    #[cfg(feature = "git-github")]
    pub github: Option<lettuce_git_github::GitHubConfig>,
    /// `BITBUCKET_FLAVOR`, `BITBUCKET_HOST`, `BITBUCKET_APP_CLIENT_ID` (the
    /// client secret is read through the store).
    #[cfg(feature = "git-bitbucket")]
    pub bitbucket: Option<lettuce_git_bitbucket::BitbucketConfig>,
}

impl CodeHostsConfig {
    /// Rows for `lettuce config check` (no secret values).
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        #[allow(unused_mut)]
        let mut rows = Vec::new();
        #[cfg(feature = "git-github")]
        if let Some(c) = &self.github {
            rows.extend(c.describe());
        }
        #[cfg(feature = "git-bitbucket")]
        if let Some(c) = &self.bitbucket {
            rows.extend(c.describe());
        }
        rows
    }
}

/// The first of `vars` that is set, as a `missing_feature` error.
#[allow(dead_code)]
fn feature_missing(s: &mut Settings<'_>, feature: &str, vars: &[&'static str]) {
    for var in vars {
        if let Some(v) = s.get(var) {
            s.push(lettuce_ports::config::missing_feature(feature, var, &v));
            break;
        }
    }
}

/// Appends the code hosts' configuration problems to `errs`.
pub(crate) fn read(env: &EnvMap, errs: &mut Vec<ConfigError>) -> CodeHostsConfig {
    let mut s = Settings::new(env);
    #[allow(unused_mut)]
    let mut config = CodeHostsConfig::default();
    #[cfg(feature = "git-github")]
    {
        config.github = lettuce_git_github::GitHubConfig::from_settings(&mut s);
    }
    #[cfg(not(feature = "git-github"))]
    feature_missing(
        &mut s,
        "git-github",
        &["GITHUB_APP_ID", "GITHUB_APP_NAME", "GITHUB_APP_CLIENT_ID"],
    );
    #[cfg(feature = "git-bitbucket")]
    {
        config.bitbucket = lettuce_git_bitbucket::BitbucketConfig::from_settings(&mut s);
    }
    #[cfg(not(feature = "git-bitbucket"))]
    feature_missing(
        &mut s,
        "git-bitbucket",
        &[
            "BITBUCKET_FLAVOR",
            "BITBUCKET_HOST",
            "BITBUCKET_APP_CLIENT_ID",
            "BITBUCKET_APP_CLIENT_SECRET",
        ],
    );
    errs.extend(s.into_errors());
    config
}

/// The code-host providers of this build. Their secrets
/// (`GITHUB_APP_PRIVATE_KEY`, `GITHUB_APP_CLIENT_SECRET`,
/// `BITBUCKET_APP_CLIENT_SECRET`) are resolved through the secret store now;
/// a missing one leaves the host "not configured" (503 on its routes, one
/// boot log naming what is missing). `web_url` is `LETTUCE_WEB_URL`, from
/// which OAuth callbacks are built.
pub(crate) async fn providers(
    config: &CodeHostsConfig,
    secrets: &crate::secrets::Secrets,
    web_url: &str,
) -> anyhow::Result<Vec<std::sync::Arc<dyn lettuce_ports::git::GitProvider>>> {
    let _ = (config, secrets, web_url);
    #[allow(unused_mut)]
    let mut out: Vec<std::sync::Arc<dyn lettuce_ports::git::GitProvider>> = Vec::new();
    #[cfg(feature = "git-github")]
    if let Some(c) = &config.github {
        let key = secrets.resolve("GITHUB_APP_PRIVATE_KEY").await?.map(|(v, _)| v);
        let client_secret = secrets.resolve("GITHUB_APP_CLIENT_SECRET").await?.map(|(v, _)| v);
        let app = lettuce_git_github::GitHubApp::new(c.clone(), key, client_secret).map_err(anyhow::Error::msg)?;
        out.push(std::sync::Arc::new(app));
    }
    #[cfg(feature = "git-bitbucket")]
    if let Some(c) = &config.bitbucket {
        let client_secret = secrets.resolve("BITBUCKET_APP_CLIENT_SECRET").await?.map(|(v, _)| v);
        let callback = format!("{}/v1/integrations/bitbucket/callback", web_url.trim_end_matches('/'));
        let bb =
            lettuce_git_bitbucket::Bitbucket::new(c.clone(), client_secret, callback).map_err(anyhow::Error::msg)?;
        out.push(std::sync::Arc::new(bb));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(vars: &[(&str, &str)]) -> Vec<ConfigError> {
        let env = EnvMap::from_pairs(vars.iter().map(|(k, v)| (*k, *v)));
        let mut errs = Vec::new();
        read(&env, &mut errs);
        errs
    }

    #[test]
    fn bitbucket_variables_need_the_feature_or_are_checked() {
        let errs = errors(&[("BITBUCKET_FLAVOR", "dc")]);
        assert_eq!(errs.len(), 1, "{errs:?}");
        if cfg!(feature = "git-bitbucket") {
            assert_eq!(errs[0].var, "BITBUCKET_HOST", "dc needs its host");
        } else {
            assert!(errs[0].to_string().contains("git-bitbucket"), "{}", errs[0]);
        }
        if cfg!(feature = "git-bitbucket") {
            let errs = errors(&[("BITBUCKET_FLAVOR", "server")]);
            assert_eq!(errs.iter().map(|e| e.var).collect::<Vec<_>>(), ["BITBUCKET_FLAVOR"]);
            assert!(errors(&[("BITBUCKET_FLAVOR", "dc"), ("BITBUCKET_HOST", "bb.acme.com")]).is_empty());
        }
    }
}
