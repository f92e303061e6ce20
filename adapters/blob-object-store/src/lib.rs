//! # lettuce-blob-object-store
//!
//! A [`BlobStore`] on top of the [`object_store`] crate: the local filesystem
//! (feature `fs`, on by default), memory, and S3-compatible buckets (feature
//! `s3`: AWS S3, MinIO, R2, B2, Ceph — see `S3Config` and
//! `ObjectStoreBlobs::s3`). Any other [`object_store::ObjectStore`] (GCS, …)
//! can be plugged in with [`ObjectStoreBlobs::from_object_store`].
//!
//! Keys are checked with [`validate_key`] / [`validate_prefix`] before the
//! backend is touched, so a key can never name a path outside the store's
//! root (`..`, empty and `.` segments are refused).
//!
//! Writes are atomic: `object_store`'s `LocalFileSystem` writes to a staging
//! file next to the destination (`<key>#<n>`) and renames it into place, and
//! this adapter turns on its `fsync` option so a completed `put` is durable.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), lettuce_ports::blob::BlobError> {
//! use lettuce_blob_object_store::ObjectStoreBlobs;
//! use lettuce_ports::blob::BlobStore;
//!
//! // With feature `fs`: ObjectStoreBlobs::local(Path::new("/var/lib/lettuce/blobs"))?
//! let blobs = ObjectStoreBlobs::memory();
//! blobs.put("repos/r1/HEAD", bytes::Bytes::from_static(b"abc123")).await?;
//! assert_eq!(blobs.list("repos/").await?, vec!["repos/r1/HEAD".to_string()]);
//! # Ok(()) }
//! ```
//!
//! With feature `s3`, from the operator's environment (`CODEWAZE_S3_*`,
//! falling back to the standard `AWS_*` variables):
//!
//! ```no_run
//! # #[cfg(feature = "s3")]
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use lettuce_blob_object_store::{ObjectStoreBlobs, S3Config};
//!
//! let env: std::collections::HashMap<String, String> = std::env::vars().collect();
//! let config = S3Config::from_env_map(&env)?; // error names the variable to fix
//! let blobs = ObjectStoreBlobs::s3(&config)?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "s3")]
pub use s3::S3Config;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use lettuce_ports::blob::{BlobError, BlobStore, validate_key, validate_prefix};
use object_store::memory::InMemory;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A [`BlobStore`] backed by any [`object_store::ObjectStore`].
///
/// Cheap to clone (the store is shared).
#[derive(Clone)]
pub struct ObjectStoreBlobs {
    store: Arc<dyn ObjectStore>,
    backend: &'static str,
    /// For the local filesystem: the root directory, checked by `ping`.
    root: Option<PathBuf>,
    /// For S3: the bucket client `ping` lists with a key limit.
    #[cfg(feature = "s3")]
    s3: Option<s3::S3Probe>,
}

impl fmt::Debug for ObjectStoreBlobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The store's Display names the backend and location (never credentials).
        let mut d = f.debug_struct("ObjectStoreBlobs");
        d.field("backend", &self.backend)
            .field("store", &format_args!("{}", self.store));
        #[cfg(feature = "s3")]
        if let Some(probe) = &self.s3 {
            d.field("location", &probe.location);
        }
        d.finish()
    }
}

impl ObjectStoreBlobs {
    /// A store rooted at the directory `root` (created if missing). Backend
    /// name `fs`. Every write goes to a staging file that is fsynced and then
    /// renamed into place; emptied directories are removed on delete.
    #[cfg(feature = "fs")]
    pub fn local(root: &std::path::Path) -> Result<Self, BlobError> {
        use object_store::local::LocalFileSystem;
        const BACKEND: &str = "fs";
        let io_err = |what: &str, e: &dyn fmt::Display| BlobError::Backend {
            backend: BACKEND,
            source: lettuce_ports::box_msg(format!("{what} {}: {e}", root.display())),
            retryable: false,
        };
        std::fs::create_dir_all(root).map_err(|e| io_err("cannot create blob directory", &e))?;
        let canonical = std::fs::canonicalize(root).map_err(|e| io_err("cannot resolve blob directory", &e))?;
        let fs = LocalFileSystem::new_with_prefix(&canonical)
            .map_err(|e| io_err("cannot open blob directory", &e))?
            .with_fsync(true)
            .with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(fs),
            backend: BACKEND,
            root: Some(canonical),
            #[cfg(feature = "s3")]
            s3: None,
        })
    }

    /// A process-local store that forgets everything on drop. Backend name
    /// `memory`.
    pub fn memory() -> Self {
        Self {
            store: Arc::new(InMemory::new()),
            backend: "memory",
            root: None,
            #[cfg(feature = "s3")]
            s3: None,
        }
    }

    /// Wraps an already configured store (S3, GCS, …). `backend` is the short
    /// name used in errors and by [`BlobStore::backend`].
    pub fn from_object_store(store: Arc<dyn ObjectStore>, backend: &'static str) -> Self {
        Self {
            store,
            backend,
            root: None,
            #[cfg(feature = "s3")]
            s3: None,
        }
    }

    fn path(&self, key: &str) -> Result<StorePath, BlobError> {
        validate_key(key)?;
        StorePath::parse(key).map_err(|e| self.backend_err(object_store::Error::from(e)))
    }

    fn backend_err(&self, e: object_store::Error) -> BlobError {
        use object_store::Error as E;
        // Generic carries local I/O errors and remote transport failures.
        let retryable = matches!(e, E::Generic { .. });
        // `object_store/fs` and `/aws` enable its tokio support, which adds JoinError.
        #[cfg(any(feature = "fs", feature = "s3"))]
        let retryable = retryable || matches!(e, E::JoinError { .. });
        BlobError::Backend {
            backend: self.backend,
            source: Box::new(e),
            retryable,
        }
    }
}

