//! The error format `{"error":{"code","message"[,"field"]}}` for every
//! failure class, with the right status.

use crate::support::{ADMIN, App, PASSWORD, REPO_URL, Req, Resp, assert_error_shape};
use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};

const NIL: &str = "00000000-0000-0000-0000-000000000000";

/// Every route that requires a bearer token, with a body that would be
/// acceptable (so only authentication decides the outcome).
fn authed_routes() -> Vec<(Method, String, Option<Value>)> {
    let id = uuid::Uuid::new_v4();
    vec![
        (Method::POST, "/api/admin/invites".into(), None),
        (Method::POST, "/v1/api-keys".into(), Some(json!({"name": "agent"}))),
        (Method::GET, "/v1/api-keys".into(), None),
        (Method::DELETE, format!("/v1/api-keys/{id}"), None),
        (Method::POST, "/v1/invites".into(), None),
        (Method::GET, "/v1/invites".into(), None),
        (Method::GET, "/v1/account".into(), None),
        (Method::GET, "/v1/repos".into(), None),
        (Method::POST, "/v1/repos".into(), Some(json!({"url": REPO_URL}))),
        (Method::GET, format!("/v1/repos/{id}"), None),
        (Method::DELETE, format!("/v1/repos/{id}"), None),
        (Method::POST, format!("/v1/repos/{id}/reindex"), None),
        (Method::POST, format!("/v1/repos/{id}/eval"), None),
        (Method::GET, format!("/v1/repos/{id}/eval"), None),
        (Method::GET, format!("/v1/repos/{id}/outline?path=a.py"), None),
        (Method::GET, format!("/v1/repos/{id}/file?path=a.py"), None),
        (Method::GET, "/v1/search?q=x".into(), None),
        (Method::GET, "/v1/symbols?name=x".into(), None),
        (Method::GET, "/v1/usage".into(), None),
        (Method::GET, "/v1/license".into(), None),
    ]
}

#[tokio::test]
async fn unknown_routes_are_404_not_found() {
    let app = App::new();
    let cases = [
        (Method::GET, "/"),
        (Method::GET, "/nope"),
        (Method::GET, "/v1"),
        (Method::GET, "/v1/repos/"),
        (Method::POST, "/v1/repos/00000000-0000-0000-0000-000000000000/nope"),
        (Method::GET, "/api/admin/invites/1"),
        (Method::DELETE, "/v1/api-keys"),
        (Method::GET, "/v2/repos"),
        (Method::GET, "/healthz/extra"),
    ];
    for (method, path) in cases {
        let r = app.send(Req::new(method.clone(), path)).await;
        // DELETE /v1/api-keys exists as a path (GET/POST), so it is a 405.
        if path == "/v1/api-keys" {
            r.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
            continue;
        }
        let msg = r.error(StatusCode::NOT_FOUND, "not_found");
        assert!(msg.contains(path), "{method} {path}: message names the path: {msg}");
    }
    // The bearer token does not change a 404 into anything else.
    app.send(Req::get("/nope").bearer(ADMIN))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn wrong_method_is_405_method_not_allowed() {
    let app = App::new();
    let id = uuid::Uuid::new_v4();
    let cases = [
        (Method::POST, "/healthz".to_owned()),
        (Method::DELETE, "/readyz".to_owned()),
        (Method::POST, "/openapi.json".to_owned()),
        (Method::GET, "/api/admin/invites".to_owned()),
        (Method::GET, "/v1/auth/signup".to_owned()),
        (Method::PUT, "/v1/auth/login".to_owned()),
        (Method::PUT, "/v1/api-keys".to_owned()),
        (Method::GET, format!("/v1/api-keys/{id}")),
        (Method::DELETE, "/v1/invites".to_owned()),
        (Method::POST, "/v1/account".to_owned()),
        (Method::DELETE, "/v1/repos".to_owned()),
        (Method::PATCH, format!("/v1/repos/{id}")),
        (Method::PUT, format!("/v1/repos/{id}")),
        (Method::GET, format!("/v1/repos/{id}/reindex")),
        (Method::POST, "/v1/license".to_owned()),
    ];
    for (method, path) in cases {
        let r = app.send(Req::new(method.clone(), path.as_str()).bearer(ADMIN)).await;
        let msg = r.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        assert!(
            msg.contains(method.as_str()) && msg.contains(&path),
            "{method} {path}: message names method and path: {msg}"
        );
        // RFC 9110: a 405 lists the allowed methods.
        let allow = r
            .headers
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{method} {path}: 405 without Allow"));
        let allowed: Vec<&str> = allow.split(',').map(str::trim).collect();
        assert!(
            !allowed.is_empty() && !allowed.contains(&method.as_str()),
            "{method} {path}: Allow {allow}"
        );
    }
}

#[tokio::test]
async fn malformed_json_is_400_malformed_json() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    // Each fails before any key is read, so `deny_unknown_fields` cannot
    // turn it into a data error first.
    let bodies: [&[u8]; 8] = [
        b"{",
        b"not json",
        b"{\"",
        b"{\"unterminated",
        b"{,}",
        b"\xff\xfe",
        b"[",
        b"nul",
    ];
    // (path, token): JSON-extractor endpoints and the optional-body ones.
    let targets = [
        ("/v1/auth/login", None),
        ("/v1/auth/signup", None),
        ("/v1/api-keys", Some(owner.token.as_str())),
        ("/v1/repos", Some(owner.token.as_str())),
        ("/api/admin/invites", Some(ADMIN)),
        ("/v1/invites", Some(owner.token.as_str())),
    ];
    for (path, token) in targets {
        for body in bodies {
            let mut req = Req::post(path).raw_json(body.to_vec());
            if let Some(t) = token {
                req = req.bearer(t);
            }
            let r = app.send(req).await;
            let msg = r.error(StatusCode::BAD_REQUEST, "malformed_json");
            assert!(!msg.is_empty(), "{path} {:?}", String::from_utf8_lossy(body));
        }
    }
    // An empty body is malformed JSON where a body is required.
    app.send(Req::post("/v1/auth/login").raw_json(""))
        .await
        .error(StatusCode::BAD_REQUEST, "malformed_json");
}

