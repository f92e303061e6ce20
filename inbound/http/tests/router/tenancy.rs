//! The tenancy table: every documented operation of the API, classified and
//! walked with another account's credentials (session token and API key)
//! and with a member's token. Another account's repo or key is `404`
//! (never `403`, so ids do not leak existence); an owner's action by a
//! member is `403`; list endpoints show only the caller's own account. A new
//! route must be added to the table (the test fails on an unclassified one).
//!
//! The code-reading routes (outline, file, search, symbols, locate) need a
//! `CodeSearch` port that the in-memory harness does not have: here they
//! may also answer 503, but never another account's data (the real index is
//! exercised by the binary's end-to-end tests).

use crate::support::{App, REPO_URL, Req};
use axum::http::{Method, StatusCode};
use serde_json::json;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Addresses one of another account's resources: 404.
    OtherAccount,
    /// An owner's action: 403 for a member.
    OwnerOnly,
    /// Scoped to the caller's own account (lists, usage): never shows
    /// another account's data.
    OwnAccount,
    /// Not account-scoped (public, sign-in, admin token, instance-wide).
    Unscoped,
}

/// (method, path, class, query for OtherAccount rows).
const TABLE: &[(&str, &str, Class, &str)] = &[
    ("get", "/healthz", Class::Unscoped, ""),
    ("get", "/readyz", Class::Unscoped, ""),
    // Counts and timings only, no account data; kept internal by the operator.
    ("get", "/metrics", Class::Unscoped, ""),
    ("post", "/api/admin/invites", Class::Unscoped, ""),
    ("post", "/v1/auth/signup", Class::Unscoped, ""),
    ("post", "/v1/auth/login", Class::Unscoped, ""),
    ("get", "/v1/auth/oidc/login", Class::Unscoped, ""),
    ("get", "/v1/auth/oidc/callback", Class::Unscoped, ""),
    ("get", "/v1/auth/logout", Class::Unscoped, ""),
    ("post", "/v1/api-keys", Class::OwnAccount, ""),
    ("get", "/v1/api-keys", Class::OwnAccount, ""),
    ("delete", "/v1/api-keys/{id}", Class::OtherAccount, ""),
    ("post", "/v1/invites", Class::OwnerOnly, ""),
    ("get", "/v1/invites", Class::OwnerOnly, ""),
    // Another account's invite is 404; a member of its own account gets 403
    // (team_invites_and_account_view).
    ("delete", "/v1/invites/{id}", Class::OtherAccount, ""),
    ("get", "/v1/account", Class::OwnAccount, ""),
    ("get", "/v1/repos", Class::OwnAccount, ""),
    ("post", "/v1/repos", Class::OwnAccount, ""),
    ("get", "/v1/repos/{id}", Class::OtherAccount, ""),
    ("delete", "/v1/repos/{id}", Class::OtherAccount, ""),
    ("post", "/v1/repos/{id}/reindex", Class::OtherAccount, ""),
    ("post", "/v1/repos/{id}/eval", Class::OtherAccount, ""),
    ("get", "/v1/repos/{id}/eval", Class::OtherAccount, ""),
    ("get", "/v1/repos/{id}/outline", Class::OtherAccount, "?path=a.rs"),
    ("get", "/v1/repos/{id}/file", Class::OtherAccount, "?path=a.rs"),
    ("get", "/v1/search", Class::OwnAccount, ""),
    ("get", "/v1/symbols", Class::OwnAccount, ""),
    ("get", "/v1/locate", Class::OwnAccount, ""),
    ("post", "/v1/locate", Class::OwnAccount, ""),
    ("get", "/v1/usage", Class::OwnAccount, ""),
    ("get", "/v1/license", Class::Unscoped, ""),
    ("put", "/v1/admin/license", Class::OwnerOnly, ""),
    ("get", "/v1/admin/telemetry", Class::OwnerOnly, ""),
    ("put", "/v1/admin/telemetry", Class::OwnerOnly, ""),
    ("post", "/v1/repos/{id}/webhook", Class::OtherAccount, ""),
    ("get", "/v1/integrations", Class::OwnAccount, ""),
    ("delete", "/v1/integrations/{provider}", Class::OwnerOnly, ""),
    ("get", "/v1/integrations/{provider}/install", Class::OwnAccount, ""),
    (
        "post",
        "/v1/integrations/{provider}/token",
        Class::OwnAccount,
        r#"{"token":"t"}"#,
    ),
    // Authenticated by the signed state, which names the account.
    ("get", "/v1/integrations/{provider}/callback", Class::Unscoped, ""),
    ("get", "/v1/integrations/{provider}/repos", Class::OwnAccount, ""),
    ("post", "/v1/integrations/{provider}/repos", Class::OwnAccount, ""),
    // Authenticated by the account's webhook signature (see integrations.rs).
    ("post", "/v1/{provider}/webhook/{account_id}", Class::Unscoped, ""),
];

