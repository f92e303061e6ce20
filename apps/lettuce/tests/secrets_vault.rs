//! The real binary with every secret in a real OpenBao (Vault API):
//! `LETTUCE_SECRET_STORE=vault` with AppRole, the admin token, signing key,
//! data key and `DATABASE_URL` existing only in the store; the admin token
//! from the store minting an invite; `lettuce config check` naming each
//! source; an OpenBao stopped under the running server (requests that need no
//! fresh secret keep working, admin-token requests answer 503
//! `secret_store_unavailable`, and recover by themselves when it is back);
//! a store that is down at start-up; and no secret value in any log line or
//! `Debug` output of the whole run.
//!
//! Needs `LETTUCE_TEST_BAO` (the `bao` binary, from `scripts/test-peers`): the
//! test runs an OpenBao dev server of its own so that it can stop it.

mod support;

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{Server, free_port, run_lettuce};

const ROOT: &str = "e2e-root-token";
const ROLE_ID: &str = "lettuce-e2e-role-id-0001";
const SECRET_ID: &str = "e2e-approle-secret-id-b7c1d9";
const ADMIN: &str = "vault-admin-token-3f9a1c7e5b2d4f60";
const JWT: &str = "vault-jwt-signing-key-8d3e1f0a9b7c6d5e4f3a2b1c0d9e8f7a";
// 32 bytes, hex.
const DATA_KEY: &str = "a3f1c2d4e5b6978812ab34cd56ef7890a1b2c3d4e5f60718293a4b5c6d7e8f90";
const CLONE_TOKEN: &str = "ghp_e2eCloneTokenNeverLogged42";

