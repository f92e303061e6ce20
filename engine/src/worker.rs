//! The background worker: claims jobs from the queue and runs them.
//!
//! Jobs:
//! * [`INDEX_REPO_JOB`] — fetch the repo (clone the first time), record its
//!   head commit, index the snapshot. Status `pending → indexing → ready`, or
//!   `failed` with an actionable message.
//! * `delete_repo` — remove a deleted repo's mirror and index artifacts
//!   (and a left-over eval scratch index).
//! * [`EVAL_REPO_JOB`](crate::EVAL_REPO_JOB) — replay the repo's history as
//!   questions (`lettuce eval`, see `eval_runs.rs`); progress and the report
//!   go to the repo's eval run.
//! * [`TELEMETRY_JOB`](crate::TELEMETRY_JOB) — the hourly check that sends the
//!   daily heartbeat when it is due (see `telemetry.rs`).
//!
//! Each claimed job holds a lease that a heartbeat extends every third of the
//! lease. If the process dies the lease runs out and another worker (or this
//! one after a restart) runs the job again. On shutdown a running job gets
//! `shutdown_grace` to finish; otherwise its lease is released so it runs
//! again at once elsewhere.

use crate::builder::Engine;
use crate::error::EngineError;
use lettuce_domain::RepoId;
use lettuce_domain::backoff::retry_delay;
use lettuce_domain::license::LicensedAction;
use lettuce_domain::repo::{IndexProgress, Repo, RepoStatus, RepoUrl};
use lettuce_ports::git::{GitError, SyncRequest};
use lettuce_ports::index::{IndexRequest, ProgressSink};
use lettuce_ports::queue::{ClaimedJob, FailOutcome, QueueError};
use lettuce_ports::store::{RepoUpdate, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Kind of the job that indexes a repo.
pub const INDEX_REPO_JOB: &str = "index_repo";
/// Kind of the job that removes a deleted repo's mirror and index.
pub const DELETE_REPO_JOB: &str = "delete_repo";

/// Worker tuning.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs run at once by this process.
    pub concurrency: usize,
    /// Lease length; a dead worker's job runs again after at most this long.
    pub lease: Duration,
    /// Longest idle wait between queue polls (wake-ups may come sooner).
    pub poll_interval: Duration,
    /// Time a running job gets to finish on shutdown before it is released.
    pub shutdown_grace: Duration,
    /// Lease owner name (unique per process).
    pub owner: String,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 2,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(20),
            owner: format!("worker-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
        }
    }
}

/// Runs background jobs for an [`Engine`].
#[derive(Debug, Clone)]
pub struct Worker {
    engine: Engine,
    settings: WorkerSettings,
}

enum Outcome {
    /// Finished (successfully, or failed in a way only the user can fix).
    Done,
    /// Transient failure: try again later.
    Retry(String),
    /// Transient failure with a wait the remote asked for (a code host's
    /// rate limit): try again no earlier than that.
    RetryAfter(String, Duration),
}

