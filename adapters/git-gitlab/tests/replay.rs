//! The GitLab adapter against a local server replaying GitLab's published
//! responses (`fixtures/gitlab/`, copied from GitLab's docs, gitlab4j-api
//! and go-gitlab): the OAuth code exchange and refresh (client credentials
//! and redirect URI checked), the user lookup, the project listing across
//! pages (`Link` and `X-Next-Page`), project hooks (create, reuse, read,
//! delete), and 401/403/404/429 mapped to the port's errors. No GitLab
//! server can run here; this is the most real peer.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lettuce_domain::codehost::{Installation, ProviderCredentials};
use lettuce_domain::repo::RepoUrl;
use lettuce_domain::{AccountId, Secret, UserId};
use lettuce_git_gitlab::{GitLabConfig, GitLabOAuth};
use lettuce_ports::config::Settings;
use lettuce_ports::git::{
    GitError, GitProvider, HookInfo, InstallCallback, ProviderStatus, RemoteRepo, WebhookEvent, WebhookTarget,
};
use lettuce_ports::testing::provider::{ContractEvents, GitProviderFixture, git_provider_contract_with};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const CLIENT_ID: &str = "gl-app-id";
const CLIENT_SECRET: &str = "gl-app-secret";
const WEB_URL: &str = "https://lettuce.example";
/// `oauth2.token_response.authorization_code.json`'s tokens.
const ACCESS: &str = "de6780bc506a0446309bd9362820ba8aed28aa506c71eedbe1c5c4f9dd350e54";
const REFRESH: &str = "8257e65c97202ed1726cf9571600918f3bffb2544b26e00a61df9897668c33a1";
/// `oauth2.token_response.refresh_token.json`'s access token.
const REFRESHED: &str = "c97d1fe52119f38c7f67f0a14db68d60caa35ddc86fd12401718b649dcfa9c68";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../fixtures/gitlab/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
}

#[derive(Default)]
struct Seen {
    token_forms: Vec<HashMap<String, String>>,
    project_pages: Vec<Option<String>>,
    hooks: Vec<(String, String, Value)>,
    deleted: Vec<String>,
}

#[derive(Clone)]
struct Replay {
    base: String,
    seen: Arc<Mutex<Seen>>,
}

fn json_resp(status: StatusCode, body: Value) -> Response {
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

/// GitLab's REST error body (`{"message": "401 Unauthorized"}`).
fn gitlab_error(status: StatusCode, message: &str) -> Response {
    json_resp(status, json!({ "message": message }))
}

/// Doorkeeper's OAuth error body (RFC 6749 §5.2), as GitLab's `/oauth/token` answers.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_resp(status, json!({ "error": error, "error_description": description }))
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

/// A published token response, `created_at` moved to now (the recorded one
/// is from 2020, so the token would look long expired).
fn token_now(name: &str) -> Value {
    let mut body = fixture_json(name);
    if body.get("created_at").is_some() {
        body["created_at"] = json!(chrono::Utc::now().timestamp());
    }
    body
}

async fn oauth_token(
    State(r): State<Replay>,
    axum::extract::Form(f): axum::extract::Form<HashMap<String, String>>,
) -> Response {
    r.seen.lock().unwrap().token_forms.push(f.clone());
    let field = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
        );
    }
    let invalid_grant = || {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
        )
    };
    if field("redirect_uri") != format!("{WEB_URL}/v1/integrations/gitlab/callback") {
        return invalid_grant();
    }
    match (field("grant_type"), field("code"), field("refresh_token")) {
        ("authorization_code", "good-code", _) => json_resp(
            StatusCode::OK,
            token_now("oauth2.token_response.authorization_code.json"),
        ),
        ("authorization_code", "gitlab4j-code", _) => json_resp(StatusCode::OK, token_now("gitlab4j.oauth-token.json")),
        ("refresh_token", _, REFRESH) => {
            json_resp(StatusCode::OK, token_now("oauth2.token_response.refresh_token.json"))
        }
        _ => invalid_grant(),
    }
}

async fn user(h: HeaderMap) -> Response {
    if !authorized(&h) {
        return gitlab_error(StatusCode::UNAUTHORIZED, "401 Unauthorized");
    }
    json_resp(StatusCode::OK, fixture_json("users.get_current_user.json"))
}

