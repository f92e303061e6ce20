//! End-to-end tests of the real `lettuce` binary over HTTP: a child process
//! on a free loopback port with a fresh data directory, real git repositories
//! served by `git daemon`, SIGKILL/SIGTERM handling.

mod support;

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{Api, DEADLINE, GitDaemon, GitRepos, Server, StallProxy};

const ALLOW_PRIVATE: (&str, &str) = ("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS", "1");

fn files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("README.md", "# demo\n\nA small repository for the end-to-end tests.\n"),
        ("Cargo.toml", "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n"),
        ("src/main.rs", "fn main() {\n    println!(\"{}\", demo::greet());\n}\n"),
        ("src/lib.rs", "pub fn greet() -> &'static str {\n    \"hello\"\n}\n"),
        ("docs/guide/intro.md", "Read the code.\n"),
    ]
}

fn status(repo: &Value) -> &str {
    repo["status"].as_str().unwrap_or_default()
}

fn settled(repo: &Value) -> bool {
    matches!(status(repo), "ready" | "failed")
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {v}"))
}

/// Adds a repository and checks the 202 `pending` answer; returns its id.
async fn add_repo(api: &Api, token: &str, url: &str) -> String {
    let r = api
        .post("/v1/repos", Some(token), &json!({ "url": url }))
        .await
        .expect(202);
    assert_eq!(r["status"], "pending", "{r}");
    assert_eq!(r["url"], url, "{r}");
    assert!(r["indexed_commit"].is_null(), "{r}");
    str_field(&r, "id").to_owned()
}

// 1 ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_data_dir_is_healthy_ready_and_names_the_admin_token_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("fresh"); // does not exist yet
    let started = Instant::now();
    let server = Server::start(&data_dir, &[]).await;
    let boot = started.elapsed();
    assert!(boot < Duration::from_secs(20), "boot took {boot:?}");

    let api = server.api();
    let health = api.get("/healthz", None).await.expect(200);
    assert_eq!(health["status"], "ok", "{health}");
    let ready = api.get("/readyz", None).await.expect(200);
    assert_eq!(ready["status"], "ready", "{ready}");

    // The token was generated into the data dir, private to the owner.
    let token_path = data_dir.join("admin-token");
    let token = server.admin_token();
    assert!(token.len() >= 32, "admin token is too short");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_path)
            .expect("admin-token")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "admin-token is readable by others: {mode:o}");
    }

    // The banner names the file.
    let deadline = Instant::now() + DEADLINE;
    while !server.stderr().contains(&token_path.display().to_string()) {
        assert!(
            Instant::now() < deadline,
            "stderr never named {}\n{}",
            token_path.display(),
            server.logs()
        );
        tokio::time::sleep(support::POLL).await;
    }

    // The token works, a wrong one does not.
    let code = api.admin_invite(&token).await;
    assert!(!code.is_empty());
    api.post_empty("/api/admin/invites", Some("not-the-admin-token"))
        .await
        .expect_error(401, "unauthenticated");

    // The value itself never reaches the output, even after being used.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (out, err) = (server.stdout(), server.stderr());
    assert!(!out.contains(&token), "admin token printed on stdout");
    assert!(!err.contains(&token), "admin token printed on stderr");
}

