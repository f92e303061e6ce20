//! End to end: the real binary with Bitbucket configured against a local
//! server replaying Bitbucket's published responses (`fixtures/bitbucket/`),
//! and a real git peer (`git daemon`) whose HEAD the test advances.
//!
//! * **Cloud** — connect (install URL → signed state → callback with the
//!   OAuth code), pick across workspaces, add (a `repo:push` webhook
//!   registered on the replayed server with the account's URL and secret),
//!   the Jenkins plugin's published `repo:push` delivery adapted to the new
//!   head and signed moves the index; a wrong signature, none, or another
//!   account's URL is 401 and queues nothing; a refused token refresh marks
//!   the connection `needs_reauth`.
//! * **Data Center** — connect by `POST /v1/integrations/bitbucket/token`
//!   (a refused token is 403), pick, add (a `repo:refs_changed` webhook with
//!   `configuration.secret`), go-scm's published `repo:refs_changed` signed
//!   re-indexes to the new head; forged deliveries are 401.

mod support;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use support::{DEADLINE, GitDaemon, GitRepos, Server};

const WEB_URL: &str = "https://lettuce.e2e.example";
const CLIENT_ID: &str = "e2e-consumer";
const CLIENT_SECRET: &str = "e2e-consumer-secret";
const DC_TOKEN: &str = "BBDC-e2eTokenForJcitizen0123456789";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../fixtures/bitbucket/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
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

#[derive(Clone)]
struct Replay {
    base: String,
    clone_url: String,
    hooks: Arc<Mutex<Vec<Value>>>,
    refreshes: Arc<Mutex<Vec<String>>>,
}

