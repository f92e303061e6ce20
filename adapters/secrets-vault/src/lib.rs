//! # lettuce-secrets-vault
//!
//! A [`SecretStore`] over HashiCorp Vault's (or OpenBao's) **KV version 2**
//! secrets engine (backend name `vault`), with the official-API client
//! [`vaultrs`].
//!
//! * A secret named `NAME` (an env-var name such as `JWT_SIGNING_KEY`) is read
//!   from `<mount>/data/lettuce/<NAME>` (`LETTUCE_VAULT_MOUNT`, default
//!   `secret`). Its field `value` is the secret; a KV secret with exactly one
//!   field is read whatever that field is called. Any other shape is an error
//!   naming the fields (never their values).
//! * Authentication: `VAULT_TOKEN`, or AppRole (`VAULT_ROLE_ID` +
//!   `VAULT_SECRET_ID`, login at `auth/<LETTUCE_VAULT_APPROLE_MOUNT>/login`,
//!   default mount `approle`). A renewable token is renewed when two thirds of
//!   its TTL have passed (by a background task and before each read); an
//!   AppRole token that expired or was revoked is replaced by logging in
//!   again, transparently, on the next read.
//! * TLS and namespaces as the Vault CLI reads them: `VAULT_CACERT` (a PEM
//!   bundle), `VAULT_CAPATH` (a directory of PEM files), `VAULT_SKIP_VERIFY`,
//!   `VAULT_NAMESPACE`.
//! * Errors: a missing path (HTTP 404, also a deleted latest version) is
//!   [`SecretError::NotFound`]; permission denied (403), a sealed or
//!   unreachable server, throttling and everything else propagate as
//!   [`SecretError::Backend`] (retryable for connection failures, 429 and
//!   5xx). No value is cached here: [`SecretHandle`](lettuce_ports::secrets::SecretHandle)
//!   decides reuse.
//!
//! `vaultrs` brings its own `reqwest` client (it is built on `rustify`), so
//! calls to Vault are not instrumented by `lettuce-http-client`; this adapter
//! emits a `vault.read` span per read instead.
//!
//! Tested against a real OpenBao dev server (`scripts/test-peers`:
//! `LETTUCE_TEST_VAULT_ADDR`, `LETTUCE_TEST_VAULT_TOKEN`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use lettuce_ports::config::Settings;
//! use lettuce_ports::secrets::SecretStore;
//! use lettuce_secrets_vault::{VaultConfig, VaultSecretStore};
//! use std::collections::HashMap;
//!
//! let env: HashMap<String, String> = [
//!     ("VAULT_ADDR".to_string(), "https://vault.internal:8200".to_string()),
//!     ("VAULT_ROLE_ID".to_string(), "lettuce".to_string()),
//!     ("VAULT_SECRET_ID".to_string(), "…".to_string()),
//! ]
//! .into();
//! let mut settings = Settings::new(&env);
//! let config = VaultConfig::from_settings(&mut settings);
//! let config = settings.finish(config)?;
//! let store = VaultSecretStore::new(config)?;
//! let key = store.get("JWT_SIGNING_KEY").await?;
//! # let _ = key; Ok(()) }
//! ```
#![deny(missing_docs)]

use async_trait::async_trait;
use lettuce_ports::config::Settings;
use lettuce_ports::secrets::{Secret, SecretError, SecretStore, validate_secret_name};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};
use vaultrs::client::{Client, VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

const BACKEND: &str = "vault";
/// Where Lettuce's secrets live under the mount: `<mount>/data/lettuce/<NAME>`.
pub const PATH_PREFIX: &str = "lettuce";

/// How the adapter authenticates to Vault.
#[derive(Clone)]
#[non_exhaustive]
pub enum VaultAuth {
    /// A token (`VAULT_TOKEN`), used as is (renewed when renewable).
    Token(Secret),
    /// AppRole login (`VAULT_ROLE_ID` + `VAULT_SECRET_ID`).
    AppRole {
        /// The role id (not secret on its own).
        role_id: String,
        /// The secret id.
        secret_id: Secret,
        /// The auth mount (`LETTUCE_VAULT_APPROLE_MOUNT`, default `approle`).
        mount: String,
    },
}

impl fmt::Debug for VaultAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VaultAuth::Token(_) => f.write_str("Token(***)"),
            VaultAuth::AppRole { role_id, mount, .. } => f
                .debug_struct("AppRole")
                .field("role_id", role_id)
                .field("secret_id", &"***")
                .field("mount", mount)
                .finish(),
        }
    }
}

