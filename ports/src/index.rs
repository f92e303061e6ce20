//! Turning a repository snapshot into a queryable index.

use crate::BoxError;
use crate::git::RepoSnapshot;
use async_trait::async_trait;
use lettuce_domain::{AccountId, RepoId};
use std::sync::Arc;

/// Receives progress while a snapshot is indexed. Called from the indexing
/// thread; implementations must be cheap and never block.
pub trait ProgressSink: Send + Sync + std::fmt::Debug {
    /// `done` of `total` files processed.
    fn report(&self, done: u64, total: u64);
}

/// A sink that drops progress.
#[derive(Debug, Default)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn report(&self, _done: u64, _total: u64) {}
}

/// A request to index one commit of a repo.
#[derive(Debug, Clone)]
pub struct IndexRequest {
    /// Repo.
    pub repo_id: RepoId,
    /// Its account.
    pub account_id: AccountId,
    /// The snapshot to index.
    pub snapshot: Arc<dyn RepoSnapshot>,
    /// The commit indexed before, for incremental indexing.
    pub previous_commit: Option<String>,
    /// Progress receiver.
    pub progress: Arc<dyn ProgressSink>,
}

/// What an index run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexSummary {
    /// Files in the snapshot.
    pub files_total: u64,
    /// Files read and (re)processed in this run.
    pub files_processed: u64,
    /// Files reused unchanged from an earlier run (same blob id).
    pub files_reused: u64,
    /// Files skipped by rule (binary, too large, generated, vendored).
    pub files_skipped: u64,
    /// Bytes of processed files.
    pub bytes_processed: u64,
}

/// Builds and deletes indexes. The index's artifacts live where the adapter
/// keeps them (normally the `BlobStore`), keyed by repo.
#[async_trait]
pub trait CodeIndexer: Send + Sync + std::fmt::Debug + 'static {
    /// Short name of the indexer.
    fn name(&self) -> &'static str;

    /// Indexes `req.snapshot`. Re-running on the same commit is idempotent.
    /// After success, queries for the repo see this commit.
    async fn index(&self, req: IndexRequest) -> Result<IndexSummary, IndexError>;

    /// The commit the stored index of `repo` shows, if any.
    async fn indexed_commit(&self, repo: RepoId) -> Result<Option<String>, IndexError>;

    /// Deletes every artifact of `repo`. Deleting a missing index is not an error.
    async fn delete(&self, repo: RepoId) -> Result<(), IndexError>;
}

/// Failures of a [`CodeIndexer`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// Reading the snapshot failed.
    #[error("reading the repository failed: {0}")]
    Source(#[from] crate::git::GitError),
    /// Storing artifacts failed.
    #[error("storing the index failed: {0}")]
    Storage(#[from] crate::blob::BlobError),
    /// Anything else.
    #[error("{backend} indexer failed: {source}")]
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

impl IndexError {
    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            IndexError::Source(e) => e.is_retryable(),
            IndexError::Storage(e) => e.is_retryable(),
            IndexError::Backend { retryable, .. } => *retryable,
        }
    }
}
