//! Getting code: mirroring git repositories ([`GitMirror`]) and talking to
//! code hosts ([`GitProvider`]: installation and clone credentials, the
//! repository picker, webhooks).

use crate::BoxError;
use async_trait::async_trait;
use lettuce_domain::Secret;
use lettuce_domain::codehost::{Installation, ProviderCredentials};
use lettuce_domain::repo::{RepoUrl, UrlCredentials};
use std::sync::Arc;
use std::time::Duration;

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

/// One commit of a snapshot's history, with the files it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitChanges {
    /// Full hex id.
    pub id: String,
    /// Committer time, seconds since the Unix epoch.
    pub time: i64,
    /// First line of the message.
    pub subject: String,
    /// Paths added, modified or deleted against the first parent (regular
    /// files only), sorted.
    pub paths: Vec<String>,
}

/// Most commits of history callers read by default.
pub const HISTORY_COMMITS: usize = 500;

/// A read-only view of one commit of a mirrored repo. Methods may block
/// (local disk reads); call them from a blocking context.
pub trait RepoSnapshot: Send + Sync + std::fmt::Debug {
    /// The commit this snapshot shows.
    fn commit(&self) -> &str;
    /// Every regular file (no submodules, no symlinks), sorted by path.
    fn files(&self) -> Result<Vec<FileEntry>, GitError>;
    /// Contents of a blob.
    fn read_blob(&self, blob_id: &str) -> Result<Vec<u8>, GitError>;
    /// The history up to and including this snapshot's commit (never a
    /// later commit): at most `max` non-merge commits, newest first (by
    /// committer time, then id), each with the paths it changed against
    /// its first parent. Snapshots without history (a plain directory)
    /// return none, which is the default.
    fn history(&self, max: usize) -> Result<Vec<CommitChanges>, GitError> {
        let _ = max;
        Ok(Vec::new())
    }
    /// The first parent of `commit` (a commit of this snapshot's
    /// [`RepoSnapshot::history`]); `None` for a root commit, and for
    /// snapshots without history, which is the default. `lettuce eval`
    /// asks each question at this parent.
    fn first_parent(&self, commit: &str) -> Result<Option<String>, GitError> {
        let _ = commit;
        Ok(None)
    }
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

    /// The remote's head commit of the requested branch, without fetching
    /// objects (an `ls-remote`): what the webhook check compares with the
    /// indexed commit. Applies [`GitMirror::check_url`] first.
    async fn remote_head(&self, req: &SyncRequest) -> Result<String, GitError> {
        let _ = req;
        Err(GitError::Unsupported {
            provider: "git",
            operation: "reading the remote head",
        })
    }
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
    /// The code host is not set up on this instance (missing settings).
    #[error("{message}")]
    NotConfigured {
        /// What is missing and how to fix it.
        message: String,
    },
    /// The code host refused the credentials (revoked installation, expired
    /// or withdrawn token): the user must reconnect.
    #[error("{message}")]
    Unauthorized {
        /// What to do.
        message: String,
    },
    /// The credentials are valid but lack a permission (e.g. the GitHub App
    /// lacks `Webhooks: Read & Write`).
    #[error("{message}")]
    PermissionDenied {
        /// Which permission, and the fix.
        message: String,
    },
    /// The code host's rate limit is exhausted; retry after `retry_after`
    /// (through the job queue's backoff, never by sleeping in a request).
    #[error("{message}")]
    RateLimited {
        /// How long to wait, when the host said.
        retry_after: Option<Duration>,
        /// What happened.
        message: String,
    },
    /// A webhook delivery's body is not what the event header promised.
    #[error("malformed webhook payload: {message}")]
    MalformedPayload {
        /// What is wrong.
        message: String,
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
            GitError::Network { .. } | GitError::RateLimited { .. } | GitError::Backend { retryable: true, .. }
        )
    }

    /// How long the host asked us to wait before retrying, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GitError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
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
    /// Bitbucket Data Center. An instance runs one Bitbucket flavour
    /// (`BITBUCKET_FLAVOR`), so both answer to the name `bitbucket` (the
    /// seeds' callback `/v1/integrations/bitbucket/callback` and webhook
    /// `/v1/bitbucket/webhook/{account_id}` hold for either).
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
            ProviderKind::BitbucketDc => "bitbucket",
        }
    }

    /// Parses [`ProviderKind::as_str`] (`bitbucket` gives
    /// [`ProviderKind::BitbucketCloud`]; find a provider by name with
    /// [`ProviderKind::as_str`] instead).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "generic" => ProviderKind::Generic,
            "github" => ProviderKind::GitHub,
            "gitlab" => ProviderKind::GitLab,
            "bitbucket" => ProviderKind::BitbucketCloud,
            _ => return None,
        })
    }

    /// Name shown to users (`GitHub`, `Bitbucket`, …).
    pub fn display_name(self) -> &'static str {
        match self {
            ProviderKind::Generic => "Git",
            ProviderKind::GitHub => "GitHub",
            ProviderKind::GitLab => "GitLab",
            ProviderKind::BitbucketCloud => "Bitbucket",
            ProviderKind::BitbucketDc => "Bitbucket Data Center",
        }
    }
}