// 2 ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repo_served_by_git_daemon_is_indexed_then_reindexed_at_the_new_head() {
    require_git!();
    let repos = GitRepos::new();
    let head1 = repos.create("repo", &files());
    let daemon = GitDaemon::start(&repos);
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path(), &[ALLOW_PRIVATE]).await;
    let api = server.api();
    let token = api.first_user(&server.admin_token()).await;

    let id = add_repo(&api, &token, &daemon.url("repo")).await;
    let repo = api.wait_repo(&token, &id, DEADLINE, settled, || server.logs()).await;
    assert_eq!(repo["status"], "ready", "{repo}\n{}", server.logs());
    assert_eq!(repo["indexed_commit"], head1.as_str(), "{repo}");
    assert!(repo["error"].is_null(), "{repo}");
    let n1 = repos.file_count("repo");
    assert_eq!(n1, 5);
    assert_eq!(repo["progress"]["files_total"], n1, "{repo}");
    assert_eq!(repo["progress"]["files_done"], n1, "{repo}");
    assert!(repo["indexed_at"].is_string(), "{repo}");

    // A new commit on the served repository, then a re-index.
    let head2 = repos.commit(
        "repo",
        &[
            ("src/util.rs", "pub fn twice(x: u32) -> u32 {\n    x * 2\n}\n"),
            ("README.md", "# demo\n\nChanged.\n"),
        ],
        "second commit",
    );
    assert_ne!(head1, head2);
    let r = api
        .post_empty(&format!("/v1/repos/{id}/reindex"), Some(&token))
        .await
        .expect(202);
    assert_eq!(r["id"], id.as_str(), "{r}");
    let repo = api
        .wait_repo(
            &token,
            &id,
            DEADLINE,
            |r| status(r) == "failed" || (status(r) == "ready" && r["indexed_commit"] == head2.as_str()),
            || server.logs(),
        )
        .await;
    assert_eq!(repo["status"], "ready", "{repo}\n{}", server.logs());
    assert_eq!(repo["indexed_commit"], head2.as_str(), "{repo}");
    assert_eq!(repo["progress"]["files_total"], repos.file_count("repo"), "{repo}");
    assert_eq!(repos.file_count("repo"), n1 + 1);

    // The list shows it too.
    let list = api.get("/v1/repos", Some(&token)).await.expect(200);
    let repos_json = list["repos"].as_array().expect("repos array");
    assert_eq!(repos_json.len(), 1, "{list}");
    assert_eq!(repos_json[0]["indexed_commit"], head2.as_str(), "{list}");
}

// 3 ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repo_missing_on_the_daemon_fails_with_repository_not_found() {
    require_git!();
    let repos = GitRepos::new();
    repos.create("repo", &files());
    let daemon = GitDaemon::start(&repos);
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path(), &[ALLOW_PRIVATE]).await;
    let api = server.api();
    let token = api.first_user(&server.admin_token()).await;

    let id = add_repo(&api, &token, &daemon.url("nope")).await;
    let repo = api.wait_repo(&token, &id, DEADLINE, settled, || server.logs()).await;
    assert_eq!(repo["status"], "failed", "{repo}");
    let error = str_field(&repo, "error");
    assert!(error.contains("repository not found"), "{repo}");
    assert!(repo["indexed_commit"].is_null(), "{repo}");
}

