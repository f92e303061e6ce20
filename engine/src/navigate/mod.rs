//! Navigation: the questions agents ask (where is X defined, who uses it,
//! what is in this file, show me that code, what matters in this repo),
//! answered from the code index in small, budgeted text with token
//! accounting. The MCP tools and the HTTP query endpoints are thin layers
//! over [`Navigator`].
//!
//! Every answer ([`Answer`]) carries the indexed commit of each repo it
//! read, `tokens.returned` (the answer's text), `tokens.full` (the whole
//! files the answer stands for) and a note when it was shortened to fit its
//! budget — an answer over budget is cut, never an error.

mod locate;
mod render;
mod repo_map;
mod similar;

pub use locate::{LocateAnswer, LocateRequest, LocatedDefinition, LocatedFile, MAX_TASK_BYTES};

use crate::builder::Engine;
use crate::caller::Caller;
use crate::error::{EngineError, ErrorKind};
use lettuce_domain::code::{OutlineNode, Symbol, TokenAccount, Trust, normalize_repo_path, split_qualified_name};
use lettuce_domain::repo::{IndexProgress, Repo, RepoStatus};
use lettuce_domain::{AccountId, RepoId, ValidationError};
use lettuce_ports::git::{CommitChanges, RepoSnapshot};
use lettuce_ports::index::{
    CodeSearch, FileMatch, IndexError, IndexRef, IndexedFile, NameMatch, Reference, ReferenceQuery, SearchMode,
    SearchQuery, SymbolMatch, SymbolQuery,
};
use lettuce_ports::tokens::TokenCounter;
use render::{Budgeted, cut_to_tokens, numbered, short};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Largest budget any answer may ask for.
pub const MAX_TOKENS_CAP: u64 = 20_000;

/// Default budgets, in tokens.
pub mod budgets {
    /// `search_code`.
    pub const SEARCH: u64 = 2_000;
    /// `find_symbol`.
    pub const SYMBOLS: u64 = 1_500;
    /// `find_references`.
    pub const REFERENCES: u64 = 2_000;
    /// `file_outline`.
    pub const OUTLINE: u64 = 2_000;
    /// `read_symbol`.
    pub const READ_SYMBOL: u64 = 3_000;
    /// `read_file`.
    pub const READ_FILE: u64 = 5_000;
    /// `repo_map`.
    pub const REPO_MAP: u64 = 1_500;
    /// `locate`.
    pub const LOCATE: u64 = 1_500;
}

/// A repository as navigation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavRepo {
    /// Id.
    pub id: RepoId,
    /// Display name (`owner/name`).
    pub name: String,
    /// Clone URL without credentials (or the local directory).
    pub url: String,
    /// Branch followed, when not the default.
    pub branch: Option<String>,
    /// Status.
    pub status: RepoStatus,
    /// The commit queries read, once indexed.
    pub commit: Option<String>,
    /// Progress of the current run.
    pub progress: IndexProgress,
}

impl From<Repo> for NavRepo {
    fn from(r: Repo) -> Self {
        Self {
            id: r.id,
            name: r.name,
            url: r.url,
            branch: r.branch,
            status: r.status,
            commit: r.indexed_commit,
            progress: r.progress,
        }
    }
}

/// A repo at the commit an answer read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoCommit {
    /// Repo id.
    pub id: RepoId,
    /// Display name.
    pub name: String,
    /// The indexed commit.
    pub commit: String,
}

/// A navigation answer: data, its compact text rendering, accounting.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    /// Structured result (what the HTTP API returns as JSON).
    pub data: T,
    /// The text an agent gets (what MCP tools return).
    pub text: String,
    /// Tokens of `text` vs. the whole files it stands for.
    pub tokens: TokenAccount,
    /// The repos read, with their indexed commits.
    pub repos: Vec<RepoCommit>,
    /// Why and how the answer was shortened to fit its budget, if it was.
    pub shortened: Option<String>,
}

/// `search_code`.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// Query text.
    pub query: String,
    /// Words (default), exact substring, or regex.
    pub mode: SearchMode,
    /// Match case (substring and regex; default: case-sensitive for those,
    /// insensitive for words).
    pub case_sensitive: Option<bool>,
    /// One repo (id or name); default: every indexed repo.
    pub repo: Option<String>,
    /// Path glob or substring.
    pub path: Option<String>,
    /// Language label.
    pub lang: Option<String>,
    /// Most files (default 10, at most 100).
    pub max_results: Option<usize>,
    /// Token budget (default [`budgets::SEARCH`]).
    pub max_tokens: Option<u64>,
}

/// `find_symbol`.
#[derive(Debug, Clone, Default)]
pub struct SymbolRequest {
    /// Name, optionally qualified (`Client.send`).
    pub name: String,
    /// Kind (`function`, `class`, …).
    pub kind: Option<String>,
    /// One repo; default all.
    pub repo: Option<String>,
    /// Path glob or substring.
    pub path: Option<String>,
    /// Language label.
    pub lang: Option<String>,
    /// Most definitions (default 10, at most 100).
    pub limit: Option<usize>,
    /// Token budget.
    pub max_tokens: Option<u64>,
}

/// `find_references`.
#[derive(Debug, Clone, Default)]
pub struct ReferencesRequest {
    /// Identifier.
    pub name: String,
    /// One repo; default all.
    pub repo: Option<String>,
    /// Path glob or substring.
    pub path: Option<String>,
    /// Most occurrences (default 50, at most 1000).
    pub limit: Option<usize>,
    /// Token budget.
    pub max_tokens: Option<u64>,
}

/// `file_outline`, `read_file`.
#[derive(Debug, Clone, Default)]
pub struct FileRequest {
    /// The repo (optional when there is one).
    pub repo: Option<String>,
    /// Path in the repo.
    pub path: String,
    /// First line (1-based, `read_file` only).
    pub start: Option<u32>,
    /// Last line (inclusive, `read_file` only).
    pub end: Option<u32>,
    /// Token budget.
    pub max_tokens: Option<u64>,
}

