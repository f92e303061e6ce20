//! End to end: the real binary with the GitHub App configured against a
//! local server replaying GitHub's published responses (`fixtures/github/`),
//! and a real git peer (`git daemon`) whose HEAD the test advances.
//!
//! connect (install URL → signed state → callback, checked against
//! `/user/installations`) → picker → add (webhook registered on the replayed
//! server with the account's secret, first index) → the octokit-webhooks
//! push payload, signed, moves the index to the new head → the same
//! delivery with a wrong signature, none, one byte changed, or for another
//! account is 401 and changes nothing → the hook deleted on the replayed
//! server and a push with no delivery: the periodic check re-registers the
//! hook and polls the new head into the index, and the repo's health says
//! so → disconnect keeps the repo.

mod support;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use support::{DEADLINE, GitDaemon, GitRepos, Server};

const WEB_URL: &str = "https://lettuce.e2e.example";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../fixtures/github/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[derive(Clone)]
struct Replay {
    base: String,
    clone_url: String,
    hooks: Arc<Mutex<Vec<Value>>>,
    /// The hook was deleted on the "host".
    deleted: Arc<Mutex<bool>>,
}

fn json_resp(status: StatusCode, body: Value) -> Response {
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

async fn access_tokens(Path(id): Path<String>) -> Response {
    if id != "1" {
        return json_resp(StatusCode::NOT_FOUND, json!({"message": "Not Found"}));
    }
    let mut body = fixture_json("apps__create-installation-access-token.201.default.json");
    body["expires_at"] = json!("2999-01-01T00:00:00Z");
    json_resp(StatusCode::CREATED, body)
}

async fn repositories(State(r): State<Replay>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut body = fixture_json("apps__list-repos-accessible-to-installation.200.default.json");
    if q.get("page").map(String::as_str) == Some("2") {
        let mut other = body["repositories"][0].clone();
        other["id"] = json!(4242);
        other["full_name"] = json!("octocat/Other");
        body["repositories"] = json!([other]);
        return json_resp(StatusCode::OK, body);
    }
    // The recorded repo, served by the local git peer.
    body["repositories"][0]["clone_url"] = json!(r.clone_url);
    body["repositories"][0]["default_branch"] = json!("main");
    let link = format!(
        "<{}/api/v3/installation/repositories?per_page=100&page=2>; rel=\"next\"",
        r.base
    );
    ([("link", link)], json_resp(StatusCode::OK, body)).into_response()
}

async fn hooks(State(r): State<Replay>, body: axum::body::Bytes) -> Response {
    r.hooks
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    *r.deleted.lock().unwrap() = false;
    json_resp(
        StatusCode::CREATED,
        fixture_json("repos__create-webhook.201.default.json"),
    )
}

/// `GET /repos/{owner}/{repo}/hooks/{id}`: the recorded hook with the
/// registered URL, or 404 once deleted.
async fn hook_get(State(r): State<Replay>) -> Response {
    let registered = r.hooks.lock().unwrap().last().cloned();
    match registered {
        Some(reg) if !*r.deleted.lock().unwrap() => {
            let mut body = fixture_json("repos__create-webhook.201.default.json");
            body["config"]["url"] = reg["config"]["url"].clone();
            json_resp(StatusCode::OK, body)
        }
        _ => json_resp(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
    }
}

async fn oauth_token() -> Response {
    json_resp(
        StatusCode::OK,
        json!({"access_token": "ghu_e2e", "token_type": "bearer"}),
    )
}

async fn user_installations() -> Response {
    json_resp(
        StatusCode::OK,
        fixture_json("apps__list-installations-for-authenticated-user.200.default.json"),
    )
}

async fn start_replay(clone_url: String) -> (String, Replay) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let replay = Replay {
        base: base.clone(),
        clone_url,
        hooks: Arc::new(Mutex::new(Vec::new())),
        deleted: Arc::new(Mutex::new(false)),
    };
    let app = Router::new()
        .route("/api/v3/app/installations/{id}/access_tokens", post(access_tokens))
        .route("/api/v3/installation/repositories", get(repositories))
        .route("/api/v3/repos/{owner}/{repo}/hooks", post(hooks))
        .route("/api/v3/repos/{owner}/{repo}/hooks/{id}", get(hook_get))
        .route("/api/v3/user/installations", get(user_installations))
        .route("/login/oauth/access_token", post(oauth_token))
        .with_state(replay.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, replay)
}

async fn deliver(base: &str, account: &str, sig: Option<&str>, body: &[u8], delivery: &str) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/v1/github/webhook/{account}"))
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .header("x-github-delivery", delivery)
        .body(body.to_vec());
    if let Some(sig) = sig {
        req = req.header("x-hub-signature-256", sig);
    }
    let r = req.send().await.expect("deliver");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_pick_add_push_reindex_forgeries_and_disconnect() {
    if !support::git_available() {
        return;
    }
    let repos = GitRepos::new();
    let head1 = repos.create(
        "app",
        &[
            ("src/lib.rs", "pub fn one() -> u32 {\n    1\n}\n"),
            ("README.md", "# app\n"),
        ],
    );
    let daemon = GitDaemon::start(&repos);
    let (gh, replay) = start_replay(daemon.url("app")).await;
    let key = String::from_utf8(fixture("test-app-key.pem")).expect("pem");
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        data.path(),
        &[
            ("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS", "1"),
            ("LETTUCE_WEB_URL", WEB_URL),
            ("LETTUCE_WEBHOOK_CHECK_INTERVAL", "10"),
            ("GITHUB_HOST", gh.as_str()),
            ("GITHUB_APP_ID", "4242"),
            ("GITHUB_APP_NAME", "lettuce-e2e"),
            ("GITHUB_APP_CLIENT_ID", "Iv1.e2e"),
            ("GITHUB_APP_CLIENT_SECRET", "e2e-client-secret"),
            ("GITHUB_APP_PRIVATE_KEY", key.as_str()),
        ],
    )
    .await;
    let api = server.api();
    let admin = server.admin_token();
    let token = api.first_user(&admin).await;
    let account = api.get("/v1/account", Some(&token)).await.expect(200);
    let account_id = account["account"]["id"]
        .as_str()
        .or_else(|| account["id"].as_str())
        .expect("account id")
        .to_owned();
    let secret = account["webhook_secret"]
        .as_str()
        .expect("owner sees the secret")
        .to_owned();

    // Connect: the install URL carries a signed state; the callback checks it.
    let v = api.get("/v1/integrations", Some(&token)).await.expect(200);
    assert_eq!(v["integrations"][0]["provider"], "github", "{v}");
    assert_eq!(v["integrations"][0]["configured"], true, "{v}\n{}", server.logs());
    let url = api
        .get("/v1/integrations/github/install", Some(&token))
        .await
        .expect(200)["url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert!(
        url.starts_with(&format!("{gh}/apps/lettuce-e2e/installations/new?state=")),
        "{url}"
    );
    let state = url.split("state=").nth(1).expect("state").to_owned();
    let cb = format!("/v1/integrations/github/callback?state={state}&installation_id=1&code=c0de&setup_action=install");
    let v = api.get(&cb, None).await.expect(200);
    assert_eq!(v["installation"]["external_id"], "1", "{v}");
    let again = api.get(&cb, None).await;
    assert_eq!(
        again.expect_error(400, "install_state_invalid"),
        "invalid or expired install state"
    );

    // Picker (both pages of the replayed listing), then add.
    let v = api
        .get("/v1/integrations/github/repos?filter=hello", Some(&token))
        .await
        .expect(200);
    assert_eq!(v["repos"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["repos"][0]["full_name"], "octocat/Hello-World");
    let v = api.get("/v1/integrations/github/repos", Some(&token)).await.expect(200);
    assert_eq!(v["repos"].as_array().map(Vec::len), Some(2), "pagination followed: {v}");
    let v = api
        .post(
            "/v1/integrations/github/repos",
            Some(&token),
            &json!({"repo": "octocat/hello-world"}),
        )
        .await
        .expect(202);
    let id = v["id"].as_str().expect("repo id").to_owned();
    assert_eq!(v["webhook"]["status"], "registered", "{v}");
    {
        let hooks = replay.hooks.lock().unwrap();
        assert_eq!(hooks.len(), 1);
        assert_eq!(
            hooks[0]["config"]["url"],
            format!("{WEB_URL}/v1/github/webhook/{account_id}")
        );
        assert_eq!(hooks[0]["config"]["secret"], secret.as_str());
        assert_eq!(hooks[0]["events"], json!(["push"]));
    }
    let repo = api
        .wait_repo(
            &token,
            &id,
            DEADLINE,
            |r| r["status"] == "ready" || r["status"] == "failed",
            || server.logs(),
        )
        .await;
    assert_eq!(repo["indexed_commit"], head1.as_str(), "{repo}\n{}", server.logs());

    // The octokit-webhooks push payload, adapted to this repo, signed.
    let head2 = repos.commit("app", &[("src/lib.rs", "pub fn two() -> u32 {\n    2\n}\n")], "two");
    let mut push = fixture_json("push.with-new-branch.payload.json");
    push["ref"] = json!("refs/heads/main");
    push["before"] = json!(head1);
    push["after"] = json!(head2);
    push["repository"]["id"] = json!(1296269);
    push["repository"]["full_name"] = json!("octocat/Hello-World");
    let body = serde_json::to_vec(&push).expect("json");
    let (status, ack) = deliver(&server.base, &account_id, Some(&sign(&secret, &body)), &body, "e2e-1").await;
    assert_eq!(status, 200, "{ack}\n{}", server.logs());
    assert_eq!(ack["outcome"], "queued", "{ack}");
    let repo = api
        .wait_repo(
            &token,
            &id,
            DEADLINE,
            |r| r["indexed_commit"] == head2.as_str(),
            || server.logs(),
        )
        .await;
    assert_eq!(repo["status"], "ready", "{repo}");

    // Forgeries: nothing queued, nothing recorded. (The forged head is not
    // pushed to the peer, so the periodic check has nothing to find.)
    let head3 = "3".repeat(40);
    push["before"] = json!(head2);
    push["after"] = json!(head3);
    let body3 = serde_json::to_vec(&push).expect("json");
    let good = sign(&secret, &body3);
    let mut changed = body3.clone();
    let at = changed.len() / 2;
    changed[at] ^= 0x01;
    let other_code = api.admin_invite(&admin).await;
    let other = api.signup(&other_code, "other@example.com").await;
    let other_account = other["account"]["id"].as_str().expect("other account").to_owned();
    let cases: Vec<(&str, Option<String>, Vec<u8>, String)> = vec![
        (
            "wrong signature",
            Some(sign("not-the-secret", &body3)),
            body3.clone(),
            account_id.clone(),
        ),
        ("no signature", None, body3.clone(), account_id.clone()),
        ("one byte changed", Some(good.clone()), changed, account_id.clone()),
        ("other account", Some(good.clone()), body3.clone(), other_account),
        (
            "replayed delivery",
            Some(sign(&secret, &body)),
            body.clone(),
            account_id.clone(),
        ),
    ];
    for (i, (what, sig, b, acct)) in cases.into_iter().enumerate() {
        let delivery = if what == "replayed delivery" {
            "e2e-1".to_owned()
        } else {
            format!("e2e-forged-{i}")
        };
        let (status, v) = deliver(&server.base, &acct, sig.as_deref(), &b, &delivery).await;
        assert_eq!(status, 401, "{what}: {v}");
        assert_eq!(v["error"]["code"], "webhook_rejected", "{what}: {v}");
    }
    let repo = api.get(&format!("/v1/repos/{id}"), Some(&token)).await.expect(200);
    assert_eq!(repo["status"], "ready", "nothing queued: {repo}");
    assert_eq!(repo["indexed_commit"], head2.as_str(), "{repo}");
    assert_eq!(
        repo["webhook"]["deliveries"].as_array().map(Vec::len),
        Some(1),
        "only the genuine delivery is recorded: {repo}"
    );
    assert!(
        server.logs().contains("webhook delivery rejected"),
        "reasons are logged"
    );

    // The hook is deleted on the host and a push gets no delivery: within a
    // check interval (10 s here) the hook is registered again and the head is
    // polled into the index; the health says which.
    let registered = replay.hooks.lock().unwrap().len();
    *replay.deleted.lock().unwrap() = true;
    let head4 = repos.commit("app", &[("src/lib.rs", "pub fn four() {}\n")], "four");
    let repo = api
        .wait_repo(
            &token,
            &id,
            DEADLINE,
            |r| r["indexed_commit"] == head4.as_str(),
            || server.logs(),
        )
        .await;
    assert_eq!(repo["webhook"]["mode"], "polling", "{repo}");
    // The repair and the fallback may land in one check or two (a delivery
    // just before the deletion counts as recent), so: the note of the last
    // check, and the repair in the log.
    let note = repo["webhook"]["check_note"].as_str().unwrap_or_default();
    assert!(note.contains("webhook unreachable"), "{repo}");
    assert!(server.logs().contains("webhook repaired"), "{}", server.logs());
    assert!(repo["webhook"]["last_check"].is_string(), "{repo}");
    assert_eq!(
        replay.hooks.lock().unwrap().len(),
        registered + 1,
        "the hook was registered again"
    );

    // Disconnect keeps the repo.
    assert_eq!(api.delete("/v1/integrations/github", Some(&token)).await.status, 204);
    let v = api.get("/v1/repos", Some(&token)).await.expect(200);
    assert_eq!(v["repos"].as_array().map(Vec::len), Some(1), "{v}");
    let v = api.get("/v1/integrations", Some(&token)).await.expect(200);
    assert_eq!(v["integrations"][0]["connected"], false, "{v}");
    assert!(!server.logs().contains(&secret), "the webhook secret is never logged");
    assert!(
        !server.logs().contains("ghs_16C7e42F292c6912E7710c838347Ae178B4a"),
        "the installation token is never logged"
    );
}
