//! Config → adapters → engine. The only place that names adapter crates.

use crate::config::{BlobBackend, Config, StoreBackend};
use crate::secrets::{SecretSource, decode_data_key, instance_secret};
use anyhow::Context;
use lettuce_engine::{Engine, EngineSettings, WorkerSettings};
use lettuce_ports::blob::BlobStore;
use lettuce_ports::secrets::SecretStore;
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
}

fn secret_store(config: &Config) -> anyhow::Result<Arc<dyn SecretStore>> {
    match config.secret_store.as_str() {
        #[cfg(feature = "secrets-env")]
        "env" => Ok(Arc::new(lettuce_secrets_env::EnvSecretStore::from_map(
            config.env.clone().into_map(),
        ))),
        other => anyhow::bail!("LETTUCE_SECRET_STORE={other}: feature `secrets-{other}` is not enabled in this build"),
    }
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
        #[allow(unreachable_patterns)]
        other => anyhow::bail!("blob store {other:?} is not available in this build"),
    }
}

/// Applies metadata-store migrations and prepares the queue schema
/// (idempotent). Also run by [`wire`] at start-up.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    prepare_dirs(config)?;
    let store = open_store(config).await?;
    store.migrate().await.context("applying metadata-store migrations")?;
    open_queue(config).await?;
    Ok(())
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

#[cfg(feature = "store-sqlite")]
async fn open_store(config: &Config) -> anyhow::Result<lettuce_store_sea_orm::SeaOrmStore> {
    let StoreBackend::Sqlite(path) = &config.store;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    lettuce_store_sea_orm::SeaOrmStore::connect(&lettuce_store_sea_orm::sqlite_url(path))
        .await
        .with_context(|| format!("opening the SQLite database {} (DATABASE_URL)", path.display()))
}

#[cfg(feature = "queue-sqlite")]
async fn open_queue(config: &Config) -> anyhow::Result<lettuce_queue_sqlite::SqliteQueue> {
    lettuce_queue_sqlite::SqliteQueue::open(&config.queue_path)
        .await
        .with_context(|| format!("opening the job queue {}", config.queue_path.display()))
}

/// Builds the engine from `config`: opens stores (applying migrations),
/// resolves instance secrets, and picks adapters.
pub async fn wire(config: &Config) -> anyhow::Result<Runtime> {
    prepare_dirs(config)?;
    let secrets = secret_store(config)?;
    let (admin_token, admin_token_source) = instance_secret(
        secrets.as_ref(),
        "CODEWAZE_ADMIN_TOKEN",
        &config.data_dir,
        "admin-token",
    )
    .await?;
    let (jwt_key, jwt_key_source) =
        instance_secret(secrets.as_ref(), "JWT_SIGNING_KEY", &config.data_dir, "jwt-signing-key").await?;
    let (data_key, data_key_source) =
        instance_secret(secrets.as_ref(), "LETTUCE_DATA_KEY", &config.data_dir, "data-key").await?;
    let data_key = decode_data_key(&data_key)?;

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
    let indexer = lettuce_index_manifest::ManifestIndexer::new(blobs.clone());

    let mut settings = EngineSettings::new(admin_token, data_key);
    settings.session_ttl = config.session_ttl;
    settings.web_url = Some(config.web_url.clone());
    settings.index_max_attempts = config.index_max_attempts;

    let engine = Engine::builder()
        .store(Arc::new(store))
        .queue(Arc::new(queue))
        .blobs(blobs)
        .secrets(secrets)
        .session_verifier(auth.clone())
        .sessions(auth.clone())
        .passwords(auth)
        .mirror(Arc::new(mirror))
        .provider(Arc::new(lettuce_git_generic::GenericProvider::new()))
        .indexer(Arc::new(indexer))
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
    })
}
