//! Config → adapters → engine. The only place that names adapter crates.

use crate::config::{BlobBackend, Config, StoreBackend};
use crate::secrets::{SecretSource, Secrets, decode_data_key};
use anyhow::Context;
use lettuce_engine::{Engine, EngineSettings, WorkerSettings};
use lettuce_ports::blob::BlobStore;
use std::sync::Arc;

/// A wired instance: the engine plus what the binary reports at start-up.
#[derive(Debug)]
pub struct Runtime {
    /// The engine.
    pub engine: Engine,
    /// Worker tuning from the configuration.
    pub worker: WorkerSettings,
    /// Where the admin token is (printed at start-up; the value never is).
    pub admin_token_source: SecretSource,
    /// Where the JWT signing key is.
    pub jwt_key_source: SecretSource,
    /// Where the credential-sealing data key is.
    pub data_key_source: SecretSource,
    /// Where the license public keys came from (self-hosted only).
    pub license_key_source: Option<String>,
}

/// Opens the secret store and applies the settings that may live in it and
/// are needed before the engine exists: `DATABASE_URL` (the whole URL) and
/// `CODEWAZE_S3_SECRET_ACCESS_KEY`. Every command that opens the metadata
/// store goes through here, so `migrate` sees the same database as `serve`.
pub(crate) async fn resolve(config: &Config) -> anyhow::Result<(Config, Secrets)> {
    let secrets = Secrets::open(config).await?;
    let mut config = config.clone();
    if secrets.backend() != "env"
        && let Some((url, source @ SecretSource::Store { .. })) = secrets.resolve("DATABASE_URL").await?
    {
        config = config
            .with_database_url(&url)
            .map_err(|e| anyhow::anyhow!("DATABASE_URL read from {source}: {e}"))?;
    }
    #[cfg(feature = "blob-s3")]
    if let BlobBackend::S3(c) = &mut config.blobs
        && c.access_key_id.is_some()
    {
        match secrets.resolve("CODEWAZE_S3_SECRET_ACCESS_KEY").await? {
            Some((key, _)) => c.secret_access_key = Some(key),
            None => anyhow::bail!(
                "CODEWAZE_S3_ACCESS_KEY_ID is set but CODEWAZE_S3_SECRET_ACCESS_KEY is in neither {} nor the environment: set it there, or unset both to use the AWS credential chain",
                config.secrets.location()
            ),
        }
    }
    Ok((config, secrets))
}

/// The license oracle: `Ungated` unless `LETTUCE_SELF_HOSTED`; never fails
/// (a missing or bad key starts the instance locked and says why).
#[cfg(feature = "license-ed25519")]
async fn license_oracle(
    config: &Config,
    secrets: &Secrets,
) -> anyhow::Result<(Arc<dyn lettuce_ports::license::LicenseOracle>, Option<String>)> {
    use lettuce_license_ed25519 as lic;
    if !config.self_hosted {
        return Ok((Arc::new(lettuce_ports::license::Ungated), None));
    }
    let key = secrets.resolve("LETTUCE_LICENSE_KEY").await?.map(|(k, _)| k);
    let (public_keys, source) = lic::resolve_public_keys(
        config.license_public_key.as_deref(),
        std::path::Path::new(lic::DEFAULT_PUBLIC_KEY_PATH),
    )
    .map_err(|e| anyhow::anyhow!("LETTUCE_LICENSE_PUBLIC_KEY: {e} — set it to a PEM file path or inline PEM"))?;
    if matches!(source, lic::KeySource::CompiledIn) {
        tracing::warn!(
            "verifying licenses with the compiled-in development public key; production installs ship /var/lib/lettuce/public.pem or set LETTUCE_LICENSE_PUBLIC_KEY"
        );
    }
    let oracle = lic::boot(lic::LicenseConfig {
        key,
        public_keys,
        cache_path: config.license_cache_path.clone(),
        clock: Arc::new(lettuce_ports::clock::SystemClock),
    });
    Ok((Arc::new(oracle), Some(source.to_string())))
}

