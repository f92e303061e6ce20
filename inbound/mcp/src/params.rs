//! Tool parameters (their JSON schemas are what clients see).

use lettuce_engine::{
    EngineError, FileRequest, LocateRequest, ReadSymbolRequest, ReferencesRequest, RepoMapRequest, SearchRequest,
    SymbolRequest,
};
use lettuce_ports::index::SearchMode;
use schemars::JsonSchema;
use serde::Deserialize;

/// `search_code` parameters.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchCodeParams {
    /// What to look for.
    pub query: String,
    /// `text` (words, default), `substring` (exact) or `regex`.
    #[serde(default)]
    pub mode: Option<String>,
    /// Match case (default: yes for substring/regex, no for text).
    #[serde(default)]
    pub case_sensitive: Option<bool>,
    /// Repository name or id; default: every indexed repository.
    #[serde(default)]
    pub repo: Option<String>,
    /// Only paths matching this glob (`src/**/*.rs`) or containing this text.
    #[serde(default)]
    pub path: Option<String>,
    /// Only this language (`python`, `rust`, `typescript`, …).
    #[serde(default)]
    pub lang: Option<String>,
    /// Most files returned (default 10).
    #[serde(default)]
    pub max_results: Option<usize>,
    /// Token budget of the answer (default 2000).
    #[serde(default)]
    pub max_tokens: Option<u64>,
}

impl SearchCodeParams {
    /// The engine request, or a validation error for an unknown mode.
    pub fn into_request(self) -> Result<SearchRequest, EngineError> {
        let mode = parse_mode(self.mode.as_deref())?;
        Ok(SearchRequest {
            query: self.query,
            mode,
            case_sensitive: self.case_sensitive,
            repo: self.repo,
            path: self.path,
            lang: self.lang,
            max_results: self.max_results,
            max_tokens: self.max_tokens,
        })
    }
}

/// Parses a search mode name.
pub fn parse_mode(mode: Option<&str>) -> Result<SearchMode, EngineError> {
    match mode.map(str::trim).map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("text") | Some("words") => Ok(SearchMode::Text),
        Some("substring") | Some("literal") | Some("exact") => Ok(SearchMode::Substring),
        Some("regex") | Some("regexp") => Ok(SearchMode::Regex),
        Some(other) => Err(lettuce_domain::ValidationError::new(
            "mode",
            format!("unknown mode `{other}`: use text, substring or regex"),
        )
        .into()),
    }
}

/// `find_symbol` parameters.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindSymbolParams {
    /// Symbol name, optionally qualified (`Client.send`).
    pub name: String,
    /// Only this kind (`function`, `method`, `class`, `struct`, `interface`, …).
    #[serde(default)]
    pub kind: Option<String>,
    /// Repository name or id; default: all.
    #[serde(default)]
    pub repo: Option<String>,
    /// Only paths matching this glob or containing this text.
    #[serde(default)]
    pub path: Option<String>,
    /// Only this language.
    #[serde(default)]
    pub lang: Option<String>,
    /// Most definitions (default 10).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Token budget (default 1500).
    #[serde(default)]
    pub max_tokens: Option<u64>,
}

impl From<FindSymbolParams> for SymbolRequest {
    fn from(p: FindSymbolParams) -> Self {
        SymbolRequest {
            name: p.name,
            kind: p.kind,
            repo: p.repo,
            path: p.path,
            lang: p.lang,
            limit: p.limit,
            max_tokens: p.max_tokens,
        }
    }
}

/// `find_references` parameters.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindReferencesParams {
    /// The identifier (a qualified name uses its last part).
    pub name: String,
    /// Repository name or id; default: all.
    #[serde(default)]
    pub repo: Option<String>,
    /// Only paths matching this glob or containing this text.
    #[serde(default)]
    pub path: Option<String>,
    /// Most occurrences (default 50).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Token budget (default 2000).
    #[serde(default)]
    pub max_tokens: Option<u64>,
}

