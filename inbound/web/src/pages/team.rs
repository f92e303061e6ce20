//! Team: members and roles, seats, invites (owners mint them; the link is
//! shown once).

use crate::WebState;
use crate::pages::invite_link;
use crate::render::when;
use crate::viewer::{Viewer, WebForm};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use lettuce_domain::InviteId;
use lettuce_domain::account::Role;
use lettuce_engine::Caller;
use lettuce_http::ApiError;
use minijinja::{Value, context};
use serde::Deserialize;
use uuid::Uuid;

async fn render(s: &WebState, viewer: &Viewer, status: StatusCode, extra: Value) -> Response {
    let Caller::User(u) = &viewer.caller else {
        return Redirect::to("/admin").into_response();
    };
    let base = s.base(viewer, "team").await;
    let members = match s.engine.members(&viewer.caller).await {
        Ok(m) => m,
        Err(e) => return s.error_page(Some(viewer), e.into()),
    };
    let owner = u.role == Role::Owner;
    let invites = if owner {
        match s.engine.list_invites(&viewer.caller).await {
            Ok(list) => list,
            Err(e) => return s.error_page(Some(viewer), e.into()),
        }
    } else {
        Vec::new()
    };
    let now = Utc::now();
    let license = s.engine.license_status(&viewer.caller).await;
    let seats = license.claims.filter(|_| license.gated).map(|c| c.seats);
    // Seats count users across the instance (the license is per install).
    let seats_used = members.len();
    let ctx = context! {
        owner => owner,
        members => members.iter().map(|m| context! {
            email => m.email.clone(),
            role => m.role.as_str(),
            you => m.id == u.user_id,
            sso => m.identity.is_some(),
            joined => when(m.created_at),
        }).collect::<Vec<_>>(),
        invites => invites.iter().map(|i| context! {
            id => i.id.0.to_string(),
            email => i.email.clone(),
            created => when(i.created_at),
            expires => when(i.expires_at),
            expired => i.expires_at <= now,
            redemptions => i.redemptions,
        }).collect::<Vec<_>>(),
        seats_used => seats_used,
        seats => seats,
        limit_reached => seats.is_some_and(|n| seats_used as u64 >= u64::from(n)),
        extra => extra,
        ..base
    };
    s.page_with(status, "team.html", ctx)
}

/// `GET /team`.
pub(crate) async fn page(State(s): State<WebState>, viewer: Viewer) -> Response {
    render(&s, &viewer, StatusCode::OK, Value::UNDEFINED).await
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct MintForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /team/invites`: mint a teammate invite (owners).
pub(crate) async fn mint(State(s): State<WebState>, viewer: Viewer, WebForm(f): WebForm<MintForm>) -> Response {
    if let Err(r) = viewer.check_csrf(&s, &f.csrf_token) {
        return r;
    }
    let email = Some(f.email.trim().to_owned()).filter(|e| !e.is_empty());
    match s.engine.create_team_invite(&viewer.caller, email).await {
        Ok(inv) => {
            let extra = context! {
                link => invite_link(&s, inv.code.expose()),
                expires => when(inv.expires_at),
            };
            render(&s, &viewer, StatusCode::CREATED, extra).await
        }
        Err(e) => {
            let e = ApiError::from(e);
            if e.status == StatusCode::FORBIDDEN && e.code == "forbidden" {
                return s.error_page(Some(&viewer), e);
            }
            let extra = context! { error => e.message, email => f.email };
            render(&s, &viewer, e.status, extra).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /team/invites/{id}/revoke` (owners): the link stops working.
pub(crate) async fn revoke(
    State(s): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    WebForm(f): WebForm<RevokeForm>,
) -> Response {
    if let Err(r) = viewer.check_csrf(&s, &f.csrf_token) {
        return r;
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return s.error_page(
            Some(&viewer),
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "invite not found"),
        );
    };
    match s.engine.revoke_invite(&viewer.caller, InviteId(id)).await {
        Ok(()) => render(&s, &viewer, StatusCode::OK, context! { revoked => true }).await,
        Err(e) => s.error_page(Some(&viewer), e.into()),
    }
}