// 4 ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_uses_the_error_format() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path(), &[]).await;
    let api = server.api();
    let t = api.first_user(&server.admin_token()).await;
    let token = Some(t.as_str());
    const JSON: &str = "application/json";

    // Malformed JSON.
    api.post_raw("/v1/repos", token, JSON, "{\"url\": ")
        .await
        .expect_error(400, "malformed_json");
    api.post_raw("/v1/repos", token, JSON, "not json at all")
        .await
        .expect_error(400, "malformed_json");
    api.post_raw("/v1/auth/signup", None, JSON, "{\"invite_code\": \"x\",")
        .await
        .expect_error(400, "malformed_json");
    api.post_raw("/api/admin/invites", Some(&server.admin_token()), JSON, "{oops")
        .await
        .expect_error(400, "malformed_json");

    // Well-formed JSON of the wrong shape.
    api.post("/v1/repos", token, &json!({}))
        .await
        .expect_error(400, "invalid_body");
    api.post("/v1/repos", token, &json!({"url": 42}))
        .await
        .expect_error(400, "invalid_body");
    api.post(
        "/v1/repos",
        token,
        &json!({"url": "https://example.com/a/b.git", "colour": "red"}),
    )
    .await
    .expect_error(400, "invalid_body");
    api.post(
        "/v1/auth/signup",
        None,
        &json!({"email": "a@example.com", "password": "0123456789"}),
    )
    .await
    .expect_error(400, "invalid_body");
    api.post("/v1/api-keys", token, &json!([1, 2]))
        .await
        .expect_error(400, "invalid_body");

    // Wrong content type.
    api.post_raw(
        "/v1/repos",
        token,
        "text/plain",
        "{\"url\":\"https://example.com/a/b.git\"}",
    )
    .await
    .expect_error(415, "unsupported_media_type");
    api.post_raw("/v1/auth/signup", None, "application/x-www-form-urlencoded", "a=b")
        .await
        .expect_error(415, "unsupported_media_type");

    // Unknown route, wrong method.
    api.get("/no/such/route", None).await.expect_error(404, "not_found");
    api.get("/v1/nothing-here", token).await.expect_error(404, "not_found");
    api.send(reqwest::Method::DELETE, "/healthz", None, None)
        .await
        .expect_error(405, "method_not_allowed");
    api.send(reqwest::Method::PUT, "/v1/repos", token, None)
        .await
        .expect_error(405, "method_not_allowed");
    api.get("/v1/auth/signup", None)
        .await
        .expect_error(405, "method_not_allowed");

    // Missing or bad credentials.
    for (path, bearer) in [
        ("/v1/repos", None),
        ("/v1/account", None),
        ("/v1/repos", Some("not-a-real-token")),
        ("/v1/api-keys", Some("lk_not_a_real_key")),
    ] {
        let r = api.get(path, bearer).await;
        r.expect_error(401, "unauthenticated");
        let www = r
            .headers
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(www.starts_with("Bearer"), "WWW-Authenticate on {path}: {www:?}");
    }
    let r = api.send(reqwest::Method::GET, "/v1/repos", None, None).await;
    r.expect_error(401, "unauthenticated");
    api.post("/api/admin/invites", None, &json!({}))
        .await
        .expect_error(401, "unauthenticated");

    // A bad invite code.
    api.post(
        "/v1/auth/signup",
        None,
        &json!({"invite_code": "inv_bogus", "email": "x@example.com", "password": "0123456789ab"}),
    )
    .await
    .expect_error(400, "invite_invalid");

    // Invalid UUIDs in paths.
    api.get("/v1/repos/not-a-uuid", token)
        .await
        .expect_error(400, "invalid_path");
    api.delete("/v1/repos/123", token)
        .await
        .expect_error(400, "invalid_path");
    api.post_empty("/v1/repos/xyz/reindex", token)
        .await
        .expect_error(400, "invalid_path");
    api.delete("/v1/api-keys/nope", token)
        .await
        .expect_error(400, "invalid_path");

    // A well-formed id that does not exist.
    let r = api.get("/v1/repos/00000000-0000-4000-8000-000000000000", token).await;
    r.expect_error(404, "not_found");

    // Other 4xx answers keep the format too (codes not pinned here).
    for r in [
        api.post(
            "/v1/auth/login",
            None,
            &json!({"email": "owner@example.com", "password": "wrong-password-123"}),
        )
        .await,
        api.post(
            "/v1/auth/signup",
            None,
            &json!({"invite_code": api.admin_invite(&server.admin_token()).await,
                    "email": "short@example.com", "password": "short"}),
        )
        .await,
        api.post("/v1/repos", token, &json!({"url": "not a url"})).await,
    ] {
        assert!(r.status.is_client_error(), "{} {}", r.status, r.text);
        support::assert_error_format(&r);
    }
}

// 5 ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_and_file_urls_are_refused_without_the_opt_in() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path(), &[]).await;
    let api = server.api();
    let t = api.first_user(&server.admin_token()).await;
    let token = Some(t.as_str());

    let local_git = format!("git://127.0.0.1:{}/repo.git", support::free_port());
    for url in [
        local_git.as_str(),
        "http://10.0.0.5/x.git",
        "http://169.254.169.254/latest",
        "http://localhost/x",
        "file:///etc",
    ] {
        let r = api.post("/v1/repos", token, &json!({ "url": url })).await;
        let message = r.expect_error(422, "repo_url_forbidden");
        assert!(
            message.contains("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS"),
            "{url}: message does not name the opt-in: {message}"
        );
    }
    let list = api.get("/v1/repos", token).await.expect(200);
    assert_eq!(list["repos"], json!([]), "{list}");
    let account = api.get("/v1/account", token).await.expect(200);
    assert_eq!(account["repo_count"], 0, "{account}");
}

