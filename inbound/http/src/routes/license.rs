//! License status.

use crate::AppState;
use crate::dto::LicenseDto;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Auth;
use axum::Json;
use axum::extract::State;

/// The license state, claims and reason (any user, or the admin token).
#[utoipa::path(get, path = "/v1/license", tag = "license", security(("bearer" = [])), responses(
    (status = 200, body = LicenseDto), (status = 401, body = ErrorBody)))]
pub(crate) async fn get(State(s): State<AppState>, Auth(_caller): Auth) -> Result<Json<LicenseDto>, ApiError> {
    let st = s.engine.license().status().await;
    Ok(Json(LicenseDto {
        gated: st.gated,
        state: st.state.as_str().into(),
        reason: st.reason,
        claims: st.claims.and_then(|c| serde_json::to_value(c).ok()),
    }))
}
