//! [`LocalSnapshot`]: a directory as a [`RepoSnapshot`].

use crate::LocalOptions;
use crate::cache::{self, CacheMap, Cached};
use crate::errors::{bad_root, changed, fatal};
use crate::ids::{git_blob_id, is_large_file_id, tree_id};
use crate::stat::{Stat, time_ns};
use crate::walk::{self, WalkSettings, WalkedFile};
use lettuce_ports::git::{CommitChanges, FileEntry, GitError, RepoSnapshot};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Files whose modification time is this close to (or after) the start of
/// the walk are not written to the stat cache: a change within the same
/// timestamp tick would leave their stat unchanged (git's "racily clean"
/// problem). 2 s covers the coarsest common file systems (FAT).
const RACY_NS: i64 = 2_000_000_000;

/// A local directory as a [`RepoSnapshot`]: the regular files the walk found
/// (after ignore rules), with git blob ids, and a synthetic commit id for the
/// tree. See the crate documentation for the rules.
///
/// `Debug` shows the root, the commit and the number of files, never
/// contents.
pub struct LocalSnapshot {
    root: PathBuf,
    commit: String,
    files: Vec<FileEntry>,
    /// Stat of `files[i]` when it was walked.
    stats: Vec<Stat>,
    /// Indices into `files` by blob id.
    by_blob: HashMap<String, Vec<usize>>,
    files_hashed: usize,
}

impl std::fmt::Debug for LocalSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSnapshot")
            .field("root", &self.root)
            .field("commit", &self.commit)
            .field("files", &self.files.len())
            .finish_non_exhaustive()
    }
}

impl LocalSnapshot {
    /// Walks `root` and takes a snapshot of it (blocking: call it off the
    /// async threads).
    ///
    /// With [`LocalOptions::stat_cache`] set, files whose size, modification
    /// time and inode match the cache are not read again, and the cache is
    /// rewritten afterwards. Files that cannot be read are skipped with a
    /// warning.
    ///
    /// # Errors
    ///
    /// [`GitError::Backend`] (not retryable) when `root` does not exist, is
    /// not a directory, or cannot be read; the message names the path and
    /// what to do.
    pub fn open(root: &Path, options: LocalOptions) -> Result<Self, GitError> {
        let started = Instant::now();
        let walk_started_ns = time_ns(SystemTime::now());
        let root = check_root(root)?;
        let cache = options.stat_cache.as_deref().map(cache::load).unwrap_or_default();
        let own_cache = options.stat_cache.as_deref().and_then(|c| cache_inside(&root, c));
        let loaded = started.elapsed();
        let walked = walk::walk(&WalkSettings {
            root: &root,
            max_file_bytes: options.max_file_bytes,
            threads: options.threads,
            cache: &cache,
            own_cache,
        });
        let mut files = walked.files;
        files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        let walk_done = started.elapsed();
        if let Some(path) = &options.stat_cache {
            save_cache(path, &files, walk_started_ns, &cache);
        }
        let saved = started.elapsed();
        let snapshot = Self::from_walk(root, files, walked.hashed);
        tracing::debug!(
            root = %snapshot.root.display(),
            files = snapshot.files.len(),
            hashed = snapshot.files_hashed,
            cache_load_ms = loaded.as_millis() as u64,
            walk_ms = (walk_done - loaded).as_millis() as u64,
            cache_save_ms = (saved - walk_done).as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "local directory snapshot taken"
        );
        Ok(snapshot)
    }

    fn from_walk(root: PathBuf, walked: Vec<WalkedFile>, files_hashed: usize) -> Self {
        let mut files = Vec::with_capacity(walked.len());
        let mut stats = Vec::with_capacity(walked.len());
        let mut by_blob: HashMap<String, Vec<usize>> = HashMap::with_capacity(walked.len());
        for (i, w) in walked.into_iter().enumerate() {
            by_blob.entry(w.blob_id.clone()).or_default().push(i);
            stats.push(w.stat);
            files.push(FileEntry {
                path: w.path,
                blob_id: w.blob_id,
                size: w.size,
            });
        }
        Self {
            commit: tree_id(&files),
            root,
            files,
            stats,
            by_blob,
            files_hashed,
        }
    }

    /// The directory this snapshot shows (canonical: absolute, symlinks
    /// resolved).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How many files [`LocalSnapshot::open`] read and hashed (the others
    /// came from the stat cache or are over the size limit).
    pub fn files_hashed(&self) -> usize {
        self.files_hashed
    }

