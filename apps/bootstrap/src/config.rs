//! Typed configuration read from the environment.
//!
//! Every variable is documented in `docs/configuration.md`; keep both in step.

use crate::features::missing_feature;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A snapshot of environment variables (the process's, or a map in tests).
#[derive(Clone, Default)]
pub struct EnvMap(HashMap<String, String>);

impl fmt::Debug for EnvMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvMap({} vars)", self.0.len())
    }
}

impl EnvMap {
    /// The process environment (variables that are not valid UTF-8 are skipped).
    pub fn from_process() -> Self {
        Self(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        )
    }

    /// From explicit pairs.
    pub fn from_pairs<I: IntoIterator<Item = (K, V)>, K: Into<String>, V: Into<String>>(pairs: I) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// A non-empty, trimmed value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// All pairs (for the env secret store).
    pub fn into_map(self) -> HashMap<String, String> {
        self.0
    }
}

pub use lettuce_ports::config::{ConfigError, ConfigErrors};

impl lettuce_ports::config::SettingSource for EnvMap {
    fn lookup(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// Where metadata (and the job queue) live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// SQLite file; the queue is `queue.db` beside it.
    Sqlite(PathBuf),
    /// PostgreSQL (`DATABASE_URL`, may carry a password); the queue shares the database.
    Postgres(lettuce_domain::Secret),
}

impl StoreBackend {
    /// The database as it may be shown: password removed.
    pub fn redacted(&self) -> String {
        match self {
            StoreBackend::Sqlite(p) => format!("sqlite:{}", p.display()),
            StoreBackend::Postgres(url) => match url::Url::parse(url.expose()) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    u.to_string()
                }
                Err(_) => "postgres://(unparsable URL)".into(),
            },
        }
    }
}

/// Where blobs live.
#[derive(Debug, Clone)]
pub enum BlobBackend {
    /// A local directory.
    Fs(PathBuf),
    /// Process memory (tests, demos: lost on exit).
    Memory,
    /// An S3-compatible bucket (`CODEWAZE_S3_*`).
    #[cfg(feature = "blob-s3")]
    S3(Box<lettuce_blob_object_store::S3Config>),
}

/// Telemetry (`LETTUCE_TELEMETRY_ENABLED`, `LETTUCE_TELEMETRY_URL`, the
/// legacy `LETTUCE_TELEMETRY_DISABLED`, `DO_NOT_TRACK`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TelemetryConfig {
    /// `LETTUCE_TELEMETRY_URL` (default [`DEFAULT_TELEMETRY_URL`]).
    pub url: String,
    /// The operator's opt-out requests. Honoured only when the license
    /// allows it (decided at run time; see docs/telemetry.md).
    pub opt_outs: Vec<lettuce_domain::telemetry::OptOut>,
    /// Whether this build has the heartbeat sender (feature `telemetry-http`).
    pub sender_available: bool,
}

/// Where heartbeats go unless `LETTUCE_TELEMETRY_URL` says otherwise.
pub const DEFAULT_TELEMETRY_URL: &str = "https://telemetry.uselettuce.dev/v1/heartbeat";

/// A boolean variable: `None` when unset; a config error (naming the
/// variable) when not one of true/false/1/0/yes/no/on/off.
fn parse_opt_bool(env: &EnvMap, var: &'static str, errs: &mut Vec<ConfigError>) -> Option<bool> {
    env.get(var)?;
    Some(parse_bool(env, var, false, errs))
}

/// Reads the telemetry variables. Returns the configuration and the
/// deprecation warnings to log once.
fn telemetry_config(env: &EnvMap, errs: &mut Vec<ConfigError>) -> (TelemetryConfig, Vec<String>) {
    use lettuce_domain::telemetry::OptOut;
    let mut warnings = Vec::new();
    let enabled = parse_opt_bool(env, "LETTUCE_TELEMETRY_ENABLED", errs);
    let legacy_disabled = parse_opt_bool(env, "LETTUCE_TELEMETRY_DISABLED", errs);
    let do_not_track = parse_opt_bool(env, "DO_NOT_TRACK", errs);
    let mut opt_outs = Vec::new();
    match (enabled, legacy_disabled) {
        (Some(false), _) => opt_outs.push(OptOut::EnabledFalse),
        (None, Some(true)) => opt_outs.push(OptOut::LegacyDisabled),
        _ => {}
    }
    if let Some(disabled) = legacy_disabled {
        let replacement = if disabled { "false" } else { "true" };
        let precedence = if enabled.is_some() {
            " LETTUCE_TELEMETRY_ENABLED is also set and takes precedence."
        } else {
            ""
        };
        warnings.push(format!(
            "LETTUCE_TELEMETRY_DISABLED is deprecated and will be removed: use LETTUCE_TELEMETRY_ENABLED={replacement} instead.{precedence}"
        ));
    }
    if do_not_track == Some(true) {
        opt_outs.push(OptOut::DoNotTrack);
    }
    let url = match env.get("LETTUCE_TELEMETRY_URL") {
        None => DEFAULT_TELEMETRY_URL.to_owned(),
        Some(raw) => match url::Url::parse(raw) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()) => {
                raw.to_owned()
            }
            _ => {
                errs.push(ConfigError::new(
                    "LETTUCE_TELEMETRY_URL",
                    "not an http(s) URL with a host",
                    format!("set the receiver URL, e.g. {DEFAULT_TELEMETRY_URL}, or unset it for that default"),
                ));
                DEFAULT_TELEMETRY_URL.to_owned()
            }
        },
    };
    let sender_available = cfg!(feature = "telemetry-http");
    if !sender_available {
        if enabled == Some(true) {
            errs.push(missing_feature("telemetry-http", "LETTUCE_TELEMETRY_ENABLED", "true"));
        }
        if env.get("LETTUCE_TELEMETRY_URL").is_some() {
            errs.push(missing_feature("telemetry-http", "LETTUCE_TELEMETRY_URL", "…"));
        }
    }
    (
        TelemetryConfig {
            url,
            opt_outs,
            sender_available,
        },
        warnings,
    )
}