#[tokio::test]
async fn wrong_shape_and_unknown_fields_are_400_invalid_body() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    let t = owner.token.as_str();
    let cases: Vec<(&str, Option<&str>, Value)> = vec![
        // wrong types
        ("/v1/auth/login", None, json!({"email": 5, "password": "x"})),
        ("/v1/auth/login", None, json!([1, 2])),
        ("/v1/auth/login", None, json!("ada@example.com")),
        ("/v1/auth/login", None, json!(null)),
        (
            "/v1/auth/signup",
            None,
            json!({"invite_code": true, "email": "a@b.co", "password": PASSWORD}),
        ),
        ("/v1/api-keys", Some(t), json!({"name": ["x"]})),
        ("/v1/repos", Some(t), json!({"url": 1})),
        ("/v1/repos", Some(t), json!({"url": REPO_URL, "branch": 7})),
        ("/api/admin/invites", Some(ADMIN), json!({"email": 1})),
        ("/api/admin/invites", Some(ADMIN), json!([])),
        ("/v1/invites", Some(t), json!({"email": {}})),
        // missing required fields
        ("/v1/auth/login", None, json!({"email": "ada@example.com"})),
        ("/v1/auth/login", None, json!({})),
        (
            "/v1/auth/signup",
            None,
            json!({"email": "a@b.co", "password": PASSWORD}),
        ),
        ("/v1/api-keys", Some(t), json!({})),
        ("/v1/repos", Some(t), json!({"branch": "main"})),
        // unknown fields (bodies use deny_unknown_fields)
        (
            "/v1/auth/login",
            None,
            json!({"email": "a@b.co", "password": PASSWORD, "remember": true}),
        ),
        (
            "/v1/auth/signup",
            None,
            json!({"invite_code": "inv_x", "email": "a@b.co", "password": PASSWORD, "role": "owner"}),
        ),
        ("/v1/api-keys", Some(t), json!({"name": "agent", "scopes": ["all"]})),
        (
            "/v1/repos",
            Some(t),
            json!({"url": REPO_URL, "account_id": owner.account_id}),
        ),
        ("/api/admin/invites", Some(ADMIN), json!({"account": "acme"})),
        (
            "/v1/invites",
            Some(t),
            json!({"email": "b@example.com", "role": "owner"}),
        ),
    ];
    for (path, token, body) in cases {
        let mut req = Req::post(path).json(&body);
        if let Some(tok) = token {
            req = req.bearer(tok);
        }
        let r = app.send(req).await;
        let msg = r.error(StatusCode::BAD_REQUEST, "invalid_body");
        if body
            .as_object()
            .is_some_and(|o| o.contains_key("role") || o.contains_key("scopes"))
        {
            assert!(msg.contains("unknown field"), "{path} {body}: says why: {msg}");
        }
    }
    // Nothing was created by the rejected requests.
    let repos = app.send(Req::get("/v1/repos").bearer(t)).await;
    assert_eq!(repos.json["repos"], json!([]));
}

