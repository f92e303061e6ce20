//! # lettuce-index-tantivy
//!
//! The code index behind Lettuce's navigation: a [`CodeIndexer`] and
//! [`CodeSearch`] (name `tantivy`).
//!
//! * **Extraction** — one tree-sitter parse per file, with the grammar
//!   crates from crates.io for Rust, Python, JavaScript, TypeScript/TSX, Go,
//!   Java, C, C++, C#, Ruby, PHP, Kotlin, Swift, Scala and Bash. The
//!   language's tags query gives definitions (name, kind, container, line
//!   and byte range, signature line, doc comment); a walk of the tree gives
//!   every identifier occurrence (references).
//! * **Index** — one [tantivy] index per repo with a document per file (its
//!   text, tokenised identifier-aware: `parseUrl` → `parseurl`, `parse`,
//!   `url`; its facts; its metadata) and a document per definition. Exact
//!   substring and regex searches narrow candidates with the terms the
//!   pattern implies, then scan. See `docs/ARCHITECTURE.md` for why.
//! * **Storage** — segment files and a record per commit live in the
//!   [`BlobStore`] (`repos/<id>/index/…`), so any process can serve any
//!   repo; a local directory holds the files a process maps (with a
//!   filesystem blob store, the store's own files).
//! * **Incremental** — a run starts from the previous commit's index: files
//!   whose path and blob id are unchanged are untouched, deleted ones are
//!   dropped, changed ones re-indexed; a blob indexed before (a rename) is
//!   reused without parsing. [`IndexSummary::files_processed`] counts the
//!   files actually read.
//!
//! ```no_run
//! use lettuce_index_tantivy::{IndexConfig, TantivyIndex};
//! use lettuce_ports::blob::BlobStore;
//! use lettuce_ports::domain::{AccountId, RepoId};
//! use lettuce_ports::git::RepoSnapshot;
//! use lettuce_ports::index::{CodeIndexer, CodeSearch, IndexError, IndexRef, IndexRequest, NoProgress, SymbolQuery};
//! use std::sync::Arc;
//!
//! async fn demo(blobs: Arc<dyn BlobStore>, snapshot: Arc<dyn RepoSnapshot>, repo_id: RepoId, account_id: AccountId) -> Result<(), IndexError> {
//!     let index = TantivyIndex::new(blobs, IndexConfig::new("/var/lib/lettuce/index-cache".into()));
//!     let previous_commit = index.indexed_commit(repo_id).await?;
//!     let summary = index
//!         .index(IndexRequest { repo_id, account_id, snapshot: snapshot.clone(), previous_commit, progress: Arc::new(NoProgress) })
//!         .await?;
//!     println!("{} files, {} parsed, {} symbols", summary.files_total, summary.files_processed, summary.symbols);
//!     let at = IndexRef { repo_id, commit: snapshot.commit().to_owned() };
//!     let hits = index
//!         .symbols(&at, &SymbolQuery { name: "parse_url".into(), kind: None, path: None, lang: None, limit: 5 })
//!         .await?;
//!     for h in hits {
//!         println!("{}:{} {}", h.file.path, h.symbol.start_line, h.symbol.signature);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! [tantivy]: https://docs.rs/tantivy
#![deny(missing_docs)]

mod build;
mod extract;
pub mod langs;
mod question;
pub mod rules;
mod schema;
mod search;
mod storage;
pub mod tokenizer;

use async_trait::async_trait;
use lettuce_domain::RepoId;
use lettuce_ports::blob::BlobStore;
use lettuce_ports::index::{
    CodeIndexer, CodeSearch, FileContent, FileOutline, IndexError, IndexRef, IndexRequest, IndexSummary, IndexedFile,
    ReferenceQuery, References, SearchQuery, SearchResults, SymbolGraph, SymbolMatch, SymbolQuery,
};
use lettuce_ports::tokens::TokenCounter;
use search::OpenIndex;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use storage::{Storage, backend_err};

pub use rules::{BadGlob, DEFAULT_MAX_FILE_BYTES, SkipReason, compile_globs};
pub use storage::FORMAT;

