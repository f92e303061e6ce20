//! Walking the directory (ripgrep's `ignore` walker) and giving every regular
//! file its blob id: from the stat cache when its stat is unchanged, else by
//! reading and hashing it.

use crate::cache::{CacheMap, Cached};
use crate::ids::{git_blob_id, large_file_id};
use crate::stat::Stat;
use ignore::{DirEntry, WalkBuilder, WalkState};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Name of the ignore file that applies to Lettuce only (gitignore syntax).
pub(crate) const LETTUCE_IGNORE: &str = ".lettuceignore";

/// One regular file found by the walk.
#[derive(Debug, Clone)]
pub(crate) struct WalkedFile {
    /// Relative, `/`-separated path.
    pub path: String,
    /// Git blob id, or a large-file id.
    pub blob_id: String,
    /// Size in bytes (of the contents that were hashed, when hashed).
    pub size: u64,
    /// The stat taken before reading.
    pub stat: Stat,
    /// Whether `blob_id` is a real blob id that matches `stat` (the file did
    /// not change between the stat and the read), so it may be cached.
    pub cacheable: bool,
}

/// What the walk needs.
pub(crate) struct WalkSettings<'a> {
    /// Canonical root.
    pub root: &'a Path,
    /// Files larger than this are not hashed.
    pub max_file_bytes: u64,
    /// Walker threads; 1 walks on the calling thread, 0 picks automatically.
    pub threads: usize,
    /// The previous open's stat cache.
    pub cache: &'a CacheMap,
    /// Relative path of the stat cache file when it lies inside the root:
    /// it and its temporary files are not part of the tree.
    pub own_cache: Option<String>,
}

/// The walk's result: the files (unsorted) and how many were read and hashed.
pub(crate) struct Walked {
    pub files: Vec<WalkedFile>,
    pub hashed: usize,
}

/// Walks `settings.root`.
pub(crate) fn walk(settings: &WalkSettings<'_>) -> Walked {
    let mut builder = WalkBuilder::new(settings.root);
    builder
        .hidden(false)
        .parents(true)
        .ignore(true)
        .git_ignore(true)
        .git_global(true)
        .git_exclude(true)
        .require_git(false)
        .follow_links(false)
        .add_custom_ignore_filename(LETTUCE_IGNORE)
        .filter_entry(keep_entry);
    let hashed = AtomicUsize::new(0);
    let mut files = Vec::new();
    if settings.threads == 1 {
        builder.threads(1);
        for result in builder.build() {
            files.extend(visit(settings, result, &hashed));
        }
    } else {
        builder.threads(settings.threads);
        let (tx, rx) = mpsc::channel();
        builder.build_parallel().run(|| {
            let tx = tx.clone();
            let hashed = &hashed;
            Box::new(move |result| {
                if let Some(file) = visit(settings, result, hashed) {
                    // The receiver outlives the walk.
                    let _ = tx.send(file);
                }
                WalkState::Continue
            })
        });
        drop(tx);
        files.extend(rx);
    }
    Walked {
        files,
        hashed: hashed.into_inner(),
    }
}

/// Whether the walker should look at `entry` (and below it): never `.git`
/// (a repository's directory, or a worktree's/submodule's `.git` file), and
/// nothing whose name is not UTF-8 (paths are strings).
fn keep_entry(entry: &DirEntry) -> bool {
    let name = entry.file_name();
    if name == ".git" {
        return false;
    }
    if name.to_str().is_none() {
        tracing::warn!(path = %entry.path().display(), "skipping a file or directory whose name is not UTF-8");
        return false;
    }
    true
}

/// The file behind one walker result, if it is a regular file to include.
fn visit(
    settings: &WalkSettings<'_>,
    result: Result<DirEntry, ignore::Error>,
    hashed: &AtomicUsize,
) -> Option<WalkedFile> {
    let entry = match result {
        Ok(entry) => entry,
        Err(e) => {
            tracing::warn!(error = %e, "skipping what the directory walk could not read");
            return None;
        }
    };
    if let Some(e) = entry.error() {
        tracing::warn!(error = %e, "problem with an ignore file; walking on");
    }
    // Regular files only: no directories, symlinks, sockets or devices.
    if !entry.file_type().is_some_and(|t| t.is_file()) {
        return None;
    }
    let path = relative_path(settings.root, entry.path())?;
    if let Some(own) = &settings.own_cache
        && (path == *own || path.starts_with(&format!("{own}.tmp")))
    {
        return None;
    }
    let stat = match entry.metadata() {
        Ok(meta) => Stat::of(&meta),
        Err(e) => {
            tracing::warn!(path = %entry.path().display(), error = %e, "skipping a file that cannot be read");
            return None;
        }
    };
    if stat.size > settings.max_file_bytes {
        return Some(WalkedFile {
            blob_id: large_file_id(&path, &stat),
            size: stat.size,
            path,
            stat,
            cacheable: false,
        });
    }
    if let Some(Cached { stat: old, blob_id }) = settings.cache.get(&path)
        && *old == stat
    {
        return Some(WalkedFile {
            path,
            blob_id: blob_id.clone(),
            size: stat.size,
            stat,
            cacheable: true,
        });
    }
    hashed.fetch_add(1, Ordering::Relaxed);
    match read_at_most(entry.path(), settings.max_file_bytes) {
        Ok(Contents::Bytes(bytes)) => Some(WalkedFile {
            blob_id: git_blob_id(&bytes),
            size: bytes.len() as u64,
            cacheable: bytes.len() as u64 == stat.size,
            path,
            stat,
        }),
        // It grew past the limit since the stat.
        Ok(Contents::TooLarge(now)) => Some(WalkedFile {
            blob_id: large_file_id(&path, &now),
            size: now.size,
            path,
            stat: now,
            cacheable: false,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::debug!(path = %entry.path().display(), "file removed during the walk");
            None
        }
        Err(e) => {
            tracing::warn!(path = %entry.path().display(), error = %e, "skipping a file that cannot be read");
            None
        }
    }
}

/// `path` relative to `root`, `/`-separated; `None` (with a warning) when it
/// is not UTF-8.
pub(crate) fn relative_path(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let Some(s) = rel.to_str() else {
        tracing::warn!(path = %path.display(), "skipping a file whose name is not UTF-8");
        return None;
    };
    if s.is_empty() {
        return None;
    }
    #[cfg(windows)]
    let s = &s.replace('\\', "/");
    Some(s.to_owned())
}

/// What [`read_at_most`] found.
enum Contents {
    /// The whole file.
    Bytes(Vec<u8>),
    /// The file (now) has more than the limit; its stat.
    TooLarge(Stat),
}

/// Reads the file at `path` unless it holds more than `max` bytes.
fn read_at_most(path: &Path, max: u64) -> std::io::Result<Contents> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.len() > max {
        return Ok(Contents::TooLarge(Stat::of(&meta)));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).saturating_add(1));
    (&file).take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Ok(Contents::TooLarge(Stat::of(&file.metadata()?)));
    }
    Ok(Contents::Bytes(bytes))
}
