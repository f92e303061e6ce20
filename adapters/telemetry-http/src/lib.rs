//! # lettuce-telemetry-http
//!
//! The [`TelemetrySink`] that posts the daily heartbeat (PRODUCT P-7) as JSON
//! to `LETTUCE_TELEMETRY_URL` (default [`DEFAULT_URL`]) over HTTPS (rustls),
//! and turns the answer into a **verified receipt** or a classified
//! [`TelemetryError`]:
//!
//! | answer | result |
//! |---|---|
//! | 2xx with a [`HeartbeatAck`](lettuce_domain::telemetry::HeartbeatAck) whose `status` is `accepted` and whose `instance_id` echoes the heartbeat's | `Ok(TelemetryReceipt)` |
//! | 2xx with anything else (a proxy, captive portal, wrong URL) | `Unverified` (retryable) |
//! | 3xx (redirects are not followed: a POST must not turn into a GET) | `Rejected` — fix the URL |
//! | 408, 429 (with `Retry-After`) | `RateLimited` (retryable) |
//! | other 4xx (the receiver's `{"error":{"code","message"}}` is kept) | `Rejected` (not retryable) |
//! | 5xx | `ServerError` (retryable) |
//! | DNS, connect, TLS failures, timeouts | `Unreachable` (retryable) |
//!
//! Every call is bounded by [`HttpTelemetryConfig::connect_timeout`] and
//! [`HttpTelemetryConfig::timeout`]; the sink never retries by itself (the
//! engine does, with backoff). Outbound proxies come from the standard
//! `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` variables. Error messages and
//! [`TelemetrySink::endpoint`] never show credentials or a query string from
//! the URL.
//!
//! ```no_run
//! use lettuce_telemetry_http::{HttpTelemetryConfig, HttpTelemetrySink};
//! use lettuce_ports::telemetry::TelemetrySink;
//! # async fn demo(heartbeat: lettuce_domain::telemetry::Heartbeat) -> Result<(), Box<dyn std::error::Error>> {
//! let sink = HttpTelemetrySink::new(HttpTelemetryConfig::new(lettuce_telemetry_http::DEFAULT_URL))?;
//! let receipt = sink.send(&heartbeat).await?;
//! println!("receipt {} from {}", receipt.receipt_id, receipt.endpoint);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use async_trait::async_trait;
use lettuce_domain::telemetry::{Heartbeat, verify_ack};
use lettuce_ports::telemetry::{TelemetryError, TelemetryReceipt, TelemetrySink};
use std::time::Duration;

/// The vendor's receiver.
pub const DEFAULT_URL: &str = "https://telemetry.uselettuce.dev/v1/heartbeat";

/// Largest answer body read (an acknowledgement is ~200 bytes).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Longest receiver message kept in a [`TelemetryError::Rejected`].
const MAX_MESSAGE_CHARS: usize = 300;

/// How the sink reaches the receiver.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpTelemetryConfig {
    /// `LETTUCE_TELEMETRY_URL`: where heartbeats are POSTed (http or https).
    pub url: String,
    /// Longest time to establish a connection (DNS, TCP, TLS).
    pub connect_timeout: Duration,
    /// Longest time for the whole exchange.
    pub timeout: Duration,
    /// `User-Agent` header (`lettuce/<version>`).
    pub user_agent: String,
}

impl HttpTelemetryConfig {
    /// A configuration for `url` with 10 s to connect and 30 s in total.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            user_agent: format!("lettuce/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// Sets both timeouts.
    pub fn with_timeouts(mut self, connect: Duration, total: Duration) -> Self {
        self.connect_timeout = connect;
        self.timeout = total;
        self
    }
}

/// The configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("LETTUCE_TELEMETRY_URL: {0}")]
pub struct ConfigError(String);

/// Posts heartbeats over HTTP(S). Cheap to clone (the connection pool is
/// shared).
#[derive(Clone)]
pub struct HttpTelemetrySink {
    /// reqwest behind the shared tracing middleware (an outbound span per
    /// heartbeat, W3C `traceparent` injected when tracing is on).
    client: lettuce_http_client::HttpClient,
    url: url::Url,
    endpoint: String,
}

