//! Code indexes: building one from a repository snapshot ([`CodeIndexer`])
//! and querying it ([`CodeSearch`]).

use crate::BoxError;
use crate::git::RepoSnapshot;
use async_trait::async_trait;
use lettuce_domain::code::{OutlineNode, Symbol, Trust};
use lettuce_domain::{AccountId, RepoId};
use std::sync::Arc;

/// Receives progress while a snapshot is indexed. Called from the indexing
/// thread; implementations must be cheap and never block.
pub trait ProgressSink: Send + Sync + std::fmt::Debug {
    /// `done` of `total` files processed.
    fn report(&self, done: u64, total: u64);
}

/// A sink that drops progress.
#[derive(Debug, Default)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn report(&self, _done: u64, _total: u64) {}
}

/// A request to index one commit of a repo.
#[derive(Debug, Clone)]
pub struct IndexRequest {
    /// Repo.
    pub repo_id: RepoId,
    /// Its account.
    pub account_id: AccountId,
    /// The snapshot to index.
    pub snapshot: Arc<dyn RepoSnapshot>,
    /// The commit indexed before, for incremental indexing.
    pub previous_commit: Option<String>,
    /// Progress receiver.
    pub progress: Arc<dyn ProgressSink>,
}

/// What an index run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexSummary {
    /// Files in the snapshot.
    pub files_total: u64,
    /// Files read and (re)processed in this run: for a code indexer, the
    /// files parsed. An unchanged file is never processed twice.
    pub files_processed: u64,
    /// Files reused unchanged from an earlier run (same blob id).
    pub files_reused: u64,
    /// Files skipped by rule (binary, too large, generated, vendored, ignored).
    pub files_skipped: u64,
    /// Files dropped because the new snapshot no longer has them.
    pub files_deleted: u64,
    /// Bytes of processed files.
    pub bytes_processed: u64,
    /// Definitions found in processed files.
    pub symbols: u64,
    /// Whether the run started from an earlier index (incremental) rather
    /// than from nothing.
    pub incremental: bool,
}

/// Builds and deletes indexes. The index's artifacts live where the adapter
/// keeps them (normally the `BlobStore`), keyed by repo.
#[async_trait]
pub trait CodeIndexer: Send + Sync + std::fmt::Debug + 'static {
    /// Short name of the indexer.
    fn name(&self) -> &'static str;

    /// Indexes `req.snapshot`. Re-running on the same commit is idempotent.
    /// After success, queries for the repo see this commit.
    async fn index(&self, req: IndexRequest) -> Result<IndexSummary, IndexError>;

    /// The commit the stored index of `repo` shows, if any.
    async fn indexed_commit(&self, repo: RepoId) -> Result<Option<String>, IndexError>;

    /// Deletes every artifact of `repo`. Deleting a missing index is not an error.
    async fn delete(&self, repo: RepoId) -> Result<(), IndexError>;
}

/// Failures of a [`CodeIndexer`] or [`CodeSearch`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// There is no index of this commit (never built, removed, or built by
    /// an older index format): index the repo again.
    #[error("repo {repo} has no index of commit {commit}")]
    NotIndexed {
        /// The repo.
        repo: RepoId,
        /// The commit asked for.
        commit: String,
    },
    /// The file is not in the indexed commit.
    #[error("no file {path} in the indexed commit")]
    FileNotFound {
        /// The path asked for.
        path: String,
    },
    /// The query cannot run as given (a bad regex, an invalid glob).
    #[error("{field}: {message}")]
    InvalidQuery {
        /// The parameter at fault.
        field: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Reading the snapshot failed.
    #[error("reading the repository failed: {0}")]
    Source(#[from] crate::git::GitError),
    /// Storing artifacts failed.
    #[error("storing the index failed: {0}")]
    Storage(#[from] crate::blob::BlobError),
    /// Anything else.
    #[error("{backend} indexer failed: {source}")]
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

impl IndexError {
    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            IndexError::Source(e) => e.is_retryable(),
            IndexError::Storage(e) => e.is_retryable(),
            IndexError::Backend { retryable, .. } => *retryable,
            IndexError::NotIndexed { .. } | IndexError::FileNotFound { .. } | IndexError::InvalidQuery { .. } => false,
        }
    }
}

// ── queries ──────────────────────────────────────────────────────────────

/// One indexed commit of one repo: what every query reads. The commit comes
/// from the metadata store (the repo's `indexed_commit`), so any process can
/// serve any repo without asking the indexer what is current.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexRef {
    /// The repo.
    pub repo_id: RepoId,
    /// The indexed commit.
    pub commit: String,
}

