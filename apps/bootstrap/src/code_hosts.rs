//! Code hosts: each host adapter's typed configuration (`GITHUB_*`, feature
//! `git-github`; `GITLAB_*`, feature `git-gitlab`; `BITBUCKET_*`, feature
//! `git-bitbucket`) and the providers
//! [`wire`](crate::wire) hands the engine. A host whose variables are set in
//! a build without its feature fails at start-up with the usual
//! `missing_feature` error.

use crate::config::EnvMap;
use lettuce_ports::config::{ConfigError, Settings};

/// The code hosts' configuration.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CodeHostsConfig {
    /// `LETTUCE_WEBHOOK_CHECK_INTERVAL`, `LETTUCE_POLL_BUDGET_PER_HOST`: the
    /// periodic webhook check and the polling fallback.
    pub freshness: lettuce_engine::FreshnessSettings,
    /// `GITHUB_HOST`, `GITHUB_APP_*` (secrets are read through the store).
    #[cfg(feature = "git-github")]
    pub github: Option<lettuce_git_github::GitHubConfig>,
    /// `GITLAB_HOST` (or the legacy `GITLAB_BASE_URL`),
    /// `GITLAB_APP_CLIENT_ID` (the client secret is read through the store).
    #[cfg(feature = "git-gitlab")]
    pub gitlab: Option<lettuce_git_gitlab::GitLabConfig>,
    /// `BITBUCKET_FLAVOR`, `BITBUCKET_HOST`, `BITBUCKET_APP_CLIENT_ID` (the
    /// client secret is read through the store).
    #[cfg(feature = "git-bitbucket")]
    pub bitbucket: Option<lettuce_git_bitbucket::BitbucketConfig>,
}

impl CodeHostsConfig {
    /// Rows for `lettuce config check` (no secret values).
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        #[allow(unused_mut)]
        let mut rows = vec![
            (
                "LETTUCE_WEBHOOK_CHECK_INTERVAL",
                format!("{} s", self.freshness.check_interval.as_secs()),
            ),
            (
                "LETTUCE_POLL_BUDGET_PER_HOST",
                format!("{} checks per host per hour", self.freshness.poll_budget_per_host),
            ),
        ];
        #[cfg(feature = "git-github")]
        if let Some(c) = &self.github {
            rows.extend(c.describe());
        }
        #[cfg(feature = "git-gitlab")]
        if let Some(c) = &self.gitlab {
            rows.extend(c.describe());
        }
        #[cfg(feature = "git-bitbucket")]
        if let Some(c) = &self.bitbucket {
            rows.extend(c.describe());
        }
        rows
    }
}

/// The first of `vars` that is set, as the `missing_feature` error for
/// `feature`.
#[allow(dead_code)]
fn refuse_without_feature(s: &mut Settings<'_>, feature: &str, vars: &[&'static str]) {
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
    let mut config = CodeHostsConfig {
        freshness: lettuce_engine::FreshnessSettings::from_settings(&mut s),
        ..CodeHostsConfig::default()
    };
    #[cfg(feature = "git-github")]
    {
        config.github = lettuce_git_github::GitHubConfig::from_settings(&mut s);
    }
    #[cfg(not(feature = "git-github"))]
    refuse_without_feature(
        &mut s,
        "git-github",
        &["GITHUB_APP_ID", "GITHUB_APP_NAME", "GITHUB_APP_CLIENT_ID"],
    );
    #[cfg(feature = "git-gitlab")]
    {
        config.gitlab = lettuce_git_gitlab::GitLabConfig::from_settings(&mut s);
    }
    #[cfg(not(feature = "git-gitlab"))]
    refuse_without_feature(
        &mut s,
        "git-gitlab",
        &["GITLAB_APP_CLIENT_ID", "GITLAB_HOST", "GITLAB_BASE_URL"],
    );
    #[cfg(feature = "git-bitbucket")]
    {
        config.bitbucket = lettuce_git_bitbucket::BitbucketConfig::from_settings(&mut s);
    }
    #[cfg(not(feature = "git-bitbucket"))]
    refuse_without_feature(
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
/// `GITLAB_APP_CLIENT_SECRET`, `BITBUCKET_APP_CLIENT_SECRET`) are resolved
/// through the secret store now; a missing one leaves the host "not
/// configured" (503 on its routes, one boot log naming what is missing).
/// `web_url` is `LETTUCE_WEB_URL` as resolved (OAuth redirect URIs are built
/// on it).
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
    #[cfg(feature = "git-gitlab")]
    if let Some(c) = &config.gitlab {
        let client_secret = secrets.resolve("GITLAB_APP_CLIENT_SECRET").await?.map(|(v, _)| v);
        let gitlab = lettuce_git_gitlab::GitLabOAuth::new(c.clone(), client_secret, Some(web_url.to_owned()))
            .map_err(anyhow::Error::msg)?;
        out.push(std::sync::Arc::new(gitlab));
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

    fn errors(pairs: &[(&str, &str)]) -> Vec<ConfigError> {
        let mut errs = Vec::new();
        read(&EnvMap::from_pairs(pairs.iter().copied()), &mut errs);
        errs
    }

    #[test]
    fn gitlab_variables_need_the_feature() {
        for var in ["GITLAB_APP_CLIENT_ID", "GITLAB_HOST", "GITLAB_BASE_URL"] {
            let errs = errors(&[(var, "gitlab.acme.com")]);
            if cfg!(feature = "git-gitlab") {
                assert!(errs.is_empty(), "{var}: {errs:?}");
            } else {
                assert_eq!(errs.len(), 1, "{var}: {errs:?}");
                assert_eq!(errs[0].var, var);
                assert!(errs[0].to_string().contains("git-gitlab"), "{}", errs[0]);
            }
        }
    }

    #[cfg(feature = "git-gitlab")]
    #[test]
    fn gitlab_config_is_read_and_checked() {
        let mut errs = Vec::new();
        let c = read(
            &EnvMap::from_pairs([
                ("GITLAB_BASE_URL", "https://gitlab.acme.com/"),
                ("GITLAB_APP_CLIENT_ID", "app"),
            ]),
            &mut errs,
        );
        assert!(errs.is_empty(), "{errs:?}");
        let gl = c.gitlab.as_ref().expect("gitlab config");
        assert_eq!(gl.urls.api, "https://gitlab.acme.com/api/v4");
        assert!(c.describe().iter().any(|(k, _)| *k == "GITLAB_APP_CLIENT_ID"));
        let errs = errors(&[("GITLAB_HOST", "gitlab.acme.com/sub")]);
        assert_eq!(errs.iter().map(|e| e.var).collect::<Vec<_>>(), ["GITLAB_HOST"]);
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