/// `url` without user info, query or fragment (for display).
fn display_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "(unparsable URL)".into(),
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Code index settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IndexSettings {
    /// `LETTUCE_INDEX_CACHE_DIR` (default `<data dir>/index-cache`): local
    /// cache of index files and scratch space; safe to delete.
    pub cache_dir: PathBuf,
    /// `LETTUCE_INDEX_MAX_FILE_BYTES` (default 1 MiB): larger files are
    /// listed but not indexed.
    pub max_file_bytes: u64,
    /// `LETTUCE_INDEX_EXCLUDE`: comma-separated gitignore-style globs never indexed.
    pub exclude: Vec<String>,
    /// `LETTUCE_INDEX_THREADS` (default: every core): threads per index run.
    pub threads: usize,
    /// `LETTUCE_INDEX_MEMORY_MB` (default 256): writer memory per index run.
    pub memory_mb: usize,
    /// `LETTUCE_INDEX_PARSE_TIMEOUT_SECS` (default 10): a file that takes
    /// longer to parse is indexed as text only.
    pub parse_timeout: Duration,
    /// `LETTUCE_TOKEN_ENCODING` (default `o200k_base`; or `cl100k_base`).
    pub token_encoding: String,
}

/// The resolved configuration.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// `LETTUCE_BIND`: HTTP listen address.
    pub bind: SocketAddr,
    /// `CODEWAZE_DATA_DIR`: local data (SQLite, mirrors, generated secrets, cache).
    pub data_dir: PathBuf,
    /// `DATABASE_URL`: metadata store.
    pub store: StoreBackend,
    /// Queue database (follows `DATABASE_URL`; SQLite: `<data dir>/queue.db`).
    pub queue_path: PathBuf,
    /// `LETTUCE_BLOB_STORE` / `LETTUCE_BLOB_DIR`.
    pub blobs: BlobBackend,
    /// `LETTUCE_SECRET_STORE` and the chosen store's own variables.
    pub secrets: crate::secret_store::SecretsConfig,
    /// `LETTUCE_AUTH_PROVIDER`.
    pub auth_provider: String,
    /// `LETTUCE_AUTH_PROVIDER` with the chosen IdP adapter's own configuration.
    pub auth: crate::auth::AuthProvider,
    /// Code hosts (`GITHUB_*`).
    pub code_hosts: crate::code_hosts::CodeHostsConfig,
    /// `LETTUCE_ALLOW_PRIVATE_GIT_HOSTS`.
    pub allow_private_git_hosts: bool,
    /// `LETTUCE_GIT_TIMEOUT_SECS`.
    pub git_timeout: Duration,
    /// `LETTUCE_WEB_URL` (falls back to `CODEWAZE_PUBLIC_URL`, then `http://<bind>`).
    pub web_url: String,
    /// `LETTUCE_MCP_URL` (falls back to `CODEWAZE_PUBLIC_URL` + `/mcp`, then `<web url>/mcp`).
    pub mcp_url: String,
    /// `LETTUCE_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `OTEL_*` trace export and `LETTUCE_METRICS_BIND`.
    pub observability: crate::observability::ObservabilityConfig,
    /// `LETTUCE_WORKER_CONCURRENCY`.
    pub worker_concurrency: usize,
    /// `LETTUCE_JOB_LEASE_SECS`.
    pub job_lease: Duration,
    /// `LETTUCE_SHUTDOWN_GRACE_SECS`.
    pub shutdown_grace: Duration,
    /// `LETTUCE_INDEX_MAX_ATTEMPTS`.
    pub index_max_attempts: u32,
    /// `LETTUCE_SESSION_TTL_HOURS`.
    pub session_ttl: Duration,
    /// `LETTUCE_SELF_HOSTED`: license gating on.
    pub self_hosted: bool,
    /// `LETTUCE_LICENSE_PUBLIC_KEY`: a path or inline PEM (else the bundled file, else compiled in).
    pub license_public_key: Option<String>,
    /// `LETTUCE_LICENSE_CACHE_PATH`.
    pub license_cache_path: PathBuf,
    /// `LETTUCE_TELEMETRY_*`, `DO_NOT_TRACK`.
    pub telemetry: TelemetryConfig,
    /// `LETTUCE_INDEX_*`, `LETTUCE_TOKEN_ENCODING`: the code index.
    pub index: IndexSettings,
    /// Deprecations to log once at start-up (e.g. `LETTUCE_TELEMETRY_DISABLED`).
    pub warnings: Vec<String>,
    /// The environment, for the env secret store.
    pub(crate) env: EnvMap,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("store", &self.store)
            .field("blobs", &self.blobs)
            .field("secrets", &self.secrets)
            .field("auth_provider", &self.auth_provider)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The code index configuration for `settings`.
    #[cfg(feature = "index-tantivy")]
    pub fn local_index_config(settings: &IndexSettings) -> lettuce_index_tantivy::IndexConfig {
        let mut c = lettuce_index_tantivy::IndexConfig::new(settings.cache_dir.clone());
        c.max_file_bytes = settings.max_file_bytes;
        c.exclude = settings.exclude.clone();
        c.threads = settings.threads;
        c.memory_bytes = settings.memory_mb << 20;
        c.parse_timeout = settings.parse_timeout;
        c
    }
}