/// `read_symbol`.
#[derive(Debug, Clone, Default)]
pub struct ReadSymbolRequest {
    /// Name, optionally qualified.
    pub name: String,
    /// One repo; default all.
    pub repo: Option<String>,
    /// Path glob or substring, to pick among same-named definitions.
    pub path: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// Token budget.
    pub max_tokens: Option<u64>,
}

/// `repo_map`.
#[derive(Debug, Clone, Default)]
pub struct RepoMapRequest {
    /// The repo (optional when there is one).
    pub repo: Option<String>,
    /// Paths (substrings) and identifiers to centre the map on.
    pub focus: Vec<String>,
    /// Token budget.
    pub max_tokens: Option<u64>,
}

/// A search hit with its repo.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoFileMatch {
    /// Repo.
    pub repo: RepoCommit,
    /// Hit.
    pub hit: FileMatch,
}

/// A definition with its repo.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoSymbol {
    /// Repo.
    pub repo: RepoCommit,
    /// Definition.
    pub hit: SymbolMatch,
}

/// An occurrence with its repo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoReference {
    /// Repo.
    pub repo: RepoCommit,
    /// Occurrence.
    pub reference: Reference,
}

/// Search results.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchAnswer {
    /// Files, best first.
    pub hits: Vec<RepoFileMatch>,
    /// More files matched than were returned.
    pub more: bool,
    /// Text mode: the query's words no file has.
    pub absent: Vec<String>,
}

/// References.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencesAnswer {
    /// Occurrences.
    pub references: Vec<RepoReference>,
    /// More occurred than were returned.
    pub more: bool,
}

/// A file's outline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlineAnswer {
    /// The file.
    pub file: IndexedFile,
    /// Nested symbols.
    pub symbols: Vec<OutlineNode>,
}

/// Lines of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSlice {
    /// The file.
    pub file: IndexedFile,
    /// First line returned.
    pub start: u32,
    /// Last line returned (inclusive; `start - 1` for an empty file).
    pub end: u32,
    /// The lines, without numbers.
    pub text: String,
}

/// A definition's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolCode {
    /// The file.
    pub file: IndexedFile,
    /// The definition.
    pub symbol: Symbol,
    /// Its lines.
    pub code: String,
    /// Other definitions with the same name (file, line), not shown.
    pub others: Vec<(String, u32)>,
}

/// A ranked map of a repo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoMapAnswer {
    /// Files shown, each with its definitions shown.
    pub files: Vec<(String, Vec<Symbol>)>,
    /// Definitions ranked in the repo.
    pub total_definitions: usize,
}

/// Per-process caches shared by navigators.
#[derive(Debug, Default)]
pub struct NavState {
    file_tokens: Mutex<HashMap<String, u64>>,
    maps: Mutex<HashMap<IndexRef, Arc<repo_map::Ranked>>>,
    /// Git history per indexed commit (read once from the mirror).
    history: Mutex<HashMap<IndexRef, Arc<Vec<CommitChanges>>>>,
    /// Paths of the indexed (not skipped) files per indexed commit, for
    /// `locate`'s file- and directory-name evidence.
    paths: Mutex<HashMap<IndexRef, Arc<locate::PathIndex>>>,
}

/// Most file token counts cached.
const TOKEN_CACHE: usize = 200_000;
/// Most unfocused repo maps cached.
const MAP_CACHE: usize = 32;

enum Scope {
    /// A user's account on an engine: repos from the metadata store,
    /// usage metered.
    Account { engine: Engine, account: AccountId },
    /// A fixed set of repos (a local directory served over stdio).
    Fixed(Vec<NavRepo>),
}

/// Answers navigation questions over the repos a caller may read.
pub struct Navigator {
    search: Arc<dyn CodeSearch>,
    tokens: Arc<dyn TokenCounter>,
    state: Arc<NavState>,
    scope: Scope,
    /// Snapshots with history for a fixed navigator's repos.
    snapshots: HashMap<RepoId, Arc<dyn RepoSnapshot>>,
}

impl std::fmt::Debug for Navigator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scope = match &self.scope {
            Scope::Account { account, .. } => format!("account {account}"),
            Scope::Fixed(r) => format!("{} fixed repos", r.len()),
        };
        f.debug_struct("Navigator")
            .field("scope", &scope)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// A navigator over the caller's repos (a user, not the admin token).
    pub fn navigator(&self, caller: &Caller) -> Result<Navigator, EngineError> {
        let u = caller.user()?;
        let search = self.inner.search.clone().ok_or_else(|| {
            EngineError::Unavailable("code search is not configured in this engine (no CodeSearch port)".into())
        })?;
        Ok(Navigator {
            search,
            tokens: self.inner.tokens.clone(),
            state: self.nav_state(),
            scope: Scope::Account {
                engine: self.clone(),
                account: u.account_id,
            },
            snapshots: HashMap::new(),
        })
    }

    fn nav_state(&self) -> Arc<NavState> {
        self.inner.nav.clone()
    }
}

/// Smallest budget an answer may ask for.
pub const MIN_TOKENS: u64 = 100;
/// Tokens kept back from a budget for the header, notes and the
/// accounting line, so the whole answer fits.
const RESERVED: u64 = 60;

fn clamp_budget(requested: Option<u64>, default: u64) -> u64 {
    requested.unwrap_or(default).clamp(MIN_TOKENS, MAX_TOKENS_CAP)
}

/// What a budget leaves for the answer's content.
fn room(budget: u64) -> u64 {
    budget.saturating_sub(RESERVED).max(1)
}

fn not_indexed(r: &NavRepo) -> EngineError {
    let progress = if r.progress.files_total > 0 {
        format!(", {}/{} files", r.progress.files_done, r.progress.files_total)
    } else {
        String::new()
    };
    EngineError::Navigation {
        kind: ErrorKind::Unavailable,
        code: "repo_not_indexed",
        message: format!(
            "{} is not indexed yet (status {}{progress}); try again when it is ready",
            r.name,
            r.status.as_str()
        ),
    }
}

