//! `GITLAB_*` settings. The OAuth application's secret
//! (`GITLAB_APP_CLIENT_SECRET`) is not read here: the app resolves it
//! through the secret store and hands it to [`crate::GitLabOAuth::new`].

use lettuce_domain::codehost::GitLabUrls;
use lettuce_ports::config::Settings;

/// Non-secret settings of the GitLab OAuth application. Every variable is
/// optional at start-up: a missing one makes the GitLab routes answer 503
/// "GitLab is not configured on this Lettuce instance", and the boot log
/// names it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GitLabConfig {
    /// The GitLab host (`gitlab.com` by default), from `GITLAB_HOST` or the
    /// legacy `GITLAB_BASE_URL`.
    pub host: String,
    /// Which variable set the host (`None`: the default `gitlab.com`).
    pub host_var: Option<&'static str>,
    /// API and web base URLs derived from the host.
    pub urls: GitLabUrls,
    /// `GITLAB_APP_CLIENT_ID`: the OAuth application's Application ID.
    pub client_id: Option<String>,
}

fn is_host(bare: &str) -> bool {
    !bare.is_empty()
        && !bare.contains(char::is_whitespace)
        && !bare.contains(['/', '@', '?', '#'])
        && url::Url::parse(&format!("https://{bare}")).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty()))
}

