//! Code navigation over HTTP: the same answers the MCP tools give, as JSON.
//! Each response carries the repos read (with their indexed commit), the
//! token accounting, and the note when the answer was shortened.

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, Auth};
use axum::Json;
use axum::extract::State;
use lettuce_domain::code::{OutlineNode, Symbol};
use lettuce_engine::{Answer, FileRequest, RepoCommit, SearchRequest, SymbolRequest};
use lettuce_ports::index::{IndexedFile, SearchMode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Token accounting of an answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokensDto {
    /// Tokens of the answer (its text rendering, as MCP returns it).
    pub returned: u64,
    /// Tokens of the whole files the answer stands for.
    pub full: u64,
    /// `full - returned` (never negative).
    pub saved: u64,
}

/// A repo at the commit an answer read.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepoCommitDto {
    /// Repo id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Indexed commit.
    pub commit: String,
}

impl From<RepoCommit> for RepoCommitDto {
    fn from(r: RepoCommit) -> Self {
        Self {
            id: r.id.0,
            name: r.name,
            commit: r.commit,
        }
    }
}

/// A file of an indexed commit.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileDto {
    /// Path.
    pub path: String,
    /// Language label.
    pub lang: Option<String>,
    /// Git blob id.
    pub blob_id: String,
    /// Bytes.
    pub size: u64,
    /// Lines.
    pub lines: u32,
}

impl From<IndexedFile> for FileDto {
    fn from(f: IndexedFile) -> Self {
        Self {
            path: f.path,
            lang: f.lang,
            blob_id: f.blob_id,
            size: f.size,
            lines: f.lines,
        }
    }
}

/// A definition.
#[derive(Debug, Serialize, ToSchema)]
pub struct SymbolDto {
    /// Name.
    pub name: String,
    /// Kind (`function`, `method`, `class`, …).
    pub kind: String,
    /// Enclosing definitions, joined with `.`.
    pub container: Option<String>,
    /// First line (1-based).
    pub start_line: u32,
    /// Last line (inclusive).
    pub end_line: u32,
    /// The declaring line.
    pub signature: String,
    /// Doc comment or docstring.
    pub doc: Option<String>,
}

impl From<Symbol> for SymbolDto {
    fn from(s: Symbol) -> Self {
        Self {
            name: s.name,
            kind: s.kind,
            container: s.container,
            start_line: s.start_line,
            end_line: s.end_line,
            signature: s.signature,
            doc: s.doc,
        }
    }
}

/// Envelope of every navigation answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnswerMeta {
    /// Repos read, with their indexed commits.
    pub repos: Vec<RepoCommitDto>,
    /// Token accounting.
    pub tokens: TokensDto,
    /// Set when the answer was shortened to fit its budget: what was left
    /// out and how to get it.
    pub shortened: Option<String>,
}

pub(crate) fn meta<T>(a: &Answer<T>) -> AnswerMeta {
    AnswerMeta {
        repos: a.repos.iter().cloned().map(Into::into).collect(),
        tokens: TokensDto {
            returned: a.tokens.returned,
            full: a.tokens.full,
            saved: a.tokens.saved(),
        },
        shortened: a.shortened.clone(),
    }
}

/// `GET /v1/search` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The query.
    pub q: String,
    /// Repo id or name; default every indexed repo.
    pub repo: Option<String>,
    /// Path glob (`src/**/*.rs`) or substring.
    pub path: Option<String>,
    /// Language label (`python`, `rust`, …).
    pub lang: Option<String>,
    /// Most files (default 10, at most 100).
    pub limit: Option<usize>,
    /// `text` (default), `substring` or `regex`.
    pub mode: Option<String>,
    /// Match case (default: yes for substring/regex).
    pub case_sensitive: Option<bool>,
    /// Token budget of the answer.
    pub max_tokens: Option<u64>,
}

