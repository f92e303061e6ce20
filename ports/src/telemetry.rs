//! Where heartbeats go (PRODUCT P-7). Implementations: `telemetry-http`
//! (JSON over HTTPS to `LETTUCE_TELEMETRY_URL`), in-memory fake.
//!
//! A sink sends **one** heartbeat per call and answers with a
//! [`TelemetryReceipt`] only when the receiver verified it (see
//! [`lettuce_domain::telemetry::verify_ack`]); retries, backoff and
//! scheduling are the engine's business.

use crate::BoxError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lettuce_domain::telemetry::Heartbeat;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// Proof that a receiver stored a heartbeat: its acknowledgement echoed the
/// heartbeat's `instance_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelemetryReceipt {
    /// The receiver's id for the stored heartbeat.
    pub receipt_id: String,
    /// The instance the receiver acknowledged (equals the heartbeat's).
    pub instance_id: Uuid,
    /// When the receiver stored it (the receiver's clock).
    pub received_at: DateTime<Utc>,
    /// Where it was sent ([`TelemetrySink::endpoint`]).
    pub endpoint: String,
}

/// Sends heartbeats.
#[async_trait]
pub trait TelemetrySink: Send + Sync + std::fmt::Debug + 'static {
    /// Where heartbeats go, as it may be shown (no credentials, no query
    /// string).
    fn endpoint(&self) -> String;

    /// Sends `heartbeat` once. `Ok` **only** with a verified receipt: the
    /// receiver answered success with an acknowledgement whose `instance_id`
    /// is the heartbeat's. Every other outcome is a classified
    /// [`TelemetryError`]; implementations bound the call with timeouts and
    /// never retry on their own.
    async fn send(&self, heartbeat: &Heartbeat) -> Result<TelemetryReceipt, TelemetryError>;
}

/// Why a heartbeat was not verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The receiver could not be reached (DNS, connect, TLS, timeout).
    #[error("telemetry receiver {endpoint} is unreachable: {reason}")]
    Unreachable {
        /// Where.
        endpoint: String,
        /// What failed (no secrets).
        reason: String,
    },
    /// The receiver refused the heartbeat (4xx other than 408/429): sending
    /// the same payload again will not help.
    #[error("telemetry receiver refused the heartbeat (HTTP {status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The receiver's error code, when it sent one.
        code: Option<String>,
        /// The receiver's message (truncated).
        message: String,
    },
    /// The receiver asked to slow down (HTTP 429) or timed out on its side (408).
    #[error("telemetry receiver is rate limiting (HTTP {status})")]
    RateLimited {
        /// HTTP status.
        status: u16,
        /// `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// The receiver failed (5xx).
    #[error("telemetry receiver failed (HTTP {status})")]
    ServerError {
        /// HTTP status.
        status: u16,
    },
    /// A success status without a valid acknowledgement for this instance
    /// (a proxy, captive portal or wrong URL answered): not a receipt.
    #[error("telemetry answer was not a verified receipt: {reason}")]
    Unverified {
        /// What was wrong with the answer.
        reason: String,
    },
    /// Anything else.
    #[error("{backend} telemetry sink failed: {source}")]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// Cause.
        #[source]
        source: BoxError,
        /// Whether retrying may help.
        retryable: bool,
    },
}

impl TelemetryError {
    /// Whether sending again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            TelemetryError::Unreachable { .. }
            | TelemetryError::RateLimited { .. }
            | TelemetryError::ServerError { .. }
            | TelemetryError::Unverified { .. } => true,
            TelemetryError::Rejected { .. } => false,
            TelemetryError::Backend { retryable, .. } => *retryable,
        }
    }

    /// Stable snake_case name of the variant (for the API and logs).
    pub fn kind(&self) -> &'static str {
        match self {
            TelemetryError::Unreachable { .. } => "unreachable",
            TelemetryError::Rejected { .. } => "rejected",
            TelemetryError::RateLimited { .. } => "rate_limited",
            TelemetryError::ServerError { .. } => "server_error",
            TelemetryError::Unverified { .. } => "unverified",
            TelemetryError::Backend { .. } => "backend",
        }
    }
}