/// A repository a code host offers to the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRepo {
    /// The provider's id of the repository.
    pub id: String,
    /// `owner/name`.
    pub full_name: String,
    /// Clone URL (https, without credentials).
    pub clone_url: String,
    /// Default branch.
    pub default_branch: Option<String>,
    /// Whether it is private.
    pub private: bool,
}

/// What the code host's install redirect brought back to the callback
/// (query parameters; the `state` is checked by the engine first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallCallback {
    /// GitHub App: `installation_id`.
    pub installation_id: Option<String>,
    /// OAuth: the authorization `code`.
    pub code: Option<String>,
    /// GitHub App: `setup_action` (`install`, `update`, `request`).
    pub setup_action: Option<String>,
    /// OAuth: `error` (`access_denied`, …).
    pub error: Option<String>,
    /// Access-token connections (Bitbucket Data Center): the token the user
    /// pasted, checked by the provider before it is stored.
    pub token: Option<Secret>,
}

/// What a completed install grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallGrant {
    /// The provider's installation (or user) id.
    pub external_id: String,
    /// Granted scopes or permissions.
    pub scopes: Vec<String>,
    /// Tokens to keep (sealed) for later calls: OAuth access and refresh
    /// tokens, a pasted access token. `None` when the provider mints its own
    /// (GitHub Apps).
    pub credentials: Option<ProviderCredentials>,
}

/// A registered webhook as the code host reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookInfo {
    /// Where it delivers.
    pub url: String,
    /// Whether the host will deliver (not disabled or suspended).
    pub active: bool,
}

/// Where and how a webhook is registered.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    /// The delivery URL (`${LETTUCE_WEB_URL}/v1/<provider>/webhook/<account id>`).
    pub url: String,
    /// The account's webhook secret.
    pub secret: Secret,
}

/// How a code host authenticates its deliveries and names them: which
/// headers the engine checks (in constant time, before parsing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookScheme {
    /// Header with `sha256=<hex>` HMAC of the body (`x-hub-signature-256`),
    /// or with the shared token when `token` is true (`x-gitlab-token`).
    pub signature_header: &'static str,
    /// The header carries the secret itself rather than an HMAC.
    pub token: bool,
    /// Header naming the event (`x-github-event`).
    pub event_header: &'static str,
    /// Header with a unique delivery id (`x-github-delivery`), used to refuse
    /// replays.
    pub delivery_header: Option<&'static str>,
}

/// A verified delivery, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    /// The host checks the hook works.
    Ping {
        /// The provider's repo id, when the hook is a repo hook.
        provider_repo_id: Option<String>,
    },
    /// Commits were pushed.
    Push {
        /// The provider's repo id.
        provider_repo_id: String,
        /// `owner/name`.
        full_name: String,
        /// The branch, when the ref is a branch (`refs/heads/<branch>`).
        branch: Option<String>,
        /// The new head commit (all zeros when the branch was deleted).
        head: String,
    },
    /// Anything else (answered, ignored).
    Other {
        /// The event name.
        event: String,
    },
}

/// Whether a code host can be used on this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderStatus {
    /// Configured.
    Ready,
    /// Missing settings: the message names them and the fix.
    NotConfigured {
        /// E.g. "GitHub App is not configured on this Lettuce instance".
        message: String,
    },
}

