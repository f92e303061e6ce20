//! # lettuce-web
//!
//! The web app, served by the same binary as the API: server-rendered pages
//! (minijinja templates compiled into the binary, autoescaped), plain CSS
//! and a vendored htmx for the live parts (repo status polling). Nothing is
//! loaded from a CDN; every page works without JavaScript.
//!
//! Pages call the engine directly — the same use cases as the JSON API —
//! and authenticate with the browser session of [`lettuce_http::session`]:
//! the `lettuce_session` cookie, a `csrf_token` field on every form, and the
//! `lettuce_csrf` pre-session cookie on the sign-in, sign-up and first-run
//! forms. Every response carries a Content-Security-Policy without inline
//! script, `X-Frame-Options: DENY` and `Referrer-Policy: no-referrer` (invite
//! links carry their code in the path).
//!
//! ```no_run
//! # fn demo(engine: lettuce_engine::Engine) {
//! use lettuce_web::{WebConfig, WebOptions};
//! let env = std::collections::HashMap::<String, String>::new();
//! let mut settings = lettuce_ports::config::Settings::new(&env);
//! let config = WebConfig::from_settings(&mut settings);
//! let options = WebOptions {
//!     config,
//!     web_url: "http://127.0.0.1:8080".into(),
//!     mcp_url: "http://127.0.0.1:8080/mcp".into(),
//!     admin_token_location: "/var/lib/lettuce/admin_token".into(),
//! };
//! let app: axum::Router = lettuce_web::router(lettuce_web::WebState::new(engine, options));
//! # }
//! ```
#![deny(missing_docs)]
// Handlers return a rendered page as the error of their early checks.
#![allow(clippy::result_large_err)]

mod chart;
mod pages;
mod render;
mod viewer;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lettuce_engine::Engine;
use lettuce_http::session::SessionSettings;
use lettuce_ports::config::Settings;
use std::sync::Arc;

/// The web app's own configuration, read from the same name → value lookup
/// as the adapters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebConfig {
    /// Whether OIDC sign-in is configured (`LETTUCE_AUTH_PROVIDER=oidc` and
    /// `LETTUCE_OIDC_CLIENT_ID` set): the sign-in page then shows
    /// "Sign in with SSO" linking to `/v1/auth/oidc/login`.
    pub oidc: bool,
    /// Why OIDC sign-in is not offered (shown on the admin page).
    pub oidc_reason: String,
}

impl WebConfig {
    /// Reads `LETTUCE_AUTH_PROVIDER` and `LETTUCE_OIDC_CLIENT_ID` (nothing
    /// here can be wrong: the auth adapter validates them).
    pub fn from_settings(s: &mut Settings<'_>) -> Self {
        let provider = s
            .get("LETTUCE_AUTH_PROVIDER")
            .unwrap_or_else(|| "local".into())
            .to_ascii_lowercase();
        let client = s.get("LETTUCE_OIDC_CLIENT_ID");
        match (provider.as_str(), client) {
            ("oidc", Some(_)) => Self {
                oidc: true,
                oidc_reason: String::new(),
            },
            ("oidc", None) => Self {
                oidc: false,
                oidc_reason: "LETTUCE_AUTH_PROVIDER=oidc but LETTUCE_OIDC_CLIENT_ID is not set".into(),
            },
            (other, _) => Self {
                oidc: false,
                oidc_reason: format!(
                    "LETTUCE_AUTH_PROVIDER is `{other}`; set it to `oidc` with LETTUCE_OIDC_CLIENT_ID to offer \"Sign in with SSO\""
                ),
            },
        }
    }
}

/// What the app tells the pages about the install.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// The web app's configuration.
    pub config: WebConfig,
    /// `LETTUCE_WEB_URL`: the base of invite links.
    pub web_url: String,
    /// `LETTUCE_MCP_URL`: shown on the "Connect an agent" page.
    pub mcp_url: String,
    /// Where the admin token is (a file path, or "the X environment
    /// variable"): shown on the first-run page. Never the token itself.
    pub admin_token_location: String,
}