fn nav_err(kind: ErrorKind, code: &'static str, message: String) -> EngineError {
    EngineError::Navigation { kind, code, message }
}

fn footer_note(what: &str, dropped: usize, budget: u64, hint: &str) -> String {
    format!("… {dropped} more {what} not shown (max_tokens={budget}); {hint}")
}

/// `syntactic`, or e.g. `syntactic, text` when items were found in several
/// ways (each item's own label is in the answer's data).
fn trust_legend(items: impl Iterator<Item = Trust>) -> String {
    let mut seen: Vec<Trust> = Vec::new();
    for t in items {
        if !seen.contains(&t) {
            seen.push(t);
        }
    }
    let names: Vec<&str> = seen.iter().map(|t| t.as_str()).collect();
    let what = match seen.as_slice() {
        [Trust::Syntactic] => " (syntax tree, by name)",
        _ => "",
    };
    format!("{}{what}", names.join(", "))
}

/// The text of a search answer without files: which words occur nowhere
/// and what to try instead.
fn no_match_text(query: &str, words_mode: bool, absent: &[String], ignored: &[String]) -> String {
    if !words_mode {
        return format!(
            "no matches of {:?}; try mode=text (words) or a shorter pattern\n",
            query.trim()
        );
    }
    let mut t = String::from("no matches: ");
    if absent.is_empty() && !ignored.is_empty() {
        t.push_str(&format!("only common words ({}); ", ignored.join(", ")));
    } else {
        t.push_str(&format!(
            "none of the words occurs in any file ({}); ",
            absent.join(", ")
        ));
    }
    t.push_str("try other words (a synonym, an identifier, a file name), fewer filters, or find_symbol\n");
    t
}

impl Navigator {
    /// A navigator over a fixed set of repos, without metering (for a
    /// local directory served over stdio, or an embedding service).
    pub fn fixed(search: Arc<dyn CodeSearch>, tokens: Arc<dyn TokenCounter>, repos: Vec<NavRepo>) -> Self {
        Self {
            search,
            tokens,
            state: Arc::new(NavState::default()),
            scope: Scope::Fixed(repos),
            snapshots: HashMap::new(),
        }
    }

    /// Gives a fixed navigator the git snapshot of `repo`, so `locate` can
    /// read its history. Used only while the repo's indexed commit is the
    /// snapshot's commit (no history from another commit leaks in).
    #[must_use]
    pub fn with_snapshot(mut self, repo: RepoId, snapshot: Arc<dyn RepoSnapshot>) -> Self {
        self.snapshots.insert(repo, snapshot);
        self
    }

