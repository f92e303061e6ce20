//! `BITBUCKET_*` settings. The consumer secret (`BITBUCKET_APP_CLIENT_SECRET`)
//! is not read here: the app resolves it through the secret store and hands
//! it to [`crate::Bitbucket::new`].

use lettuce_domain::codehost::{BitbucketFlavor, BitbucketUrls};
use lettuce_ports::config::Settings;

/// Non-secret Bitbucket settings. Cloud needs an OAuth consumer
/// (`BITBUCKET_APP_CLIENT_ID` + secret); without it the Bitbucket routes
/// answer 503 naming the missing variables. Data Center always accepts
/// pasted HTTP access tokens, and OAuth 2 too when the client is set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BitbucketConfig {
    /// `BITBUCKET_FLAVOR`: `cloud` (default) or `dc`.
    pub flavor: BitbucketFlavor,
    /// `BITBUCKET_HOST` (Cloud default `bitbucket.org`; required for `dc`).
    pub host: String,
    /// API, web and OAuth URLs derived from flavour and host.
    pub urls: BitbucketUrls,
    /// `BITBUCKET_APP_CLIENT_ID`: the OAuth consumer key (Cloud) or the
    /// incoming application link's client id (Data Center).
    pub client_id: Option<String>,
}

impl BitbucketConfig {
    /// Reads `BITBUCKET_FLAVOR`, `BITBUCKET_HOST`, `BITBUCKET_APP_CLIENT_ID`;
    /// problems are errors naming the variable and the fix.
    pub fn from_settings(s: &mut Settings<'_>) -> Option<Self> {
        let flavor = match s.get("BITBUCKET_FLAVOR") {
            None => BitbucketFlavor::Cloud,
            Some(v) => match BitbucketFlavor::parse(&v) {
                Some(f) => f,
                None => {
                    s.error(
                        "BITBUCKET_FLAVOR",
                        format!("unknown Bitbucket flavour `{}`", v.trim()),
                        "set BITBUCKET_FLAVOR to cloud (bitbucket.org, the default) or dc (Bitbucket Data Center)",
                    );
                    return None;
                }
            },
        };
        let host = s
            .get("BITBUCKET_HOST")
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty());
        let host = match (flavor, host) {
            (BitbucketFlavor::Cloud, None) => "bitbucket.org".to_owned(),
            (BitbucketFlavor::Dc, None) => {
                s.error(
                    "BITBUCKET_HOST",
                    "BITBUCKET_FLAVOR=dc needs the Data Center host, and BITBUCKET_HOST is not set",
                    "set BITBUCKET_HOST to your Bitbucket Data Center host, e.g. bitbucket.acme.com (with its context path if it has one: git.acme.com/bitbucket)",
                );
                return None;
            }
            (_, Some(h)) => h,
        };
        let bare = host.split_once("://").map_or(host.as_str(), |(_, rest)| rest);
        let scheme_ok = !host.contains("://") || host.starts_with("https://") || host.starts_with("http://");
        let has_path = bare.trim_end_matches('/').contains('/');
        let path_ok = !has_path || flavor == BitbucketFlavor::Dc;
        if !scheme_ok || !path_ok || bare.trim_end_matches('/').is_empty() || bare.contains(char::is_whitespace) {
            let fix = match flavor {
                BitbucketFlavor::Cloud => {
                    "set BITBUCKET_HOST to bitbucket.org (or leave it unset) for Bitbucket Cloud; for Data Center also set BITBUCKET_FLAVOR=dc"
                }
                BitbucketFlavor::Dc => {
                    "set BITBUCKET_HOST to the Data Center host, e.g. bitbucket.acme.com or https://git.acme.com/bitbucket"
                }
            };
            s.error("BITBUCKET_HOST", format!("`{host}` is not a host name"), fix);
            return None;
        }
        let client_id = s
            .get("BITBUCKET_APP_CLIENT_ID")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        Some(BitbucketConfig {
            urls: BitbucketUrls::for_host(flavor, &host),
            flavor,
            host,
            client_id,
        })
    }

    /// Rows for `lettuce config check` (no secrets).
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        vec![
            ("BITBUCKET_FLAVOR", self.flavor.as_str().to_owned()),
            ("BITBUCKET_HOST", format!("{} (API {})", self.host, self.urls.api)),
            (
                "BITBUCKET_APP_CLIENT_ID",
                self.client_id.clone().unwrap_or_else(|| "(not set)".to_owned()),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<BitbucketConfig, Vec<(&'static str, String)>> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let mut s = Settings::new(&map);
        let c = BitbucketConfig::from_settings(&mut s);
        let errs = s.into_errors();
        if errs.is_empty() {
            Ok(c.expect("config"))
        } else {
            Err(errs
                .iter()
                .map(|e| (e.var, format!("{} {}", e.problem, e.fix)))
                .collect())
        }
    }

    #[test]
    fn flavours_hosts_and_urls() {
        let c = read(&[]).expect("nothing set is Cloud, unconfigured");
        assert_eq!(c.flavor, BitbucketFlavor::Cloud);
        assert_eq!(c.urls.api, "https://api.bitbucket.org/2.0");
        assert_eq!(c.client_id, None);
        let c = read(&[("BITBUCKET_FLAVOR", "DC"), ("BITBUCKET_HOST", "bitbucket.acme.com")]).expect("dc");
        assert_eq!(c.flavor, BitbucketFlavor::Dc);
        assert_eq!(c.urls.api, "https://bitbucket.acme.com/rest/api/1.0");
        let c = read(&[
            ("BITBUCKET_FLAVOR", "dc"),
            ("BITBUCKET_HOST", "https://git.acme.com/bitbucket/"),
            ("BITBUCKET_APP_CLIENT_ID", " abc "),
        ])
        .expect("dc with a context path");
        assert_eq!(c.urls.web, "https://git.acme.com/bitbucket");
        assert_eq!(c.client_id.as_deref(), Some("abc"));
    }

    #[test]
    fn bad_flavour_and_dc_without_host_are_named() {
        let errs = read(&[("BITBUCKET_FLAVOR", "server")]).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].0, "BITBUCKET_FLAVOR");
        assert!(errs[0].1.contains("`server`") && errs[0].1.contains("cloud") && errs[0].1.contains("dc"));
        let errs = read(&[("BITBUCKET_FLAVOR", "dc")]).unwrap_err();
        assert_eq!(errs[0].0, "BITBUCKET_HOST");
        assert!(errs[0].1.contains("BITBUCKET_FLAVOR=dc"), "{}", errs[0].1);
        for bad in ["bitbucket.org/path", "ftp://x", "a b"] {
            let errs = read(&[("BITBUCKET_HOST", bad)]).unwrap_err();
            assert_eq!(errs[0].0, "BITBUCKET_HOST", "{bad}");
        }
    }
}
