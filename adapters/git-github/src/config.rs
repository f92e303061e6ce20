//! `GITHUB_*` settings. The App's two secrets (`GITHUB_APP_PRIVATE_KEY`,
//! `GITHUB_APP_CLIENT_SECRET`) are not read here: the app resolves them
//! through the secret store and hands them to [`crate::GitHubApp::new`].

use lettuce_domain::codehost::GitHubUrls;
use lettuce_ports::config::Settings;

/// Non-secret settings of the GitHub App. Every App variable is optional at
/// start-up: a missing one makes the GitHub routes answer 503 "GitHub App is
/// not configured on this Lettuce instance", and the boot log names it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GitHubConfig {
    /// `GITHUB_HOST` (default `github.com`).
    pub host: String,
    /// API and web base URLs derived from the host.
    pub urls: GitHubUrls,
    /// `GITHUB_APP_ID`: the App's numeric id.
    pub app_id: Option<String>,
    /// `GITHUB_APP_NAME`: the App's URL slug.
    pub app_name: Option<String>,
    /// `GITHUB_APP_CLIENT_ID`: the App's OAuth client id.
    pub client_id: Option<String>,
}

impl GitHubConfig {
    /// Reads `GITHUB_HOST`, `GITHUB_APP_ID`, `GITHUB_APP_NAME`,
    /// `GITHUB_APP_CLIENT_ID`; malformed values are errors naming the
    /// variable and the fix.
    pub fn from_settings(s: &mut Settings<'_>) -> Option<Self> {
        let host = s
            .get("GITHUB_HOST")
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "github.com".to_owned());
        let bare = host.split_once("://").map_or(host.as_str(), |(_, rest)| rest);
        let scheme_ok = !host.contains("://") || host.starts_with("https://") || host.starts_with("http://");
        if !scheme_ok
            || bare.trim_end_matches('/').contains('/')
            || bare.is_empty()
            || bare.contains(char::is_whitespace)
        {
            s.error(
                "GITHUB_HOST",
                format!("`{host}` is not a host name"),
                "set GITHUB_HOST to the GitHub host only, e.g. github.com or ghes.example.com (no path)",
            );
            return None;
        }
        let app_id = s
            .get("GITHUB_APP_ID")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        if let Some(id) = &app_id
            && !id.bytes().all(|b| b.is_ascii_digit())
        {
            s.error(
                "GITHUB_APP_ID",
                format!("`{id}` is not a number"),
                "set GITHUB_APP_ID to the numeric App ID shown on the App's settings page",
            );
        }
        let app_name = s
            .get("GITHUB_APP_NAME")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        if let Some(name) = &app_name
            && !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            s.error(
                "GITHUB_APP_NAME",
                format!("`{name}` is not an App slug"),
                "set GITHUB_APP_NAME to the App's URL slug (the last part of https://github.com/apps/<slug>)",
            );
        }
        let client_id = s
            .get("GITHUB_APP_CLIENT_ID")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        Some(GitHubConfig {
            urls: GitHubUrls::for_host(&host),
            host,
            app_id,
            app_name,
            client_id,
        })
    }

    /// The non-secret App variables that are not set.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.app_id.is_none() {
            out.push("GITHUB_APP_ID");
        }
        if self.app_name.is_none() {
            out.push("GITHUB_APP_NAME");
        }
        if self.client_id.is_none() {
            out.push("GITHUB_APP_CLIENT_ID");
        }
        out
    }

    /// Rows for `lettuce config check` (no secrets).
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let unset = || "(not set)".to_owned();
        vec![
            ("GITHUB_HOST", format!("{} (API {})", self.host, self.urls.api)),
            ("GITHUB_APP_ID", self.app_id.clone().unwrap_or_else(unset)),
            ("GITHUB_APP_NAME", self.app_name.clone().unwrap_or_else(unset)),
            ("GITHUB_APP_CLIENT_ID", self.client_id.clone().unwrap_or_else(unset)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<GitHubConfig, Vec<&'static str>> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let mut s = Settings::new(&map);
        let c = GitHubConfig::from_settings(&mut s);
        let errs = s.into_errors();
        if errs.is_empty() {
            Ok(c.expect("config"))
        } else {
            Err(errs.iter().map(|e| e.var).collect())
        }
    }

    #[test]
    fn hosts_and_urls() {
        let cases = [
            (None, "https://api.github.com", "https://github.com"),
            (Some("github.com"), "https://api.github.com", "https://github.com"),
            (
                Some("ghes.corp.example"),
                "https://ghes.corp.example/api/v3",
                "https://ghes.corp.example",
            ),
            (
                Some("https://ghes.corp.example/"),
                "https://ghes.corp.example/api/v3",
                "https://ghes.corp.example",
            ),
        ];
        for (host, api, web) in cases {
            let vars: Vec<(&str, &str)> = host.map(|h| ("GITHUB_HOST", h)).into_iter().collect();
            let c = read(&vars).expect("valid");
            assert_eq!((c.urls.api.as_str(), c.urls.web.as_str()), (api, web), "{host:?}");
        }
        for bad in ["ghes.example/path", "ftp://x", "a b"] {
            assert_eq!(read(&[("GITHUB_HOST", bad)]).unwrap_err(), vec!["GITHUB_HOST"], "{bad}");
        }
    }

    #[test]
    fn app_variables() {
        let c = read(&[]).expect("nothing set is valid (GitHub off)");
        assert_eq!(
            c.missing(),
            vec!["GITHUB_APP_ID", "GITHUB_APP_NAME", "GITHUB_APP_CLIENT_ID"]
        );
        let c = read(&[
            ("GITHUB_APP_ID", "12345"),
            ("GITHUB_APP_NAME", "lettuce-acme"),
            ("GITHUB_APP_CLIENT_ID", "Iv1.abc"),
        ])
        .expect("valid");
        assert!(c.missing().is_empty());
        assert_eq!(
            read(&[("GITHUB_APP_ID", "abc"), ("GITHUB_APP_NAME", "no spaces")]).unwrap_err(),
            vec!["GITHUB_APP_ID", "GITHUB_APP_NAME"]
        );
    }
}