#[tokio::test]
async fn json_body_without_json_content_type_is_415() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    let body = json!({"email": "ada@example.com", "password": PASSWORD}).to_string();
    let content_types: [Option<&str>; 4] = [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data"),
    ];
    for ct in content_types {
        let targets = [
            ("/v1/auth/login", None, body.clone()),
            (
                "/v1/auth/signup",
                None,
                json!({"invite_code": "inv_x", "email": "a@b.co", "password": PASSWORD}).to_string(),
            ),
            (
                "/v1/api-keys",
                Some(owner.token.as_str()),
                json!({"name": "agent"}).to_string(),
            ),
            (
                "/v1/repos",
                Some(owner.token.as_str()),
                json!({"url": REPO_URL}).to_string(),
            ),
        ];
        for (path, token, b) in targets {
            let mut req = Req::post(path).body(b);
            if let Some(ct) = ct {
                req = req.header(header::CONTENT_TYPE, ct);
            }
            if let Some(tok) = token {
                req = req.bearer(tok);
            }
            let msg = app
                .send(req)
                .await
                .error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
            assert!(msg.contains("application/json"), "{path} {ct:?}: {msg}");
        }
    }
    // A charset parameter is fine.
    app.send(
        Req::post("/v1/auth/login")
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body),
    )
    .await
    .expect(StatusCode::OK);
}

#[tokio::test]
async fn body_over_one_mib_is_413_payload_too_large() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    let limit = 1024 * 1024;
    // Valid JSON, one byte over the limit.
    let over = |prefix: &str| {
        let mut s = prefix.to_owned();
        let pad = limit + 1 - s.len() - 1;
        s.push_str(&" ".repeat(pad));
        s.push('}');
        assert_eq!(s.len(), limit + 1);
        s
    };
    let cases = [
        (
            "/v1/auth/login",
            None,
            over(&format!("{{\"email\":\"ada@example.com\",\"password\":\"{PASSWORD}\"")),
        ),
        (
            "/v1/auth/signup",
            None,
            over("{\"invite_code\":\"inv_x\",\"email\":\"a@b.co\",\"password\":\"0123456789\""),
        ),
        ("/v1/api-keys", Some(owner.token.as_str()), over("{\"name\":\"agent\"")),
        (
            "/v1/repos",
            Some(owner.token.as_str()),
            over(&format!("{{\"url\":\"{REPO_URL}\"")),
        ),
    ];
    for (path, token, body) in cases {
        let mut req = Req::post(path).raw_json(body);
        if let Some(t) = token {
            req = req.bearer(t);
        }
        let msg = app
            .send(req)
            .await
            .error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
        assert!(msg.contains("1 MiB"), "{path}: {msg}");
    }
    // Exactly 1 MiB is accepted (and then judged on its content).
    let mut at_limit = format!("{{\"email\":\"ada@example.com\",\"password\":\"{PASSWORD}\"");
    at_limit.push_str(&" ".repeat(limit - at_limit.len() - 1));
    at_limit.push('}');
    assert_eq!(at_limit.len(), limit);
    app.send(Req::post("/v1/auth/login").raw_json(at_limit))
        .await
        .expect(StatusCode::OK);
}