#[cfg(not(feature = "license-ed25519"))]
async fn license_oracle(
    config: &Config,
    _secrets: &Secrets,
) -> anyhow::Result<(Arc<dyn lettuce_ports::license::LicenseOracle>, Option<String>)> {
    anyhow::ensure!(
        !config.self_hosted,
        "LETTUCE_SELF_HOSTED=1: feature `license-ed25519` is not enabled in this build"
    );
    Ok((Arc::new(lettuce_ports::license::Ungated), None))
}

/// The heartbeat sender, when this build has one (feature `telemetry-http`).
#[cfg(feature = "telemetry-http")]
fn telemetry_sink(config: &Config) -> anyhow::Result<Option<Arc<dyn lettuce_ports::telemetry::TelemetrySink>>> {
    let sink = lettuce_telemetry_http::HttpTelemetrySink::new(lettuce_telemetry_http::HttpTelemetryConfig::new(
        config.telemetry.url.clone(),
    ))
    .map_err(|e| anyhow::anyhow!("{e} — set it to the receiver's URL or unset it for the default"))?;
    Ok(Some(Arc::new(sink)))
}

#[cfg(not(feature = "telemetry-http"))]
fn telemetry_sink(_config: &Config) -> anyhow::Result<Option<Arc<dyn lettuce_ports::telemetry::TelemetrySink>>> {
    Ok(None)
}

fn blob_store(config: &Config) -> anyhow::Result<Arc<dyn BlobStore>> {
    match &config.blobs {
        #[cfg(feature = "blob-fs")]
        BlobBackend::Fs(dir) => Ok(Arc::new(
            lettuce_blob_object_store::ObjectStoreBlobs::local(dir)
                .with_context(|| format!("opening the blob directory {} (LETTUCE_BLOB_DIR)", dir.display()))?,
        )),
        #[cfg(any(feature = "blob-memory", feature = "blob-fs"))]
        BlobBackend::Memory => Ok(Arc::new(lettuce_blob_object_store::ObjectStoreBlobs::memory())),
        #[cfg(feature = "blob-s3")]
        BlobBackend::S3(c) => Ok(Arc::new(
            lettuce_blob_object_store::ObjectStoreBlobs::s3(c)
                .with_context(|| format!("configuring S3 blobs {} (CODEWAZE_S3_*)", c.location()))?,
        )),
        #[allow(unreachable_patterns)]
        other => anyhow::bail!("blob store {other:?} is not available in this build"),
    }
}

/// The code index over `blobs`, configured by `LETTUCE_INDEX_*`.
#[cfg(feature = "index-tantivy")]
pub fn code_index(
    config: &Config,
    blobs: Arc<dyn BlobStore>,
) -> anyhow::Result<Arc<lettuce_index_tantivy::TantivyIndex>> {
    let s = &config.index;
    std::fs::create_dir_all(&s.cache_dir).with_context(|| {
        format!(
            "creating the index cache {} (LETTUCE_INDEX_CACHE_DIR)",
            s.cache_dir.display()
        )
    })?;
    let c = Config::local_index_config(s);
    let index = lettuce_index_tantivy::TantivyIndex::try_new(blobs, c)
        .map_err(|e| anyhow::anyhow!("LETTUCE_INDEX_EXCLUDE: {e}"))?;
    // Whole-file token counts computed once per blob at index time, in the
    // encoding the engine meters with.
    #[cfg(feature = "tokens-bpe")]
    let index = index.with_token_counter(counter_for(&s.token_encoding)?);
    Ok(Arc::new(index))
}

/// The indexer and search of this build's code index.
#[cfg(feature = "index-tantivy")]
fn index_ports(
    config: &Config,
    blobs: Arc<dyn BlobStore>,
) -> anyhow::Result<(
    Arc<dyn lettuce_ports::index::CodeIndexer>,
    Arc<dyn lettuce_ports::index::CodeSearch>,
)> {
    let index = code_index(config, blobs)?;
    Ok((index.clone(), index))
}

#[cfg(not(feature = "index-tantivy"))]
fn index_ports(
    _config: &Config,
    _blobs: Arc<dyn BlobStore>,
) -> anyhow::Result<(
    Arc<dyn lettuce_ports::index::CodeIndexer>,
    Arc<dyn lettuce_ports::index::CodeSearch>,
)> {
    anyhow::bail!(
        "feature `index-tantivy` is not enabled in this build: build with --features index-tantivy (part of `embedded`)"
    )
}

