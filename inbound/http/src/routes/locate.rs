//! `GET /v1/locate` and `POST /v1/locate`: the files a task is likely to
//! change (the `locate` MCP tool as JSON). GET takes the task in `q`; POST
//! takes it in a JSON body, for descriptions longer than a URL comfortably
//! carries (both accept up to 8 KB).

use super::code::{AnswerMeta, SymbolDto, meta};
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Auth};
use axum::Json;
use axum::extract::State;
use lettuce_engine::{LocateAnswer, LocateRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /v1/locate` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocateParams {
    /// The task: an issue title and body, a commit subject or a question (up to 8 KB).
    pub q: String,
    /// Repo id or name (needed when several are indexed).
    pub repo: Option<String>,
    /// Most files (default 8, at most 30).
    pub max_files: Option<usize>,
    /// Token budget of the answer (default 1500).
    pub max_tokens: Option<u64>,
}

/// `POST /v1/locate` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocateBody {
    /// The task: an issue title and body, a commit subject or a question (up to 8 KB).
    pub task: String,
    /// Repo id or name (needed when several are indexed).
    #[serde(default)]
    pub repo: Option<String>,
    /// Most files (default 8, at most 30).
    #[serde(default)]
    pub max_files: Option<usize>,
    /// Token budget of the answer (default 1500).
    #[serde(default)]
    pub max_tokens: Option<u64>,
}

/// A definition that matters in a located file.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocatedDefinitionDto {
    /// The definition.
    #[serde(flatten)]
    pub symbol: SymbolDto,
    /// How it was found: `syntactic`, `text` or `precise`.
    pub trust: &'static str,
    /// Why it matters.
    pub why: String,
}

/// A file `locate` proposes.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocatedFileDto {
    /// Path in the repo.
    pub path: String,
    /// Combined score (comparable within one answer).
    pub score: f32,
    /// One line: the words, names and links that put it here.
    pub reason: String,
    /// How the strongest evidence was found: `syntactic` or `text`.
    pub trust: &'static str,
    /// The definitions that matter, with line ranges.
    pub definitions: Vec<LocatedDefinitionDto>,
}

/// `locate` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocateResponse {
    /// Files, most likely first.
    pub files: Vec<LocatedFileDto>,
    /// The task's words found in no file.
    pub absent: Vec<String>,
    /// The answer as text (what the MCP tool returns).
    pub text: String,
    /// Commits, tokens, shortening.
    #[serde(flatten)]
    pub meta: AnswerMeta,
}

async fn answer(
    s: AppState,
    caller: lettuce_engine::Caller,
    req: LocateRequest,
) -> Result<Json<LocateResponse>, ApiError> {
    let a = s.engine.navigator(&caller)?.locate(req).await?;
    let meta = meta(&a);
    let LocateAnswer { files, absent, .. } = a.data;
    Ok(Json(LocateResponse {
        files: files
            .into_iter()
            .map(|f| LocatedFileDto {
                path: f.path,
                score: f.score,
                reason: f.reason,
                trust: f.trust.as_str(),
                definitions: f
                    .definitions
                    .into_iter()
                    .map(|d| LocatedDefinitionDto {
                        symbol: d.symbol.into(),
                        trust: d.trust.as_str(),
                        why: d.why,
                    })
                    .collect(),
            })
            .collect(),
        absent,
        text: a.text,
        meta,
    }))
}

/// The files a task most likely changes, with the definitions that matter.
#[utoipa::path(get, path = "/v1/locate", tag = "code", security(("bearer" = [])), params(LocateParams),
    responses((status = 200, body = LocateResponse), (status = 400, description = "empty or over-long task", body = ErrorBody),
        (status = 404, description = "`repo_not_found`, `no_repos`", body = ErrorBody),
        (status = 503, description = "`repo_not_indexed`, `index_rebuilding`", body = ErrorBody)))]
pub(crate) async fn get(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiQuery(p): ApiQuery<LocateParams>,
) -> Result<Json<LocateResponse>, ApiError> {
    let req = LocateRequest {
        task: p.q,
        repo: p.repo,
        max_files: p.max_files,
        max_tokens: p.max_tokens,
    };
    answer(s, caller, req).await
}

/// The same as `GET /v1/locate`, with the task in a JSON body.
#[utoipa::path(post, path = "/v1/locate", tag = "code", security(("bearer" = [])), request_body = LocateBody,
    responses((status = 200, body = LocateResponse), (status = 400, description = "empty or over-long task", body = ErrorBody),
        (status = 404, description = "`repo_not_found`, `no_repos`", body = ErrorBody),
        (status = 503, description = "`repo_not_indexed`, `index_rebuilding`", body = ErrorBody)))]
pub(crate) async fn post(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiJson(b): ApiJson<LocateBody>,
) -> Result<Json<LocateResponse>, ApiError> {
    let req = LocateRequest {
        task: b.task,
        repo: b.repo,
        max_files: b.max_files,
        max_tokens: b.max_tokens,
    };
    answer(s, caller, req).await
}