/// One matching line.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineDto {
    /// Line number.
    pub line: u32,
    /// Its text.
    pub text: String,
    /// Byte ranges of the matches in `text`.
    pub ranges: Vec<(u32, u32)>,
    /// How the line was found: always `text` (a lexical match).
    pub trust: &'static str,
    /// The innermost definition containing the line (found `syntactic`ally).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enclosing: Option<String>,
}

/// A file that matched.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHitDto {
    /// The repo.
    pub repo: RepoCommitDto,
    /// The file.
    pub file: FileDto,
    /// Matching lines shown.
    pub lines: Vec<LineDto>,
    /// Matching lines in the file.
    pub line_matches: u32,
    /// Text mode: the query's words this file contains.
    pub words: Vec<String>,
}

/// `GET /v1/search` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    /// Files, best first.
    pub results: Vec<SearchHitDto>,
    /// More files matched.
    pub more: bool,
    /// Text mode: the query's words found in no file.
    pub absent: Vec<String>,
    /// Commits, tokens, shortening.
    #[serde(flatten)]
    pub meta: AnswerMeta,
}

fn parse_mode(mode: Option<&str>) -> Result<SearchMode, ApiError> {
    match mode.map(str::to_ascii_lowercase).as_deref() {
        None | Some("text") => Ok(SearchMode::Text),
        Some("substring") => Ok(SearchMode::Substring),
        Some("regex") => Ok(SearchMode::Regex),
        Some(other) => Err(lettuce_engine::EngineError::from(lettuce_domain::ValidationError::new(
            "mode",
            format!("unknown mode `{other}`: use text, substring or regex"),
        ))
        .into()),
    }
}

/// Full-text search over the account's indexed repos.
#[utoipa::path(get, path = "/v1/search", tag = "code", security(("bearer" = [])), params(SearchParams),
    responses((status = 200, body = SearchResponse), (status = 400, description = "empty query, bad regex or glob", body = ErrorBody),
        (status = 404, description = "`repo_not_found`, `no_repos`", body = ErrorBody),
        (status = 503, description = "`repo_not_indexed`, `index_rebuilding`", body = ErrorBody)))]
pub(crate) async fn search(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> Result<Json<SearchResponse>, ApiError> {
    let req = SearchRequest {
        query: p.q,
        mode: parse_mode(p.mode.as_deref())?,
        case_sensitive: p.case_sensitive,
        repo: p.repo,
        path: p.path,
        lang: p.lang,
        max_results: p.limit,
        max_tokens: p.max_tokens,
    };
    let a = s.engine.navigator(&caller)?.search_code(req).await?;
    let meta = meta(&a);
    Ok(Json(SearchResponse {
        more: a.data.more,
        absent: a.data.absent,
        results: a
            .data
            .hits
            .into_iter()
            .map(|h| SearchHitDto {
                repo: h.repo.into(),
                file: h.hit.file.into(),
                line_matches: h.hit.line_matches,
                words: h.hit.words,
                lines: h
                    .hit
                    .lines
                    .into_iter()
                    .map(|l| LineDto {
                        line: l.line,
                        text: l.text,
                        ranges: l.ranges,
                        trust: lettuce_domain::code::Trust::Text.as_str(),
                        enclosing: l.enclosing,
                    })
                    .collect(),
            })
            .collect(),
        meta,
    }))
}

/// `GET /v1/symbols` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SymbolParams {
    /// Name, optionally qualified (`Client.send`).
    pub name: String,
    /// Repo id or name; default all.
    pub repo: Option<String>,
    /// Kind (`function`, `class`, …).
    pub kind: Option<String>,
    /// Path glob or substring.
    pub path: Option<String>,
    /// Language label.
    pub lang: Option<String>,
    /// Most definitions (default 10).
    pub limit: Option<usize>,
    /// Token budget.
    pub max_tokens: Option<u64>,
}