impl From<FindReferencesParams> for ReferencesRequest {
    fn from(p: FindReferencesParams) -> Self {
        ReferencesRequest {
            name: p.name,
            repo: p.repo,
            path: p.path,
            limit: p.limit,
            max_tokens: p.max_tokens,
        }
    }
}

/// `file_outline` parameters.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileOutlineParams {
    /// File path relative to the repository root.
    pub path: String,
    /// Repository name or id (needed when several are indexed).
    #[serde(default)]
    pub repo: Option<String>,
    /// Token budget (default 2000).
    #[serde(default)]
    pub max_tokens: Option<u64>,
}

impl From<FileOutlineParams> for FileRequest {
    fn from(p: FileOutlineParams) -> Self {
        FileRequest {
            repo: p.repo,
            path: p.path,
            start: None,
            end: None,
            max_tokens: p.max_tokens,
        }
    }
}

/// `read_symbol` parameters.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadSymbolParams {
    /// Symbol name, optionally qualified (`Client.send`).
    pub name: String,
    /// Repository name or id; default: all.
    #[serde(default)]
    pub repo: Option<String>,
    /// Pick among same-named definitions by path (glob or substring).
    #[serde(default)]
    pub path: Option<String>,
    /// Pick by kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Token budget (default 3000).
    #[serde(default)]
    pub max_tokens: Option<u64>,
}

impl From<ReadSymbolParams> for ReadSymbolRequest {
    fn from(p: ReadSymbolParams) -> Self {
        ReadSymbolRequest {
            name: p.name,
            repo: p.repo,
            path: p.path,
            kind: p.kind,
            max_tokens: p.max_tokens,
        }
    }
}

/// `read_file` parameters.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFileParams {
    /// File path relative to the repository root.
    pub path: String,
    /// Repository name or id (needed when several are indexed).
    #[serde(default)]
    pub repo: Option<String>,
    /// First line (1-based, default 1).
    #[serde(default)]
    pub start: Option<u32>,
    /// Last line (inclusive, default the end).
    #[serde(default)]
    pub end: Option<u32>,
    /// Token budget (default 5000).
    #[serde(default)]
    pub max_tokens: Option<u64>,
}

impl From<ReadFileParams> for FileRequest {
    fn from(p: ReadFileParams) -> Self {
        FileRequest {
            repo: p.repo,
            path: p.path,
            start: p.start,
            end: p.end,
            max_tokens: p.max_tokens,
        }
    }
}

/// `repo_map` parameters.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepoMapParams {
    /// Repository name or id (needed when several are indexed).
    #[serde(default)]
    pub repo: Option<String>,
    /// Paths (with `/` or `.`) and identifiers to centre the map on.
    #[serde(default)]
    pub focus: Vec<String>,
    /// Token budget (default 1500).
    #[serde(default)]
    pub max_tokens: Option<u64>,
}

impl From<RepoMapParams> for RepoMapRequest {
    fn from(p: RepoMapParams) -> Self {
        RepoMapRequest {
            repo: p.repo,
            focus: p.focus,
            max_tokens: p.max_tokens,
        }
    }
}

/// `locate` parameters.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocateParams {
    /// The task: an issue title and body, a commit subject or a question
    /// (up to 8 KB).
    pub task: String,
    /// Repository name or id (needed when several are indexed).
    #[serde(default)]
    pub repo: Option<String>,
    /// Most files (default 8).
    #[serde(default)]
    pub max_files: Option<usize>,
    /// Token budget (default 1500).
    #[serde(default)]
    pub max_tokens: Option<u64>,
}

impl From<LocateParams> for LocateRequest {
    fn from(p: LocateParams) -> Self {
        LocateRequest {
            task: p.task,
            repo: p.repo,
            max_files: p.max_files,
            max_tokens: p.max_tokens,
        }
    }
}
