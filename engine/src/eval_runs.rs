//! Eval runs over the API: `POST /v1/repos/{id}/eval` queues an
//! [`EVAL_REPO_JOB`]; the worker replays the repo's indexed commit's
//! history with [`crate::run_eval`] against its mirror, recording progress
//! and the report in the metadata store (`GET /v1/repos/{id}/eval`), so
//! every process and replica sees the same run.

use crate::builder::Engine;
use crate::caller::Caller;
use crate::error::{EngineError, ErrorKind};
use crate::eval::{EvalPlan, EvalPorts, EvalSource, run_eval, scratch_repo_id};
use async_trait::async_trait;
use lettuce_domain::RepoId;
use lettuce_domain::eval::{DEFAULT_COMMITS, EvalRun, EvalStatus, MAX_COMMITS};
use lettuce_domain::license::LicensedAction;
use lettuce_ports::git::{GitMirror, RepoSnapshot};
use lettuce_ports::queue::NewJob;
use lettuce_ports::store::StoreError;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Kind of the job that runs an eval of a repo.
pub const EVAL_REPO_JOB: &str = "eval_repo";
/// Attempts of an eval job (a worker that dies mid-run starts it over).
pub(crate) const EVAL_MAX_ATTEMPTS: u32 = 3;

/// Snapshots from a repo's mirror.
pub(crate) struct MirrorSource {
    pub mirror: Arc<dyn GitMirror>,
    pub key: String,
}

#[async_trait]
impl EvalSource for MirrorSource {
    async fn snapshot(&self, commit: &str) -> Result<Arc<dyn RepoSnapshot>, EngineError> {
        Ok(self.mirror.snapshot(&self.key, commit).await?)
    }
}

fn eval_running(run: &EvalRun, name: &str) -> EngineError {
    let progress = if run.total > 0 {
        format!(", {}/{} questions", run.done, run.total)
    } else {
        String::new()
    };
    EngineError::Conflict {
        code: "eval_running",
        message: format!(
            "an eval of {name} is already {}{progress}; wait for it to finish (GET /v1/repos/{}/eval)",
            run.status.as_str(),
            run.repo_id
        ),
    }
}

