//! Admin (account owners and the operator): license state, claims and key
//! entry; telemetry status, the exact next heartbeat and the opt-out toggle;
//! instance id; sign-in methods; new-account invites (operator).

use crate::WebState;
use crate::pages::auth::InviteForm;
use crate::pages::invite_link;
use crate::render::{is_admin, when};
use crate::viewer::{Viewer, WebForm};
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;
use lettuce_domain::Secret;
use lettuce_engine::{AdminInviteRequest, Caller};
use lettuce_http::ApiError;
use minijinja::{Value, context};
use serde::Deserialize;

/// Largest license file accepted (keys are a few hundred bytes).
const MAX_KEY_BYTES: usize = 64 * 1024;

fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "only account owners and the operator (admin token) can open the admin page",
    )
}

async fn render(s: &WebState, viewer: &Viewer, status: StatusCode, extra: Value) -> Response {
    let base = s.base(viewer, "admin").await;
    let license = s.engine.license_status(&viewer.caller).await;
    let claims = license.claims.as_ref().map(|c| {
        context! {
            license_id => c.sub.clone(),
            customer => c.customer_id.clone(),
            tier => c.tier.clone(),
            seats => c.seats,
            repo_cap => c.repo_cap,
            expires => chrono::DateTime::from_timestamp(c.exp, 0).map(when),
            issued => chrono::DateTime::from_timestamp(c.iat, 0).map(when),
            features => c.features.clone(),
            telemetry_required => c.telemetry_required,
            issuer => c.iss.clone(),
        }
    });
    let telemetry = match s.engine.telemetry_status(&viewer.caller).await {
        Ok(t) => {
            let preview = match s.engine.telemetry_preview().await {
                Ok(p) => serde_json::to_string_pretty(&p.heartbeat).ok(),
                Err(e) => {
                    tracing::warn!(error = %e, "telemetry preview failed");
                    None
                }
            };
            let toggle_reason = (!t.opt_out_allowed).then_some(
                "The license requires telemetry (telemetry_required=true), so it cannot be turned off here; a license with telemetry_required=false allows opting out.",
            );
            Some(context! {
                instance_id => t.instance_id.to_string(),
                sending => t.sending,
                reason => t.reason,
                enabled => !t.admin_opted_out,
                opt_out_allowed => t.opt_out_allowed,
                toggle_reason => toggle_reason,
                opt_outs => t.decision.opt_outs.iter().map(|o| o.describe().to_owned()).collect::<Vec<_>>(),
                endpoint => t.endpoint,
                last_receipt => t.last_receipt.map(|r| context! { id => r.receipt_id, at => when(r.verified_at) }),
                last_failure => t.last_failure.map(|f| context! { kind => f.kind, message => f.message, at => when(f.at) }),
                overdue_days => t.receipt_overdue_days,
                preview => preview,
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "telemetry status failed");
            None
        }
    };
    let ctx = context! {
        license => context! {
            gated => license.gated,
            state => license.state.as_str(),
            reason => license.reason,
            claims => claims,
        },
        telemetry => telemetry,
        oidc => s.options.config.oidc,
        oidc_reason => s.options.config.oidc_reason.clone(),
        operator => matches!(viewer.caller, Caller::Admin),
        extra => extra,
        ..base
    };
    s.page_with(status, "admin.html", ctx)
}

/// `GET /admin`.
pub(crate) async fn page(State(s): State<WebState>, viewer: Viewer) -> Response {
    if !is_admin(&viewer.caller) {
        return s.error_page(Some(&viewer), forbidden());
    }
    render(&s, &viewer, StatusCode::OK, Value::UNDEFINED).await
}

/// `POST /admin/license` (multipart: `csrf_token`, `key` pasted, or `file`).
pub(crate) async fn license(State(s): State<WebState>, viewer: Viewer, mut form: Multipart) -> Response {
    if !is_admin(&viewer.caller) {
        return s.error_page(Some(&viewer), forbidden());
    }
    let mut csrf = String::new();
    let mut pasted = String::new();
    let mut uploaded = String::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let e = ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_form",
                    format!("the form could not be read: {}", e.body_text()),
                );
                return s.error_page(Some(&viewer), e);
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        let bytes = match field.bytes().await {
            Ok(b) if b.len() <= MAX_KEY_BYTES => b,
            _ => {
                let e = ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "a license key file is at most 64 KiB",
                );
                return render(&s, &viewer, e.status, context! { license_error => e.message }).await;
            }
        };
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        match name.as_str() {
            "csrf_token" => csrf = text,
            "key" => pasted = text,
            "file" => uploaded = text,
            _ => {}
        }
    }
    if let Err(r) = viewer.check_csrf(&s, &csrf) {
        return r;
    }
    let key = if pasted.is_empty() { uploaded } else { pasted };
    if key.is_empty() {
        return render(
            &s,
            &viewer,
            StatusCode::BAD_REQUEST,
            context! { license_error => "paste a license key or choose a key file" },
        )
        .await;
    }
    match s.engine.install_license(&viewer.caller, Secret::new(key)).await {
        Ok(st) => {
            let notice = format!("License installed: the instance is now {}.", st.state.as_str());
            render(&s, &viewer, StatusCode::OK, context! { license_notice => notice }).await
        }
        Err(e) => {
            let e = ApiError::from(e);
            render(
                &s,
                &viewer,
                e.status,
                context! { license_error => e.message, license_code => e.code },
            )
            .await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TelemetryForm {
    #[serde(default)]
    enabled: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /admin/telemetry`: the opt-out toggle.
pub(crate) async fn telemetry(
    State(s): State<WebState>,
    viewer: Viewer,
    WebForm(f): WebForm<TelemetryForm>,
) -> Response {
    if !is_admin(&viewer.caller) {
        return s.error_page(Some(&viewer), forbidden());
    }
    if let Err(r) = viewer.check_csrf(&s, &f.csrf_token) {
        return r;
    }
    let enabled = f.enabled == "true";
    match s.engine.set_telemetry_enabled(&viewer.caller, enabled).await {
        Ok(_) => {
            let notice = if enabled {
                "Telemetry is back on."
            } else {
                "Telemetry is off: no heartbeat will be sent."
            };
            render(&s, &viewer, StatusCode::OK, context! { telemetry_notice => notice }).await
        }
        Err(e) => {
            let e = ApiError::from(e);
            render(&s, &viewer, e.status, context! { telemetry_error => e.message }).await
        }
    }
}

/// `POST /admin/invites`: an invite that creates a new account (operator).
pub(crate) async fn invite(State(s): State<WebState>, viewer: Viewer, WebForm(f): WebForm<InviteForm>) -> Response {
    if !is_admin(&viewer.caller) {
        return s.error_page(Some(&viewer), forbidden());
    }
    if let Err(r) = viewer.check_csrf(&s, &f.csrf_token) {
        return r;
    }
    let req = AdminInviteRequest {
        email: Some(f.email).filter(|e| !e.trim().is_empty()),
        account_name: Some(f.account_name).filter(|n| !n.trim().is_empty()),
    };
    match s.engine.create_admin_invite(&viewer.caller, req).await {
        Ok(inv) => {
            let extra =
                context! { invite_link => invite_link(&s, inv.code.expose()), invite_expires => when(inv.expires_at) };
            render(&s, &viewer, StatusCode::CREATED, extra).await
        }
        Err(e) => {
            let e = ApiError::from(e);
            render(&s, &viewer, e.status, context! { invite_error => e.message }).await
        }
    }
}
