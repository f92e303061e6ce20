//! Request spans, request metrics, `/metrics` and the probe-only router.
//!
//! Every request runs in an `http.request` span named `METHOD /route/{template}`
//! (never the raw path with ids, never a header or body), continuing the
//! caller's W3C `traceparent` when it sent one; the authenticated account id
//! is recorded on it by the `Auth` extractor. Its duration goes to
//! `lettuce_http_request_duration_seconds{method,route,status}`.

use crate::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lettuce_engine::Caller;
use lettuce_ports::trace::TraceCarrier;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// Renders the Prometheus text exposition of every metric recorded so far
/// (the app installs the exporter and hands its renderer in).
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// Middleware: the request span and the latency histogram.
pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        account.id = tracing::field::Empty,
    );
    let carrier: TraceCarrier = ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|name| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| (name.to_owned(), v.to_owned()))
        })
        .collect();
    if !carrier.is_empty() {
        state.engine.propagation().continue_from(&span, &carrier);
    }
    let started = Instant::now();
    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    metrics::histogram!(
        "lettuce_http_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => status.as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// Records who is calling on the request span (the account id only: never a
/// token, email or name).
pub(crate) fn record_caller(caller: &Caller) {
    let span = tracing::Span::current();
    match caller {
        Caller::User(u) => span.record("account.id", u.account_id.to_string()),
        Caller::Admin => span.record("account.id", "admin"),
    };
}

/// `GET /metrics`: Prometheus text format. Not behind user auth (scrapers
/// do not sign in): keep it on an internal port (`LETTUCE_METRICS_BIND`) or
/// block it at the ingress.
#[utoipa::path(get, path = "/metrics", tag = "health", responses(
    (status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String),
    (status = 404, description = "metrics are served on LETTUCE_METRICS_BIND, not this port", body = crate::error::ErrorBody)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let Some(render) = state.metrics.clone() else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics are not served on this port (see LETTUCE_METRICS_BIND)",
        )
        .into_response();
    };
    state.engine.observe_gauges().await;
    let body = render();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// The routes a process that serves no API still answers, for probes and
/// scrapers: `/healthz`, `/readyz` and (when `state` has a renderer)
/// `/metrics`. A worker-only process serves this on its bind address; with
/// `LETTUCE_METRICS_BIND` the app serves it there too.
pub fn probe_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(crate::routes::health::healthz))
        .route("/readyz", get(crate::routes::health::readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "this port serves only /healthz, /readyz and /metrics",
            )
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}
