//! # lettuce-index-manifest
//!
//! The baseline [`CodeIndexer`] (name `manifest`): for each indexed commit it
//! records a JSON manifest of the snapshot's files in the [`BlobStore`] —
//! path, blob id, size, a language guess, and why a file was skipped.
//! It stands in until the tree-sitter index lands, and fixes the storage
//! layout and the incremental-indexing rules that index will follow.
//!
//! ## Layout
//!
//! * `repos/<repo_id>/manifests/<commit>.json` — the [`Manifest`];
//! * `repos/<repo_id>/HEAD` — the indexed commit, written **after** the
//!   manifest, so a reader that follows the pointer never sees a half index.
//!
//! After the pointer moves, manifests other than the new and the previous
//! head are removed. This assumes one index run per repo at a time (the
//! engine's job queue serialises them).
//!
//! ## Rules
//!
//! A file is skipped (`skipped_reason`) when
//!
//! * its path is vendored (a directory `node_modules`, `vendor`,
//!   `third_party`, `dist`, `build` or `target`) → `vendored`;
//! * its name marks it generated (`*.min.js`, `*.lock`, `*.pb.go`,
//!   `*_generated.*`, `package-lock.json`, `pnpm-lock.yaml`) → `generated`;
//! * it is larger than [`MAX_FILE_BYTES`] → `too_large`;
//! * its first 8 KiB contain a NUL byte → `binary`.
//!
//! Only the binary check reads the blob. When the previous manifest (of
//! `previous_commit`) already holds the blob id, that answer is reused and
//! the blob is not read again (`files_reused`).
//!
//! ```no_run
//! use lettuce_index_manifest::ManifestIndexer;
//! use lettuce_ports::blob::BlobStore;
//! use lettuce_ports::domain::{AccountId, RepoId};
//! use lettuce_ports::git::RepoSnapshot;
//! use lettuce_ports::index::{CodeIndexer, IndexError, IndexRequest, NoProgress};
//! use std::sync::Arc;
//!
//! async fn index_once(
//!     blobs: Arc<dyn BlobStore>,
//!     snapshot: Arc<dyn RepoSnapshot>,
//!     repo_id: RepoId,
//!     account_id: AccountId,
//! ) -> Result<(), IndexError> {
//!     let indexer = ManifestIndexer::new(blobs);
//!     let previous_commit = indexer.indexed_commit(repo_id).await?;
//!     let progress = Arc::new(NoProgress);
//!     let summary = indexer
//!         .index(IndexRequest { repo_id, account_id, snapshot: snapshot.clone(), previous_commit, progress })
//!         .await?;
//!     println!("{} files, {} reused", summary.files_total, summary.files_reused);
//!     assert_eq!(indexer.indexed_commit(repo_id).await?.as_deref(), Some(snapshot.commit()));
//!     Ok(())
//! }
//! ```
#![deny(missing_docs)]

use async_trait::async_trait;
use bytes::Bytes;
use lettuce_domain::RepoId;
use lettuce_ports::BoxError;
use lettuce_ports::blob::{BlobError, BlobStore};
use lettuce_ports::git::{FileEntry, RepoSnapshot};
use lettuce_ports::index::{CodeIndexer, IndexError, IndexRequest, IndexSummary, ProgressSink};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Indexer name.
pub const NAME: &str = "manifest";
/// Files larger than this are skipped without being read.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// How much of a file the binary check looks at.
pub const BINARY_SNIFF_BYTES: usize = 8 * 1024;
/// Version of the manifest format; manifests of another version are not
/// reused.
pub const MANIFEST_FORMAT: u32 = 1;
/// Minimum time between two progress reports (the final one is always sent).
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Why a file was not indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Under a vendored directory (`node_modules/`, `vendor/`, …).
    Vendored,
    /// Generated or lock file (`*.min.js`, `*.lock`, …).
    Generated,
    /// Larger than [`MAX_FILE_BYTES`].
    TooLarge,
    /// Contains a NUL byte in its first [`BINARY_SNIFF_BYTES`].
    Binary,
}

/// One file of a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Path relative to the repo root.
    pub path: String,
    /// Git blob id.
    pub blob_id: String,
    /// Size in bytes.
    pub size: u64,
    /// Language guessed from the file name (`rust`, `python`, …).
    pub language: Option<String>,
    /// Why the file was skipped; `None` when it is indexed.
    pub skipped_reason: Option<SkipReason>,
}