    /// The encoding token counts use.
    pub fn encoding(&self) -> &'static str {
        self.tokens.encoding()
    }

    /// The repos this navigator can read.
    pub async fn repos(&self) -> Result<Vec<NavRepo>, EngineError> {
        match &self.scope {
            Scope::Account { engine, account } => Ok(engine
                .inner
                .store
                .list_repos(*account)
                .await?
                .into_iter()
                .map(NavRepo::from)
                .collect()),
            Scope::Fixed(r) => Ok(r.clone()),
        }
    }

    fn find_repo<'a>(repos: &'a [NavRepo], key: &str) -> Option<&'a NavRepo> {
        let key = key.trim();
        if let Ok(id) = key.parse::<uuid::Uuid>() {
            return repos.iter().find(|r| r.id.0 == id);
        }
        let lower = key.to_lowercase();
        let lower = lower.trim_end_matches(".git").trim_end_matches('/');
        repos
            .iter()
            .find(|r| r.name.to_lowercase() == lower)
            .or_else(|| {
                repos
                    .iter()
                    .find(|r| r.url.to_lowercase().trim_end_matches(".git") == lower)
            })
            .or_else(|| {
                // A unique `name` suffix: `widgets` for `acme/widgets`.
                let mut m = repos
                    .iter()
                    .filter(|r| r.name.to_lowercase().rsplit('/').next() == Some(lower));
                match (m.next(), m.next()) {
                    (Some(r), None) => Some(r),
                    _ => None,
                }
            })
    }

    fn names(repos: &[NavRepo]) -> String {
        let names: Vec<&str> = repos.iter().map(|r| r.name.as_str()).take(20).collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }

    /// The repos a multi-repo query reads: the named one, or every indexed one.
    async fn targets(&self, repo: Option<&str>) -> Result<Vec<(NavRepo, IndexRef)>, EngineError> {
        let repos = self.repos().await?;
        if let Some(key) = repo.filter(|k| !k.trim().is_empty()) {
            let r = Self::find_repo(&repos, key).ok_or_else(|| {
                nav_err(
                    ErrorKind::NotFound,
                    "repo_not_found",
                    format!("no repository {key:?}; available: {}", Self::names(&repos)),
                )
            })?;
            let commit = r.commit.clone().ok_or_else(|| not_indexed(r))?;
            return Ok(vec![(r.clone(), IndexRef { repo_id: r.id, commit })]);
        }
        let ready: Vec<(NavRepo, IndexRef)> = repos
            .iter()
            .filter_map(|r| {
                r.commit
                    .clone()
                    .map(|commit| (r.clone(), IndexRef { repo_id: r.id, commit }))
            })
            .collect();
        if ready.is_empty() {
            return Err(match repos.first() {
                Some(r) => not_indexed(r),
                None => nav_err(
                    ErrorKind::NotFound,
                    "no_repos",
                    "no repositories yet: add one (POST /v1/repos) and wait until it is ready".into(),
                ),
            });
        }
        Ok(ready)
    }

    /// The one repo a single-repo query reads.
    async fn target(&self, repo: Option<&str>) -> Result<(NavRepo, IndexRef), EngineError> {
        let mut t = self.targets(repo).await?;
        if t.len() > 1 {
            let names: Vec<NavRepo> = t.into_iter().map(|(r, _)| r).collect();
            return Err(nav_err(
                ErrorKind::Invalid,
                "repo_ambiguous",
                format!(
                    "several repositories are indexed; pass repo (one of: {})",
                    Self::names(&names)
                ),
            ));
        }
        Ok(t.remove(0))
    }

    fn commit_of(r: &NavRepo, at: &IndexRef) -> RepoCommit {
        RepoCommit {
            id: r.id,
            name: r.name.clone(),
            commit: at.commit.clone(),
        }
    }

    /// Maps an index error, re-queueing the repo when its index is missing.
    async fn index_err(&self, r: &NavRepo, e: IndexError) -> EngineError {
        if let IndexError::NotIndexed { .. } = e {
            if let Scope::Account { engine, .. } = &self.scope
                && let Err(q) = engine.enqueue_index(r.id).await
            {
                tracing::warn!(repo = %r.id, error = %q, "could not queue a rebuild of a missing index");
            }
            return nav_err(
                ErrorKind::Unavailable,
                "index_rebuilding",
                format!("the index of {} is being rebuilt; try again in a minute", r.name),
            );
        }
        e.into()
    }

    /// Tokens of a whole file (cached by blob id).
    async fn file_tokens(&self, at: &IndexRef, file: &IndexedFile) -> u64 {
        if file.skipped.is_some() {
            return 0;
        }
        if let Some(t) = &file.tokens
            && t.encoding == self.tokens.encoding()
        {
            return t.count;
        }
        if let Some(n) = self
            .state
            .file_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&file.blob_id)
        {
            return *n;
        }
        let n = match self.search.read_file(at, &file.path).await {
            Ok(c) => self.tokens.count(&c.text),
            Err(e) => {
                tracing::debug!(path = %file.path, error = %e, "file unreadable for token accounting");
                return 0;
            }
        };
        let mut cache = self.state.file_tokens.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= TOKEN_CACHE {
            cache.clear();
        }
        cache.insert(file.blob_id.clone(), n);
        n
    }

    async fn files_tokens(&self, files: Vec<(IndexRef, IndexedFile)>) -> u64 {
        let mut seen = HashSet::new();
        let mut total = 0;
        for (at, f) in &files {
            if seen.insert((at.repo_id, f.path.clone())) {
                total += self.file_tokens(at, f).await;
            }
        }
        total
    }

    /// Finishes an answer of `tool`: header line, accounting, metering.
    fn finish<T>(
        &self,
        tool: &'static str,
        data: T,
        body: String,
        full: u64,
        repos: Vec<RepoCommit>,
        shortened: Option<String>,
    ) -> Answer<T> {
        let mut text = String::new();
        for r in &repos {
            text.push_str(&format!("[{} @ {}]\n", r.name, short(&r.commit)));
        }
        text.push_str(&body);
        if let Some(note) = &shortened {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(note);
            text.push('\n');
        }
        // The accounting line is part of what the agent reads (and pays for):
        // find the count that includes itself.
        let line = |returned: u64| {
            let saved = full.saturating_sub(returned);
            format!("[tokens: {returned} returned, {full} in the files, {saved} saved]\n")
        };
        let mut returned = self.tokens.count(&text);
        for _ in 0..3 {
            let next = self.tokens.count(&format!("{text}{}", line(returned)));
            if next == returned {
                break;
            }
            returned = next;
        }
        text.push_str(&line(returned));
        let tokens = TokenAccount { returned, full };
        if let Scope::Account { engine, account } = &self.scope {
            engine.meter(*account, tool, tokens);
        }
        Answer {
            data,
            text,
            tokens,
            repos,
            shortened,
        }
    }

    /// `list_repos`: the repos, their status and indexed commit.
    pub async fn list_repos(&self) -> Result<Answer<Vec<NavRepo>>, EngineError> {
        let repos = self.repos().await?;
        let mut body = String::new();
        if repos.is_empty() {
            body.push_str("no repositories yet\n");
        }
        for r in &repos {
            let commit = r.commit.as_deref().map(short).unwrap_or("-");
            let progress = if r.status == RepoStatus::Indexing && r.progress.files_total > 0 {
                format!(" ({}/{} files)", r.progress.files_done, r.progress.files_total)
            } else {
                String::new()
            };
            body.push_str(&format!(
                "{}  {}  commit {}{}  id {}\n",
                r.name,
                r.status.as_str(),
                commit,
                progress,
                r.id
            ));
        }
        Ok(self.finish("list_repos", repos, body, 0, Vec::new(), None))
    }

    /// `search_code`: full-text search over the indexed repos.
    pub async fn search_code(&self, req: SearchRequest) -> Result<Answer<SearchAnswer>, EngineError> {
        if req.query.trim().is_empty() {
            return Err(ValidationError::new("query", "the query is empty").into());
        }
        let budget = clamp_budget(req.max_tokens, budgets::SEARCH);
        let max_files = req.max_results.unwrap_or(10).clamp(1, 100);
        let case = req.case_sensitive.unwrap_or(req.mode != SearchMode::Text);
        let query = SearchQuery {
            query: req.query.clone(),
            mode: req.mode,
            case_sensitive: case,
            path: req.path.clone(),
            lang: req.lang.clone(),
            max_files,
            max_lines_per_file: 5,
        };
        let targets = self.targets(req.repo.as_deref()).await?;
        let mut per_repo = Vec::new();
        let mut more = false;
        // Words no repo has, and stop words ignored (for the note).
        let mut absent: Option<Vec<String>> = None;
        let mut ignored: Vec<String> = Vec::new();
        for (r, at) in &targets {
            let res = match self.search.search(at, &query).await {
                Ok(res) => res,
                Err(e) => return Err(self.index_err(r, e).await),
            };
            more |= res.more;
            absent = Some(match absent {
                None => res.absent.clone(),
                Some(a) => a.into_iter().filter(|w| res.absent.contains(w)).collect(),
            });
            for w in res.ignored {
                if !ignored.contains(&w) {
                    ignored.push(w);
                }
            }
            per_repo.push((Self::commit_of(r, at), at, res.files));
        }
        let absent = absent.unwrap_or_default();
        // Interleave repos by rank.
        let mut hits: Vec<(RepoCommit, &IndexRef, FileMatch)> = Vec::new();
        let mut iters: Vec<_> = per_repo.into_iter().map(|(c, at, f)| (c, at, f.into_iter())).collect();
        loop {
            let mut any = false;
            for (c, at, it) in iters.iter_mut() {
                if let Some(h) = it.next() {
                    hits.push((c.clone(), at, h));
                    any = true;
                }
            }
            if !any {
                break;
            }
        }
        if hits.len() > max_files {
            hits.truncate(max_files);
            more = true;
        }
        let multi = targets.len() > 1;
        let mut b = Budgeted::new(self.tokens.as_ref(), room(budget));
        let mut shown = Vec::new();
        let words_mode = req.mode == SearchMode::Text;
        if hits.is_empty() {
            b.push(&no_match_text(&req.query, words_mode, &absent, &ignored));
        } else if words_mode {
            let mut legend =
                String::from("lines: text matches (trust: text); [in X]: enclosing definition (syntactic)\n");
            if !absent.is_empty() {
                legend.push_str(&format!("not found anywhere: {}\n", absent.join(", ")));
            }
            b.push(&legend);
        } else {
            b.push("lines: text matches (trust: text)\n");
        }
        // Every word a shown file could have (to name the missing ones).
        let mut asked: Vec<String> = Vec::new();
        for (_, _, h) in &hits {
            for w in &h.words {
                if !asked.contains(w) {
                    asked.push(w.clone());
                }
            }
        }
        for (c, at, h) in hits {
            let mut chunk = String::new();
            if multi {
                chunk.push_str(&format!("{}:", c.name));
            }
            chunk.push_str(&h.file.path);
            if h.line_matches as usize > h.lines.len() {
                chunk.push_str(&format!(" ({} matching lines)", h.line_matches));
            }
            if words_mode && asked.len() > 1 && h.words.len() < asked.len() {
                let missing: Vec<&str> = asked
                    .iter()
                    .filter(|w| !h.words.contains(w))
                    .map(String::as_str)
                    .collect();
                chunk.push_str(&format!(" (without: {})", missing.join(", ")));
            }
            chunk.push('\n');
            for l in &h.lines {
                let within = l
                    .enclosing
                    .as_deref()
                    .map(|e| format!("  [in {e}]"))
                    .unwrap_or_default();
                chunk.push_str(&format!("  {}: {}{within}\n", l.line, l.text));
            }
            if b.push(&chunk) {
                shown.push((c, at, h));
            }
        }
        let shortened = if b.shortened() {
            Some(footer_note(
                "files",
                b.dropped,
                budget,
                "narrow with path= or lang=, or raise max_tokens",
            ))
        } else if more {
            Some(format!(
                "… more files match; narrow with path= or raise max_results (max_results={max_files})"
            ))
        } else {
            None
        };
        let full = self
            .files_tokens(shown.iter().map(|(_, at, h)| ((*at).clone(), h.file.clone())).collect())
            .await;
        let repos = targets.iter().map(|(r, at)| Self::commit_of(r, at)).collect();
        let body = b.into_text();
        let data = SearchAnswer {
            absent,
            more: more || shortened.is_some(),
            hits: shown
                .into_iter()
                .map(|(repo, _, hit)| RepoFileMatch { repo, hit })
                .collect(),
        };
        Ok(self.finish("search_code", data, body, full, repos, shortened))
    }

    async fn symbol_hits(
        &self,
        name: &str,
        kind: Option<String>,
        repo: Option<&str>,
        path: Option<String>,
        lang: Option<String>,
        limit: usize,
    ) -> Result<(Vec<(NavRepo, IndexRef)>, Vec<(RepoCommit, IndexRef, SymbolMatch)>), EngineError> {
        if name.trim().is_empty() {
            return Err(ValidationError::new("name", "give a symbol name, e.g. parse_url or Client.send").into());
        }
        let targets = self.targets(repo).await?;
        let q = SymbolQuery {
            name: name.trim().to_owned(),
            kind,
            path,
            lang,
            limit,
        };
        let mut all = Vec::new();
        for (r, at) in &targets {
            match self.search.symbols(at, &q).await {
                Ok(hits) => all.extend(hits.into_iter().map(|h| (Self::commit_of(r, at), at.clone(), h))),
                Err(e) => return Err(self.index_err(r, e).await),
            }
        }
        all.sort_by_key(|(_, _, h)| h.matched);
        all.truncate(limit);
        Ok((targets, all))
    }

    /// `find_symbol`: where a name is defined.
    pub async fn find_symbol(&self, req: SymbolRequest) -> Result<Answer<Vec<RepoSymbol>>, EngineError> {
        let budget = clamp_budget(req.max_tokens, budgets::SYMBOLS);
        let limit = req.limit.unwrap_or(10).clamp(1, 100);
        let (targets, hits) = self
            .symbol_hits(&req.name, req.kind, req.repo.as_deref(), req.path, req.lang, limit)
            .await?;
        let multi = targets.len() > 1;
        let mut b = Budgeted::new(self.tokens.as_ref(), room(budget));
        let mut shown = Vec::new();
        if hits.is_empty() {
            b.push(&format!("no definition of {}\n", req.name.trim()));
        } else {
            let exact = hits.iter().filter(|(_, _, h)| h.matched == NameMatch::Exact).count();
            let mut legend = format!("definitions: {}\n", trust_legend(hits.iter().map(|(_, _, h)| h.trust)));
            if exact > 1 {
                legend.push_str(&format!(
                    "ambiguous: {exact} definitions named {}; pass path=, kind= or a qualified name to pick\n",
                    req.name.trim()
                ));
            }
            b.push(&legend);
        }
        for (c, at, h) in hits {
            let s = &h.symbol;
            let mut chunk = String::new();
            if multi {
                chunk.push_str(&format!("{}:", c.name));
            }
            chunk.push_str(&format!(
                "{}:{}-{} {} {}",
                h.file.path,
                s.start_line,
                s.end_line,
                s.kind,
                s.qualified_name()
            ));
            if h.matched != NameMatch::Exact {
                chunk.push_str(match h.matched {
                    NameMatch::IgnoreCase => " (case differs)",
                    _ => " (partial match)",
                });
            }
            chunk.push_str(&format!("\n  {}\n", s.signature));
            if let Some(doc) = &s.doc {
                let first = doc.lines().next().unwrap_or_default();
                chunk.push_str(&format!("  // {first}\n"));
            }
            if b.push(&chunk) {
                shown.push((c, at, h));
            }
        }
        let shortened = b
            .shortened()
            .then(|| footer_note("definitions", b.dropped, budget, "narrow with kind=, path= or repo="));
        let full = self
            .files_tokens(shown.iter().map(|(_, at, h)| (at.clone(), h.file.clone())).collect())
            .await;
        let repos = targets.iter().map(|(r, at)| Self::commit_of(r, at)).collect();
        let body = b.into_text();
        let data = shown
            .into_iter()
            .map(|(repo, _, hit)| RepoSymbol { repo, hit })
            .collect();
        Ok(self.finish("find_symbol", data, body, full, repos, shortened))
    }

    /// `find_references`: where an identifier is used (and defined), with
    /// the enclosing definition of each use — the callers.
    pub async fn find_references(&self, req: ReferencesRequest) -> Result<Answer<ReferencesAnswer>, EngineError> {
        let budget = clamp_budget(req.max_tokens, budgets::REFERENCES);
        let limit = req.limit.unwrap_or(50).clamp(1, 1000);
        let (_, name) = split_qualified_name(&req.name);
        if name.is_empty() {
            return Err(ValidationError::new("name", "give an identifier, e.g. parse_url").into());
        }
        let targets = self.targets(req.repo.as_deref()).await?;
        let q = ReferenceQuery {
            name: name.clone(),
            path: req.path.clone(),
            limit,
        };
        let mut refs: Vec<(RepoCommit, IndexRef, Reference)> = Vec::new();
        let mut more = false;
        for (r, at) in &targets {
            match self.search.references(at, &q).await {
                Ok(res) => {
                    more |= res.more;
                    refs.extend(
                        res.references
                            .into_iter()
                            .map(|x| (Self::commit_of(r, at), at.clone(), x)),
                    );
                }
                Err(e) => return Err(self.index_err(r, e).await),
            }
        }
        if refs.len() > limit {
            refs.truncate(limit);
            more = true;
        }
        let multi = targets.len() > 1;
        let mut b = Budgeted::new(self.tokens.as_ref(), room(budget));
        let mut shown: Vec<(RepoCommit, IndexRef, Reference)> = Vec::new();
        if refs.is_empty() {
            b.push(&format!("no occurrences of {name} in code\n"));
        } else {
            b.push(&format!(
                "occurrences: {} (any identifier named {name}; not resolved by type)\n",
                trust_legend(refs.iter().map(|(_, _, r)| r.trust))
            ));
        }
        let mut last_file: Option<(RepoId, String)> = None;
        for (c, at, r) in refs {
            let mut chunk = String::new();
            let key = (c.id, r.file.path.clone());
            if last_file.as_ref() != Some(&key) {
                if multi {
                    chunk.push_str(&format!("{}:", c.name));
                }
                chunk.push_str(&format!("{}\n", r.file.path));
            }
            let role = if r.definition { "def " } else { "" };
            let within = r.enclosing.as_deref().map(|e| format!(" [in {e}]")).unwrap_or_default();
            chunk.push_str(&format!("  {}: {role}{}{within}\n", r.line, r.text));
            if b.push(&chunk) {
                last_file = Some(key);
                shown.push((c, at, r));
            }
        }
        let shortened = if b.shortened() {
            Some(footer_note(
                "occurrences",
                b.dropped,
                budget,
                "narrow with path= or raise max_tokens",
            ))
        } else if more {
            Some(format!(
                "… more occurrences exist (limit={limit}); narrow with path= or raise limit"
            ))
        } else {
            None
        };
        let full = self
            .files_tokens(shown.iter().map(|(_, at, r)| (at.clone(), r.file.clone())).collect())
            .await;
        let repos = targets.iter().map(|(r, at)| Self::commit_of(r, at)).collect();
        let body = b.into_text();
        let data = ReferencesAnswer {
            more: more || shortened.is_some(),
            references: shown
                .into_iter()
                .map(|(repo, _, reference)| RepoReference { repo, reference })
                .collect(),
        };
        Ok(self.finish("find_references", data, body, full, repos, shortened))
    }

    /// `file_outline`: a file's definitions, nested, with line ranges.
    pub async fn file_outline(&self, req: FileRequest) -> Result<Answer<OutlineAnswer>, EngineError> {
        let budget = clamp_budget(req.max_tokens, budgets::OUTLINE);
        let path = normalize_repo_path(&req.path)?;
        let (r, at) = self.target(req.repo.as_deref()).await?;
        let o = match self.search.outline(&at, &path).await {
            Ok(o) => o,
            Err(e) => return Err(self.index_err(&r, e).await),
        };
        let mut b = Budgeted::new(self.tokens.as_ref(), room(budget));
        b.push(&format!(
            "{} ({}, {} lines; definitions: syntactic)\n",
            o.file.path,
            o.file.lang.as_deref().unwrap_or("text"),
            o.file.lines
        ));
        if o.symbols.is_empty() {
            b.push("  (no definitions)\n");
        }
        fn walk(b: &mut Budgeted<'_>, nodes: &[OutlineNode], depth: usize) {
            for n in nodes {
                let s = &n.symbol;
                let label = if s.signature.contains(s.name.as_str()) {
                    s.signature.clone()
                } else {
                    format!("{} ({} {})", s.signature, s.kind, s.name)
                };
                b.push(&format!(
                    "{}{}-{} {label}\n",
                    "  ".repeat(depth + 1),
                    s.start_line,
                    s.end_line
                ));
                walk(b, &n.children, depth + 1);
            }
        }
        walk(&mut b, &o.symbols, 0);
        let shortened = b.shortened().then(|| {
            footer_note(
                "definitions",
                b.dropped,
                budget,
                "raise max_tokens, or read_symbol one of them",
            )
        });
        let full = self.file_tokens(&at, &o.file).await;
        let body = b.into_text();
        let data = OutlineAnswer {
            file: o.file,
            symbols: o.symbols,
        };
        Ok(self.finish(
            "file_outline",
            data,
            body,
            full,
            vec![Self::commit_of(&r, &at)],
            shortened,
        ))
    }

    /// `read_file`: a line range of one file (default the whole file),
    /// with line numbers, cut to the budget.
    pub async fn read_file(&self, req: FileRequest) -> Result<Answer<FileSlice>, EngineError> {
        let budget = clamp_budget(req.max_tokens, budgets::READ_FILE);
        let path = normalize_repo_path(&req.path)?;
        if let (Some(s), Some(e)) = (req.start, req.end)
            && e < s
        {
            return Err(ValidationError::new("end", format!("end ({e}) is before start ({s})")).into());
        }
        let (r, at) = self.target(req.repo.as_deref()).await?;
        let content = match self.search.read_file(&at, &path).await {
            Ok(c) => c,
            Err(e) => return Err(self.index_err(&r, e).await),
        };
        let total = content.text.lines().count() as u32;
        let start = req.start.unwrap_or(1).max(1);
        let end = req.end.unwrap_or(total).min(total);
        if start > total.max(1) {
            return Err(
                ValidationError::new("start", format!("{path} has {total} lines; start must be 1–{total}")).into(),
            );
        }
        let header = format!("{path} lines {start}-{end} of {total}\n");
        let listing = numbered(&content.text, start, end);
        let room = room(budget).saturating_sub(self.tokens.count(&header)).max(1);
        let shown = cut_to_tokens(self.tokens.as_ref(), &listing, room);
        let shown_lines = shown.lines().count() as u32;
        let shown_end = if shown.len() == listing.len() {
            end
        } else {
            (start + shown_lines).saturating_sub(1)
        };
        let shortened = (shown_end < end).then(|| {
            format!(
                "… shortened to lines {start}-{shown_end} (max_tokens={budget}); continue with start={}",
                shown_end + 1
            )
        });
        let header = if shortened.is_some() {
            format!("{path} lines {start}-{shown_end} of {total}\n")
        } else {
            header
        };
        let full = self.tokens.count(&content.text);
        self.remember_tokens(&content.file.blob_id, full);
        let text: String = content
            .text
            .lines()
            .skip(start as usize - 1)
            .take((shown_end + 1).saturating_sub(start) as usize)
            .map(|l| format!("{l}\n"))
            .collect();
        let data = FileSlice {
            file: content.file,
            start,
            end: shown_end,
            text,
        };
        Ok(self.finish(
            "read_file",
            data,
            format!("{header}{shown}"),
            full,
            vec![Self::commit_of(&r, &at)],
            shortened,
        ))
    }

    fn remember_tokens(&self, blob_id: &str, n: u64) {
        let mut cache = self.state.file_tokens.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= TOKEN_CACHE {
            cache.clear();
        }
        cache.insert(blob_id.to_owned(), n);
    }

    /// `read_symbol`: the code of a definition, found by name.
    pub async fn read_symbol(&self, req: ReadSymbolRequest) -> Result<Answer<SymbolCode>, EngineError> {
        let budget = clamp_budget(req.max_tokens, budgets::READ_SYMBOL);
        let (targets, hits) = self
            .symbol_hits(&req.name, req.kind, req.repo.as_deref(), req.path, None, 20)
            .await?;
        let best = hits.first().map(|(_, _, h)| h.matched);
        let Some((c, at, hit)) = hits.iter().find(|(_, _, h)| Some(h.matched) == best).cloned() else {
            return Err(nav_err(
                ErrorKind::NotFound,
                "symbol_not_found",
                format!("no definition of {} (try find_symbol or search_code)", req.name.trim()),
            ));
        };
        if hit.matched == NameMatch::Partial {
            let names: Vec<String> = hits.iter().take(5).map(|(_, _, h)| h.symbol.qualified_name()).collect();
            return Err(nav_err(
                ErrorKind::NotFound,
                "symbol_not_found",
                format!("no definition named {}; similar: {}", req.name.trim(), names.join(", ")),
            ));
        }
        let repo = targets
            .iter()
            .find(|(r, _)| r.id == c.id)
            .map(|(r, _)| r.clone())
            .ok_or_else(|| EngineError::Internal("symbol from an unknown repo".into()))?;
        let content = match self.search.read_file(&at, &hit.file.path).await {
            Ok(c) => c,
            Err(e) => return Err(self.index_err(&repo, e).await),
        };
        let s = &hit.symbol;
        let others: Vec<(String, u32)> = hits
            .iter()
            .filter(|(oc, _, h)| {
                h.matched == hit.matched
                    && !(oc.id == c.id && h.file.path == hit.file.path && h.symbol.start_line == s.start_line)
            })
            .map(|(_, _, h)| (h.file.path.clone(), h.symbol.start_line))
            .collect();
        let mut header = format!(
            "{}:{}-{} {} {} ({})\n",
            hit.file.path,
            s.start_line,
            s.end_line,
            s.kind,
            s.qualified_name(),
            hit.trust.as_str()
        );
        if let Some(doc) = &s.doc {
            // Docs outside the range (comments above) are shown; docstrings are in the code.
            let first = doc.lines().next().unwrap_or_default();
            if !content
                .text
                .lines()
                .skip(s.start_line as usize - 1)
                .take(s.line_count() as usize)
                .any(|l| l.contains(first))
            {
                // The summary paragraph only; the full doc is in the file.
                for l in doc.lines().take_while(|l| !l.trim().is_empty()).take(6) {
                    header.push_str(&format!("// {l}\n"));
                }
            }
        }
        let listing = numbered(&content.text, s.start_line, s.end_line);
        let room = room(budget).saturating_sub(self.tokens.count(&header)).max(1);
        let shown = cut_to_tokens(self.tokens.as_ref(), &listing, room);
        let shortened = (shown.len() < listing.len()).then(|| {
            let last = (s.start_line + shown.lines().count() as u32).saturating_sub(1);
            format!(
                "… shortened at line {last} of {} (max_tokens={budget}); read_file start={} end={} for the rest",
                s.end_line,
                last + 1,
                s.end_line
            )
        });
        let mut body = format!("{header}{shown}");
        if !others.is_empty() {
            let list: Vec<String> = others.iter().take(5).map(|(p, l)| format!("{p}:{l}")).collect();
            body.push_str(&format!(
                "ambiguous: also defined at {} (pass path= to pick)\n",
                list.join(", ")
            ));
        }
        let full = self.tokens.count(&content.text);
        self.remember_tokens(&content.file.blob_id, full);
        let code: String = content
            .text
            .lines()
            .skip(s.start_line as usize - 1)
            .take(s.line_count() as usize)
            .map(|l| format!("{l}\n"))
            .collect();
        let data = SymbolCode {
            file: hit.file.clone(),
            symbol: hit.symbol.clone(),
            code,
            others,
        };
        Ok(self.finish("read_symbol", data, body, full, vec![c], shortened))
    }

    /// `repo_map`: the repo's most important definitions (ranked by how
    /// the code uses them), fitted to the budget.
    pub async fn repo_map(&self, req: RepoMapRequest) -> Result<Answer<RepoMapAnswer>, EngineError> {
        let budget = clamp_budget(req.max_tokens, budgets::REPO_MAP);
        let (r, at) = self.target(req.repo.as_deref()).await?;
        let focus = repo_map::Focus {
            paths: req
                .focus
                .iter()
                .filter(|f| f.contains('/') || f.contains('.'))
                .cloned()
                .collect(),
            names: req
                .focus
                .iter()
                .filter(|f| !f.contains('/') && !f.contains('.'))
                .cloned()
                .collect(),
        };
        let ranked = match self.ranked(&r, &at, &focus).await {
            Ok(x) => x,
            Err(e) => return Err(e),
        };
        let header = format!(
            "{} @ {}: {} definitions ranked (syntactic)\n",
            r.name,
            short(&at.commit),
            ranked.defs.len()
        );
        let room = room(budget).saturating_sub(self.tokens.count(&header)).max(1);
        // The largest number of definitions whose rendering fits.
        let (mut lo, mut hi) = (0usize, ranked.defs.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if self.tokens.count(&repo_map::render(&ranked, mid).0) <= room {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let (text, shown_files) = repo_map::render(&ranked, lo);
        let shortened = (lo < ranked.defs.len()).then(|| {
            format!(
                "… {} of {} definitions shown (max_tokens={budget}); raise max_tokens or focus= on paths or names",
                lo,
                ranked.defs.len()
            )
        });
        let mut chosen: HashMap<usize, Vec<Symbol>> = HashMap::new();
        for d in ranked.defs.iter().take(lo) {
            chosen
                .entry(d.file)
                .or_default()
                .push(ranked.graph.files[d.file].definitions[d.def].clone());
        }
        let files: Vec<(String, Vec<Symbol>)> = shown_files
            .iter()
            .map(|&i| {
                let mut syms = chosen.remove(&i).unwrap_or_default();
                syms.sort_by_key(|s| s.start_line);
                (ranked.graph.files[i].file.path.clone(), syms)
            })
            .collect();
        let full = self
            .files_tokens(
                shown_files
                    .iter()
                    .map(|&i| (at.clone(), ranked.graph.files[i].file.clone()))
                    .collect(),
            )
            .await;
        let data = RepoMapAnswer {
            files,
            total_definitions: ranked.defs.len(),
        };
        Ok(self.finish(
            "repo_map",
            data,
            format!("{header}{text}"),
            full,
            vec![Self::commit_of(&r, &at)],
            shortened,
        ))
    }

    async fn ranked(
        &self,
        r: &NavRepo,
        at: &IndexRef,
        focus: &repo_map::Focus,
    ) -> Result<Arc<repo_map::Ranked>, EngineError> {
        if focus.is_empty()
            && let Some(hit) = self.state.maps.lock().unwrap_or_else(|e| e.into_inner()).get(at)
        {
            return Ok(hit.clone());
        }
        let graph = match self.search.symbol_graph(at).await {
            Ok(g) => g,
            Err(e) => return Err(self.index_err(r, e).await),
        };
        let focus2 = focus.clone();
        let ranked = tokio::task::spawn_blocking(move || Arc::new(repo_map::rank(graph, &focus2)))
            .await
            .map_err(|e| EngineError::Internal(format!("ranking failed: {e}")))?;
        if focus.is_empty() {
            let mut maps = self.state.maps.lock().unwrap_or_else(|e| e.into_inner());
            if maps.len() >= MAP_CACHE {
                maps.clear();
            }
            maps.insert(at.clone(), ranked.clone());
        }
        Ok(ranked)
    }
}
