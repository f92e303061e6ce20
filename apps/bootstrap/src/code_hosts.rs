//! Code hosts: each host adapter's typed configuration (`GITHUB_*`, feature
//! `git-github`) and the providers [`wire`](crate::wire) hands the engine.
//! A host whose variables are set in a build without its feature fails at
//! start-up with the usual `missing_feature` error.

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
        rows
    }
}

/// Appends the code hosts' configuration problems to `errs`.
pub(crate) fn read(env: &EnvMap, errs: &mut Vec<ConfigError>) -> CodeHostsConfig {
    let mut s = Settings::new(env);
    let freshness = lettuce_engine::FreshnessSettings::from_settings(&mut s);
    #[cfg(feature = "git-github")]
    let config = CodeHostsConfig {
        freshness,
        github: lettuce_git_github::GitHubConfig::from_settings(&mut s),
    };
    #[cfg(not(feature = "git-github"))]
    let config = {
        for var in ["GITHUB_APP_ID", "GITHUB_APP_NAME", "GITHUB_APP_CLIENT_ID"] {
            if let Some(v) = s.get(var) {
                s.push(lettuce_ports::config::missing_feature("git-github", var, &v));
                break;
            }
        }
        CodeHostsConfig {
            freshness,
            ..CodeHostsConfig::default()
        }
    };
    errs.extend(s.into_errors());
    config
}

/// The code-host providers of this build. Their secrets
/// (`GITHUB_APP_PRIVATE_KEY`, `GITHUB_APP_CLIENT_SECRET`) are resolved
/// through the secret store now; a missing one leaves the host "not
/// configured" (503 on its routes, one boot log naming what is missing).
pub(crate) async fn providers(
    config: &CodeHostsConfig,
    secrets: &crate::secrets::Secrets,
) -> anyhow::Result<Vec<std::sync::Arc<dyn lettuce_ports::git::GitProvider>>> {
    let _ = (config, secrets);
    #[allow(unused_mut)]
    let mut out: Vec<std::sync::Arc<dyn lettuce_ports::git::GitProvider>> = Vec::new();
    #[cfg(feature = "git-github")]
    if let Some(c) = &config.github {
        let key = secrets.resolve("GITHUB_APP_PRIVATE_KEY").await?.map(|(v, _)| v);
        let client_secret = secrets.resolve("GITHUB_APP_CLIENT_SECRET").await?.map(|(v, _)| v);
        let app = lettuce_git_github::GitHubApp::new(c.clone(), key, client_secret).map_err(anyhow::Error::msg)?;
        out.push(std::sync::Arc::new(app));
    }
    Ok(out)
}
