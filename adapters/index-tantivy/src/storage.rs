//! Where index artifacts live: the `BlobStore` holds them (so any process
//! can serve any repo); a local directory holds the files a process has
//! opened (memory-mapped by tantivy). With a filesystem blob store the
//! store's own files are mapped and nothing is copied.
//!
//! ## Layout in the blob store
//!
//! * `repos/<repo>/index/files/<name>` — tantivy segment files. They are
//!   immutable (a later commit adds files, never changes one), so a reader
//!   that has a file never fetches it again.
//! * `repos/<repo>/index/commits/<commit>.bin` — the [`CommitRecord`]: the
//!   tantivy `meta.json` of that commit, the files it needs, and the file
//!   manifest (path → blob id) incremental runs diff against.
//! * `repos/<repo>/index/HEAD` — the last indexed commit, written after
//!   everything else, so a reader never sees half an index.
//!
//! After a new commit is stored, records and files that neither it nor the
//! previous commit use are deleted (readers that resolved the previous
//! commit just before the switch keep working).

use crate::rules::SkipReason;
use bytes::Bytes;
use lettuce_domain::RepoId;
use lettuce_ports::BoxError;
use lettuce_ports::blob::{BlobError, BlobStore, validate_key};
use lettuce_ports::index::IndexError;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tantivy::directory::error::{DeleteError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, WatchCallback, WatchHandle, WritePtr,
};

/// Version of the index format (schema, extraction, record layout). An
/// index of another format is treated as missing and rebuilt.
/// 4: an `overlong` field marks files with words over the term length
/// limit (substring search narrows by the last word's prefix); `path` is a
/// fast field.
pub const FORMAT: u32 = 4;

/// One file of a commit's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ManifestEntry {
    pub path: String,
    pub blob_id: String,
    pub size: u64,
    pub skipped: Option<SkipReason>,
}

/// Everything stored for one indexed commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CommitRecord {
    pub format: u32,
    pub commit: String,
    /// tantivy's `meta.json` for this commit.
    pub meta_json: String,
    /// Segment files the commit needs.
    pub files: Vec<String>,
    /// Every file of the snapshot, sorted by path.
    pub manifest: Vec<ManifestEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    commit: String,
    format: u32,
}

