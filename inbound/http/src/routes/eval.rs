//! `lettuce eval` over the API: start a run of a repo, read its latest run.

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, Auth, OptionalJson};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use lettuce_domain::RepoId;
use lettuce_domain::eval::{EvalMethods, EvalQuestion, EvalReport, EvalRun, LocateVsGrep, MethodScore};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /v1/repos/{id}/eval` body (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvalBody {
    /// Commits to replay as questions (default 50, 1 to 200).
    pub commits: Option<u32>,
}

/// One method's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct MethodScoreDto {
    /// Questions asked.
    pub questions: u32,
    /// Percent of questions with a changed file at rank 1.
    pub acc_at_1: f64,
    /// … within the first 3.
    pub acc_at_3: f64,
    /// … within the first 5.
    pub acc_at_5: f64,
    /// Mean reciprocal rank of the first changed file (within the first 10).
    pub mrr: f64,
    /// Tokens an agent reads per question (grep: the first 3 files whole).
    pub tokens_per_question: f64,
    /// Answers without any file.
    pub empty_answers: u32,
}

impl From<MethodScore> for MethodScoreDto {
    fn from(m: MethodScore) -> Self {
        Self {
            questions: m.questions,
            acc_at_1: m.acc_at_1,
            acc_at_3: m.acc_at_3,
            acc_at_5: m.acc_at_5,
            mrr: m.mrr,
            tokens_per_question: m.tokens_per_question,
            empty_answers: m.empty_answers,
        }
    }
}

/// Figures per method.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvalMethodsDto {
    /// `search_code` with the subject (retried with its content words when empty).
    pub search_code: MethodScoreDto,
    /// `locate` with the subject.
    pub locate: MethodScoreDto,
    /// The grep baseline: files ranked by lines matching a content word
    /// (`rg -c -i -w`), the first 3 read whole.
    pub grep: MethodScoreDto,
}

impl From<EvalMethods> for EvalMethodsDto {
    fn from(m: EvalMethods) -> Self {
        Self {
            search_code: m.search_code.into(),
            locate: m.locate.into(),
            grep: m.grep.into(),
        }
    }
}

/// `locate` against the grep baseline.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocateVsGrepDto {
    /// `locate`'s Acc@3 over grep's (null when grep's is 0).
    pub acc_at_3_ratio: Option<f64>,
    /// grep's tokens per question over `locate`'s.
    pub fewer_tokens: Option<f64>,
}

impl From<LocateVsGrep> for LocateVsGrepDto {
    fn from(r: LocateVsGrep) -> Self {
        Self {
            acc_at_3_ratio: r.acc_at_3_ratio,
            fewer_tokens: r.fewer_tokens,
        }
    }
}

/// One question of a run and where each method ranked a changed file.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvalQuestionDto {
    /// The replayed commit.
    pub commit: String,
    /// Its subject line (the question).
    pub subject: String,
    /// Files it modified or deleted.
    pub changed: Vec<String>,
    /// Rank (1-based, within the first 10) of the first changed file in
    /// `search_code`'s answer; null for a miss.
    pub search_code_rank: Option<u32>,
    /// … in `locate`'s answer.
    pub locate_rank: Option<u32>,
    /// … in the grep baseline's ranking.
    pub grep_rank: Option<u32>,
    /// `locate`'s first files (at most 3).
    pub locate_files: Vec<String>,
}

impl From<EvalQuestion> for EvalQuestionDto {
    fn from(q: EvalQuestion) -> Self {
        Self {
            commit: q.commit,
            subject: q.subject,
            changed: q.changed,
            search_code_rank: q.search_code_rank,
            locate_rank: q.locate_rank,
            grep_rank: q.grep_rank,
            locate_files: q.locate_files,
        }
    }
}

/// The figures of a finished run: the JSON `lettuce eval --json` prints.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvalReportDto {
    /// The repository.
    pub repo: String,
    /// The commit whose history was replayed (the indexed commit).
    pub head: String,
    /// Questions asked.
    pub questions: u32,
    /// Figures per method.
    pub methods: EvalMethodsDto,
    /// `locate` against grep.
    pub locate_vs_grep: LocateVsGrepDto,
    /// Each question, newest commit first (empty for runs stored before
    /// questions were recorded).
    pub cases: Vec<EvalQuestionDto>,
}

impl From<EvalReport> for EvalReportDto {
    fn from(r: EvalReport) -> Self {
        Self {
            repo: r.repo,
            head: r.head,
            questions: r.questions,
            methods: r.methods.into(),
            locate_vs_grep: r.locate_vs_grep.into(),
            cases: r.cases.into_iter().map(Into::into).collect(),
        }
    }
}

/// Questions answered so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvalProgressDto {
    /// Answered.
    pub done: u32,
    /// In the run (0 until the commits are selected).
    pub total: u32,
}

/// The latest eval run of a repo.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvalRunDto {
    /// The repo.
    pub repo_id: Uuid,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// Commits asked for.
    pub commits: u32,
    /// Progress.
    pub progress: EvalProgressDto,
    /// When it was asked for.
    pub queued_at: DateTime<Utc>,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished or failed.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed (or the retry under way).
    pub error: Option<String>,
    /// The figures, once `done`.
    pub report: Option<EvalReportDto>,
}

impl From<EvalRun> for EvalRunDto {
    fn from(r: EvalRun) -> Self {
        Self {
            repo_id: r.repo_id.0,
            status: r.status.as_str().to_owned(),
            commits: r.commits,
            progress: EvalProgressDto {
                done: r.done,
                total: r.total,
            },
            queued_at: r.queued_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            error: r.error,
            report: r.report.map(Into::into),
        }
    }
}

/// Start an eval: replays the repo's last N commits as questions in the
/// background (202, status `queued`); read the figures with GET.
#[utoipa::path(post, path = "/v1/repos/{id}/eval", tag = "repos", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "repo id")),
    request_body(content = EvalBody, description = "optional"),
    responses(
        (status = 202, body = EvalRunDto),
        (status = 400, description = "`commits` outside 1..=200", body = ErrorBody),
        (status = 403, description = "license forbids indexing (`license_expired`, `license_locked`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`eval_running`: one is queued or running; `repo_not_indexed`: index the repo first", body = ErrorBody)))]
pub(crate) async fn start(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<Uuid>,
    OptionalJson(b): OptionalJson<EvalBody>,
) -> Result<(StatusCode, Json<EvalRunDto>), ApiError> {
    let run = s.engine.start_eval(&caller, RepoId(id), b.commits).await?;
    Ok((StatusCode::ACCEPTED, Json(run.into())))
}

/// The repo's latest eval run: status, progress and, once done, the
/// figures (Acc@1/3/5, MRR, tokens per question for `search_code`,
/// `locate` and the grep baseline).
#[utoipa::path(get, path = "/v1/repos/{id}/eval", tag = "repos", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "repo id")),
    responses(
        (status = 200, body = EvalRunDto),
        (status = 404, description = "`not_found` (no such repo) or `eval_not_found` (none ran yet: POST to start one)", body = ErrorBody)))]
pub(crate) async fn get(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<EvalRunDto>, ApiError> {
    Ok(Json(s.engine.eval_run(&caller, RepoId(id)).await?.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_has_the_cli_json_shape() {
        let mut r = EvalReport {
            repo: "acme/shop".into(),
            head: "h".into(),
            questions: 4,
            ..Default::default()
        };
        r.methods.locate.acc_at_3 = 50.0;
        r.methods.grep.acc_at_3 = 25.0;
        r.locate_vs_grep = LocateVsGrep::of(&r.methods.locate, &r.methods.grep);
        r.cases.push(EvalQuestion {
            commit: "c".into(),
            subject: "fix the thing".into(),
            changed: vec!["a.rs".into()],
            search_code_rank: None,
            locate_rank: Some(2),
            grep_rank: Some(5),
            locate_files: vec!["b.rs".into(), "a.rs".into()],
        });
        let cli = serde_json::to_value(&r).unwrap();
        let api = serde_json::to_value(EvalReportDto::from(r)).unwrap();
        assert_eq!(cli, api);
    }
}
