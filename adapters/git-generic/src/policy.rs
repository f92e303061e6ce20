//! The network policy: which hosts a clone URL may reach.

use lettuce_domain::net;
use lettuce_domain::repo::{PolicyViolation, RepoUrl, UrlHost};
use lettuce_ports::git::GitError;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a DNS lookup in [`check_url`] may take.
const DNS_TIMEOUT: Duration = Duration::from_secs(30);

/// Which network targets a [`GixMirror`](crate::GixMirror) may reach.
///
/// Only public addresses are allowed unless `allow_private` is set (the
/// operator's `LETTUCE_ALLOW_PRIVATE_GIT_HOSTS=1`). Multicast and broadcast
/// addresses are refused even then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Allow `file://` URLs, loopback, private-network, link-local and
    /// other non-public addresses.
    pub allow_private: bool,
}

fn forbidden(v: PolicyViolation) -> GitError {
    GitError::Forbidden { reason: v.to_string() }
}

/// Checks the static policy, then resolves DNS names and checks every address.
pub(crate) async fn check_url(url: &RepoUrl, policy: NetworkPolicy) -> Result<(), GitError> {
    url.check_static_policy(policy.allow_private).map_err(forbidden)?;
    let UrlHost::Domain(host) = url.host() else {
        return Ok(());
    };
    // The `url` crate keeps hosts of non-special schemes (`git://`) opaque, so
    // `git://127.0.0.1/` arrives here as a "domain": check it as an address.
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        return net::check_ip(ip, policy.allow_private).map_err(|class| {
            forbidden(PolicyViolation::Address {
                host: ip.to_string(),
                class,
            })
        });
    }
    let unresolved = |why: String| GitError::Network {
        url: url.redacted(),
        message: format!("could not resolve host {host}: {why}"),
    };
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout(DNS_TIMEOUT, tokio::net::lookup_host((host.as_str(), url.port()))).await {
            Err(_) => return Err(unresolved("DNS lookup timed out".into())),
            Ok(Err(e)) => return Err(unresolved(e.to_string())),
            Ok(Ok(addrs)) => addrs.collect(),
        };
    if addrs.is_empty() {
        return Err(unresolved("no addresses".into()));
    }
    check_addrs(&host, &addrs, policy.allow_private).map_err(forbidden)
}

/// Applies [`net::check_ip`] to every address `host` resolved to.
fn check_addrs(host: &str, addrs: &[SocketAddr], allow_private: bool) -> Result<(), PolicyViolation> {
    for addr in addrs {
        if let Err(class) = net::check_ip(addr.ip(), allow_private) {
            return Err(PolicyViolation::Address {
                host: format!("{host} (resolves to {})", addr.ip()),
                class,
            });
        }
    }
    Ok(())
}

/// A DNS resolver for the HTTP transport that applies the policy to every
/// address at connection time, so a DNS answer that changed since
/// [`check_url`] (rebinding) or a redirect to another host name cannot reach
/// a refused address. Proxy hosts configured through the environment
/// (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`) are exempt: the operator chose
/// them.
#[derive(Debug, Clone)]
pub(crate) struct PolicyResolver {
    allow_private: bool,
    exempt: HashSet<String>,
}

impl PolicyResolver {
    pub(crate) fn new(allow_private: bool) -> Self {
        let exempt = [
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
        ]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .filter_map(|v| {
            let v = if v.contains("://") { v } else { format!("http://{v}") };
            url::Url::parse(&v)
                .ok()
                .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase()))
        })
        .collect();
        Self { allow_private, exempt }
    }

    async fn lookup(&self, host: String) -> Result<Vec<SocketAddr>, lettuce_ports::BoxError> {
        let exempt = self.exempt.contains(&host.to_ascii_lowercase());
        if !exempt && !self.allow_private && net::is_local_hostname(&host) {
            return Err(Box::new(PolicyViolation::Address {
                host,
                class: net::IpClass::Loopback,
            }));
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
        if !exempt {
            check_addrs(&host, &addrs, self.allow_private)?;
        }
        Ok(addrs)
    }
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = this.lookup(host).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolver_refuses_loopback_names_unless_allowed() {
        let strict = PolicyResolver {
            allow_private: false,
            exempt: HashSet::new(),
        };
        let err = strict.lookup("localhost".into()).await.unwrap_err();
        assert!(err.to_string().contains("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS"), "{err}");
        let err = strict.lookup("127.0.0.1".into()).await.unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");

        let open = PolicyResolver {
            allow_private: true,
            exempt: HashSet::new(),
        };
        assert!(!open.lookup("127.0.0.1".into()).await.unwrap().is_empty());

        let proxied = PolicyResolver {
            allow_private: false,
            exempt: HashSet::from(["127.0.0.1".to_owned()]),
        };
        assert!(proxied.lookup("127.0.0.1".into()).await.is_ok());
    }

    #[test]
    fn every_address_is_checked() {
        let public: SocketAddr = "8.8.8.8:443".parse().unwrap();
        let private: SocketAddr = "10.0.0.1:443".parse().unwrap();
        assert!(check_addrs("h", &[public], false).is_ok());
        let v = check_addrs("h", &[public, private], false).unwrap_err();
        assert!(v.to_string().contains("h (resolves to 10.0.0.1)"), "{v}");
        assert!(check_addrs("h", &[public, private], true).is_ok());
        let multicast: SocketAddr = "224.0.0.1:1".parse().unwrap();
        assert!(check_addrs("h", &[multicast], true).is_err());
    }
}