// 6 ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_job_then_restart_finishes_the_job() {
    require_git!();
    let repos = GitRepos::new();
    let head = repos.create("repo", &files());
    let daemon = GitDaemon::start(&repos);
    let proxy = StallProxy::start(daemon.addr()).await;
    let data = tempfile::tempdir().expect("tempdir");
    let env = [ALLOW_PRIVATE, ("LETTUCE_JOB_LEASE_SECS", "3")];

    let mut first = Server::start(data.path(), &env).await;
    let api = first.api();
    let token = api.first_user(&first.admin_token()).await;
    let id = add_repo(&api, &token, &proxy.url("repo")).await;
    let repo = api
        .wait_repo(
            &token,
            &id,
            DEADLINE,
            |r| status(r) != "pending" || r["error"].is_string(),
            || first.logs(),
        )
        .await;
    assert_eq!(repo["status"], "indexing", "{repo}\n{}", first.logs());
    // The fetch is stuck in the proxy.
    let deadline = Instant::now() + DEADLINE;
    while proxy.held() == 0 {
        assert!(
            Instant::now() < deadline,
            "the worker never connected\n{}",
            first.logs()
        );
        tokio::time::sleep(support::POLL).await;
    }
    first.kill();

    proxy.open();
    let second = Server::start(data.path(), &env).await;
    let api = second.api();
    // Sessions survive the restart (the signing key lives in the data dir).
    let repo = api
        .wait_repo(
            &token,
            &id,
            Duration::from_secs(30),
            |r| status(r) == "ready" || (status(r) == "failed"),
            || second.logs(),
        )
        .await;
    assert_eq!(repo["status"], "ready", "{repo}\n{}", second.logs());
    assert_eq!(repo["indexed_commit"], head.as_str(), "{repo}");
    assert_eq!(repo["progress"]["files_total"], repos.file_count("repo"), "{repo}");
    assert!(proxy.forwarded() >= 1);
}

// 7 ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully_with_status_zero() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(data.path(), &[]).await;
    server.api().get("/readyz", None).await.expect(200);
    let status = server
        .terminate(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("still running 10 s after SIGTERM\n{}", server.logs()));
    assert_eq!(status.code(), Some(0), "exit status {status}\n{}", server.logs());
}

// 8 ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_authenticates_until_revoked() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path(), &[]).await;
    let api = server.api();
    let session = api.first_user(&server.admin_token()).await;

    let created = api
        .post("/v1/api-keys", Some(&session), &json!({"name": "ci"}))
        .await
        .expect(201);
    let key = str_field(&created, "key").to_owned();
    let key_id = str_field(&created, "id").to_owned();
    assert!(key.starts_with("lk_"), "{created}");
    assert_eq!(created["name"], "ci");

    let list = api.get("/v1/repos", Some(&key)).await.expect(200);
    assert_eq!(list["repos"], json!([]));

    // Listed without the secret.
    let keys = api.get("/v1/api-keys", Some(&session)).await;
    assert!(!keys.text.contains(&key), "the key is shown again: {}", keys.text);
    let keys = keys.expect(200);
    let listed = keys["api_keys"]
        .as_array()
        .expect("api_keys")
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("key not listed: {keys}"));
    assert!(listed["revoked_at"].is_null(), "{listed}");

    let r = api.delete(&format!("/v1/api-keys/{key_id}"), Some(&session)).await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);

    let r = api.get("/v1/repos", Some(&key)).await;
    r.expect_error(401, "unauthenticated");
    assert!(r.headers.contains_key(reqwest::header::WWW_AUTHENTICATE));
    // The session still works.
    api.get("/v1/repos", Some(&session)).await.expect(200);
}