/// A definition that matched.
#[derive(Debug, Serialize, ToSchema)]
pub struct SymbolHitDto {
    /// The repo.
    pub repo: RepoCommitDto,
    /// The file.
    pub file: FileDto,
    /// The definition.
    pub symbol: SymbolDto,
    /// `exact`, `ignore_case` or `partial`.
    pub matched: &'static str,
    /// How it was found: `syntactic` (syntax tree), `text`, `precise`.
    pub trust: &'static str,
}

/// `GET /v1/symbols` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SymbolsResponse {
    /// Definitions, best first.
    pub symbols: Vec<SymbolHitDto>,
    /// Commits, tokens, shortening.
    #[serde(flatten)]
    pub meta: AnswerMeta,
}

/// Symbol definitions by name.
#[utoipa::path(get, path = "/v1/symbols", tag = "code", security(("bearer" = [])), params(SymbolParams),
    responses((status = 200, body = SymbolsResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn symbols(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(p): ApiQuery<SymbolParams>,
) -> Result<Json<SymbolsResponse>, ApiError> {
    let a = s
        .engine
        .navigator(&caller)?
        .find_symbol(SymbolRequest {
            name: p.name,
            kind: p.kind,
            repo: p.repo,
            path: p.path,
            lang: p.lang,
            limit: p.limit,
            max_tokens: p.max_tokens,
        })
        .await?;
    let meta = meta(&a);
    Ok(Json(SymbolsResponse {
        symbols: a
            .data
            .into_iter()
            .map(|h| SymbolHitDto {
                repo: h.repo.into(),
                file: h.hit.file.into(),
                matched: match h.hit.matched {
                    lettuce_ports::index::NameMatch::Exact => "exact",
                    lettuce_ports::index::NameMatch::IgnoreCase => "ignore_case",
                    lettuce_ports::index::NameMatch::Partial => "partial",
                },
                trust: h.hit.trust.as_str(),
                symbol: h.hit.symbol.into(),
            })
            .collect(),
        meta,
    }))
}

/// `GET /v1/repos/{id}/outline` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutlineParams {
    /// File path in the repo.
    pub path: String,
    /// Token budget.
    pub max_tokens: Option<u64>,
}

/// An outline node.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutlineNodeDto {
    /// The definition.
    #[serde(flatten)]
    pub symbol: SymbolDto,
    /// Nested definitions.
    #[schema(no_recursion)]
    pub children: Vec<OutlineNodeDto>,
}

impl From<OutlineNode> for OutlineNodeDto {
    fn from(n: OutlineNode) -> Self {
        Self {
            symbol: n.symbol.into(),
            children: n.children.into_iter().map(Into::into).collect(),
        }
    }
}

/// `GET /v1/repos/{id}/outline` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutlineResponse {
    /// The file.
    pub file: FileDto,
    /// Top-level definitions, nested.
    pub symbols: Vec<OutlineNodeDto>,
    /// Commits, tokens, shortening.
    #[serde(flatten)]
    pub meta: AnswerMeta,
}

/// A file's definitions, nested, with line ranges.
#[utoipa::path(get, path = "/v1/repos/{id}/outline", tag = "code", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "repo id"), OutlineParams),
    responses((status = 200, body = OutlineResponse), (status = 400, description = "bad path (`..`, absolute)", body = ErrorBody),
        (status = 404, description = "`repo_not_found`, `file_not_found`", body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn outline(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(p): ApiQuery<OutlineParams>,
) -> Result<Json<OutlineResponse>, ApiError> {
    let a = s
        .engine
        .navigator(&caller)?
        .file_outline(FileRequest {
            repo: Some(id.to_string()),
            path: p.path,
            start: None,
            end: None,
            max_tokens: p.max_tokens,
        })
        .await?;
    let meta = meta(&a);
    Ok(Json(OutlineResponse {
        file: a.data.file.into(),
        symbols: a.data.symbols.into_iter().map(Into::into).collect(),
        meta,
    }))
}

/// `GET /v1/repos/{id}/file` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FileParams {
    /// File path in the repo.
    pub path: String,
    /// First line (1-based; default 1).
    pub start: Option<u32>,
    /// Last line (inclusive; default the end).
    pub end: Option<u32>,
    /// Token budget.
    pub max_tokens: Option<u64>,
}

/// `GET /v1/repos/{id}/file` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileResponse {
    /// The file.
    pub file: FileDto,
    /// First line returned.
    pub start: u32,
    /// Last line returned.
    pub end: u32,
    /// The lines.
    pub text: String,
    /// Commits, tokens, shortening.
    #[serde(flatten)]
    pub meta: AnswerMeta,
}