/// A code host integration, in three parts:
///
/// * **installation and auth** — [`status`](GitProvider::status),
///   [`install_url`](GitProvider::install_url),
///   [`complete_install`](GitProvider::complete_install),
///   [`clone_credentials`](GitProvider::clone_credentials);
/// * **listing** — [`list_repos`](GitProvider::list_repos) (the engine
///   filters and pages);
/// * **webhooks** — [`register_webhook`](GitProvider::register_webhook),
///   [`webhook_info`](GitProvider::webhook_info) and
///   [`delete_webhook`](GitProvider::delete_webhook) (the periodic repair),
///   [`webhook_scheme`](GitProvider::webhook_scheme),
///   [`parse_webhook`](GitProvider::parse_webhook).
///
/// OAuth and access-token hosts return their tokens in
/// [`InstallGrant::credentials`]; the engine seals and stores them, opens
/// them into [`Installation::credentials`] before every call, and asks
/// [`refresh_credentials`](GitProvider::refresh_credentials) for new ones
/// shortly before they expire (an `Unauthorized` answer marks the
/// installation `needs_reauth`). Hosts connected by a pasted token say so
/// with [`accepts_token`](GitProvider::accepts_token) and receive it in
/// [`InstallCallback::token`].
///
/// Every code-host method has a default answering
/// [`GitError::Unsupported`], so a provider without a host API (a plain git
/// URL) implements only [`kind`](GitProvider::kind) and
/// [`owns`](GitProvider::owns). Signature checking is not the provider's:
/// the engine checks the [`WebhookScheme`] with the domain's constant-time
/// rules before the body reaches [`parse_webhook`](GitProvider::parse_webhook).
#[async_trait]
pub trait GitProvider: Send + Sync + std::fmt::Debug + 'static {
    /// Which host this is.
    fn kind(&self) -> ProviderKind;

    /// Whether this provider owns `url` (by host).
    fn owns(&self, url: &RepoUrl) -> bool;

    /// Whether the host is configured on this instance.
    fn status(&self) -> ProviderStatus {
        ProviderStatus::Ready
    }

    /// Where to send the user to connect the host, carrying `state` back to
    /// the callback.
    fn install_url(&self, _state: &str) -> Result<String, GitError> {
        Err(self.unsupported("connecting"))
    }

    /// Completes an install from the callback's parameters (exchanges an
    /// OAuth code, checks a GitHub App installation is reachable).
    /// `Unauthorized` when the host refuses.
    async fn complete_install(&self, _callback: &InstallCallback) -> Result<InstallGrant, GitError> {
        Err(self.unsupported("connecting"))
    }

    /// Whether users connect by pasting an access token
    /// ([`InstallCallback::token`]) rather than through an install redirect.
    fn accepts_token(&self) -> bool {
        false
    }

    /// New tokens for `installation` from its refresh token
    /// ([`Installation::credentials`]). `Unauthorized` when the host refuses
    /// the refresh token (the user must reconnect).
    async fn refresh_credentials(&self, _installation: &Installation) -> Result<ProviderCredentials, GitError> {
        Err(self.unsupported("refreshing tokens"))
    }

    /// Credentials to clone `url` through `installation` (an installation or
    /// OAuth token, minted or refreshed as needed; never logged), or `None`
    /// for public access.
    async fn clone_credentials(
        &self,
        _installation: &Installation,
        _url: &RepoUrl,
    ) -> Result<Option<UrlCredentials>, GitError> {
        Ok(None)
    }

    /// Every repository the installation can add (all pages). The engine
    /// filters and pages for the picker.
    async fn list_repos(&self, _installation: &Installation) -> Result<Vec<RemoteRepo>, GitError> {
        Err(self.unsupported("listing repositories"))
    }

    /// Registers a push webhook on `repo` and returns the host's hook id.
    /// `PermissionDenied` when the installation may not manage hooks.
    async fn register_webhook(
        &self,
        _installation: &Installation,
        _repo: &RemoteRepo,
        _target: &WebhookTarget,
    ) -> Result<String, GitError> {
        Err(self.unsupported("webhooks"))
    }

    /// The hook `hook_id` on `repo` as the host has it, or `None` when it no
    /// longer exists (deleted on the host).
    async fn webhook_info(
        &self,
        _installation: &Installation,
        _repo: &RemoteRepo,
        _hook_id: &str,
    ) -> Result<Option<HookInfo>, GitError> {
        Err(self.unsupported("webhooks"))
    }

    /// Deletes the hook `hook_id` on `repo`; a hook already gone is not an
    /// error.
    async fn delete_webhook(
        &self,
        _installation: &Installation,
        _repo: &RemoteRepo,
        _hook_id: &str,
    ) -> Result<(), GitError> {
        Err(self.unsupported("webhooks"))
    }

    /// How deliveries are authenticated and named; `None` without webhooks.
    fn webhook_scheme(&self) -> Option<WebhookScheme> {
        None
    }

    /// Parses a delivery whose signature the engine already verified.
    /// `MalformedPayload` when the body does not fit the event.
    fn parse_webhook(&self, _event: &str, _body: &[u8]) -> Result<WebhookEvent, GitError> {
        Err(self.unsupported("webhooks"))
    }

    /// The [`GitError::Unsupported`] for `operation` on this host.
    fn unsupported(&self, operation: &'static str) -> GitError {
        GitError::Unsupported {
            provider: self.kind().as_str(),
            operation,
        }
    }
}