/// What is stored for one indexed commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version ([`MANIFEST_FORMAT`]).
    #[serde(default)]
    pub format: u32,
    /// The commit.
    pub commit: String,
    /// Every file of the snapshot, sorted by path.
    pub files: Vec<ManifestEntry>,
}

/// The manifest indexer. See the [crate docs](crate).
#[derive(Debug, Clone)]
pub struct ManifestIndexer {
    blobs: Arc<dyn BlobStore>,
}

fn repo_prefix(repo: RepoId) -> String {
    format!("repos/{repo}/")
}

fn head_key(repo: RepoId) -> String {
    format!("repos/{repo}/HEAD")
}

fn manifest_key(repo: RepoId, commit: &str) -> String {
    format!("repos/{repo}/manifests/{commit}.json")
}

fn backend_err(source: impl Into<BoxError>, retryable: bool) -> IndexError {
    IndexError::Backend {
        backend: NAME,
        source: source.into(),
        retryable,
    }
}

impl ManifestIndexer {
    /// An indexer that keeps its manifests in `blobs`.
    pub fn new(blobs: Arc<dyn BlobStore>) -> Self {
        Self { blobs }
    }

    /// The stored manifest of `commit` in `repo`, if any.
    pub async fn manifest(&self, repo: RepoId, commit: &str) -> Result<Option<Manifest>, IndexError> {
        let bytes = match self.blobs.get(&manifest_key(repo, commit)).await {
            Ok(b) => b,
            Err(BlobError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| backend_err(format!("manifest of {commit} in repo {repo} is corrupt: {e}"), false))
    }

    async fn read_head(&self, repo: RepoId) -> Result<Option<String>, IndexError> {
        match self.blobs.get(&head_key(repo)).await {
            Ok(b) => {
                let commit = std::str::from_utf8(&b)
                    .map_err(|_| backend_err(format!("index pointer of repo {repo} is not UTF-8"), false))?
                    .trim();
                Ok((!commit.is_empty()).then(|| commit.to_owned()))
            }
            Err(BlobError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Reads the previous manifest for reuse. An unreadable or foreign-format
/// manifest only costs reuse, so it is treated as absent.
async fn load_previous(
    indexer: &ManifestIndexer,
    repo: RepoId,
    previous: Option<&str>,
) -> Result<Option<Manifest>, IndexError> {
    let Some(prev) = previous else { return Ok(None) };
    match indexer.manifest(repo, prev).await {
        Ok(Some(m)) if m.format == MANIFEST_FORMAT => Ok(Some(m)),
        Ok(_) => Ok(None),
        // A missing object or an invalid key (a commit id that is not a valid key segment).
        Err(IndexError::Storage(BlobError::InvalidKey { .. })) => Ok(None),
        Err(IndexError::Backend { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[async_trait]
impl CodeIndexer for ManifestIndexer {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn index(&self, req: IndexRequest) -> Result<IndexSummary, IndexError> {
        let repo = req.repo_id;
        let commit = req.snapshot.commit().to_owned();
        let manifest_key = manifest_key(repo, &commit);
        lettuce_ports::blob::validate_key(&manifest_key)?;

        let previous = load_previous(self, repo, req.previous_commit.as_deref()).await?;
        let snapshot = req.snapshot.clone();
        let progress = req.progress.clone();
        let (files, summary) = tokio::task::spawn_blocking(move || {
            build_manifest(snapshot.as_ref(), previous.as_ref(), progress.as_ref())
        })
        .await
        .map_err(|e| backend_err(format!("indexing task failed: {e}"), false))??;

        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            commit: commit.clone(),
            files,
        };
        let json = serde_json::to_vec(&manifest).map_err(|e| backend_err(e, false))?;
        let old_head = self.read_head(repo).await?;
        self.blobs.put(&manifest_key, Bytes::from(json)).await?;
        // The pointer last: readers see the old index or the new one, never half.
        self.blobs
            .put(&head_key(repo), Bytes::from(commit.clone().into_bytes()))
            .await?;

        // Drop manifests nobody points at any more (keep the previous head
        // for readers that resolved it just before the switch).
        let keep = [Some(manifest_key), old_head.map(|c| self::manifest_key(repo, &c))];
        let manifests_prefix = format!("repos/{repo}/manifests/");
        for key in self.blobs.list(&manifests_prefix).await? {
            if !keep.iter().flatten().any(|k| *k == key) {
                self.blobs.delete(&key).await?;
            }
        }
        Ok(summary)
    }

    async fn indexed_commit(&self, repo: RepoId) -> Result<Option<String>, IndexError> {
        self.read_head(repo).await
    }

    async fn delete(&self, repo: RepoId) -> Result<(), IndexError> {
        // The pointer first, so the index disappears as a whole.
        self.blobs.delete(&head_key(repo)).await?;
        for key in self.blobs.list(&repo_prefix(repo)).await? {
            self.blobs.delete(&key).await?;
        }
        Ok(())
    }
}

/// Throttles progress reports.
struct Progress<'a> {
    sink: &'a dyn ProgressSink,
    total: u64,
    last: Instant,
}

impl<'a> Progress<'a> {
    fn start(sink: &'a dyn ProgressSink, total: u64) -> Self {
        sink.report(0, total);
        Self {
            sink,
            total,
            last: Instant::now(),
        }
    }

    fn tick(&mut self, done: u64) {
        if done >= self.total {
            self.sink.report(self.total, self.total);
        } else if self.last.elapsed() >= PROGRESS_EVERY {
            self.last = Instant::now();
            self.sink.report(done, self.total);
        }
    }
}

/// Classifies every file of `snapshot`. Blocking (reads the snapshot).
fn build_manifest(
    snapshot: &dyn RepoSnapshot,
    previous: Option<&Manifest>,
    progress: &dyn ProgressSink,
) -> Result<(Vec<ManifestEntry>, IndexSummary), IndexError> {
    let mut files = snapshot.files()?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let total = files.len() as u64;

    // What earlier runs learned by reading a blob: is it binary?
    let known: HashMap<&str, bool> = previous
        .map(|m| {
            m.files
                .iter()
                .filter_map(|e| match e.skipped_reason {
                    None => Some((e.blob_id.as_str(), false)),
                    Some(SkipReason::Binary) => Some((e.blob_id.as_str(), true)),
                    Some(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();

    let mut summary = IndexSummary {
        files_total: total,
        ..IndexSummary::default()
    };
    let mut entries = Vec::with_capacity(files.len());
    let mut progress = Progress::start(progress, total);
    for (i, file) in files.into_iter().enumerate() {
        let FileEntry { path, blob_id, size } = file;
        let mut reason = path_skip_reason(&path).or((size > MAX_FILE_BYTES).then_some(SkipReason::TooLarge));
        if reason.is_none() {
            let binary = match known.get(blob_id.as_str()) {
                Some(&binary) => {
                    if !binary {
                        summary.files_reused += 1;
                    }
                    binary
                }
                None => {
                    let bytes = snapshot.read_blob(&blob_id)?;
                    let binary = is_binary(&bytes);
                    if !binary {
                        summary.files_processed += 1;
                        summary.bytes_processed += bytes.len() as u64;
                    }
                    binary
                }
            };
            if binary {
                reason = Some(SkipReason::Binary);
            }
        }
        if reason.is_some() {
            summary.files_skipped += 1;
        }
        let language = guess_language(&path).map(str::to_owned);
        entries.push(ManifestEntry {
            path,
            blob_id,
            size,
            language,
            skipped_reason: reason,
        });
        progress.tick(i as u64 + 1);
    }
    if total == 0 {
        progress.tick(0);
    }
    Ok((entries, summary))
}

/// Whether `bytes` looks binary: a NUL byte in the first
/// [`BINARY_SNIFF_BYTES`].
pub fn is_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(BINARY_SNIFF_BYTES)].contains(&0)
}

/// Directories whose contents are third-party or build output.
const VENDORED_DIRS: &[&str] = &["node_modules", "vendor", "third_party", "dist", "build", "target"];
/// Whole file names that are generated.
const GENERATED_NAMES: &[&str] = &["package-lock.json", "pnpm-lock.yaml"];
/// File name suffixes that mark generated files.
const GENERATED_SUFFIXES: &[&str] = &[".min.js", ".lock", ".pb.go"];

/// The skip reason implied by a path alone (vendored directory, generated
/// file name), if any.
pub fn path_skip_reason(path: &str) -> Option<SkipReason> {
    let mut segments: Vec<&str> = path.split('/').collect();
    let name = segments.pop().unwrap_or_default();
    if segments.iter().any(|dir| VENDORED_DIRS.contains(dir)) {
        return Some(SkipReason::Vendored);
    }
    let generated = GENERATED_NAMES.contains(&name)
        || GENERATED_SUFFIXES
            .iter()
            .any(|s| name.len() > s.len() && name.ends_with(s))
        || name.find("_generated.").is_some_and(|i| i > 0);
    generated.then_some(SkipReason::Generated)
}

/// Guesses a language from a file name (extension, or a few well-known
/// names). `None` when unknown.
pub fn guess_language(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name {
        "Dockerfile" => return Some("dockerfile"),
        "Makefile" | "GNUmakefile" => return Some("make"),
        "CMakeLists.txt" => return Some("cmake"),
        _ => {}
    }
    let (stem, ext) = name.rsplit_once('.')?;
    if stem.is_empty() {
        return None; // dotfiles such as `.gitignore`
    }
    Some(match ext.to_ascii_lowercase().as_str() {
        "rs" => "rust",
        "py" | "pyi" => "python",
        "js" | "mjs" | "cjs" | "jsx" => "javascript",
        "ts" | "mts" | "cts" | "tsx" => "typescript",
        "go" => "go",
        "java" => "java",
        "c" | "h" => "c",
        "cc" | "cpp" | "cxx" | "hpp" | "hh" | "hxx" => "cpp",
        "cs" => "csharp",
        "rb" => "ruby",
        "php" => "php",
        "kt" | "kts" => "kotlin",
        "swift" => "swift",
        "scala" | "sc" => "scala",
        "sh" | "bash" | "zsh" => "shell",
        "md" | "markdown" => "markdown",
        "json" => "json",
        "yaml" | "yml" => "yaml",
        "toml" => "toml",
        "html" | "htm" => "html",
        "css" => "css",
        "scss" => "scss",
        "sql" => "sql",
        "proto" => "protobuf",
        "lua" => "lua",
        "dart" => "dart",
        "ex" | "exs" => "elixir",
        "erl" => "erlang",
        "hs" => "haskell",
        "ml" | "mli" => "ocaml",
        "r" => "r",
        "vue" => "vue",
        "svelte" => "svelte",
        "xml" => "xml",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_rules_by_path() {
        for p in [
            "node_modules/x/index.js",
            "a/vendor/lib.go",
            "third_party/z.c",
            "dist/app.js",
            "web/build/x.css",
            "target/debug/x.rs",
        ] {
            assert_eq!(path_skip_reason(p), Some(SkipReason::Vendored), "{p}");
        }
        for p in [
            "app.min.js",
            "Cargo.lock",
            "web/yarn.lock",
            "api/x.pb.go",
            "src/schema_generated.rs",
            "package-lock.json",
        ] {
            assert_eq!(path_skip_reason(p), Some(SkipReason::Generated), "{p}");
        }
        for p in [
            "src/build.rs",
            "vendor.go",
            "src/target.rs",
            "dist",
            "lockfile.md",
            "_generated.rs",
            ".lock",
            "src/main.rs",
        ] {
            assert_eq!(path_skip_reason(p), None, "{p}");
        }
    }

    #[test]
    fn languages() {
        assert_eq!(guess_language("src/main.rs"), Some("rust"));
        assert_eq!(guess_language("a/b.TSX"), Some("typescript"));
        assert_eq!(guess_language("x.hpp"), Some("cpp"));
        assert_eq!(guess_language("Dockerfile"), Some("dockerfile"));
        assert_eq!(guess_language(".gitignore"), None);
        assert_eq!(guess_language("LICENSE"), None);
        assert_eq!(guess_language("data.bin"), None);
    }

    #[test]
    fn binary_sniffing_looks_at_the_first_8_kib_only() {
        assert!(is_binary(b"ab\0c"));
        assert!(!is_binary(b"plain text"));
        let mut late = vec![b'a'; BINARY_SNIFF_BYTES];
        late.push(0);
        assert!(!is_binary(&late));
    }
}
