//! # lettuce-http
//!
//! The inbound HTTP adapter: an axum [`Router`] over an [`Engine`], the
//! stable error format `{"error": {"code", "message"}}` for every failure
//! (unknown route, wrong method, malformed JSON, missing auth, validation),
//! and the OpenAPI document at `/openapi.json`.
//!
//! ```no_run
//! # async fn demo(engine: lettuce_engine::Engine) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let cancel = tokio_util_like_cancel();
//! lettuce_http::serve(listener, lettuce_http::AppState::new(engine), cancel).await
//! # }
//! # fn tokio_util_like_cancel() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> { Box::pin(std::future::pending()) }
//! ```
//!
//! This is a *driving* adapter: unlike the outbound adapters under
//! `adapters/`, it depends on the engine (see `docs/ARCHITECTURE.md`).
#![deny(missing_docs)]

mod dto;
mod error;
mod extract;
mod observe;
mod openapi;
pub mod ratelimit;
mod routes;
pub mod session;

use axum::Router;
use lettuce_engine::Engine;
use std::future::Future;
use std::sync::Arc;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use extract::Auth;
pub use observe::{MetricsRender, probe_router};
pub use openapi::ApiDoc;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Engine,
    /// Version reported by `/healthz`.
    pub version: Arc<str>,
    /// How browser session cookies are written.
    pub session: session::SessionSettings,
    /// Renders `/metrics` (None: this router serves no metrics).
    pub metrics: Option<MetricsRender>,
    /// Sign-in rate limits (per IP and per email).
    pub sign_in_limits: Arc<ratelimit::SignInLimits>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("engine", &self.engine)
            .field("version", &self.version)
            .field("session", &self.session)
            .field("metrics", &self.metrics.is_some())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State for `engine`, reporting this crate's version.
    pub fn new(engine: Engine) -> Self {
        Self {
            session: session::SessionSettings::for_engine(&engine),
            engine,
            version: Arc::from(env!("CARGO_PKG_VERSION")),
            metrics: None,
            sign_in_limits: Arc::new(ratelimit::SignInLimits::default()),
        }
    }

    /// Serves `/metrics` with `render` on this router.
    pub fn with_metrics(mut self, render: MetricsRender) -> Self {
        self.metrics = Some(render);
        self
    }

    /// Replaces the sign-in rate limits (tests, embedders).
    pub fn with_sign_in_limits(mut self, limits: ratelimit::SignInLimits) -> Self {
        self.sign_in_limits = Arc::new(limits);
        self
    }
}

/// The full router (API, health, metrics, OpenAPI).
pub fn router(state: AppState) -> Router {
    routes::router(state, Router::new())
}

/// The full router with `extra` routes (such as MCP) merged in, all of them
/// traced and measured like the API's own.
pub fn router_with(state: AppState, extra: Router) -> Router {
    routes::router(state, extra)
}

/// Serves the router on `listener` until `shutdown` resolves, then stops
/// accepting and finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(listener, router(state), shutdown).await
}

/// Serves `app` (the API router, possibly merged with other routes such as
/// MCP) like [`serve`].
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address feeds the per-IP sign-in rate limit.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