/// Configuration of the Vault secret store (see the crate docs for the
/// variables). `Debug` never shows the token or secret id.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VaultConfig {
    /// `VAULT_ADDR`.
    pub addr: url::Url,
    /// `VAULT_TOKEN` or AppRole.
    pub auth: VaultAuth,
    /// `LETTUCE_VAULT_MOUNT` (default `secret`): the KV v2 mount.
    pub mount: String,
    /// `VAULT_NAMESPACE` (Vault Enterprise / OpenBao namespaces).
    pub namespace: Option<String>,
    /// `VAULT_CACERT`: a PEM bundle of CA certificates to trust.
    pub ca_cert: Option<PathBuf>,
    /// `VAULT_CAPATH`: a directory of PEM CA certificates to trust.
    pub ca_path: Option<PathBuf>,
    /// `VAULT_SKIP_VERIFY`: do not verify the server certificate (never in production).
    pub skip_verify: bool,
    /// Per-request timeout (10 s).
    pub timeout: Duration,
}

impl VaultConfig {
    /// A configuration for `addr` with `auth` and the defaults.
    pub fn new(addr: url::Url, auth: VaultAuth) -> Self {
        Self {
            addr,
            auth,
            mount: "secret".into(),
            namespace: None,
            ca_cert: None,
            ca_path: None,
            skip_verify: false,
            timeout: Duration::from_secs(10),
        }
    }

    /// The same configuration with another KV v2 mount.
    pub fn with_mount(mut self, mount: impl Into<String>) -> Self {
        self.mount = mount.into();
        self
    }

