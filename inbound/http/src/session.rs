//! Browser sessions, shared by the JSON API and the web app.
//!
//! * **Session cookie** `lettuce_session`: its value is a Lettuce session
//!   token (the JWT `/v1/auth/login` returns, or an operator session
//!   `las_…` minted from the admin token). `HttpOnly; SameSite=Lax; Path=/;
//!   Max-Age=<session lifetime, at most 30 days>`, plus `Secure` when
//!   `LETTUCE_WEB_URL` is `https://…`.
//! * **CSRF token**: HMAC-SHA256 of the session token under a server key
//!   derived from `LETTUCE_DATA_KEY` ([`Engine::csrf_token`]), base64url.
//!   Forms send it in the field `csrf_token`, scripts in the header
//!   `X-CSRF-Token`. Every state-changing request (anything but GET, HEAD,
//!   OPTIONS) that is authenticated by the cookie must carry it; requests
//!   with `Authorization: Bearer` need none (a browser never adds that
//!   header by itself).
//! * **Pre-session cookie** `lettuce_csrf`: a random nonce set by the
//!   sign-in, sign-up and first-run pages, so that those forms carry a CSRF
//!   token too (against login CSRF) before any session exists.
//!
//! Signing in anywhere (password form, invite, admin token, OIDC callback)
//! ends with [`set_session_cookie`]; signing out with [`clear_session_cookie`].
//! [`BrowserSession::from_parts`] reads the cookie and authenticates it with
//! the engine exactly like a bearer token, so cookie requests are authorised
//! exactly like the API.
//!
//! ```
//! use lettuce_http::session::{SESSION_COOKIE, is_state_changing};
//! assert_eq!(SESSION_COOKIE, "lettuce_session");
//! assert!(is_state_changing(&axum::http::Method::POST));
//! assert!(!is_state_changing(&axum::http::Method::GET));
//! ```

use crate::AppState;
use crate::error::ApiError;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, SameSite};
use lettuce_domain::Secret;
use lettuce_engine::{Caller, Engine};
use rand::RngCore;
use std::time::Duration;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "lettuce_session";
/// Name of the pre-session (sign-in form) nonce cookie.
pub const PRESESSION_COOKIE: &str = "lettuce_csrf";
/// Form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
/// Header carrying the CSRF token (scripts).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Longest `Max-Age` the session cookie gets, whatever the session lifetime.
pub const MAX_COOKIE_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
/// `Max-Age` of the pre-session cookie.
const PRESESSION_AGE: Duration = Duration::from_secs(2 * 3600);

/// How session cookies are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// Add `Secure` (the public URL is https).
    pub secure: bool,
    /// `Max-Age` of the session cookie.
    pub max_age: Duration,
}

impl SessionSettings {
    /// Settings for `engine`: `Secure` when `LETTUCE_WEB_URL` is https,
    /// `Max-Age` = the session lifetime (at most [`MAX_COOKIE_AGE`]).
    pub fn for_engine(engine: &Engine) -> Self {
        let s = engine.settings();
        let secure = s
            .web_url
            .as_deref()
            .is_some_and(|u| u.trim().to_ascii_lowercase().starts_with("https://"));
        Self {
            secure,
            max_age: s.session_ttl.min(MAX_COOKIE_AGE),
        }
    }
}

pub(crate) fn build_cookie(name: &str, value: String, settings: &SessionSettings, max_age: Duration) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(settings.secure)
        .max_age(cookie::time::Duration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
        ))
        .build();
    // Token characters (base64url, JWT dots, `_`) are all valid header bytes.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` value that stores `token` as the session; `Max-Age` is the
/// shorter of the settings' and the time left until `expires_at`.
pub fn set_session_cookie(
    settings: &SessionSettings,
    token: &Secret,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> HeaderValue {
    let left = (expires_at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
    build_cookie(
        SESSION_COOKIE,
        token.expose().to_owned(),
        settings,
        settings.max_age.min(left),
    )
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(settings: &SessionSettings) -> HeaderValue {
    build_cookie(SESSION_COOKIE, String::new(), settings, Duration::ZERO)
}

/// A fresh pre-session nonce and the `Set-Cookie` value that stores it.
pub fn new_presession(settings: &SessionSettings) -> (Secret, HeaderValue) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let nonce = URL_SAFE_NO_PAD.encode(bytes);
    let header = build_cookie(PRESESSION_COOKIE, nonce.clone(), settings, PRESESSION_AGE);
    (Secret::new(nonce), header)
}

/// The value of cookie `name` in the request, if present and non-empty.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<Secret> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name && !c.value().is_empty())
        .map(|c| Secret::new(c.value()))
}

/// Whether `method` changes state (needs a CSRF token under cookie auth).
pub fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The CSRF token of a session (or pre-session) token.
pub fn csrf_token(engine: &Engine, binding: &Secret) -> String {
    engine.csrf_token(binding)
}

/// The error for a cookie-authenticated state-changing request without a
/// valid CSRF token.
pub fn csrf_error() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        "this request is authenticated by the session cookie and must carry the page's CSRF token \
         (form field `csrf_token` or header `X-CSRF-Token`); reload the page and try again, or use a bearer token",
    )
}

