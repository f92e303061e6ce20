//! # lettuce-git-generic
//!
//! The generic git adapter: [`GixMirror`] keeps bare mirrors of any
//! `https://`, `http://`, `git://` (and, when allowed, `file://`) repository
//! with [gix](https://docs.rs/gix), and [`GenericProvider`] is the
//! [`GitProvider`] for plain git URLs (no credentials of its own, no repository
//! listing).
//!
//! ## Quick start
//!
//! ```no_run
//! use lettuce_git_generic::{GixMirror, NetworkPolicy};
//! use lettuce_ports::git::{GitMirror, SyncRequest};
//! use lettuce_domain::repo::RepoUrl;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mirror = GixMirror::new("/var/lib/lettuce/mirrors".into(), NetworkPolicy { allow_private: false });
//! let url = RepoUrl::parse("https://github.com/rust-lang/log.git")?;
//! let outcome = mirror.sync(&SyncRequest { key: "repo_1".into(), url, branch: None }).await?;
//! let snapshot = mirror.snapshot("repo_1", &outcome.commit).await?;
//! // `RepoSnapshot` methods read the local disk: call them off the async runtime.
//! let files = tokio::task::spawn_blocking(move || snapshot.files()).await??;
//! println!("{} files on {}", files.len(), outcome.branch);
//! # Ok(()) }
//! ```
//!
//! ## Layout
//!
//! Mirror `key` is the bare repository `root/<key>.git`; keys are limited to
//! `[A-Za-z0-9_-]{1,100}` so they can never escape `root`. A first sync
//! clones into `root/.tmp.<key>.*` and renames the result into place, so a
//! crash mid-clone never leaves a half mirror (leftovers are removed by the
//! next sync of that key). Later syncs fetch `+refs/heads/*:refs/heads/*`
//! (forced, no prune) from the request's URL. gix runs with isolated
//! configuration: the host's global git configuration (URL rewrites,
//! credential helpers, prompts) never applies.
//!
//! ## Credentials
//!
//! Credentials embedded in a [`RepoUrl`] are handed to gix through a
//! credentials callback on the connection only. They are never part of the URL
//! gix sees, never written to the mirror's configuration and never part of an
//! error message (errors name [`RepoUrl::redacted`]).
//!
//! ## Network policy (SSRF)
//!
//! [`GitMirror::check_url`] applies the domain's static policy, then resolves
//! DNS names and checks **every** address with
//! [`lettuce_domain::net::check_ip`]. `sync` calls it first.
//!
//! Limitations:
//!
//! - **Check, then connect.** For `git://` the transport resolves the name
//!   again when it connects, so a DNS answer that changes between the check
//!   and the connection (DNS rebinding) is not caught. For `http(s)://` the
//!   HTTP client uses a resolver that applies the policy to the addresses it
//!   actually connects to, which closes that gap for host names (proxy hosts
//!   from `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` are exempt).
//! - **Redirects.** With private hosts refused, HTTP redirects are not followed
//!   at all (a redirect to a literal private address would bypass the
//!   resolver); users must paste the final clone URL. With private hosts
//!   allowed, git's default (follow the initial redirect) applies.
//!
//! ## Timeouts
//!
//! A sync is bounded by [`GixMirror::with_sync_timeout`] (default 10 minutes):
//! the HTTP client gets that as its request timeout, and when it expires the
//! transfer is interrupted and `sync` returns [`GitError::Network`]. A `git://`
//! server that stops sending entirely can keep the blocking worker thread
//! waiting in a socket read after `sync` has returned; the thread then ends
//! with the connection.
#![deny(missing_docs)]

mod errors;
mod policy;
mod snapshot;
mod sync;

pub use policy::NetworkPolicy;

use async_trait::async_trait;
use lettuce_domain::repo::RepoUrl;
use lettuce_ports::git::{GitError, GitMirror, GitProvider, ProviderKind, RepoSnapshot, SyncOutcome, SyncRequest};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Default bound on one [`GitMirror::sync`].
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(600);