/// What extraction finds in one file (see [`extract_file`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Extracted {
    /// Language label.
    pub lang: &'static str,
    /// Definitions, in source order.
    pub symbols: Vec<lettuce_domain::code::Symbol>,
    /// Identifier occurrences (uses and definitions).
    pub occurrences: usize,
    /// Whether the parse had syntax errors.
    pub parse_errors: bool,
}

/// Extracts one file exactly as an index run does (language from the path
/// and first line; one parse — ruff's for Python, tree-sitter's for the
/// rest — the definitions and the identifier occurrences) without indexing
/// it — for tools and benchmarks. `None` when the language has no grammar
/// or parsing took longer than `timeout`.
pub fn extract_file(path: &str, source: &[u8], timeout: Duration) -> Option<Extracted> {
    let first_line_end = source.iter().position(|&b| b == b'\n').unwrap_or(source.len()).min(256);
    let lang = lettuce_domain::code::detect_language(path, &source[..first_line_end])?;
    // As an index run: the text is indexed as UTF-8, lossily.
    let text = String::from_utf8_lossy(source);
    let facts = extract::extract(langs::grammar(lang)?, text.as_bytes(), timeout).ok()?;
    Some(Extracted {
        lang,
        occurrences: facts.refs.iter().map(|g| g.at.len()).sum(),
        symbols: facts.symbols,
        parse_errors: facts.parse_errors,
    })
}

/// Indexer name.
pub const NAME: &str = "tantivy";

/// Settings of a [`TantivyIndex`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IndexConfig {
    /// Local directory for mapped index files and scratch space
    /// (`<data dir>/index-cache` by default; only a cache).
    pub cache_dir: PathBuf,
    /// Files larger than this are listed but not indexed.
    pub max_file_bytes: u64,
    /// Extra exclusions, gitignore-style globs (`LETTUCE_INDEX_EXCLUDE`).
    pub exclude: Vec<String>,
    /// Threads one index run uses for parsing and indexing.
    pub threads: usize,
    /// Memory budget of one index run's writer, in bytes.
    pub memory_bytes: usize,
    /// Longest time one file may take to parse before it is indexed as
    /// text only.
    pub parse_timeout: Duration,
    /// Most commits kept open per process (each holds mapped files).
    pub open_indexes: usize,
}

impl IndexConfig {
    /// Defaults: 1 MiB files, every core, 256 MiB writer memory, 10 s parse
    /// timeout, 64 open commits.
    pub fn new(cache_dir: PathBuf) -> Self {
        Self {
            cache_dir,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            exclude: Vec::new(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory_bytes: 256 << 20,
            parse_timeout: Duration::from_secs(10),
            open_indexes: 64,
        }
    }
}

/// The index. Cheap to clone; clones share the open-commit cache.
#[derive(Clone)]
pub struct TantivyIndex {
    storage: Storage,
    config: IndexConfig,
    rules: rules::SkipRules,
    open: Arc<Mutex<OpenCache>>,
    tokens: Option<Arc<dyn TokenCounter>>,
}

impl std::fmt::Debug for TantivyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivyIndex")
            .field("cache_dir", &self.config.cache_dir)
            .field("threads", &self.config.threads)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct OpenCache {
    map: HashMap<IndexRef, Arc<OpenIndex>>,
    order: VecDeque<IndexRef>,
}

impl TantivyIndex {
    /// An index keeping its artifacts in `blobs`. Invalid `exclude` globs
    /// are reported by [`TantivyIndex::try_new`]; this constructor ignores
    /// them.
    pub fn new(blobs: Arc<dyn BlobStore>, config: IndexConfig) -> Self {
        let globs =
            compile_globs(config.exclude.iter().map(String::as_str)).unwrap_or_else(|_| globset::GlobSet::empty());
        Self::with_globs(blobs, config, globs)
    }

    /// Like [`TantivyIndex::new`], failing on an invalid exclusion glob.
    pub fn try_new(blobs: Arc<dyn BlobStore>, config: IndexConfig) -> Result<Self, BadGlob> {
        let globs = compile_globs(config.exclude.iter().map(String::as_str))?;
        Ok(Self::with_globs(blobs, config, globs))
    }