    /// Reads `VAULT_ADDR`, `VAULT_TOKEN` or `VAULT_ROLE_ID` + `VAULT_SECRET_ID`,
    /// `LETTUCE_VAULT_MOUNT`, `LETTUCE_VAULT_APPROLE_MOUNT`, `VAULT_NAMESPACE`,
    /// `VAULT_CACERT`, `VAULT_CAPATH`, `VAULT_SKIP_VERIFY`, recording every
    /// problem in `s`.
    ///
    /// `VAULT_TOKEN` and `VAULT_SECRET_ID` are the credentials *to* the
    /// secret store, so they are the one secret-bearing pair read from the
    /// settings lookup (the process environment); they are wrapped in
    /// [`Secret`] at once.
    pub fn from_settings(s: &mut Settings<'_>) -> Option<VaultConfig> {
        let addr = match s.http_url("VAULT_ADDR", "https://vault.example.com:8200") {
            Some(a) => Some(a),
            None if !s.is_set("VAULT_ADDR") => {
                s.error(
                    "VAULT_ADDR",
                    "is required with LETTUCE_SECRET_STORE=vault",
                    "set VAULT_ADDR to the Vault server, e.g. https://vault.example.com:8200",
                );
                None
            }
            None => None,
        };
        let mount = s.get("LETTUCE_VAULT_MOUNT").unwrap_or_else(|| "secret".into());
        let mount = mount.trim_matches('/').to_owned();
        if mount.is_empty() || mount.contains("..") {
            s.error(
                "LETTUCE_VAULT_MOUNT",
                format!("`{mount}` is not a mount path"),
                "set the path of the KV v2 mount (default `secret`)",
            );
        }
        let approle_mount = s
            .get("LETTUCE_VAULT_APPROLE_MOUNT")
            .unwrap_or_else(|| "approle".into())
            .trim_matches('/')
            .to_owned();
        let auth = match (s.get("VAULT_ROLE_ID"), s.get("VAULT_SECRET_ID"), s.get("VAULT_TOKEN")) {
            (Some(role_id), Some(secret_id), _) => Some(VaultAuth::AppRole {
                role_id,
                secret_id: Secret::new(secret_id),
                mount: approle_mount,
            }),
            (Some(_), None, _) => {
                s.error(
                    "VAULT_SECRET_ID",
                    "is required when VAULT_ROLE_ID is set (AppRole login)",
                    "set VAULT_SECRET_ID to the AppRole secret id, or unset VAULT_ROLE_ID and set VAULT_TOKEN",
                );
                None
            }
            (None, Some(_), _) => {
                s.error(
                    "VAULT_ROLE_ID",
                    "is required when VAULT_SECRET_ID is set (AppRole login)",
                    "set VAULT_ROLE_ID to the AppRole role id",
                );
                None
            }
            (None, None, Some(token)) => Some(VaultAuth::Token(Secret::new(token))),
            (None, None, None) => {
                s.error(
                    "VAULT_TOKEN",
                    "LETTUCE_SECRET_STORE=vault needs credentials: neither VAULT_TOKEN nor VAULT_ROLE_ID/VAULT_SECRET_ID is set",
                    "set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID for AppRole login",
                );
                None
            }
        };
        let ca_cert = s.get("VAULT_CACERT").map(PathBuf::from);
        if let Some(p) = &ca_cert
            && !p.is_file()
        {
            s.error(
                "VAULT_CACERT",
                format!("{} is not a readable file", p.display()),
                "point VAULT_CACERT at the PEM file of the CA that signed Vault's certificate",
            );
        }
        let ca_path = s.get("VAULT_CAPATH").map(PathBuf::from);
        if let Some(p) = &ca_path
            && !p.is_dir()
        {
            s.error(
                "VAULT_CAPATH",
                format!("{} is not a directory", p.display()),
                "point VAULT_CAPATH at a directory of PEM CA certificates (or use VAULT_CACERT)",
            );
        }
        let skip_verify = s.bool("VAULT_SKIP_VERIFY", false);
        let namespace = s.get("VAULT_NAMESPACE").map(|n| n.trim_matches('/').to_owned());
        let mut config = VaultConfig::new(addr?, auth?).with_mount(mount);
        config.namespace = namespace.filter(|n| !n.is_empty());
        config.ca_cert = ca_cert;
        config.ca_path = ca_path;
        config.skip_verify = skip_verify;
        Some(config)
    }

    /// The variables shown by `lettuce config check` (no secret values).
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let mut rows = vec![("VAULT_ADDR", self.addr.to_string())];
        match &self.auth {
            VaultAuth::Token(_) => rows.push(("VAULT_TOKEN", "*** (token auth)".into())),
            VaultAuth::AppRole { role_id, mount, .. } => {
                rows.push(("VAULT_ROLE_ID", format!("{role_id} (AppRole login at auth/{mount})")));
                rows.push(("VAULT_SECRET_ID", "***".into()));
            }
        }
        rows.push((
            "LETTUCE_VAULT_MOUNT",
            format!("{} (paths {}/data/{PATH_PREFIX}/<NAME>)", self.mount, self.mount),
        ));
        if let Some(ns) = &self.namespace {
            rows.push(("VAULT_NAMESPACE", ns.clone()));
        }
        if let Some(p) = &self.ca_cert {
            rows.push(("VAULT_CACERT", p.display().to_string()));
        }
        if let Some(p) = &self.ca_path {
            rows.push(("VAULT_CAPATH", p.display().to_string()));
        }
        if self.skip_verify {
            rows.push(("VAULT_SKIP_VERIFY", "true (TLS verification off)".into()));
        }
        rows
    }

    fn ca_files(&self) -> Result<Vec<String>, SecretError> {
        let mut files = Vec::new();
        if let Some(p) = &self.ca_cert {
            files.push(p.display().to_string());
        }
        if let Some(dir) = &self.ca_path {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| config_error(format!("reading VAULT_CAPATH {}: {e}", dir.display())))?;
            let mut paths: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .map(|p| p.display().to_string())
                .collect();
            paths.sort();
            files.extend(paths);
        }
        Ok(files)
    }
}

