//! Repositories: URL rules and the status state machine.

use crate::ValidationError;
use crate::ids::{AccountId, RepoId};
use crate::net;
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use url::Url;

/// Where a repository is in its life cycle.
///
/// ```text
/// pending ──▶ indexing ──▶ ready
///    ▲            │          │
///    │            ▼          │ (re-index / push)
///    └──────── failed ◀──────┘
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepoStatus {
    /// Waiting for a worker.
    Pending,
    /// A worker is cloning/fetching and indexing it.
    Indexing,
    /// Indexed; `indexed_commit` is what queries see.
    Ready,
    /// The last attempt failed; `error` says why and what to do.
    Failed,
}

impl RepoStatus {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            RepoStatus::Pending => "pending",
            RepoStatus::Indexing => "indexing",
            RepoStatus::Ready => "ready",
            RepoStatus::Failed => "failed",
        }
    }
    /// Parses the stable string form.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => RepoStatus::Pending,
            "indexing" => RepoStatus::Indexing,
            "ready" => RepoStatus::Ready,
            "failed" => RepoStatus::Failed,
            _ => return None,
        })
    }
}

/// Progress of the current indexing run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexProgress {
    /// Files processed so far.
    pub files_done: u64,
    /// Files to process in this run.
    pub files_total: u64,
}

/// A repository registered with an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repo {
    /// Identifier.
    pub id: RepoId,
    /// Owning account.
    pub account_id: AccountId,
    /// Clone URL without credentials.
    pub url: String,
    /// Short display name (`owner/name`).
    pub name: String,
    /// Branch to index; `None` means the remote's default branch.
    pub branch: Option<String>,
    /// Where it is in its life cycle.
    pub status: RepoStatus,
    /// The commit queries currently see.
    pub indexed_commit: Option<String>,
    /// Why the last attempt failed, phrased for the user.
    pub error: Option<String>,
    /// Progress of the running index.
    pub progress: IndexProgress,
    /// Clone credentials, sealed (encrypted) by the engine; never returned by the API.
    #[serde(skip)]
    pub sealed_credentials: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change of status.
    pub updated_at: DateTime<Utc>,
    /// When the last successful index finished.
    pub indexed_at: Option<DateTime<Utc>>,
}

/// Transport of a clone URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlScheme {
    /// `https://`
    Https,
    /// `http://`
    Http,
    /// `git://` (git daemon)
    Git,
    /// `file://` (local path; only with private hosts allowed)
    File,
}

/// Credentials embedded in a clone URL (`https://user:token@host/…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlCredentials {
    /// User name (`x-access-token`, `oauth2`, a login, …).
    pub username: String,
    /// Password or token.
    pub password: Secret,
}

/// A validated clone URL, split from any credentials it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUrl {
    url: Url,
    scheme: UrlScheme,
    credentials: Option<UrlCredentials>,
}

/// Where a [`RepoUrl`] points, for the network policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlHost {
    /// A DNS name still to be resolved (and each address checked).
    Domain(String),
    /// A literal address.
    Ip(IpAddr),
    /// A `file://` path (no network).
    Local,
}

