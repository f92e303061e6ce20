//! # lettuce-telemetry-receiver
//!
//! The vendor-side receiver of Lettuce heartbeats (PRODUCT P-7), as a library
//! (so tests and other services can start it in-process) and the
//! `telemetry-receiver` binary.
//!
//! * `POST /v1/heartbeat` and `POST /v1/self-hosted/telemetry` (the same
//!   handler): the body is checked by the strict
//!   [`parse_ping`](lettuce_domain::telemetry::parse_ping) shared with the
//!   sender (at most 16 KiB, `Content-Type: application/json`); bad bodies
//!   get 400 (`malformed_json`) or 422 (`unknown_field`, `missing_field`,
//!   `wrong_type`, `out_of_range`) as `{"error":{"code","message","field"}}`;
//!   a stored heartbeat gets `200` and the
//!   [`HeartbeatAck`](lettuce_domain::telemetry::HeartbeatAck) that makes it
//!   a verified receipt for the sender. These endpoints never need a token.
//! * `GET /` — the ops dashboard (instances, versions, last seen, licenses
//!   expiring within 30 days, tokens saved); `GET /v1/summary`,
//!   `GET /v1/instances`, `GET /v1/instances/{id}`, `GET /v1/licenses` —
//!   the JSON API; `POST /v1/licenses` `{"token": "<license JWT>"}` — adds a
//!   license to the registry after verifying its signature. When
//!   `TELEMETRY_RECEIVER_TOKEN` is set these need `Authorization: Bearer
//!   <token>` (or HTTP Basic with the token as password, for browsers).
//! * `GET /healthz` — liveness.
//!
//! Storage ([`ReceiverStore`]) uses `lettuce-store-sea-orm`'s connection
//! handling on SQLite or PostgreSQL, with the receiver's own tables and
//! migrator ([`ReceiverMigrator`]).

#![deny(missing_docs)]

pub mod dashboard;
mod entity;
pub mod migration;
pub mod report;
pub mod store;

pub use migration::ReceiverMigrator;
pub use store::ReceiverStore;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lettuce_domain::Secret;
use lettuce_domain::license::LicenseClaims;
use lettuce_domain::telemetry::{MAX_PING_BYTES, PingErrorKind, parse_ping};
use lettuce_domain::token::constant_time_eq;
use lettuce_license_ed25519::{PublicKey, verify_token};
use lettuce_ports::clock::Clock;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

/// Largest body of `POST /v1/licenses`.
const MAX_LICENSE_BODY: usize = 64 * 1024;

/// Heartbeats listed per instance by `GET /v1/instances/{id}`.
const PINGS_PER_INSTANCE: u64 = 30;

/// What the receiver runs on.
pub struct ReceiverState {
    /// Storage.
    pub store: ReceiverStore,
    /// `TELEMETRY_RECEIVER_TOKEN`: required for the dashboard and the JSON
    /// API when set.
    pub token: Option<Secret>,
    /// Keys that verify licenses offered to the registry.
    pub license_keys: Vec<PublicKey>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

impl ReceiverState {
    /// A receiver on `store` without a token or license keys (the registry
    /// refuses every license), on the system clock.
    pub fn new(store: ReceiverStore) -> Self {
        Self {
            store,
            token: None,
            license_keys: Vec::new(),
            clock: Arc::new(lettuce_ports::clock::SystemClock),
        }
    }
}

impl std::fmt::Debug for ReceiverState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverState")
            .field("store", &self.store.backend())
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("license_keys", &self.license_keys.len())
            .finish()
    }
}

type Shared = Arc<ReceiverState>;

/// An error in the API's format: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    fn unavailable(e: &lettuce_ports::store::StoreError) -> Self {
        tracing::error!(error = %e, "telemetry storage failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "the receiver's storage is unavailable; try again later",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        let mut resp = (self.status, Json(json!({ "error": error }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"lettuce-telemetry\", charset=\"UTF-8\""),
            );
        }
        resp
    }
}

/// The router.
pub fn router(state: Arc<ReceiverState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/v1/heartbeat", post(heartbeat))
        .route("/v1/self-hosted/telemetry", post(heartbeat))
        .route("/", get(dashboard_page))
        .route("/v1/summary", get(summary))
        .route("/v1/instances", get(instances))
        .route("/v1/instances/{id}", get(instance))
        .route("/v1/licenses", get(licenses).post(register_license))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ReceiverState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A receiver serving in the background of this process (tests, or a
/// service that embeds the receiver).
#[derive(Debug)]
pub struct RunningReceiver {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// Its storage.
    pub store: ReceiverStore,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningReceiver {
    /// Listens on `bind` (port 0 picks a free one) and serves `state` on a
    /// background task until [`RunningReceiver::stop`].
    pub async fn start(bind: std::net::SocketAddr, state: Arc<ReceiverState>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let store = state.store.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, state, async {
            let _ = rx.await;
        }));
        Ok(Self {
            addr,
            store,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving (in-flight requests finish first).
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {limit} bytes"),
        )
    })
}

fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/json"));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ))
    }
}

