//! Browser sessions: the `lettuce_session` cookie authenticates the JSON API
//! like a bearer token, state-changing cookie requests need the CSRF token,
//! and operator sessions minted from the admin token act as the admin token.

use crate::support::{ADMIN, App, REPO_URL, Req};
use axum::http::{StatusCode, header};
use lettuce_domain::Secret;
use lettuce_engine::Caller;
use serde_json::json;

fn cookie(token: &str) -> String {
    format!("theme=dark; lettuce_session={token}")
}

#[tokio::test]
async fn the_session_cookie_authenticates_reads() {
    let app = App::new();
    let ada = app.owner("ada@one.example").await;
    let r = app
        .send(Req::get("/v1/account").header(header::COOKIE, cookie(&ada.token)))
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(r.str("/id"), ada.account_id);

    // An invalid cookie is a 401 in the error format, like a bad bearer.
    app.send(Req::get("/v1/account").header(header::COOKIE, cookie("not-a-token")))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    // No credentials at all.
    app.send(Req::get("/v1/account"))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn state_changing_cookie_requests_need_the_csrf_token() {
    let app = App::new();
    let ada = app.owner("ada@one.example").await;
    let bob = app.owner("bob@two.example").await;
    app.push(REPO_URL, &[("a.rs", "fn a() {}")]);
    let body = json!({ "url": REPO_URL });

    // Missing, empty, wrong, and another session's token: refused, nothing added.
    let bobs_csrf = app.engine.csrf_token(&Secret::new(bob.token.clone()));
    for (what, csrf) in [
        ("missing", None),
        ("empty", Some(String::new())),
        ("garbage", Some("AAAA".to_owned())),
        ("another session's", Some(bobs_csrf)),
    ] {
        let mut req = Req::post("/v1/repos")
            .header(header::COOKIE, cookie(&ada.token))
            .json(&body);
        if let Some(t) = csrf {
            req = req.header(header::HeaderName::from_static("x-csrf-token"), t);
        }
        let msg = app.send(req).await.error(StatusCode::FORBIDDEN, "csrf_failed");
        assert!(msg.contains("X-CSRF-Token"), "{what}: {msg}");
    }
    let list = app
        .send(Req::get("/v1/repos").header(header::COOKIE, cookie(&ada.token)))
        .await;
    list.expect(StatusCode::OK);
    assert_eq!(list.json["repos"].as_array().map(Vec::len), Some(0));

    // The right token: accepted.
    let csrf = app.engine.csrf_token(&Secret::new(ada.token.clone()));
    app.send(
        Req::post("/v1/repos")
            .header(header::COOKIE, cookie(&ada.token))
            .header(header::HeaderName::from_static("x-csrf-token"), csrf.clone())
            .json(&body),
    )
    .await
    .expect(StatusCode::ACCEPTED);

    // DELETE is state-changing too.
    let id = app
        .send(Req::get("/v1/repos").header(header::COOKIE, cookie(&ada.token)))
        .await
        .str("/repos/0/id");
    app.send(Req::delete(format!("/v1/repos/{id}")).header(header::COOKIE, cookie(&ada.token)))
        .await
        .error(StatusCode::FORBIDDEN, "csrf_failed");

    // A bearer request needs no CSRF token (a browser never adds the header),
    // even when a cookie is present too.
    app.send(
        Req::delete(format!("/v1/repos/{id}"))
            .bearer(&ada.token)
            .header(header::COOKIE, cookie("whatever")),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn csrf_tokens_are_bound_to_the_session_and_the_key() {
    let app = App::new();
    let other = App::with_settings(|s| s.data_key = [1u8; 32]);
    let t = Secret::new("some.session.token");
    let csrf = app.engine.csrf_token(&t);
    assert!(app.engine.check_csrf(&t, &csrf));
    assert!(!app.engine.check_csrf(&Secret::new("some.session.tokem"), &csrf));
    assert!(!app.engine.check_csrf(&t, ""));
    assert!(
        !other.engine.check_csrf(&t, &csrf),
        "another data key gives other tokens"
    );
    // URL-safe base64 of 32 bytes, no padding.
    assert_eq!(csrf.len(), 43);
    assert!(csrf.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
}

#[tokio::test]
async fn operator_sessions_act_as_the_admin_token_until_they_expire() {
    let app = App::new();
    let admin = app.engine.authenticate(&Secret::new(ADMIN)).await.unwrap();
    let session = app.engine.admin_session(&admin).unwrap();
    let token = session.token.expose().to_owned();
    assert!(token.starts_with("las_"));
    assert!(!token.contains(ADMIN), "the admin token never travels in the session");
    assert!(session.expires_at <= chrono::Utc::now() + chrono::Duration::hours(8) + chrono::Duration::seconds(5));

    // Reads that need the admin token work with the cookie…
    app.send(Req::get("/v1/admin/telemetry").header(header::COOKIE, cookie(&token)))
        .await
        .expect(StatusCode::OK);
    // …and writes need the CSRF token.
    app.send(Req::post("/api/admin/invites").header(header::COOKIE, cookie(&token)))
        .await
        .error(StatusCode::FORBIDDEN, "csrf_failed");
    let csrf = app.engine.csrf_token(&Secret::new(token.clone()));
    app.send(
        Req::post("/api/admin/invites")
            .header(header::COOKIE, cookie(&token))
            .header(header::HeaderName::from_static("x-csrf-token"), csrf),
    )
    .await
    .expect(StatusCode::CREATED);

    // Only the admin may mint one.
    let ada = app.owner("ada@one.example").await;
    let user = app.engine.authenticate(&Secret::new(ada.token)).await.unwrap();
    assert!(matches!(user, Caller::User(_)));
    assert_eq!(app.engine.admin_session(&user).unwrap_err().code(), "forbidden");

    // Tampered expiry or MAC: refused.
    let (exp, mac) = token.trim_start_matches("las_").split_once('_').unwrap();
    let later: i64 = exp.parse::<i64>().unwrap() + 86_400;
    for forged in [
        format!("las_{later}_{mac}"),
        format!("las_{exp}_{}", mac.replace(|c: char| c.is_ascii_digit(), "x")),
        format!("las_{exp}_"),
        "las_".to_owned(),
    ] {
        app.send(Req::get("/v1/admin/telemetry").header(header::COOKIE, cookie(&forged)))
            .await
            .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    // Another instance (other data key) does not accept it.
    let other = App::with_settings(|s| s.data_key = [2u8; 32]);
    other
        .send(Req::get("/v1/admin/telemetry").header(header::COOKIE, cookie(&token)))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");

    // Expired after 8 hours.
    app.clock
        .advance(chrono::Duration::hours(8) + chrono::Duration::seconds(1));
    let msg = app
        .send(Req::get("/v1/admin/telemetry").header(header::COOKIE, cookie(&token)))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert!(msg.contains("expired"), "{msg}");
}
