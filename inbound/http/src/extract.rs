//! Extractors that turn every rejection into the error format.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use lettuce_domain::Secret;
use lettuce_engine::Caller;
use serde::de::DeserializeOwned;

/// A query string; a malformed or mistyped parameter becomes a 400
/// `invalid_query` in the error format.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("invalid query string: {}", e.body_text()),
            )),
        }
    }
}

/// A JSON body; malformed input becomes a 4xx in the error format.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// An optional JSON body: an empty body means `T::default()`. A non-empty
/// body must be JSON (`Content-Type: application/json`) and every rejection
/// uses the error format.
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        let body = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is larger than 1 MiB",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "the request body could not be read",
                )
            }
        })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        serde_json::from_slice(&body).map(OptionalJson).map_err(|e| {
            let (code, what) = if e.is_syntax() || e.is_eof() {
                ("malformed_json", "the request body is not valid JSON")
            } else {
                ("invalid_body", "the request body has the wrong shape")
            };
            ApiError::new(
                StatusCode::BAD_REQUEST,
                code,
                format!("{what}: {}", without_values(&e.to_string())),
            )
        })
    }
}

/// Removes echoed input values from a serde message (``invalid type: integer
/// `123`…`` → ``invalid type: integer…``) so a mistyped password is never
/// repeated back; field names (``missing field `email` ``) are kept.
fn without_values(msg: &str) -> String {
    let Some(start) = msg.find("invalid type: ").or_else(|| msg.find("invalid value: ")) else {
        return msg.to_owned();
    };
    let rest = &msg[start..];
    match (rest.find('`'), rest.find(", expected")) {
        (Some(open), Some(expected)) if open < expected => {
            format!("{}{}", &msg[..start + open].trim_end(), &rest[expected..])
        }
        _ => msg.to_owned(),
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonSyntaxError(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the request body is not valid JSON: {}", e.body_text()),
        ),
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!(
                "the request body has the wrong shape: {}",
                without_values(&e.body_text())
            ),
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than 1 MiB",
        ),
        other => ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", other.body_text()),
    }
}

/// A path parameter; unparsable values become `invalid_path`.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_path",
                format!("invalid path parameter: {}", e.body_text()),
            )),
            Err(e) => Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", e.body_text())),
        }
    }
}

/// The raw bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Result<Option<Secret>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the Authorization header is not valid text",
        )
    })?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "use `Authorization: Bearer <token>`",
            )
        })?;
    Ok(Some(Secret::new(token.trim())))
}

/// The authenticated caller (admin token, user token or API key) — from
/// `Authorization: Bearer`, else from the browser session cookie
/// (`lettuce_session`, see [`crate::session`]). A cookie-authenticated
/// state-changing request must carry the `X-CSRF-Token` header.
#[derive(Debug)]
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(token) = bearer(parts)? {
            let caller = state.engine.authenticate(&token).await?;
            crate::observe::record_caller(&caller);
            return Ok(Auth(caller));
        }
        match crate::session::BrowserSession::from_parts(parts, state).await? {
            Some(session) => {
                session.require_csrf_header(&state.engine, parts)?;
                crate::observe::record_caller(&session.caller);
                Ok(Auth(session.caller))
            }
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "missing `Authorization: Bearer <token>` header (a session token, an API key or the admin token)",
            )),
        }
    }
}

/// An optional bearer token (for endpoints that accept IdP tokens).
#[derive(Debug)]
pub struct MaybeBearer(pub Option<Secret>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeBearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeBearer(bearer(parts)?))
    }
}

#[cfg(test)]
mod tests {
    use super::without_values;

    #[test]
    fn serde_messages_lose_values_but_keep_fields() {
        assert_eq!(
            without_values("password: invalid type: integer `12345678901`, expected a string at line 1 column 40"),
            "password: invalid type: integer, expected a string at line 1 column 40"
        );
        assert_eq!(
            without_values("missing field `email` at line 1 column 2"),
            "missing field `email` at line 1 column 2"
        );
    }
}