/// The token counter named by `LETTUCE_TOKEN_ENCODING`.
pub fn token_counter(config: &Config) -> anyhow::Result<Arc<dyn lettuce_ports::tokens::TokenCounter>> {
    counter_for(&config.index.token_encoding)
}

#[cfg(feature = "tokens-bpe")]
pub(crate) fn counter_for(encoding: &str) -> anyhow::Result<Arc<dyn lettuce_ports::tokens::TokenCounter>> {
    let counter = lettuce_tokens_bpe::BpeCounter::by_name(encoding)
        .ok_or_else(|| anyhow::anyhow!("LETTUCE_TOKEN_ENCODING={encoding}: use o200k_base or cl100k_base"))?;
    Ok(Arc::new(counter))
}

#[cfg(not(feature = "tokens-bpe"))]
pub(crate) fn counter_for(_encoding: &str) -> anyhow::Result<Arc<dyn lettuce_ports::tokens::TokenCounter>> {
    anyhow::bail!("LETTUCE_TOKEN_ENCODING: feature `tokens-bpe` is not enabled in this build")
}

/// Applies metadata-store migrations and prepares the queue schema
/// (idempotent). Also run by [`wire`] at start-up.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    prepare_dirs(config)?;
    let (config, _) = resolve(config).await?;
    let store = open_store(&config).await?;
    store.migrate().await.context("applying metadata-store migrations")?;
    open_queue(&config).await?;
    Ok(())
}

/// Opens the metadata store named by `DATABASE_URL`.
async fn open_store(config: &Config) -> anyhow::Result<lettuce_store_sea_orm::SeaOrmStore> {
    let (url, what) = match &config.store {
        #[cfg(feature = "store-sqlite")]
        StoreBackend::Sqlite(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            (
                lettuce_store_sea_orm::sqlite_url(path),
                format!("the SQLite database {}", path.display()),
            )
        }
        #[cfg(feature = "store-postgres")]
        StoreBackend::Postgres(url) => (
            url.expose().to_owned(),
            format!("PostgreSQL at {}", config.store.redacted()),
        ),
        #[allow(unreachable_patterns)]
        other => anyhow::bail!("DATABASE_URL: {} is not supported by this build", other.redacted()),
    };
    lettuce_store_sea_orm::SeaOrmStore::connect(&url)
        .await
        .with_context(|| format!("opening {what} (DATABASE_URL)"))
}

/// Opens the job queue: beside the SQLite database, or in the PostgreSQL one.
async fn open_queue(config: &Config) -> anyhow::Result<Arc<dyn lettuce_ports::queue::JobQueue>> {
    match &config.store {
        #[cfg(feature = "queue-sqlite")]
        StoreBackend::Sqlite(_) => Ok(Arc::new(
            lettuce_queue_sqlite::SqliteQueue::open(&config.queue_path)
                .await
                .with_context(|| format!("opening the job queue {}", config.queue_path.display()))?,
        )),
        #[cfg(feature = "queue-postgres")]
        StoreBackend::Postgres(url) => {
            let q = lettuce_queue_postgres::PostgresQueue::connect(url.expose())
                .await
                .with_context(|| format!("opening the job queue in {} (DATABASE_URL)", config.store.redacted()))?;
            q.migrate().await.context("creating the job-queue tables")?;
            Ok(Arc::new(q))
        }
        #[allow(unreachable_patterns)]
        other => anyhow::bail!("no job queue for {} in this build", other.redacted()),
    }
}

