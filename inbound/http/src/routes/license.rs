//! License status and key upload.

use crate::AppState;
use crate::dto::{LicenseDto, LicenseKeyBody};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, Auth};
use axum::Json;
use axum::extract::State;
use lettuce_domain::Secret;
use lettuce_ports::license::LicenseStatus;

fn dto(st: LicenseStatus) -> LicenseDto {
    LicenseDto {
        gated: st.gated,
        state: st.state.as_str().into(),
        reason: st.reason,
        claims: st.claims.and_then(|c| serde_json::to_value(c).ok()),
    }
}

/// The license state, claims and reason (any user, or the admin token — also
/// while the instance is locked).
#[utoipa::path(get, path = "/v1/license", tag = "license", security(("bearer" = [])), responses(
    (status = 200, body = LicenseDto), (status = 401, body = ErrorBody)))]
pub(crate) async fn get(State(s): State<AppState>, Auth(caller): Auth) -> Result<Json<LicenseDto>, ApiError> {
    Ok(Json(dto(s.engine.license_status(&caller).await)))
}

/// Upload a new license key; it takes effect without a restart. Account owners,
/// or the admin token (which works even while the instance is locked).
#[utoipa::path(put, path = "/v1/admin/license", tag = "license", security(("bearer" = [])), request_body = LicenseKeyBody,
    responses(
        (status = 200, body = LicenseDto),
        (status = 400, description = "`license_malformed`, `license_signature_invalid`, `license_expired`", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "`license_not_gated`: LETTUCE_SELF_HOSTED is off", body = ErrorBody)))]
pub(crate) async fn put(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiJson(b): ApiJson<LicenseKeyBody>,
) -> Result<Json<LicenseDto>, ApiError> {
    Ok(Json(dto(s.engine.install_license(&caller, Secret::new(b.key)).await?)))
}