impl std::fmt::Debug for HttpTelemetrySink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTelemetrySink")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// `url` as it may be shown: scheme, host, port and path only.
pub fn redact(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

impl HttpTelemetrySink {
    /// A sink for `config.url`. Fails when the URL is not an absolute
    /// http(s) URL with a host.
    pub fn new(config: HttpTelemetryConfig) -> Result<Self, ConfigError> {
        let url = url::Url::parse(config.url.trim())
            .map_err(|e| ConfigError(format!("`{}` is not a URL ({e})", config.url.trim())))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError(format!(
                "`{}` must be an http(s) URL with a host",
                redact(&url)
            )));
        }
        let options = lettuce_http_client::ClientOptions::new("lettuce-telemetry-http")
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout);
        // The heartbeat's own User-Agent replaces the component's.
        let client = lettuce_http_client::builder(&options)
            .user_agent(config.user_agent)
            .build()
            .map_err(|e| ConfigError(format!("cannot build the HTTP client: {e}")))?;
        let client = lettuce_http_client::wrap(client);
        let endpoint = redact(&url);
        Ok(Self { client, url, endpoint })
    }

    fn unreachable(&self, err: &reqwest::Error) -> TelemetryError {
        let what = if err.is_timeout() {
            "timed out"
        } else if err.is_connect() {
            "could not connect (DNS, TCP or TLS failed; check egress to this host and HTTPS_PROXY)"
        } else {
            "the request failed"
        };
        // The whole cause chain (hyper → io: "Connection refused"), without
        // the URL, which may carry credentials.
        let mut detail = String::new();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            let text = s.to_string();
            if !detail.contains(&text) {
                detail.push_str(": ");
                detail.push_str(&text);
            }
            source = s.source();
        }
        let detail = detail.replace(self.url.as_str(), &self.endpoint);
        TelemetryError::Unreachable {
            endpoint: self.endpoint.clone(),
            reason: format!("{what}{detail}"),
        }
    }
}

/// Reads at most [`MAX_ANSWER_BYTES`] of the answer.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok(body)
}

/// The receiver's `{"error":{"code","message"}}`, else the start of the body.
fn receiver_error(body: &[u8]) -> (Option<String>, String) {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let code = error
        .and_then(|e| e.get("code"))
        .and_then(|c| c.as_str())
        .map(str::to_owned);
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(|m| m.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    (
        code,
        if message.is_empty() {
            "(no message)".into()
        } else {
            message
        },
    )
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[async_trait]
impl TelemetrySink for HttpTelemetrySink {
    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    async fn send(&self, heartbeat: &Heartbeat) -> Result<TelemetryReceipt, TelemetryError> {
        let body = serde_json::to_vec(heartbeat).map_err(|e| TelemetryError::Backend {
            backend: "http",
            source: Box::new(e),
            retryable: false,
        })?;
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| match e {
                lettuce_http_client::HttpError::Reqwest(e) => self.unreachable(&e),
                other => TelemetryError::Unreachable {
                    endpoint: self.endpoint.clone(),
                    reason: other.to_string().replace(self.url.as_str(), &self.endpoint),
                },
            })?;
        let status = response.status();
        if status.is_redirection() {
            let to = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| self.url.join(l).ok())
                .map(|u| redact(&u))
                .unwrap_or_else(|| "another address".into());
            return Err(TelemetryError::Rejected {
                status: status.as_u16(),
                code: Some("redirected".into()),
                message: format!(
                    "the receiver redirects to {to}; redirects are not followed — set LETTUCE_TELEMETRY_URL to the final address"
                ),
            });
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status == reqwest::StatusCode::REQUEST_TIMEOUT {
            return Err(TelemetryError::RateLimited {
                status: status.as_u16(),
                retry_after: retry_after(&response),
            });
        }
        if status.is_server_error() {
            return Err(TelemetryError::ServerError {
                status: status.as_u16(),
            });
        }
        let answer = read_capped(response).await.map_err(|e| self.unreachable(&e))?;
        if status.is_client_error() {
            let (code, message) = receiver_error(&answer);
            return Err(TelemetryError::Rejected {
                status: status.as_u16(),
                code,
                message,
            });
        }
        if !status.is_success() {
            return Err(TelemetryError::Unverified {
                reason: format!("unexpected HTTP status {status}"),
            });
        }
        let ack = verify_ack(&answer, heartbeat).map_err(|reason| TelemetryError::Unverified { reason })?;
        tracing::debug!(receipt = %ack.receipt_id, endpoint = %self.endpoint, "heartbeat acknowledged");
        Ok(TelemetryReceipt {
            receipt_id: ack.receipt_id,
            instance_id: ack.instance_id,
            received_at: ack.received_at,
            endpoint: self.endpoint.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_validated_and_redacted() {
        let sink = HttpTelemetrySink::new(HttpTelemetryConfig::new(
            "https://user:hunter2@telemetry.example.com/v1/heartbeat?token=abc#x",
        ))
        .unwrap();
        assert_eq!(sink.endpoint(), "https://telemetry.example.com/v1/heartbeat");
        assert!(!format!("{sink:?}").contains("hunter2"));
        for bad in ["ftp://x/y", "not a url", "file:///etc/passwd", "https://"] {
            let err = HttpTelemetrySink::new(HttpTelemetryConfig::new(bad)).unwrap_err();
            assert!(err.to_string().starts_with("LETTUCE_TELEMETRY_URL:"), "{err}");
        }
    }

    #[test]
    fn receiver_errors_are_parsed_or_truncated() {
        let (code, msg) = receiver_error(br#"{"error":{"code":"unknown_field","message":"unknown field `x`"}}"#);
        assert_eq!(code.as_deref(), Some("unknown_field"));
        assert_eq!(msg, "unknown field `x`");
        let (code, msg) = receiver_error("x".repeat(1000).as_bytes());
        assert_eq!(code, None);
        assert_eq!(msg.len(), MAX_MESSAGE_CHARS);
        assert_eq!(receiver_error(b"").1, "(no message)");
    }
}