pub(crate) fn index_settings(env: &EnvMap, data_dir: &std::path::Path, errs: &mut Vec<ConfigError>) -> IndexSettings {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let exclude: Vec<String> = env
        .get("LETTUCE_INDEX_EXCLUDE")
        .map(|v| {
            v.split(',')
                .map(|g| g.trim().to_owned())
                .filter(|g| !g.is_empty())
                .collect()
        })
        .unwrap_or_default();
    #[cfg(feature = "index-tantivy")]
    if let Err(e) = lettuce_index_tantivy::compile_globs(exclude.iter().map(String::as_str)) {
        errs.push(ConfigError::new(
            "LETTUCE_INDEX_EXCLUDE",
            e.to_string(),
            "give comma-separated gitignore-style globs, e.g. `docs/,*.snap,/testdata/`",
        ));
    }
    let token_encoding = env.get("LETTUCE_TOKEN_ENCODING").unwrap_or("o200k_base").to_owned();
    if !matches!(token_encoding.as_str(), "o200k_base" | "cl100k_base") {
        errs.push(ConfigError::new(
            "LETTUCE_TOKEN_ENCODING",
            format!("unknown encoding `{token_encoding}`"),
            "use o200k_base (default, GPT-4o family) or cl100k_base (GPT-4)",
        ));
    }
    IndexSettings {
        cache_dir: env
            .get("LETTUCE_INDEX_CACHE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("index-cache")),
        max_file_bytes: parse_num(env, "LETTUCE_INDEX_MAX_FILE_BYTES", 1_048_576u64, 1024, 64 << 20, errs),
        exclude,
        threads: parse_num(env, "LETTUCE_INDEX_THREADS", cores, 1, 256, errs),
        memory_mb: parse_num(env, "LETTUCE_INDEX_MEMORY_MB", 256usize, 32, 16_384, errs),
        parse_timeout: Duration::from_secs(parse_num(env, "LETTUCE_INDEX_PARSE_TIMEOUT_SECS", 10u64, 1, 600, errs)),
        token_encoding,
    }
}

fn parse_bool(env: &EnvMap, var: &'static str, default: bool, errs: &mut Vec<ConfigError>) -> bool {
    match env.get(var).map(str::to_ascii_lowercase).as_deref() {
        None => default,
        Some("1" | "true" | "yes" | "on") => true,
        Some("0" | "false" | "no" | "off") => false,
        Some(other) => {
            errs.push(ConfigError::new(
                var,
                format!("`{other}` is not a boolean"),
                "use true/false, 1/0, yes/no or on/off",
            ));
            default
        }
    }
}

fn parse_num<T: std::str::FromStr + PartialOrd + fmt::Display + Copy>(
    env: &EnvMap,
    var: &'static str,
    default: T,
    min: T,
    max: T,
    errs: &mut Vec<ConfigError>,
) -> T {
    match env.get(var) {
        None => default,
        Some(raw) => match raw.parse::<T>() {
            Ok(v) if v >= min && v <= max => v,
            _ => {
                errs.push(ConfigError::new(
                    var,
                    format!("`{raw}` is not a number from {min} to {max}"),
                    format!("set a whole number between {min} and {max} (default {default})"),
                ));
                default
            }
        },
    }
}

fn parse_url(env: &EnvMap, var: &'static str, errs: &mut Vec<ConfigError>) -> Option<String> {
    let raw = env.get(var)?;
    match url::Url::parse(raw) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some() => {
            Some(raw.trim_end_matches('/').to_owned())
        }
        _ => {
            errs.push(ConfigError::new(
                var,
                format!("`{raw}` is not an http(s) URL"),
                "set the public URL, e.g. https://lettuce.example.com",
            ));
            None
        }
    }
}

