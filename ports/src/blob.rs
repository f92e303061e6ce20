//! Blob storage for index artifacts. Implementations: local filesystem,
//! memory, S3-compatible.

use crate::BoxError;
use async_trait::async_trait;
use bytes::Bytes;

/// A flat key → bytes store. Keys are `/`-separated relative paths of
/// `[A-Za-z0-9._-]` segments (no empty, `.` or `..` segments).
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug + 'static {
    /// Short backend name (`fs`, `memory`, `s3`).
    fn backend(&self) -> &'static str;

    /// Stores `data` under `key`, replacing any previous value atomically
    /// (a reader sees the old or the new value, never a mix).
    async fn put(&self, key: &str, data: Bytes) -> Result<(), BlobError>;

    /// The value under `key`, or [`BlobError::NotFound`].
    async fn get(&self, key: &str) -> Result<Bytes, BlobError>;

    /// Deletes `key`. Deleting a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;

    /// Keys under `prefix` (a key prefix ending at a segment boundary, or
    /// empty for all), sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError>;

    /// Answers when the store is reachable (for `/readyz`).
    async fn ping(&self) -> Result<(), BlobError>;

    /// Stores the contents of the local file `path` under `key`, with the
    /// same atomicity as [`BlobStore::put`]. The file must not change
    /// afterwards (a filesystem store may hard-link it into place). The
    /// default reads the whole file (a blocking read) and calls `put`.
    async fn put_file(&self, key: &str, path: &std::path::Path) -> Result<(), BlobError> {
        let data = std::fs::read(path).map_err(|e| BlobError::Backend {
            backend: self.backend(),
            source: crate::box_msg(format!("cannot read {}: {e}", path.display())),
            retryable: false,
        })?;
        self.put(key, Bytes::from(data)).await
    }

    /// Where the value of `key` is on the local filesystem, for stores that
    /// are a local directory (so readers can map files instead of copying
    /// them); `None` for every other store. The path may not exist yet.
    fn local_path(&self, key: &str) -> Option<std::path::PathBuf> {
        let _ = key;
        None
    }
}

/// Failures of a [`BlobStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// No value under that key.
    #[error("blob {key} not found")]
    NotFound {
        /// The key.
        key: String,
    },
    /// The key is not a valid blob key.
    #[error("invalid blob key {key:?}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// Anything else.
    #[error("{backend} blob store failed: {source}")]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// Cause.
        #[source]
        source: BoxError,
        /// Whether retrying may help.
        retryable: bool,
    },
}

impl BlobError {
    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BlobError::Backend { retryable: true, .. })
    }
}

/// Validates a blob key (shared by all adapters).
pub fn validate_key(key: &str) -> Result<(), BlobError> {
    let bad = |reason| {
        Err(BlobError::InvalidKey {
            key: key.chars().take(200).collect(),
            reason,
        })
    };
    if key.is_empty() || key.len() > 1024 {
        return bad("keys are 1–1024 bytes");
    }
    for seg in key.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return bad("empty, '.' and '..' segments are not allowed");
        }
        if !seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
            return bad("segments may contain only A-Z a-z 0-9 . _ -");
        }
    }
    Ok(())
}

/// Validates a list prefix: empty, or a valid key followed by `/`.
pub fn validate_prefix(prefix: &str) -> Result<(), BlobError> {
    if prefix.is_empty() {
        return Ok(());
    }
    match prefix.strip_suffix('/') {
        Some(p) => validate_key(p),
        None => Err(BlobError::InvalidKey {
            key: prefix.into(),
            reason: "a list prefix must end with '/'",
        }),
    }
}