/// Shared state of the pages.
#[derive(Clone, Debug)]
pub struct WebState {
    pub(crate) engine: Engine,
    pub(crate) session: SessionSettings,
    pub(crate) options: Arc<WebOptions>,
    pub(crate) templates: Arc<minijinja::Environment<'static>>,
}

impl WebState {
    /// State for `engine`; cookies follow `LETTUCE_WEB_URL` like the API's.
    pub fn new(engine: Engine, options: WebOptions) -> Self {
        Self {
            session: SessionSettings::for_engine(&engine),
            engine,
            options: Arc::new(options),
            templates: Arc::new(render::environment()),
        }
    }
}

/// The Content-Security-Policy of every page: scripts and styles only from
/// this origin (no inline script, no eval), no framing, forms only to self.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        body,
    )
        .into_response()
}

async fn favicon() -> Response {
    asset("image/svg+xml", include_bytes!("../static/favicon.svg"))
}

/// The web app's routes (merge them with the API router: none overlaps
/// `/v1`, `/api`, `/mcp`, `/healthz`, `/readyz` or `/openapi.json`).
pub fn router(state: WebState) -> Router {
    use pages::{admin, auth, connect, repos, search, team, usage};
    Router::new()
        .route("/", get(auth::home))
        .route("/signin", get(auth::signin_page).post(auth::signin))
        .route("/signup", get(auth::signup_page).post(auth::signup))
        .route("/invite/{code}", get(auth::invite_page))
        .route("/signout", post(auth::signout))
        .route("/operator", get(auth::operator_page).post(auth::operator_signin))
        .route("/setup", get(auth::setup_page))
        .route("/setup/invite", post(auth::setup_invite))
        .route("/repos", get(repos::page).post(repos::add))
        .route("/repos/rows", get(repos::rows))
        .route("/repos/connect/{provider}", get(repos::connect))
        .route("/repos/pick/{provider}", post(repos::pick))
        .route("/repos/token/{provider}", post(repos::connect_token))
        .route("/repos/{id}/webhook", post(repos::retry_webhook))
        .route("/repos/{id}/reindex", post(repos::reindex))
        .route("/repos/{id}/eval", post(repos::eval))
        .route("/repos/{id}/delete", get(repos::confirm_delete).post(repos::delete))
        .route("/team", get(team::page))
        .route("/team/invites", post(team::mint))
        .route("/team/invites/{id}/revoke", post(team::revoke))
        .route("/admin", get(admin::page))
        .route("/admin/license", post(admin::license))
        .route("/admin/telemetry", post(admin::telemetry))
        .route("/admin/invites", post(admin::invite))
        .route("/usage", get(usage::page))
        .route("/search", get(search::page))
        .route("/file", get(search::file))
        .route("/connect", get(connect::page).post(connect::create_key))
        .route("/connect/keys/{id}/revoke", post(connect::revoke_key))
        .route(
            "/static/app.css",
            get(|| async { asset("text/css; charset=utf-8", include_bytes!("../static/app.css")) }),
        )
        .route(
            "/static/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_bytes!("../static/app.js")) }),
        )
        .route(
            "/static/htmx.min.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_bytes!("../static/htmx.min.js"),
                )
            }),
        )
        .route("/static/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> WebConfig {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        WebConfig::from_settings(&mut Settings::new(&env))
    }

    #[test]
    fn oidc_button_needs_provider_and_client_id() {
        assert!(!cfg(&[]).oidc);
        assert!(cfg(&[]).oidc_reason.contains("LETTUCE_AUTH_PROVIDER"));
        assert!(!cfg(&[("LETTUCE_AUTH_PROVIDER", "oidc")]).oidc);
        assert!(
            cfg(&[("LETTUCE_AUTH_PROVIDER", "oidc")])
                .oidc_reason
                .contains("LETTUCE_OIDC_CLIENT_ID")
        );
        assert!(cfg(&[("LETTUCE_AUTH_PROVIDER", "OIDC"), ("LETTUCE_OIDC_CLIENT_ID", "lettuce")]).oidc);
    }
}
