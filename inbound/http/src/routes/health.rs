//! Liveness and readiness.

use crate::AppState;
use crate::dto::{CheckDto, HealthDto, ReadyDto};
use crate::error::{ApiError, ErrorBody};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = HealthDto)))]
pub(crate) async fn healthz(State(s): State<AppState>) -> Json<HealthDto> {
    Json(HealthDto {
        status: "ok",
        version: s.version.to_string(),
    })
}

/// Readiness: the metadata store and blob store answer.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, body = ReadyDto),
    (status = 503, description = "a dependency failed; the message names it", body = ErrorBody)))]
pub(crate) async fn readyz(State(s): State<AppState>) -> Result<Json<ReadyDto>, ApiError> {
    let report = s.engine.readiness().await;
    if !report.is_ready() {
        // Details (hosts, users, driver messages) go to the log, not to
        // unauthenticated callers.
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| c.error.is_some())
            .inspect(|c| {
                tracing::warn!(
                    check = c.name,
                    error = c.error.as_deref().unwrap_or_default(),
                    "readiness check failed"
                )
            })
            .map(|c| c.name)
            .collect();
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!("not ready — failing: {} (details in the server log)", failed.join(", ")),
        ));
    }
    let checks = report
        .checks
        .into_iter()
        .map(|c| {
            (
                c.name.to_owned(),
                CheckDto {
                    status: "ok",
                    error: c.error,
                },
            )
        })
        .collect();
    Ok(Json(ReadyDto {
        status: "ready",
        checks,
    }))
}
