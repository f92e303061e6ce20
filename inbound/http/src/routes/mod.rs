//! Routes.

pub(crate) mod code;
pub(crate) mod eval;
pub(crate) mod health;
pub(crate) mod integrations;
pub(crate) mod license;
pub(crate) mod locate;
pub(crate) mod oidc;
pub(crate) mod repos;
pub(crate) mod telemetry;
pub(crate) mod users;

use crate::AppState;
use crate::error::ApiError;
use crate::openapi::ApiDoc;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use utoipa::OpenApi;

/// Largest accepted request body.
pub const MAX_BODY: usize = 1024 * 1024;

pub(crate) fn router(state: AppState, extra: Router) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(crate::observe::metrics))
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .route("/api/admin/invites", post(users::admin_invite))
        .route(
            "/v1/auth/signup",
            post(users::signup).layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::ratelimit::sign_in,
            )),
        )
        .route(
            "/v1/auth/login",
            post(users::login).layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::ratelimit::sign_in,
            )),
        )
        .route("/v1/auth/oidc/login", get(oidc::login))
        .route("/v1/auth/oidc/callback", get(oidc::callback))
        .route("/v1/auth/logout", get(oidc::logout))
        .route("/v1/api-keys", post(users::create_api_key).get(users::list_api_keys))
        .route("/v1/api-keys/{id}", delete(users::revoke_api_key))
        .route("/v1/invites", post(users::team_invite).get(users::list_invites))
        .route("/v1/invites/{id}", delete(users::revoke_invite))
        .route("/v1/account", get(users::account))
        .route("/v1/repos", get(repos::list).post(repos::add))
        .route("/v1/repos/{id}", get(repos::get).delete(repos::delete))
        .route("/v1/repos/{id}/reindex", post(repos::reindex))
        .route("/v1/repos/{id}/eval", post(eval::start).get(eval::get))
        .route("/v1/repos/{id}/webhook", post(integrations::retry_webhook))
        .route("/v1/integrations", get(integrations::list))
        .route("/v1/integrations/{provider}", delete(integrations::disconnect))
        .route("/v1/integrations/{provider}/install", get(integrations::install))
        .route("/v1/integrations/{provider}/callback", get(integrations::callback))
        .route("/v1/integrations/{provider}/token", post(integrations::connect_token))
        .route(
            "/v1/integrations/{provider}/repos",
            get(integrations::picker).post(integrations::add),
        )
        .route("/v1/{provider}/webhook/{account_id}", post(integrations::webhook))
        .route("/v1/repos/{id}/outline", get(code::outline))
        .route("/v1/repos/{id}/file", get(code::file))
        .route("/v1/search", get(code::search))
        .route("/v1/symbols", get(code::symbols))
        .route("/v1/locate", get(locate::get).post(locate::post))
        .route("/v1/usage", get(code::usage))
        .route("/v1/license", get(license::get))
        .route("/v1/admin/license", put(license::put))
        .route("/v1/admin/telemetry", get(telemetry::get).put(telemetry::put))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state.clone())
        .merge(extra)
        .layer(axum::middleware::from_fn_with_state(state, crate::observe::track))
}

async fn not_found(method: Method, uri: Uri) -> impl IntoResponse {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> impl IntoResponse {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
