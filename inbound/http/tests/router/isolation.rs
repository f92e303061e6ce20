//! Cross-account isolation: another account's things are invisible (404,
//! never 403, so ids do not leak existence).

use crate::support::{App, REPO_URL, Req};
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn other_accounts_cannot_see_or_touch_a_repo() {
    let app = App::new();
    let alice = app.owner("alice@a.example").await;
    let alice_teammate = app.member(&alice, "tm@a.example").await;
    let bob = app.owner("bob@b.example").await;
    assert_ne!(alice.account_id, bob.account_id);
    let bob_key = app
        .send(
            Req::post("/v1/api-keys")
                .bearer(&bob.token)
                .json(&json!({"name": "bob agent"})),
        )
        .await
        .str("/key");

    let head = app.push(REPO_URL, &[("a.rs", "fn a() {}")]);
    let id = app.add_repo(&alice, REPO_URL).await;
    app.work().await;

    for token in [bob.token.as_str(), bob_key.as_str()] {
        for (method, path) in [
            (Method::GET, format!("/v1/repos/{id}")),
            (Method::DELETE, format!("/v1/repos/{id}")),
            (Method::POST, format!("/v1/repos/{id}/reindex")),
        ] {
            app.send(Req::new(method, path).bearer(token))
                .await
                .error(StatusCode::NOT_FOUND, "not_found");
        }
        let list = app.send(Req::get("/v1/repos").bearer(token)).await;
        list.expect(StatusCode::OK);
        assert_eq!(list.json["repos"], json!([]), "bob's list shows nothing of alice's");
        assert!(!list.text.contains(&id));
        let acct = app.send(Req::get("/v1/account").bearer(token)).await;
        assert_eq!(acct.json["repo_count"], 0);
        assert_eq!(acct.json["seats_used"], 1);
    }
    // Bob's reindex queued nothing; alice's repo is untouched.
    assert_eq!(app.work().await, 0, "no job was queued by the refused requests");
    let got = app.send(Req::get(format!("/v1/repos/{id}")).bearer(&alice.token)).await;
    got.expect(StatusCode::OK);
    assert_eq!(got.json["status"], "ready");
    assert_eq!(got.json["indexed_commit"], head.as_str());

    // Within the account, teammates share repos.
    let tm = app
        .send(Req::get(format!("/v1/repos/{id}")).bearer(&alice_teammate.token))
        .await;
    tm.expect(StatusCode::OK);
    let tm_list = app.send(Req::get("/v1/repos").bearer(&alice_teammate.token)).await;
    assert_eq!(tm_list.json["repos"].as_array().unwrap().len(), 1);

    // Bob may add the same URL to his own account: a separate repo.
    let bobs = app.add_repo(&bob, REPO_URL).await;
    assert_ne!(bobs, id);
    let list = app.send(Req::get("/v1/repos").bearer(&alice.token)).await;
    assert_eq!(list.json["repos"].as_array().unwrap().len(), 1);
    assert_eq!(list.json["repos"][0]["id"], id.as_str());
    // …and alice cannot see bob's.
    app.send(Req::get(format!("/v1/repos/{bobs}")).bearer(&alice.token))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn other_users_cannot_revoke_or_list_a_key() {
    let app = App::new();
    let alice = app.owner("alice@a.example").await;
    let teammate = app.member(&alice, "tm@a.example").await;
    let bob = app.owner("bob@b.example").await;
    let created = app
        .send(
            Req::post("/v1/api-keys")
                .bearer(&alice.token)
                .json(&json!({"name": "alice agent"})),
        )
        .await;
    let (id, key) = (created.str("/id"), created.str("/key"));
    // Neither another account nor a teammate can revoke it.
    for token in [&bob.token, &teammate.token] {
        app.send(Req::delete(format!("/v1/api-keys/{id}")).bearer(token))
            .await
            .error(StatusCode::NOT_FOUND, "not_found");
        let list = app.send(Req::get("/v1/api-keys").bearer(token)).await;
        assert_eq!(list.json["api_keys"], json!([]));
    }
    app.send(Req::get("/v1/account").bearer(&key))
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn invites_and_accounts_are_per_account() {
    let app = App::new();
    let alice = app.owner("alice@a.example").await;
    let bob = app.owner("bob@b.example").await;
    app.send(Req::post("/v1/invites").bearer(&alice.token)).await;
    let bobs = app.send(Req::get("/v1/invites").bearer(&bob.token)).await;
    bobs.expect(StatusCode::OK);
    assert_eq!(
        bobs.json["invites"].as_array().unwrap().len(),
        1,
        "only bob's own admin invite: {}",
        bobs.text
    );
    let a = app.send(Req::get("/v1/account").bearer(&alice.token)).await;
    let b = app.send(Req::get("/v1/account").bearer(&bob.token)).await;
    assert_ne!(a.json["webhook_secret"], b.json["webhook_secret"]);
    assert!(!b.text.contains(a.str("/webhook_secret").as_str()));
}