fn config_error(msg: String) -> SecretError {
    SecretError::Backend {
        backend: BACKEND,
        source: lettuce_ports::box_msg(msg),
        retryable: false,
    }
}

/// The token in use and what is known of its lifetime.
#[derive(Default)]
struct TokenState {
    /// Whether a token is set on the client (AppRole: after a login).
    ready: bool,
    /// When the token expires (`None`: never, or not known yet).
    expires_at: Option<Instant>,
    /// Its TTL when obtained or last renewed.
    ttl: Duration,
    renewable: bool,
}

impl TokenState {
    fn from_lease(lease_secs: u64, renewable: bool) -> Self {
        Self {
            ready: true,
            expires_at: (lease_secs > 0).then(|| Instant::now() + Duration::from_secs(lease_secs)),
            ttl: Duration::from_secs(lease_secs),
            renewable,
        }
    }

    /// Whether two thirds of the TTL have passed.
    fn due(&self) -> bool {
        match self.expires_at {
            None => false,
            Some(at) => at.saturating_duration_since(Instant::now()) < self.ttl / 3,
        }
    }
}

struct Inner {
    config: VaultConfig,
    client: RwLock<VaultClient>,
    token: Mutex<TokenState>,
    logins: AtomicU64,
    renewals: AtomicU64,
}

/// Reads secrets from Vault KV v2 (see the crate docs). Cheap to clone.
#[derive(Clone)]
pub struct VaultSecretStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for VaultSecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultSecretStore")
            .field("addr", &self.inner.config.addr.as_str())
            .field("mount", &self.inner.config.mount)
            .field("auth", &self.inner.config.auth)
            .finish()
    }
}

impl VaultSecretStore {
    /// A store for `config`. Makes no request: the first [`SecretStore::get`]
    /// logs in (AppRole) or looks the token up, so an unreachable Vault is
    /// reported with the name of the secret being read. Within a Tokio
    /// runtime, a background task renews a renewable token in time.
    pub fn new(config: VaultConfig) -> Result<Self, SecretError> {
        let mut b = VaultClientSettingsBuilder::default();
        b.address(config.addr.as_str())
            .token(match &config.auth {
                VaultAuth::Token(t) => t.expose().to_owned(),
                VaultAuth::AppRole { .. } => String::new(),
            })
            .ca_certs(config.ca_files()?)
            .identity(None)
            .verify(!config.skip_verify)
            .timeout(Some(config.timeout))
            .namespace(config.namespace.clone());
        let settings = b
            .build()
            .map_err(|e| config_error(format!("invalid Vault client settings: {e}")))?;
        let client = VaultClient::new(settings).map_err(|e| config_error(format!("building the Vault client: {e}")))?;
        let token_state = match &config.auth {
            // Lifetime unknown until the first lookup.
            VaultAuth::Token(_) => TokenState {
                ready: true,
                ..TokenState::default()
            },
            VaultAuth::AppRole { .. } => TokenState::default(),
        };
        let store = Self {
            inner: Arc::new(Inner {
                config,
                client: RwLock::new(client),
                token: Mutex::new(token_state),
                logins: AtomicU64::new(0),
                renewals: AtomicU64::new(0),
            }),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(renew_in_background(Arc::downgrade(&store.inner)));
        }
        Ok(store)
    }

    /// How many AppRole logins this store has made (diagnostics, tests).
    pub fn login_count(&self) -> u64 {
        self.inner.logins.load(Ordering::Relaxed)
    }

    /// How many token renewals this store has made (diagnostics, tests).
    pub fn renewal_count(&self) -> u64 {
        self.inner.renewals.load(Ordering::Relaxed)
    }

