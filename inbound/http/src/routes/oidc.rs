//! Browser sign-in at the external OpenID provider: authorization code +
//! PKCE with `state` and `nonce`, an optional invite code carried through
//! for a first sign-in, the session cookie at the end, and logout through
//! the provider's end-session endpoint when it has one.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::session::{SESSION_COOKIE, build_cookie, clear_session_cookie, cookie_value, set_session_cookie};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lettuce_domain::Secret;
use lettuce_engine::EngineError;
use lettuce_ports::auth::PendingSignIn;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::IntoParams;

/// Cookie holding the pending sign-in (state, nonce, PKCE verifier, invite).
pub const PENDING_COOKIE: &str = "lettuce_oidc";
/// How long a sign-in at the provider may take.
const PENDING_AGE: Duration = Duration::from_secs(600);
/// Where the provider sends the browser back.
pub const CALLBACK_PATH: &str = "/v1/auth/oidc/callback";

#[derive(Serialize, Deserialize)]
struct Pending {
    s: String,
    n: String,
    v: String,
    i: Option<String>,
}

fn web_url(s: &AppState) -> String {
    s.engine
        .settings()
        .web_url
        .clone()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into())
        .trim_end_matches('/')
        .to_owned()
}

fn redirect(to: &str, cookies: &[HeaderValue]) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    for c in cookies {
        resp.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    resp
}

fn no_idp() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "this instance has no identity-provider sign-in: set LETTUCE_AUTH_PROVIDER=oidc and LETTUCE_OIDC_CLIENT_ID",
    )
}

/// `GET /v1/auth/oidc/login` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OidcLoginParams {
    /// An invite code, for a first sign-in that joins an account.
    pub invite: Option<String>,
}

/// Start signing in at the identity provider (redirects there).
#[utoipa::path(get, path = "/v1/auth/oidc/login", tag = "auth", params(OidcLoginParams),
    responses((status = 303, description = "to the identity provider"),
        (status = 404, body = crate::ErrorBody), (status = 503, body = crate::ErrorBody)))]
pub(crate) async fn login(
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<OidcLoginParams>,
) -> Result<Response, ApiError> {
    let sign_in = s.engine.idp_sign_in().ok_or_else(no_idp)?;
    let start = sign_in
        .begin(&format!("{}{CALLBACK_PATH}", web_url(&s)))
        .await
        .map_err(EngineError::from)?;
    let pending = Pending {
        s: start.pending.state.expose().to_owned(),
        n: start.pending.nonce.expose().to_owned(),
        v: start.pending.pkce_verifier.expose().to_owned(),
        i: p.invite.filter(|i| !i.trim().is_empty()),
    };
    let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&pending).unwrap_or_default());
    let cookie = build_cookie(PENDING_COOKIE, value, &s.session, PENDING_AGE);
    Ok(redirect(&start.url, &[cookie]))
}

/// `GET /v1/auth/oidc/callback` parameters (from the provider).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OidcCallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The `state` sent at the start.
    pub state: Option<String>,
    /// The provider's error, when the user did not sign in.
    pub error: Option<String>,
}

fn bad(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// The provider's redirect back: checks `state`, exchanges the code,
/// verifies the ID token (`nonce`), links or finds the user and sets the
/// session cookie; redirects into the web app.
#[utoipa::path(get, path = "/v1/auth/oidc/callback", tag = "auth", params(OidcCallbackParams),
    responses((status = 303, description = "into the web app, signed in"),
        (status = 400, body = crate::ErrorBody), (status = 401, body = crate::ErrorBody),
        (status = 404, body = crate::ErrorBody), (status = 503, body = crate::ErrorBody)))]
pub(crate) async fn callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<OidcCallbackParams>,
) -> Result<Response, ApiError> {
    let sign_in = s.engine.idp_sign_in().ok_or_else(no_idp)?;
    let pending = cookie_value(&headers, PENDING_COOKIE)
        .and_then(|v| URL_SAFE_NO_PAD.decode(v.expose()).ok())
        .and_then(|b| serde_json::from_slice::<Pending>(&b).ok())
        .ok_or_else(|| {
            bad(
                "sign_in_expired",
                "this sign-in expired or was started in another browser; sign in again",
            )
        })?;
    let state_ok = p
        .state
        .as_deref()
        .is_some_and(|st| lettuce_domain::token::constant_time_eq(st, &pending.s));
    if !state_ok {
        return Err(bad(
            "invalid_state",
            "the sign-in response does not belong to this sign-in; sign in again",
        ));
    }
    if let Some(e) = p.error {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            format!("the identity provider did not sign you in ({e})"),
        ));
    }
    let code = p
        .code
        .ok_or_else(|| bad("validation_failed", "the provider sent no authorization code"))?;
    let kept = PendingSignIn {
        state: Secret::new(pending.s),
        nonce: Secret::new(pending.n),
        pkce_verifier: Secret::new(pending.v),
    };
    let verified = sign_in
        .complete(&format!("{}{CALLBACK_PATH}", web_url(&s)), &code, &kept)
        .await
        .map_err(EngineError::from)?;
    let invite = pending.i.map(Secret::new);
    let token = s.engine.sign_in_with_identity(verified, invite.as_ref()).await?;
    let clear_pending = build_cookie(PENDING_COOKIE, String::new(), &s.session, Duration::ZERO);
    let session = set_session_cookie(&s.session, &token.token, token.expires_at);
    Ok(redirect(&format!("{}/", web_url(&s)), &[session, clear_pending]))
}

/// Sign out: clears the session cookie and, when the identity provider has
/// an end-session endpoint, continues there.
#[utoipa::path(get, path = "/v1/auth/logout", tag = "auth",
    responses((status = 303, description = "to the provider's end-session endpoint, or the web app")))]
pub(crate) async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let home = format!("{}/", web_url(&s));
    let had_session = cookie_value(&headers, SESSION_COOKIE).is_some();
    let to = match s.engine.idp_sign_in() {
        Some(idp) if had_session => idp.logout_url(&home).await.unwrap_or_else(|| home.clone()),
        _ => home.clone(),
    };
    redirect(&to, &[clear_session_cookie(&s.session)])
}
