//! Sign-in rate limits: per client IP and per email, 429 `rate_limited` with
//! `Retry-After`, other IPs and emails unaffected.

use crate::support::{App, assert_error_shape};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use lettuce_http::AppState;
use lettuce_http::ratelimit::SignInLimits;
use serde_json::json;
use std::net::SocketAddr;
use tower::ServiceExt;

async fn login(router: &axum::Router, ip: &str, email: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut req = Request::post("/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"email": email, "password": "wrong password 123"}).to_string(),
        ))
        .expect("request");
    let addr: SocketAddr = format!("{ip}:40000").parse().expect("addr");
    req.extensions_mut().insert(ConnectInfo(addr));
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn check_429(status: StatusCode, headers: &axum::http::HeaderMap, text: &str) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{text}");
    let retry: u64 = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("429 without a numeric Retry-After: {headers:?}"));
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let json: serde_json::Value = serde_json::from_str(text).expect("json");
    assert_eq!(json["error"]["code"], "rate_limited", "{text}");
    assert_error_shape(&crate::support::Resp {
        what: "POST /v1/auth/login".into(),
        status,
        headers: headers.clone(),
        text: text.to_owned(),
        json,
    });
}

#[tokio::test]
async fn per_email_limit_applies_across_ips() {
    let app = App::new();
    let router = lettuce_http::router(
        AppState::new(app.engine.clone()).with_sign_in_limits(SignInLimits::new((100, 100), (3, 3))),
    );
    for i in 0..3 {
        let (s, _, t) = login(&router, &format!("10.0.0.{i}"), "victim@example.com").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{t}");
    }
    // A fourth attempt for the same email from yet another IP, with other case.
    let (s, h, t) = login(&router, "10.0.0.9", " Victim@Example.com ").await;
    check_429(s, &h, &t);
    // Another email is unaffected.
    let (s, _, t) = login(&router, "10.0.0.9", "other@example.com").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{t}");
}

#[tokio::test]
async fn per_ip_limit_applies_across_emails() {
    let app = App::new();
    let router = lettuce_http::router(
        AppState::new(app.engine.clone()).with_sign_in_limits(SignInLimits::new((4, 4), (100, 100))),
    );
    for i in 0..4 {
        let (s, _, t) = login(&router, "192.0.2.7", &format!("user{i}@example.com")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{t}");
    }
    let (s, h, t) = login(&router, "192.0.2.7", "fresh@example.com").await;
    check_429(s, &h, &t);
    // Sign-up from that IP is limited too; another IP is not.
    let mut req = Request::post("/v1/auth/signup")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"invite_code": "x", "email": "n@example.com", "password": "pw"}).to_string(),
        ))
        .expect("request");
    req.extensions_mut()
        .insert(ConnectInfo("192.0.2.7:1".parse::<SocketAddr>().expect("addr")));
    let resp = router.clone().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let (s, _, t) = login(&router, "192.0.2.8", "fresh@example.com").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{t}");
}

#[tokio::test]
async fn a_good_login_still_works_under_the_default_limits() {
    let app = App::new();
    let owner = app.owner("owner@example.com").await;
    let _ = owner;
    let r = app
        .send(crate::support::Req::post("/v1/auth/login").json(&json!({
            "email": "owner@example.com",
            "password": crate::support::PASSWORD,
        })))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