async fn start_replay(clone_url: String, routes: fn(Router<Replay>) -> Router<Replay>) -> Replay {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let replay = Replay {
        base: format!("http://{}", listener.local_addr().expect("addr")),
        clone_url,
        hooks: Arc::new(Mutex::new(Vec::new())),
        refreshes: Arc::new(Mutex::new(Vec::new())),
    };
    let app = routes(Router::new()).with_state(replay.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    replay
}

async fn deliver(base: &str, account: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/v1/bitbucket/webhook/{account}"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let r = req.send().await.expect("deliver");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

struct Account {
    token: String,
    id: String,
    secret: String,
}

async fn account(server: &Server) -> Account {
    let api = server.api();
    let token = api.first_user(&server.admin_token()).await;
    let v = api.get("/v1/account", Some(&token)).await.expect(200);
    let id = v["account"]["id"]
        .as_str()
        .or_else(|| v["id"].as_str())
        .expect("account id")
        .to_owned();
    let secret = v["webhook_secret"].as_str().expect("owner sees the secret").to_owned();
    Account { token, id, secret }
}

fn bitbucket_of(v: &Value) -> Value {
    v["integrations"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["provider"] == "bitbucket"))
        .cloned()
        .unwrap_or_else(|| panic!("no bitbucket in {v}"))
}

// ---------------------------------------------------------------- Cloud replay

async fn cloud_token(
    State(r): State<Replay>,
    axum::extract::Form(f): axum::extract::Form<HashMap<String, String>>,
) -> Response {
    let grant = |access: &str, refresh: &str, expires_in: u64| {
        json_resp(
            StatusCode::OK,
            json!({"access_token": access, "scopes": "account repository:write webhook", "expires_in": expires_in, "refresh_token": refresh, "token_type": "bearer", "state": "authorization_code"}),
        )
    };
    match (
        f.get("grant_type").map(String::as_str),
        f.get("code").map(String::as_str),
    ) {
        (Some("authorization_code"), Some("good-code")) => grant("cloud-e2e-access", "cloud-e2e-refresh", 7200),
        // A token about to expire whose refresh token was revoked.
        (Some("authorization_code"), Some("short-code")) => grant("cloud-e2e-short", "revoked-refresh", 60),
        (Some("refresh_token"), _) => {
            r.refreshes
                .lock()
                .unwrap()
                .push(f.get("refresh_token").cloned().unwrap_or_default());
            json_resp(
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid_grant", "error_description": "Invalid refresh_token"}),
            )
        }
        _ => json_resp(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": "The specified code is not valid."}),
        ),
    }
}

fn cloud_ok(h: &HeaderMap) -> bool {
    matches!(bearer(h).as_str(), "cloud-e2e-access" | "cloud-e2e-short")
}

fn cloud_401() -> Response {
    json_resp(
        StatusCode::UNAUTHORIZED,
        json!({"type": "error", "error": {"message": "Access token expired."}}),
    )
}

async fn cloud_user(h: HeaderMap) -> Response {
    if !cloud_ok(&h) {
        return cloud_401();
    }
    json_resp(StatusCode::OK, fixture_json("cloud/user.json"))
}

async fn cloud_workspaces(h: HeaderMap) -> Response {
    if !cloud_ok(&h) {
        return cloud_401();
    }
    json_resp(StatusCode::OK, fixture_json("cloud/user_workspaces.json"))
}

async fn cloud_repos(
    State(r): State<Replay>,
    Path(ws): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    if !cloud_ok(&h) {
        return cloud_401();
    }
    match (ws.as_str(), q.get("page").map(String::as_str)) {
        ("my-workspace", None) => {
            let mut body = fixture_json("cloud/repos.json");
            body["next"] = json!(format!(
                "{}/2.0/repositories/my-workspace?role=contributor&pagelen=100&page=2",
                r.base
            ));
            json_resp(StatusCode::OK, body)
        }
        ("my-workspace", Some("2")) => {
            // The recorded repository whose uuid the published push names,
            // served by the local git peer.
            let mut repo = fixture_json("cloud/2.0-repositories-amuniz-test-repos.json");
            repo["links"]["clone"][0]["href"] = json!(r.clone_url);
            repo["mainbranch"]["name"] = json!("main");
            json_resp(StatusCode::OK, json!({"pagelen": 100, "values": [repo]}))
        }
        _ => json_resp(StatusCode::OK, json!({"pagelen": 100, "values": []})),
    }
}

async fn cloud_hooks(
    State(r): State<Replay>,
    method: axum::http::Method,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !cloud_ok(&h) {
        return cloud_401();
    }
    if method == axum::http::Method::GET {
        return json_resp(StatusCode::OK, fixture_json("cloud/hooks.json"));
    }
    r.hooks
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    json_resp(StatusCode::CREATED, fixture_json("cloud/hook.json"))
}

fn cloud_routes(r: Router<Replay>) -> Router<Replay> {
    r.route("/site/oauth2/access_token", post(cloud_token))
        .route("/2.0/user", get(cloud_user))
        .route("/2.0/user/workspaces", get(cloud_workspaces))
        .route("/2.0/repositories/{ws}", get(cloud_repos))
        .route(
            "/2.0/repositories/{ws}/{slug}/hooks",
            get(cloud_hooks).post(cloud_hooks),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_connect_pick_add_push_forgeries_and_refused_refresh() {
    if !support::git_available() {
        return;
    }
    let repos = GitRepos::new();
    let head1 = repos.create("app", &[("src/lib.rs", "pub fn one() -> u32 {\n    1\n}\n")]);
    let daemon = GitDaemon::start(&repos);
    let replay = start_replay(daemon.url("app"), cloud_routes).await;
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        data.path(),
        &[
            ("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS", "1"),
            ("LETTUCE_WEB_URL", WEB_URL),
            ("BITBUCKET_HOST", replay.base.as_str()),
            ("BITBUCKET_APP_CLIENT_ID", CLIENT_ID),
            ("BITBUCKET_APP_CLIENT_SECRET", CLIENT_SECRET),
        ],
    )
    .await;
    let api = server.api();
    let acct = account(&server).await;
    let token = acct.token.as_str();

    let bb = bitbucket_of(&api.get("/v1/integrations", Some(token)).await.expect(200));
    assert_eq!(bb["configured"], true, "{bb}\n{}", server.logs());
    assert_eq!(bb["connect"], "install");
    assert_eq!(bb["display_name"], "Bitbucket");

    // Connect: the consent URL carries the signed state; the callback brings the code.
    let replay_base = replay.base.clone();
    let connect = |code: &'static str| {
        let api = server.api();
        let base = replay_base.clone();
        async move {
            let url = api
                .get("/v1/integrations/bitbucket/install", Some(token))
                .await
                .expect(200)["url"]
                .as_str()
                .expect("url")
                .to_owned();
            let prefix = format!(
                "{}/site/oauth2/authorize?client_id={CLIENT_ID}&response_type=code&state=",
                base
            );
            assert!(url.starts_with(&prefix), "{url}");
            let state = url[prefix.len()..].to_owned();
            let cb = format!("/v1/integrations/bitbucket/callback?state={state}&code={code}");
            (api.get(&cb, None).await, cb)
        }
    };
    let (first, cb) = connect("good-code").await;
    let v = first.expect(200);
    assert_eq!(
        v["installation"]["external_id"], "{87bb15eb-47c1-49b3-9f16-ca824a2979a4}",
        "{v}"
    );
    assert_eq!(
        api.get(&cb, None).await.expect_error(400, "install_state_invalid"),
        "invalid or expired install state"
    );

    // Picker across workspaces and pages, then add.
    let v = api
        .get("/v1/integrations/bitbucket/repos", Some(token))
        .await
        .expect(200);
    let names: Vec<&str> = v["repos"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["full_name"].as_str())
        .collect();
    assert_eq!(names, ["atlassian/stash-example-plugin", "amuniz/test-repos"], "{v}");
    let v = api
        .post(
            "/v1/integrations/bitbucket/repos",
            Some(token),
            &json!({"repo": "amuniz/test-repos"}),
        )
        .await
        .expect(202);
    let id = v["id"].as_str().expect("repo id").to_owned();
    assert_eq!(v["webhook"]["status"], "registered", "{v}");
    {
        let hooks = replay.hooks.lock().unwrap();
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0]["url"], format!("{WEB_URL}/v1/bitbucket/webhook/{}", acct.id));
        assert_eq!(hooks[0]["secret"], acct.secret.as_str());
        assert_eq!(hooks[0]["events"], json!(["repo:push"]));
    }
    let repo = api
        .wait_repo(
            token,
            &id,
            DEADLINE,
            |r| r["status"] == "ready" || r["status"] == "failed",
            || server.logs(),
        )
        .await;
    assert_eq!(repo["indexed_commit"], head1.as_str(), "{repo}\n{}", server.logs());

    // The Jenkins plugin's published repo:push, on this repo's branch and new head, signed.
    let head2 = repos.commit("app", &[("src/lib.rs", "pub fn two() -> u32 {\n    2\n}\n")], "two");
    let mut push = fixture_json("cloud/signed_payload.json");
    push["push"]["changes"][0]["new"]["name"] = json!("main");
    push["push"]["changes"][0]["new"]["target"]["hash"] = json!(head2);
    let body = serde_json::to_vec(&push).expect("json");
    let headers = |sig: Option<String>, delivery: &str| {
        let mut h = vec![
            ("x-event-key", "repo:push".to_owned()),
            ("x-request-uuid", delivery.to_owned()),
        ];
        if let Some(s) = sig {
            h.push(("x-hub-signature", s));
        }
        h
    };
    let (status, ack) = deliver(
        &server.base,
        &acct.id,
        &headers(Some(sign(&acct.secret, &body)), "e2e-cloud-1"),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{ack}\n{}", server.logs());
    assert_eq!(ack["outcome"], "queued", "{ack}");
    let repo = api
        .wait_repo(
            token,
            &id,
            DEADLINE,
            |r| r["indexed_commit"] == head2.as_str(),
            || server.logs(),
        )
        .await;
    assert_eq!(repo["status"], "ready", "{repo}");

    // Forgeries: 401, nothing queued or recorded.
    let head3 = repos.commit("app", &[("src/lib.rs", "pub fn three() {}\n")], "three");
    push["push"]["changes"][0]["new"]["target"]["hash"] = json!(head3);
    let body3 = serde_json::to_vec(&push).expect("json");
    let other_code = api.admin_invite(&server.admin_token()).await;
    let other = api.signup(&other_code, "other@example.com").await;
    let other_account = other["account"]["id"].as_str().expect("other account").to_owned();
    let cases = [
        ("wrong signature", Some(sign("not-the-secret", &body3)), acct.id.clone()),
        ("no signature", None, acct.id.clone()),
        ("other account", Some(sign(&acct.secret, &body3)), other_account),
    ];
    for (i, (what, sig, to)) in cases.into_iter().enumerate() {
        let (status, v) = deliver(&server.base, &to, &headers(sig, &format!("e2e-forged-{i}")), &body3).await;
        assert_eq!(status, 401, "{what}: {v}");
        assert_eq!(v["error"]["code"], "webhook_rejected", "{what}: {v}");
    }
    let repo = api.get(&format!("/v1/repos/{id}"), Some(token)).await.expect(200);
    assert_eq!(
        (repo["status"].as_str(), repo["indexed_commit"].as_str()),
        (Some("ready"), Some(head2.as_str())),
        "{repo}"
    );
    assert_eq!(
        repo["webhook"]["deliveries"].as_array().map(Vec::len),
        Some(1),
        "{repo}"
    );

    // Reconnect with a token about to expire whose refresh is refused: the
    // next call refreshes, Bitbucket refuses, the connection needs re-auth.
    let (second, _) = connect("short-code").await;
    second.expect(200);
    let r = api.get("/v1/integrations/bitbucket/repos", Some(token)).await;
    let msg = r.expect_error(403, "provider_unauthorized");
    assert!(msg.contains("refresh token"), "{msg}");
    assert_eq!(*replay.refreshes.lock().unwrap(), ["revoked-refresh"]);
    let bb = bitbucket_of(&api.get("/v1/integrations", Some(token)).await.expect(200));
    assert_eq!(bb["installation"]["needs_reauth"], true, "{bb}");

    let logs = server.logs();
    assert!(!logs.contains(&acct.secret), "the webhook secret is never logged");
    for t in ["cloud-e2e-access", "cloud-e2e-refresh", CLIENT_SECRET] {
        assert!(!logs.contains(t), "{t} is never logged");
    }
}