    fn with_globs(blobs: Arc<dyn BlobStore>, config: IndexConfig, globs: globset::GlobSet) -> Self {
        Self {
            storage: Storage::new(blobs, config.cache_dir.clone()),
            rules: rules::SkipRules::new(config.max_file_bytes, globs),
            config,
            open: Arc::new(Mutex::new(OpenCache::default())),
            tokens: None,
        }
    }

    /// Counts every indexed file's tokens with `counter` while indexing
    /// (once per blob; reused for unchanged files), so that answers account
    /// for whole files ([`IndexedFile::tokens`]) without re-reading them.
    /// Pass the counter the engine meters with.
    pub fn with_token_counter(mut self, counter: Arc<dyn TokenCounter>) -> Self {
        self.tokens = Some(counter);
        self
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, OpenCache> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The opened commit, from the cache or the blob store.
    async fn opened(&self, at: &IndexRef) -> Result<Arc<OpenIndex>, IndexError> {
        if let Some(hit) = self.cache().map.get(at).cloned() {
            return Ok(hit);
        }
        let record = self
            .storage
            .record(at.repo_id, &at.commit)
            .await?
            .ok_or_else(|| IndexError::NotIndexed {
                repo: at.repo_id,
                commit: at.commit.clone(),
            })?;
        let dir = self.storage.ensure_files(at.repo_id, &record).await?;
        let at2 = at.clone();
        let meta = record.meta_json.clone();
        let opened = tokio::task::spawn_blocking(move || OpenIndex::open(at2, &dir, &meta))
            .await
            .map_err(|e| backend_err(format!("opening the index failed: {e}"), true))??;
        let opened = Arc::new(opened);
        let mut cache = self.cache();
        if let Some(existing) = cache.map.get(at) {
            return Ok(existing.clone());
        }
        // Older commits of the same repo are superseded.
        let stale: Vec<IndexRef> = cache
            .order
            .iter()
            .filter(|r| r.repo_id == at.repo_id)
            .cloned()
            .collect();
        for r in stale {
            cache.map.remove(&r);
            cache.order.retain(|x| x != &r);
        }
        cache.map.insert(at.clone(), opened.clone());
        cache.order.push_back(at.clone());
        while cache.order.len() > self.config.open_indexes.max(1) {
            if let Some(old) = cache.order.pop_front() {
                cache.map.remove(&old);
            }
        }
        drop(cache);
        let keep: HashSet<&str> = record.files.iter().map(String::as_str).collect();
        self.storage.sweep_cache(at.repo_id, &keep);
        Ok(opened)
    }

    async fn query<T: Send + 'static>(
        &self,
        at: &IndexRef,
        f: impl FnOnce(&OpenIndex) -> Result<T, IndexError> + Send + 'static,
    ) -> Result<T, IndexError> {
        let opened = self.opened(at).await?;
        tokio::task::spawn_blocking(move || f(&opened))
            .await
            .map_err(|e| backend_err(format!("query task failed: {e}"), true))?
    }

