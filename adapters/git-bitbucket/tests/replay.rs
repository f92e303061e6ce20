//! The Bitbucket adapter, both flavours, against local servers replaying
//! Bitbucket's published responses and payloads (`fixtures/bitbucket/`,
//! copied from drone/go-scm and jenkinsci/bitbucket-branch-source-plugin):
//! OAuth code exchange and refresh (and their refusal), the token check of
//! Data Center, listing across workspaces and pages (Cloud `next`, Data
//! Center `isLastPage`/`nextPageStart`), webhook create/update/get/delete,
//! 401/403/404/429, and the signed `repo:push` Jenkins publishes. No
//! Bitbucket can run here; this is the most real peer.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lettuce_domain::codehost::{Installation, ProviderCredentials, verify_hmac_sha256_signature};
use lettuce_domain::repo::RepoUrl;
use lettuce_domain::{AccountId, Secret, UserId};
use lettuce_git_bitbucket::{Bitbucket, BitbucketConfig};
use lettuce_ports::config::Settings;
use lettuce_ports::git::{
    GitError, GitProvider, HookInfo, InstallCallback, ProviderKind, ProviderStatus, RemoteRepo, WebhookEvent,
    WebhookTarget,
};
use lettuce_ports::testing::provider::{ContractEvents, GitProviderFixture, git_provider_contract_with};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const CLIENT_ID: &str = "consumer-key";
const CLIENT_SECRET: &str = "consumer-secret";
const CLOUD_TOKEN: &str = "cloud-access-1";
const CLOUD_REFRESHED: &str = "cloud-access-2";
const DC_TOKEN: &str = "BBDC-NjA0OTU2MTY2OTQ2OpQ4Lb1Ljt2sRoVr0GvE2c5ZQa9m";
const DC_OAUTH_TOKEN: &str = "dc-oauth-access";
const REDIRECT: &str = "https://lettuce.example/v1/integrations/bitbucket/callback";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../fixtures/bitbucket/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
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