fn is_code_route(path: &str) -> bool {
    path.ends_with("/outline")
        || path.ends_with("/file")
        || path == "/v1/search"
        || path == "/v1/symbols"
        || path == "/v1/locate"
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

#[tokio::test]
async fn every_route_is_classified_and_holds_its_tenancy_rule() {
    let app = App::new();
    // Every documented operation is in the table.
    let doc = app.send(Req::get("/openapi.json")).await.json.clone();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            if METHODS.contains(&method.as_str()) {
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let table: BTreeSet<(String, String)> = TABLE.iter().map(|(m, p, _, _)| ((*m).into(), (*p).into())).collect();
    let unclassified: Vec<_> = documented.difference(&table).collect();
    assert!(
        unclassified.is_empty(),
        "add these routes to the tenancy table: {unclassified:?}"
    );

    // Account A: alice (owner) with a repo, a key and an invite; tm (member).
    // Account B: bob (owner) with a session token and an API key.
    let alice = app.owner("alice@a.example").await;
    let tm = app.member(&alice, "tm@a.example").await;
    let bob = app.owner("bob@b.example").await;
    app.push(REPO_URL, &[("a.rs", "fn alpha() {}")]);
    let repo = app.add_repo(&alice, REPO_URL).await;
    app.work().await;
    let alice_key = app
        .send(
            Req::post("/v1/api-keys")
                .bearer(&alice.token)
                .json(&json!({"name": "a"})),
        )
        .await
        .str("/id");
    let bob_key = app
        .send(Req::post("/v1/api-keys").bearer(&bob.token).json(&json!({"name": "b"})))
        .await
        .str("/key");
    let alice_invite = app.send(Req::post("/v1/invites").bearer(&alice.token)).await.str("/id");
    let secrets_of_a = [repo.clone(), alice_key.clone(), alice.account_id.clone()];

    for (method, path, class, query) in TABLE {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method");
        match class {
            Class::OtherAccount => {
                let id = if path.starts_with("/v1/api-keys") {
                    &alice_key
                } else if path.starts_with("/v1/invites") {
                    &alice_invite
                } else {
                    &repo
                };
                let url = format!("{}{query}", path.replace("{id}", id));
                for token in [bob.token.as_str(), bob_key.as_str()] {
                    let r = app.send(Req::new(method.clone(), url.clone()).bearer(token)).await;
                    if is_code_route(path) && r.status == StatusCode::SERVICE_UNAVAILABLE {
                        continue;
                    }
                    r.error(StatusCode::NOT_FOUND, "not_found");
                }
            }
            Class::OwnerOnly => {
                let body = if *path == "/v1/admin/telemetry" {
                    json!({"enabled": true})
                } else if *path == "/v1/admin/license" {
                    json!({"key": "eyJ.x.y"})
                } else {
                    json!({})
                };
                let mut req = Req::new(method.clone(), *path).bearer(&tm.token);
                if method != Method::GET {
                    req = req.json(&body);
                }
                app.send(req).await.error(StatusCode::FORBIDDEN, "forbidden");
            }
            Class::OwnAccount => {
                if method != Method::GET {
                    continue; // creation in one's own account (covered by flows)
                }
                let url = match *path {
                    "/v1/search" => "/v1/search?q=alpha".to_owned(),
                    "/v1/symbols" => "/v1/symbols?name=alpha".to_owned(),
                    "/v1/locate" => "/v1/locate?q=alpha".to_owned(),
                    other => other.replace("{provider}", "github"),
                };
                let r = app.send(Req::get(url.clone()).bearer(&bob.token)).await;
                // Bob has not connected GitHub: the picker refuses (409
                // `not_connected`) rather than showing anything of A's.
                if path.contains("{provider}") && r.status == StatusCode::CONFLICT {
                    r.error(StatusCode::CONFLICT, "not_connected");
                    continue;
                }
                if is_code_route(path) && r.status == StatusCode::SERVICE_UNAVAILABLE {
                    continue;
                }
                assert!(r.status.is_success(), "{url}: {} {}", r.status, r.text);
                for s in &secrets_of_a {
                    assert!(
                        !r.text.contains(s.as_str()),
                        "{url} shows account A's {s} to bob: {}",
                        r.text
                    );
                }
                assert!(
                    !r.text.contains("alpha"),
                    "{url} shows account A's code to bob: {}",
                    r.text
                );
            }
            Class::Unscoped => {}
        }
    }
    // Cross-account search with an explicit repo filter finds nothing of A.
    for url in [
        format!("/v1/search?q=alpha&repo={repo}"),
        format!("/v1/symbols?name=alpha&repo={repo}"),
        format!("/v1/locate?q=alpha&repo={repo}"),
    ] {
        let r = app.send(Req::get(url.clone()).bearer(&bob.token)).await;
        assert!(
            r.status == StatusCode::NOT_FOUND
                || r.status == StatusCode::SERVICE_UNAVAILABLE
                || (r.status.is_success() && !r.text.contains("alpha")),
            "{url}: {} {}",
            r.status,
            r.text
        );
    }
}