pub(crate) fn backend_err(source: impl Into<BoxError>, retryable: bool) -> IndexError {
    IndexError::Backend {
        backend: crate::NAME,
        source: source.into(),
        retryable,
    }
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> IndexError {
    backend_err(format!("{what} {}: {e}", path.display()), true)
}

/// The blob store plus this process's local directory.
#[derive(Debug, Clone)]
pub(crate) struct Storage {
    blobs: Arc<dyn BlobStore>,
    cache_dir: PathBuf,
}

impl Storage {
    pub fn new(blobs: Arc<dyn BlobStore>, cache_dir: PathBuf) -> Self {
        Self { blobs, cache_dir }
    }

    fn prefix(repo: RepoId) -> String {
        format!("repos/{repo}/index/")
    }

    fn head_key(repo: RepoId) -> String {
        format!("repos/{repo}/index/HEAD")
    }

    fn record_key(repo: RepoId, commit: &str) -> Result<String, IndexError> {
        let key = format!("repos/{repo}/index/commits/{commit}.bin");
        validate_key(&key)?;
        Ok(key)
    }

    fn file_key(repo: RepoId, name: &str) -> String {
        format!("repos/{repo}/index/files/{name}")
    }

    /// A scratch directory for one index run, removed on drop.
    pub fn scratch(&self, repo: RepoId) -> Result<tempfile::TempDir, IndexError> {
        let dir = self.cache_dir.join("scratch");
        std::fs::create_dir_all(&dir).map_err(|e| io_err("cannot create", &dir, e))?;
        tempfile::Builder::new()
            .prefix(&format!("{repo}-"))
            .tempdir_in(&dir)
            .map_err(|e| io_err("cannot create a scratch directory in", &dir, e))
    }

    /// The directory whose files tantivy maps for `repo`: the blob store's
    /// own directory when it is local, else the local cache.
    pub fn files_dir(&self, repo: RepoId) -> PathBuf {
        match self.blobs.local_path(&Self::file_key(repo, "x")) {
            Some(p) => p.parent().map(Path::to_path_buf).unwrap_or(p),
            None => self.cache_dir.join("repos").join(repo.to_string()).join("files"),
        }
    }

    fn blob_is_local(&self) -> bool {
        self.blobs.local_path("x").is_some()
    }

    /// The indexed commit, if the stored index has the current format.
    pub async fn head(&self, repo: RepoId) -> Result<Option<String>, IndexError> {
        match self.blobs.get(&Self::head_key(repo)).await {
            Ok(b) => match serde_json::from_slice::<Head>(&b) {
                Ok(h) if h.format == FORMAT => Ok(Some(h.commit)),
                Ok(_) => Ok(None),
                Err(e) => Err(backend_err(
                    format!("index pointer of repo {repo} is corrupt: {e}"),
                    false,
                )),
            },
            Err(BlobError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The record of `commit`, if stored with the current format.
    pub async fn record(&self, repo: RepoId, commit: &str) -> Result<Option<CommitRecord>, IndexError> {
        let key = match Self::record_key(repo, commit) {
            Ok(k) => k,
            Err(_) => return Ok(None), // not a commit id we could have stored
        };
        let bytes = match self.blobs.get(&key).await {
            Ok(b) => b,
            Err(BlobError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match postcard::from_bytes::<CommitRecord>(&bytes) {
            Ok(r) if r.format == FORMAT && r.commit == commit => Ok(Some(r)),
            Ok(_) => Ok(None),
            Err(e) => {
                tracing::warn!(repo = %repo, commit, error = %e, "unreadable index record; the repo will be re-indexed");
                Ok(None)
            }
        }
    }

    /// Makes every file of `record` present in [`Storage::files_dir`],
    /// fetching missing ones from the blob store. Returns the directory.
    pub async fn ensure_files(&self, repo: RepoId, record: &CommitRecord) -> Result<PathBuf, IndexError> {
        let dir = self.files_dir(repo);
        if self.blob_is_local() {
            return Ok(dir);
        }
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_err("cannot create", &dir, e))?;
        for name in &record.files {
            let path = dir.join(name);
            if tokio::fs::try_exists(&path).await.unwrap_or(false) {
                continue;
            }
            let data = self.blobs.get(&Self::file_key(repo, name)).await?;
            let tmp = dir.join(format!(".{name}.{}.part", uuid::Uuid::new_v4().simple()));
            tokio::fs::write(&tmp, &data)
                .await
                .map_err(|e| io_err("cannot write", &tmp, e))?;
            tokio::fs::rename(&tmp, &path)
                .await
                .map_err(|e| io_err("cannot rename into", &path, e))?;
        }
        Ok(dir)
    }

    /// Stores a finished run: new files from `work_dir`, the record, then
    /// the HEAD pointer; then removes what neither this commit nor
    /// `previous` uses.
    pub async fn publish(
        &self,
        repo: RepoId,
        work_dir: &Path,
        record: &CommitRecord,
        previous: Option<&CommitRecord>,
    ) -> Result<(), IndexError> {
        let known: HashSet<&str> = previous
            .map(|p| p.files.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let local_cache = (!self.blob_is_local()).then(|| self.files_dir(repo));
        if let Some(dir) = &local_cache {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| io_err("cannot create", dir, e))?;
        }
        for name in &record.files {
            if known.contains(name.as_str()) {
                continue;
            }
            let src = work_dir.join(name);
            self.blobs.put_file(&Self::file_key(repo, name), &src).await?;
            if let Some(dir) = &local_cache {
                let dst = dir.join(name);
                if std::fs::hard_link(&src, &dst).is_err() && !dst.exists() {
                    std::fs::copy(&src, &dst).map_err(|e| io_err("cannot copy into", &dst, e))?;
                }
            }
        }
        let bytes = postcard::to_allocvec(record).map_err(|e| backend_err(e, false))?;
        self.blobs
            .put(&Self::record_key(repo, &record.commit)?, Bytes::from(bytes))
            .await?;
        let head = serde_json::to_vec(&Head {
            commit: record.commit.clone(),
            format: FORMAT,
        })
        .map_err(|e| backend_err(e, false))?;
        self.blobs.put(&Self::head_key(repo), Bytes::from(head)).await?;
        self.collect_garbage(repo, record, previous).await
    }

    async fn collect_garbage(
        &self,
        repo: RepoId,
        current: &CommitRecord,
        previous: Option<&CommitRecord>,
    ) -> Result<(), IndexError> {
        let mut keep: HashSet<String> = HashSet::new();
        keep.insert(Self::head_key(repo));
        for r in std::iter::once(current).chain(previous) {
            keep.insert(Self::record_key(repo, &r.commit)?);
            for f in &r.files {
                keep.insert(Self::file_key(repo, f));
            }
        }
        for key in self.blobs.list(&Self::prefix(repo)).await? {
            if !keep.contains(&key) {
                self.blobs.delete(&key).await?;
            }
        }
        if !self.blob_is_local() {
            let keep_files: HashSet<&str> = std::iter::once(current)
                .chain(previous)
                .flat_map(|r| r.files.iter().map(String::as_str))
                .collect();
            self.sweep_cache(repo, &keep_files);
        }
        Ok(())
    }

    /// Removes cached files of `repo` not in `keep` (open readers keep
    /// their mapped files until they close).
    pub fn sweep_cache(&self, repo: RepoId, keep: &HashSet<&str>) {
        if self.blob_is_local() {
            return;
        }
        let dir = self.files_dir(repo);
        let Ok(entries) = std::fs::read_dir(&dir) else { return };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if !keep.contains(name.as_ref()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Deletes every artifact of `repo`, the pointer first.
    pub async fn delete(&self, repo: RepoId) -> Result<(), IndexError> {
        self.blobs.delete(&Self::head_key(repo)).await?;
        for key in self.blobs.list(&Self::prefix(repo)).await? {
            self.blobs.delete(&key).await?;
        }
        let local = self.cache_dir.join("repos").join(repo.to_string());
        if local.exists() {
            tokio::fs::remove_dir_all(&local)
                .await
                .map_err(|e| io_err("cannot remove", &local, e))?;
        }
        Ok(())
    }
}

/// Links (or copies) the files of `record` from `from` into `to` and writes
/// its `meta.json`, so a writer can continue from that commit.
pub(crate) fn stage(record: &CommitRecord, from: &Path, to: &Path) -> Result<(), IndexError> {
    for name in &record.files {
        let (src, dst) = (from.join(name), to.join(name));
        if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst).map_err(|e| io_err("cannot stage", &src, e))?;
        }
    }
    let meta = to.join("meta.json");
    std::fs::write(&meta, &record.meta_json).map_err(|e| io_err("cannot write", &meta, e))
}

/// A read-only tantivy directory showing one commit: files come from a
/// shared directory of immutable segment files, `meta.json` from the
/// commit's record. Nothing is ever written or deleted through it.
#[derive(Clone, Debug)]
pub(crate) struct PinnedDirectory {
    files: MmapDirectory,
    meta: Arc<Vec<u8>>,
}

impl PinnedDirectory {
    pub fn open(dir: &Path, meta_json: &str) -> Result<Self, IndexError> {
        let files =
            MmapDirectory::open(dir).map_err(|e| backend_err(format!("opening {}: {e}", dir.display()), true))?;
        Ok(Self {
            files,
            meta: Arc::new(meta_json.as_bytes().to_vec()),
        })
    }
}

fn is_meta(path: &Path) -> bool {
    path == Path::new("meta.json")
}

impl Directory for PinnedDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.files.get_file_handle(path)
    }

    fn delete(&self, _path: &Path) -> Result<(), DeleteError> {
        Ok(())
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        if is_meta(path) {
            return Ok(true);
        }
        self.files.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        Err(OpenWriteError::wrap_io_error(
            std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "pinned index directories are read-only",
            ),
            path.to_path_buf(),
        ))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        if is_meta(path) {
            return Ok(self.meta.as_ref().clone());
        }
        Err(OpenReadError::FileDoesNotExist(path.to_path_buf()))
    }

    fn atomic_write(&self, _path: &Path, _data: &[u8]) -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "pinned index directories are read-only",
        ))
    }

    fn sync_directory(&self) -> std::io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, _lock: &Lock) -> Result<DirectoryLock, tantivy::directory::error::LockError> {
        Ok(DirectoryLock::from(Box::new(())))
    }

    fn watch(&self, _callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        Ok(WatchHandle::empty())
    }
}