fn basic(h: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let v = h.get("authorization")?.to_str().ok()?.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

#[derive(Default)]
struct Seen {
    /// (method, path, body) of every hook write.
    hook_writes: Vec<(String, String, Value)>,
    token_forms: Vec<HashMap<String, String>>,
    repo_queries: Vec<String>,
    /// Hook paths deleted (GET and DELETE then answer 404, until the repo's
    /// next registration).
    deleted: Vec<String>,
}

impl Seen {
    /// The URL last registered for hooks under `repo_path` (the body's `url`).
    fn registered_url(&self, repo_path: &str) -> Option<Value> {
        self.hook_writes
            .iter()
            .rev()
            .find(|(_, p, _)| p.starts_with(repo_path))
            .map(|(_, _, v)| v["url"].clone())
    }
}

/// A single-hook GET or DELETE against the replay's memory: 404 once
/// deleted; GET shows the registered URL in the recorded hook.
fn hook_state(
    r: &Replay,
    method: &axum::http::Method,
    repo_path: &str,
    hook_path: &str,
    recorded: Value,
    missing: Value,
) -> Option<Response> {
    let mut seen = r.seen.lock().unwrap();
    let gone = seen.deleted.iter().any(|d| d == hook_path);
    match *method {
        axum::http::Method::GET if gone => Some(json_resp(StatusCode::NOT_FOUND, missing)),
        axum::http::Method::GET => {
            let mut hook = recorded;
            if let Some(url) = seen.registered_url(repo_path) {
                hook["url"] = url;
            }
            Some(json_resp(StatusCode::OK, hook))
        }
        axum::http::Method::DELETE if gone => Some(json_resp(StatusCode::NOT_FOUND, missing)),
        axum::http::Method::DELETE => {
            seen.deleted.push(hook_path.to_owned());
            Some(StatusCode::NO_CONTENT.into_response())
        }
        _ => None,
    }
}

#[derive(Clone)]
struct Replay {
    base: String,
    seen: Arc<Mutex<Seen>>,
}

async fn start(routes: fn(Router<Replay>) -> Router<Replay>) -> Replay {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let replay = Replay {
        base,
        seen: Arc::new(Mutex::new(Seen::default())),
    };
    let app = routes(Router::new()).with_state(replay.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    replay
}

// ---------------------------------------------------------------- Cloud

fn cloud_authorized(h: &HeaderMap) -> bool {
    let t = bearer(h);
    t == CLOUD_TOKEN || t == CLOUD_REFRESHED
}

fn cloud_401() -> Response {
    json_resp(
        StatusCode::UNAUTHORIZED,
        json!({"type": "error", "error": {"message": "Access token expired. Use your refresh token to obtain a new access token."}}),
    )
}

async fn cloud_token(
    State(r): State<Replay>,
    h: HeaderMap,
    axum::extract::Form(f): axum::extract::Form<HashMap<String, String>>,
) -> Response {
    r.seen.lock().unwrap().token_forms.push(f.clone());
    if basic(&h) != Some((CLIENT_ID.into(), CLIENT_SECRET.into())) {
        return json_resp(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client", "error_description": "Invalid OAuth client credentials"}),
        );
    }
    // The documented answer (no published sample exists: see the README).
    let grant = |access: &str, state: &str| {
        json_resp(
            StatusCode::OK,
            json!({"access_token": access, "scopes": "account repository:write webhook", "expires_in": 7200, "refresh_token": "cloud-refresh-1", "token_type": "bearer", "state": state}),
        )
    };
    match (
        f.get("grant_type").map(String::as_str),
        f.get("code"),
        f.get("refresh_token"),
    ) {
        (Some("authorization_code"), Some(c), _) if c == "good-code" => grant(CLOUD_TOKEN, "authorization_code"),
        (Some("refresh_token"), _, Some(t)) if t == "cloud-refresh-1" => grant(CLOUD_REFRESHED, "refresh_token"),
        (Some("refresh_token"), _, _) => json_resp(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": "Invalid refresh_token"}),
        ),
        _ => json_resp(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": "The specified code is not valid."}),
        ),
    }
}

async fn cloud_user(h: HeaderMap) -> Response {
    if !cloud_authorized(&h) {
        return cloud_401();
    }
    json_resp(StatusCode::OK, fixture_json("cloud/user.json"))
}

async fn cloud_workspaces(h: HeaderMap) -> Response {
    if !cloud_authorized(&h) {
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
    if !cloud_authorized(&h) {
        return cloud_401();
    }
    r.seen
        .lock()
        .unwrap()
        .repo_queries
        .push(format!("{ws} role={}", q.get("role").cloned().unwrap_or_default()));
    if q.get("role").map(String::as_str) != Some("contributor") {
        return json_resp(
            StatusCode::BAD_REQUEST,
            json!({"type": "error", "error": {"message": "role"}}),
        );
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
            // The recorded last page holds the same repository: make it a
            // second one, and point `next` at another origin (never followed).
            let mut body = fixture_json("cloud/repos-2.json");
            body["values"][0]["uuid"] = json!("{0a1b2c3d-0000-4000-8000-000000000002}");
            body["values"][0]["full_name"] = json!("atlassian/second-page");
            body["next"] = json!("https://evil.example/2.0/repositories?page=3");
            json_resp(StatusCode::OK, body)
        }
        ("team-workspace", _) => json_resp(
            StatusCode::OK,
            json!({"pagelen": 100, "values": [fixture_json("cloud/2.0-repositories-amuniz-test-repos.json")]}),
        ),
        _ => json_resp(StatusCode::NOT_FOUND, fixture_json("cloud/error.json")),
    }
}

async fn cloud_hooks(
    State(r): State<Replay>,
    Path((ws, slug)): Path<(String, String)>,
    method: axum::http::Method,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !cloud_authorized(&h) {
        return cloud_401();
    }
    let full = format!("{ws}/{slug}");
    match full.as_str() {
        "atlassian/no-hooks" => {
            return json_resp(
                StatusCode::FORBIDDEN,
                json!({"type": "error", "error": {"message": "Your credentials lack one or more required privilege scopes.", "detail": {"granted": ["repository"], "required": ["webhook"]}}}),
            );
        }
        "atlassian/limited" => {
            return (
                [("retry-after", "30")],
                json_resp(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"type": "error", "error": {"message": "Rate limit for this resource has been exceeded"}}),
                ),
            )
                .into_response();
        }
        "atlassian/gone" => return json_resp(StatusCode::NOT_FOUND, fixture_json("cloud/error.json")),
        _ => {}
    }
    if method == axum::http::Method::GET {
        return json_resp(StatusCode::OK, fixture_json("cloud/hooks.json"));
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = format!("/2.0/repositories/{full}/hooks");
    let mut seen = r.seen.lock().unwrap();
    seen.deleted.retain(|d| !d.starts_with(&path));
    seen.hook_writes.push(("POST".into(), path, v));
    json_resp(StatusCode::CREATED, fixture_json("cloud/hook.json"))
}

async fn cloud_hook(
    State(r): State<Replay>,
    Path((ws, slug, uid)): Path<(String, String, String)>,
    method: axum::http::Method,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !cloud_authorized(&h) {
        return cloud_401();
    }
    if uid != "{d53603cc-3f67-45ea-b310-aaa5ef6ec061}" {
        return json_resp(StatusCode::NOT_FOUND, fixture_json("cloud/error.json"));
    }
    let repo_path = format!("/2.0/repositories/{ws}/{slug}/hooks");
    let hook_path = format!("{repo_path}/{uid}");
    if let Some(resp) = hook_state(
        &r,
        &method,
        &repo_path,
        &hook_path,
        fixture_json("cloud/hook.json"),
        fixture_json("cloud/error.json"),
    ) {
        return resp;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.seen
        .lock()
        .unwrap()
        .hook_writes
        .push(("PUT".into(), format!("/2.0/repositories/{ws}/{slug}/hooks/{uid}"), v));
    json_resp(StatusCode::OK, fixture_json("cloud/hook.json"))
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
        .route(
            "/2.0/repositories/{ws}/{slug}/hooks/{uid}",
            get(cloud_hook).put(cloud_hook).delete(cloud_hook),
        )
}

// ---------------------------------------------------------------- Data Center

fn dc_authorized(h: &HeaderMap) -> bool {
    let t = bearer(h);
    t == DC_TOKEN || t == DC_OAUTH_TOKEN
}

fn dc_401() -> Response {
    json_resp(
        StatusCode::UNAUTHORIZED,
        json!({"errors": [{"context": null, "message": "Authentication failed. Please check your credentials and try again.", "exceptionName": "com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException"}]}),
    )
}

async fn dc_whoami(h: HeaderMap) -> Response {
    if h.get("authorization").is_none() {
        return (StatusCode::OK, "").into_response();
    }
    if !dc_authorized(&h) {
        return dc_401();
    }
    (StatusCode::OK, "jcitizen").into_response()
}

async fn dc_user(Path(slug): Path<String>, h: HeaderMap) -> Response {
    if !dc_authorized(&h) {
        return dc_401();
    }
    if slug != "jcitizen" {
        return json_resp(StatusCode::NOT_FOUND, fixture_json("dc/error.json"));
    }
    json_resp(StatusCode::OK, fixture_json("dc/user.json"))
}

async fn dc_repos(State(r): State<Replay>, Query(q): Query<HashMap<String, String>>, h: HeaderMap) -> Response {
    if !dc_authorized(&h) {
        return dc_401();
    }
    r.seen.lock().unwrap().repo_queries.push(format!(
        "permission={} start={}",
        q.get("permission").cloned().unwrap_or_default(),
        q.get("start").cloned().unwrap_or_default()
    ));
    if q.get("permission").map(String::as_str) != Some("REPO_WRITE") {
        return json_resp(StatusCode::BAD_REQUEST, fixture_json("dc/error.json"));
    }
    match q.get("start").map(String::as_str) {
        Some("0") => {
            // The recorded first page says `isLastPage: false` without a
            // `nextPageStart`; add the one Bitbucket sends with it.
            let mut body = fixture_json("dc/repos.json");
            body["nextPageStart"] = json!(2);
            json_resp(StatusCode::OK, body)
        }
        Some("2") => json_resp(
            StatusCode::OK,
            fixture_json("dc/1.0-projects-amuniz-repos_start_0_limit_200.json"),
        ),
        _ => json_resp(StatusCode::BAD_REQUEST, fixture_json("dc/error.json")),
    }
}

async fn dc_default_branch(Path((key, slug)): Path<(String, String)>, h: HeaderMap) -> Response {
    if !dc_authorized(&h) {
        return dc_401();
    }
    if (key.as_str(), slug.as_str()) == ("AMUNIZ", "dogs-repo") {
        // An empty repository has no default branch.
        return json_resp(StatusCode::NOT_FOUND, fixture_json("dc/error.json"));
    }
    json_resp(StatusCode::OK, fixture_json("dc/default_branch.json"))
}

fn dc_special(key: &str, slug: &str) -> Option<Response> {
    match (key, slug) {
        ("PRJ", "no-admin") => Some(json_resp(
            StatusCode::FORBIDDEN,
            json!({"errors": [{"context": null, "message": "You are not permitted to access this resource", "exceptionName": "com.atlassian.bitbucket.AuthorisationException"}]}),
        )),
        ("PRJ", "limited") => Some(
            (
                [("retry-after", "30")],
                json_resp(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"errors": [{"message": "Rate limit exceeded"}]}),
                ),
            )
                .into_response(),
        ),
        ("PRJ", "gone") => Some(json_resp(StatusCode::NOT_FOUND, fixture_json("dc/error.json"))),
        _ => None,
    }
}

