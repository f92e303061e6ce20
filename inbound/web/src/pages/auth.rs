//! Sign-in, sign-up (invite links), sign-out, the operator (admin-token)
//! sign-in and the first-run page.

use crate::WebState;
use crate::pages::invite_link;
use crate::viewer::{Viewer, WebForm, go, maybe_viewer, presession, presession_ok, with_cookie};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use lettuce_domain::Secret;
use lettuce_engine::{AdminInviteRequest, Caller, SignupRequest};
use lettuce_http::ApiError;
use lettuce_http::session::{clear_session_cookie, set_session_cookie};
use minijinja::context;
use serde::Deserialize;

fn expired_form() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        "this form expired or was not sent by this site; it has been reloaded, try again",
    )
}

/// `/`: the first-run page, the signed-in home, or sign-in.
pub(crate) async fn home(State(s): State<WebState>, headers: HeaderMap) -> Response {
    if s.engine.needs_first_run().await.unwrap_or(false) {
        return Redirect::to("/setup").into_response();
    }
    match maybe_viewer(&headers, &s).await {
        Some(v) if matches!(v.caller, Caller::Admin) => Redirect::to("/admin").into_response(),
        Some(_) => Redirect::to("/repos").into_response(),
        None => Redirect::to("/signin").into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SigninQuery {
    #[serde(default)]
    expired: Option<String>,
    #[serde(default)]
    signed_out: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SigninForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
}

fn signin_view(
    s: &WebState,
    headers: &HeaderMap,
    status: StatusCode,
    email: &str,
    error: Option<ApiError>,
    notice: Option<&str>,
) -> Response {
    let (csrf, cookie) = presession(headers, s);
    let ctx = context! {
        csrf => csrf,
        email => email,
        error => error.map(|e| e.message),
        notice => notice,
        oidc => s.options.config.oidc,
    };
    with_cookie(s.page_with(status, "signin.html", ctx), cookie)
}

/// `GET /signin`.
pub(crate) async fn signin_page(
    State(s): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<SigninQuery>,
) -> Response {
    if s.engine.needs_first_run().await.unwrap_or(false) {
        return Redirect::to("/setup").into_response();
    }
    let notice = if q.expired.is_some() {
        Some("Your session ended; sign in again.")
    } else if q.signed_out.is_some() {
        Some("You are signed out.")
    } else {
        None
    };
    signin_view(&s, &headers, StatusCode::OK, "", None, notice)
}

/// `POST /signin`: email + password.
pub(crate) async fn signin(State(s): State<WebState>, headers: HeaderMap, WebForm(f): WebForm<SigninForm>) -> Response {
    if !presession_ok(&headers, &s, &f.csrf_token) {
        return signin_view(
            &s,
            &headers,
            StatusCode::FORBIDDEN,
            &f.email,
            Some(expired_form()),
            None,
        );
    }
    match s.engine.login(&f.email, &Secret::new(f.password)).await {
        Ok(t) => {
            let cookie = set_session_cookie(&s.session, &t.token, t.expires_at);
            ([(header::SET_COOKIE, cookie)], Redirect::to("/repos")).into_response()
        }
        Err(e) => {
            let e = ApiError::from(e);
            signin_view(&s, &headers, e.status, &f.email, Some(e), None)
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignupQuery {
    #[serde(default)]
    code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignupForm {
    #[serde(default)]
    invite_code: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
    /// Set when the form came from an invite link (the code stays hidden).
    #[serde(default)]
    from_link: Option<String>,
}

fn signup_view(
    s: &WebState,
    headers: &HeaderMap,
    status: StatusCode,
    code: &str,
    from_link: bool,
    email: &str,
    error: Option<ApiError>,
) -> Response {
    let (csrf, cookie) = presession(headers, s);
    let (field, message) = match error {
        Some(e) => (e.field.unwrap_or("form"), Some(e.message)),
        None => ("", None),
    };
    let ctx = context! {
        csrf => csrf,
        code => code,
        from_link => from_link,
        email => email,
        error_field => field,
        error => message,
        oidc => s.options.config.oidc,
    };
    with_cookie(s.page_with(status, "signup.html", ctx), cookie)
}

/// `GET /signup`: redeem an invite code by hand.
pub(crate) async fn signup_page(
    State(s): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<SignupQuery>,
) -> Response {
    signup_view(
        &s,
        &headers,
        StatusCode::OK,
        q.code.as_deref().unwrap_or(""),
        false,
        "",
        None,
    )
}

/// `GET /invite/{code}`: the link an invite gives.
pub(crate) async fn invite_page(State(s): State<WebState>, headers: HeaderMap, Path(code): Path<String>) -> Response {
    signup_view(&s, &headers, StatusCode::OK, &code, true, "", None)
}

/// `POST /signup`: create the user (and, for a first invite, the account).
pub(crate) async fn signup(State(s): State<WebState>, headers: HeaderMap, WebForm(f): WebForm<SignupForm>) -> Response {
    let from_link = f.from_link.is_some();
    if !presession_ok(&headers, &s, &f.csrf_token) {
        return signup_view(
            &s,
            &headers,
            StatusCode::FORBIDDEN,
            &f.invite_code,
            from_link,
            &f.email,
            Some(expired_form()),
        );
    }
    let req = SignupRequest {
        invite_code: Secret::new(f.invite_code.trim()),
        email: f.email.clone(),
        password: Secret::new(f.password),
    };
    match s.engine.signup(req).await {
        Ok(r) => {
            let cookie = set_session_cookie(&s.session, &r.token.token, r.token.expires_at);
            ([(header::SET_COOKIE, cookie)], Redirect::to("/repos")).into_response()
        }
        Err(e) => {
            let mut e = ApiError::from(e);
            if e.code == "invite_invalid" {
                e.field = Some("invite_code");
            }
            signup_view(&s, &headers, e.status, &f.invite_code, from_link, &f.email, Some(e))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignoutForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /signout`: clears the session cookie.
pub(crate) async fn signout(
    State(s): State<WebState>,
    headers: HeaderMap,
    WebForm(f): WebForm<SignoutForm>,
) -> Response {
    if let Some(v) = maybe_viewer(&headers, &s).await
        && let Err(r) = v.check_csrf(&s, &f.csrf_token)
    {
        return r;
    }
    (
        [(header::SET_COOKIE, clear_session_cookie(&s.session))],
        Redirect::to("/signin?signed_out=1"),
    )
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct OperatorForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: String,
}

fn operator_view(
    s: &WebState,
    headers: &HeaderMap,
    status: StatusCode,
    template: &str,
    error: Option<ApiError>,
) -> Response {
    let (csrf, cookie) = presession(headers, s);
    let ctx = context! {
        csrf => csrf,
        token_location => s.options.admin_token_location.clone(),
        error => error.map(|e| e.message),
        operator => false,
    };
    with_cookie(s.page_with(status, template, ctx), cookie)
}

/// `GET /operator`: sign in with the admin token (operators).
pub(crate) async fn operator_page(State(s): State<WebState>, headers: HeaderMap) -> Response {
    operator_view(&s, &headers, StatusCode::OK, "operator.html", None)
}

/// `POST /operator`: trades the admin token for an operator session (the
/// browser never keeps the admin token itself).
pub(crate) async fn operator_signin(
    State(s): State<WebState>,
    headers: HeaderMap,
    WebForm(f): WebForm<OperatorForm>,
) -> Response {
    let template = if f.next == "setup" {
        "setup.html"
    } else {
        "operator.html"
    };
    if !presession_ok(&headers, &s, &f.csrf_token) {
        return operator_view(&s, &headers, StatusCode::FORBIDDEN, template, Some(expired_form()));
    }
    let not_admin = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "not_admin_token",
            "that is not the admin token; copy it again from where this page says it is",
        )
    };
    let caller = match s.engine.authenticate(&Secret::new(f.token.trim())).await {
        Ok(c @ Caller::Admin) => c,
        Ok(Caller::User(_)) => {
            return operator_view(&s, &headers, StatusCode::UNAUTHORIZED, template, Some(not_admin()));
        }
        Err(e) => {
            let e = ApiError::from(e);
            let e = if e.status == StatusCode::UNAUTHORIZED {
                not_admin()
            } else {
                e
            };
            return operator_view(&s, &headers, e.status, template, Some(e));
        }
    };
    match s.engine.admin_session(&caller) {
        Ok(t) => {
            let cookie = set_session_cookie(&s.session, &t.token, t.expires_at);
            let to = if f.next == "setup" { "/setup" } else { "/admin" };
            ([(header::SET_COOKIE, cookie)], Redirect::to(to)).into_response()
        }
        Err(e) => s.error_page(None, e.into()),
    }
}

/// `GET /setup`: the first-run page while no account exists.
pub(crate) async fn setup_page(State(s): State<WebState>, headers: HeaderMap) -> Response {
    let first_run = match s.engine.needs_first_run().await {
        Ok(b) => b,
        Err(e) => return s.error_page(None, e.into()),
    };
    let viewer = maybe_viewer(&headers, &s).await;
    let operator = viewer.as_ref().filter(|v| matches!(v.caller, Caller::Admin));
    if !first_run {
        return go(&headers, if operator.is_some() { "/admin" } else { "/signin" });
    }
    match operator {
        Some(v) => s.page(
            "setup.html",
            context! { operator => true, csrf => v.csrf.clone(), viewer => v.nav() },
        ),
        None => operator_view(&s, &headers, StatusCode::OK, "setup.html", None),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct InviteForm {
    #[serde(default)]
    pub(crate) account_name: String,
    #[serde(default)]
    pub(crate) email: String,
    #[serde(default)]
    pub(crate) csrf_token: String,
}

/// `POST /setup/invite`: mints the first invite (operator session).
pub(crate) async fn setup_invite(
    State(s): State<WebState>,
    viewer: Viewer,
    WebForm(f): WebForm<InviteForm>,
) -> Response {
    if let Err(r) = viewer.check_csrf(&s, &f.csrf_token) {
        return r;
    }
    let req = AdminInviteRequest {
        email: Some(f.email).filter(|e| !e.trim().is_empty()),
        account_name: Some(f.account_name).filter(|n| !n.trim().is_empty()),
    };
    match s.engine.create_admin_invite(&viewer.caller, req).await {
        Ok(inv) => s.page(
            "setup.html",
            context! {
                operator => true,
                csrf => viewer.csrf.clone(),
                viewer => viewer.nav(),
                invite_link => invite_link(&s, inv.code.expose()),
                invite_expires => crate::render::when(inv.expires_at),
            },
        ),
        Err(e) => {
            let e = ApiError::from(e);
            s.page_with(
                e.status,
                "setup.html",
                context! { operator => true, csrf => viewer.csrf.clone(), viewer => viewer.nav(), error => e.message },
            )
        }
    }
}
