//! The web app in a real browser: Debian's Chromium driven by playwright-core
//! (`inbound/web/e2e/flow.mjs`) against the real binary and a `git daemon`:
//! first run (admin token) → first invite → sign-up in a second browser
//! context → add a repository → it becomes ready without a reload (htmx) →
//! search it and open a result → create an API key; the page's MCP snippets
//! connect with the official MCP TypeScript client (streamable HTTP and
//! stdio) → usage shows the queries per tool → the owner mints an invite and
//! a member signs up with it in a third context and is refused on the admin
//! page → telemetry off and back on → a valid license key, then a forged one
//! (error next to the field, the valid one stays) → sign out. Every page gets
//! an axe-core scan (no serious or critical violation), and a screenshot at
//! 1280 and 375 px in `target/web-screenshots` (or `LETTUCE_WEB_SCREENSHOTS`;
//! `.ci/run` keeps them).
//!
//! Needs Chromium (`LETTUCE_TEST_CHROMIUM`, else `/usr/bin/chromium`), Node
//! and `playwright-core` installed in `inbound/web/e2e` (scripts/install-deps
//! does both). Without them the test prints why and skips — except under
//! `LETTUCE_REQUIRE_PEERS=1`, where it fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{GitDaemon, GitRepos, Server};

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../inbound/web/e2e")
}

/// What is missing to run the browser test, if anything.
fn missing() -> Option<String> {
    let chromium = std::env::var("LETTUCE_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!(
            "Chromium is not installed at {chromium} (apt-get install -y chromium, or set LETTUCE_TEST_CHROMIUM)"
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is not installed".into());
    }
    for pkg in ["playwright-core", "axe-core", "@modelcontextprotocol/sdk"] {
        if !e2e_dir().join("node_modules").join(pkg).join("package.json").exists() {
            return Some(format!(
                "{pkg} is not installed in {} (run scripts/install-deps)",
                e2e_dir().display()
            ));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_to_a_ready_repo_and_an_api_key_in_chromium() {
    if let Some(why) = missing() {
        assert!(
            std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "LETTUCE_REQUIRE_PEERS=1 but {why}"
        );
        eprintln!("SKIPPED: {why}");
        return;
    }
    if !support::git_available() {
        return;
    }
    let repos = GitRepos::new();
    repos.create(
        "demo",
        &[
            ("README.md", "# demo\n"),
            ("src/lib.rs", "pub fn greet() -> &'static str {\n    \"hello\"\n}\n"),
        ],
    );
    let daemon = GitDaemon::start(&repos);
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    // A self-hosted (license-gated) instance, started with a key that lets
    // telemetry be turned off; the browser later pastes one that requires it.
    let license = |id: &str, telemetry_required: bool| {
        use lettuce_license_ed25519::testing::{claims, sign_dev_license};
        let mut c = claims(id, 365);
        c["telemetry_required"] = telemetry_required.into();
        sign_dev_license(&c)
    };
    let boot_license = license("lic_boot", false);
    let cache = tmp.path().join("license.json");
    let instance_env = [
        ("LETTUCE_SELF_HOSTED", "1"),
        ("LETTUCE_LICENSE_KEY", boot_license.as_str()),
        ("LETTUCE_LICENSE_CACHE_PATH", cache.to_str().expect("utf-8 path")),
        ("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS", "1"),
    ];
    let server = Server::start(&data_dir, &instance_env).await;
    let shots = std::env::var("LETTUCE_WEB_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/web-screenshots"));
    let chromium = std::env::var("LETTUCE_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let base = server.base.clone();
    let token = server.admin_token();
    let repo_url = format!("git://127.0.0.1:{}/demo.git", daemon.port);
    let script = e2e_dir().join("flow.mjs");
    let license = license("lic_browser", true);
    // `lettuce mcp` (the stdio snippets) with the instance's settings.
    let mut stdio_env: serde_json::Map<String, serde_json::Value> = instance_env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).into()))
        .collect();
    stdio_env.insert(
        "CODEWAZE_DATA_DIR".into(),
        data_dir.to_str().expect("utf-8 path").into(),
    );
    stdio_env.insert("LETTUCE_TELEMETRY_URL".into(), support::NO_TELEMETRY_RECEIVER.into());
    let stdio = serde_json::json!({ "command": support::bin(), "env": stdio_env }).to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("LETTUCE_E2E_BASE", &base)
            .env("LETTUCE_E2E_ADMIN_TOKEN", &token)
            .env("LETTUCE_E2E_REPO_URL", &repo_url)
            .env("LETTUCE_E2E_CHROMIUM", &chromium)
            .env("LETTUCE_E2E_SCREENSHOTS", &shots)
            .env("LETTUCE_E2E_LICENSE", &license)
            .env("LETTUCE_E2E_STDIO", &stdio)
            .output()
            .expect("run node")
    })
    .await
    .expect("node task");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "browser flow failed\n--- node stdout ---\n{stdout}\n--- node stderr ---\n{stderr}\n{}",
        server.logs()
    );
    // The steps and the axe-core summary, for the CI log.
    eprintln!("{stdout}");
    let result: serde_json::Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| panic!("no RESULT line:\n{stdout}"));
    let key = result["api_key"].as_str().expect("api_key");
    // The key made in the browser works against the API and sees the repo.
    let repos = server.api().get("/v1/repos", Some(key)).await.expect(200);
    assert_eq!(repos["repos"][0]["status"], "ready", "{repos}");
    // The admin token never reached a page or the log in clear.
    assert!(!stdout.contains(&server.admin_token()));
}
