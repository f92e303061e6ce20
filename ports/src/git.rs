//! Getting code: mirroring git repositories ([`GitMirror`]) and talking to
//! code hosts ([`GitProvider`]).

use crate::BoxError;
use async_trait::async_trait;
use lettuce_domain::AccountId;
use lettuce_domain::repo::{RepoUrl, UrlCredentials};
use std::sync::Arc;

/// A request to bring a local mirror up to date with its remote.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// Stable local name of the mirror (the repo id).
    pub key: String,
    /// Remote URL, with credentials if any.
    pub url: RepoUrl,
    /// Branch to resolve; `None` means the remote's default branch (`HEAD`).
    pub branch: Option<String>,
}

/// Result of a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Full hex id of the branch's head commit.
    pub commit: String,
    /// The branch that was resolved (`main`, …).
    pub branch: String,
}

/// One file in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the repo root, `/`-separated.
    pub path: String,
    /// Git blob id (hex): equal ids mean equal contents.
    pub blob_id: String,
    /// Size in bytes.
    pub size: u64,
}

/// A read-only view of one commit of a mirrored repo. Methods may block
/// (local disk reads); call them from a blocking context.
pub trait RepoSnapshot: Send + Sync + std::fmt::Debug {
    /// The commit this snapshot shows.
    fn commit(&self) -> &str;
    /// Every regular file (no submodules, no symlinks), sorted by path.
    fn files(&self) -> Result<Vec<FileEntry>, GitError>;
    /// Contents of a blob.
    fn read_blob(&self, blob_id: &str) -> Result<Vec<u8>, GitError>;
}

/// Keeps local mirrors of remote repositories.
#[async_trait]
pub trait GitMirror: Send + Sync + std::fmt::Debug + 'static {
    /// Checks `url` against the network policy, resolving DNS: refuses
    /// `file://`, loopback, private, link-local and other non-public targets
    /// unless the operator allowed private hosts. [`GitError::Forbidden`]
    /// names the reason.
    async fn check_url(&self, url: &RepoUrl) -> Result<(), GitError>;

    /// Clones (first time) or fetches (later) the mirror named `key`, and
    /// returns the head commit of the requested branch. Applies
    /// [`GitMirror::check_url`] first. Errors are phrased for the user:
    /// `NotFound`, `AuthRequired`, `BranchNotFound`, `Network`.
    async fn sync(&self, req: &SyncRequest) -> Result<SyncOutcome, GitError>;

    /// A snapshot of `commit` in mirror `key` (which must have been synced).
    async fn snapshot(&self, key: &str, commit: &str) -> Result<Arc<dyn RepoSnapshot>, GitError>;

    /// Deletes the local mirror. Removing a missing mirror is not an error.
    async fn remove(&self, key: &str) -> Result<(), GitError>;
}

/// Failures of the git ports. Messages are shown to users as the repo's
/// `error`, so they say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// The URL is refused by the network policy.
    #[error("{reason}")]
    Forbidden {
        /// Why, and which setting allows it.
        reason: String,
    },
    /// The remote says the repository does not exist.
    #[error("repository not found at {url}: check the URL, or add credentials if the repository is private")]
    NotFound {
        /// URL without credentials.
        url: String,
    },
    /// The remote wants (other) credentials.
    #[error(
        "authentication required for {url}: add an access token to the URL (https://<token>@host/owner/repo.git) or connect the code host"
    )]
    AuthRequired {
        /// URL without credentials.
        url: String,
    },
    /// The branch does not exist on the remote.
    #[error("branch `{branch}` does not exist in {url}")]
    BranchNotFound {
        /// URL without credentials.
        url: String,
        /// Branch.
        branch: String,
    },
    /// The remote has no commits.
    #[error("repository at {url} is empty: push a commit, then re-index")]
    EmptyRepository {
        /// URL without credentials.
        url: String,
    },
    /// The host could not be reached.
    #[error("could not reach {url}: {message}")]
    Network {
        /// URL without credentials.
        url: String,
        /// What happened.
        message: String,
    },
    /// The mirror or commit does not exist locally.
    #[error("mirror {key} has no commit {commit}")]
    MissingObject {
        /// Mirror key.
        key: String,
        /// Commit or blob id.
        commit: String,
    },
    /// The code host does not support this operation.
    #[error("{provider} does not support {operation}")]
    Unsupported {
        /// Provider.
        provider: &'static str,
        /// Operation.
        operation: &'static str,
    },
    /// Anything else.
    #[error("{backend} failed: {source}")]
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

impl GitError {
    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            GitError::Network { .. } | GitError::Backend { retryable: true, .. }
        )
    }
}

/// Which code host a provider talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// Any git URL.
    Generic,
    /// GitHub.com or GHES.
    GitHub,
    /// GitLab.com or self-managed.
    GitLab,
    /// Bitbucket Cloud.
    BitbucketCloud,
    /// Bitbucket Data Center.
    BitbucketDc,
}

impl ProviderKind {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Generic => "generic",
            ProviderKind::GitHub => "github",
            ProviderKind::GitLab => "gitlab",
            ProviderKind::BitbucketCloud => "bitbucket",
            ProviderKind::BitbucketDc => "bitbucket_dc",
        }
    }
}

/// A repository a code host offers to the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRepo {
    /// `owner/name`.
    pub full_name: String,
    /// Clone URL (https, without credentials).
    pub clone_url: String,
    /// Default branch.
    pub default_branch: Option<String>,
    /// Whether it is private.
    pub private: bool,
}

/// A code host integration: which URLs it owns, clone credentials, and the
/// repository picker. Webhook and OAuth operations are added by the code-host
/// adapters that need them.
#[async_trait]
pub trait GitProvider: Send + Sync + std::fmt::Debug + 'static {
    /// Which host this is.
    fn kind(&self) -> ProviderKind;

    /// Whether this provider owns `url` (by host).
    fn owns(&self, url: &RepoUrl) -> bool;

    /// Credentials to clone `url` on behalf of `account`, if the provider has
    /// any (an installation token, an OAuth token); `None` for public access.
    async fn clone_credentials(&self, account: AccountId, url: &RepoUrl) -> Result<Option<UrlCredentials>, GitError>;

    /// Repositories the account can add, filtered by a case-insensitive
    /// substring of `owner/name`. [`GitError::Unsupported`] when the host has
    /// no listing (a plain git URL).
    async fn list_repos(&self, account: AccountId, filter: Option<&str>) -> Result<Vec<RemoteRepo>, GitError>;
}