async fn heartbeat(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    require_json(&headers)?;
    let body = read_body(body, MAX_PING_BYTES).await?;
    let hb = parse_ping(&body).map_err(|e| {
        let status = if e.kind == PingErrorKind::Malformed {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        ApiError {
            status,
            code: e.kind.code(),
            message: e.message,
            field: e.field,
        }
    })?;
    let ack = s
        .store
        .record(&hb, s.clock.now())
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    tracing::info!(instance = %hb.instance_id, version = %hb.version, receipt = %ack.receipt_id, "heartbeat stored");
    Ok((StatusCode::OK, Json(ack)).into_response())
}

/// Whether the request carries the token (Bearer, or Basic with the token
/// as password).
fn authorized(s: &ReceiverState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &s.token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            if scheme.eq_ignore_ascii_case("bearer") {
                Some(rest.trim().to_owned())
            } else if scheme.eq_ignore_ascii_case("basic") {
                let decoded = decode_base64(rest.trim())?;
                let text = String::from_utf8(decoded).ok()?;
                text.split_once(':').map(|(_, password)| password.to_owned())
            } else {
                None
            }
        });
    match given {
        Some(g) if constant_time_eq(&g, token.expose()) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "invalid token",
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "this receiver requires TELEMETRY_RECEIVER_TOKEN: send `Authorization: Bearer <token>`",
        )),
    }
}

/// Standard base64 (for HTTP Basic), without a dependency.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push(((bits >> nbits) & 0xff) as u8);
        }
    }
    Some(out)
}

async fn build_report(s: &ReceiverState) -> Result<report::Report, ApiError> {
    let instances = s.store.instances().await.map_err(|e| ApiError::unavailable(&e))?;
    let licenses = s.store.licenses().await.map_err(|e| ApiError::unavailable(&e))?;
    Ok(report::report(instances, licenses, s.clock.now()))
}

async fn dashboard_page(State(s): State<Shared>, headers: HeaderMap) -> Result<Html<String>, ApiError> {
    authorized(&s, &headers)?;
    Ok(Html(dashboard::render(&build_report(&s).await?)))
}

async fn summary(State(s): State<Shared>, headers: HeaderMap) -> Result<Json<report::Summary>, ApiError> {
    authorized(&s, &headers)?;
    Ok(Json(build_report(&s).await?.summary))
}

async fn instances(State(s): State<Shared>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    authorized(&s, &headers)?;
    Ok(Json(json!({ "instances": build_report(&s).await?.instances })))
}

async fn instance(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorized(&s, &headers)?;
    let id = Uuid::parse_str(&id).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            "the instance id must be a UUID",
        )
    })?;
    let report = build_report(&s).await?;
    let view = report
        .instances
        .into_iter()
        .find(|v| v.instance.instance_id == id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no heartbeat from this instance"))?;
    let pings = s
        .store
        .instance(id, PINGS_PER_INSTANCE)
        .await
        .map_err(|e| ApiError::unavailable(&e))?
        .map(|(_, p)| p)
        .unwrap_or_default();
    let mut body = serde_json::to_value(view).unwrap_or_default();
    body["recent_heartbeats"] = serde_json::to_value(pings).unwrap_or_default();
    Ok(Json(body))
}

/// `GET /v1/licenses?expiring=true`.
#[derive(Debug, Deserialize)]
struct LicenseQuery {
    #[serde(default)]
    expiring: bool,
}

async fn licenses(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<LicenseQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorized(&s, &headers)?;
    let licenses: Vec<report::LicenseView> = build_report(&s)
        .await?
        .licenses
        .into_iter()
        .filter(|l| !q.expiring || l.expiring)
        .collect();
    Ok(Json(json!({ "licenses": licenses })))
}

/// Verifies a license token against `keys`, for the registry.
pub fn verified_claims(token: &str, keys: &[PublicKey]) -> Result<LicenseClaims, String> {
    verify_token(token, keys).map(|v| v.claims).map_err(|e| e.to_string())
}

async fn register_license(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    authorized(&s, &headers)?;
    require_json(&headers)?;
    let body = read_body(body, MAX_LICENSE_BODY).await?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Register {
        token: String,
    }
    let req: Register = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("expected {{\"token\": \"<license JWT>\"}}: {e}"),
        )
    })?;
    let claims = verified_claims(&req.token, &s.license_keys)
        .map_err(|m| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "license_invalid", m))?;
    let stored = s
        .store
        .register_license(&claims, s.clock.now())
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    tracing::info!(license = %stored.license_id, customer = %stored.customer_id, "license registered");
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_for_basic_auth() {
        assert_eq!(decode_base64("dXNlcjpzM2NyZXQ=").unwrap(), b"user:s3cret");
        assert_eq!(decode_base64("YQ").unwrap(), b"a");
        assert!(decode_base64("!!").is_none());
    }
}
