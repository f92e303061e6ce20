//! The GitHub adapter against a local server replaying GitHub's published
//! responses (`fixtures/github/`, copied from github/rest-api-description,
//! octokit/webhooks and github/docs): App JWT verified with the test key's
//! public half, installation tokens cached, listing across pages, webhook
//! registration, the OAuth check of the install callback, rate limits and
//! errors. No GitHub server can run here; this is the most real peer.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lettuce_domain::codehost::Installation;
use lettuce_domain::repo::RepoUrl;
use lettuce_domain::{AccountId, Secret, UserId};
use lettuce_git_github::{GitHubApp, GitHubConfig};
use lettuce_ports::config::Settings;
use lettuce_ports::git::{
    GitError, GitProvider, InstallCallback, ProviderStatus, RemoteRepo, WebhookEvent, WebhookTarget,
};
use lettuce_ports::testing::provider::{GitProviderFixture, git_provider_contract};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const APP_ID: &str = "4242";
const TOKEN: &str = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../fixtures/github/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
}

#[derive(Default)]
struct Seen {
    token_calls: usize,
    hooks: Vec<(String, Value)>,
    deleted_hooks: Vec<String>,
}

#[derive(Clone)]
struct Replay {
    base: String,
    seen: Arc<Mutex<Seen>>,
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

async fn access_tokens(State(r): State<Replay>, Path(id): Path<String>, h: HeaderMap) -> Response {
    // The App JWT must verify with the App's public key and name the App.
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&fixture("test-app-key.pub.pem")).expect("public key");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_issuer(&[APP_ID]);
    v.set_required_spec_claims(&["exp", "iat", "iss"]);
    if jsonwebtoken::decode::<Value>(&bearer(&h), &key, &v).is_err() {
        return json_resp(
            StatusCode::UNAUTHORIZED,
            json!({"message": "A JSON web token could not be decoded"}),
        );
    }
    r.seen.lock().unwrap().token_calls += 1;
    if id != "1" {
        return json_resp(StatusCode::NOT_FOUND, json!({"message": "Not Found"}));
    }
    let mut body = fixture_json("apps__create-installation-access-token.201.default.json");
    // The recorded expiry is in 2016: move it to one hour from now.
    body["expires_at"] = json!((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
    json_resp(StatusCode::CREATED, body)
}

async fn repositories(State(r): State<Replay>, Query(q): Query<HashMap<String, String>>, h: HeaderMap) -> Response {
    if bearer(&h) != TOKEN {
        return json_resp(StatusCode::UNAUTHORIZED, json!({"message": "Bad credentials"}));
    }
    let mut body = fixture_json("apps__list-repos-accessible-to-installation.200.default.json");
    if q.get("page").map(String::as_str) == Some("2") {
        let mut second = body["repositories"][0].clone();
        second["id"] = json!(1296270);
        second["full_name"] = json!("octocat/Second-Page");
        second["clone_url"] = json!("https://github.com/octocat/Second-Page.git");
        body["repositories"] = json!([second]);
        // A `next` link to another origin must not be followed (the token
        // would leave the API host).
        return (
            [("link", "<https://evil.example/steal?page=3>; rel=\"next\"".to_owned())],
            json_resp(StatusCode::OK, body),
        )
            .into_response();
    }
    let next = format!(
        "<{}/api/v3/installation/repositories?per_page=100&page=2>; rel=\"next\", <{}/api/v3/installation/repositories?per_page=100&page=2>; rel=\"last\"",
        r.base, r.base
    );
    ([("link", next)], json_resp(StatusCode::OK, body)).into_response()
}

async fn hooks(
    State(r): State<Replay>,
    Path((owner, repo)): Path<(String, String)>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if bearer(&h) != TOKEN {
        return json_resp(StatusCode::UNAUTHORIZED, json!({"message": "Bad credentials"}));
    }
    let full = format!("{owner}/{repo}");
    match full.as_str() {
        "octocat/no-hooks" => json_resp(
            StatusCode::FORBIDDEN,
            json!({"message": "Resource not accessible by integration"}),
        ),
        "octocat/limited" => {
            let reset = (chrono::Utc::now().timestamp() + 90).to_string();
            (
                [
                    ("x-ratelimit-limit", "5000".to_owned()),
                    ("x-ratelimit-remaining", "0".to_owned()),
                    ("x-ratelimit-reset", reset),
                ],
                json_resp(
                    StatusCode::FORBIDDEN,
                    json!({"message": "API rate limit exceeded for installation ID 1."}),
                ),
            )
                .into_response()
        }
        "octocat/secondary" => json_resp(
            StatusCode::FORBIDDEN,
            json!({"message": "You have exceeded a secondary rate limit and have been temporarily blocked from content creation. Please retry your request again later."}),
        ),
        _ => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            r.seen.lock().unwrap().hooks.push((full, v));
            json_resp(
                StatusCode::CREATED,
                fixture_json("repos__create-webhook.201.default.json"),
            )
        }
    }
}

/// `GET /repos/{owner}/{repo}/hooks/{id}`: the recorded hook, with the URL
/// registered for the repo; 404 once deleted or never registered.
async fn hook_get(
    State(r): State<Replay>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    h: HeaderMap,
) -> Response {
    if bearer(&h) != TOKEN {
        return json_resp(StatusCode::UNAUTHORIZED, json!({"message": "Bad credentials"}));
    }
    let full = format!("{owner}/{repo}");
    let seen = r.seen.lock().unwrap();
    let mut body = fixture_json("repos__create-webhook.201.default.json");
    let registered = seen.hooks.iter().rev().find(|(f, _)| *f == full);
    match registered {
        Some((_, reg))
            if body["id"].as_u64().map(|n| n.to_string()).as_deref() == Some(id.as_str())
                && !seen.deleted_hooks.contains(&full) =>
        {
            body["config"]["url"] = reg["config"]["url"].clone();
            json_resp(StatusCode::OK, body)
        }
        _ => json_resp(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
    }
}

/// `DELETE /repos/{owner}/{repo}/hooks/{id}`: 204, then 404.
async fn hook_delete(
    State(r): State<Replay>,
    Path((owner, repo, _id)): Path<(String, String, String)>,
    h: HeaderMap,
) -> Response {
    if bearer(&h) != TOKEN {
        return json_resp(StatusCode::UNAUTHORIZED, json!({"message": "Bad credentials"}));
    }
    let full = format!("{owner}/{repo}");
    let mut seen = r.seen.lock().unwrap();
    if seen.deleted_hooks.contains(&full) {
        return json_resp(StatusCode::NOT_FOUND, json!({"message": "Not Found"}));
    }
    seen.deleted_hooks.push(full);
    StatusCode::NO_CONTENT.into_response()
}

async fn oauth_token(axum::extract::Form(f): axum::extract::Form<HashMap<String, String>>) -> Response {
    if f.get("client_secret").map(String::as_str) != Some("client-secret")
        || f.get("client_id").map(String::as_str) != Some("Iv1.client")
    {
        return json_resp(
            StatusCode::OK,
            json!({"error": "incorrect_client_credentials", "error_description": "The client_id and/or client_secret passed are incorrect."}),
        );
    }
    if f.get("code").map(String::as_str) != Some("good-code") {
        return json_resp(
            StatusCode::OK,
            json!({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}),
        );
    }
    json_resp(
        StatusCode::OK,
        json!({"access_token": "ghu_user", "token_type": "bearer", "scope": ""}),
    )
}

async fn user_installations(h: HeaderMap) -> Response {
    if bearer(&h) != "ghu_user" {
        return json_resp(StatusCode::UNAUTHORIZED, json!({"message": "Bad credentials"}));
    }
    json_resp(
        StatusCode::OK,
        fixture_json("apps__list-installations-for-authenticated-user.200.default.json"),
    )
}

async fn start() -> Replay {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let replay = Replay {
        base,
        seen: Arc::new(Mutex::new(Seen::default())),
    };
    let app = Router::new()
        .route("/api/v3/app/installations/{id}/access_tokens", post(access_tokens))
        .route("/api/v3/installation/repositories", get(repositories))
        .route("/api/v3/repos/{owner}/{repo}/hooks", post(hooks))
        .route(
            "/api/v3/repos/{owner}/{repo}/hooks/{id}",
            get(hook_get).delete(hook_delete),
        )
        .route("/api/v3/user/installations", get(user_installations))
        .route("/login/oauth/access_token", post(oauth_token))
        .with_state(replay.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    replay
}

fn config(host: &str, vars: &[(&str, &str)]) -> GitHubConfig {
    let mut map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    map.insert("GITHUB_HOST".into(), host.into());
    let mut s = Settings::new(&map);
    let c = GitHubConfig::from_settings(&mut s).expect("config");
    assert!(s.into_errors().is_empty());
    c
}

fn app(replay: &Replay) -> GitHubApp {
    let key = String::from_utf8(fixture("test-app-key.pem")).expect("pem");
    GitHubApp::new(
        config(
            &replay.base,
            &[
                ("GITHUB_APP_ID", APP_ID),
                ("GITHUB_APP_NAME", "lettuce-test"),
                ("GITHUB_APP_CLIENT_ID", "Iv1.client"),
            ],
        ),
        Some(Secret::new(key)),
        Some(Secret::new("client-secret")),
    )
    .expect("app")
}

fn installation(id: &str) -> Installation {
    Installation {
        account_id: AccountId(uuid_v4()),
        provider: "github".into(),
        external_id: id.into(),
        connected_by: UserId(uuid_v4()),
        connected_at: chrono::Utc::now(),
        scopes: vec![],
        needs_reauth: false,
        sealed_credentials: None,
        credentials: None,
    }
}

fn uuid_v4() -> uuid::Uuid {
    uuid::Uuid::new_v4()
}

fn remote(name: &str) -> RemoteRepo {
    RemoteRepo {
        id: "1".into(),
        full_name: name.into(),
        clone_url: format!("https://github.com/{name}.git"),
        default_branch: Some("main".into()),
        private: true,
    }
}

fn target() -> WebhookTarget {
    WebhookTarget {
        url: "https://lettuce.example/v1/github/webhook/0190a6f0-0000-7000-8000-000000000001".into(),
        secret: Secret::new("account-secret"),
    }
}

#[tokio::test]
async fn passes_the_provider_contract_against_replayed_github() {
    let replay = start().await;
    let gh = app(&replay);
    let fx = GitProviderFixture {
        installation: installation("1"),
        callback: InstallCallback {
            installation_id: Some("1".into()),
            code: Some("good-code".into()),
            setup_action: Some("install".into()),
            error: None,
            token: None,
        },
        external_id: "1".into(),
        repos: vec!["octocat/Hello-World".into(), "octocat/Second-Page".into()],
        ping: (fixture("ping.payload.json"), Some("186853261".into())),
        push: (
            fixture("push.with-new-branch.payload.json"),
            WebhookEvent::Push {
                provider_repo_id: "186853002".into(),
                full_name: "Codertocat/Hello-World".into(),
                branch: Some("master".into()),
                head: "6113728f27ae82c7b1a177c8d03f9e96e0adf246".into(),
            },
        ),
        hook_url: target().url,
    };
    git_provider_contract(&gh, &fx).await;
    let seen = replay.seen.lock().unwrap();
    assert_eq!(seen.token_calls, 1, "the installation token is cached");
    let (repo, body) = &seen.hooks[0];
    assert_eq!(repo, "octocat/Hello-World");
    assert_eq!(body["events"], json!(["push"]));
    assert_eq!(body["config"]["content_type"], "json");
    assert_eq!(body["config"]["secret"], "contract-secret");
}

#[tokio::test]
async fn install_url_tokens_and_clone_credentials() {
    let replay = start().await;
    let gh = app(&replay);
    assert_eq!(gh.status(), ProviderStatus::Ready);
    assert_eq!(
        gh.install_url("a.b").unwrap(),
        format!("{}/apps/lettuce-test/installations/new?state=a.b", replay.base)
    );
    let own = RepoUrl::parse(&format!("{}/octocat/Hello-World.git", replay.base)).unwrap();
    let creds = gh
        .clone_credentials(&installation("1"), &own)
        .await
        .unwrap()
        .expect("credentials for its own host");
    assert_eq!(creds.username, "x-access-token");
    assert_eq!(creds.password.expose(), TOKEN);
    assert!(!format!("{creds:?}").contains(TOKEN), "the token never prints");
    let foreign = RepoUrl::parse("https://gitlab.example/a/b.git").unwrap();
    assert!(
        gh.clone_credentials(&installation("1"), &foreign)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(replay.seen.lock().unwrap().token_calls, 1);
}

#[tokio::test]
async fn callbacks_that_github_refuses() {
    let replay = start().await;
    let gh = app(&replay);
    let cases = [
        (Some("1"), Some("bad-code"), "bad_verification_code"),
        (
            Some("999"),
            Some("good-code"),
            "not one the signed-in GitHub user can access",
        ),
        (
            Some("1"),
            None,
            "Request user authorization (OAuth) during installation",
        ),
        (None, Some("good-code"), "no installation_id"),
    ];
    for (id, code, want) in cases {
        let cb = InstallCallback {
            installation_id: id.map(Into::into),
            code: code.map(Into::into),
            ..InstallCallback::default()
        };
        match gh.complete_install(&cb).await {
            Err(GitError::Unauthorized { message }) => assert!(message.contains(want), "{message}"),
            other => panic!("{id:?} {code:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn errors_and_rate_limits_map_to_port_errors() {
    let replay = start().await;
    let gh = app(&replay);
    match gh
        .register_webhook(&installation("1"), &remote("octocat/no-hooks"), &target())
        .await
    {
        Err(GitError::PermissionDenied { message }) => {
            assert!(message.contains("Webhooks: Read & write"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    match gh
        .register_webhook(&installation("1"), &remote("octocat/limited"), &target())
        .await
    {
        Err(e @ GitError::RateLimited { .. }) => {
            assert!(e.is_retryable());
            let wait = e.retry_after().expect("x-ratelimit-reset gives the wait");
            assert!(wait.as_secs() > 60 && wait.as_secs() <= 90, "{wait:?}");
        }
        other => panic!("{other:?}"),
    }
    match gh
        .register_webhook(&installation("1"), &remote("octocat/secondary"), &target())
        .await
    {
        Err(e @ GitError::RateLimited { .. }) => assert_eq!(e.retry_after().map(|d| d.as_secs()), Some(60)),
        other => panic!("{other:?}"),
    }
    match gh.list_repos(&installation("404")).await {
        Err(GitError::Unauthorized { message }) => assert!(message.contains("no longer exists"), "{message}"),
        other => panic!("{other:?}"),
    }
    // A wrong App key: GitHub refuses the JWT.
    let other_key = String::from_utf8(fixture("test-app-key.pem")).unwrap();
    let wrong = GitHubApp::new(
        config(
            &replay.base,
            &[
                ("GITHUB_APP_ID", "999"),
                ("GITHUB_APP_NAME", "x"),
                ("GITHUB_APP_CLIENT_ID", "Iv1.client"),
            ],
        ),
        Some(Secret::new(other_key)),
        Some(Secret::new("client-secret")),
    )
    .unwrap();
    match wrong.list_repos(&installation("1")).await {
        Err(GitError::Unauthorized { message }) => assert!(message.contains("GITHUB_APP_ID"), "{message}"),
        other => panic!("{other:?}"),
    }
    // A tag deletion is a push without a branch.
    match gh
        .parse_webhook("push", &fixture("push.tag-delete.payload.json"))
        .unwrap()
    {
        WebhookEvent::Push { branch, .. } => assert_eq!(branch, None),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn missing_app_variables_are_named() {
    let gh = GitHubApp::new(
        config("github.com", &[("GITHUB_APP_ID", "1"), ("GITHUB_APP_NAME", "x")]),
        None,
        Some(Secret::new("s")),
    )
    .unwrap();
    assert_eq!(gh.missing(), ["GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_CLIENT_ID"]);
    match gh.status() {
        ProviderStatus::NotConfigured { message } => {
            assert!(
                message.starts_with("GitHub App is not configured on this Lettuce instance"),
                "{message}"
            );
            assert!(
                message.contains("GITHUB_APP_PRIVATE_KEY, GITHUB_APP_CLIENT_ID"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(gh.install_url("s"), Err(GitError::NotConfigured { .. })));
    assert!(matches!(
        gh.list_repos(&installation("1")).await,
        Err(GitError::NotConfigured { .. })
    ));
    let bad = GitHubApp::new(config("github.com", &[]), Some(Secret::new("not a pem")), None).unwrap_err();
    assert!(bad.contains("GITHUB_APP_PRIVATE_KEY"), "{bad}");
}