    /// The KV v2 mount read from.
    pub fn mount(&self) -> &str {
        &self.inner.config.mount
    }
}

/// Renews the token when due, until the store is dropped.
async fn renew_in_background(inner: Weak<Inner>) {
    loop {
        // Only tokens whose lifetime is known are renewed here; the first
        // read learns it (and logs in, for AppRole).
        let wait = {
            let Some(inner) = inner.upgrade() else { return };
            let t = inner.token.lock().await;
            match t.expires_at {
                Some(at) if t.ready => {
                    let renew_at = at.checked_sub(t.ttl / 3).unwrap_or(at);
                    Some(
                        renew_at
                            .saturating_duration_since(Instant::now())
                            .max(Duration::from_secs(1)),
                    )
                }
                _ => None,
            }
        };
        tokio::time::sleep(wait.unwrap_or(Duration::from_secs(30)).min(Duration::from_secs(30))).await;
        let Some(inner) = inner.upgrade() else { return };
        let due = {
            let t = inner.token.lock().await;
            wait.is_some() && t.ready && t.due()
        };
        if due && let Err(e) = inner.ensure_token().await {
            tracing::warn!(backend = BACKEND, error = %e, "renewing the Vault token failed; the next read retries");
        }
    }
}

impl Inner {
    /// Logs in (AppRole) when there is no token yet, renews a token whose
    /// TTL is two-thirds gone, and logs in again when renewal is not
    /// possible (AppRole). A static token that cannot be renewed is left as
    /// is: reads then fail with the permission error naming VAULT_TOKEN.
    async fn ensure_token(&self) -> Result<(), SecretError> {
        let mut state = self.token.lock().await;
        if !state.ready {
            return self.login(&mut state).await;
        }
        if state.expires_at.is_none() && state.ttl.is_zero() && matches!(self.config.auth, VaultAuth::Token(_)) {
            // First use of a static token: learn its lifetime.
            let lookup = { vaultrs::token::lookup_self(&*self.client.read().await).await };
            match lookup {
                Ok(info) => {
                    *state = TokenState::from_lease(info.ttl, info.renewable.unwrap_or(false));
                    if info.ttl == 0 {
                        // Never expires (root or a non-expiring token): mark as known.
                        state.ttl = Duration::MAX;
                    }
                }
                // A policy without `default` may not look itself up: read anyway.
                Err(e) if is_status(&e, 403) => state.ttl = Duration::MAX,
                Err(e) => return Err(map_error(e, "looking up VAULT_TOKEN (auth/token/lookup-self)")),
            }
        }
        if !state.due() {
            return Ok(());
        }
        if state.renewable {
            let renewed = { vaultrs::token::renew_self(&*self.client.read().await, None).await };
            match renewed {
                Ok(auth) => {
                    self.renewals.fetch_add(1, Ordering::Relaxed);
                    *state = TokenState::from_lease(auth.lease_duration, auth.renewable);
                    tracing::debug!(
                        backend = BACKEND,
                        ttl_secs = auth.lease_duration,
                        "renewed the Vault token"
                    );
                    return Ok(());
                }
                Err(e) => {
                    tracing::info!(backend = BACKEND, error = %e, "the Vault token could not be renewed");
                }
            }
        }
        match self.config.auth {
            VaultAuth::AppRole { .. } => self.login(&mut state).await,
            VaultAuth::Token(_) => {
                // Nothing more to do; stop re-trying renewal on every read.
                state.expires_at = None;
                Ok(())
            }
        }
    }