fn bao() -> Option<String> {
    match std::env::var("LETTUCE_TEST_BAO") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            let why = "LETTUCE_TEST_BAO (the OpenBao binary) is not set (source scripts/test-peers)";
            assert!(
                std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() != Ok("1"),
                "LETTUCE_REQUIRE_PEERS=1 but {why}"
            );
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// An OpenBao dev server of this test's own (in memory: a restart is empty).
struct Bao {
    bin: String,
    port: u16,
    child: Option<Child>,
    http: reqwest::Client,
}

impl Bao {
    async fn start(bin: &str, port: u16) -> Bao {
        let child = Command::new(bin)
            .args([
                "server",
                "-dev",
                &format!("-dev-root-token-id={ROOT}"),
                &format!("-dev-listen-address=127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bao");
        let bao = Bao {
            bin: bin.to_owned(),
            port,
            child: Some(child),
            http: reqwest::Client::new(),
        };
        for _ in 0..100 {
            if let Ok(r) = bao.http.get(format!("{}/v1/sys/health", bao.addr())).send().await
                && r.status().is_success()
            {
                return bao;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("OpenBao did not start on port {port}");
    }

    fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) {
        let r = self
            .http
            .request(method, format!("{}/v1/{path}", self.addr()))
            .header("X-Vault-Token", ROOT)
            .json(&body)
            .send()
            .await
            .expect("OpenBao answers");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {text}");
    }

    /// AppRole `lettuce` (fixed role and secret ids) reading `secret/data/lettuce/*`,
    /// and Lettuce's secrets.
    async fn provision(&self, database_url: &str) {
        use reqwest::Method;
        self.call(Method::POST, "sys/auth/approle", json!({"type": "approle"}))
            .await;
        self.call(
            Method::PUT,
            "sys/policies/acl/lettuce",
            json!({"policy": "path \"secret/data/lettuce/*\" { capabilities = [\"read\"] }"}),
        )
        .await;
        self.call(
            Method::POST,
            "auth/approle/role/lettuce",
            json!({"token_policies": ["lettuce"], "token_ttl": "1h"}),
        )
        .await;
        self.call(
            Method::POST,
            "auth/approle/role/lettuce/role-id",
            json!({"role_id": ROLE_ID}),
        )
        .await;
        self.call(
            Method::POST,
            "auth/approle/role/lettuce/custom-secret-id",
            json!({"secret_id": SECRET_ID}),
        )
        .await;
        for (name, value) in [
            ("CODEWAZE_ADMIN_TOKEN", ADMIN),
            ("JWT_SIGNING_KEY", JWT),
            ("LETTUCE_DATA_KEY", DATA_KEY),
            ("DATABASE_URL", database_url),
        ] {
            self.call(
                Method::POST,
                &format!("secret/data/lettuce/{name}"),
                json!({"data": {"value": value}}),
            )
            .await;
        }
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        self.stop();
    }
}

fn assert_no_secret(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !text.contains(s),
            "{what} contains a secret value ({}…):\n{text}",
            &s[..6]
        );
    }
}

#[tokio::test]
async fn server_runs_from_vault_only_survives_an_outage_and_never_logs_a_secret() {
    let Some(bin) = bao() else { return };
    let mut vault = Bao::start(&bin, free_port()).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The database URL too lives only in Vault.
    let db_path = dir.path().join("from-vault.db");
    let database_url = format!("sqlite://{}", db_path.display());
    vault.provision(&database_url).await;
    let vault_addr = vault.addr();
    let env = [
        ("LETTUCE_SECRET_STORE", "vault"),
        ("VAULT_ADDR", vault_addr.as_str()),
        ("VAULT_ROLE_ID", ROLE_ID),
        ("VAULT_SECRET_ID", SECRET_ID),
        ("LETTUCE_SECRET_CACHE_SECS", "1"),
        // Every log line, debug included, is captured and searched below.
        ("LETTUCE_LOG", "debug,hyper=info,h2=info,tantivy=info"),
    ];
    let env: Vec<(&str, &str)> = env.to_vec();
    let secrets = [ADMIN, JWT, DATA_KEY, SECRET_ID, CLONE_TOKEN];

    // config check: every secret with its source, values redacted.
    let check = run_lettuce(
        dir.path(),
        &["config", "check"],
        &[env.as_slice(), &[("CODEWAZE_DATA_DIR", data.to_str().unwrap())]].concat(),
    );
    let check_out = format!(
        "{}\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check.status.success(), "{check_out}");
    for var in [
        "CODEWAZE_ADMIN_TOKEN",
        "JWT_SIGNING_KEY",
        "LETTUCE_DATA_KEY",
        "DATABASE_URL",
    ] {
        let line = check_out
            .lines()
            .rev()
            .find(|l| l.split_whitespace().next() == Some(var))
            .unwrap_or_else(|| panic!("no {var} line:\n{check_out}"));
        assert!(line.contains("*** (vault)"), "{var}: {line}");
    }
    let line = check_out
        .lines()
        .find(|l| l.split_whitespace().next() == Some("GITHUB_APP_PRIVATE_KEY"))
        .unwrap();
    assert!(line.contains("not set"), "{line}");
    assert_no_secret("config check", &check_out, &secrets);

    let mut server = Server::start(&data, &env).await;
    let api = server.api();
    // Nothing was generated: the three instance secrets exist only in Vault,
    // and the database is the one DATABASE_URL in Vault names.
    for f in ["admin-token", "jwt-signing-key", "data-key", "lettuce.db"] {
        assert!(!data.join(f).exists(), "{f} was created in the data dir");
    }
    assert!(db_path.exists(), "the database of Vault's DATABASE_URL was not used");

    // The admin token from Vault mints an invite.
    let code = api.admin_invite(ADMIN).await;
    let signup = api.signup(&code, "owner@example.com").await;
    let user = signup["token"].as_str().unwrap().to_owned();
    // A credential sealed with the data key from Vault.
    let repo = api
        .post(
            "/v1/repos",
            Some(&user),
            &json!({"url": format!("https://x-access-token:{CLONE_TOKEN}@github.com/acme/widgets.git")}),
        )
        .await;
    assert!(repo.status.is_success() || repo.status.as_u16() == 422, "{}", repo.text);
    api.get("/v1/account", Some("not-the-admin-token"))
        .await
        .expect_error(401, "unauthenticated");

    // Vault goes down. Requests that need no fresh secret keep working…
    vault.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    api.get("/v1/account", Some(&user)).await.expect(200);
    api.get("/healthz", None).await.expect(200);
    // …and one that needs the admin token again gets a 503 in the API format.
    let down = api.post_empty("/api/admin/invites", Some(ADMIN)).await;
    let message = down.expect_error(503, "secret_store_unavailable");
    assert!(message.contains("CODEWAZE_ADMIN_TOKEN"), "{message}");

    // Vault is back (same address, same AppRole ids): Lettuce logs in again by
    // itself and the admin token works without a restart.
    let port = vault.port;
    vault = Bao::start(&vault.bin.clone(), port).await;
    vault.provision(&database_url).await;
    let mut recovered = false;
    for _ in 0..50 {
        if api.post_empty("/api/admin/invites", Some(ADMIN)).await.status.as_u16() == 201 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        recovered,
        "admin requests did not recover after Vault came back\n{}",
        server.logs()
    );

    let stopped = server.terminate(Duration::from_secs(20)).await;
    assert!(stopped.is_some(), "server did not stop");
    // Every log line and Debug output of the whole run.
    let logs = server.logs();
    assert!(logs.contains("logged in to Vault with AppRole"), "{logs}");
    assert_no_secret("the server's logs", &logs, &secrets);
    assert!(!logs.contains(&database_url) || !database_url.contains('@'));
    drop(vault);
}

#[tokio::test]
async fn vault_down_at_start_up_is_an_error_naming_the_store_and_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let out = run_lettuce(
        dir.path(),
        &["serve"],
        &[
            ("CODEWAZE_DATA_DIR", dir.path().join("data").to_str().unwrap()),
            ("LETTUCE_SECRET_STORE", "vault"),
            ("VAULT_ADDR", &addr),
            ("VAULT_TOKEN", "s.startup-token-value-123"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Vault at") && stderr.contains(&port.to_string()) && stderr.contains("DATABASE_URL"),
        "the error must name the store and the secret:\n{stderr}"
    );
    assert!(!stderr.contains("startup-token-value"), "{stderr}");
    assert!(!dir.path().join("data/admin-token").exists(), "no generated default");

    // Missing variables are named at start-up, before any request.
    let out = run_lettuce(dir.path(), &["serve"], &[("LETTUCE_SECRET_STORE", "vault")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("VAULT_ADDR") && stderr.contains("VAULT_TOKEN"),
        "{stderr}"
    );
}
