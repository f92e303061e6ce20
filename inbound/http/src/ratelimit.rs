//! Sign-in rate limits (`governor`): `POST /v1/auth/login` and `POST
//! /v1/auth/signup` are limited per client IP and per email address. Over
//! the limit the answer is `429 rate_limited` in the API error format with
//! `Retry-After` (seconds).
//!
//! * per IP: a burst of [`PER_IP_BURST`], refilled at [`PER_IP_PER_MINUTE`]
//!   a minute (the peer address of the connection; behind a reverse proxy
//!   every client shares the proxy's address, so the per-email limit is the
//!   one that protects accounts there);
//! * per email (trimmed, lower-cased): a burst of [`PER_EMAIL_BURST`],
//!   refilled at [`PER_EMAIL_PER_MINUTE`] a minute — wrong passwords for one
//!   account from many addresses are limited too.
//!
//! Keys are kept in memory per process and pruned as they refill.

use crate::AppState;
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sign-in attempts one IP may make at once.
pub const PER_IP_BURST: u32 = 30;
/// Sign-in attempts per IP refilled each minute.
pub const PER_IP_PER_MINUTE: u32 = 30;
/// Sign-in attempts for one email at once.
pub const PER_EMAIL_BURST: u32 = 10;
/// Sign-in attempts per email refilled each minute.
pub const PER_EMAIL_PER_MINUTE: u32 = 10;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// The sign-in limiters.
pub struct SignInLimits {
    per_ip: Keyed<IpAddr>,
    per_email: Keyed<String>,
    checks: AtomicU64,
}

impl std::fmt::Debug for SignInLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInLimits").finish_non_exhaustive()
    }
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self::new(
            (PER_IP_BURST, PER_IP_PER_MINUTE),
            (PER_EMAIL_BURST, PER_EMAIL_PER_MINUTE),
        )
    }
}

fn quota((burst, per_minute): (u32, u32)) -> Quota {
    let per_minute = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl SignInLimits {
    /// Limits of `(burst, per minute)` per IP and per email.
    pub fn new(per_ip: (u32, u32), per_email: (u32, u32)) -> Self {
        Self {
            per_ip: RateLimiter::keyed(quota(per_ip)),
            per_email: RateLimiter::keyed(quota(per_email)),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one attempt for `ip` and `email`; `Err(wait)` when either is
    /// over its limit.
    pub fn check(&self, ip: Option<IpAddr>, email: Option<&str>) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.per_ip.retain_recent();
            self.per_email.retain_recent();
        }
        let now = DefaultClock::default().now();
        if let Some(ip) = ip {
            self.per_ip.check_key(&ip).map_err(|n| n.wait_time_from(now))?;
        }
        if let Some(email) = email.map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()) {
            self.per_email.check_key(&email).map_err(|n| n.wait_time_from(now))?;
        }
        Ok(())
    }
}

/// The `429 rate_limited` answer with `Retry-After`.
pub fn rate_limited(wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let mut resp = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many sign-in attempts; try again in {secs} s"),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Middleware for the sign-in routes: reads the client IP and the body's
/// `email`, takes an attempt, and passes the request on unchanged.
pub(crate) async fn sign_in(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, crate::routes::MAX_BODY).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than 1 MiB",
        )
        .into_response();
    };
    let email = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("email").and_then(|e| e.as_str()).map(str::to_owned));
    if let Err(wait) = s.sign_in_limits.check(ip, email.as_deref()) {
        tracing::warn!(ip = ?ip, "sign-in rate limit reached");
        return rate_limited(wait);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}