    fn forget(&self, repo: RepoId) {
        let mut cache = self.cache();
        cache.map.retain(|k, _| k.repo_id != repo);
        cache.order.retain(|k| k.repo_id != repo);
    }
}

#[async_trait]
impl CodeIndexer for TantivyIndex {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn index(&self, req: IndexRequest) -> Result<IndexSummary, IndexError> {
        let repo = req.repo_id;
        let commit = req.snapshot.commit().to_owned();
        lettuce_ports::blob::validate_key(&format!("repos/{repo}/index/commits/{commit}.bin"))?;
        // The stored index is the truth about what was indexed (the
        // metadata may lag after a crash between the two writes).
        let head = self.storage.head(repo).await?;
        let previous = match head.as_deref().or(req.previous_commit.as_deref()) {
            Some(c) => self.storage.record(repo, c).await?,
            None => None,
        };
        if let Some(p) = &previous
            && p.commit == commit
        {
            let skipped = p.manifest.iter().filter(|e| e.skipped.is_some()).count() as u64;
            let total = p.manifest.len() as u64;
            req.progress.report(total, total);
            return Ok(IndexSummary {
                files_total: total,
                files_reused: total - skipped,
                files_skipped: skipped,
                incremental: true,
                ..IndexSummary::default()
            });
        }
        let scratch = self.storage.scratch(repo)?;
        if let Some(p) = &previous {
            let from = self.storage.ensure_files(repo, p).await?;
            let (p2, to) = (p.clone(), scratch.path().to_owned());
            tokio::task::spawn_blocking(move || storage::stage(&p2, &from, &to))
                .await
                .map_err(|e| backend_err(format!("staging failed: {e}"), true))??;
        }
        let settings = build::BuildSettings {
            rules: self.rules.clone(),
            threads: self.config.threads,
            memory_bytes: self.config.memory_bytes,
            parse_timeout: self.config.parse_timeout,
            tokens: self.tokens.clone(),
        };
        let (snapshot, progress, work, prev) = (
            req.snapshot.clone(),
            req.progress.clone(),
            scratch.path().to_owned(),
            previous.clone(),
        );
        let (record, summary) = tokio::task::spawn_blocking(move || {
            build::run(snapshot.as_ref(), prev.as_ref(), &work, &settings, progress.as_ref())
        })
        .await
        .map_err(|e| backend_err(format!("indexing task failed: {e}"), true))??;
        self.storage
            .publish(repo, scratch.path(), &record, previous.as_ref())
            .await?;
        drop(scratch);
        Ok(summary)
    }

    async fn indexed_commit(&self, repo: RepoId) -> Result<Option<String>, IndexError> {
        self.storage.head(repo).await
    }

    async fn delete(&self, repo: RepoId) -> Result<(), IndexError> {
        self.forget(repo);
        self.storage.delete(repo).await
    }
}

#[async_trait]
impl CodeSearch for TantivyIndex {
    async fn search(&self, at: &IndexRef, query: &SearchQuery) -> Result<SearchResults, IndexError> {
        let q = query.clone();
        self.query(at, move |o| o.search(&q)).await
    }

    async fn symbols(&self, at: &IndexRef, query: &SymbolQuery) -> Result<Vec<SymbolMatch>, IndexError> {
        let q = query.clone();
        self.query(at, move |o| o.symbols(&q)).await
    }

    async fn references(&self, at: &IndexRef, query: &ReferenceQuery) -> Result<References, IndexError> {
        let q = query.clone();
        self.query(at, move |o| o.references(&q)).await
    }

    async fn outline(&self, at: &IndexRef, path: &str) -> Result<FileOutline, IndexError> {
        let p = path.to_owned();
        self.query(at, move |o| o.outline(&p)).await
    }

    async fn read_file(&self, at: &IndexRef, path: &str) -> Result<FileContent, IndexError> {
        let p = path.to_owned();
        self.query(at, move |o| o.read_file(&p)).await
    }

    async fn list_files(&self, at: &IndexRef, path: Option<&str>) -> Result<Vec<IndexedFile>, IndexError> {
        let p = path.map(str::to_owned);
        self.query(at, move |o| o.list_files(p.as_deref())).await
    }

    async fn symbol_graph(&self, at: &IndexRef) -> Result<Arc<SymbolGraph>, IndexError> {
        self.query(at, |o| o.graph()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_file_detects_the_language_and_extracts() {
        let src = b"def parse(url):\n    return split(url)\n";
        let e = extract_file("net/url.py", src, Duration::from_secs(5)).unwrap();
        assert_eq!(e.lang, "python");
        assert_eq!(e.symbols.len(), 1);
        assert_eq!((e.symbols[0].name.as_str(), e.symbols[0].start_line), ("parse", 1));
        assert!(e.occurrences >= 4, "parse, url, split, url: {}", e.occurrences);
        assert!(!e.parse_errors);
        let script = extract_file(
            "bin/tool",
            b"#!/usr/bin/env python3\ndef main(): pass\n",
            Duration::from_secs(5),
        );
        assert_eq!(script.map(|e| e.lang), Some("python"), "language from the shebang");
        assert!(extract_file("notes.txt", b"def x(): pass", Duration::from_secs(5)).is_none());
    }
}