// ---------------------------------------------------------------- Data Center replay

fn dc_401() -> Response {
    json_resp(
        StatusCode::UNAUTHORIZED,
        json!({"errors": [{"context": null, "message": "Authentication failed. Please check your credentials and try again.", "exceptionName": "com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException"}]}),
    )
}

async fn dc_whoami(h: HeaderMap) -> Response {
    if bearer(&h) != DC_TOKEN {
        return dc_401();
    }
    (StatusCode::OK, "jcitizen").into_response()
}

async fn dc_user(h: HeaderMap) -> Response {
    if bearer(&h) != DC_TOKEN {
        return dc_401();
    }
    json_resp(StatusCode::OK, fixture_json("dc/user.json"))
}

async fn dc_repos(State(r): State<Replay>, Query(q): Query<HashMap<String, String>>, h: HeaderMap) -> Response {
    if bearer(&h) != DC_TOKEN {
        return dc_401();
    }
    assert_eq!(q.get("permission").map(String::as_str), Some("REPO_WRITE"));
    match q.get("start").map(String::as_str) {
        Some("0") => {
            let mut body = fixture_json("dc/repos.json");
            body["nextPageStart"] = json!(2);
            // The first recorded repo, served by the local git peer.
            body["values"][0]["links"]["clone"][1]["href"] = json!(r.clone_url);
            json_resp(StatusCode::OK, body)
        }
        _ => json_resp(
            StatusCode::OK,
            fixture_json("dc/1.0-projects-amuniz-repos_start_0_limit_200.json"),
        ),
    }
}