/// Puts `source` at `target` atomically: a hard link (or, across file
/// systems, a copy) to a staging name beside the target, fsynced, then
/// renamed into place; the directory is fsynced too.
fn link_into_place(source: &std::path::Path, target: &std::path::Path) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STAGING: AtomicU64 = AtomicU64::new(0);
    let dir = target
        .parent()
        .ok_or_else(|| std::io::Error::other("blob path has no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("blob");
    let staging = dir.join(format!(
        "{name}#lettuce-{}-{}",
        std::process::id(),
        STAGING.fetch_add(1, Ordering::Relaxed)
    ));
    if std::fs::hard_link(source, &staging).is_err() {
        std::fs::copy(source, &staging)?;
    }
    let result = std::fs::File::open(&staging)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(&staging, target));
    if result.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    result?;
    std::fs::File::open(dir).and_then(|d| d.sync_all())
}

#[async_trait]
impl BlobStore for ObjectStoreBlobs {
    fn backend(&self) -> &'static str {
        self.backend
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<(), BlobError> {
        let path = self.path(key)?;
        self.store
            .put(&path, PutPayload::from_bytes(data))
            .await
            .map_err(|e| self.backend_err(e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        let path = self.path(key)?;
        let not_found = || BlobError::NotFound { key: key.to_owned() };
        let result = match self.store.get(&path).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Err(not_found()),
            Err(e) => return Err(self.backend_err(e)),
        };
        match result.bytes().await {
            Ok(b) => Ok(b),
            // Deleted between open and read.
            Err(object_store::Error::NotFound { .. }) => Err(not_found()),
            Err(e) => Err(self.backend_err(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.backend_err(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        validate_prefix(prefix)?;
        let prefix_path = match prefix.strip_suffix('/') {
            Some(p) => Some(StorePath::parse(p).map_err(|e| self.backend_err(object_store::Error::from(e)))?),
            None => None,
        };
        let metas: Vec<_> = match self.store.list(prefix_path.as_ref()).try_collect().await {
            Ok(m) => m,
            // A prefix nobody wrote under is an empty listing, not an error.
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.backend_err(e)),
        };
        let mut keys: Vec<String> = metas
            .into_iter()
            .map(|m| String::from(m.location))
            // Only keys this adapter could have written (hides foreign files).
            .filter(|k| validate_key(k).is_ok() && k.starts_with(prefix))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    async fn put_file(&self, key: &str, path: &std::path::Path) -> Result<(), BlobError> {
        let Some(target) = self.local_path(key) else {
            let data = tokio::fs::read(path).await.map_err(|e| BlobError::Backend {
                backend: self.backend,
                source: lettuce_ports::box_msg(format!("cannot read {}: {e}", path.display())),
                retryable: false,
            })?;
            return self.put(key, Bytes::from(data)).await;
        };
        let (source, backend) = (path.to_owned(), self.backend);
        tokio::task::spawn_blocking(move || link_into_place(&source, &target))
            .await
            .map_err(|e| BlobError::Backend {
                backend,
                source: Box::new(e),
                retryable: true,
            })?
            .map_err(|e| BlobError::Backend {
                backend,
                source: lettuce_ports::box_msg(format!("storing {}: {e}", path.display())),
                retryable: false,
            })
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        let root = self.root.as_ref()?;
        validate_key(key).ok()?;
        Some(key.split('/').fold(root.clone(), |p, seg| p.join(seg)))
    }

    async fn ping(&self) -> Result<(), BlobError> {
        #[cfg(feature = "s3")]
        if let Some(probe) = &self.s3 {
            return probe.ping().await;
        }
        if let Some(root) = &self.root {
            let ok = tokio::fs::metadata(root).await.map(|m| m.is_dir()).unwrap_or(false);
            if !ok {
                return Err(BlobError::Backend {
                    backend: self.backend,
                    source: lettuce_ports::box_msg(format!("blob directory {} is missing", root.display())),
                    retryable: true,
                });
            }
        }
        // One top-level listing: a single request on remote stores, one
        // directory read locally; succeeds on an empty store.
        self.store
            .list_with_delimiter(None)
            .await
            .map_err(|e| self.backend_err(e))?;
        Ok(())
    }
}