    async fn login(&self, state: &mut TokenState) -> Result<(), SecretError> {
        let VaultAuth::AppRole {
            role_id,
            secret_id,
            mount,
        } = &self.config.auth
        else {
            return Ok(());
        };
        let result = {
            let client = self.client.read().await;
            vaultrs::auth::approle::login(&*client, mount, role_id, secret_id.expose()).await
        };
        let auth = result.map_err(|e| {
            map_error(
                e,
                &format!("AppRole login at auth/{mount}/login (VAULT_ROLE_ID, VAULT_SECRET_ID)"),
            )
        })?;
        self.client.write().await.set_token(&auth.client_token);
        self.logins.fetch_add(1, Ordering::Relaxed);
        *state = TokenState::from_lease(auth.lease_duration, auth.renewable);
        tracing::info!(
            backend = BACKEND,
            ttl_secs = auth.lease_duration,
            renewable = auth.renewable,
            "logged in to Vault with AppRole"
        );
        Ok(())
    }

    /// Forgets the token so the next read logs in again (AppRole only).
    async fn expire(&self) {
        if matches!(self.config.auth, VaultAuth::AppRole { .. }) {
            self.token.lock().await.ready = false;
        }
    }

    async fn read(&self, name: &str) -> Result<serde_json::Map<String, serde_json::Value>, ClientError> {
        let path = format!("{PATH_PREFIX}/{name}");
        let client = self.client.read().await;
        vaultrs::kv2::read(&*client, &self.config.mount, &path).await
    }
}

/// Classifies a `vaultrs` error; `what` says what was attempted (never a value).
fn map_error(e: ClientError, what: &str) -> SecretError {
    let (retryable, detail) = match &e {
        ClientError::APIError { code, errors } => {
            let retryable = *code == 429 || *code >= 500;
            let hint = match *code {
                403 => {
                    " (permission denied: check the Vault policy of this token, or that VAULT_TOKEN/the AppRole token is still valid)"
                }
                503 => " (Vault is sealed or in standby)",
                _ => "",
            };
            (retryable, format!("HTTP {code}: {}{hint}", errors.join("; ")))
        }
        // A status without a parsable `errors` body (the body is not shown:
        // it is Vault's, and stays out of messages).
        ClientError::RestClientError {
            source: rustify::errors::ClientError::ServerResponseError { code, .. },
        } => (*code == 429 || *code >= 500, format!("HTTP {code}")),
        ClientError::RestClientError { source } => {
            (true, format!("request failed: {}", lettuce_ports::error_chain(source)))
        }
        other => (false, lettuce_ports::error_chain(other)),
    };
    SecretError::Backend {
        backend: BACKEND,
        source: lettuce_ports::box_msg(format!("{what}: {detail}")),
        retryable,
    }
}

/// The HTTP status Vault answered with, if it answered.
fn status_of(e: &ClientError) -> Option<u16> {
    match e {
        ClientError::APIError { code, .. } => Some(*code),
        ClientError::RestClientError {
            source: rustify::errors::ClientError::ServerResponseError { code, .. },
        } => Some(*code),
        _ => None,
    }
}

fn is_status(e: &ClientError, status: u16) -> bool {
    status_of(e) == Some(status)
}

#[async_trait]
impl SecretStore for VaultSecretStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    #[tracing::instrument(name = "vault.read", skip(self), fields(mount = %self.inner.config.mount))]
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        validate_secret_name(name)?;
        let inner = &self.inner;
        let path = format!("{}/data/{PATH_PREFIX}/{name}", inner.config.mount);
        inner.ensure_token().await?;
        let mut result = inner.read(name).await;
        if let Err(e) = &result
            && is_status(e, 403)
            && matches!(inner.config.auth, VaultAuth::AppRole { .. })
        {
            // The AppRole token expired or was revoked: log in again once.
            tracing::info!(
                backend = BACKEND,
                "Vault refused the token; logging in again with AppRole"
            );
            inner.expire().await;
            inner.ensure_token().await?;
            result = inner.read(name).await;
        }
        let data = match result {
            Ok(d) => d,
            Err(e) if is_status(&e, 404) => {
                return Err(SecretError::NotFound {
                    backend: BACKEND,
                    name: name.to_owned(),
                });
            }
            Err(e) => return Err(map_error(e, &format!("reading {path}"))),
        };
        pick_value(data, &path)
    }
}