async fn dc_default_branch(h: HeaderMap) -> Response {
    if bearer(&h) != DC_TOKEN {
        return dc_401();
    }
    let mut b = fixture_json("dc/default_branch.json");
    b["id"] = json!("refs/heads/main");
    b["displayId"] = json!("main");
    json_resp(StatusCode::OK, b)
}

async fn dc_hooks(
    State(r): State<Replay>,
    method: axum::http::Method,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if bearer(&h) != DC_TOKEN {
        return dc_401();
    }
    if method == axum::http::Method::GET {
        return json_resp(StatusCode::OK, fixture_json("dc/webhooks.json"));
    }
    r.hooks
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    json_resp(StatusCode::CREATED, fixture_json("dc/webhook.json"))
}

fn dc_routes(r: Router<Replay>) -> Router<Replay> {
    r.route("/plugins/servlet/applinks/whoami", get(dc_whoami))
        .route("/rest/api/1.0/users/{slug}", get(dc_user))
        .route("/rest/api/1.0/repos", get(dc_repos))
        .route(
            "/rest/api/1.0/projects/{key}/repos/{slug}/branches/default",
            get(dc_default_branch),
        )
        .route(
            "/rest/api/1.0/projects/{key}/repos/{slug}/webhooks",
            get(dc_hooks).post(dc_hooks),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_token_connect_pick_add_push_and_forgeries() {
    if !support::git_available() {
        return;
    }
    let repos = GitRepos::new();
    let head1 = repos.create("app", &[("src/lib.rs", "pub fn one() -> u32 {\n    1\n}\n")]);
    let daemon = GitDaemon::start(&repos);
    let replay = start_replay(daemon.url("app"), dc_routes).await;
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        data.path(),
        &[
            ("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS", "1"),
            ("LETTUCE_WEB_URL", WEB_URL),
            ("BITBUCKET_FLAVOR", "dc"),
            ("BITBUCKET_HOST", replay.base.as_str()),
        ],
    )
    .await;
    let api = server.api();
    let acct = account(&server).await;
    let token = acct.token.as_str();

    let bb = bitbucket_of(&api.get("/v1/integrations", Some(token)).await.expect(200));
    assert_eq!(
        (bb["configured"].as_bool(), bb["connect"].as_str()),
        (Some(true), Some("token")),
        "{bb}"
    );
    assert_eq!(bb["display_name"], "Bitbucket Data Center");

    // A refused token, then the user's HTTP access token.
    let r = api
        .post(
            "/v1/integrations/bitbucket/token",
            Some(token),
            &json!({"token": "BBDC-revoked"}),
        )
        .await;
    let msg = r.expect_error(403, "provider_token_refused");
    assert!(msg.contains("Bitbucket refused the token"), "{msg}");
    let v = api
        .post(
            "/v1/integrations/bitbucket/token",
            Some(token),
            &json!({"token": DC_TOKEN}),
        )
        .await
        .expect(200);
    assert_eq!(v["installation"]["external_id"], "jcitizen", "{v}");

    // Picker (both pages), add.
    let v = api
        .get("/v1/integrations/bitbucket/repos", Some(token))
        .await
        .expect(200);
    assert_eq!(v["repos"].as_array().map(Vec::len), Some(5), "both pages: {v}");
    let v = api
        .post(
            "/v1/integrations/bitbucket/repos",
            Some(token),
            &json!({"repo": "PRJ/my-repo"}),
        )
        .await
        .expect(202);
    let id = v["id"].as_str().expect("repo id").to_owned();
    assert_eq!(v["webhook"]["status"], "registered", "{v}");
    assert_eq!(
        v["webhook"]["branch"], "main",
        "the default branch from branches/default: {v}"
    );
    {
        let hooks = replay.hooks.lock().unwrap();
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0]["url"], format!("{WEB_URL}/v1/bitbucket/webhook/{}", acct.id));
        assert_eq!(hooks[0]["configuration"]["secret"], acct.secret.as_str());
        assert_eq!(hooks[0]["events"], json!(["repo:refs_changed"]));
    }
    let repo = api
        .wait_repo(
            token,
            &id,
            DEADLINE,
            |r| r["status"] == "ready" || r["status"] == "failed",
            || server.logs(),
        )
        .await;
    assert_eq!(repo["indexed_commit"], head1.as_str(), "{repo}\n{}", server.logs());

    // go-scm's published repo:refs_changed, on this branch and new head, signed.
    let head2 = repos.commit("app", &[("src/lib.rs", "pub fn two() -> u32 {\n    2\n}\n")], "two");
    let mut push = fixture_json("dc/webhook-push.json");
    push["changes"][0]["ref"]["id"] = json!("refs/heads/main");
    push["changes"][0]["ref"]["displayId"] = json!("main");
    push["changes"][0]["refId"] = json!("refs/heads/main");
    push["changes"][0]["fromHash"] = json!(head1);
    push["changes"][0]["toHash"] = json!(head2);
    let body = serde_json::to_vec(&push).expect("json");
    let headers = |sig: Option<String>, delivery: &str| {
        let mut h = vec![
            ("x-event-key", "repo:refs_changed".to_owned()),
            ("x-request-id", delivery.to_owned()),
        ];
        if let Some(s) = sig {
            h.push(("x-hub-signature", s));
        }
        h
    };
    let (status, ack) = deliver(
        &server.base,
        &acct.id,
        &headers(Some(sign(&acct.secret, &body)), "e2e-dc-1"),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{ack}\n{}", server.logs());
    assert_eq!(ack["outcome"], "queued", "{ack}");
    let repo = api
        .wait_repo(
            token,
            &id,
            DEADLINE,
            |r| r["indexed_commit"] == head2.as_str(),
            || server.logs(),
        )
        .await;
    assert_eq!(repo["status"], "ready", "{repo}");

    // Forged: wrong signature, none, one byte changed, replayed id.
    let mut changed = body.clone();
    let at = changed.len() / 2;
    changed[at] ^= 0x01;
    let cases = [
        ("wrong signature", Some(sign("nope", &body)), body.clone(), "e2e-dc-f1"),
        ("no signature", None, body.clone(), "e2e-dc-f2"),
        (
            "one byte changed",
            Some(sign(&acct.secret, &body)),
            changed,
            "e2e-dc-f3",
        ),
        (
            "replayed delivery",
            Some(sign(&acct.secret, &body)),
            body.clone(),
            "e2e-dc-1",
        ),
    ];
    for (what, sig, b, delivery) in cases {
        let (status, v) = deliver(&server.base, &acct.id, &headers(sig, delivery), &b).await;
        assert_eq!(status, 401, "{what}: {v}");
        assert_eq!(v["error"]["code"], "webhook_rejected", "{what}: {v}");
    }
    let repo = api.get(&format!("/v1/repos/{id}"), Some(token)).await.expect(200);
    assert_eq!(
        repo["webhook"]["deliveries"].as_array().map(Vec::len),
        Some(1),
        "{repo}"
    );
    let logs = server.logs();
    assert!(!logs.contains(DC_TOKEN), "the access token is never logged");
    assert!(!logs.contains(&acct.secret), "the webhook secret is never logged");
}