impl Worker {
    /// A worker with default settings.
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            settings: WorkerSettings::default(),
        }
    }

    /// A worker with explicit settings.
    pub fn with_settings(engine: Engine, settings: WorkerSettings) -> Self {
        Self { engine, settings }
    }

    /// Runs until `cancel` fires, then drains in-flight jobs (see module docs).
    pub async fn run(self, cancel: CancellationToken) {
        let this = Arc::new(self);
        tracing::info!(owner = %this.settings.owner, concurrency = this.settings.concurrency, lease_secs = this.settings.lease.as_secs(), "worker started");
        let mut tasks = JoinSet::new();
        let mut error_backoff = Duration::from_millis(250);
        while !cancel.is_cancelled() {
            while tasks.try_join_next().is_some() {}
            let free = this.settings.concurrency.saturating_sub(tasks.len());
            let mut claimed = 0;
            if free > 0 {
                match this
                    .engine
                    .inner
                    .queue
                    .claim(&this.settings.owner, free, this.settings.lease)
                    .await
                {
                    Ok(jobs) => {
                        error_backoff = Duration::from_millis(250);
                        claimed = jobs.len();
                        for job in jobs {
                            let w = this.clone();
                            let c = cancel.clone();
                            tasks.spawn(async move { w.handle(job, c).await });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming jobs failed; backing off");
                        tokio::select! {
                            _ = cancel.cancelled() => break,
                            _ = tokio::time::sleep(error_backoff) => {}
                        }
                        error_backoff = (error_backoff * 2).min(Duration::from_secs(10));
                        continue;
                    }
                }
            }
            if claimed > 0 && tasks.len() < this.settings.concurrency {
                continue;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = this.engine.inner.queue.wait_for_work(this.settings.poll_interval), if tasks.len() < this.settings.concurrency => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        tracing::info!(running = tasks.len(), "worker stopping; draining in-flight jobs");
        while tasks.join_next().await.is_some() {}
        tracing::info!("worker stopped");
    }

    /// Claims and runs jobs until none is due; returns how many ran. For
    /// tests and one-shot tools.
    pub async fn run_until_idle(&self) -> Result<usize, EngineError> {
        let mut ran = 0;
        loop {
            let jobs = self
                .engine
                .inner
                .queue
                .claim(&self.settings.owner, 1, self.settings.lease)
                .await?;
            if jobs.is_empty() {
                return Ok(ran);
            }
            for job in jobs {
                self.handle(job, CancellationToken::new()).await;
                ran += 1;
            }
        }
    }

    async fn handle(&self, job: ClaimedJob, cancel: CancellationToken) {
        let repo = job
            .payload
            .get("repo_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let span = tracing::info_span!(
            "job",
            otel.name = %format!("job.{}", job.kind),
            otel.kind = "consumer",
            job.kind = %job.kind,
            job.id = %job.lease.job_id,
            job.attempt = job.lease.attempt,
            repo.id = %repo,
            outcome = tracing::field::Empty,
        );
        self.engine.continue_trace(&span, &job.payload);
        let kind = job.kind.clone();
        metrics::counter!("lettuce_jobs_claimed_total", "kind" => kind.clone()).increment(1);
        let timer = crate::observe::Timer::start();
        let record = |outcome: &'static str| {
            tracing::Span::current().record("outcome", outcome);
            metrics::counter!(format!("lettuce_jobs_{outcome}_total"), "kind" => kind.clone()).increment(1);
            metrics::histogram!("lettuce_job_duration_seconds", "kind" => kind.clone(), "outcome" => outcome)
                .record(timer.seconds());
        };
        async {
            let lease = job.lease.clone();
            let work = self.process(&job);
            tokio::pin!(work);
            let heartbeat = self.heartbeat(lease.clone());
            tokio::pin!(heartbeat);
            let outcome = tokio::select! {
                out = &mut work => Some(out),
                () = &mut heartbeat => None,
                _ = cancel.cancelled() => {
                    tokio::select! {
                        out = &mut work => Some(out),
                        () = &mut heartbeat => None,
                        _ = tokio::time::sleep(self.settings.shutdown_grace) => {
                            tracing::warn!("shutdown grace elapsed; releasing the job so it runs again");
                            record("released");
                            if let Err(e) = self.engine.inner.queue.release(&lease).await {
                                tracing::warn!(error = %e, "releasing the job failed; it runs again when its lease expires");
                            }
                            return;
                        }
                    }
                }
            };
            let Some(outcome) = outcome else {
                tracing::warn!("lease lost (another worker took over); dropping this run");
                record("lost");
                return;
            };
            let queue = &self.engine.inner.queue;
            let wait = match &outcome {
                Ok(Outcome::RetryAfter(_, w)) => *w,
                _ => Duration::ZERO,
            };
            let result = match outcome {
                Ok(Outcome::Done) => {
                    record("completed");
                    queue.complete(&lease).await
                }
                Ok(Outcome::Retry(msg)) | Ok(Outcome::RetryAfter(msg, _)) | Err(RetryableError(msg)) => {
                    let delay = retry_delay(lease.attempt, rand::random::<f64>()).max(wait);
                    let retry_at = self.engine.inner.clock.now() + chrono::Duration::from_std(delay).unwrap_or_default();
                    match queue.fail(&lease, &msg, retry_at).await {
                        Ok(FailOutcome::Retrying(at)) => {
                            record("retried");
                            tracing::warn!(error = %msg, retry_at = %at, "job failed; will retry");
                            Ok(())
                        }
                        Ok(FailOutcome::Discarded) => {
                            record("dead_lettered");
                            tracing::error!(error = %msg, "job failed on its last attempt; moved to the dead-letter list");
                            self.on_discarded(&job, &msg).await;
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            match result {
                Ok(()) => {}
                Err(QueueError::LeaseLost { .. }) => tracing::warn!("lease lost before the result was recorded; the job will run again"),
                Err(e) => tracing::error!(error = %e, "recording the job result failed; it will run again when its lease expires"),
            }
        }
        .instrument(span)
        .await
    }

    /// Extends the lease until it is lost; returns only when it was lost.
    async fn heartbeat(&self, mut lease: lettuce_ports::queue::Lease) {
        let every = self.settings.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            match self.engine.inner.queue.heartbeat(&lease, self.settings.lease).await {
                Ok(l) => lease = l,
                Err(QueueError::LeaseLost { .. }) => return,
                Err(e) => tracing::warn!(error = %e, "heartbeat failed; retrying"),
            }
        }
    }

    async fn process(&self, job: &ClaimedJob) -> Result<Outcome, RetryableError> {
        if job.kind == crate::TELEMETRY_JOB {
            return match self.engine.run_telemetry_job(job.lease.attempt, job.max_attempts).await {
                Ok(crate::TelemetryRun::Failed { error, retry: true }) => Err(RetryableError(error.message)),
                Ok(_) => Ok(Outcome::Done),
                Err(e) => Err(RetryableError(e.to_string())),
            };
        }
        if job.kind == crate::freshness::WEBHOOK_CHECK_JOB {
            return match self.engine.check_webhooks().await {
                Ok(_) => Ok(Outcome::Done),
                Err(e) => Err(RetryableError(e.to_string())),
            };
        }
        let repo_id = job
            .payload
            .get("repo_id")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<RepoId>().ok());
        let Some(repo_id) = repo_id else {
            tracing::error!(payload = %job.payload, "job has no valid repo_id; dropping it");
            return Ok(Outcome::Done);
        };
        match job.kind.as_str() {
            INDEX_REPO_JOB => self.index_repo(repo_id, job).await,
            DELETE_REPO_JOB => self.delete_repo_artifacts(repo_id).await,
            crate::eval_runs::EVAL_REPO_JOB => {
                let last = job.lease.attempt >= job.max_attempts;
                match self.engine.run_eval_job(repo_id, last).await {
                    Ok(_) => Ok(Outcome::Done),
                    Err(err) => Err(RetryableError(err.to_string())),
                }
            }
            other => {
                tracing::error!(kind = other, "unknown job kind; dropping it");
                Ok(Outcome::Done)
            }
        }
    }

    async fn delete_repo_artifacts(&self, repo_id: RepoId) -> Result<Outcome, RetryableError> {
        let e = &self.engine.inner;
        match e.store.get_repo_unscoped(repo_id).await {
            // The delete request failed after enqueueing this job: the repo
            // lives on, so its mirror and index must too.
            Ok(_) => return Ok(Outcome::Done),
            Err(StoreError::NotFound { .. }) => {}
            Err(err) => return Err(RetryableError(err.to_string())),
        }
        e.mirror
            .remove(&repo_id.to_string())
            .await
            .map_err(|err| RetryableError(err.to_string()))?;
        e.indexer
            .delete(repo_id)
            .await
            .map_err(|err| RetryableError(err.to_string()))?;
        e.indexer
            .delete(crate::eval::scratch_repo_id(repo_id))
            .await
            .map_err(|err| RetryableError(err.to_string()))?;
        Ok(Outcome::Done)
    }

    async fn update(&self, id: RepoId, mut update: RepoUpdate) -> Result<Option<Repo>, RetryableError> {
        update.updated_at = Some(self.engine.inner.clock.now());
        match self.engine.inner.store.update_repo(id, update).await {
            Ok(r) => Ok(Some(r)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(RetryableError(format!("updating repo status failed: {e}"))),
        }
    }

    async fn fail_repo(&self, id: RepoId, message: String) -> Result<Outcome, RetryableError> {
        tracing::warn!(repo = %id, error = %message, "indexing failed");
        self.update(
            id,
            RepoUpdate {
                status: Some(RepoStatus::Failed),
                error: Some(Some(message)),
                ..Default::default()
            },
        )
        .await?;
        Ok(Outcome::Done)
    }

    async fn on_discarded(&self, job: &ClaimedJob, msg: &str) {
        if job.kind == crate::eval_runs::EVAL_REPO_JOB {
            if let Some(id) = job
                .payload
                .get("repo_id")
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse().ok())
            {
                self.engine.eval_discarded(id, msg).await;
            }
            return;
        }
        if job.kind != INDEX_REPO_JOB {
            return;
        }
        if let Some(id) = job
            .payload
            .get("repo_id")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok())
        {
            let message = format!(
                "{msg} (gave up after {} attempts; use re-index to try again)",
                job.max_attempts
            );
            let _ = self.fail_repo(id, message).await;
        }
    }

    async fn index_repo(&self, repo_id: RepoId, job: &ClaimedJob) -> Result<Outcome, RetryableError> {
        let e = &self.engine.inner;
        let repo = match e.store.get_repo_unscoped(repo_id).await {
            Ok(r) => r,
            Err(StoreError::NotFound { .. }) => return Ok(Outcome::Done),
            Err(err) => return Err(RetryableError(err.to_string())),
        };
        if let Err(err) = self.engine.require_license_for(LicensedAction::Index).await {
            return self.fail_repo(repo_id, err.to_string()).await;
        }
        let started = RepoUpdate {
            status: Some(RepoStatus::Indexing),
            error: Some(None),
            progress: Some(IndexProgress::default()),
            ..Default::default()
        };
        if self.update(repo_id, started).await?.is_none() {
            return Ok(Outcome::Done);
        }
        let url = match RepoUrl::parse(&repo.url) {
            Ok(u) => u,
            Err(err) => return self.fail_repo(repo_id, err.to_string()).await,
        };
        let host = crate::observe::host_label(&url);
        let creds = match self.engine.clone_credentials(&repo, &url).await {
            Ok(c) => c,
            Err(crate::repos::CredentialError::Git(err)) => return self.git_failure(repo_id, job, err).await,
            Err(err) => return self.fail_repo(repo_id, err.to_string()).await,
        };
        let req = SyncRequest {
            key: repo_id.to_string(),
            url: url.with_credentials(creds),
            branch: repo.branch.clone(),
        };
        let fetch_span = tracing::info_span!(
            "git.fetch",
            otel.kind = "client",
            server.address = %host,
            git.branch = ?repo.branch,
            git.commit = tracing::field::Empty,
        );
        let timer = crate::observe::Timer::start();
        let synced = e.mirror.sync(&req).instrument(fetch_span.clone()).await;
        metrics::histogram!("lettuce_git_fetch_duration_seconds", "host" => host.clone()).record(timer.seconds());
        let synced = match synced {
            Ok(s) => {
                fetch_span.record("git.commit", s.commit.as_str());
                s
            }
            Err(err) => {
                metrics::counter!("lettuce_git_fetch_failures_total", "host" => host).increment(1);
                return self.git_failure(repo_id, job, err).await;
            }
        };
        tracing::info!(repo = %repo_id, commit = %synced.commit, branch = %synced.branch, "fetched");
        let snapshot = match e.mirror.snapshot(&req.key, &synced.commit).await {
            Ok(s) => s,
            Err(err) => return self.git_failure(repo_id, job, err).await,
        };
        let progress = Arc::new(Progress::default());
        let flusher = self.spawn_progress_flusher(repo_id, progress.clone());
        let index_span = tracing::info_span!(
            "index.run",
            indexer = e.indexer.name(),
            index.files_parsed = tracing::field::Empty,
            index.files_reused = tracing::field::Empty,
            index.bytes = tracing::field::Empty,
        );
        let timer = crate::observe::Timer::start();
        let result = e
            .indexer
            .index(IndexRequest {
                repo_id,
                account_id: repo.account_id,
                snapshot,
                previous_commit: repo.indexed_commit.clone(),
                progress: progress.clone(),
            })
            .instrument(index_span.clone())
            .await;
        flusher.abort();
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::histogram!("lettuce_index_duration_seconds", "outcome" => outcome).record(timer.seconds());
        if let Ok(summary) = &result {
            index_span.record("index.files_parsed", summary.files_processed);
            index_span.record("index.files_reused", summary.files_reused);
            index_span.record("index.bytes", summary.bytes_processed);
            metrics::counter!("lettuce_index_files_total", "result" => "parsed").increment(summary.files_processed);
            metrics::counter!("lettuce_index_files_total", "result" => "reused").increment(summary.files_reused);
            metrics::counter!("lettuce_index_bytes_total").increment(summary.bytes_processed);
        }
        match result {
            Ok(summary) => {
                let done = RepoUpdate {
                    status: Some(RepoStatus::Ready),
                    indexed_commit: Some(Some(synced.commit.clone())),
                    error: Some(None),
                    progress: Some(IndexProgress {
                        files_done: summary.files_total,
                        files_total: summary.files_total,
                    }),
                    indexed_at: Some(e.clock.now()),
                    ..Default::default()
                };
                if self.update(repo_id, done).await?.is_none() {
                    // Deleted while we indexed: do not leave artifacts behind.
                    return self.delete_repo_artifacts(repo_id).await;
                }
                tracing::info!(repo = %repo_id, commit = %synced.commit, files = summary.files_total, processed = summary.files_processed, reused = summary.files_reused, "indexed");
                Ok(Outcome::Done)
            }
            Err(err) if err.is_retryable() && job.lease.attempt < job.max_attempts => {
                self.retry_later(repo_id, job, err.to_string()).await
            }
            Err(err) if err.is_retryable() => Err(RetryableError(err.to_string())),
            Err(err) => self.fail_repo(repo_id, format!("indexing failed: {err}")).await,
        }
    }

    async fn git_failure(&self, repo_id: RepoId, job: &ClaimedJob, err: GitError) -> Result<Outcome, RetryableError> {
        if err.is_retryable() {
            if job.lease.attempt < job.max_attempts {
                let outcome = self.retry_later(repo_id, job, err.to_string()).await?;
                return Ok(match (outcome, err.retry_after()) {
                    (Outcome::Retry(msg), Some(wait)) => Outcome::RetryAfter(msg, wait),
                    (outcome, _) => outcome,
                });
            }
            return Err(RetryableError(err.to_string()));
        }
        self.fail_repo(repo_id, err.to_string()).await
    }

    async fn retry_later(&self, repo_id: RepoId, job: &ClaimedJob, message: String) -> Result<Outcome, RetryableError> {
        let note = format!(
            "attempt {} of {} failed: {message}; retrying automatically",
            job.lease.attempt, job.max_attempts
        );
        self.update(
            repo_id,
            RepoUpdate {
                status: Some(RepoStatus::Pending),
                error: Some(Some(note)),
                ..Default::default()
            },
        )
        .await?;
        Ok(Outcome::Retry(message))
    }

    fn spawn_progress_flusher(&self, repo_id: RepoId, progress: Arc<Progress>) -> tokio::task::JoinHandle<()> {
        let store = self.engine.inner.store.clone();
        let clock = self.engine.inner.clock.clone();
        tokio::spawn(async move {
            let mut last = (0, 0);
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let now = (
                    progress.done.load(Ordering::Relaxed),
                    progress.total.load(Ordering::Relaxed),
                );
                if now != last {
                    last = now;
                    let update = RepoUpdate {
                        progress: Some(IndexProgress {
                            files_done: now.0,
                            files_total: now.1,
                        }),
                        updated_at: Some(clock.now()),
                        ..Default::default()
                    };
                    if let Err(e) = store.update_repo(repo_id, update).await {
                        tracing::debug!(error = %e, "progress update failed");
                    }
                }
            }
        })
    }
}

/// A failure worth retrying, carried to the queue's `fail`.
struct RetryableError(String);

#[derive(Debug, Default)]
struct Progress {
    done: AtomicU64,
    total: AtomicU64,
}

impl ProgressSink for Progress {
    fn report(&self, done: u64, total: u64) {
        self.done.store(done, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }
}