fn prepare_dirs(config: &Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "creating the data directory {} (CODEWAZE_DATA_DIR)",
            config.data_dir.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Builds the engine from `config`: opens stores (applying migrations),
/// resolves instance secrets, and picks adapters.
pub async fn wire(config: &Config) -> anyhow::Result<Runtime> {
    prepare_dirs(config)?;
    let (config, secrets) = resolve(config).await?;
    let config = &config;
    let (admin_token, admin_token_source) = secrets.instance("CODEWAZE_ADMIN_TOKEN", &config.data_dir).await?;
    let (jwt_key, jwt_key_source) = secrets.instance("JWT_SIGNING_KEY", &config.data_dir).await?;
    let (data_key, data_key_source) = secrets.instance("LETTUCE_DATA_KEY", &config.data_dir).await?;
    let data_key = decode_data_key(&data_key, "LETTUCE_DATA_KEY")
        .with_context(|| format!("LETTUCE_DATA_KEY from {data_key_source}"))?;
    let previous_data_keys = match secrets.resolve("LETTUCE_DATA_KEY_PREVIOUS").await? {
        None => Vec::new(),
        Some((v, source)) => vec![
            decode_data_key(&v, "LETTUCE_DATA_KEY_PREVIOUS")
                .with_context(|| format!("LETTUCE_DATA_KEY_PREVIOUS from {source}"))?,
        ],
    };
    for (name, source) in [
        ("CODEWAZE_ADMIN_TOKEN", &admin_token_source),
        ("JWT_SIGNING_KEY", &jwt_key_source),
        ("LETTUCE_DATA_KEY", &data_key_source),
    ] {
        tracing::info!(secret = name, source = source.kind(), "instance secret resolved");
    }
    let (license, license_key_source) = license_oracle(config, &secrets).await?;

    let store = open_store(config).await?;
    store.migrate().await.context("applying metadata-store migrations")?;
    let queue = open_queue(config).await?;
    let blobs = blob_store(config)?;

    let auth =
        Arc::new(lettuce_auth_local::LocalAuth::new(jwt_key).map_err(|e| anyhow::anyhow!("JWT_SIGNING_KEY: {e}"))?);
    let mirror = lettuce_git_generic::GixMirror::new(
        config.data_dir.join("mirrors"),
        lettuce_git_generic::NetworkPolicy {
            allow_private: config.allow_private_git_hosts,
        },
    )
    .with_sync_timeout(config.git_timeout);
    let (indexer, search) = index_ports(config, blobs.clone())?;
    let tokens = token_counter(config)?;

    let mut settings = EngineSettings::new(admin_token, data_key);
    settings.previous_data_keys = previous_data_keys;
    if matches!(admin_token_source, SecretSource::Store { .. }) {
        // Read through the store (reused for LETTUCE_SECRET_CACHE_SECS): a
        // rotation there takes effect without a restart.
        settings.admin_token_handle = Some(secrets.handle("CODEWAZE_ADMIN_TOKEN"));
    }
    settings.session_ttl = config.session_ttl;
    settings.web_url = Some(config.web_url.clone());
    settings.index_max_attempts = config.index_max_attempts;
    settings.telemetry = lettuce_engine::TelemetrySettings {
        opt_outs: config.telemetry.opt_outs.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..lettuce_engine::TelemetrySettings::default()
    };

    let mut builder = Engine::builder();
    if let Some(external) = crate::auth::external_auth(&config.auth, &secrets).await? {
        tracing::info!(
            provider = external.verifier.provider(),
            browser_sign_in = external.sign_in.is_some(),
            "identity provider tokens accepted beside local accounts"
        );
        builder = builder.external_auth(external.verifier);
        if let Some(sign_in) = external.sign_in {
            builder = builder.idp_sign_in(sign_in);
        }
    }
    if let Some(sink) = telemetry_sink(config)? {
        builder = builder.telemetry(sink);
    }
    for provider in crate::code_hosts::providers(&config.code_hosts, &secrets, &config.web_url).await? {
        builder = builder.provider(provider);
    }
    let engine = builder
        .store(Arc::new(store))
        .queue(queue)
        .blobs(blobs)
        .secrets(secrets.store.clone())
        .session_verifier(auth.clone())
        .sessions(auth.clone())
        .passwords(auth)
        .mirror(Arc::new(mirror))
        .provider(Arc::new(lettuce_git_generic::GenericProvider::new()))
        .indexer(indexer)
        .search(search)
        .tokens(tokens)
        .license(license)
        .propagation(config.observability.propagation())
        .settings(settings)
        .build()
        .map_err(|e| anyhow::anyhow!("building the engine: {e}"))?;

    let worker = WorkerSettings {
        concurrency: config.worker_concurrency,
        lease: config.job_lease,
        shutdown_grace: config.shutdown_grace,
        ..WorkerSettings::default()
    };
    Ok(Runtime {
        engine,
        worker,
        admin_token_source,
        jwt_key_source,
        data_key_source,
        license_key_source,
    })
}