impl Engine {
    /// Queues an eval of one of the caller's repos over its last `commits`
    /// usable commits (default [`DEFAULT_COMMITS`], 1 to [`MAX_COMMITS`]).
    /// Needs the repo indexed (`repo_not_indexed` otherwise) and no run of
    /// it queued or running (`eval_running`). Authorised like a re-index.
    pub async fn start_eval(&self, caller: &Caller, id: RepoId, commits: Option<u32>) -> Result<EvalRun, EngineError> {
        let u = caller.user()?;
        self.require_license_for(LicensedAction::Index).await?;
        let repo = self.inner.store.get_repo(u.account_id, id).await?;
        let commits = commits.unwrap_or(DEFAULT_COMMITS);
        if !(1..=MAX_COMMITS).contains(&commits) {
            return Err(EngineError::validation(
                "commits",
                format!("commits must be between 1 and {MAX_COMMITS} (got {commits})"),
            ));
        }
        if repo.indexed_commit.is_none() {
            return Err(EngineError::Conflict {
                code: "repo_not_indexed",
                message: format!(
                    "{} is not indexed yet (status {}); run the eval once it is ready",
                    repo.name,
                    repo.status.as_str()
                ),
            });
        }
        let run = EvalRun {
            repo_id: id,
            account_id: u.account_id,
            status: EvalStatus::Queued,
            commits,
            done: 0,
            total: 0,
            queued_at: self.inner.clock.now(),
            started_at: None,
            finished_at: None,
            error: None,
            report: None,
        };
        match self.inner.store.start_eval_run(&run).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                let current = self.inner.store.get_eval_run(id).await?.unwrap_or(run);
                return Err(eval_running(&current, &repo.name));
            }
            Err(e) => return Err(e.into()),
        }
        let job = NewJob::new(EVAL_REPO_JOB, json!({ "repo_id": id }))
            .dedup(format!("eval:{id}"))
            .max_attempts(EVAL_MAX_ATTEMPTS);
        if let Err(e) = self.enqueue(job).await {
            // Leave no run queued that no job will ever pick up.
            let mut failed = run.clone();
            failed.status = EvalStatus::Failed;
            failed.finished_at = Some(self.inner.clock.now());
            failed.error = Some("the job queue is unavailable; start the eval again".into());
            if let Err(undo) = self.inner.store.put_eval_run(&failed).await {
                tracing::error!(repo = %id, error = %undo, "could not mark an eval whose job failed to enqueue");
            }
            return Err(e.into());
        }
        tracing::info!(repo = %id, commits, "eval queued");
        Ok(run)
    }

    /// The latest eval run of one of the caller's repos; `eval_not_found`
    /// when none was ever started.
    pub async fn eval_run(&self, caller: &Caller, id: RepoId) -> Result<EvalRun, EngineError> {
        let u = caller.user()?;
        self.require_license_for(LicensedAction::Query).await?;
        let repo = self.inner.store.get_repo(u.account_id, id).await?;
        self.inner
            .store
            .get_eval_run(id)
            .await?
            .ok_or_else(|| EngineError::Navigation {
                kind: ErrorKind::NotFound,
                code: "eval_not_found",
                message: format!(
                    "no eval of {} has run yet; POST /v1/repos/{id}/eval (or the web app's Run eval button) to start one",
                    repo.name
                ),
            })
    }

    /// The latest eval run of a repo, if any (for pages listing the
    /// caller's repos, which were read with the caller's account already).
    pub async fn eval_run_if_any(&self, caller: &Caller, id: RepoId) -> Result<Option<EvalRun>, EngineError> {
        match self.eval_run(caller, id).await {
            Ok(r) => Ok(Some(r)),
            Err(EngineError::Navigation {
                code: "eval_not_found", ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Runs the queued eval of `repo_id` (the worker's [`EVAL_REPO_JOB`]).
    /// `Ok(true)` when the run ended (done or failed for good), `Ok(false)`
    /// when there was nothing to run; `Err` for a failure worth retrying.
    pub(crate) async fn run_eval_job(&self, repo_id: RepoId, last_attempt: bool) -> Result<bool, EngineError> {
        let e = &self.inner;
        let Some(mut run) = e.store.get_eval_run(repo_id).await? else {
            return Ok(false);
        };
        if !run.status.is_active() {
            return Ok(false); // a stale job of a finished run
        }
        let repo = match e.store.get_repo_unscoped(repo_id).await {
            Ok(r) => r,
            Err(StoreError::NotFound { .. }) => return Ok(false),
            Err(err) => return Err(err.into()),
        };
        let fail = |mut run: EvalRun, message: String| async move {
            tracing::warn!(repo = %repo_id, error = %message, "eval failed");
            run.status = EvalStatus::Failed;
            run.error = Some(message);
            run.finished_at = Some(self.inner.clock.now());
            self.put_run(&run).await.map(|()| true)
        };
        let Some(commit) = repo.indexed_commit.clone() else {
            return fail(
                run,
                format!(
                    "{} is not indexed any more; re-index it and start the eval again",
                    repo.name
                ),
            )
            .await;
        };
        let Some(search) = e.search.clone() else {
            return fail(
                run,
                "code search is not configured in this engine (no CodeSearch port)".into(),
            )
            .await;
        };
        run.status = EvalStatus::Running;
        run.started_at = Some(e.clock.now());
        run.done = 0;
        run.total = 0;
        run.error = None;
        self.put_run(&run).await?;

        let source = MirrorSource {
            mirror: e.mirror.clone(),
            key: repo_id.to_string(),
        };
        let ports = EvalPorts {
            indexer: e.indexer.clone(),
            search,
            tokens: e.tokens.clone(),
        };
        let plan = EvalPlan {
            repo_name: repo.name.clone(),
            account_id: repo.account_id,
            scratch: scratch_repo_id(repo_id),
            commits: run.commits as usize,
        };
        let progress = Arc::new((AtomicU32::new(0), AtomicU32::new(0)));
        let flusher = self.spawn_eval_flusher(run.clone(), progress.clone());
        let p = progress.clone();
        let report = |done: u32, total: u32| {
            p.0.store(done, Ordering::Relaxed);
            p.1.store(total, Ordering::Relaxed);
        };
        let outcome = match source.snapshot(&commit).await {
            Ok(head) => {
                run_eval(
                    &ports,
                    &source,
                    head,
                    &plan,
                    &report,
                    &tokio_util::sync::CancellationToken::new(),
                )
                .await
            }
            Err(err) => Err(err),
        };
        flusher.abort();
        let _ = flusher.await; // no progress write lands after the outcome's
        run.done = progress.0.load(Ordering::Relaxed);
        run.total = progress.1.load(Ordering::Relaxed);
        match outcome {
            Ok(report) => {
                run.status = EvalStatus::Done;
                run.finished_at = Some(e.clock.now());
                run.done = report.questions;
                run.total = report.questions;
                run.report = Some(report);
                self.put_run(&run).await?;
                tracing::info!(repo = %repo_id, questions = run.total, "eval done");
                Ok(true)
            }
            Err(err) if matches!(err.kind(), ErrorKind::Unavailable) && !last_attempt => {
                run.status = EvalStatus::Queued;
                run.error = Some(format!("{err}; retrying automatically"));
                self.put_run(&run).await?;
                Err(err)
            }
            Err(err) => fail(run, format!("eval failed: {err}")).await,
        }
    }

    /// Marks the run of `repo_id` failed after its job's last attempt.
    pub(crate) async fn eval_discarded(&self, repo_id: RepoId, message: &str) {
        if let Ok(Some(mut run)) = self.inner.store.get_eval_run(repo_id).await
            && run.status.is_active()
        {
            run.status = EvalStatus::Failed;
            run.error = Some(format!(
                "{message} (gave up after {EVAL_MAX_ATTEMPTS} attempts; start the eval again)"
            ));
            run.finished_at = Some(self.inner.clock.now());
            let _ = self.put_run(&run).await;
        }
    }

    async fn put_run(&self, run: &EvalRun) -> Result<(), EngineError> {
        match self.inner.store.put_eval_run(run).await {
            // Deleted meanwhile: nothing to record.
            Ok(()) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn spawn_eval_flusher(&self, run: EvalRun, progress: Arc<(AtomicU32, AtomicU32)>) -> tokio::task::JoinHandle<()> {
        let store = self.inner.store.clone();
        tokio::spawn(async move {
            let mut run = run;
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let now = (progress.0.load(Ordering::Relaxed), progress.1.load(Ordering::Relaxed));
                if now != (run.done, run.total) {
                    (run.done, run.total) = now;
                    if let Err(e) = store.put_eval_run(&run).await {
                        tracing::debug!(error = %e, "eval progress update failed");
                    }
                }
            }
        })
    }
}