/// How a search query is matched against file contents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SearchMode {
    /// Words, for questions: files with any of the query's words, ranked by
    /// relevance (BM25), strongly preferring files with all of them or with
    /// the identifier they form; identifiers are split at `_` and case
    /// changes (`parseUrl` matches `parse url`), case-insensitive, words
    /// lightly stemmed (`callbacks` matches `callback`), stop words ignored;
    /// definition names, paths, signatures and doc comments weigh more;
    /// tests, docs and changelogs weigh less unless the query names them.
    #[default]
    Text,
    /// The exact string (case-sensitive unless asked otherwise).
    Substring,
    /// A regular expression (Rust `regex` syntax), matched per line.
    Regex,
}

/// A full-text search.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    /// What to look for.
    pub query: String,
    /// How to match it.
    pub mode: SearchMode,
    /// For [`SearchMode::Substring`] and [`SearchMode::Regex`]: match case.
    pub case_sensitive: bool,
    /// Only files whose path matches: a glob when it contains `*`, `?`, `[`
    /// or `{` (`src/**/*.rs`), else a substring of the path.
    pub path: Option<String>,
    /// Only files of this language label (`python`, `rust`, …).
    pub lang: Option<String>,
    /// Most files returned. When more files match, the result says so
    /// (`more`); for substring and regex searches the files returned are
    /// then the first that matched in relevance order (the pattern's words
    /// most frequent first), sorted by matching lines — an index need not
    /// scan every candidate to answer.
    pub max_files: usize,
    /// Most matching lines returned per file.
    pub max_lines_per_file: usize,
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineMatch {
    /// Line number (1-based).
    pub line: u32,
    /// The line's text (without the newline; long lines are cut).
    pub text: String,
    /// Byte ranges of the matches within `text`.
    pub ranges: Vec<(u32, u32)>,
    /// The innermost definition containing the line, qualified
    /// (`Client.send`), when the file was parsed.
    pub enclosing: Option<String>,
}

/// A file that matched a search.
#[derive(Debug, Clone, PartialEq)]
pub struct FileMatch {
    /// The file.
    pub file: IndexedFile,
    /// Relevance (higher is better; comparable within one result).
    pub score: f32,
    /// Matching lines, in line order.
    pub lines: Vec<LineMatch>,
    /// Matching lines in the file (at least `lines.len()`).
    pub line_matches: u32,
    /// For a [`SearchMode::Text`] search: the query's words the file
    /// contains (as the query wrote them); empty for other modes.
    pub words: Vec<String>,
}

/// The answer to a [`SearchQuery`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchResults {
    /// Best files first.
    pub files: Vec<FileMatch>,
    /// Whether more files matched than `max_files`.
    pub more: bool,
    /// For a [`SearchMode::Text`] search: the query's words that occur in
    /// no file at all.
    pub absent: Vec<String>,
    /// For a [`SearchMode::Text`] search: the words ignored as stop words.
    pub ignored: Vec<String>,
}

/// A symbol-definition lookup.
#[derive(Debug, Clone)]
pub struct SymbolQuery {
    /// The name; may be qualified (`Client.send`, `net::Client::send`).
    pub name: String,
    /// Only this kind (`function`, `class`, …).
    pub kind: Option<String>,
    /// Only files whose path matches (as in [`SearchQuery::path`]).
    pub path: Option<String>,
    /// Only this language label.
    pub lang: Option<String>,
    /// Most definitions returned.
    pub limit: usize,
}

/// How well a symbol's name matched a [`SymbolQuery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NameMatch {
    /// Same name, same case (and container, when one was given).
    Exact,
    /// Same name ignoring case.
    IgnoreCase,
    /// The query's words are among the name's parts (`url` finds `parse_url`).
    Partial,
}

/// A definition that matched a [`SymbolQuery`].
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolMatch {
    /// The file that defines it.
    pub file: IndexedFile,
    /// The definition.
    pub symbol: Symbol,
    /// How well the name matched.
    pub matched: NameMatch,
    /// How the definition was found.
    pub trust: Trust,
}

/// A reference lookup: where an identifier occurs.
#[derive(Debug, Clone)]
pub struct ReferenceQuery {
    /// The identifier (exact, case-sensitive; a qualified name uses its last part).
    pub name: String,
    /// Only files whose path matches (as in [`SearchQuery::path`]).
    pub path: Option<String>,
    /// Most occurrences returned.
    pub limit: usize,
}