async fn projects(State(r): State<Replay>, Query(q): Query<HashMap<String, String>>, h: HeaderMap) -> Response {
    if bearer(&h) == "rate-limited" {
        let reset = (chrono::Utc::now().timestamp() + 90).to_string();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("ratelimit-limit", "2000".to_owned()),
                ("ratelimit-remaining", "0".to_owned()),
                ("ratelimit-reset", reset),
                ("content-type", "text/plain".to_owned()),
            ],
            "Retry later\n",
        )
            .into_response();
    }
    if !authorized(&h) {
        return gitlab_error(StatusCode::UNAUTHORIZED, "401 Unauthorized");
    }
    if q.get("membership").map(String::as_str) != Some("true")
        || q.get("min_access_level").map(String::as_str) != Some("30")
    {
        return gitlab_error(StatusCode::BAD_REQUEST, "the picker asks for Developer+ memberships");
    }
    let page = q.get("page").cloned();
    r.seen.lock().unwrap().project_pages.push(page.clone());
    let api = format!("{}/api/v4/projects", r.base);
    match page.as_deref() {
        // Page 1: both headers, as GitLab sends them.
        None | Some("1") => (
            [
                (
                    "link",
                    format!("<{api}?membership=true&min_access_level=30&page=2&per_page=100>; rel=\"next\", <{api}?membership=true&min_access_level=30&page=1&per_page=100>; rel=\"first\""),
                ),
                ("x-next-page", "2".to_owned()),
                ("x-page", "1".to_owned()),
            ],
            json_resp(StatusCode::OK, fixture_json("projects.list_user_projects.json")),
        )
            .into_response(),
        // Page 2: only `X-Next-Page` (no `Link`).
        Some("2") => {
            let single = fixture_json("projects.get_single_project.json");
            (
                [("x-next-page", "3".to_owned()), ("x-page", "2".to_owned())],
                json_resp(StatusCode::OK, json!([single])),
            )
                .into_response()
        }
        // Page 3, the last: a `next` link to another origin must not be
        // followed (the token would leave the GitLab host).
        _ => (
            [
                ("link", "<https://evil.example/steal?page=4>; rel=\"next\"".to_owned()),
                ("x-next-page", String::new()),
                ("x-page", "3".to_owned()),
            ],
            json_resp(StatusCode::OK, json!([])),
        )
            .into_response(),
    }
}

fn hook_for(id: u64, url: &str) -> Value {
    let mut hook = fixture_json("project_webhooks.get_hook.json");
    hook["id"] = json!(id);
    hook["url"] = json!(url);
    hook
}

async fn project_hooks(
    State(r): State<Replay>,
    Path(project): Path<String>,
    method: axum::http::Method,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&h) {
        return gitlab_error(StatusCode::UNAUTHORIZED, "401 Unauthorized");
    }
    match project.as_str() {
        "403" => return gitlab_error(StatusCode::FORBIDDEN, "403 Forbidden"),
        "404" => return gitlab_error(StatusCode::NOT_FOUND, "404 Project Not Found"),
        "429" => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "30"), ("content-type", "text/plain")],
                "Retry later\n",
            )
                .into_response();
        }
        _ => {}
    }
    if method == axum::http::Method::GET {
        // Project 6 already has Lettuce's hook (a retry).
        let hooks = if project == "6" {
            json!([hook_for(77, &format!("{WEB_URL}/v1/gitlab/webhook/acct"))])
        } else {
            json!([])
        };
        return json_resp(StatusCode::OK, hooks);
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.seen
        .lock()
        .unwrap()
        .hooks
        .push(("POST".into(), project.clone(), v.clone()));
    // The POST answer is the hook object (gitlab4j-api's recorded one).
    let mut hook = fixture_json("gitlab4j.hook.json");
    hook["url"] = v["url"].clone();
    json_resp(StatusCode::CREATED, hook)
}

async fn project_hook(
    State(r): State<Replay>,
    Path((project, hook)): Path<(String, String)>,
    method: axum::http::Method,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&h) {
        return gitlab_error(StatusCode::UNAUTHORIZED, "401 Unauthorized");
    }
    let url = format!("{WEB_URL}/v1/gitlab/webhook/acct");
    let key = format!("{project}/{hook}");
    let gone = r.seen.lock().unwrap().deleted.contains(&key);
    match (method.as_str(), hook.as_str()) {
        (_, "404") => gitlab_error(StatusCode::NOT_FOUND, "404 Not found"),
        // A deleted hook is gone (GET and DELETE answer 404).
        (_, _) if gone => gitlab_error(StatusCode::NOT_FOUND, "404 Not found"),
        ("GET", "1") => json_resp(StatusCode::OK, hook_for(1, &url)),
        ("GET", "2") => {
            let mut v = hook_for(2, &url);
            v["alert_status"] = json!("disabled");
            json_resp(StatusCode::OK, v)
        }
        ("PUT", id) => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            r.seen.lock().unwrap().hooks.push(("PUT".into(), project, v));
            json_resp(StatusCode::OK, hook_for(id.parse().unwrap_or(0), &url))
        }
        ("DELETE", _) => {
            r.seen.lock().unwrap().deleted.push(key);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => gitlab_error(StatusCode::NOT_FOUND, "404 Not found"),
    }
}