/// How long `sync` waits for the worker after interrupting it on timeout
/// (a tenth of the timeout, between 1 and 15 seconds).
fn interrupt_grace(timeout: Duration) -> Duration {
    (timeout / 10).clamp(Duration::from_secs(1), Duration::from_secs(15))
}

/// Longest accepted mirror key.
pub const MAX_KEY_LEN: usize = 100;

/// A refused mirror key.
#[derive(Debug, thiserror::Error)]
#[error("invalid mirror key `{0}`: use 1–100 characters from A-Z, a-z, 0-9, `_` and `-`")]
struct InvalidKey(String);

/// [`GitMirror`] on gix: bare mirrors under one root directory.
///
/// Cheap to share behind an `Arc`; concurrent syncs of the same key are
/// serialised, different keys run in parallel (each on a blocking thread).
#[derive(Debug)]
pub struct GixMirror {
    root: PathBuf,
    policy: NetworkPolicy,
    timeout: Duration,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl GixMirror {
    /// Mirrors live in `root` (created on first sync); `policy` decides which
    /// hosts may be reached.
    pub fn new(root: PathBuf, policy: NetworkPolicy) -> Self {
        Self {
            root,
            policy,
            timeout: DEFAULT_SYNC_TIMEOUT,
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// Bounds each sync (default [`DEFAULT_SYNC_TIMEOUT`]).
    pub fn with_sync_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The network policy in force.
    pub fn policy(&self) -> NetworkPolicy {
        self.policy
    }

    /// The directory of mirror `key` (`root/<key>.git`), after validating the key.
    pub fn mirror_dir(&self, key: &str) -> Result<PathBuf, GitError> {
        let valid = !key.is_empty()
            && key.len() <= MAX_KEY_LEN
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            let shown: String = key.chars().take(MAX_KEY_LEN).collect();
            return Err(GitError::Backend {
                backend: errors::BACKEND,
                source: Box::new(InvalidKey(shown)),
                retryable: false,
            });
        }
        Ok(self.root.join(format!("{key}.git")))
    }

    fn key_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(key.to_owned()).or_default().clone()
    }
}

/// A read-only snapshot of `commit` (a full hex id) of the local repository
/// at `dir` (a clone's work tree or a bare repository), for tools that read
/// a repository on this machine without mirroring it (`lettuce eval`).
/// Blocks: call it from a blocking context.
pub fn local_snapshot(dir: &std::path::Path, commit: &str) -> Result<Arc<dyn RepoSnapshot>, GitError> {
    let snapshot: Arc<dyn RepoSnapshot> =
        Arc::new(snapshot::GixSnapshot::open(dir, &dir.display().to_string(), commit)?);
    Ok(snapshot)
}

/// The full id of the `HEAD` commit of the local repository at `dir`.
/// Blocks.
pub fn local_head(dir: &std::path::Path) -> Result<String, GitError> {
    let repo = gix::open_opts(dir, sync::open_options())
        .map_err(|e| errors::backend_msg(format!("{} is not a git repository: {e}", dir.display())))?;
    let id = repo
        .head_id()
        .map_err(|e| errors::backend_msg(format!("{} has no HEAD commit: {e}", dir.display())))?;
    Ok(id.to_string())
}

/// Sets the interrupt flag when dropped: a cancelled `sync` future stops its
/// blocking worker too.
struct InterruptOnDrop(Arc<AtomicBool>);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn join_error(e: tokio::task::JoinError) -> GitError {
    GitError::Backend {
        backend: errors::BACKEND,
        source: Box::new(e),
        retryable: true,
    }
}

impl GixMirror {
    /// What the blocking git code needs for `req`.
    fn job(&self, req: &SyncRequest, interrupt: Arc<AtomicBool>) -> sync::SyncJob {
        sync::SyncJob {
            root: self.root.clone(),
            key: req.key.clone(),
            url: req.url.clone(),
            branch: req.branch.clone(),
            allow_private: self.policy.allow_private,
            timeout: self.timeout,
            interrupt,
        }
    }
}

#[async_trait]
impl GitMirror for GixMirror {
    async fn check_url(&self, url: &RepoUrl) -> Result<(), GitError> {
        policy::check_url(url, self.policy).await
    }

