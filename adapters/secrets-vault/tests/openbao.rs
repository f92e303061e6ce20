//! The Vault adapter against a real OpenBao dev server (Vault-compatible API).
//!
//! `source scripts/test-peers` starts one and exports
//! `LETTUCE_TEST_VAULT_ADDR` and `LETTUCE_TEST_VAULT_TOKEN` (the root token).
//! Without them every test prints why it skips — or fails under
//! `LETTUCE_REQUIRE_PEERS=1`. Each test uses its own secret names, mounts and
//! roles, so they can share one server.

use lettuce_ports::secrets::{SecretError, SecretStore};
use lettuce_ports::testing::secrets::secret_store_contract;
use lettuce_secrets_vault::{VaultAuth, VaultConfig, VaultSecretStore};
use serde_json::{Value, json};
use std::time::Duration;

struct Peer {
    addr: String,
    root: String,
    http: reqwest::Client,
}

fn peer() -> Option<Peer> {
    match (
        std::env::var("LETTUCE_TEST_VAULT_ADDR"),
        std::env::var("LETTUCE_TEST_VAULT_TOKEN"),
    ) {
        (Ok(addr), Ok(root)) if !addr.is_empty() => Some(Peer {
            addr,
            root,
            http: reqwest::Client::new(),
        }),
        _ => {
            let why = "LETTUCE_TEST_VAULT_ADDR/LETTUCE_TEST_VAULT_TOKEN are not set (source scripts/test-peers)";
            assert!(
                std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() != Ok("1"),
                "LETTUCE_REQUIRE_PEERS=1 but {why}"
            );
            eprintln!("skipped: {why}");
            None
        }
    }
}

fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), n % 1_000_000_000)
}

impl Peer {
    /// A raw Vault API call with the root token; panics on a failure status
    /// unless `ok_statuses` allows it.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", &self.root);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("OpenBao answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn must(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert!((200..300).contains(&status), "{path}: HTTP {status} {v}");
        v
    }

    async fn put_kv(&self, mount: &str, name: &str, data: Value) {
        self.must(
            reqwest::Method::POST,
            &format!("{mount}/data/lettuce/{name}"),
            Some(json!({ "data": data })),
        )
        .await;
    }

    fn root_store(&self) -> VaultSecretStore {
        let c = VaultConfig::new(
            self.addr.parse().unwrap(),
            VaultAuth::Token(lettuce_ports::secrets::Secret::new(self.root.clone())),
        );
        VaultSecretStore::new(c).unwrap()
    }

    async fn enable_approle(&self) {
        let (status, v) = self
            .call(
                reqwest::Method::POST,
                "sys/auth/approle",
                Some(json!({"type": "approle"})),
            )
            .await;
        assert!(
            (200..300).contains(&status) || v.to_string().contains("path is already in use"),
            "enable approle: {status} {v}"
        );
    }

    /// A role with `policy` (HCL) and token TTLs; returns (role_id, secret_id).
    async fn approle(&self, role: &str, policy_hcl: &str, ttl: &str, max_ttl: &str) -> (String, String) {
        self.enable_approle().await;
        self.must(
            reqwest::Method::PUT,
            &format!("sys/policies/acl/{role}"),
            Some(json!({ "policy": policy_hcl })),
        )
        .await;
        self.must(
            reqwest::Method::POST,
            &format!("auth/approle/role/{role}"),
            Some(json!({ "token_policies": [role], "token_ttl": ttl, "token_max_ttl": max_ttl })),
        )
        .await;
        let r = self
            .must(reqwest::Method::GET, &format!("auth/approle/role/{role}/role-id"), None)
            .await;
        let s = self
            .must(
                reqwest::Method::POST,
                &format!("auth/approle/role/{role}/secret-id"),
                None,
            )
            .await;
        (
            r["data"]["role_id"].as_str().unwrap().to_owned(),
            s["data"]["secret_id"].as_str().unwrap().to_owned(),
        )
    }

    fn approle_store(&self, role_id: String, secret_id: String, mount: &str) -> VaultSecretStore {
        let c = VaultConfig::new(
            self.addr.parse().unwrap(),
            VaultAuth::AppRole {
                role_id,
                secret_id: lettuce_ports::secrets::Secret::new(secret_id),
                mount: "approle".into(),
            },
        )
        .with_mount(mount);
        VaultSecretStore::new(c).unwrap()
    }
}

