//! # lettuce-source-local
//!
//! A developer's working directory as a [`RepoSnapshot`], so that
//! `lettuce index PATH` and `lettuce mcp --repo PATH` index it with the same
//! code indexer that indexes git mirrors — incrementally, because files keep
//! their git blob id while their contents are unchanged.
//!
//! ## Quick start
//!
//! ```no_run
//! use lettuce_ports::git::RepoSnapshot;
//! use lettuce_source_local::{LocalOptions, LocalSnapshot};
//! use std::path::Path;
//!
//! # fn demo() -> Result<(), lettuce_ports::git::GitError> {
//! let options = LocalOptions::default().with_stat_cache("/home/me/.cache/lettuce/my-project.stat");
//! // Blocking (walks and reads the disk): call it off the async runtime.
//! let snapshot = LocalSnapshot::open(Path::new("/home/me/src/my-project"), options)?;
//! println!("{} files, tree {}", snapshot.files()?.len(), snapshot.commit());
//! for file in snapshot.files()?.iter().filter(|f| f.path.ends_with(".rs")) {
//!     let bytes = snapshot.read_blob(&file.blob_id)?;
//!     println!("{}: {} bytes", file.path, bytes.len());
//! }
//! # Ok(()) }
//! ```
//!
//! ## Which files
//!
//! The directory is walked with the [`ignore`] crate (ripgrep's walker):
//!
//! - ignore rules: `.gitignore` (also outside a git repository, and in the
//!   directories above the root, as git does inside a repository),
//!   `.git/info/exclude`, the user's global git excludes file
//!   (`core.excludesFile`), `.ignore`, and **`.lettuceignore`** (gitignore
//!   syntax, for what Lettuce should skip but git should keep), each applying
//!   to its directory and below;
//! - hidden files are included, but nothing named `.git` (a repository's
//!   directory, a worktree's or submodule's `.git` file) is entered or listed;
//! - only regular files: symlinks are neither followed nor listed (like a git
//!   mirror snapshot, which lists no symlinks), nor are sockets or devices;
//! - file and directory names that are not UTF-8 are skipped with a
//!   `tracing` warning, as are files that cannot be read;
//! - the stat cache file, when it lies inside the root, is not listed.
//!
//! Paths are relative to the root, `/`-separated, sorted by byte order.
//! Unlike `git ls-files`, this lists what is on disk: untracked files that
//! no rule ignores are included, and a file git tracks although an ignore
//! rule matches it is not.
//!
//! ## Ids
//!
//! - **Blob ids** are git's: the lowercase hex SHA-1 of
//!   `"blob <len>\0" + contents`, exactly what `git hash-object` prints, so
//!   a file has the same id here as in a mirror of the same commit.
//! - **Files larger than [`LocalOptions::max_file_bytes`]** are listed with
//!   their real size but not read: their id is `large-` followed by 40 hex
//!   digits of a SHA-1 over the path, size, modification time and inode. It
//!   cannot collide with a blob id (it is not 40 hex digits), changes
//!   whenever the size, the modification time or the inode changes, and is
//!   never shared by two paths. Give the indexer the same limit: it skips
//!   files over it without reading them. [`RepoSnapshot::read_blob`] still
//!   serves them (if their stat is unchanged).
//! - **The commit id** is synthetic: 40 lowercase hex digits, the SHA-1 over
//!   the sorted `(path, blob id)` list. The same tree always gets the same
//!   id (so re-indexing an unchanged directory does nothing) and any change
//!   to a path or to contents gives another.
//!
//! Hashing uses the `sha1` crate (RustCrypto): small (its `digest`
//! dependency is already in the build through `sha2`), with run-time
//! detection of the CPU's SHA instructions. gix's hashing was the other
//! candidate; it brings gix's own crates and uses collision-detecting
//! SHA-1, several times slower — not needed here, where the ids only name
//! the developer's own files and are re-checked on every read.
//!
//! ## Stat cache
//!
//! With [`LocalOptions::stat_cache`] set, [`LocalSnapshot::open`] loads the
//! previous open's cache (path → size, modification time in nanoseconds,
//! inode, blob id), reads and hashes only the files whose stat differs, and
//! writes the new cache afterwards (temporary file + rename, so it is never
//! half-written). A missing, damaged or other-version cache means hashing
//! everything again; it is never an error, and neither is failing to write
//! it (a warning). Files modified less than 2 s before the walk started are
//! left out of the cache, so that a change within the same timestamp tick
//! cannot hide behind an unchanged stat (git's "racily clean" problem); they
//! are hashed again next time. [`LocalSnapshot::files_hashed`] tells how many
//! files an open read.
//!
//! Like git's index, the cache trusts the stat: a tool that rewrites a file
//! in place with the same size and then restores its old modification time
//! goes unnoticed (tools that replace files, such as `rsync`, change the
//! inode and are noticed), and the racy-file rule assumes the file system's
//! clock is this machine's (a network file system with a skewed server clock
//! weakens it).
//!
//! ## Reading
//!
//! [`RepoSnapshot::files`] returns the list computed by `open`.
//! [`RepoSnapshot::read_blob`] maps the id back to a path, reads the file now
//! and checks that it still has that id: a file edited since the walk is a
//! retryable [`GitError::Backend`] ("… changed while indexing; run again"),
//! an id the snapshot did not hand out is [`GitError::MissingObject`].
//!
//! ## Walking in parallel
//!
//! By default ([`LocalOptions::threads`] `0`) the walk, the stats and the
//! hashing run on the `ignore` crate's parallel walker (one thread per CPU,
//! at most 12); `1` walks on the calling thread.
//!
//! [`RepoSnapshot`]: lettuce_ports::git::RepoSnapshot
//! [`RepoSnapshot::files`]: lettuce_ports::git::RepoSnapshot::files
//! [`RepoSnapshot::read_blob`]: lettuce_ports::git::RepoSnapshot::read_blob
//! [`GitError::Backend`]: lettuce_ports::git::GitError::Backend
//! [`GitError::MissingObject`]: lettuce_ports::git::GitError::MissingObject
#![deny(missing_docs)]