async fn dc_hooks(
    State(r): State<Replay>,
    Path((key, slug)): Path<(String, String)>,
    method: axum::http::Method,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !dc_authorized(&h) {
        return dc_401();
    }
    if let Some(resp) = dc_special(&key, &slug) {
        return resp;
    }
    if method == axum::http::Method::GET {
        return json_resp(StatusCode::OK, fixture_json("dc/webhooks.json"));
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = format!("/projects/{key}/repos/{slug}/webhooks");
    let mut seen = r.seen.lock().unwrap();
    seen.deleted.retain(|d| !d.starts_with(&path));
    seen.hook_writes.push(("POST".into(), path, v));
    json_resp(StatusCode::CREATED, fixture_json("dc/webhook.json"))
}

async fn dc_hook(
    State(r): State<Replay>,
    Path((key, slug, id)): Path<(String, String, String)>,
    method: axum::http::Method,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !dc_authorized(&h) {
        return dc_401();
    }
    if let Some(resp) = dc_special(&key, &slug) {
        return resp;
    }
    if id != "1" {
        return json_resp(StatusCode::NOT_FOUND, fixture_json("dc/error.json"));
    }
    let repo_path = format!("/projects/{key}/repos/{slug}/webhooks");
    let hook_path = format!("{repo_path}/{id}");
    if let Some(resp) = hook_state(
        &r,
        &method,
        &repo_path,
        &hook_path,
        fixture_json("dc/webhook.json"),
        fixture_json("dc/error.json"),
    ) {
        return resp;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.seen
        .lock()
        .unwrap()
        .hook_writes
        .push(("PUT".into(), format!("/projects/{key}/repos/{slug}/webhooks/{id}"), v));
    json_resp(StatusCode::OK, fixture_json("dc/webhook.json"))
}

async fn dc_token(
    State(r): State<Replay>,
    axum::extract::Form(f): axum::extract::Form<HashMap<String, String>>,
) -> Response {
    r.seen.lock().unwrap().token_forms.push(f.clone());
    let client_ok = f.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && f.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
        && f.get("redirect_uri").map(String::as_str) == Some(REDIRECT);
    if !client_ok {
        return json_resp(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
        );
    }
    let grant = || {
        json_resp(
            StatusCode::OK,
            json!({"scope": "REPO_ADMIN", "access_token": DC_OAUTH_TOKEN, "refresh_token": "dc-refresh", "token_type": "bearer", "expires_in": 7200}),
        )
    };
    match (
        f.get("grant_type").map(String::as_str),
        f.get("code"),
        f.get("refresh_token"),
    ) {
        (Some("authorization_code"), Some(c), _) if c == "dc-code" => grant(),
        (Some("refresh_token"), _, Some(t)) if t == "dc-refresh" => grant(),
        _ => json_resp(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": "Invalid or expired grant"}),
        ),
    }
}

fn dc_routes(r: Router<Replay>) -> Router<Replay> {
    r.route("/plugins/servlet/applinks/whoami", get(dc_whoami))
        .route("/rest/oauth2/latest/token", post(dc_token))
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
        .route(
            "/rest/api/1.0/projects/{key}/repos/{slug}/webhooks/{id}",
            get(dc_hook).put(dc_hook).delete(dc_hook),
        )
}

// ---------------------------------------------------------------- helpers

fn config(vars: &[(&str, &str)]) -> BitbucketConfig {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    let mut s = Settings::new(&map);
    let c = BitbucketConfig::from_settings(&mut s).expect("config");
    assert!(s.into_errors().is_empty());
    c
}

fn cloud(replay: &Replay) -> Bitbucket {
    Bitbucket::new(
        config(&[
            ("BITBUCKET_HOST", replay.base.as_str()),
            ("BITBUCKET_APP_CLIENT_ID", CLIENT_ID),
        ]),
        Some(Secret::new(CLIENT_SECRET)),
        REDIRECT.into(),
    )
    .expect("provider")
}

fn dc(replay: &Replay, oauth: bool) -> Bitbucket {
    let mut vars = vec![("BITBUCKET_FLAVOR", "dc"), ("BITBUCKET_HOST", replay.base.as_str())];
    if oauth {
        vars.push(("BITBUCKET_APP_CLIENT_ID", CLIENT_ID));
    }
    Bitbucket::new(
        config(&vars),
        oauth.then(|| Secret::new(CLIENT_SECRET)),
        REDIRECT.into(),
    )
    .expect("provider")
}

fn installation(external_id: &str, creds: ProviderCredentials) -> Installation {
    Installation {
        account_id: AccountId(uuid::Uuid::new_v4()),
        provider: "bitbucket".into(),
        external_id: external_id.into(),
        connected_by: UserId(uuid::Uuid::new_v4()),
        connected_at: chrono::Utc::now(),
        scopes: vec![],
        needs_reauth: false,
        sealed_credentials: None,
        credentials: Some(creds),
    }
}

fn cloud_installation(token: &str) -> Installation {
    installation(
        "{87bb15eb-47c1-49b3-9f16-ca824a2979a4}",
        ProviderCredentials {
            access_token: Secret::new(token),
            refresh_token: Some(Secret::new("cloud-refresh-1")),
            expires_at: Some(chrono::Utc::now() + chrono::Duration::hours(2)),
        },
    )
}

fn dc_installation(token: &str) -> Installation {
    installation("jcitizen", ProviderCredentials::bearer(Secret::new(token)))
}

fn remote(full_name: &str) -> RemoteRepo {
    RemoteRepo {
        id: "1".into(),
        full_name: full_name.into(),
        clone_url: format!("https://bitbucket.org/{full_name}.git"),
        default_branch: Some("master".into()),
        private: true,
    }
}

fn target(url: &str) -> WebhookTarget {
    WebhookTarget {
        url: url.into(),
        secret: Secret::new("account-secret"),
    }
}

const HOOK_URL: &str = "https://lettuce.example/v1/bitbucket/webhook/0190a6f0-0000-7000-8000-000000000001";

// ---------------------------------------------------------------- Cloud tests

#[tokio::test]
async fn cloud_passes_the_provider_contract() {
    let replay = start(cloud_routes).await;
    let bb = cloud(&replay);
    assert_eq!(bb.kind(), ProviderKind::BitbucketCloud);
    assert_eq!(bb.kind().as_str(), "bitbucket");
    assert!(!bb.accepts_token());
    let fx = GitProviderFixture {
        installation: cloud_installation(CLOUD_TOKEN),
        callback: InstallCallback {
            code: Some("good-code".into()),
            ..InstallCallback::default()
        },
        external_id: "{87bb15eb-47c1-49b3-9f16-ca824a2979a4}".into(),
        repos: vec![
            "atlassian/stash-example-plugin".into(),
            "atlassian/second-page".into(),
            "amuniz/test-repos".into(),
        ],
        ping: (Vec::new(), None),
        push: (
            fixture("cloud/signed_payload.json"),
            WebhookEvent::Push {
                provider_repo_id: "{3deb8c29-778a-450c-8f69-3e50a18079df}".into(),
                full_name: "nfalco79/test-repos".into(),
                branch: Some("feature/webhook".into()),
                head: "d7f300a32270053bdfd97a6d64113f58202c33e7".into(),
            },
        ),
        hook_url: HOOK_URL.into(),
    };
    git_provider_contract_with(
        &bb,
        &fx,
        ContractEvents {
            ping: None,
            push: "repo:push",
        },
    )
    .await;
    let seen = replay.seen.lock().unwrap();
    assert_eq!(
        seen.repo_queries,
        [
            "my-workspace role=contributor",
            "my-workspace role=contributor",
            "team-workspace role=contributor"
        ],
        "every workspace, every page, contributor or more; the foreign `next` is not followed"
    );
    let (method, path, body) = &seen.hook_writes[0];
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/2.0/repositories/atlassian/stash-example-plugin/hooks")
    );
    assert_eq!(body["events"], json!(["repo:push"]));
    assert_eq!(body["url"], HOOK_URL);
    assert_eq!(body["secret"], "contract-secret");
    assert_eq!(body["active"], true);
    let form = &seen.token_forms[0];
    assert_eq!(form.get("grant_type").map(String::as_str), Some("authorization_code"));
    assert!(
        !form.contains_key("client_secret"),
        "Cloud authenticates the client with HTTP Basic"
    );
}

#[tokio::test]
async fn cloud_install_grant_refresh_and_refusals() {
    let replay = start(cloud_routes).await;
    let bb = cloud(&replay);
    assert_eq!(bb.status(), ProviderStatus::Ready);
    assert_eq!(
        bb.install_url("a.b").unwrap(),
        format!(
            "{}/site/oauth2/authorize?client_id={CLIENT_ID}&response_type=code&state=a.b",
            replay.base
        )
    );
    let grant = bb
        .complete_install(&InstallCallback {
            code: Some("good-code".into()),
            ..InstallCallback::default()
        })
        .await
        .expect("grant");
    let creds = grant.credentials.expect("OAuth tokens are kept");
    assert_eq!(creds.access_token.expose(), CLOUD_TOKEN);
    assert_eq!(
        creds.refresh_token.as_ref().map(|s| s.expose().to_owned()).as_deref(),
        Some("cloud-refresh-1")
    );
    let ttl = creds.expires_at.expect("expiry") - chrono::Utc::now();
    assert!(
        ttl > chrono::Duration::minutes(115) && ttl <= chrono::Duration::minutes(120),
        "{ttl}"
    );
    assert_eq!(grant.scopes, ["account", "repository:write", "webhook"]);
    assert!(!format!("{creds:?}").contains(CLOUD_TOKEN), "tokens never print");

    // Refresh, then a refused refresh.
    let fresh = bb
        .refresh_credentials(&cloud_installation(CLOUD_TOKEN))
        .await
        .expect("refresh");
    assert_eq!(fresh.access_token.expose(), CLOUD_REFRESHED);
    let mut revoked = cloud_installation(CLOUD_TOKEN);
    revoked.credentials.as_mut().unwrap().refresh_token = Some(Secret::new("revoked"));
    match bb.refresh_credentials(&revoked).await {
        Err(GitError::Unauthorized { message }) => {
            assert!(
                message.contains("invalid_grant") && message.contains("reconnect Bitbucket"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        replay.seen.lock().unwrap().token_forms[2]
            .get("refresh_token")
            .map(String::as_str),
        Some("revoked")
    );

    // A bad code, a cancelled consent, a pasted token, a wrong consumer secret.
    let cases = [
        (Some("bad-code"), None, "refused the authorization code"),
        (None, Some("access_denied"), "access_denied"),
        (None, None, "no authorization code"),
    ];
    for (code, error, want) in cases {
        let cb = InstallCallback {
            code: code.map(Into::into),
            error: error.map(Into::into),
            ..InstallCallback::default()
        };
        match bb.complete_install(&cb).await {
            Err(GitError::Unauthorized { message }) => assert!(message.contains(want), "{message}"),
            other => panic!("{code:?}: {other:?}"),
        }
    }
    let pasted = InstallCallback {
        token: Some(Secret::new("x")),
        ..InstallCallback::default()
    };
    assert!(matches!(
        bb.complete_install(&pasted).await,
        Err(GitError::Unauthorized { .. })
    ));
    let wrong = Bitbucket::new(
        config(&[
            ("BITBUCKET_HOST", replay.base.as_str()),
            ("BITBUCKET_APP_CLIENT_ID", CLIENT_ID),
        ]),
        Some(Secret::new("not-the-secret")),
        REDIRECT.into(),
    )
    .unwrap();
    match wrong
        .complete_install(&InstallCallback {
            code: Some("good-code".into()),
            ..InstallCallback::default()
        })
        .await
    {
        Err(GitError::Unauthorized { message }) => {
            assert!(message.contains("BITBUCKET_APP_CLIENT_SECRET"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn cloud_clone_credentials_hooks_and_errors() {
    let replay = start(cloud_routes).await;
    let bb = cloud(&replay);
    let inst = cloud_installation(CLOUD_TOKEN);
    let own = RepoUrl::parse(&format!("{}/amuniz/test-repos.git", replay.base)).unwrap();
    let creds = bb.clone_credentials(&inst, &own).await.unwrap().expect("own host");
    assert_eq!(
        (creds.username.as_str(), creds.password.expose()),
        ("x-token-auth", CLOUD_TOKEN)
    );
    let foreign = RepoUrl::parse("https://github.com/a/b.git").unwrap();
    assert!(bb.clone_credentials(&inst, &foreign).await.unwrap().is_none());

    // Hook info, update in place, delete.
    let uid = "{d53603cc-3f67-45ea-b310-aaa5ef6ec061}";
    let repo = remote("atlassian/stash-example-plugin");
    assert_eq!(
        bb.webhook_info(&inst, &repo, uid).await.unwrap(),
        Some(HookInfo {
            url: "http://example.com/webhook".into(),
            active: true
        })
    );
    assert_eq!(bb.webhook_info(&inst, &repo, "{gone}").await.unwrap(), None);
    bb.delete_webhook(&inst, &repo, uid).await.expect("delete");
    bb.delete_webhook(&inst, &repo, "{gone}")
        .await
        .expect("a hook already gone is fine");
    let id = bb
        .register_webhook(&inst, &repo, &target("http://example.com/webhook"))
        .await
        .expect("re-register");
    assert_eq!(id, uid);
    {
        let seen = replay.seen.lock().unwrap();
        let (method, path, body) = seen.hook_writes.last().unwrap();
        assert_eq!(method, "PUT", "an existing hook of ours is updated, not duplicated");
        assert_eq!(
            path,
            &format!("/2.0/repositories/atlassian/stash-example-plugin/hooks/{uid}")
        );
        assert_eq!(body["secret"], "account-secret");
    }

    // 403, 429, 404, 401.
    match bb
        .register_webhook(&inst, &remote("atlassian/no-hooks"), &target(HOOK_URL))
        .await
    {
        Err(GitError::PermissionDenied { message }) => {
            assert!(message.contains("Webhooks: Read and write"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    match bb
        .register_webhook(&inst, &remote("atlassian/limited"), &target(HOOK_URL))
        .await
    {
        Err(e @ GitError::RateLimited { .. }) => {
            assert!(e.is_retryable());
            assert_eq!(e.retry_after().map(|d| d.as_secs()), Some(30));
        }
        other => panic!("{other:?}"),
    }
    match bb
        .register_webhook(&inst, &remote("atlassian/gone"), &target(HOOK_URL))
        .await
    {
        Err(GitError::NotFound { url }) => assert!(url.contains("atlassian/gone"), "{url}"),
        other => panic!("{other:?}"),
    }
    match bb.list_repos(&cloud_installation("expired")).await {
        Err(GitError::Unauthorized { message }) => assert!(message.contains("Access token expired"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn cloud_webhooks_parse_and_the_published_signature_verifies() {
    let replay = start(cloud_routes).await;
    let bb = cloud(&replay);
    let scheme = bb.webhook_scheme().expect("scheme");
    assert_eq!(
        (
            scheme.signature_header,
            scheme.token,
            scheme.event_header,
            scheme.delivery_header
        ),
        ("x-hub-signature", false, "x-event-key", Some("x-request-uuid"))
    );
    // The Jenkins plugin's published delivery, signed with its test secret:
    // what the engine checks before parsing.
    let body = fixture("cloud/signed_payload.json");
    let sig = "sha256=f205c729821c6954aff2afe72b965c34015b4baf96ea8ddc2cc44999c014a035";
    assert_eq!(
        verify_hmac_sha256_signature(b"Gkvl$k$wyNpQAF42", &body, Some(sig)),
        Ok(())
    );
    assert!(verify_hmac_sha256_signature(b"another", &body, Some(sig)).is_err());
    match bb
        .parse_webhook("repo:push", &fixture("cloud/webhook-push.json"))
        .unwrap()
    {
        WebhookEvent::Push {
            provider_repo_id,
            full_name,
            branch,
            head,
        } => {
            assert_eq!(provider_repo_id, "{bc771cbf-829e-4c4b-b71f-a0eb3ac2b860}");
            assert_eq!(full_name, "brydzewski/foo");
            assert_eq!(branch.as_deref(), Some("master"));
            assert_eq!(head, "141977fedf5cf35aa290ac87d4b5177ac4cd9de1");
        }
        other => panic!("{other:?}"),
    }
    match bb
        .parse_webhook("repo:push", &fixture("cloud/webhook-push-branch-delete.json"))
        .unwrap()
    {
        WebhookEvent::Push { branch, head, .. } => {
            assert_eq!(branch.as_deref(), Some("develop"));
            assert_eq!(head, "0".repeat(40), "a deleted branch");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        bb.parse_webhook("repo:updated", b"{}").unwrap(),
        WebhookEvent::Other {
            event: "repo:updated".into()
        }
    );
}

#[tokio::test]
async fn cloud_without_its_consumer_is_not_configured() {
    let bb = Bitbucket::new(config(&[]), None, REDIRECT.into()).unwrap();
    assert_eq!(bb.missing(), ["BITBUCKET_APP_CLIENT_ID", "BITBUCKET_APP_CLIENT_SECRET"]);
    match bb.status() {
        ProviderStatus::NotConfigured { message } => {
            assert!(message.starts_with("Bitbucket OAuth consumer is not configured on this Lettuce instance"));
            assert!(
                message.contains("BITBUCKET_APP_CLIENT_ID, BITBUCKET_APP_CLIENT_SECRET"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(bb.install_url("s"), Err(GitError::NotConfigured { .. })));
    let half = Bitbucket::new(config(&[("BITBUCKET_APP_CLIENT_ID", "k")]), None, REDIRECT.into()).unwrap();
    assert_eq!(half.missing(), ["BITBUCKET_APP_CLIENT_SECRET"]);
    assert!(format!("{half:?}").contains("BITBUCKET_APP_CLIENT_SECRET"));
}

// ---------------------------------------------------------------- Data Center tests

#[tokio::test]
async fn dc_passes_the_provider_contract() {
    let replay = start(dc_routes).await;
    let bb = dc(&replay, true);
    assert_eq!(bb.kind(), ProviderKind::BitbucketDc);
    assert_eq!(bb.kind().as_str(), "bitbucket");
    assert!(bb.accepts_token());
    let fx = GitProviderFixture {
        installation: dc_installation(DC_TOKEN),
        callback: InstallCallback {
            token: Some(Secret::new(DC_TOKEN)),
            ..InstallCallback::default()
        },
        external_id: "jcitizen".into(),
        repos: vec![
            "PRJ/my-repo".into(),
            "PRJ/quux".into(),
            "AMUNIZ/test-repos".into(),
            "AMUNIZ/another-repo".into(),
            "AMUNIZ/dogs-repo".into(),
        ],
        ping: (fixture("dc/ping.json"), None),
        push: (
            fixture("dc/webhook-push.json"),
            WebhookEvent::Push {
                provider_repo_id: "1".into(),
                full_name: "PRJ/my-repo".into(),
                branch: Some("master".into()),
                head: "823b2230a56056231c9425d63758fa87078a66b4".into(),
            },
        ),
        hook_url: HOOK_URL.into(),
    };
    git_provider_contract_with(
        &bb,
        &fx,
        ContractEvents {
            ping: Some("diagnostics:ping"),
            push: "repo:refs_changed",
        },
    )
    .await;
    let seen = replay.seen.lock().unwrap();
    assert_eq!(
        seen.repo_queries,
        ["permission=REPO_WRITE start=0", "permission=REPO_WRITE start=2"]
    );
    let (method, path, body) = &seen.hook_writes[0];
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "/projects/PRJ/repos/my-repo/webhooks")
    );
    assert_eq!(body["events"], json!(["repo:refs_changed"]));
    assert_eq!(body["url"], HOOK_URL);
    assert_eq!(body["configuration"]["secret"], "contract-secret");
}

#[tokio::test]
async fn dc_listing_token_check_and_clone_credentials() {
    let replay = start(dc_routes).await;
    let bb = dc(&replay, false);
    assert_eq!(
        bb.status(),
        ProviderStatus::Ready,
        "Data Center works with pasted tokens alone"
    );
    assert!(matches!(bb.install_url("s"), Err(GitError::NotConfigured { .. })));
    let inst = dc_installation(DC_TOKEN);
    let repos = bb.list_repos(&inst).await.expect("list");
    let my = repos.iter().find(|r| r.full_name == "PRJ/my-repo").expect("my-repo");
    assert_eq!(my.id, "1");
    assert_eq!(
        my.clone_url, "http://example.com:7990/scm/prj/my-repo.git",
        "the user is stripped"
    );
    assert_eq!(
        my.default_branch.as_deref(),
        Some("feature_branch"),
        "from branches/default"
    );
    assert!(my.private);
    let dogs = repos.iter().find(|r| r.full_name == "AMUNIZ/dogs-repo").expect("dogs");
    assert_eq!(dogs.default_branch, None, "an empty repository has no default branch");

    // The token check: refused, anonymous, accepted.
    let paste = |t: &str| InstallCallback {
        token: Some(Secret::new(t)),
        ..InstallCallback::default()
    };
    match bb.complete_install(&paste("BBDC-revoked")).await {
        Err(GitError::Unauthorized { message }) => {
            assert!(message.starts_with("Bitbucket refused the token"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let grant = bb.complete_install(&paste(DC_TOKEN)).await.expect("token accepted");
    assert_eq!(grant.external_id, "jcitizen");
    let creds = grant.credentials.expect("the token is kept");
    assert_eq!(creds.access_token.expose(), DC_TOKEN);
    assert_eq!(
        (creds.refresh_token.is_none(), creds.expires_at.is_none()),
        (true, true)
    );
    assert!(matches!(
        bb.complete_install(&InstallCallback::default()).await,
        Err(GitError::NotConfigured { .. })
    ));

    let own = RepoUrl::parse(&format!("{}/scm/prj/my-repo.git", replay.base)).unwrap();
    let c = bb.clone_credentials(&inst, &own).await.unwrap().expect("own host");
    assert_eq!((c.username.as_str(), c.password.expose()), ("jcitizen", DC_TOKEN));
    match bb.list_repos(&dc_installation("BBDC-revoked")).await {
        Err(GitError::Unauthorized { message }) => assert!(message.contains("reconnect Bitbucket"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn dc_oauth_hooks_and_errors() {
    let replay = start(dc_routes).await;
    let bb = dc(&replay, true);
    let url = bb.install_url("st.ate").unwrap();
    let parsed = url::Url::parse(&url).unwrap();
    assert_eq!(parsed.path(), "/rest/oauth2/latest/authorize");
    let q: HashMap<String, String> = parsed.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "REPO_ADMIN");
    assert_eq!(q["state"], "st.ate");
    let grant = bb
        .complete_install(&InstallCallback {
            code: Some("dc-code".into()),
            ..InstallCallback::default()
        })
        .await
        .expect("OAuth grant");
    assert_eq!(grant.external_id, "jcitizen");
    assert_eq!(grant.scopes, ["REPO_ADMIN"]);
    let mut inst = installation("jcitizen", grant.credentials.expect("tokens"));
    let fresh = bb.refresh_credentials(&inst).await.expect("refresh");
    assert_eq!(fresh.access_token.expose(), DC_OAUTH_TOKEN);
    inst.credentials.as_mut().unwrap().refresh_token = Some(Secret::new("stale"));
    assert!(matches!(
        bb.refresh_credentials(&inst).await,
        Err(GitError::Unauthorized { .. })
    ));
    match bb
        .complete_install(&InstallCallback {
            code: Some("bad".into()),
            ..InstallCallback::default()
        })
        .await
    {
        Err(GitError::Unauthorized { .. }) => {}
        other => panic!("{other:?}"),
    }

    // Hooks: info, update in place, delete; 403, 429, 404.
    let inst = dc_installation(DC_TOKEN);
    let repo = remote("PRJ/my-repo");
    assert_eq!(
        bb.webhook_info(&inst, &repo, "1").await.unwrap(),
        Some(HookInfo {
            url: "http://example.com".into(),
            active: true
        })
    );
    assert_eq!(bb.webhook_info(&inst, &repo, "42").await.unwrap(), None);
    bb.delete_webhook(&inst, &repo, "1").await.expect("delete");
    bb.delete_webhook(&inst, &repo, "42").await.expect("already gone");
    assert_eq!(
        bb.register_webhook(&inst, &repo, &target("http://example.com"))
            .await
            .unwrap(),
        "1"
    );
    assert_eq!(
        replay
            .seen
            .lock()
            .unwrap()
            .hook_writes
            .last()
            .map(|(m, p, _)| (m.clone(), p.clone())),
        Some(("PUT".into(), "/projects/PRJ/repos/my-repo/webhooks/1".into()))
    );
    match bb
        .register_webhook(&inst, &remote("PRJ/no-admin"), &target(HOOK_URL))
        .await
    {
        Err(GitError::PermissionDenied { message }) => {
            assert!(message.contains("Repository admin"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    match bb
        .register_webhook(&inst, &remote("PRJ/limited"), &target(HOOK_URL))
        .await
    {
        Err(e @ GitError::RateLimited { .. }) => assert_eq!(e.retry_after().map(|d| d.as_secs()), Some(30)),
        other => panic!("{other:?}"),
    }
    match bb.webhook_info(&inst, &remote("PRJ/gone"), "7").await {
        Ok(None) => {}
        other => panic!("a repo gone means its hook is gone: {other:?}"),
    }
    match bb.register_webhook(&inst, &remote("PRJ/gone"), &target(HOOK_URL)).await {
        Err(GitError::NotFound { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn dc_webhook_payloads() {
    let replay = start(dc_routes).await;
    let bb = dc(&replay, false);
    let scheme = bb.webhook_scheme().expect("scheme");
    assert_eq!(
        (scheme.signature_header, scheme.event_header, scheme.delivery_header),
        ("x-hub-signature", "x-event-key", Some("x-request-id"))
    );
    match bb
        .parse_webhook("repo:refs_changed", &fixture("dc/webhook-push-branch-delete.json"))
        .unwrap()
    {
        WebhookEvent::Push { branch, head, .. } => {
            assert!(branch.is_some());
            assert_eq!(head, "0".repeat(40), "a deleted branch");
        }
        other => panic!("{other:?}"),
    }
    match bb
        .parse_webhook("repo:refs_changed", &fixture("dc/webhook-push-tag-create.json"))
        .unwrap()
    {
        WebhookEvent::Push { branch, .. } => assert_eq!(branch, None, "a tag"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        bb.parse_webhook("diagnostics:ping", &fixture("dc/ping.json")).unwrap(),
        WebhookEvent::Ping { provider_repo_id: None }
    );
    assert_eq!(
        bb.parse_webhook("repo:push", b"{}").unwrap(),
        WebhookEvent::Other {
            event: "repo:push".into()
        },
        "Cloud's event is not Data Center's"
    );
}
