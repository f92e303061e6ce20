//! # lettuce-http-client
//!
//! The outbound HTTP client of every Lettuce adapter that speaks HTTP (code
//! hosts, identity providers, secret managers, the telemetry receiver). It is
//! a support library, not an adapter: it implements no port and depends on
//! no workspace crate, so adapters may share it without depending on each
//! other (see `docs/ARCHITECTURE.md`).
//!
//! One place decides what every outbound call carries: a `User-Agent`, the
//! connect and total timeouts the caller asks for, and a `tracing` span per
//! request (method, host, status) that observability exporters pick up.
//!
//! TLS is rustls with the *ring* crypto provider. reqwest is built without a
//! provider of its own, so [`install_tls_provider`] must run before any
//! reqwest client is built; [`builder`] and [`build`] call it, and so must
//! any crate that builds a reqwest client another way (gix's HTTP transport).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = lettuce_http_client::build(
//!     lettuce_http_client::ClientOptions::new("lettuce-git-github"),
//! )?;
//! let resp = client.get("https://api.github.com/meta").send().await?;
//! # let _ = resp; Ok(()) }
//! ```
#![deny(missing_docs)]

use std::time::Duration;

pub use reqwest;
pub use reqwest_middleware::{ClientWithMiddleware as HttpClient, Error as HttpError, RequestBuilder};

/// How to build a client.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Who is calling: sent as `User-Agent: lettuce/<version> (<component>)`.
    pub component: &'static str,
    /// Connect timeout (default 10 s).
    pub connect_timeout: Duration,
    /// Whole-request timeout (default 30 s).
    pub timeout: Duration,
    /// Follow redirects (default: no — an adapter that expects one says so,
    /// so a redirect to another host can never carry a token along).
    pub follow_redirects: bool,
}

impl ClientOptions {
    /// Defaults for `component`: 10 s connect, 30 s total, no redirects.
    pub fn new(component: &'static str) -> Self {
        Self {
            component,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            follow_redirects: false,
        }
    }

    /// Sets the whole-request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Follows up to 5 redirects.
    pub fn follow_redirects(mut self) -> Self {
        self.follow_redirects = true;
        self
    }
}

/// The `User-Agent` Lettuce sends for `component`.
pub fn user_agent(component: &str) -> String {
    format!("lettuce/{} ({component})", env!("CARGO_PKG_VERSION"))
}

/// Makes rustls' *ring* provider the process-wide default, once; a no-op
/// when a provider is already installed (an embedding service's own choice
/// wins). Call it before building any reqwest client outside [`builder`].
pub fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider is already the default: keep it.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A reqwest builder with the options applied (for callers that need to add
/// their own settings, such as a custom root certificate, before [`wrap`]).
pub fn builder(options: &ClientOptions) -> reqwest::ClientBuilder {
    install_tls_provider();
    reqwest::Client::builder()
        .user_agent(user_agent(options.component))
        .connect_timeout(options.connect_timeout)
        .timeout(options.timeout)
        .redirect(if options.follow_redirects {
            reqwest::redirect::Policy::limited(5)
        } else {
            reqwest::redirect::Policy::none()
        })
}

/// Adds the tracing middleware to a built reqwest client.
pub fn wrap(client: reqwest::Client) -> HttpClient {
    reqwest_middleware::ClientBuilder::new(client)
        .with(reqwest_tracing::TracingMiddleware::default())
        .build()
}

/// A client with the options applied and the tracing middleware.
pub fn build(options: ClientOptions) -> Result<HttpClient, reqwest::Error> {
    Ok(wrap(builder(&options).build()?))
}

/// GETs `url` (with `Accept: application/json`) and returns the body of a
/// 2xx answer, at most `max_bytes`. Errors name the URL and the status or
/// cause, never the body (for documents such as a JWKS or an OIDC
/// discovery document).
pub async fn get_text(client: &HttpClient, url: &str, max_bytes: usize) -> Result<String, String> {
    let resp = client
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("GET {url} failed: {}", chain(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("GET {url} answered {status}"));
    }
    if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
        return Err(format!("{url} is larger than {max_bytes} bytes"));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("reading {url} failed: {}", chain(&e)))?;
    if body.len() > max_bytes {
        return Err(format!("{url} is larger than {max_bytes} bytes"));
    }
    String::from_utf8(body.to_vec()).map_err(|_| format!("{url} is not UTF-8"))
}

/// The `rel="next"` target of a `Link` header (RFC 8288), as code hosts
/// page their listings. Check it with [`same_origin`] before sending a token
/// there.
pub fn link_next(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
    })
}

/// Whether `url` has the origin (scheme, host, port) of `base`: a paging
/// link elsewhere must not receive the token. Unparsable URLs never match.
pub fn same_origin(base: &str, url: &str) -> bool {
    match (reqwest::Url::parse(base), reqwest::Url::parse(url)) {
        (Ok(b), Ok(u)) => b.origin() == u.origin(),
        _ => false,
    }
}

/// A `Retry-After` header in seconds (the form code hosts send).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    header_number::<u64>(headers, "retry-after").map(Duration::from_secs)
}

/// A header holding a Unix time (`x-ratelimit-reset`, `RateLimit-Reset`) as
/// the wait until then, at least a second.
pub fn wait_until_epoch(headers: &reqwest::header::HeaderMap, name: &str) -> Option<Duration> {
    let at = header_number::<u64>(headers, name)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Some(Duration::from_secs(at.saturating_sub(now).max(1)))
}

fn header_number<T: std::str::FromStr>(headers: &reqwest::header::HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_and_rate_limit_headers() {
        let api = "https://api.example.com/v3";
        assert!(same_origin(api, "https://api.example.com/v3/x?page=2"));
        for other in [
            "https://evil.example/x",
            "http://api.example.com/x",
            "https://api.example.com:8443/x",
            "nope",
        ] {
            assert!(!same_origin(api, other), "{other}");
        }
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!((link_next(&h), retry_after(&h)), (None, None));
        h.insert(
            "link",
            reqwest::header::HeaderValue::from_static(
                "<https://a/x?page=1>; rel=\"prev\", <https://a/x?page=3>; rel=\"next\"",
            ),
        );
        h.insert("retry-after", reqwest::header::HeaderValue::from_static(" 30 "));
        h.insert("reset", reqwest::header::HeaderValue::from_static("1"));
        assert_eq!(link_next(&h).as_deref(), Some("https://a/x?page=3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
        assert_eq!(
            wait_until_epoch(&h, "reset"),
            Some(Duration::from_secs(1)),
            "a past reset waits a second"
        );
    }

    #[test]
    fn user_agent_names_component() {
        assert!(user_agent("git-github").starts_with("lettuce/"));
        assert!(user_agent("git-github").ends_with("(git-github)"));
        assert!(build(ClientOptions::new("test")).is_ok());
    }
}