mod cache;
mod errors;
mod ids;
mod snapshot;
mod stat;
mod walk;

pub use snapshot::LocalSnapshot;

use std::path::PathBuf;

/// The indexer's default file size limit (1 MiB); use the indexer's value
/// if it is configured differently.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1024 * 1024;

/// How [`LocalSnapshot::open`] walks a directory.
///
/// ```
/// use lettuce_source_local::LocalOptions;
/// let options = LocalOptions::default()
///     .with_stat_cache("/var/cache/lettuce/project.stat")
///     .with_max_file_bytes(2 << 20);
/// assert_eq!(options.max_file_bytes, 2 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalOptions {
    /// Where to keep the stat cache; `None` hashes every file on every open.
    pub stat_cache: Option<PathBuf>,
    /// Files larger than this are listed but not hashed (see the crate
    /// documentation); the indexer's size limit.
    pub max_file_bytes: u64,
    /// Walker threads: `0` picks one per CPU (at most 12), `1` walks on the
    /// calling thread.
    pub threads: usize,
}

impl Default for LocalOptions {
    /// No stat cache, [`DEFAULT_MAX_FILE_BYTES`], automatic threads.
    fn default() -> Self {
        Self {
            stat_cache: None,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            threads: 0,
        }
    }
}

impl LocalOptions {
    /// Keeps the stat cache in the file `path` (its directory is created if
    /// needed).
    pub fn with_stat_cache(mut self, path: impl Into<PathBuf>) -> Self {
        self.stat_cache = Some(path.into());
        self
    }

    /// Sets [`LocalOptions::max_file_bytes`].
    pub fn with_max_file_bytes(mut self, max_file_bytes: u64) -> Self {
        self.max_file_bytes = max_file_bytes;
        self
    }

    /// Sets [`LocalOptions::threads`].
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }
}
