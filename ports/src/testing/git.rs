//! In-memory git: a [`RepoSnapshot`] built from files, a [`GitMirror`] of
//! scripted remotes, and the mirror contract suite.

use crate::git::{CommitChanges, FileEntry, GitError, GitMirror, RepoSnapshot, SyncOutcome, SyncRequest};
use crate::testing::{assert_not_leaked, content_hash, lock};
use async_trait::async_trait;
use lettuce_domain::repo::RepoUrl;
use lettuce_domain::token::hash_token;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// A snapshot of one commit held in memory. Blob ids are the SHA-256 (hex)
/// of the content, so equal contents have equal ids. `Debug` lists the
/// commit and paths, not the contents.
#[derive(Clone)]
pub struct MemorySnapshot {
    commit: String,
    files: Vec<FileEntry>,
    blobs: HashMap<String, Arc<Vec<u8>>>,
    history: Vec<CommitChanges>,
}

impl std::fmt::Debug for MemorySnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySnapshot")
            .field("commit", &self.commit)
            .field("files", &self.files.iter().map(|e| e.path.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

impl MemorySnapshot {
    /// A snapshot of `commit` with `files` (`(path, contents)`; paths are
    /// `/`-separated and relative; a repeated path keeps its last contents).
    pub fn new(commit: impl Into<String>, files: Vec<(String, Vec<u8>)>) -> Self {
        let mut by_path: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (path, bytes) in files {
            by_path.insert(path, bytes);
        }
        let mut blobs = HashMap::new();
        let mut entries = Vec::with_capacity(by_path.len());
        for (path, bytes) in by_path {
            let blob_id = Self::blob_id_of(&bytes);
            entries.push(FileEntry {
                path,
                blob_id: blob_id.clone(),
                size: bytes.len() as u64,
            });
            blobs.entry(blob_id).or_insert_with(|| Arc::new(bytes));
        }
        Self {
            commit: commit.into(),
            files: entries,
            blobs,
            history: Vec::new(),
        }
    }

    /// This snapshot with `history` (newest first; the fake returns the
    /// first `max` of it as given, and takes it as linear for
    /// `first_parent`).
    #[must_use]
    pub fn with_history(mut self, history: Vec<CommitChanges>) -> Self {
        self.history = history;
        self
    }

    /// Convenience: a snapshot of text files.
    pub fn from_text(commit: impl Into<String>, files: &[(&str, &str)]) -> Self {
        Self::new(
            commit,
            files
                .iter()
                .map(|(p, c)| ((*p).to_owned(), c.as_bytes().to_vec()))
                .collect(),
        )
    }

    /// The blob id this fake gives `content`.
    pub fn blob_id_of(content: &[u8]) -> String {
        content_hash(content)
    }

    /// This snapshot as the trait object the ports pass around.
    pub fn into_arc(self) -> Arc<dyn RepoSnapshot> {
        Arc::new(self)
    }
}

impl RepoSnapshot for MemorySnapshot {
    fn commit(&self) -> &str {
        &self.commit
    }

    fn files(&self) -> Result<Vec<FileEntry>, GitError> {
        Ok(self.files.clone())
    }

    fn read_blob(&self, blob_id: &str) -> Result<Vec<u8>, GitError> {
        self.blobs
            .get(blob_id)
            .map(|b| b.as_ref().clone())
            .ok_or_else(|| GitError::MissingObject {
                key: format!("snapshot {}", self.commit),
                commit: blob_id.to_owned(),
            })
    }

    fn history(&self, max: usize) -> Result<Vec<CommitChanges>, GitError> {
        Ok(self.history.iter().take(max).cloned().collect())
    }

    /// The fake's history is linear: a commit's first parent is the next
    /// (older) one in it; the oldest has none.
    fn first_parent(&self, commit: &str) -> Result<Option<String>, GitError> {
        let at = self.history.iter().position(|c| c.id == commit);
        Ok(at.and_then(|i| self.history.get(i + 1)).map(|c| c.id.clone()))
    }
}

/// A [`GitMirror`] over scripted remotes, for engine tests.
///
/// * [`MemoryGitMirror::add_remote`] pushes a commit to a branch of a remote
///   (the first branch pushed becomes the default branch);
/// * `sync` copies the remote's commits into the mirror named by the key;
/// * [`MemoryGitMirror::fail_next`] makes the next sync of a URL fail;
/// * `check_url` applies [`RepoUrl::check_static_policy`] (no DNS).
///
/// Remotes are keyed by the URL without credentials.
#[derive(Debug)]
pub struct MemoryGitMirror {
    allow_private: bool,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    remotes: HashMap<String, Remote>,
    mirrors: HashMap<String, HashMap<String, Arc<MemorySnapshot>>>,
    failures: HashMap<String, VecDeque<GitError>>,
    syncs: Vec<SyncRequest>,
    head_checks: Vec<SyncRequest>,
}

#[derive(Debug, Default)]
struct Remote {
    default_branch: Option<String>,
    branches: BTreeMap<String, String>,
    commits: HashMap<String, Arc<MemorySnapshot>>,
    pushes: u64,
}

/// The URL without credentials, as the remotes are keyed.
fn remote_key(url: &str) -> String {
    RepoUrl::parse(url)
        .map(|u| u.redacted())
        .unwrap_or_else(|_| url.trim().to_owned())
}

impl MemoryGitMirror {
    /// A mirror with no remotes. `allow_private` is the operator's
    /// `LETTUCE_ALLOW_PRIVATE_GIT_HOSTS`.
    pub fn new(allow_private: bool) -> Self {
        Self {
            allow_private,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Pushes a commit with `files` to `branch` of the remote at `url`
    /// (creating the remote; its first branch becomes the default) and
    /// returns the new commit id (40 hex digits). Calling it again for the
    /// same URL and branch pushes a new commit.
    pub fn add_remote(&self, url: &str, branch: &str, files: Vec<(String, Vec<u8>)>) -> String {
        self.add_remote_with_history(url, branch, files, Vec::new())
    }

    /// [`MemoryGitMirror::add_remote`] with the history the new commit's
    /// snapshot reports (newest first; the caller keeps it consistent).
    pub fn add_remote_with_history(
        &self,
        url: &str,
        branch: &str,
        files: Vec<(String, Vec<u8>)>,
        history: Vec<CommitChanges>,
    ) -> String {
        let key = remote_key(url);
        let mut inner = lock(&self.inner);
        let remote = inner.remotes.entry(key.clone()).or_default();
        remote.pushes += 1;
        let mut seed = format!("{key}\n{branch}\n{}\n", remote.pushes);
        for (path, bytes) in &files {
            seed.push_str(&format!("{path}\0{}\n", content_hash(bytes)));
        }
        let commit: String = hash_token(&seed).chars().take(40).collect();
        let snapshot = Arc::new(MemorySnapshot::new(commit.clone(), files).with_history(history));
        remote.commits.insert(commit.clone(), snapshot);
        remote.branches.insert(branch.to_owned(), commit.clone());
        remote.default_branch.get_or_insert_with(|| branch.to_owned());
        commit
    }

    /// Creates a remote with no commits (sync answers `EmptyRepository`).
    pub fn add_empty_remote(&self, url: &str) {
        lock(&self.inner).remotes.entry(remote_key(url)).or_default();
    }

    /// Sets the remote's default branch (`HEAD`).
    pub fn set_default_branch(&self, url: &str, branch: &str) {
        lock(&self.inner)
            .remotes
            .entry(remote_key(url))
            .or_default()
            .default_branch = Some(branch.to_owned());
    }

    /// Makes the next sync of `url` fail with `err` (queued: several calls
    /// fail several syncs in order).
    pub fn fail_next(&self, url: &str, err: GitError) {
        lock(&self.inner)
            .failures
            .entry(remote_key(url))
            .or_default()
            .push_back(err);
    }

    /// The head of `branch` on the remote at `url`.
    pub fn head(&self, url: &str, branch: &str) -> Option<String> {
        lock(&self.inner)
            .remotes
            .get(&remote_key(url))
            .and_then(|r| r.branches.get(branch).cloned())
    }

    /// Every sync request received, in order (credentials stay hidden in
    /// `Debug`).
    pub fn sync_requests(&self) -> Vec<SyncRequest> {
        lock(&self.inner).syncs.clone()
    }

    /// Every `remote_head` request so far (credentials included).
    pub fn head_checks(&self) -> Vec<SyncRequest> {
        lock(&self.inner).head_checks.clone()
    }

    /// Whether a mirror named `key` exists.
    pub fn has_mirror(&self, key: &str) -> bool {
        lock(&self.inner).mirrors.contains_key(key)
    }
}

#[async_trait]
impl GitMirror for MemoryGitMirror {
    async fn check_url(&self, url: &RepoUrl) -> Result<(), GitError> {
        url.check_static_policy(self.allow_private)
            .map_err(|v| GitError::Forbidden { reason: v.to_string() })
    }

    async fn sync(&self, req: &SyncRequest) -> Result<SyncOutcome, GitError> {
        self.check_url(&req.url).await?;
        let url = req.url.redacted();
        let mut inner = lock(&self.inner);
        inner.syncs.push(req.clone());
        if let Some(err) = inner.failures.get_mut(&url).and_then(VecDeque::pop_front) {
            return Err(err);
        }
        let remote = inner
            .remotes
            .get(&url)
            .ok_or_else(|| GitError::NotFound { url: url.clone() })?;
        let branch = match (&req.branch, &remote.default_branch) {
            (Some(b), _) => b.clone(),
            (None, Some(b)) => b.clone(),
            (None, None) => return Err(GitError::EmptyRepository { url }),
        };
        let head = remote.branches.get(&branch).cloned();
        let commits = remote.commits.clone();
        if remote.branches.is_empty() {
            return Err(GitError::EmptyRepository { url });
        }
        // Fetch everything, then resolve the branch (as a real fetch does).
        inner.mirrors.entry(req.key.clone()).or_default().extend(commits);
        let commit = head.ok_or(GitError::BranchNotFound {
            url,
            branch: branch.clone(),
        })?;
        Ok(SyncOutcome { commit, branch })
    }

    async fn remote_head(&self, req: &SyncRequest) -> Result<String, GitError> {
        self.check_url(&req.url).await?;
        let url = req.url.redacted();
        let mut inner = lock(&self.inner);
        inner.head_checks.push(req.clone());
        let remote = inner
            .remotes
            .get(&url)
            .ok_or_else(|| GitError::NotFound { url: url.clone() })?;
        let branch = req
            .branch
            .clone()
            .or_else(|| remote.default_branch.clone())
            .ok_or_else(|| GitError::EmptyRepository { url: url.clone() })?;
        remote
            .branches
            .get(&branch)
            .cloned()
            .ok_or(GitError::BranchNotFound { url, branch })
    }

    async fn snapshot(&self, key: &str, commit: &str) -> Result<Arc<dyn RepoSnapshot>, GitError> {
        let inner = lock(&self.inner);
        let missing = || GitError::MissingObject {
            key: key.to_owned(),
            commit: commit.to_owned(),
        };
        let snap = inner
            .mirrors
            .get(key)
            .ok_or_else(missing)?
            .get(commit)
            .ok_or_else(missing)?;
        Ok(snap.clone())
    }

    async fn remove(&self, key: &str) -> Result<(), GitError> {
        lock(&self.inner).mirrors.remove(key);
        Ok(())
    }
}

// ── contract ──────────────────────────────────────────────────────────────

/// What [`git_mirror_contract`] needs from the adapter's test setup.
#[derive(Debug, Clone)]
pub struct GitMirrorFixture {
    /// A reachable repository (may carry credentials) that the mirror's
    /// network policy allows.
    pub good: RepoUrl,
    /// Head commit of `good`'s default branch.
    pub head: String,
    /// `good`'s default branch.
    pub default_branch: String,
    /// Paths that exist at `head` (a subset is fine).
    pub expected_files: Vec<String>,
    /// An allowed URL where no repository exists.
    pub missing: RepoUrl,
    /// A URL the network policy refuses.
    pub forbidden: RepoUrl,
}

/// Runs a blocking snapshot call off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| panic!("a RepoSnapshot method panicked: {e}"))
}

/// Checks the [`GitMirror`] contract against the repositories of `fx`:
///
/// * the forbidden URL is refused by `check_url` and by `sync` with
///   [`GitError::Forbidden`];
/// * `sync` of the good URL (clone, then fetch, then with the default branch
///   named) returns `head` on the default branch; an unknown branch is
///   [`GitError::BranchNotFound`]; the missing URL is [`GitError::NotFound`];
/// * `snapshot(key, head)` shows the commit, lists the expected files sorted
///   by path, and `read_blob` returns `size` bytes for each; an unknown
///   commit is [`GitError::MissingObject`] (or `Backend`);
/// * `remove` works twice, after which `snapshot` fails;
/// * no error's `Display`/`Debug` contains a password or token from the
///   fixture URLs.
///
/// Mirrors are named `contract-<uuid>`; snapshot methods run in
/// `spawn_blocking`.
///
/// # Panics
///
/// On the first broken rule, with a message naming it.
pub async fn git_mirror_contract(m: &dyn GitMirror, fx: &GitMirrorFixture) {
    let key = format!("contract-{}", uuid::Uuid::new_v4());
    let req = |url: &RepoUrl, branch: Option<&str>| SyncRequest {
        key: key.clone(),
        url: url.clone(),
        branch: branch.map(str::to_owned),
    };
    let mut errors: Vec<GitError> = Vec::new();

    // Network policy.
    match m.check_url(&fx.forbidden).await {
        Err(e @ GitError::Forbidden { .. }) => errors.push(e),
        other => panic!(
            "check_url({}) must be GitError::Forbidden, got {other:?}",
            fx.forbidden.redacted()
        ),
    }
    match m.sync(&req(&fx.forbidden, None)).await {
        Err(e @ GitError::Forbidden { .. }) => errors.push(e),
        other => panic!(
            "sync({}) must apply check_url and be GitError::Forbidden, got {other:?}",
            fx.forbidden.redacted()
        ),
    }
    m.check_url(&fx.good)
        .await
        .unwrap_or_else(|e| panic!("check_url({}) must allow the good URL: {e}", fx.good.redacted()));

    // ls-remote before any mirror exists: the head, nothing fetched.
    assert_eq!(
        m.remote_head(&req(&fx.good, None))
            .await
            .unwrap_or_else(|e| panic!("remote_head({}): {e}", fx.good.redacted())),
        fx.head,
        "remote_head of the default branch"
    );
    assert_eq!(
        m.remote_head(&req(&fx.good, Some(&fx.default_branch)))
            .await
            .unwrap_or_else(|e| panic!("remote_head({}): {e}", fx.good.redacted())),
        fx.head,
        "remote_head of the named default branch"
    );
    match m.remote_head(&req(&fx.good, Some("no-such-branch-here"))).await {
        Err(GitError::BranchNotFound { .. }) => {}
        other => panic!("remote_head of a missing branch must be BranchNotFound, got {other:?}"),
    }
    match m.remote_head(&req(&fx.forbidden, None)).await {
        Err(GitError::Forbidden { .. }) => {}
        other => panic!("remote_head must apply check_url, got {other:?}"),
    }
    match m.remote_head(&req(&fx.missing, None)).await {
        Err(GitError::NotFound { .. } | GitError::AuthRequired { .. }) => {}
        other => panic!("remote_head of a missing repo must be NotFound, got {other:?}"),
    }

    // Clone, fetch, explicit default branch.
    let want = SyncOutcome {
        commit: fx.head.clone(),
        branch: fx.default_branch.clone(),
    };
    for (what, branch) in [
        ("first sync (clone)", None),
        ("second sync (fetch)", None),
        ("sync naming the default branch", Some(fx.default_branch.as_str())),
    ] {
        let got = m
            .sync(&req(&fx.good, branch))
            .await
            .unwrap_or_else(|e| panic!("{what} of {} failed: {e}", fx.good.redacted()));
        assert_eq!(got, want, "{what} must return the default branch and its head commit");
    }
    match m.sync(&req(&fx.good, Some("no-such-branch-xyz"))).await {
        Err(e @ GitError::BranchNotFound { .. }) => {
            if let GitError::BranchNotFound { branch, .. } = &e {
                assert_eq!(branch, "no-such-branch-xyz", "BranchNotFound must name the branch");
            }
            errors.push(e);
        }
        other => panic!("sync of an unknown branch must be GitError::BranchNotFound, got {other:?}"),
    }

    // Snapshot of head.
    let snap = m
        .snapshot(&key, &fx.head)
        .await
        .unwrap_or_else(|e| panic!("snapshot(key, head) after sync failed: {e}"));
    assert_eq!(
        snap.commit(),
        fx.head,
        "RepoSnapshot::commit must be the requested commit"
    );
    let s = snap.clone();
    let files = blocking(move || s.files())
        .await
        .unwrap_or_else(|e| panic!("RepoSnapshot::files failed: {e}"));
    assert!(
        files.windows(2).all(|w| w[0].path < w[1].path),
        "RepoSnapshot::files must be sorted by path without duplicates"
    );
    for expected in &fx.expected_files {
        let entry = files.iter().find(|f| &f.path == expected).unwrap_or_else(|| {
            panic!(
                "snapshot of head must contain {expected}; got {:?}",
                files.iter().map(|f| &f.path).collect::<Vec<_>>()
            )
        });
        let (s, id) = (snap.clone(), entry.blob_id.clone());
        let bytes = blocking(move || s.read_blob(&id))
            .await
            .unwrap_or_else(|e| panic!("read_blob of {expected} failed: {e}"));
        assert_eq!(
            bytes.len() as u64,
            entry.size,
            "read_blob({expected}) must return FileEntry::size bytes"
        );
    }
    let s = snap.clone();
    match blocking(move || s.read_blob(&"0".repeat(40))).await {
        Err(e) => errors.push(e),
        Ok(b) => panic!("read_blob of an unknown blob id must fail, got {} bytes", b.len()),
    }
    match m.snapshot(&key, &"0".repeat(40)).await {
        Err(e @ (GitError::MissingObject { .. } | GitError::Backend { .. })) => errors.push(e),
        other => panic!("snapshot of an unknown commit must be GitError::MissingObject, got {other:?}"),
    }

    // Missing repository.
    let missing_key = format!("contract-{}", uuid::Uuid::new_v4());
    let missing_req = SyncRequest {
        key: missing_key.clone(),
        url: fx.missing.clone(),
        branch: None,
    };
    match m.sync(&missing_req).await {
        Err(e @ GitError::NotFound { .. }) => errors.push(e),
        other => panic!(
            "sync of {} (no such repository) must be GitError::NotFound, got {other:?}",
            fx.missing.redacted()
        ),
    }
    m.remove(&missing_key)
        .await
        .unwrap_or_else(|e| panic!("remove of a failed clone's key must succeed: {e}"));

    // Remove.
    m.remove(&key)
        .await
        .unwrap_or_else(|e| panic!("remove must succeed: {e}"));
    m.remove(&key)
        .await
        .unwrap_or_else(|e| panic!("removing a missing mirror must not be an error: {e}"));
    match m.snapshot(&key, &fx.head).await {
        Err(e) => errors.push(e),
        Ok(_) => panic!("snapshot after remove must fail"),
    }

    // No credentials in any error.
    let secrets: Vec<String> = [&fx.good, &fx.missing, &fx.forbidden]
        .iter()
        .filter_map(|u| u.credentials())
        .map(|c| c.password.expose().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    for e in &errors {
        for s in &secrets {
            assert_not_leaked(e, s, 4, "a GitError must never contain credentials");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "https://user:s3cr3t-t0ken@git.example.com/acme/widgets.git";

    fn files(readme: &str) -> Vec<(String, Vec<u8>)> {
        vec![
            ("src/main.rs".into(), b"fn main() {}\n".to_vec()),
            ("README.md".into(), readme.as_bytes().to_vec()),
            ("assets/logo.bin".into(), vec![0, 159, 146, 150, 0, 1]),
        ]
    }

    fn fixture(m: &MemoryGitMirror) -> GitMirrorFixture {
        m.add_remote(GOOD, "main", files("v1"));
        let head = m.add_remote(GOOD, "main", files("v2"));
        m.add_remote(GOOD, "dev", files("dev"));
        GitMirrorFixture {
            good: RepoUrl::parse(GOOD).unwrap(),
            head,
            default_branch: "main".into(),
            expected_files: vec!["README.md".into(), "assets/logo.bin".into(), "src/main.rs".into()],
            missing: RepoUrl::parse("https://user:s3cr3t-t0ken@git.example.com/acme/missing.git").unwrap(),
            forbidden: RepoUrl::parse("http://user:s3cr3t-t0ken@127.0.0.1/acme/widgets.git").unwrap(),
        }
    }

    #[tokio::test]
    async fn memory_mirror_passes_contract() {
        let m = MemoryGitMirror::new(false);
        let fx = fixture(&m);
        git_mirror_contract(&m, &fx).await;
        assert!(!format!("{:?}", m.sync_requests()).contains("s3cr3t"));
    }

    #[tokio::test]
    async fn scripted_behaviour() {
        let m = MemoryGitMirror::new(true);
        let c1 = m.add_remote("http://127.0.0.1/a/b.git", "main", files("x"));
        let c2 = m.add_remote("http://127.0.0.1/a/b.git", "main", files("x"));
        assert_ne!(c1, c2, "each push is a new commit");
        assert_eq!(c1.len(), 40);
        assert_eq!(m.head("http://127.0.0.1/a/b.git", "main"), Some(c2.clone()));
        let url = RepoUrl::parse("http://127.0.0.1/a/b.git").unwrap();
        m.check_url(&url).await.unwrap();
        let req = SyncRequest {
            key: "k".into(),
            url: url.clone(),
            branch: None,
        };
        m.fail_next(
            "http://127.0.0.1/a/b.git",
            GitError::Network {
                url: url.redacted(),
                message: "timeout".into(),
            },
        );
        assert!(matches!(m.sync(&req).await, Err(GitError::Network { .. })));
        assert_eq!(m.sync(&req).await.unwrap().commit, c2);
        // Older commits were fetched too.
        assert_eq!(m.snapshot("k", &c1).await.unwrap().commit(), c1);
        m.add_remote("http://127.0.0.1/a/b.git", "dev", files("y"));
        m.set_default_branch("http://127.0.0.1/a/b.git", "dev");
        assert_eq!(m.sync(&req).await.unwrap().branch, "dev");
        m.add_empty_remote("http://127.0.0.1/empty.git");
        let empty = SyncRequest {
            key: "e".into(),
            url: RepoUrl::parse("http://127.0.0.1/empty.git").unwrap(),
            branch: None,
        };
        assert!(matches!(m.sync(&empty).await, Err(GitError::EmptyRepository { .. })));
        assert!(m.has_mirror("k"));
        m.remove("k").await.unwrap();
        assert!(!m.has_mirror("k"));
    }

    #[test]
    fn snapshot_basics() {
        let s = MemorySnapshot::from_text("c", &[("b.txt", "same"), ("a.txt", "same"), ("c.txt", "other")]);
        let files = s.files().unwrap();
        assert_eq!(
            files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["a.txt", "b.txt", "c.txt"]
        );
        assert_eq!(files[0].blob_id, files[1].blob_id, "equal contents, equal ids");
        assert_ne!(files[0].blob_id, files[2].blob_id);
        assert_eq!(s.read_blob(&files[2].blob_id).unwrap(), b"other");
        assert!(matches!(s.read_blob("nope"), Err(GitError::MissingObject { .. })));
        assert!(!format!("{s:?}").contains("other"));
    }
}