/// Known bug (see the report): the optional-body endpoints read the body as
/// raw `Bytes`, whose over-limit rejection is axum's plain-text 413, not the
/// error format.
#[tokio::test]

async fn body_over_one_mib_on_optional_body_endpoints_uses_the_error_format() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    let mut big = "{\"email\":\"b@example.com\"".to_owned();
    big.push_str(&" ".repeat(1024 * 1024));
    big.push('}');
    for (path, token) in [("/api/admin/invites", ADMIN), ("/v1/invites", owner.token.as_str())] {
        app.send(Req::post(path).bearer(token).raw_json(big.clone()))
            .await
            .error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    }
}

#[tokio::test]
async fn missing_or_bad_credentials_are_401_with_www_authenticate() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    // A revoked API key and a token for a different scheme.
    let key = app
        .send(
            Req::post("/v1/api-keys")
                .bearer(&owner.token)
                .json(&json!({"name": "old"})),
        )
        .await
        .expect(StatusCode::CREATED)
        .clone();
    app.send(Req::delete(format!("/v1/api-keys/{}", key.str("/id"))).bearer(&owner.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    let revoked = format!("Bearer {}", key.str("/key"));
    let basic = format!("Basic {}", "YWRhQGV4YW1wbGUuY29tOmNvcnJlY3QgaG9yc2U=");
    let admin_basic = format!("Basic {ADMIN}");
    let admin_token_scheme = format!("Token {ADMIN}");
    let headers: Vec<Option<Vec<u8>>> = vec![
        None,
        Some(b"".to_vec()),
        Some(b"Bearer".to_vec()),
        Some(b"Bearer ".to_vec()),
        Some(b"Bearer    ".to_vec()),
        Some(b"Bearer garbage".to_vec()),
        Some(b"Bearer lk_unknownkeyvalue0000000000".to_vec()),
        Some(b"Bearer inv_notatokenatall".to_vec()),
        Some(basic.into_bytes()),
        Some(admin_basic.into_bytes()),
        Some(admin_token_scheme.into_bytes()),
        Some(ADMIN.as_bytes().to_vec()),
        Some(b"Bearer \xffbad".to_vec()),
        Some(revoked.into_bytes()),
    ];
    for (method, path, body) in authed_routes() {
        for h in &headers {
            let mut req = Req::new(method.clone(), path.as_str());
            if let Some(b) = &body {
                req = req.json(b);
            }
            if let Some(v) = h {
                req = req.header(header::AUTHORIZATION, v.clone());
            }
            let r = app.send(req).await;
            let msg = r.error(StatusCode::UNAUTHORIZED, "unauthenticated");
            assert!(
                !msg.contains(ADMIN),
                "{method} {path}: the message echoes the presented credential: {msg}"
            );
        }
    }
    // Authentication is checked before the body: a malformed body without a
    // token is still a 401.
    app.send(Req::post("/v1/repos").raw_json("{"))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    // …and before the path parameter.
    app.send(Req::get("/v1/repos/not-a-uuid"))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn wrong_password_is_401_invalid_credentials_without_enumeration() {
    let app = App::new();
    app.owner("ada@example.com").await;
    let wrong_pw = app
        .send(Req::post("/v1/auth/login").json(&json!({"email": "ada@example.com", "password": "not the password"})))
        .await
        .error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let unknown = app
        .send(Req::post("/v1/auth/login").json(&json!({"email": "nobody@example.com", "password": PASSWORD})))
        .await
        .error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let bad_email = app
        .send(Req::post("/v1/auth/login").json(&json!({"email": "not an email", "password": PASSWORD})))
        .await
        .error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(wrong_pw, unknown, "the message must not reveal which emails exist");
    assert_eq!(wrong_pw, bad_email);
}

#[tokio::test]
async fn invalid_uuid_path_is_400_invalid_path() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    let bad_ids = [
        "not-a-uuid",
        "123",
        "00000000-0000-0000-0000-00000000000g",
        "%20",
        "0000000000000000000000000000000000000",
    ];
    for id in bad_ids {
        for (method, path) in [
            (Method::GET, format!("/v1/repos/{id}")),
            (Method::DELETE, format!("/v1/repos/{id}")),
            (Method::POST, format!("/v1/repos/{id}/reindex")),
            (Method::DELETE, format!("/v1/api-keys/{id}")),
        ] {
            let r = app
                .send(Req::new(method.clone(), path.as_str()).bearer(&owner.token))
                .await;
            r.error(StatusCode::BAD_REQUEST, "invalid_path");
        }
    }
}

#[tokio::test]
async fn validation_failures_are_400_validation_failed_naming_the_field() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    let t = owner.token.as_str();
    let code = app.admin_invite().await;
    let long = "x".repeat(101);
    let cases: Vec<(&str, Option<&str>, Value, &str)> = vec![
        (
            "/v1/auth/signup",
            None,
            json!({"invite_code": code, "email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (
            "/v1/auth/signup",
            None,
            json!({"invite_code": code, "email": "", "password": PASSWORD}),
            "email",
        ),
        (
            "/v1/auth/signup",
            None,
            json!({"invite_code": code, "email": "b@example.com", "password": "short"}),
            "password",
        ),
        (
            "/v1/auth/signup",
            None,
            json!({"invite_code": code, "email": "b@example.com", "password": "x".repeat(2000)}),
            "password",
        ),
        ("/v1/api-keys", Some(t), json!({"name": "   "}), "name"),
        ("/v1/api-keys", Some(t), json!({"name": ""}), "name"),
        ("/v1/api-keys", Some(t), json!({"name": long}), "name"),
        ("/v1/api-keys", Some(t), json!({"name": "bad\u{7}name"}), "name"),
        ("/v1/repos", Some(t), json!({"url": ""}), "url"),
        ("/v1/repos", Some(t), json!({"url": "ftp://example.com/x"}), "url"),
        ("/v1/repos", Some(t), json!({"url": "git@github.com:acme/w.git"}), "url"),
        (
            "/v1/repos",
            Some(t),
            json!({"url": "ssh://git@github.com/acme/w.git"}),
            "url",
        ),
        ("/v1/repos", Some(t), json!({"url": "https://github.com"}), "url"),
        (
            "/v1/repos",
            Some(t),
            json!({"url": "https://github.com/a/b?x=1"}),
            "url",
        ),
        ("/v1/repos", Some(t), json!({"url": "not a url"}), "url"),
        (
            "/v1/repos",
            Some(t),
            json!({"url": REPO_URL, "branch": "a b"}),
            "branch",
        ),
        (
            "/v1/repos",
            Some(t),
            json!({"url": REPO_URL, "branch": "a..b"}),
            "branch",
        ),
        ("/v1/repos", Some(t), json!({"url": REPO_URL, "branch": "-x"}), "branch"),
        (
            "/api/admin/invites",
            Some(ADMIN),
            json!({"account_name": long}),
            "account_name",
        ),
        ("/api/admin/invites", Some(ADMIN), json!({"email": "nope"}), "email"),
        ("/v1/invites", Some(t), json!({"email": "nope"}), "email"),
    ];
    for (path, token, body, field) in cases {
        let mut req = Req::post(path).json(&body);
        if let Some(tok) = token {
            req = req.bearer(tok);
        }
        let r = app.send(req).await;
        r.error_with_field(StatusCode::BAD_REQUEST, "validation_failed", field);
    }
    // Signing up with a bearer token but no password needs an IdP, which
    // this instance does not have.
    app.send(
        Req::post("/v1/auth/signup")
            .bearer("some-idp-token")
            .json(&json!({"invite_code": code, "email": "b@example.com"})),
    )
    .await
    .error_with_field(StatusCode::BAD_REQUEST, "validation_failed", "authorization");
    // Nothing was stored by the rejected requests.
    let repos = app.send(Req::get("/v1/repos").bearer(t)).await;
    assert_eq!(repos.json["repos"], json!([]));
    let keys = app.send(Req::get("/v1/api-keys").bearer(t)).await;
    assert_eq!(keys.json["api_keys"], json!([]));
}

/// Known bug (see the report): the sign-up handler builds these two
/// validation errors itself and leaves `field` out (the field name is only
/// in the message text).
#[tokio::test]

async fn signup_missing_email_or_password_names_the_field() {
    let app = App::new();
    let code = app.admin_invite().await;
    app.send(Req::post("/v1/auth/signup").json(&json!({"invite_code": code, "password": PASSWORD})))
        .await
        .error_with_field(StatusCode::BAD_REQUEST, "validation_failed", "email");
    app.send(Req::post("/v1/auth/signup").json(&json!({"invite_code": code, "email": "b@example.com"})))
        .await
        .error_with_field(StatusCode::BAD_REQUEST, "validation_failed", "password");
}

#[tokio::test]
async fn signup_missing_email_or_password_is_validation_failed() {
    // The part of the rule that holds today (the `field` is checked by the
    // ignored test above).
    let app = App::new();
    let code = app.admin_invite().await;
    let msg = app
        .send(Req::post("/v1/auth/signup").json(&json!({"invite_code": code, "password": PASSWORD})))
        .await
        .error(StatusCode::BAD_REQUEST, "validation_failed");
    assert!(msg.contains("email"), "{msg}");
    let msg = app
        .send(Req::post("/v1/auth/signup").json(&json!({"invite_code": code, "email": "b@example.com"})))
        .await
        .error(StatusCode::BAD_REQUEST, "validation_failed");
    assert!(msg.contains("password"), "{msg}");
}

#[tokio::test]
async fn bad_invite_codes_are_400_invite_invalid() {
    let app = App::new();
    let restricted = app
        .send(
            Req::post("/api/admin/invites")
                .bearer(ADMIN)
                .json(&json!({"email": "only@example.com"})),
        )
        .await
        .expect(StatusCode::CREATED)
        .str("/code");
    let cases = [
        ("inv_doesnotexist".to_owned(), "b@example.com"),
        ("garbage".to_owned(), "b@example.com"),
        (String::new(), "b@example.com"),
        (restricted.clone(), "someone-else@example.com"),
    ];
    for (code, email) in cases {
        let msg = app
            .send(
                Req::post("/v1/auth/signup").json(&json!({"invite_code": code, "email": email, "password": PASSWORD})),
            )
            .await
            .error(StatusCode::BAD_REQUEST, "invite_invalid");
        if !code.is_empty() {
            assert!(!msg.contains(&code), "the message echoes the code: {msg}");
        }
    }
    // The restricted invite still works for its email.
    app.signup(&restricted, "Only@Example.com").await;
}

#[tokio::test]
async fn forbidden_is_403_forbidden() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    let member = app.member(&owner, "bob@example.com").await;
    let key = app
        .send(
            Req::post("/v1/api-keys")
                .bearer(&owner.token)
                .json(&json!({"name": "agent"})),
        )
        .await
        .expect(StatusCode::CREATED)
        .str("/key");
    let cases: Vec<(Method, &str, &str, Option<Value>)> = vec![
        // members cannot manage the team
        (Method::POST, "/v1/invites", member.token.as_str(), None),
        (
            Method::POST,
            "/v1/invites",
            member.token.as_str(),
            Some(json!({"email": "c@example.com"})),
        ),
        (Method::GET, "/v1/invites", member.token.as_str(), None),
        // users (session or API key) cannot use the admin endpoint
        (Method::POST, "/api/admin/invites", owner.token.as_str(), None),
        (Method::POST, "/api/admin/invites", member.token.as_str(), None),
        (Method::POST, "/api/admin/invites", key.as_str(), None),
        // the admin token is not a user
        (Method::GET, "/v1/repos", ADMIN, None),
        (Method::POST, "/v1/repos", ADMIN, Some(json!({"url": REPO_URL}))),
        (Method::GET, "/v1/account", ADMIN, None),
        (Method::GET, "/v1/api-keys", ADMIN, None),
        (Method::POST, "/v1/api-keys", ADMIN, Some(json!({"name": "x"}))),
        (Method::POST, "/v1/invites", ADMIN, None),
        (Method::GET, "/v1/invites", ADMIN, None),
    ];
    for (method, path, token, body) in cases {
        let mut req = Req::new(method.clone(), path).bearer(token);
        if let Some(b) = &body {
            req = req.json(b);
        }
        app.send(req).await.error(StatusCode::FORBIDDEN, "forbidden");
    }
    for path in [format!("/v1/repos/{NIL}"), format!("/v1/repos/{NIL}/reindex")] {
        let method = if path.ends_with("reindex") {
            Method::POST
        } else {
            Method::GET
        };
        app.send(Req::new(method, path).bearer(ADMIN))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
    }
}

#[tokio::test]
async fn missing_things_are_404_not_found() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    let id = uuid::Uuid::new_v4();
    for (method, path) in [
        (Method::GET, format!("/v1/repos/{id}")),
        (Method::DELETE, format!("/v1/repos/{id}")),
        (Method::POST, format!("/v1/repos/{id}/reindex")),
        (Method::POST, format!("/v1/repos/{id}/eval")),
        (Method::GET, format!("/v1/repos/{id}/eval")),
        (Method::GET, format!("/v1/repos/{NIL}")),
        (Method::DELETE, format!("/v1/api-keys/{id}")),
    ] {
        app.send(Req::new(method, path).bearer(&owner.token))
            .await
            .error(StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn conflicts_are_409() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    app.push(REPO_URL, &[("a.txt", "a")]);
    app.add_repo(&owner, REPO_URL).await;
    // The same repository, however it is spelled, is a duplicate.
    for url in [
        REPO_URL,
        "https://github.com/acme/widgets.git/",
        "  https://github.com/acme/widgets.git  ",
        "https://x-access-token:ghp_abc@github.com/acme/widgets.git",
    ] {
        let msg = app
            .send(Req::post("/v1/repos").bearer(&owner.token).json(&json!({"url": url})))
            .await
            .error(StatusCode::CONFLICT, "repo_exists");
        assert!(!msg.contains("ghp_abc"), "{msg}");
    }
    // The same email twice, in any case, through any invite.
    let code = app.admin_invite().await;
    for email in ["ada@example.com", "ADA@Example.COM"] {
        app.send(
            Req::post("/v1/auth/signup").json(&json!({"invite_code": code, "email": email, "password": PASSWORD})),
        )
        .await
        .error(StatusCode::CONFLICT, "email_taken");
    }
}

#[tokio::test]
async fn private_network_urls_are_422_repo_url_forbidden() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    for url in [
        "http://127.0.0.1:9418/x",
        "https://10.1.2.3/acme/x.git",
        "git://192.168.1.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/acme/x",
        "http://localhost/acme/x",
        "https://x-access-token:ghp_privatetok@127.0.0.1/acme/x.git",
        "file:///etc/passwd",
    ] {
        let msg = app
            .send(Req::post("/v1/repos").bearer(&owner.token).json(&json!({"url": url})))
            .await
            .error(StatusCode::UNPROCESSABLE_ENTITY, "repo_url_forbidden");
        assert!(
            msg.contains("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS"),
            "{url}: actionable: {msg}"
        );
        assert!(!msg.contains("ghp_privatetok"), "{url}: {msg}");
    }
    let list = app.send(Req::get("/v1/repos").bearer(&owner.token)).await;
    assert_eq!(list.json["repos"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn every_error_response_seen_uses_the_format() {
    // A sweep over a mixed bag of failing requests: whatever the cause, the
    // body is the error format.
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    let reqs = vec![
        Req::get("/missing"),
        Req::new(Method::PUT, "/healthz"),
        Req::post("/v1/auth/login").raw_json("{"),
        Req::post("/v1/auth/login").body("x"),
        Req::get("/v1/repos"),
        Req::get("/v1/repos/x").bearer(&owner.token),
        Req::post("/v1/repos")
            .bearer(&owner.token)
            .json(&json!({"url": "http://10.0.0.1/a/b"})),
        Req::post("/v1/auth/signup").json(&json!({"invite_code": "inv_x", "email": "a@b.co", "password": PASSWORD})),
        Req::new(Method::OPTIONS, "/v1/repos"),
        Req::new(Method::TRACE, "/v1/account"),
    ];
    for req in reqs {
        let r: Resp = app.send(req).await;
        assert_error_shape(&r);
    }
    for r in app.responses() {
        if r.status.is_client_error() || r.status.is_server_error() {
            assert_error_shape(&r);
        }
    }
}