/// `DATABASE_URL` (from the environment, or from the secret store at
/// start-up) as a store backend; problems are appended to `errs`.
fn parse_database_url(url: Option<&str>, data_dir: &std::path::Path, errs: &mut Vec<ConfigError>) -> StoreBackend {
    match url {
        None => StoreBackend::Sqlite(data_dir.join("lettuce.db")),
        Some(url) if url.starts_with("sqlite:") => {
            let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() || path == ":memory:" {
                errs.push(ConfigError::new(
                    "DATABASE_URL",
                    "an in-memory SQLite database would lose all data and cannot be shared with the worker",
                    "use sqlite://PATH or unset DATABASE_URL for <data dir>/lettuce.db",
                ));
            }
            StoreBackend::Sqlite(PathBuf::from(path))
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            if !cfg!(feature = "store-postgres") {
                errs.push(missing_feature("store-postgres", "DATABASE_URL", "postgres://…"));
            }
            if !cfg!(feature = "queue-postgres") {
                errs.push(missing_feature("queue-postgres", "DATABASE_URL", "postgres://…"));
            }
            if url::Url::parse(url)
                .map(|u| u.host_str().is_none_or(str::is_empty))
                .unwrap_or(true)
            {
                errs.push(ConfigError::new(
                    "DATABASE_URL",
                    "the PostgreSQL URL has no host or cannot be parsed",
                    "use postgres://USER:PASSWORD@HOST:5432/DATABASE (percent-encode special characters in the password)",
                ));
            }
            StoreBackend::Postgres(lettuce_domain::Secret::new(url))
        }
        Some(url) => {
            let scheme = url.split(':').next().unwrap_or("");
            errs.push(ConfigError::new(
                "DATABASE_URL",
                format!("unsupported database scheme `{scheme}`"),
                "use postgres://user:pass@host/db, or sqlite://PATH (default: <data dir>/lettuce.db)",
            ));
            StoreBackend::Sqlite(data_dir.join("lettuce.db"))
        }
    }
}

/// The S3 blob backend from `CODEWAZE_S3_*` (and the standard AWS variables).
fn s3_backend(env: &EnvMap, var: &'static str, errs: &mut Vec<ConfigError>) -> BlobBackend {
    #[cfg(feature = "blob-s3")]
    {
        let _ = var;
        // With a secret store other than `env`, the secret key may live in
        // the store: it is read there at start-up (wire::resolve).
        let mut vars = env.0.clone();
        let from_store = !matches!(
            env.get("LETTUCE_SECRET_STORE").map(str::to_ascii_lowercase).as_deref(),
            None | Some("env")
        );
        if from_store
            && env.get("CODEWAZE_S3_ACCESS_KEY_ID").is_some()
            && env.get("CODEWAZE_S3_SECRET_ACCESS_KEY").is_none()
        {
            vars.insert(
                "CODEWAZE_S3_SECRET_ACCESS_KEY".into(),
                "(read from the secret store at start-up)".into(),
            );
        }
        match lettuce_blob_object_store::S3Config::from_env_map(&vars) {
            Ok(c) => BlobBackend::S3(Box::new(c)),
            Err(message) => {
                // The adapter's message names the variable and the fix.
                let var = if message.contains("CODEWAZE_S3_BUCKET") {
                    "CODEWAZE_S3_BUCKET"
                } else {
                    "CODEWAZE_S3_*"
                };
                errs.push(ConfigError::new(var, message, "see docs/configuration.md#storage"));
                BlobBackend::Memory
            }
        }
    }
    #[cfg(not(feature = "blob-s3"))]
    {
        errs.push(missing_feature("blob-s3", var, env.get(var).unwrap_or("s3")));
        BlobBackend::Memory
    }
}