async fn start() -> Replay {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let replay = Replay {
        base,
        seen: Arc::new(Mutex::new(Seen::default())),
    };
    let app = Router::new()
        .route("/oauth/token", post(oauth_token))
        .route("/api/v4/user", get(user))
        .route("/api/v4/projects", get(projects))
        .route("/api/v4/projects/{id}/hooks", get(project_hooks).post(project_hooks))
        .route(
            "/api/v4/projects/{id}/hooks/{hook}",
            get(project_hook).put(project_hook).delete(project_hook),
        )
        .with_state(replay.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    replay
}

fn config(vars: &[(&str, &str)]) -> GitLabConfig {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    let mut s = Settings::new(&map);
    let c = GitLabConfig::from_settings(&mut s).expect("config");
    assert!(s.into_errors().is_empty());
    c
}

fn provider_with_secret(replay: &Replay, secret: &str) -> GitLabOAuth {
    GitLabOAuth::new(
        config(&[("GITLAB_HOST", &replay.base), ("GITLAB_APP_CLIENT_ID", CLIENT_ID)]),
        Some(Secret::new(secret)),
        Some(format!("{WEB_URL}/")),
    )
    .expect("provider")
}

fn provider(replay: &Replay) -> GitLabOAuth {
    provider_with_secret(replay, CLIENT_SECRET)
}

fn installation(access: &str, refresh: Option<&str>) -> Installation {
    Installation {
        account_id: AccountId(uuid::Uuid::new_v4()),
        provider: "gitlab".into(),
        external_id: "1".into(),
        connected_by: UserId(uuid::Uuid::new_v4()),
        connected_at: chrono::Utc::now(),
        scopes: vec![],
        needs_reauth: false,
        sealed_credentials: None,
        credentials: Some(ProviderCredentials {
            access_token: Secret::new(access),
            refresh_token: refresh.map(Secret::new),
            expires_at: None,
        }),
    }
}

fn project(id: &str, name: &str) -> RemoteRepo {
    RemoteRepo {
        id: id.into(),
        full_name: name.into(),
        clone_url: format!("https://gitlab.example.com/{name}.git"),
        default_branch: Some("main".into()),
        private: true,
    }
}

fn target() -> WebhookTarget {
    WebhookTarget {
        url: format!("{WEB_URL}/v1/gitlab/webhook/acct"),
        secret: Secret::new("account-secret"),
    }
}

#[tokio::test]
async fn passes_the_provider_contract_against_replayed_gitlab() {
    let replay = start().await;
    let gl = provider(&replay);
    let fx = GitProviderFixture {
        installation: installation(ACCESS, Some(REFRESH)),
        callback: InstallCallback {
            code: Some("good-code".into()),
            ..InstallCallback::default()
        },
        external_id: "1".into(),
        repos: vec![
            "diaspora/diaspora-client".into(),
            "brightbox/puppet".into(),
            "diaspora/diaspora-project-site".into(),
        ],
        ping: (Vec::new(), None),
        push: (
            fixture("webhook_events.push_hook.json"),
            WebhookEvent::Push {
                provider_repo_id: "15".into(),
                full_name: "mike/diaspora".into(),
                branch: Some("master".into()),
                head: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7".into(),
            },
        ),
        hook_url: target().url,
    };
    git_provider_contract_with(
        &gl,
        &fx,
        ContractEvents {
            push: "Push Hook",
            ping: None,
        },
    )
    .await;
    let seen = replay.seen.lock().unwrap();
    assert_eq!(
        seen.project_pages,
        vec![None, Some("2".into()), Some("3".into())],
        "Link, then X-Next-Page, then stop at the foreign link"
    );
    let (method, project, body) = &seen.hooks[0];
    assert_eq!((method.as_str(), project.as_str()), ("POST", "4"));
    assert_eq!(body["url"], target().url);
    assert_eq!(body["token"], "contract-secret");
    assert_eq!(body["push_events"], true);
    assert_eq!(body["enable_ssl_verification"], true);
}

#[tokio::test]
async fn install_url_code_exchange_refresh_and_clone_credentials() {
    let replay = start().await;
    let gl = provider(&replay);
    assert_eq!(gl.status(), ProviderStatus::Ready);
    assert_eq!(
        gl.install_url("a.b").unwrap(),
        format!(
            "{}/oauth/authorize?client_id={CLIENT_ID}&redirect_uri=https%3A%2F%2Flettuce.example%2Fv1%2Fintegrations%2Fgitlab%2Fcallback&response_type=code&state=a.b&scope=api+read_repository+write_repository",
            replay.base
        )
    );

    // The code exchange: tokens, expiry = created_at + expires_in, the user id.
    let before = chrono::Utc::now().timestamp();
    let grant = gl
        .complete_install(&InstallCallback {
            code: Some("good-code".into()),
            ..InstallCallback::default()
        })
        .await
        .expect("exchange");
    assert_eq!(grant.external_id, "1");
    assert_eq!(grant.scopes, ["api", "read_repository", "write_repository"]);
    let creds = grant.credentials.expect("OAuth credentials");
    assert_eq!(creds.access_token.expose(), ACCESS);
    assert_eq!(creds.refresh_token.as_ref().map(|s| s.expose()), Some(REFRESH));
    let exp = creds.expires_at.expect("expires").timestamp();
    assert!(
        exp >= before + 7200 && exp <= chrono::Utc::now().timestamp() + 7200,
        "{exp}"
    );
    {
        let seen = replay.seen.lock().unwrap();
        let form = &seen.token_forms[0];
        assert_eq!(form["grant_type"], "authorization_code");
        assert_eq!(form["code"], "good-code");
        assert_eq!(form["client_id"], CLIENT_ID);
        assert_eq!(form["client_secret"], CLIENT_SECRET);
        assert_eq!(
            form["redirect_uri"],
            format!("{WEB_URL}/v1/integrations/gitlab/callback")
        );
    }

    // A token answer with `scope` and without `expires_in` (gitlab4j-api's).
    let grant = gl
        .complete_install(&InstallCallback {
            code: Some("gitlab4j-code".into()),
            ..InstallCallback::default()
        })
        .await;
    // Its access token is not one the replayed /user accepts: 401 → reconnect.
    match grant {
        Err(GitError::Unauthorized { message }) => assert!(message.contains("reconnect GitLab"), "{message}"),
        other => panic!("{other:?}"),
    }

    // Refresh: the published refresh answer.
    let fresh = gl
        .refresh_credentials(&installation(ACCESS, Some(REFRESH)))
        .await
        .expect("refresh");
    assert_eq!(fresh.access_token.expose(), REFRESHED);
    assert_eq!(
        fresh.refresh_token.as_ref().map(|s| s.expose()),
        Some("803c1fd487fec35562c205dac93e9d8e08f9d3652a24079d704df3039df1158f")
    );
    assert!(fresh.expires_at.is_some());
    {
        let seen = replay.seen.lock().unwrap();
        let form = seen.token_forms.last().unwrap();
        assert_eq!(form["grant_type"], "refresh_token");
        assert_eq!(form["refresh_token"], REFRESH);
    }

    // Clone credentials: oauth2:<token> for the GitLab host only, never printed.
    let own = RepoUrl::parse(&format!("{}/diaspora/diaspora-client.git", replay.base)).unwrap();
    let c = gl
        .clone_credentials(&installation(ACCESS, None), &own)
        .await
        .unwrap()
        .expect("credentials for its own host");
    assert_eq!(c.username, "oauth2");
    assert_eq!(c.password.expose(), ACCESS);
    assert!(!format!("{c:?}").contains(ACCESS), "the token never prints");
    assert!(
        !format!("{gl:?}").contains(CLIENT_SECRET),
        "the client secret never prints"
    );
    let foreign = RepoUrl::parse("https://github.com/a/b.git").unwrap();
    assert!(
        gl.clone_credentials(&installation(ACCESS, None), &foreign)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn refusals_of_the_oauth_endpoint() {
    let replay = start().await;
    let gl = provider(&replay);
    let cases = [
        (Some("bad-code"), None, "invalid_grant"),
        (None, None, "no authorization code"),
        (None, Some("access_denied"), "access_denied"),
    ];
    for (code, error, want) in cases {
        let cb = InstallCallback {
            code: code.map(Into::into),
            error: error.map(Into::into),
            ..InstallCallback::default()
        };
        match gl.complete_install(&cb).await {
            Err(GitError::Unauthorized { message }) => assert!(message.contains(want), "{message}"),
            other => panic!("{code:?}: {other:?}"),
        }
    }
    // A revoked refresh token: Unauthorized, telling the user to reconnect.
    match gl.refresh_credentials(&installation(ACCESS, Some("revoked"))).await {
        Err(GitError::Unauthorized { message }) => {
            assert!(message.contains("invalid_grant"), "{message}");
            assert!(message.contains("reconnect GitLab"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match gl.refresh_credentials(&installation(ACCESS, None)).await {
        Err(GitError::Unauthorized { message }) => assert!(message.contains("reconnect GitLab"), "{message}"),
        other => panic!("{other:?}"),
    }
    // The operator's client secret is wrong: the message says which variables.
    let wrong = provider_with_secret(&replay, "not-the-secret");
    match wrong.refresh_credentials(&installation(ACCESS, Some(REFRESH))).await {
        Err(GitError::Unauthorized { message }) => {
            assert!(message.contains("GITLAB_APP_CLIENT_SECRET"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn project_hooks_create_reuse_read_and_delete() {
    let replay = start().await;
    let gl = provider(&replay);
    let inst = installation(ACCESS, None);
    // Project 6 already has a hook to this URL: it is updated, not duplicated.
    let id = gl
        .register_webhook(&inst, &project("6", "brightbox/puppet"), &target())
        .await
        .expect("hook");
    assert_eq!(id, "77");
    {
        let seen = replay.seen.lock().unwrap();
        let (method, project, body) = &seen.hooks[0];
        assert_eq!((method.as_str(), project.as_str()), ("PUT", "6"));
        assert_eq!(body["token"], "account-secret");
    }
    let id = gl
        .register_webhook(&inst, &project("4", "diaspora/diaspora-client"), &target())
        .await
        .expect("hook");
    assert_eq!(id, "1", "the id of the created hook");

    let repo = project("4", "diaspora/diaspora-client");
    assert_eq!(
        gl.webhook_info(&inst, &repo, "1").await.unwrap(),
        Some(HookInfo {
            url: target().url,
            active: true
        })
    );
    assert_eq!(
        gl.webhook_info(&inst, &repo, "2").await.unwrap().map(|h| h.active),
        Some(false),
        "alert_status disabled → inactive"
    );
    assert_eq!(gl.webhook_info(&inst, &repo, "404").await.unwrap(), None);
    gl.delete_webhook(&inst, &repo, "1").await.expect("delete");
    gl.delete_webhook(&inst, &repo, "404")
        .await
        .expect("a gone hook is fine");
    assert_eq!(replay.seen.lock().unwrap().deleted, vec!["4/1".to_string()]);
}

#[tokio::test]
async fn errors_and_rate_limits_map_to_port_errors() {
    let replay = start().await;
    let gl = provider(&replay);
    let inst = installation(ACCESS, None);
    match gl.list_repos(&installation("revoked-token", None)).await {
        Err(GitError::Unauthorized { message }) => {
            assert!(
                message.contains("401 Unauthorized") && message.contains("reconnect GitLab"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    match gl
        .register_webhook(&inst, &project("403", "acme/developer-only"), &target())
        .await
    {
        Err(GitError::PermissionDenied { message }) => {
            assert!(message.contains("acme/developer-only"), "{message}");
            assert!(message.contains("Maintainer"), "{message}");
            assert!(message.contains("write_repository"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match gl
        .register_webhook(&inst, &project("404", "acme/gone"), &target())
        .await
    {
        Err(GitError::PermissionDenied { message }) => {
            assert!(
                message.contains("acme/gone") && message.contains("404 Project Not Found"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    match gl
        .register_webhook(&inst, &project("429", "acme/busy"), &target())
        .await
    {
        Err(e @ GitError::RateLimited { .. }) => {
            assert!(e.is_retryable());
            assert_eq!(e.retry_after().map(|d| d.as_secs()), Some(30), "Retry-After");
        }
        other => panic!("{other:?}"),
    }
    match gl.list_repos(&installation("rate-limited", None)).await {
        Err(e @ GitError::RateLimited { .. }) => {
            let wait = e.retry_after().expect("RateLimit-Reset gives the wait");
            assert!(wait.as_secs() > 60 && wait.as_secs() <= 90, "{wait:?}");
            assert!(e.to_string().contains("Retry later"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let no_token = Installation {
        credentials: None,
        ..inst.clone()
    };
    match gl.list_repos(&no_token).await {
        Err(GitError::Unauthorized { message }) => assert!(message.contains("reconnect GitLab"), "{message}"),
        other => panic!("{other:?}"),
    }
    // Visibility maps to `private`.
    let repos = gl.list_repos(&inst).await.expect("list");
    assert!(repos.iter().all(|r| r.private), "the fixtures are private projects");
    assert_eq!(repos[0].clone_url, "http://example.com/diaspora/diaspora-client.git");
    assert_eq!(repos[0].default_branch.as_deref(), Some("master"));
}

#[test]
fn parses_published_push_and_tag_payloads() {
    let gl = GitLabOAuth::new(config(&[]), None, None).unwrap();
    let push = gl.parse_webhook("Push Hook", &fixture("go-gitlab.push.json")).unwrap();
    assert_eq!(
        push,
        WebhookEvent::Push {
            provider_repo_id: "15".into(),
            full_name: "mike/diaspora".into(),
            branch: Some("master".into()),
            head: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7".into(),
        }
    );
    for tag in ["webhook_events.tag_push_hook.json", "go-gitlab.tag_push.json"] {
        match gl.parse_webhook("Tag Push Hook", &fixture(tag)).unwrap() {
            WebhookEvent::Push {
                branch,
                provider_repo_id,
                full_name,
                ..
            } => {
                assert_eq!(branch, None, "{tag}: a tag push names no branch");
                assert_eq!((provider_repo_id.as_str(), full_name.as_str()), ("1", "jsmith/example"));
            }
            other => panic!("{tag}: {other:?}"),
        }
    }
    assert_eq!(
        gl.parse_webhook("Merge Request Hook", b"{}").unwrap(),
        WebhookEvent::Other {
            event: "Merge Request Hook".into()
        }
    );
    let mut bad = fixture_json("webhook_events.push_hook.json");
    bad["after"] = json!("not-a-sha");
    let cases = [
        b"[1,2]".to_vec(),
        b"{not json".to_vec(),
        serde_json::to_vec(&bad).unwrap(),
        br#"{"ref":"refs/heads/main","after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}"#.to_vec(),
    ];
    for body in cases {
        assert!(
            matches!(
                gl.parse_webhook("Push Hook", &body),
                Err(GitError::MalformedPayload { .. })
            ),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    let scheme = gl.webhook_scheme().unwrap();
    assert_eq!(scheme.signature_header, "x-gitlab-token");
    assert!(scheme.token);
    assert_eq!(scheme.event_header, "x-gitlab-event");
    assert_eq!(scheme.delivery_header, None);
}

#[tokio::test]
async fn missing_variables_are_named() {
    let gl = GitLabOAuth::new(
        config(&[("GITLAB_APP_CLIENT_ID", CLIENT_ID)]),
        None,
        Some(WEB_URL.into()),
    )
    .unwrap();
    assert_eq!(gl.missing(), ["GITLAB_APP_CLIENT_SECRET"]);
    match gl.status() {
        ProviderStatus::NotConfigured { message } => {
            assert!(
                message.starts_with("GitLab is not configured on this Lettuce instance: set GITLAB_APP_CLIENT_SECRET "),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    let none = GitLabOAuth::new(config(&[]), Some(Secret::new("  ")), None).unwrap();
    assert_eq!(
        none.missing(),
        ["GITLAB_APP_CLIENT_ID", "GITLAB_APP_CLIENT_SECRET", "LETTUCE_WEB_URL"]
    );
    match none.status() {
        ProviderStatus::NotConfigured { message } => assert!(
            message.contains("set GITLAB_APP_CLIENT_ID, GITLAB_APP_CLIENT_SECRET, LETTUCE_WEB_URL on"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(gl.install_url("s"), Err(GitError::NotConfigured { .. })));
    assert!(matches!(
        gl.list_repos(&installation(ACCESS, None)).await,
        Err(GitError::NotConfigured { .. })
    ));
    assert!(matches!(
        gl.complete_install(&InstallCallback {
            code: Some("c".into()),
            ..InstallCallback::default()
        })
        .await,
        Err(GitError::NotConfigured { .. })
    ));
    assert_eq!(
        GitLabOAuth::new(
            config(&[("GITLAB_APP_CLIENT_ID", CLIENT_ID)]),
            Some(Secret::new("s")),
            Some(format!("{WEB_URL}/"))
        )
        .unwrap()
        .redirect_uri(),
        Some("https://lettuce.example/v1/integrations/gitlab/callback")
    );
}