#[tokio::test]
async fn contract_with_token_auth() {
    let Some(p) = peer() else { return };
    let (a, b) = (unique("VT_SIGNING_KEY"), unique("VT_DB_PASSWORD"));
    p.put_kv("secret", &a, json!({"value": "vault-signing-key-0123456789"}))
        .await;
    // A secret with one field is read whatever the field is called.
    p.put_kv("secret", &b, json!({"password": "vault-db-password-xyz"}))
        .await;
    let store = p.root_store();
    secret_store_contract(
        &store,
        &[(&a, "vault-signing-key-0123456789"), (&b, "vault-db-password-xyz")],
        &unique("VT_NOT_THERE"),
    )
    .await;
    assert!(!format!("{store:?}").contains(&p.root), "Debug shows the token");
}

#[tokio::test]
async fn value_field_wins_and_ambiguous_secrets_name_fields_only() {
    let Some(p) = peer() else { return };
    let (a, b) = (unique("VT_MULTI"), unique("VT_AMBIGUOUS"));
    p.put_kv("secret", &a, json!({"value": "the-value-field", "note": "ignored"}))
        .await;
    p.put_kv("secret", &b, json!({"user": "amb-user-1", "pass": "amb-pass-2"}))
        .await;
    let store = p.root_store();
    assert_eq!(store.get(&a).await.unwrap().expose(), "the-value-field");
    let e = store.get(&b).await.unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(matches!(e, SecretError::Backend { retryable: false, .. }), "{text}");
    assert!(text.contains("pass, user") || text.contains("user, pass"), "{text}");
    assert!(!text.contains("amb-pass-2") && !text.contains("amb-user-1"), "{text}");
}

#[tokio::test]
async fn deleted_latest_version_is_not_found() {
    let Some(p) = peer() else { return };
    let a = unique("VT_DELETED");
    p.put_kv("secret", &a, json!({"value": "soon-deleted-value"})).await;
    let store = p.root_store();
    assert_eq!(store.get(&a).await.unwrap().expose(), "soon-deleted-value");
    p.must(reqwest::Method::DELETE, &format!("secret/data/lettuce/{a}"), None)
        .await;
    assert!(matches!(store.get(&a).await, Err(SecretError::NotFound { .. })));
}

#[tokio::test]
async fn approle_on_a_custom_mount_passes_the_contract() {
    let Some(p) = peer() else { return };
    let mount = unique("kv-lettuce").to_lowercase();
    p.must(
        reqwest::Method::POST,
        &format!("sys/mounts/{mount}"),
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    )
    .await;
    let name = unique("VT_APPROLE_SECRET");
    p.put_kv(&mount, &name, json!({"value": "approle-read-value-42"})).await;
    let role = unique("lettuce-reader").to_lowercase();
    let policy = format!("path \"{mount}/data/lettuce/*\" {{ capabilities = [\"read\"] }}");
    let (role_id, secret_id) = p.approle(&role, &policy, "1h", "2h").await;
    let store = p.approle_store(role_id, secret_id.clone(), &mount);
    secret_store_contract(
        &store,
        &[(&name, "approle-read-value-42")],
        &unique("VT_APPROLE_MISSING"),
    )
    .await;
    assert_eq!(store.login_count(), 1, "one login serves every read");
    assert!(!format!("{store:?}").contains(&secret_id));
    // The same name is not in the default `secret` mount.
    assert!(matches!(
        p.root_store().get(&name).await,
        Err(SecretError::NotFound { .. })
    ));
}