impl Config {
    /// Reads and validates the configuration. Returns every problem at once.
    pub fn from_env(env: &EnvMap) -> Result<Self, ConfigErrors> {
        let mut errs = Vec::new();

        let bind = match env.get("LETTUCE_BIND") {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(raw) => raw.parse().unwrap_or_else(|_| {
                errs.push(ConfigError::new(
                    "LETTUCE_BIND",
                    format!("`{raw}` is not a host:port address"),
                    "use an IP and port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080",
                ));
                SocketAddr::from(([127, 0, 0, 1], 8080))
            }),
        };

        let data_dir = PathBuf::from(env.get("CODEWAZE_DATA_DIR").unwrap_or("./.lettuce"));

        let store = parse_database_url(env.get("DATABASE_URL"), &data_dir, &mut errs);
        if !cfg!(feature = "store-sqlite") && matches!(store, StoreBackend::Sqlite(_)) {
            errs.push(missing_feature("store-sqlite", "DATABASE_URL", "sqlite (default)"));
        }
        let queue_path = match &store {
            StoreBackend::Sqlite(p) => p.with_file_name("queue.db"),
            StoreBackend::Postgres(_) => data_dir.join("queue.db"),
        };

        let s3_bucket = env.get("CODEWAZE_S3_BUCKET");
        let blobs = match env.get("LETTUCE_BLOB_STORE").map(str::to_ascii_lowercase).as_deref() {
            None if s3_bucket.is_some() => s3_backend(env, "CODEWAZE_S3_BUCKET", &mut errs),
            None | Some("fs") => {
                let dir = env
                    .get("LETTUCE_BLOB_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| data_dir.join("blobs"));
                if !cfg!(feature = "blob-fs") {
                    errs.push(missing_feature("blob-fs", "LETTUCE_BLOB_STORE", "fs"));
                }
                BlobBackend::Fs(dir)
            }
            Some("memory") => {
                if !cfg!(feature = "blob-memory") && !cfg!(feature = "blob-fs") {
                    errs.push(missing_feature("blob-memory", "LETTUCE_BLOB_STORE", "memory"));
                }
                BlobBackend::Memory
            }
            Some("s3") => s3_backend(env, "LETTUCE_BLOB_STORE", &mut errs),
            Some(other) => {
                errs.push(ConfigError::new(
                    "LETTUCE_BLOB_STORE",
                    format!("unknown blob store `{other}`"),
                    "use fs (default), memory or s3",
                ));
                BlobBackend::Memory
            }
        };

        let secrets = crate::secret_store::read(env, &mut errs);
        let observability = crate::observability::read(env, &mut errs);

        let auth = crate::auth::read(env, &mut errs);
        let auth_provider = auth.name().to_owned();
        let code_hosts = crate::code_hosts::read(env, &mut errs);

        let self_hosted = parse_bool(env, "LETTUCE_SELF_HOSTED", false, &mut errs);
        if self_hosted && !cfg!(feature = "license-ed25519") {
            errs.push(missing_feature("license-ed25519", "LETTUCE_SELF_HOSTED", "1"));
        }
        let license_public_key = env.get("LETTUCE_LICENSE_PUBLIC_KEY").map(str::to_owned);
        let license_cache_path = PathBuf::from(
            env.get("LETTUCE_LICENSE_CACHE_PATH")
                .unwrap_or("/var/cache/lettuce/license.json"),
        );

        let allow_private_git_hosts = parse_bool(env, "LETTUCE_ALLOW_PRIVATE_GIT_HOSTS", false, &mut errs);
        let git_timeout = Duration::from_secs(parse_num(
            env,
            "LETTUCE_GIT_TIMEOUT_SECS",
            600u64,
            10,
            86_400,
            &mut errs,
        ));

        let public = parse_url(env, "CODEWAZE_PUBLIC_URL", &mut errs);
        let web_url = parse_url(env, "LETTUCE_WEB_URL", &mut errs)
            .or_else(|| public.clone())
            .unwrap_or_else(|| format!("http://{bind}"));
        let mcp_url = parse_url(env, "LETTUCE_MCP_URL", &mut errs)
            .or_else(|| public.map(|p| format!("{p}/mcp")))
            .unwrap_or_else(|| format!("{web_url}/mcp"));

        let log_format = match env.get("LETTUCE_LOG_FORMAT").map(str::to_ascii_lowercase).as_deref() {
            None | Some("pretty") | Some("text") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                errs.push(ConfigError::new(
                    "LETTUCE_LOG_FORMAT",
                    format!("unknown log format `{other}`"),
                    "use pretty (default) or json",
                ));
                LogFormat::Pretty
            }
        };

        let worker_concurrency = parse_num(env, "LETTUCE_WORKER_CONCURRENCY", 2usize, 1, 64, &mut errs);
        let job_lease = Duration::from_secs(parse_num(env, "LETTUCE_JOB_LEASE_SECS", 60u64, 2, 3600, &mut errs));
        let shutdown_grace =
            Duration::from_secs(parse_num(env, "LETTUCE_SHUTDOWN_GRACE_SECS", 20u64, 0, 3600, &mut errs));
        let index_max_attempts = parse_num(env, "LETTUCE_INDEX_MAX_ATTEMPTS", 5u32, 1, 50, &mut errs);
        let session_ttl =
            Duration::from_secs(3600 * parse_num(env, "LETTUCE_SESSION_TTL_HOURS", 168u64, 1, 24 * 365, &mut errs));
        let (telemetry, warnings) = telemetry_config(env, &mut errs);
        let index = index_settings(env, &data_dir, &mut errs);

        if !errs.is_empty() {
            return Err(ConfigErrors(errs));
        }
        Ok(Config {
            bind,
            data_dir,
            store,
            queue_path,
            blobs,
            secrets,
            auth_provider,
            auth,
            code_hosts,
            allow_private_git_hosts,
            git_timeout,
            web_url,
            mcp_url,
            log_format,
            observability,
            worker_concurrency,
            job_lease,
            shutdown_grace,
            index_max_attempts,
            session_ttl,
            self_hosted,
            license_public_key,
            license_cache_path,
            telemetry,
            index,
            warnings,
            env: env.clone(),
        })
    }