/// A request authenticated by the session cookie.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    /// Who is calling.
    pub caller: Caller,
    /// The session token (the cookie's value).
    pub token: Secret,
    /// Its CSRF token, for the forms of the page being rendered.
    pub csrf: String,
}

impl BrowserSession {
    /// Reads and authenticates the session cookie: `Ok(None)` without one,
    /// `Err` (401) when it is invalid or expired.
    pub async fn from_parts(parts: &Parts, state: &AppState) -> Result<Option<Self>, ApiError> {
        Self::from_headers(&parts.headers, &state.engine).await
    }

    /// Like [`BrowserSession::from_parts`], from the headers.
    pub async fn from_headers(headers: &HeaderMap, engine: &Engine) -> Result<Option<Self>, ApiError> {
        let Some(token) = cookie_value(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let caller = engine.authenticate(&token).await?;
        let csrf = engine.csrf_token(&token);
        Ok(Some(Self { caller, token, csrf }))
    }

    /// Whether `presented` is this session's CSRF token.
    pub fn csrf_ok(&self, engine: &Engine, presented: &str) -> bool {
        engine.check_csrf(&self.token, presented)
    }

    /// Checks the `X-CSRF-Token` header of a state-changing request.
    pub fn require_csrf_header(&self, engine: &Engine, parts: &Parts) -> Result<(), ApiError> {
        if !is_state_changing(&parts.method) {
            return Ok(());
        }
        let presented = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if self.csrf_ok(engine, presented) {
            Ok(())
        } else {
            Err(csrf_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_attributes() {
        let s = SessionSettings {
            secure: true,
            max_age: Duration::from_secs(3600),
        };
        let exp = chrono::Utc::now() + chrono::Duration::days(7);
        let v = set_session_cookie(&s, &Secret::new("a.b.c"), exp);
        let v = v.to_str().unwrap();
        assert!(v.starts_with("lettuce_session=a.b.c"), "{v}");
        for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure", "Max-Age=3600"] {
            assert!(v.contains(attr), "{attr} missing in {v}");
        }
        let plain = SessionSettings {
            secure: false,
            max_age: Duration::from_secs(3600),
        };
        let v = set_session_cookie(&plain, &Secret::new("t"), exp);
        assert!(!v.to_str().unwrap().contains("Secure"));
        // Max-Age never outlives the token.
        let soon = chrono::Utc::now() + chrono::Duration::seconds(60);
        let v = set_session_cookie(&plain, &Secret::new("t"), soon);
        let age: u64 = v
            .to_str()
            .unwrap()
            .split("Max-Age=")
            .nth(1)
            .and_then(|r| r.split(';').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap();
        assert!(age <= 60, "{age}");
        let cleared = clear_session_cookie(&plain);
        assert!(cleared.to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn reads_cookies_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; lettuce_session=tok; b=2"),
        );
        assert_eq!(cookie_value(&h, SESSION_COOKIE).unwrap().expose(), "tok");
        assert!(cookie_value(&h, PRESESSION_COOKIE).is_none());
        let mut empty = HeaderMap::new();
        empty.append(header::COOKIE, HeaderValue::from_static("lettuce_session="));
        assert!(cookie_value(&empty, SESSION_COOKIE).is_none());
    }

    #[test]
    fn presession_nonces_differ() {
        let s = SessionSettings {
            secure: false,
            max_age: Duration::from_secs(60),
        };
        let (a, ha) = new_presession(&s);
        let (b, _) = new_presession(&s);
        assert_ne!(a.expose(), b.expose());
        assert!(ha.to_str().unwrap().starts_with("lettuce_csrf="));
        assert!(ha.to_str().unwrap().contains("HttpOnly"));
    }
}