impl GitLabConfig {
    /// Reads `GITLAB_HOST` (canonical; a host, optionally with `https://`
    /// and a port), else `GITLAB_BASE_URL` (legacy: a full URL or a bare
    /// host, parsed for its host part), else `gitlab.com`; and
    /// `GITLAB_APP_CLIENT_ID`. Malformed values are errors naming the
    /// variable and the fix.
    pub fn from_settings(s: &mut Settings<'_>) -> Option<Self> {
        let get = |s: &Settings<'_>, var: &str| s.get(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let (host, host_var) = if let Some(host) = get(s, "GITLAB_HOST") {
            let bare = host.split_once("://").map_or(host.as_str(), |(_, rest)| rest);
            let scheme_ok = !host.contains("://") || host.starts_with("https://") || host.starts_with("http://");
            if !scheme_ok || !is_host(bare.trim_end_matches('/')) {
                s.error(
                    "GITLAB_HOST",
                    format!("`{host}` is not a host name"),
                    "set GITLAB_HOST to the GitLab host only, e.g. gitlab.com or gitlab.acme.com (no path; GITLAB_BASE_URL takes a full URL)",
                );
                return None;
            }
            (host, Some("GITLAB_HOST"))
        } else if let Some(base) = get(s, "GITLAB_BASE_URL") {
            match GitLabUrls::host_of_base_url(&base) {
                Some(host) if is_host(host.split_once("://").map_or(host.as_str(), |(_, r)| r)) => {
                    (host, Some("GITLAB_BASE_URL"))
                }
                _ => {
                    s.error(
                        "GITLAB_BASE_URL",
                        format!("`{base}` is not a GitLab URL"),
                        "set GITLAB_BASE_URL to the GitLab URL, e.g. https://gitlab.acme.com (or set GITLAB_HOST=gitlab.acme.com instead)",
                    );
                    return None;
                }
            }
        } else {
            ("gitlab.com".to_owned(), None)
        };
        let client_id = get(s, "GITLAB_APP_CLIENT_ID");
        if let Some(id) = &client_id
            && id.contains(char::is_whitespace)
        {
            s.error(
                "GITLAB_APP_CLIENT_ID",
                "the Application ID contains whitespace",
                "set GITLAB_APP_CLIENT_ID to the Application ID GitLab shows on the application's page",
            );
        }
        Some(GitLabConfig {
            urls: GitLabUrls::for_host(&host),
            host,
            host_var,
            client_id,
        })
    }

    /// Rows for `lettuce config check` (no secrets).
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let from = self.host_var.map_or_else(String::new, |v| format!(", from {v}"));
        vec![
            ("GITLAB_HOST", format!("{} (API {}{from})", self.host, self.urls.api)),
            (
                "GITLAB_APP_CLIENT_ID",
                self.client_id.clone().unwrap_or_else(|| "(not set)".to_owned()),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    type Errors = Vec<(&'static str, String)>;
    type Vars<'a> = &'a [(&'a str, &'a str)];

    fn read(vars: &[(&str, &str)]) -> Result<GitLabConfig, Errors> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let mut s = Settings::new(&map);
        let c = GitLabConfig::from_settings(&mut s);
        let errs = s.into_errors();
        if errs.is_empty() {
            Ok(c.expect("config"))
        } else {
            Err(errs.iter().map(|e| (e.var, e.to_string())).collect())
        }
    }

    #[test]
    fn hosts_and_urls() {
        let cases: [(Vars, &str, Option<&str>); 8] = [
            (&[], "https://gitlab.com/api/v4", None),
            (
                &[("GITLAB_HOST", "gitlab.com")],
                "https://gitlab.com/api/v4",
                Some("GITLAB_HOST"),
            ),
            (
                &[("GITLAB_HOST", "gitlab.acme.com")],
                "https://gitlab.acme.com/api/v4",
                Some("GITLAB_HOST"),
            ),
            (
                &[("GITLAB_HOST", "https://gitlab.acme.com/")],
                "https://gitlab.acme.com/api/v4",
                Some("GITLAB_HOST"),
            ),
            // GITLAB_HOST wins over the legacy variable.
            (
                &[
                    ("GITLAB_HOST", "gitlab.acme.com"),
                    ("GITLAB_BASE_URL", "https://old.acme.com"),
                ],
                "https://gitlab.acme.com/api/v4",
                Some("GITLAB_HOST"),
            ),
            // The legacy variable: a full URL (path dropped) or a bare host.
            (
                &[("GITLAB_BASE_URL", "https://gitlab.acme.com/api/v4")],
                "https://gitlab.acme.com/api/v4",
                Some("GITLAB_BASE_URL"),
            ),
            (
                &[("GITLAB_BASE_URL", "gitlab.acme.com")],
                "https://gitlab.acme.com/api/v4",
                Some("GITLAB_BASE_URL"),
            ),
            (
                &[("GITLAB_BASE_URL", "http://127.0.0.1:8929")],
                "http://127.0.0.1:8929/api/v4",
                Some("GITLAB_BASE_URL"),
            ),
        ];
        for (vars, api, var) in cases {
            let c = read(vars).unwrap_or_else(|e| panic!("{vars:?}: {e:?}"));
            assert_eq!(c.urls.api, api, "{vars:?}");
            assert_eq!(c.host_var, var, "{vars:?}");
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases: [(Vars, &str); 7] = [
            (&[("GITLAB_HOST", "gitlab.acme.com/gitlab")], "GITLAB_HOST"),
            (&[("GITLAB_HOST", "ftp://gitlab.acme.com")], "GITLAB_HOST"),
            (&[("GITLAB_HOST", "a b")], "GITLAB_HOST"),
            (&[("GITLAB_HOST", "https://")], "GITLAB_HOST"),
            (&[("GITLAB_BASE_URL", "ftp://gitlab.acme.com")], "GITLAB_BASE_URL"),
            (&[("GITLAB_BASE_URL", "https://")], "GITLAB_BASE_URL"),
            (&[("GITLAB_APP_CLIENT_ID", "has space")], "GITLAB_APP_CLIENT_ID"),
        ];
        for (vars, var) in cases {
            let errs = read(vars).expect_err(var);
            assert_eq!(errs.len(), 1, "{vars:?}: {errs:?}");
            assert_eq!(errs[0].0, var, "{vars:?}");
            assert!(errs[0].1.contains(var), "the message names {var}: {}", errs[0].1);
        }
    }

    #[test]
    fn client_id_is_optional() {
        assert_eq!(read(&[]).expect("valid").client_id, None);
        let c = read(&[("GITLAB_APP_CLIENT_ID", " 4e5f ")]).expect("valid");
        assert_eq!(c.client_id.as_deref(), Some("4e5f"));
        assert!(c.describe().iter().all(|(_, v)| !v.is_empty()));
    }
}