impl RepoUrl {
    /// Parses and validates a clone URL pasted by a user.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let raw = raw.trim();
        let err = |m: String| ValidationError::new("url", m);
        if raw.is_empty() {
            return Err(err("a repository URL is required".into()));
        }
        if raw.starts_with("git@")
            || raw.starts_with("ssh://")
            || (raw.contains('@') && raw.contains(':') && !raw.contains("://"))
        {
            return Err(err(format!(
                "`{}` is an SSH URL; Lettuce clones over HTTPS — use the https:// clone URL (with a token for private repos) or connect the code host",
                redact_raw(raw)
            )));
        }
        let mut url = Url::parse(raw).map_err(|e| {
            err(format!(
                "`{}` is not a valid URL ({e}); paste the repository's https:// clone URL",
                redact_raw(raw)
            ))
        })?;
        let scheme = match url.scheme() {
            "https" => UrlScheme::Https,
            "http" => UrlScheme::Http,
            "git" => UrlScheme::Git,
            "file" => UrlScheme::File,
            other => {
                return Err(err(format!(
                    "URL scheme `{other}` is not supported; use https://, http:// or git://"
                )));
            }
        };
        if scheme != UrlScheme::File && url.host_str().is_none_or(str::is_empty) {
            return Err(err("the URL has no host".into()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(err("a clone URL must not have a query string or fragment".into()));
        }
        if url.path().trim_matches('/').is_empty() {
            return Err(err(
                "the URL names no repository path (expected https://host/owner/repo.git)".into(),
            ));
        }
        let credentials = if !url.username().is_empty() || url.password().is_some() {
            if scheme != UrlScheme::Https && scheme != UrlScheme::Http {
                return Err(err("credentials are only supported in http(s) URLs".into()));
            }
            let decode = |s: &str| percent_decode(s);
            let (user, pass) = match url.password() {
                Some(p) => (decode(url.username()), decode(p)),
                // `https://TOKEN@host/…` — a bare token as user name.
                None => ("x-access-token".to_owned(), decode(url.username())),
            };
            let _ = url.set_username("");
            let _ = url.set_password(None);
            Some(UrlCredentials {
                username: user,
                password: Secret::new(pass),
            })
        } else {
            None
        };
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
        Ok(Self {
            url,
            scheme,
            credentials,
        })
    }

    /// The URL without credentials — safe to store, log and show.
    pub fn redacted(&self) -> String {
        self.url.to_string()
    }

    /// The transport.
    pub fn scheme(&self) -> UrlScheme {
        self.scheme
    }

    /// Credentials that were embedded in the pasted URL.
    pub fn credentials(&self) -> Option<&UrlCredentials> {
        self.credentials.as_ref()
    }

    /// Replaces the credentials.
    pub fn with_credentials(mut self, creds: Option<UrlCredentials>) -> Self {
        self.credentials = creds;
        self
    }

    /// Host and port (port defaulted by scheme) for the network policy.
    pub fn host(&self) -> UrlHost {
        match self.url.host() {
            None => UrlHost::Local,
            // For non-special schemes (git://) the url crate keeps the host
            // as opaque text, so `127.0.0.1` or `[::1]` arrive here as names.
            Some(url::Host::Domain(d)) if self.scheme != UrlScheme::File => {
                match d.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
                    Ok(ip) => UrlHost::Ip(ip),
                    Err(_) => UrlHost::Domain(d.to_owned()),
                }
            }
            Some(url::Host::Domain(_)) => UrlHost::Local,
            Some(url::Host::Ipv4(ip)) => UrlHost::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => UrlHost::Ip(IpAddr::V6(ip)),
        }
    }

    /// The port the transport connects to.
    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(match self.scheme {
            UrlScheme::Git => 9418,
            UrlScheme::Http => 80,
            _ => 443,
        })
    }

    /// The path of a `file://` URL.
    pub fn file_path(&self) -> Option<String> {
        (self.scheme == UrlScheme::File).then(|| percent_decode(self.url.path()))
    }

    /// A short display name: the last two path segments without `.git`.
    pub fn display_name(&self) -> String {
        let segs: Vec<&str> = self.url.path().split('/').filter(|s| !s.is_empty()).collect();
        let tail = &segs[segs.len().saturating_sub(2)..];
        tail.join("/").trim_end_matches(".git").to_owned()
    }

    /// Checks the host against the network policy without DNS: `file://`,
    /// `localhost` names and literal non-public addresses are refused unless
    /// `allow_private`. DNS names must additionally be resolved and each
    /// address checked with [`net::check_ip`] by whoever connects.
    pub fn check_static_policy(&self, allow_private: bool) -> Result<(), PolicyViolation> {
        match self.host() {
            UrlHost::Local if !allow_private => Err(PolicyViolation::LocalFile),
            UrlHost::Local => Ok(()),
            UrlHost::Ip(ip) => net::check_ip(ip, allow_private).map_err(|class| PolicyViolation::Address {
                host: ip.to_string(),
                class,
            }),
            UrlHost::Domain(d) if net::is_local_hostname(&d) && !allow_private => Err(PolicyViolation::Address {
                host: d,
                class: net::IpClass::Loopback,
            }),
            UrlHost::Domain(_) => Ok(()),
        }
    }
}

/// Why the network policy refused a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    /// `file://` URL.
    #[error("file:// URLs are refused; set LETTUCE_ALLOW_PRIVATE_GIT_HOSTS=1 to allow local paths")]
    LocalFile,
    /// The host is or resolves to a non-public address.
    #[error("{host} is a {} address; Lettuce refuses private-network targets unless the operator sets LETTUCE_ALLOW_PRIVATE_GIT_HOSTS=1", class.describe())]
    Address {
        /// The host or address.
        host: String,
        /// Its class.
        class: net::IpClass,
    },
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = (hex(h), hex(l))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Hides credentials in a raw (possibly unparsable) URL for messages:
/// everything up to the last `@` of the authority is replaced by `***`
/// (`https://u:p@ss@host/x` → `https://***@host/x`, `oauth2:tok@host:a/b` →
/// `***@host:a/b`).
fn redact_raw(raw: &str) -> String {
    let (scheme, rest) = match raw.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, raw),
    };
    let authority_end = if scheme.is_some() {
        rest.find('/').unwrap_or(rest.len())
    } else {
        rest.len()
    };
    // An '@' in the path after the authority is not a credential separator,
    // but without a scheme we cannot tell, so hide up to the last '@'.
    let search = if scheme.is_some() { &rest[..authority_end] } else { rest };
    match search.rfind('@') {
        Some(at) => match scheme {
            Some(s) => format!("{s}://***{}", &rest[at..]),
            None => format!("***{}", &rest[at..]),
        },
        None => raw.to_owned(),
    }
}

