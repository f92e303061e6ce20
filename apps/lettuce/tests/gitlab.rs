//! End to end: the real binary with GitLab configured against a local server
//! replaying GitLab's published responses (`fixtures/gitlab/`), and a real
//! git peer (`git daemon`) whose HEAD the test advances.
//!
//! connect (install URL → `/oauth/authorize` with a signed state → callback
//! with a `code`, exchanged at the replayed `/oauth/token`) → the short-lived
//! access token is refreshed on the next call → picker (both pages) → add
//! (project hook registered on the replayed server with the account's
//! secret as its token, first index) → the published `Push Hook` payload
//! with `X-Gitlab-Token` moves the index to the new head → the same
//! delivery with a wrong token, none, or for another account is 401 and
//! changes nothing → a refused refresh marks the connection `needs_reauth`.

mod support;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use support::{DEADLINE, GitDaemon, GitRepos, Server};

const WEB_URL: &str = "https://lettuce.e2e.example";
const CLIENT_ID: &str = "gl-e2e-app";
const CLIENT_SECRET: &str = "gl-e2e-client-secret";
/// `oauth2.token_response.authorization_code.json`'s access token.
const ACCESS: &str = "de6780bc506a0446309bd9362820ba8aed28aa506c71eedbe1c5c4f9dd350e54";
/// `oauth2.token_response.refresh_token.json`'s access token.
const REFRESHED: &str = "c97d1fe52119f38c7f67f0a14db68d60caa35ddc86fd12401718b649dcfa9c68";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../fixtures/gitlab/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
}

#[derive(Clone)]
struct Replay {
    clone_url: String,
    /// `expires_in` of the next code exchange.
    exchange_expires_in: Arc<AtomicI64>,
    exchanges: Arc<AtomicUsize>,
    refreshes: Arc<AtomicUsize>,
    refuse_refresh: Arc<AtomicBool>,
    /// Bearer tokens the project listing was called with.
    listing_tokens: Arc<Mutex<Vec<String>>>,
    hooks: Arc<Mutex<Vec<(String, Value)>>>,
}