#[tokio::test]
async fn permission_denied_propagates_and_is_not_not_found() {
    let Some(p) = peer() else { return };
    let (allowed, denied) = (unique("VT_ALLOWED"), unique("VT_DENIED"));
    p.put_kv("secret", &allowed, json!({"value": "allowed-value-1"})).await;
    p.put_kv("secret", &denied, json!({"value": "denied-value-2"})).await;
    let role = unique("lettuce-narrow").to_lowercase();
    let policy = format!("path \"secret/data/lettuce/{allowed}\" {{ capabilities = [\"read\"] }}");
    let (role_id, secret_id) = p.approle(&role, &policy, "1h", "2h").await;
    let store = p.approle_store(role_id, secret_id, "secret");
    assert_eq!(store.get(&allowed).await.unwrap().expose(), "allowed-value-1");
    let e = store.get(&denied).await.unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(
        matches!(e, SecretError::Backend { retryable: false, .. }),
        "permission denied must be a non-retryable backend error, not NotFound: {text}"
    );
    assert!(text.contains("403") && text.contains("permission denied"), "{text}");
    assert!(!text.contains("denied-value-2"));
}

#[tokio::test]
async fn expired_approle_token_logs_in_again() {
    let Some(p) = peer() else { return };
    let name = unique("VT_SHORT_LIVED");
    p.put_kv("secret", &name, json!({"value": "short-lived-read"})).await;
    let role = unique("lettuce-short").to_lowercase();
    let policy = "path \"secret/data/lettuce/*\" { capabilities = [\"read\"] }";
    // Tokens live 2 s and cannot be renewed past 3 s.
    let (role_id, secret_id) = p.approle(&role, policy, "2s", "3s").await;
    let store = p.approle_store(role_id, secret_id, "secret");
    assert_eq!(store.get(&name).await.unwrap().expose(), "short-lived-read");
    assert_eq!(store.login_count(), 1);
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(store.get(&name).await.unwrap().expose(), "short-lived-read");
    assert!(store.login_count() >= 2, "logins: {}", store.login_count());
}

#[tokio::test]
async fn renewable_token_is_renewed_before_it_expires() {
    let Some(p) = peer() else { return };
    let name = unique("VT_RENEWED");
    p.put_kv("secret", &name, json!({"value": "renewed-read"})).await;
    let role = unique("lettuce-renew").to_lowercase();
    let policy = "path \"secret/data/lettuce/*\" { capabilities = [\"read\"] }";
    let (role_id, secret_id) = p.approle(&role, policy, "3s", "1h").await;
    let store = p.approle_store(role_id, secret_id, "secret");
    assert_eq!(store.get(&name).await.unwrap().expose(), "renewed-read");
    // Past two thirds of the TTL: the next read renews instead of logging in.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(store.get(&name).await.unwrap().expose(), "renewed-read");
    assert!(store.renewal_count() >= 1, "renewals: {}", store.renewal_count());
    assert_eq!(store.login_count(), 1);
}

#[tokio::test]
async fn expired_static_token_is_a_clear_error() {
    let Some(p) = peer() else { return };
    let name = unique("VT_STATIC");
    p.put_kv("secret", &name, json!({"value": "static-token-read"})).await;
    let t = p
        .must(
            reqwest::Method::POST,
            "auth/token/create",
            Some(json!({"ttl": "2s", "explicit_max_ttl": "2s", "policies": ["default", "root"], "renewable": false})),
        )
        .await;
    let token = t["auth"]["client_token"].as_str().unwrap().to_owned();
    let store = VaultSecretStore::new(VaultConfig::new(
        p.addr.parse().unwrap(),
        VaultAuth::Token(lettuce_ports::secrets::Secret::new(token.clone())),
    ))
    .unwrap();
    assert_eq!(store.get(&name).await.unwrap().expose(), "static-token-read");
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let e = store.get(&name).await.unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(text.contains("403") && text.contains("VAULT_TOKEN"), "{text}");
    assert!(!text.contains(&token), "{text}");
}

#[tokio::test]
async fn unreachable_vault_is_a_retryable_backend_error() {
    // No peer needed: a closed loopback port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let store = VaultSecretStore::new(VaultConfig::new(
        format!("http://127.0.0.1:{port}").parse().unwrap(),
        VaultAuth::Token(lettuce_ports::secrets::Secret::new("s.closed-port-token")),
    ))
    .unwrap();
    let e = store.get("JWT_SIGNING_KEY").await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("closed-port-token"));
    assert!(matches!(store.get("lower").await, Err(SecretError::InvalidName { .. })));
}