/// One occurrence of an identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The file.
    pub file: IndexedFile,
    /// Line (1-based).
    pub line: u32,
    /// Column (1-based, in bytes).
    pub column: u32,
    /// The line's text, trimmed.
    pub text: String,
    /// Whether this occurrence is the name of a definition.
    pub definition: bool,
    /// The innermost definition containing the occurrence (the caller, for
    /// a call), qualified: `Client.send`.
    pub enclosing: Option<String>,
    /// How the occurrence was found (by name in the syntax tree:
    /// [`Trust::Syntactic`]).
    pub trust: Trust,
}

/// The answer to a [`ReferenceQuery`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    /// Occurrences, grouped by file, in line order within a file.
    pub references: Vec<Reference>,
    /// Whether there were more than `limit`.
    pub more: bool,
}

/// A file of an indexed commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFile {
    /// Path relative to the repo root.
    pub path: String,
    /// Language label, if known.
    pub lang: Option<String>,
    /// Git blob id: equal ids mean equal contents.
    pub blob_id: String,
    /// Size in bytes.
    pub size: u64,
    /// Lines (0 for skipped files).
    pub lines: u32,
    /// Why the file's contents are not indexed (`binary`, `too_large`,
    /// `vendored`, `generated`, `ignored`); `None` when they are.
    pub skipped: Option<String>,
    /// The whole file's token count, when the index counted it (an index
    /// given a [`crate::tokens::TokenCounter`] counts every indexed file
    /// once per blob, so answers need not re-count big files).
    pub tokens: Option<FileTokens>,
}

/// A file's token count in one encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTokens {
    /// The encoding counted with (`TokenCounter::encoding`).
    pub encoding: String,
    /// Tokens of the whole file.
    pub count: u64,
}

/// A whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    /// The file.
    pub file: IndexedFile,
    /// Its text (UTF-8; invalid bytes replaced).
    pub text: String,
}

/// The symbols of one file, nested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutline {
    /// The file.
    pub file: IndexedFile,
    /// Top-level definitions with their children.
    pub symbols: Vec<OutlineNode>,
}

/// One file of a [`SymbolGraph`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphFile {
    /// The file.
    pub file: IndexedFile,
    /// Its definitions, in source order.
    pub definitions: Vec<Symbol>,
    /// Identifiers it uses and how often (definitions' own names excluded).
    pub references: Vec<(String, u32)>,
}

/// Definitions and references of every parsed file of a commit: the input
/// of the repo map's ranking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymbolGraph {
    /// Files with at least one definition or reference, sorted by path.
    pub files: Vec<GraphFile>,
}

/// Queries over indexes built by a [`CodeIndexer`]. Every method reads the
/// commit named by its [`IndexRef`]; a commit without an index is
/// [`IndexError::NotIndexed`]. Paths are normalised repository paths
/// (`lettuce_domain::code::normalize_repo_path`); an unknown one is
/// [`IndexError::FileNotFound`].
#[async_trait]
pub trait CodeSearch: Send + Sync + std::fmt::Debug + 'static {
    /// Full-text search over file contents.
    async fn search(&self, at: &IndexRef, query: &SearchQuery) -> Result<SearchResults, IndexError>;

    /// Definitions by name: exact matches first, then case-insensitive,
    /// then partial.
    async fn symbols(&self, at: &IndexRef, query: &SymbolQuery) -> Result<Vec<SymbolMatch>, IndexError>;

    /// Occurrences of an identifier in code (not in comments or strings).
    async fn references(&self, at: &IndexRef, query: &ReferenceQuery) -> Result<References, IndexError>;

    /// The nested symbols of one file.
    async fn outline(&self, at: &IndexRef, path: &str) -> Result<FileOutline, IndexError>;

    /// One whole file. Skipped files (binary, too large, …) are
    /// [`IndexError::InvalidQuery`] naming the reason.
    async fn read_file(&self, at: &IndexRef, path: &str) -> Result<FileContent, IndexError>;

    /// Every file of the commit (skipped ones included), sorted by path;
    /// only those matching `path` when given (as in [`SearchQuery::path`]).
    async fn list_files(&self, at: &IndexRef, path: Option<&str>) -> Result<Vec<IndexedFile>, IndexError>;

    /// Definitions and references of the whole commit.
    async fn symbol_graph(&self, at: &IndexRef) -> Result<Arc<SymbolGraph>, IndexError>;
}