// 9 ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_signup_with_the_admin_invite_joins_the_same_account() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path(), &[]).await;
    let api = server.api();
    let code = api.admin_invite(&server.admin_token()).await;

    let first = api.signup(&code, "owner@example.com").await;
    let second = api.signup(&code, "member@example.com").await;
    assert_eq!(first["user"]["role"], "owner", "{first}");
    assert_eq!(second["user"]["role"], "member", "{second}");
    assert_eq!(first["account"]["id"], second["account"]["id"]);

    let owner = api
        .get("/v1/account", Some(str_field(&first, "token")))
        .await
        .expect(200);
    let member = api
        .get("/v1/account", Some(str_field(&second, "token")))
        .await
        .expect(200);
    assert_eq!(owner["id"], member["id"]);
    assert_eq!(owner["id"], first["account"]["id"]);
    assert_eq!(owner["role"], "owner", "{owner}");
    assert_eq!(member["role"], "member", "{member}");
    assert!(
        owner["webhook_secret"].as_str().is_some_and(|s| !s.is_empty()),
        "{owner}"
    );
    assert!(member.get("webhook_secret").is_none(), "{member}");
    assert!(member.get("webhook_urls").is_none(), "{member}");
    assert_eq!(owner["seats_used"], 2, "{owner}");
    assert_eq!(member["seats_used"], 2, "{member}");

    // The new member can log in with their password.
    let login = api
        .post(
            "/v1/auth/login",
            None,
            &json!({"email": "member@example.com", "password": support::PASSWORD}),
        )
        .await
        .expect(200);
    assert!(login["token"].is_string(), "{login}");
}

// 10 -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_lists_every_route() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path(), &[]).await;
    let r = server.api().get("/openapi.json", None).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let doc: Value = serde_json::from_str(&r.text).expect("openapi.json is JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "not an OpenAPI 3 document"
    );
    let paths = doc["paths"].as_object().expect("paths object");
    let missing: Vec<&str> = [
        "/healthz",
        "/readyz",
        "/api/admin/invites",
        "/v1/auth/signup",
        "/v1/auth/login",
        "/v1/api-keys",
        "/v1/api-keys/{id}",
        "/v1/invites",
        "/v1/account",
        "/v1/repos",
        "/v1/repos/{id}",
        "/v1/repos/{id}/reindex",
        "/v1/license",
        "/v1/admin/license",
    ]
    .into_iter()
    .filter(|p| !paths.contains_key(*p))
    .collect();
    assert!(
        missing.is_empty(),
        "missing from /openapi.json: {missing:?}; present: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
}

// 7b -----------------------------------------------------------------------

// A git:// fetch stuck in a blocking socket read must not keep the process
// alive after SIGTERM: the job is released after the grace period and `main`
// shuts the runtime down with a timeout instead of waiting for the blocked
// thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_stalled_fetch_still_exits_zero() {
    require_git!();
    let repos = GitRepos::new();
    repos.create("repo", &files());
    let daemon = GitDaemon::start(&repos);
    let proxy = StallProxy::start(daemon.addr()).await;
    let data = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(data.path(), &[ALLOW_PRIVATE, ("LETTUCE_SHUTDOWN_GRACE_SECS", "2")]).await;
    let api = server.api();
    let token = api.first_user(&server.admin_token()).await;
    let id = add_repo(&api, &token, &proxy.url("repo")).await;
    api.wait_repo(&token, &id, DEADLINE, |r| status(r) != "pending", || server.logs())
        .await;
    let deadline = Instant::now() + DEADLINE;
    while proxy.held() == 0 {
        assert!(
            Instant::now() < deadline,
            "the worker never connected\n{}",
            server.logs()
        );
        tokio::time::sleep(support::POLL).await;
    }
    let status = server.terminate(Duration::from_secs(10)).await;
    let status = status.unwrap_or_else(|| panic!("still running 10 s after SIGTERM\n{}", server.logs()));
    assert_eq!(status.code(), Some(0), "exit status {status}\n{}", server.logs());
}
