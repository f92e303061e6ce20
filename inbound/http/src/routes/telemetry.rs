//! Telemetry state and the admin opt-out toggle (`/v1/admin/telemetry`).
//! The wire types live here (not in `dto.rs`): only these routes use them.

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, Auth};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use lettuce_engine::TelemetryStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `PUT /v1/admin/telemetry` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetryToggleBody {
    /// `false` opts out (allowed only when the license has
    /// `telemetry_required=false`); `true` opts back in.
    pub enabled: bool,
}

/// The last verified receipt.
#[derive(Debug, Serialize, ToSchema)]
pub struct TelemetryReceiptDto {
    /// The receiver's id for the heartbeat.
    pub receipt_id: String,
    /// When the receiver stored it (its clock).
    pub received_at: DateTime<Utc>,
    /// When this instance verified the acknowledgement.
    pub verified_at: DateTime<Utc>,
    /// Where it was sent.
    pub endpoint: String,
}

/// The last failed attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct TelemetryFailureDto {
    /// When.
    pub at: DateTime<Utc>,
    /// `unreachable`, `rejected`, `rate_limited`, `server_error`, `unverified` or `backend`.
    pub kind: String,
    /// What happened.
    pub message: String,
}

/// `GET /v1/admin/telemetry`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TelemetryDto {
    /// The install's instance id (also in every heartbeat).
    pub instance_id: Uuid,
    /// Whether heartbeats are being sent.
    pub sending: bool,
    /// Why (one sentence, naming any opt-out and the license term).
    pub reason: String,
    /// The admin toggle (`false` = the admin opted out).
    pub enabled: bool,
    /// Whether the license allows opting out (`telemetry_required=false`, or no license gating).
    pub opt_out_allowed: bool,
    /// `required`, `optional`, `unverified` (gated, no license verified) or `ungated`.
    pub license_term: String,
    /// Every opt-out requested: `LETTUCE_TELEMETRY_ENABLED=false`, `DO_NOT_TRACK=1`, the admin toggle, …
    pub opt_outs: Vec<String>,
    /// Where heartbeats go; `null` when this build has no sender.
    pub endpoint: Option<String>,
    /// The last verified receipt.
    pub last_receipt: Option<TelemetryReceiptDto>,
    /// The last failed attempt.
    pub last_failure: Option<TelemetryFailureDto>,
    /// Days without a verified receipt, once that reaches 7 while sending.
    pub receipt_overdue_days: Option<i64>,
}

fn dto(s: TelemetryStatus) -> TelemetryDto {
    let license_term = serde_json::to_value(s.decision.license)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    TelemetryDto {
        instance_id: s.instance_id,
        sending: s.sending,
        reason: s.reason,
        enabled: !s.admin_opted_out,
        opt_out_allowed: s.opt_out_allowed,
        license_term,
        opt_outs: s.decision.opt_outs.iter().map(|o| o.describe().to_owned()).collect(),
        endpoint: s.endpoint,
        last_receipt: s.last_receipt.map(|r| TelemetryReceiptDto {
            receipt_id: r.receipt_id,
            received_at: r.received_at,
            verified_at: r.verified_at,
            endpoint: r.endpoint,
        }),
        last_failure: s.last_failure.map(|f| TelemetryFailureDto {
            at: f.at,
            kind: f.kind,
            message: f.message,
        }),
        receipt_overdue_days: s.receipt_overdue_days,
    }
}

/// Telemetry state: whether heartbeats are sent and why, whether the license
/// allows opting out, the instance id and the last receipt. Account owners or
/// the admin token.
#[utoipa::path(get, path = "/v1/admin/telemetry", tag = "telemetry", security(("bearer" = [])), responses(
    (status = 200, body = TelemetryDto), (status = 403, body = ErrorBody)))]
pub(crate) async fn get(State(s): State<AppState>, Auth(caller): Auth) -> Result<Json<TelemetryDto>, ApiError> {
    Ok(Json(dto(s.engine.telemetry_status(&caller).await?)))
}

/// Turn the admin opt-out on (`{"enabled": false}`) or off. Refused with
/// `telemetry_required` (403) when the license requires telemetry.
#[utoipa::path(put, path = "/v1/admin/telemetry", tag = "telemetry", security(("bearer" = [])),
    request_body = TelemetryToggleBody,
    responses(
        (status = 200, body = TelemetryDto),
        (status = 403, description = "`telemetry_required`: the license requires telemetry; `forbidden`: not an owner", body = ErrorBody)))]
pub(crate) async fn put(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiJson(b): ApiJson<TelemetryToggleBody>,
) -> Result<Json<TelemetryDto>, ApiError> {
    Ok(Json(dto(s.engine.set_telemetry_enabled(&caller, b.enabled).await?)))
}