    /// This snapshot as the trait object the ports pass around.
    pub fn into_arc(self) -> Arc<dyn RepoSnapshot> {
        Arc::new(self)
    }

    /// The contents of `files[i]` if it still has blob id `id`.
    fn read_if_unchanged(&self, i: usize, id: &str) -> Result<Option<Vec<u8>>, GitError> {
        let entry = &self.files[i];
        let path = self.root.join(&entry.path);
        let unreadable =
            |e: std::io::Error| fatal(format!("cannot read {}: {e}: check its permissions", path.display()));
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unreadable(e)),
        };
        let meta = file.metadata().map_err(unreadable)?;
        // A large file's id derives from its stat: unchanged means the same stat.
        let large = is_large_file_id(id);
        if !meta.is_file() || meta.len() != entry.size || (large && Stat::of(&meta) != self.stats[i]) {
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size).unwrap_or(0));
        file.read_to_end(&mut bytes).map_err(unreadable)?;
        let same = if large {
            bytes.len() as u64 == entry.size
        } else {
            git_blob_id(&bytes) == id
        };
        Ok(same.then_some(bytes))
    }
}

impl RepoSnapshot for LocalSnapshot {
    fn commit(&self) -> &str {
        &self.commit
    }

    fn files(&self) -> Result<Vec<FileEntry>, GitError> {
        Ok(self.files.clone())
    }

    /// Reads a file with blob id `blob_id` now and checks that it still has
    /// that id (a retryable [`GitError::Backend`] "… changed while indexing;
    /// run again" otherwise). Unknown ids are [`GitError::MissingObject`].
    fn read_blob(&self, blob_id: &str) -> Result<Vec<u8>, GitError> {
        let indices = self.by_blob.get(blob_id).ok_or_else(|| GitError::MissingObject {
            key: self.root.display().to_string(),
            commit: blob_id.to_owned(),
        })?;
        // Files with equal contents share an id: any of them will do.
        for &i in indices {
            if let Some(bytes) = self.read_if_unchanged(i, blob_id)? {
                return Ok(bytes);
            }
        }
        Err(changed(&self.root.join(&self.files[indices[0]].path)))
    }

    /// The history of the work tree's `HEAD` when the directory is the top
    /// of a git work tree (a clone); empty otherwise.
    fn history(&self, max: usize) -> Result<Vec<CommitChanges>, GitError> {
        lettuce_git_history::worktree_history(&self.root, max)
            .map(Option::unwrap_or_default)
            .map_err(|e| fatal(format!("cannot read the git history of {}: {e}", self.root.display())))
    }
}

/// `root`, canonical, once it is known to be a readable directory.
fn check_root(root: &Path) -> Result<PathBuf, GitError> {
    let meta = std::fs::metadata(root).map_err(|e| bad_root(root, &e))?;
    if !meta.is_dir() {
        return Err(bad_root(root, &std::io::Error::from(std::io::ErrorKind::NotADirectory)));
    }
    let canonical = std::fs::canonicalize(root).map_err(|e| bad_root(root, &e))?;
    std::fs::read_dir(&canonical).map_err(|e| bad_root(root, &e))?;
    Ok(canonical)
}

/// The stat cache's path relative to `root` when it lies inside it.
fn cache_inside(root: &Path, cache: &Path) -> Option<String> {
    let dir = cache::parent_dir(cache);
    // Created now (the save would create it anyway) so it can be resolved.
    let _ = std::fs::create_dir_all(&dir);
    let dir = std::fs::canonicalize(dir).ok()?;
    walk::relative_path(root, &dir.join(cache.file_name()?))
}

/// Writes the cache entries of `files` that are safe to trust next time,
/// unless they are exactly the ones `previous` (the loaded cache) holds.
fn save_cache(path: &Path, files: &[WalkedFile], walk_started_ns: i64, previous: &CacheMap) {
    let racy_from = walk_started_ns.saturating_sub(RACY_NS);
    let entries: Vec<(&str, Cached)> = files
        .iter()
        .filter(|f| f.cacheable && f.stat.mtime_ns < racy_from)
        .map(|f| {
            let cached = Cached {
                stat: f.stat,
                blob_id: f.blob_id.clone(),
            };
            (f.path.as_str(), cached)
        })
        .collect();
    let unchanged = entries.len() == previous.len() && entries.iter().all(|(p, c)| previous.get(*p) == Some(c));
    if unchanged {
        tracing::debug!(cache = %path.display(), "stat cache unchanged; not rewritten");
        return;
    }
    cache::save(path, entries.iter().map(|(p, c)| (*p, c)));
}