/// A line range of one file (shortened to the budget, saying where to continue).
#[utoipa::path(get, path = "/v1/repos/{id}/file", tag = "code", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "repo id"), FileParams),
    responses((status = 200, body = FileResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn file(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(p): ApiQuery<FileParams>,
) -> Result<Json<FileResponse>, ApiError> {
    let a = s
        .engine
        .navigator(&caller)?
        .read_file(FileRequest {
            repo: Some(id.to_string()),
            path: p.path,
            start: p.start,
            end: p.end,
            max_tokens: p.max_tokens,
        })
        .await?;
    let meta = meta(&a);
    Ok(Json(FileResponse {
        file: a.data.file.into(),
        start: a.data.start,
        end: a.data.end,
        text: a.data.text,
        meta,
    }))
}

/// `GET /v1/usage` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// Days back, today included (1–366, default 30).
    pub days: Option<u32>,
}

/// Counters of a day or a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageCountersDto {
    /// Answers served.
    pub queries: u64,
    /// Tokens the answers contained.
    pub tokens_returned: u64,
    /// Tokens of the files they stood for.
    pub tokens_full: u64,
    /// Tokens saved.
    pub tokens_saved: u64,
}

/// One day.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageDayDto {
    /// The day (UTC).
    pub date: String,
    /// Its counters.
    #[serde(flatten)]
    pub counters: UsageCountersDto,
}

/// `GET /v1/usage` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageResponse {
    /// Token encoding of the counts.
    pub encoding: String,
    /// First day.
    pub from: String,
    /// Last day (today).
    pub to: String,
    /// Days with usage, oldest first.
    pub days: Vec<UsageDayDto>,
    /// Sum over the period.
    pub total: UsageCountersDto,
    /// Sum over the period per tool, most queries first.
    pub tools: Vec<ToolUsageDto>,
}

/// One tool's counters over the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolUsageDto {
    /// The tool (`find_symbol`, `search_code`, …).
    pub tool: String,
    /// Its counters.
    #[serde(flatten)]
    pub counters: UsageCountersDto,
}

fn counters(c: lettuce_ports::store::UsageCounters) -> UsageCountersDto {
    UsageCountersDto {
        queries: c.queries,
        tokens_returned: c.tokens_returned,
        tokens_full: c.tokens_full,
        tokens_saved: c.tokens_saved,
    }
}

/// Tokens returned and saved by the account's navigation answers, per day.
#[utoipa::path(get, path = "/v1/usage", tag = "code", security(("bearer" = [])), params(UsageParams),
    responses((status = 200, body = UsageResponse), (status = 400, body = ErrorBody)))]
pub(crate) async fn usage(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(p): ApiQuery<UsageParams>,
) -> Result<Json<UsageResponse>, ApiError> {
    let r = s.engine.usage(&caller, p.days.unwrap_or(30)).await?;
    Ok(Json(UsageResponse {
        encoding: r.encoding.to_owned(),
        from: r.from.to_string(),
        to: r.to.to_string(),
        days: r
            .days
            .into_iter()
            .map(|d| UsageDayDto {
                date: d.date.to_string(),
                counters: counters(d.counters),
            })
            .collect(),
        total: counters(r.total),
        tools: r
            .tools
            .into_iter()
            .map(|t| ToolUsageDto {
                tool: t.tool,
                counters: counters(t.counters),
            })
            .collect(),
    }))
}