    /// Overrides the bind address (from `--bind`).
    pub fn with_bind(mut self, bind: SocketAddr) -> Self {
        let default_web = format!("http://{}", self.bind);
        if self.web_url == default_web {
            self.web_url = format!("http://{bind}");
            self.mcp_url = format!("{}/mcp", self.web_url);
        }
        self.bind = bind;
        self
    }

    /// The resolved configuration as `(variable, value)` rows for
    /// `lettuce config check`. Contains no secret values.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let store = self.store.redacted();
        let queue = match &self.store {
            StoreBackend::Sqlite(_) => format!("sqlite:{}", self.queue_path.display()),
            StoreBackend::Postgres(_) => "postgres (same database as DATABASE_URL)".into(),
        };
        let blobs = match &self.blobs {
            BlobBackend::Fs(p) => format!("fs:{}", p.display()),
            BlobBackend::Memory => "memory".into(),
            #[cfg(feature = "blob-s3")]
            BlobBackend::S3(c) => c.location(),
        };
        let mut rows = vec![
            ("LETTUCE_BIND", self.bind.to_string()),
            ("CODEWAZE_DATA_DIR", self.data_dir.display().to_string()),
            ("DATABASE_URL", store),
            ("(job queue)", queue),
            ("LETTUCE_BLOB_STORE", blobs),
        ];
        rows.extend(self.secrets.describe());
        rows.extend(self.auth.describe());
        rows.extend(self.code_hosts.describe());
        rows.extend(vec![
            (
                "LETTUCE_ALLOW_PRIVATE_GIT_HOSTS",
                self.allow_private_git_hosts.to_string(),
            ),
            ("LETTUCE_GIT_TIMEOUT_SECS", self.git_timeout.as_secs().to_string()),
            ("LETTUCE_WEB_URL", self.web_url.clone()),
            ("LETTUCE_MCP_URL", self.mcp_url.clone()),
            (
                "LETTUCE_LOG_FORMAT",
                format!("{:?}", self.log_format).to_ascii_lowercase(),
            ),
        ]);
        rows.extend(self.observability.describe());
        rows.extend(vec![
            ("LETTUCE_WORKER_CONCURRENCY", self.worker_concurrency.to_string()),
            ("LETTUCE_JOB_LEASE_SECS", self.job_lease.as_secs().to_string()),
            ("LETTUCE_SHUTDOWN_GRACE_SECS", self.shutdown_grace.as_secs().to_string()),
            ("LETTUCE_INDEX_MAX_ATTEMPTS", self.index_max_attempts.to_string()),
            ("LETTUCE_INDEX_CACHE_DIR", self.index.cache_dir.display().to_string()),
            ("LETTUCE_INDEX_MAX_FILE_BYTES", self.index.max_file_bytes.to_string()),
            ("LETTUCE_INDEX_EXCLUDE", self.index.exclude.join(",")),
            ("LETTUCE_INDEX_THREADS", self.index.threads.to_string()),
            ("LETTUCE_INDEX_MEMORY_MB", self.index.memory_mb.to_string()),
            (
                "LETTUCE_INDEX_PARSE_TIMEOUT_SECS",
                self.index.parse_timeout.as_secs().to_string(),
            ),
            ("LETTUCE_TOKEN_ENCODING", self.index.token_encoding.clone()),
            (
                "LETTUCE_SESSION_TTL_HOURS",
                (self.session_ttl.as_secs() / 3600).to_string(),
            ),
            ("LETTUCE_SELF_HOSTED", self.self_hosted.to_string()),
            (
                "LETTUCE_LICENSE_PUBLIC_KEY",
                match &self.license_public_key {
                    None => "(bundled /var/lib/lettuce/public.pem, else compiled in)".into(),
                    Some(v) if v.contains("-----BEGIN") => "(inline PEM)".into(),
                    Some(v) => v.clone(),
                },
            ),
            (
                "LETTUCE_LICENSE_CACHE_PATH",
                self.license_cache_path.display().to_string(),
            ),
            (
                "LETTUCE_TELEMETRY_ENABLED",
                if !self.telemetry.sender_available {
                    "false (this build has no telemetry sender: feature `telemetry-http`)".into()
                } else if self.telemetry.opt_outs.is_empty() {
                    "true".into()
                } else {
                    let requested: Vec<&str> = self.telemetry.opt_outs.iter().map(|o| o.describe()).collect();
                    format!(
                        "opt-out requested ({}); honoured only if the license has telemetry_required=false",
                        requested.join(", ")
                    )
                },
            ),
            ("LETTUCE_TELEMETRY_URL", display_url(&self.telemetry.url)),
        ]);
        rows
    }

    /// The same configuration with `DATABASE_URL` read from the secret store
    /// (the whole URL, password included, may live there).
    pub(crate) fn with_database_url(mut self, url: &lettuce_domain::Secret) -> Result<Config, ConfigErrors> {
        let mut errs = Vec::new();
        let store = parse_database_url(Some(url.expose().trim()), &self.data_dir, &mut errs);
        if !cfg!(feature = "store-sqlite") && matches!(store, StoreBackend::Sqlite(_)) {
            errs.push(missing_feature("store-sqlite", "DATABASE_URL", "sqlite"));
        }
        if !errs.is_empty() {
            return Err(ConfigErrors(errs));
        }
        self.queue_path = match &store {
            StoreBackend::Sqlite(p) => p.with_file_name("queue.db"),
            StoreBackend::Postgres(_) => self.data_dir.join("queue.db"),
        };
        self.store = store;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        Config::from_env(&EnvMap::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn embedded_defaults() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.store, StoreBackend::Sqlite(PathBuf::from("./.lettuce/lettuce.db")));
        assert_eq!(c.queue_path, PathBuf::from("./.lettuce/queue.db"));
        assert!(matches!(&c.blobs, BlobBackend::Fs(p) if p == &PathBuf::from("./.lettuce/blobs")));
        assert!(!c.allow_private_git_hosts);
        assert_eq!(c.web_url, "http://127.0.0.1:8080");
        assert_eq!(c.mcp_url, "http://127.0.0.1:8080/mcp");
    }

    #[test]
    fn public_url_fallbacks() {
        let c = cfg(&[("CODEWAZE_PUBLIC_URL", "https://l.example.com/")]).unwrap();
        assert_eq!(c.web_url, "https://l.example.com");
        assert_eq!(c.mcp_url, "https://l.example.com/mcp");
        let c = cfg(&[
            ("CODEWAZE_PUBLIC_URL", "https://l.example.com"),
            ("LETTUCE_MCP_URL", "https://mcp.example.com"),
        ])
        .unwrap();
        assert_eq!(c.web_url, "https://l.example.com");
        assert_eq!(c.mcp_url, "https://mcp.example.com");
        let c = cfg(&[
            ("LETTUCE_WEB_URL", "https://web.example.com"),
            ("CODEWAZE_PUBLIC_URL", "https://l.example.com"),
        ])
        .unwrap();
        assert_eq!(c.web_url, "https://web.example.com");
    }

    #[test]
    fn errors_name_variable_and_fix() {
        let e = cfg(&[
            ("LETTUCE_BIND", "nope"),
            ("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS", "perhaps"),
            ("LETTUCE_WORKER_CONCURRENCY", "0"),
            ("LETTUCE_WEB_URL", "ftp://x"),
            ("LETTUCE_AUTH_PROVIDER", "kerberos"),
        ])
        .unwrap_err();
        let vars: Vec<_> = e.0.iter().map(|e| e.var).collect();
        assert_eq!(
            vars,
            [
                "LETTUCE_BIND",
                "LETTUCE_AUTH_PROVIDER",
                "LETTUCE_ALLOW_PRIVATE_GIT_HOSTS",
                "LETTUCE_WEB_URL",
                "LETTUCE_WORKER_CONCURRENCY"
            ]
        );
        assert!(e.to_string().contains("fix:"));
    }

    #[test]
    fn missing_features_are_named() {
        let e = cfg(&[
            ("DATABASE_URL", "postgres://u:p@h/db"),
            ("LETTUCE_SECRET_STORE", "vault"),
        ])
        .unwrap_err();
        let text = e.to_string();
        // `cargo test --workspace` unifies features: the lettuce test binary
        // builds this crate with `self-hosted`.
        assert_eq!(
            text.contains("feature `store-postgres` is not enabled in this build"),
            !cfg!(feature = "store-postgres"),
            "{text}"
        );
        assert_eq!(
            text.contains("feature `secrets-vault` is not enabled in this build"),
            !cfg!(feature = "secrets-vault"),
            "{text}"
        );
        if cfg!(feature = "secrets-vault") {
            // With the adapter compiled in, its own variables are named instead.
            assert!(text.contains("VAULT_ADDR"), "{text}");
        }
        assert!(!text.contains("u:p@"), "credentials leaked: {text}");
    }

    #[test]
    fn booleans() {
        for (v, want) in [
            ("1", true),
            ("TRUE", true),
            ("on", true),
            ("yes", true),
            ("0", false),
            ("off", false),
            ("No", false),
        ] {
            assert_eq!(
                cfg(&[("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS", v)])
                    .unwrap()
                    .allow_private_git_hosts,
                want,
                "{v}"
            );
        }
    }

    /// The telemetry variables × what the license says: the opt-outs each
    /// combination requests, the deprecation warning, and whether heartbeats
    /// are then sent (the rule itself lives in the domain).
    #[test]
    fn telemetry_env_table() {
        use OptOut::*;
        use lettuce_domain::telemetry::{LicenseTerm, OptOut, decide};
        let terms = [
            LicenseTerm::Required,
            LicenseTerm::Optional,
            LicenseTerm::Unverified,
            LicenseTerm::Ungated,
        ];
        /// (env, opt-outs, deprecation warning?)
        type Row = (Vec<(&'static str, &'static str)>, Vec<OptOut>, bool);
        let table: Vec<Row> = vec![
            (vec![], vec![], false),
            (vec![("LETTUCE_TELEMETRY_ENABLED", "true")], vec![], false),
            (vec![("LETTUCE_TELEMETRY_ENABLED", "TRUE")], vec![], false),
            (vec![("LETTUCE_TELEMETRY_ENABLED", "on")], vec![], false),
            (vec![("LETTUCE_TELEMETRY_ENABLED", "1")], vec![], false),
            (vec![("LETTUCE_TELEMETRY_ENABLED", "yes")], vec![], false),
            (vec![("LETTUCE_TELEMETRY_ENABLED", "false")], vec![EnabledFalse], false),
            (vec![("LETTUCE_TELEMETRY_ENABLED", "0")], vec![EnabledFalse], false),
            (vec![("LETTUCE_TELEMETRY_ENABLED", "No")], vec![EnabledFalse], false),
            (vec![("LETTUCE_TELEMETRY_ENABLED", "OFF")], vec![EnabledFalse], false),
            (vec![("LETTUCE_TELEMETRY_ENABLED", "")], vec![], false),
            (vec![("LETTUCE_TELEMETRY_DISABLED", "1")], vec![LegacyDisabled], true),
            (vec![("LETTUCE_TELEMETRY_DISABLED", "true")], vec![LegacyDisabled], true),
            (vec![("LETTUCE_TELEMETRY_DISABLED", "0")], vec![], true),
            (
                vec![
                    ("LETTUCE_TELEMETRY_DISABLED", "1"),
                    ("LETTUCE_TELEMETRY_ENABLED", "true"),
                ],
                vec![],
                true,
            ),
            (
                vec![
                    ("LETTUCE_TELEMETRY_DISABLED", "1"),
                    ("LETTUCE_TELEMETRY_ENABLED", "false"),
                ],
                vec![EnabledFalse],
                true,
            ),
            (vec![("DO_NOT_TRACK", "1")], vec![DoNotTrack], false),
            (vec![("DO_NOT_TRACK", "true")], vec![DoNotTrack], false),
            (vec![("DO_NOT_TRACK", "0")], vec![], false),
            (
                vec![("DO_NOT_TRACK", "1"), ("LETTUCE_TELEMETRY_ENABLED", "true")],
                vec![DoNotTrack],
                false,
            ),
            (
                vec![("DO_NOT_TRACK", "1"), ("LETTUCE_TELEMETRY_ENABLED", "false")],
                vec![EnabledFalse, DoNotTrack],
                false,
            ),
        ];
        for (env, want, warns) in table {
            let c = cfg(&env).unwrap_or_else(|e| panic!("{env:?}: {e}"));
            assert_eq!(c.telemetry.opt_outs, want, "{env:?}");
            assert_eq!(c.telemetry.url, DEFAULT_TELEMETRY_URL);
            assert_eq!(c.warnings.len(), usize::from(warns), "{env:?}: {:?}", c.warnings);
            if warns {
                assert!(c.warnings[0].contains("LETTUCE_TELEMETRY_ENABLED"), "{:?}", c.warnings);
            }
            for term in terms {
                let d = decide(&c.telemetry.opt_outs, term);
                let expect_send = want.is_empty() || !term.allows_opt_out();
                assert_eq!(d.send, expect_send, "{env:?} × {term:?}");
                assert_eq!(
                    d.contradiction().is_some(),
                    !want.is_empty() && expect_send,
                    "{env:?} × {term:?}"
                );
            }
        }
    }

    #[test]
    fn telemetry_errors_name_the_variable() {
        for (var, value) in [
            ("LETTUCE_TELEMETRY_ENABLED", "maybe"),
            ("LETTUCE_TELEMETRY_ENABLED", "2"),
            ("LETTUCE_TELEMETRY_DISABLED", "yes please"),
            ("DO_NOT_TRACK", "sure"),
            ("LETTUCE_TELEMETRY_URL", "ftp://telemetry.example.com"),
            ("LETTUCE_TELEMETRY_URL", "not a url"),
        ] {
            let e = cfg(&[(var, value)]).unwrap_err();
            assert_eq!(e.0.len(), 1, "{e}");
            assert_eq!(e.0[0].var, var);
            assert!(e.to_string().contains(var) && e.to_string().contains("fix:"), "{e}");
        }
        let c = cfg(&[(
            "LETTUCE_TELEMETRY_URL",
            "http://user:hunter2@127.0.0.1:9/v1/heartbeat?k=secret",
        )])
        .unwrap();
        let shown = c
            .describe()
            .into_iter()
            .find(|(k, _)| *k == "LETTUCE_TELEMETRY_URL")
            .unwrap()
            .1;
        assert_eq!(shown, "http://127.0.0.1:9/v1/heartbeat");
    }
}