/// The field `value`, else the only field.
fn pick_value(mut data: serde_json::Map<String, serde_json::Value>, path: &str) -> Result<Secret, SecretError> {
    let value = match data.remove("value") {
        Some(v) => v,
        None if data.len() == 1 => data.into_iter().next().map(|(_, v)| v).unwrap_or_default(),
        None => {
            let fields: Vec<&str> = data.keys().map(String::as_str).collect();
            return Err(config_error(format!(
                "{path} has {} fields ({}) and none is called `value`: store the secret in a field `value`",
                fields.len(),
                if fields.is_empty() {
                    "none".to_owned()
                } else {
                    fields.join(", ")
                }
            )));
        }
    };
    match value {
        serde_json::Value::String(s) => Ok(Secret::new(s)),
        serde_json::Value::Number(n) => Ok(Secret::new(n.to_string())),
        _ => Err(config_error(format!(
            "{path}: the secret's field is not a string (store the value as a string)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<VaultConfig, lettuce_ports::config::ConfigErrors> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let mut s = Settings::new(&env);
        let c = VaultConfig::from_settings(&mut s);
        s.finish(c)
    }

    #[test]
    fn settings_name_every_missing_variable() {
        let e = cfg(&[]).unwrap_err();
        assert_eq!(e.vars(), ["VAULT_ADDR", "VAULT_TOKEN"]);
        let e = cfg(&[("VAULT_ADDR", "http://127.0.0.1:8200"), ("VAULT_ROLE_ID", "r")]).unwrap_err();
        assert_eq!(e.vars(), ["VAULT_SECRET_ID"]);
        let e = cfg(&[
            ("VAULT_ADDR", "vault:8200"),
            ("VAULT_TOKEN", "t"),
            ("VAULT_CACERT", "/nonexistent/ca.pem"),
        ])
        .unwrap_err();
        assert_eq!(e.vars(), ["VAULT_ADDR", "VAULT_CACERT"]);
    }

    #[test]
    fn settings_pick_approle_and_defaults_and_redact() {
        let c = cfg(&[
            ("VAULT_ADDR", "https://vault.example.com:8200"),
            ("VAULT_TOKEN", "hvs.tokentokentoken"),
            ("VAULT_ROLE_ID", "role-1"),
            ("VAULT_SECRET_ID", "secret-id-value-123"),
            ("VAULT_NAMESPACE", "/team-a/"),
        ])
        .unwrap();
        assert!(matches!(&c.auth, VaultAuth::AppRole { mount, .. } if mount == "approle"));
        assert_eq!(c.mount, "secret");
        assert_eq!(c.namespace.as_deref(), Some("team-a"));
        let shown = format!("{c:?} {:?}", c.describe());
        assert!(
            !shown.contains("secret-id-value-123") && !shown.contains("tokentoken"),
            "{shown}"
        );
        let c = cfg(&[
            ("VAULT_ADDR", "http://127.0.0.1:8200"),
            ("VAULT_TOKEN", "hvs.tokentokentoken"),
            ("LETTUCE_VAULT_MOUNT", "/kv-lettuce/"),
        ])
        .unwrap();
        assert!(matches!(c.auth, VaultAuth::Token(_)));
        assert_eq!(c.mount, "kv-lettuce");
    }

    #[test]
    fn value_field_or_only_field() {
        let m = |v: serde_json::Value| v.as_object().unwrap().clone();
        let p = "secret/data/lettuce/X";
        assert_eq!(
            pick_value(m(serde_json::json!({"value": "a", "other": "b"})), p)
                .unwrap()
                .expose(),
            "a"
        );
        assert_eq!(
            pick_value(m(serde_json::json!({"password": "only"})), p)
                .unwrap()
                .expose(),
            "only"
        );
        let e = pick_value(m(serde_json::json!({"a": "hidden-1", "b": "hidden-2"})), p).unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(text.contains("a, b") && !text.contains("hidden-"), "{text}");
        assert!(pick_value(m(serde_json::json!({"value": {"nested": 1}})), p).is_err());
    }
}