    async fn sync(&self, req: &SyncRequest) -> Result<SyncOutcome, GitError> {
        self.mirror_dir(&req.key)?;
        self.check_url(&req.url).await?;
        let lock = self.key_lock(&req.key);
        let _guard = lock.lock().await;

        let interrupt = Arc::new(AtomicBool::new(false));
        let _stop_on_drop = InterruptOnDrop(interrupt.clone());
        let job = self.job(req, interrupt.clone());
        let started = tokio::time::Instant::now();
        let mut worker = tokio::task::spawn_blocking(move || sync::run(&job));
        let timed_out = || GitError::Network {
            url: req.url.redacted(),
            message: format!("timed out after {} s", self.timeout.as_secs()),
        };
        let result = match tokio::time::timeout(self.timeout, &mut worker).await {
            Ok(joined) => joined.map_err(join_error)?,
            Err(_) => {
                interrupt.store(true, Ordering::Relaxed);
                tracing::warn!(key = %req.key, url = %req.url.redacted(), "git sync timed out; interrupting");
                return match tokio::time::timeout(interrupt_grace(self.timeout), worker).await {
                    Ok(Ok(Ok(outcome))) => Ok(outcome),
                    _ => Err(timed_out()),
                };
            }
        };
        result.inspect(|outcome| {
            tracing::debug!(key = %req.key, commit = %outcome.commit, branch = %outcome.branch,
                elapsed_ms = started.elapsed().as_millis() as u64, "git sync done");
        })
    }

    async fn remote_head(&self, req: &SyncRequest) -> Result<String, GitError> {
        self.mirror_dir(&req.key)?;
        self.check_url(&req.url).await?;
        let job = self.job(req, Arc::new(AtomicBool::new(false)));
        let worker = tokio::task::spawn_blocking(move || sync::remote_head(&job));
        match tokio::time::timeout(self.timeout, worker).await {
            Ok(joined) => joined.map_err(join_error)?,
            Err(_) => Err(GitError::Network {
                url: req.url.redacted(),
                message: format!("timed out after {} s", self.timeout.as_secs()),
            }),
        }
    }

    async fn snapshot(&self, key: &str, commit: &str) -> Result<Arc<dyn RepoSnapshot>, GitError> {
        let dir = self.mirror_dir(key)?;
        let (key, commit) = (key.to_owned(), commit.to_owned());
        let snap = tokio::task::spawn_blocking(move || snapshot::GixSnapshot::open(&dir, &key, &commit))
            .await
            .map_err(join_error)??;
        Ok(Arc::new(snap))
    }

    async fn remove(&self, key: &str) -> Result<(), GitError> {
        let dir = self.mirror_dir(key)?;
        let lock = self.key_lock(key);
        let _guard = lock.lock().await;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(errors::backend_msg(format!("cannot remove mirror {key}: {e}"))),
        }
    }
}

/// [`GitProvider`] for plain git URLs: owns every URL, has no credentials of
/// its own (credentials pasted into a URL are stored and supplied by the
/// engine) and cannot list repositories.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenericProvider;

impl GenericProvider {
    /// The generic provider.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl GitProvider for GenericProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Generic
    }

    fn owns(&self, _url: &RepoUrl) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        let m = GixMirror::new("/tmp/m".into(), NetworkPolicy::default());
        assert_eq!(m.mirror_dir("repo_1-A").unwrap(), PathBuf::from("/tmp/m/repo_1-A.git"));
        for bad in ["", "../x", "a/b", "a.b", "a b", "é", &"x".repeat(101)] {
            let e = m.mirror_dir(bad).unwrap_err();
            assert!(e.to_string().contains("invalid mirror key"), "{bad}: {e}");
        }
        assert!(m.mirror_dir(&"x".repeat(100)).is_ok());
    }
}
