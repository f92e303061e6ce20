//! Who is looking at a page: the browser session (cookie `lettuce_session`),
//! CSRF checks, the pre-session nonce of the sign-in forms, and a form
//! extractor whose rejections are pages.

use crate::WebState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use lettuce_domain::Secret;
use lettuce_domain::account::Role;
use lettuce_engine::Caller;
use lettuce_http::ApiError;
use lettuce_http::session::{
    BrowserSession, PRESESSION_COOKIE, clear_session_cookie, cookie_value, csrf_error, new_presession,
};
use minijinja::{Value, context};
use serde::de::DeserializeOwned;

/// A signed-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Viewer {
    /// Who.
    pub caller: Caller,
    /// The session token (binds the CSRF token).
    pub token: Secret,
    /// The CSRF token for this page's forms.
    pub csrf: String,
    /// The account's name, when it could be read.
    pub account_name: Option<String>,
}

impl Viewer {
    /// What the navigation shows.
    pub fn nav(&self) -> Value {
        let (role, is_user, is_admin) = match &self.caller {
            Caller::Admin => ("operator", false, true),
            Caller::User(u) if u.role == Role::Owner => ("owner", true, true),
            Caller::User(_) => ("member", true, false),
        };
        context! {
            role => role,
            is_user => is_user,
            is_admin => is_admin,
            account => self.account_name.clone(),
        }
    }

    /// Checks a form's CSRF token against this session.
    pub fn check_csrf(&self, state: &WebState, presented: &str) -> Result<(), Response> {
        if state.engine.check_csrf(&self.token, presented) {
            Ok(())
        } else {
            Err(state.error_page(Some(self), csrf_error()))
        }
    }
}

fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// Sends the browser to `to`; an htmx request gets `HX-Redirect` instead
/// (so a poll of an expired session moves the whole page).
pub(crate) fn go(headers: &HeaderMap, to: &str) -> Response {
    if is_htmx(headers) {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            r.headers_mut().insert("hx-redirect", v);
        }
        r
    } else {
        Redirect::to(to).into_response()
    }
}

impl FromRequestParts<WebState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Self::Rejection> {
        match BrowserSession::from_headers(&parts.headers, &state.engine).await {
            Ok(Some(s)) => {
                let account_name = match &s.caller {
                    Caller::User(_) => state.engine.account(&s.caller).await.ok().map(|a| a.account.name),
                    Caller::Admin => None,
                };
                Ok(Viewer {
                    caller: s.caller,
                    token: s.token,
                    csrf: s.csrf,
                    account_name,
                })
            }
            Ok(None) => {
                let first_run = state.engine.needs_first_run().await.unwrap_or(false);
                Err(go(&parts.headers, if first_run { "/setup" } else { "/signin" }))
            }
            Err(e) if e.status == StatusCode::UNAUTHORIZED => {
                let mut r = go(&parts.headers, "/signin?expired=1");
                r.headers_mut()
                    .append(header::SET_COOKIE, clear_session_cookie(&state.session));
                Err(r)
            }
            Err(e) => Err(state.error_page(None, e)),
        }
    }
}

/// The signed-in viewer, if any (pages that also work signed out).
pub(crate) async fn maybe_viewer(headers: &HeaderMap, state: &WebState) -> Option<Viewer> {
    let s = BrowserSession::from_headers(headers, &state.engine).await.ok()??;
    Some(Viewer {
        caller: s.caller,
        token: s.token,
        csrf: s.csrf,
        account_name: None,
    })
}

/// The pre-session of a signed-out form: the nonce from the `lettuce_csrf`
/// cookie, or a new one with the `Set-Cookie` that stores it. Returns the
/// CSRF token for the form.
pub(crate) fn presession(headers: &HeaderMap, state: &WebState) -> (String, Option<HeaderValue>) {
    match cookie_value(headers, PRESESSION_COOKIE) {
        Some(nonce) => (state.engine.csrf_token(&nonce), None),
        None => {
            let (nonce, cookie) = new_presession(&state.session);
            (state.engine.csrf_token(&nonce), Some(cookie))
        }
    }
}

/// Whether a signed-out form carries the CSRF token of its pre-session.
pub(crate) fn presession_ok(headers: &HeaderMap, state: &WebState, presented: &str) -> bool {
    cookie_value(headers, PRESESSION_COOKIE).is_some_and(|nonce| state.engine.check_csrf(&nonce, presented))
}

/// Adds `Set-Cookie: cookie` to `resp` when there is one.
pub(crate) fn with_cookie(mut resp: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// An `application/x-www-form-urlencoded` body; a malformed one is a 400 page.
#[derive(Debug)]
pub(crate) struct WebForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<WebState> for WebForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &WebState) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(WebForm(v)),
            Err(e) => Err(state.error_page(
                None,
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_form",
                    format!(
                        "the form could not be read ({}); reload the page and try again",
                        e.body_text()
                    ),
                ),
            )),
        }
    }
}