fn json_resp(status: StatusCode, body: Value) -> Response {
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

fn bearer(h: &HeaderMap) -> String {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned()
}

fn authorized(h: &HeaderMap) -> bool {
    let t = bearer(h);
    t == ACCESS || t == REFRESHED
}

fn unauthorized() -> Response {
    json_resp(StatusCode::UNAUTHORIZED, json!({"message": "401 Unauthorized"}))
}

async fn oauth_token(
    State(r): State<Replay>,
    axum::extract::Form(f): axum::extract::Form<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
    let invalid_grant = json_resp(
        StatusCode::BAD_REQUEST,
        json!({"error": "invalid_grant", "error_description": "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}),
    );
    if field("client_id") != CLIENT_ID
        || field("client_secret") != CLIENT_SECRET
        || field("redirect_uri") != format!("{WEB_URL}/v1/integrations/gitlab/callback")
    {
        return invalid_grant;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    match field("grant_type") {
        "authorization_code" if field("code") == "c0de" => {
            r.exchanges.fetch_add(1, Ordering::SeqCst);
            let mut body = fixture_json("oauth2.token_response.authorization_code.json");
            body["created_at"] = json!(now);
            body["expires_in"] = json!(r.exchange_expires_in.load(Ordering::SeqCst));
            json_resp(StatusCode::OK, body)
        }
        "refresh_token" => {
            r.refreshes.fetch_add(1, Ordering::SeqCst);
            if r.refuse_refresh.load(Ordering::SeqCst) {
                return invalid_grant;
            }
            let mut body = fixture_json("oauth2.token_response.refresh_token.json");
            body["created_at"] = json!(now);
            json_resp(StatusCode::OK, body)
        }
        _ => invalid_grant,
    }
}

async fn user(h: HeaderMap) -> Response {
    if !authorized(&h) {
        return unauthorized();
    }
    json_resp(StatusCode::OK, fixture_json("users.get_current_user.json"))
}

async fn projects(State(r): State<Replay>, Query(q): Query<HashMap<String, String>>, h: HeaderMap) -> Response {
    r.listing_tokens.lock().unwrap().push(bearer(&h));
    if !authorized(&h) {
        return unauthorized();
    }
    if q.get("page").map(String::as_str) == Some("2") {
        let single = fixture_json("projects.get_single_project.json");
        return ([("x-next-page", "")], json_resp(StatusCode::OK, json!([single]))).into_response();
    }
    // The recorded project, served by the local git peer.
    let mut body = fixture_json("projects.list_user_projects.json");
    body[0]["http_url_to_repo"] = json!(r.clone_url);
    body[0]["default_branch"] = json!("main");
    ([("x-next-page", "2")], json_resp(StatusCode::OK, body)).into_response()
}

async fn hooks(
    State(r): State<Replay>,
    Path(project): Path<String>,
    method: axum::http::Method,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&h) {
        return unauthorized();
    }
    if method == axum::http::Method::GET {
        return json_resp(StatusCode::OK, json!([]));
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.hooks.lock().unwrap().push((project, v.clone()));
    let mut hook = fixture_json("gitlab4j.hook.json");
    hook["url"] = v["url"].clone();
    json_resp(StatusCode::CREATED, hook)
}

async fn start_replay(clone_url: String) -> (String, Replay) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let replay = Replay {
        clone_url,
        exchange_expires_in: Arc::new(AtomicI64::new(60)),
        exchanges: Arc::default(),
        refreshes: Arc::default(),
        refuse_refresh: Arc::default(),
        listing_tokens: Arc::default(),
        hooks: Arc::default(),
    };
    let app = Router::new()
        .route("/oauth/token", post(oauth_token))
        .route("/api/v4/user", get(user))
        .route("/api/v4/projects", get(projects))
        .route("/api/v4/projects/{id}/hooks", get(hooks).post(hooks))
        .with_state(replay.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, replay)
}

async fn deliver(base: &str, account: &str, token: Option<&str>, body: &[u8]) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/v1/gitlab/webhook/{account}"))
        .header("content-type", "application/json")
        .header("x-gitlab-event", "Push Hook")
        .header("x-gitlab-instance", "https://gitlab.example.com")
        .body(body.to_vec());
    if let Some(token) = token {
        req = req.header("x-gitlab-token", token);
    }
    let r = req.send().await.expect("deliver");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn gitlab_of(v: &Value) -> Value {
    v["integrations"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["provider"] == "gitlab"))
        .cloned()
        .unwrap_or_else(|| panic!("gitlab is listed: {v}"))
}

/// Runs the install flow; returns the callback's answer.
async fn connect(api: &support::Api, token: &str, gl: &str) -> Value {
    let url = api
        .get("/v1/integrations/gitlab/install", Some(token))
        .await
        .expect(200)["url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert!(
        url.starts_with(&format!(
            "{gl}/oauth/authorize?client_id={CLIENT_ID}&redirect_uri=https%3A%2F%2Flettuce.e2e.example%2Fv1%2Fintegrations%2Fgitlab%2Fcallback&response_type=code&state="
        )),
        "{url}"
    );
    assert!(url.ends_with("&scope=api+read_repository+write_repository"), "{url}");
    let parsed = url::Url::parse(&url).expect("install URL");
    let state = parsed
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let cb = format!("/v1/integrations/gitlab/callback?state={state}&code=c0de");
    let v = api.get(&cb, None).await.expect(200);
    let again = api.get(&cb, None).await;
    assert_eq!(
        again.expect_error(400, "install_state_invalid"),
        "invalid or expired install state"
    );
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_refresh_pick_add_push_reindex_forgeries_and_reauth() {
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
    let (gl, replay) = start_replay(daemon.url("app")).await;
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        data.path(),
        &[
            ("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS", "1"),
            ("LETTUCE_WEB_URL", WEB_URL),
            ("GITLAB_HOST", gl.as_str()),
            ("GITLAB_APP_CLIENT_ID", CLIENT_ID),
            ("GITLAB_APP_CLIENT_SECRET", CLIENT_SECRET),
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

    // Connect: authorize URL with a signed state; the callback exchanges the code.
    let v = api.get("/v1/integrations", Some(&token)).await.expect(200);
    let g = gitlab_of(&v);
    assert_eq!(g["configured"], true, "{v}\n{}", server.logs());
    assert_eq!(g["connect"], "install", "{v}");
    let v = connect(&api, &token, &gl).await;
    assert_eq!(v["installation"]["external_id"], "1", "{v}");
    assert_eq!(
        v["installation"]["scopes"],
        json!(["api", "read_repository", "write_repository"]),
        "{v}"
    );
    assert_eq!(replay.exchanges.load(Ordering::SeqCst), 1);

    // The access token expires in 60 s (inside the 5-minute margin): the next
    // call refreshes it first and uses the new token.
    assert_eq!(replay.refreshes.load(Ordering::SeqCst), 0);
    let v = api
        .get("/v1/integrations/gitlab/repos?filter=client", Some(&token))
        .await
        .expect(200);
    assert_eq!(replay.refreshes.load(Ordering::SeqCst), 1, "refreshed once");
    assert_eq!(
        replay.listing_tokens.lock().unwrap().first().map(String::as_str),
        Some(REFRESHED),
        "the listing used the refreshed token"
    );
    assert_eq!(v["repos"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["repos"][0]["full_name"], "diaspora/diaspora-client");
    // Both pages (X-Next-Page); the refreshed token lasts 2 hours: no new refresh.
    let v = api.get("/v1/integrations/gitlab/repos", Some(&token)).await.expect(200);
    assert_eq!(v["repos"].as_array().map(Vec::len), Some(3), "pagination followed: {v}");
    assert_eq!(replay.refreshes.load(Ordering::SeqCst), 1);
    assert!(
        replay.listing_tokens.lock().unwrap().iter().all(|t| t == REFRESHED),
        "every listing call used the refreshed token"
    );

    // Add: the project hook carries the account's secret as its token.
    let v = api
        .post(
            "/v1/integrations/gitlab/repos",
            Some(&token),
            &json!({"repo": "Diaspora/Diaspora-Client"}),
        )
        .await
        .expect(202);
    let id = v["id"].as_str().expect("repo id").to_owned();
    assert_eq!(v["webhook"]["status"], "registered", "{v}");
    {
        let hooks = replay.hooks.lock().unwrap();
        assert_eq!(hooks.len(), 1);
        let (project, body) = &hooks[0];
        assert_eq!(project, "4");
        assert_eq!(body["url"], format!("{WEB_URL}/v1/gitlab/webhook/{account_id}"));
        assert_eq!(body["token"], secret.as_str());
        assert_eq!(body["push_events"], true);
        assert_eq!(body["enable_ssl_verification"], true);
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

    // The published Push Hook payload, adapted to this project and the new head.
    let head2 = repos.commit("app", &[("src/lib.rs", "pub fn two() -> u32 {\n    2\n}\n")], "two");
    let mut push = fixture_json("webhook_events.push_hook.json");
    push["ref"] = json!("refs/heads/main");
    push["before"] = json!(head1);
    push["after"] = json!(head2);
    push["checkout_sha"] = json!(head2);
    push["project_id"] = json!(4);
    push["project"]["id"] = json!(4);
    push["project"]["path_with_namespace"] = json!("diaspora/diaspora-client");
    let body = serde_json::to_vec(&push).expect("json");
    let (status, ack) = deliver(&server.base, &account_id, Some(&secret), &body).await;
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

    // Forgeries: nothing queued, nothing recorded.
    let head3 = repos.commit("app", &[("src/lib.rs", "pub fn three() {}\n")], "three");
    push["before"] = json!(head2);
    push["after"] = json!(head3);
    let body3 = serde_json::to_vec(&push).expect("json");
    let other_code = api.admin_invite(&admin).await;
    let other = api.signup(&other_code, "other@example.com").await;
    let other_account = other["account"]["id"].as_str().expect("other account").to_owned();
    let cases: Vec<(&str, Option<String>, String)> = vec![
        ("wrong token", Some("not-the-secret".into()), account_id.clone()),
        ("token with a suffix", Some(format!("{secret}x")), account_id.clone()),
        ("no token", None, account_id.clone()),
        ("other account", Some(secret.clone()), other_account),
    ];
    for (what, tok, acct) in cases {
        let (status, v) = deliver(&server.base, &acct, tok.as_deref(), &body3).await;
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
    assert_eq!(repo["webhook"]["deliveries"][0]["event"], "Push Hook", "{repo}");
    assert!(
        server.logs().contains("webhook delivery rejected"),
        "reasons are logged"
    );

    // A refused refresh: reconnect with another short-lived token, then GitLab
    // refuses the refresh token → needs_reauth, and the picker says reconnect.
    let v = connect(&api, &token, &gl).await;
    assert_eq!(v["installation"]["needs_reauth"], false, "{v}");
    replay.refuse_refresh.store(true, Ordering::SeqCst);
    let r = api.get("/v1/integrations/gitlab/repos", Some(&token)).await;
    let message = r.expect_error(403, "provider_unauthorized");
    assert!(message.contains("reconnect GitLab"), "{message}");
    assert_eq!(replay.refreshes.load(Ordering::SeqCst), 2);
    let v = api.get("/v1/integrations", Some(&token)).await.expect(200);
    let g = gitlab_of(&v);
    assert_eq!(g["connected"], true, "{v}");
    assert_eq!(g["installation"]["needs_reauth"], true, "{v}");

    let logs = server.logs();
    for (what, s) in [
        ("the webhook secret", secret.as_str()),
        ("the access token", ACCESS),
        ("the refreshed token", REFRESHED),
        ("the client secret", CLIENT_SECRET),
    ] {
        assert!(!logs.contains(s), "{what} is never logged");
    }
}