/// Checks a branch name supplied by a user (git's `check-ref-format` rules,
/// simplified): no spaces, no `..`, no control characters, no leading `-`.
pub fn validate_branch(branch: &str) -> Result<(), ValidationError> {
    let bad = |m: &str| {
        Err(ValidationError::new(
            "branch",
            format!("`{branch}` is not a valid branch name: {m}"),
        ))
    };
    if branch.is_empty() || branch.len() > 255 {
        return bad("must be 1–255 characters");
    }
    if branch.starts_with('-') || branch.starts_with('/') || branch.ends_with('/') || branch.ends_with(".lock") {
        return bad("must not start with '-' or '/', or end with '/' or '.lock'");
    }
    if branch.contains("..") || branch.contains("//") || branch.contains("@{") {
        return bad("must not contain '..', '//' or '@{'");
    }
    if branch.chars().any(|c| c.is_control() || " ~^:?*[\\".contains(c)) {
        return bad("must not contain spaces or any of ~^:?*[\\");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_credentials() {
        let u = RepoUrl::parse("https://bob:s%40cret@github.com/acme/widgets.git/").unwrap();
        assert_eq!(u.redacted(), "https://github.com/acme/widgets.git");
        let c = u.credentials().unwrap();
        assert_eq!(c.username, "bob");
        assert_eq!(c.password.expose(), "s@cret");
        assert_eq!(u.display_name(), "acme/widgets");
        let t = RepoUrl::parse("https://ghp_tok@github.com/acme/w").unwrap();
        assert_eq!(t.credentials().unwrap().username, "x-access-token");
        assert_eq!(t.credentials().unwrap().password.expose(), "ghp_tok");
    }

    #[test]
    fn rejects_bad_urls_without_leaking_secrets() {
        for raw in [
            "",
            "ftp://x.io/a",
            "git@github.com:acme/w.git",
            "ssh://git@github.com/a/b",
            "https://github.com",
            "https://x.io/a?b=c",
            "not a url",
        ] {
            assert!(RepoUrl::parse(raw).is_err(), "{raw}");
        }
        for (raw, secret) in [
            ("https://user:hunter2@exa mple.com/x", "hunter2"),
            ("https://user:Pass@Wordtail9876@exa mple.com/x", "Wordtail9876"),
            ("oauth2:glpat-abcdef123456@gitlab.com:acme/x.git", "glpat-abcdef123456"),
            ("ssh://git:tok3n99@host/x", "tok3n99"),
        ] {
            let e = RepoUrl::parse(raw).unwrap_err();
            assert!(!e.message.contains(secret), "{raw}: {}", e.message);
        }
        assert_eq!(redact_raw("https://a:b@c@h/x@y"), "https://***@h/x@y");
        assert_eq!(redact_raw("oauth2:t@gitlab.com:a/b"), "***@gitlab.com:a/b");
    }

    #[test]
    fn static_policy() {
        let refuse = [
            "http://127.0.0.1/a/b",
            "git://localhost/x",
            "git://127.0.0.1:9418/r",
            "git://[::1]/r",
            "git://10.0.0.7/r",
            "https://10.0.0.1/a",
            "http://169.254.169.254/latest",
            "file:///srv/git/x",
            "http://[::1]/a",
            "http://[::ffff:192.168.0.1]/a",
        ];
        for raw in refuse {
            let u = RepoUrl::parse(raw).unwrap();
            assert!(u.check_static_policy(false).is_err(), "{raw} allowed");
            assert!(u.check_static_policy(true).is_ok(), "{raw} refused even when allowed");
        }
        assert!(
            RepoUrl::parse("https://github.com/a/b")
                .unwrap()
                .check_static_policy(false)
                .is_ok()
        );
        assert_eq!(RepoUrl::parse("git://127.0.0.1:9999/r").unwrap().port(), 9999);
        assert_eq!(RepoUrl::parse("git://h.io/r").unwrap().port(), 9418);
        assert_eq!(
            RepoUrl::parse("file:///srv/git/x%20y").unwrap().file_path().unwrap(),
            "/srv/git/x y"
        );
        assert_eq!(percent_decode("a%zz%é%4"), "a%zz%é%4");
    }

    #[test]
    fn branches() {
        assert!(validate_branch("main").is_ok());
        assert!(validate_branch("release/1.2").is_ok());
        for b in ["", "-x", "a..b", "a b", "x.lock", "a:b", "a/"] {
            assert!(validate_branch(b).is_err(), "{b}");
        }
    }

    #[test]
    fn status_roundtrip() {
        for s in [
            RepoStatus::Pending,
            RepoStatus::Indexing,
            RepoStatus::Ready,
            RepoStatus::Failed,
        ] {
            assert_eq!(RepoStatus::parse(s.as_str()), Some(s));
        }
    }
}
