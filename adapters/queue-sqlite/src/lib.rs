//! # lettuce-queue-sqlite
//!
//! A durable [`JobQueue`] on a single SQLite file: the embedded queue of a
//! one-node Lettuce install. It implements the whole port contract: leases
//! with fencing, retries with a dead-letter list, dedup keys that coalesce
//! pending jobs, and per-key exclusion of running jobs.
//!
//! ## Quick start
//!
//! ```no_run
//! # async fn demo() -> Result<(), lettuce_ports::queue::QueueError> {
//! use lettuce_ports::queue::{JobQueue, NewJob};
//! use lettuce_queue_sqlite::SqliteQueue;
//! use std::time::Duration;
//!
//! let queue = SqliteQueue::open(std::path::Path::new("/var/lib/lettuce/jobs.db")).await?;
//! queue.enqueue(NewJob::new("index_repo", serde_json::json!({"repo": 1})).dedup("repo:1")).await?;
//! for job in queue.claim("worker-1", 10, Duration::from_secs(60)).await? {
//!     // ... run it, heartbeating for long jobs ...
//!     queue.complete(&job.lease).await?;
//! }
//! # Ok(()) }
//! ```
//!
//! ## How it works
//!
//! * **Connections.** Every handle has one writer connection (a pool of
//!   size 1) and a small read pool. The file runs in WAL mode with
//!   `synchronous=NORMAL` (a commit survives a process crash; a power cut
//!   may lose the last few commits, never corrupt the file) and a
//!   `busy_timeout` of 10 s. Every read-then-write transaction starts with
//!   `BEGIN IMMEDIATE`, so it takes the write lock up front and waits on the
//!   busy timeout instead of failing with `SQLITE_BUSY` halfway through.
//!   Several handles — in one process or in several — may share one file.
//! * **Claims** are one short transaction: expired leases on their final
//!   attempt are moved to `discarded` ("worker lease expired on the final
//!   attempt"), then due `available` jobs and `running` jobs whose lease ran
//!   out are selected by `priority, run_at, id`, skipping any job whose dedup
//!   key belongs to another job running under an unexpired lease (and taking
//!   at most one job per dedup key per batch), and are marked `running` with
//!   `attempt + 1` and a fresh lease. Nothing stays locked while jobs run.
//! * **Fencing.** `complete`, `fail`, `heartbeat` and `release` match id,
//!   owner, attempt and `state = 'running'`; otherwise
//!   [`QueueError::LeaseLost`].
//! * **Dedup.** A partial unique index allows one `available` job per dedup
//!   key. Enqueueing another coalesces into it (its `run_at` and `priority`
//!   are pulled forward if the new job asks for earlier / more urgent work;
//!   its payload is kept). A job that goes back to `available` through `fail`
//!   or `release` while a newer job with its key is pending is *superseded*:
//!   it becomes `cancelled` with a `last_error` naming the pending job, and
//!   the pending job is pulled forward to the retry time.
//! * **Wake-ups.** [`JobQueue::wait_for_work`] returns at once if a job is
//!   claimable now; otherwise it sleeps until the next known due time
//!   (`run_at` of a delayed job, expiry of a running lease), at most `max`,
//!   and is woken early by enqueues (and by completions, failures and
//!   releases, which can unblock keyed jobs) made through any handle on the
//!   same file *in this process* (a [`tokio::sync::Notify`] shared per file).
//!   Enqueues by *other processes* are not signalled: they are picked up by
//!   the caller's polling (the engine waits at most a couple of seconds
//!   between claims).
//! * **Retention.** Completed and cancelled jobs older than
//!   [`SqliteQueueOptions::retention`] (7 days by default) are deleted
//!   opportunistically: when the queue is opened and every
//!   [`SqliteQueueOptions::purge_every_claims`] claims made through a handle.
//!   [`SqliteQueue::purge_finished`] does the same on demand. Discarded jobs
//!   (the dead-letter list) are never deleted by the queue.
//! * **Periodic jobs.** [`JobQueue::enqueue_periodic`] reserves `(name,
//!   slot)` in the `job_slots` table (primary key on both) with
//!   `INSERT OR IGNORE` in the same `BEGIN IMMEDIATE` transaction as the job
//!   insert, so every process may enqueue every slot and exactly one job is
//!   stored per slot. Slots are remembered after their job ran and are
//!   forgotten with the finished jobs, after the retention. The slot is
//!   stored as RFC 3339 text with nanoseconds, so distinct slots never
//!   collide.
//! * **Time** is the wall clock (`chrono::Utc::now()`), stored as Unix
//!   milliseconds; lease expiry and `run_at` are compared in milliseconds.
#![deny(missing_docs)]

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lettuce_domain::JobId;
use lettuce_ports::BoxError;
use lettuce_ports::queue::{
    ClaimedJob, EnqueueOutcome, FailOutcome, JobQueue, JobRecord, JobState, Lease, NewJob, QueueError, QueueStats,
    periodic_dedup_key, validate_new_job, validate_periodic_name,
};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Row};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

const BACKEND: &str = "sqlite";

/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// The message a job gets when its lease runs out on its last attempt.
pub const LEASE_EXPIRED_ON_FINAL_ATTEMPT: &str =
    "worker lease expired on the final attempt (the worker probably crashed)";

/// Longest `last_error` stored, in bytes (longer messages are cut at a
/// character boundary).
const MAX_ERROR_BYTES: usize = 8 * 1024;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS jobs (
    id               TEXT    PRIMARY KEY NOT NULL,
    kind             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('available', 'running', 'completed', 'discarded', 'cancelled')),
    priority         INTEGER NOT NULL DEFAULT 0,
    run_at           INTEGER NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    dedup_key        TEXT,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    completed_at     INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_fetch ON jobs (priority, run_at, id) WHERE state = 'available';
CREATE INDEX IF NOT EXISTS jobs_available_run_at ON jobs (run_at) WHERE state = 'available';
CREATE UNIQUE INDEX IF NOT EXISTS jobs_dedup_available ON jobs (dedup_key) WHERE state = 'available';
CREATE INDEX IF NOT EXISTS jobs_running_lease ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS jobs_running_dedup ON jobs (dedup_key) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS jobs_state_created ON jobs (state, created_at, id);
CREATE INDEX IF NOT EXISTS jobs_state_completed ON jobs (state, completed_at) WHERE completed_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS job_slots (
    name       TEXT    NOT NULL,
    slot       TEXT    NOT NULL,
    job_id     TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (name, slot)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS job_slots_created ON job_slots (created_at);
"#;

const RECORD_COLUMNS: &str =
    "id, kind, payload, state, attempt, max_attempts, dedup_key, run_at, last_error, created_at";

/// Tunables of a [`SqliteQueue`]; [`Default`] gives the documented values.
#[derive(Debug, Clone)]
pub struct SqliteQueueOptions {
    /// How long completed and cancelled jobs are kept (default 7 days).
    pub retention: Duration,
    /// Completed/cancelled jobs are purged once every this many `claim`
    /// calls through one handle (default 200; 0 disables the opportunistic
    /// purge except at open).
    pub purge_every_claims: u64,
    /// How long a statement waits for another connection's write lock
    /// before failing with a retryable error (default 10 s, minimum 5 s).
    pub busy_timeout: Duration,
    /// Connections in the read pool (default 2).
    pub read_connections: u32,
}

impl Default for SqliteQueueOptions {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(7 * 24 * 3600),
            purge_every_claims: 200,
            busy_timeout: Duration::from_secs(10),
            read_connections: 2,
        }
    }
}

/// A [`JobQueue`] stored in one SQLite file. Cheap to clone (clones share
/// the connections). See the crate docs for the design.
#[derive(Clone)]
pub struct SqliteQueue {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: SqlitePool,
    reader: SqlitePool,
    wake: Arc<Notify>,
    claims: AtomicU64,
    options: SqliteQueueOptions,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// Errors of this adapter before they become [`QueueError`]s.
#[derive(Debug, thiserror::Error)]
enum SqliteQueueError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error("cannot create directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("the queue file has schema version {found}, newer than this build understands ({SCHEMA_VERSION})")]
    SchemaTooNew { found: i64 },
    #[error("corrupt job row: {0}")]
    Corrupt(String),
}

impl From<SqliteQueueError> for QueueError {
    fn from(err: SqliteQueueError) -> Self {
        let retryable = match &err {
            SqliteQueueError::Sqlx(e) => sqlx_retryable(e),
            SqliteQueueError::CreateDir { .. } | SqliteQueueError::SchemaTooNew { .. } => false,
            SqliteQueueError::Corrupt(_) => false,
        };
        QueueError::Backend {
            backend: BACKEND,
            source: Box::new(err) as BoxError,
            retryable,
        }
    }
}

/// Busy/locked database, pool exhaustion and I/O hiccups may pass.
fn sqlx_retryable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            // Primary result code: SQLITE_BUSY = 5, SQLITE_LOCKED = 6
            // (extended codes such as SQLITE_BUSY_SNAPSHOT keep them in the low byte).
            .is_some_and(|code| matches!(code & 0xff, 5 | 6)),
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

fn db(err: sqlx::Error) -> QueueError {
    SqliteQueueError::Sqlx(err).into()
}

fn corrupt(msg: impl Into<String>) -> QueueError {
    SqliteQueueError::Corrupt(msg.into()).into()
}

/// Wake-up signals shared by every handle on the same file in this process.
fn shared_notify(path: &Path) -> Arc<Notify> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Weak<Notify>>>> = OnceLock::new();
    let mut map = REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    map.retain(|_, w| w.strong_count() > 0);
    if let Some(existing) = map.get(path).and_then(Weak::upgrade) {
        return existing;
    }
    let fresh = Arc::new(Notify::new());
    map.insert(path.to_path_buf(), Arc::downgrade(&fresh));
    fresh
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_ms(ms: i64) -> Result<DateTime<Utc>, QueueError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt(format!("timestamp {ms} out of range")))
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn to_u32(v: i64, what: &str) -> Result<u32, QueueError> {
    u32::try_from(v).map_err(|_| corrupt(format!("{what} {v} out of range")))
}

fn parse_id(s: &str) -> Result<JobId, QueueError> {
    s.parse::<JobId>().map_err(|e| corrupt(format!("job id {s:?}: {e}")))
}

fn truncate_error(msg: &str) -> String {
    if msg.len() <= MAX_ERROR_BYTES {
        return msg.to_owned();
    }
    let mut end = MAX_ERROR_BYTES;
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &msg[..end])
}

fn lease_lost(lease: &Lease) -> QueueError {
    QueueError::LeaseLost {
        job_id: lease.job_id,
        attempt: lease.attempt,
    }
}

fn record_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<JobRecord, QueueError> {
    let id: String = row.try_get("id").map_err(db)?;
    let payload: String = row.try_get("payload").map_err(db)?;
    let state: String = row.try_get("state").map_err(db)?;
    Ok(JobRecord {
        id: parse_id(&id)?,
        kind: row.try_get("kind").map_err(db)?,
        payload: serde_json::from_str(&payload).map_err(|e| corrupt(format!("payload of job {id}: {e}")))?,
        state: JobState::parse(&state).ok_or_else(|| corrupt(format!("state {state:?} of job {id}")))?,
        attempt: to_u32(row.try_get("attempt").map_err(db)?, "attempt")?,
        max_attempts: to_u32(row.try_get("max_attempts").map_err(db)?, "max_attempts")?,
        dedup_key: row.try_get("dedup_key").map_err(db)?,
        run_at: from_ms(row.try_get("run_at").map_err(db)?)?,
        last_error: row.try_get("last_error").map_err(db)?,
        created_at: from_ms(row.try_get("created_at").map_err(db)?)?,
    })
}

/// How a leased job goes back to `available` (see `make_available`).
struct Requeue<'a> {
    id: &'a str,
    dedup_key: Option<&'a str>,
    priority: i64,
    run_at: i64,
    /// Added to `attempt` (-1 for `release`, which does not count the attempt).
    attempt_delta: i64,
    last_error: Option<&'a str>,
    now: i64,
}

/// The row behind a current lease.
struct Fenced {
    attempt: i64,
    max_attempts: i64,
    dedup_key: Option<String>,
    priority: i64,
    run_at: i64,
}

/// A claim candidate.
struct Candidate {
    id: String,
    priority: i64,
    run_at: i64,
    dedup_key: Option<String>,
}

fn candidate_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Candidate, QueueError> {
    Ok(Candidate {
        id: row.try_get("id").map_err(db)?,
        priority: row.try_get("priority").map_err(db)?,
        run_at: row.try_get("run_at").map_err(db)?,
        dedup_key: row.try_get("dedup_key").map_err(db)?,
    })
}

impl SqliteQueue {
    /// Opens (creating if missing, with its parent directory) the queue file
    /// at `path` with the default [`SqliteQueueOptions`]: WAL, busy timeout
    /// 10 s, `synchronous=NORMAL`, schema created idempotently.
    pub async fn open(path: &Path) -> Result<Self, QueueError> {
        Self::open_with_options(path, SqliteQueueOptions::default()).await
    }

    /// Like [`SqliteQueue::open`] with explicit options.
    pub async fn open_with_options(path: &Path, options: SqliteQueueOptions) -> Result<Self, QueueError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|source| SqliteQueueError::CreateDir {
                    path: parent.to_path_buf(),
                    source,
                })?;
        }
        let busy_timeout = options.busy_timeout.max(Duration::from_secs(5));
        let base = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .busy_timeout(busy_timeout)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(false);

        Self::prepare_file(&base).await?;

        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(busy_timeout * 3)
            .connect_with(base.clone())
            .await
            .map_err(db)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .min_connections(0)
            .acquire_timeout(busy_timeout * 3)
            .connect_lazy_with(base.pragma("query_only", "ON"));

        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let queue = Self {
            inner: Arc::new(Inner {
                wake: shared_notify(&key),
                path: key,
                writer,
                reader,
                claims: AtomicU64::new(0),
                options,
            }),
        };
        queue.purge_opportunistically().await;
        Ok(queue)
    }

    /// Switches the file to WAL (a one-time, lock-hungry step that the busy
    /// timeout does not cover, hence the retry loop) and creates the schema.
    async fn prepare_file(base: &SqliteConnectOptions) -> Result<(), QueueError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match Self::try_prepare_file(base).await {
                Ok(()) => return Ok(()),
                Err(SqliteQueueError::Sqlx(e)) if sqlx_retryable(&e) && attempt < 50 => {
                    tracing::debug!(error = %e, attempt, "sqlite queue file busy while preparing; retrying");
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt.min(10)))).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn try_prepare_file(base: &SqliteConnectOptions) -> Result<(), SqliteQueueError> {
        let mut conn = base.connect().await?;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await?;
        if !mode.eq_ignore_ascii_case("wal") {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
                .fetch_one(&mut conn)
                .await?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(
                    mode,
                    "sqlite refused WAL mode for the job queue; continuing in {mode} mode"
                );
            }
        }
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *tx).await?;
        if version > SCHEMA_VERSION {
            return Err(SqliteQueueError::SchemaTooNew { found: version });
        }
        sqlx::raw_sql(SCHEMA).execute(&mut *tx).await?;
        if version < SCHEMA_VERSION {
            sqlx::raw_sql("PRAGMA user_version = 1").execute(&mut *tx).await?;
        }
        tx.commit().await?;
        conn.close().await?;
        Ok(())
    }

    /// The queue file (canonicalized).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Closes this handle's connections (clones share them). Pending calls
    /// finish first; later calls fail with a non-retryable error.
    pub async fn close(&self) {
        self.inner.writer.close().await;
        self.inner.reader.close().await;
    }

    /// Deletes `completed` and `cancelled` jobs that finished more than
    /// `older_than` ago; returns how many were deleted. Discarded jobs (the
    /// dead-letter list) are never deleted by the queue. Periodic slots
    /// ([`JobQueue::enqueue_periodic`]) reserved more than `older_than` ago
    /// are forgotten too (not counted in the result).
    pub async fn purge_finished(&self, older_than: Duration) -> Result<u64, QueueError> {
        let cutoff = now_ms().saturating_sub(duration_ms(older_than));
        let done = sqlx::query(
            "DELETE FROM jobs WHERE state IN ('completed', 'cancelled') AND completed_at IS NOT NULL \
             AND completed_at < ?1",
        )
        .bind(cutoff)
        .execute(&self.inner.writer)
        .await
        .map_err(db)?;
        sqlx::query("DELETE FROM job_slots WHERE created_at < ?1")
            .bind(cutoff)
            .execute(&self.inner.writer)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn purge_opportunistically(&self) {
        match self.purge_finished(self.inner.options.retention).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "purged finished jobs past retention"),
            Err(e) => tracing::warn!(error = %e, "could not purge finished jobs"),
        }
    }

    fn wake_workers(&self) {
        // Wake everyone waiting now, and leave one permit for a worker that is
        // between a claim and its next wait.
        self.inner.wake.notify_waiters();
        self.inner.wake.notify_one();
    }

    /// Whether `claim` would find something right now: a due available job
    /// whose key is free, or a running job whose lease ran out.
    async fn claimable_now(&self, now: i64) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM jobs j WHERE j.state = 'available' AND j.run_at <= ?1 \
                 AND (j.dedup_key IS NULL OR NOT EXISTS ( \
                   SELECT 1 FROM jobs r WHERE r.state = 'running' AND r.dedup_key = j.dedup_key \
                     AND r.lease_expires_at > ?1))) \
             OR EXISTS (SELECT 1 FROM jobs j WHERE j.state = 'running' AND j.lease_expires_at <= ?1 \
                 AND (j.dedup_key IS NULL OR NOT EXISTS ( \
                   SELECT 1 FROM jobs r WHERE r.state = 'running' AND r.dedup_key = j.dedup_key \
                     AND r.lease_expires_at > ?1 AND r.id <> j.id)))",
        )
        .bind(now)
        .fetch_one(&self.inner.reader)
        .await
    }

    /// The earliest future moment at which a job becomes due or a lease
    /// runs out, if any.
    async fn next_due_ms(&self, now: i64) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT MIN(t) FROM ( \
               SELECT MIN(run_at) AS t FROM jobs WHERE state = 'available' AND run_at > ?1 \
               UNION ALL \
               SELECT MIN(lease_expires_at) AS t FROM jobs WHERE state = 'running' AND lease_expires_at > ?1)",
        )
        .bind(now)
        .fetch_one(&self.inner.reader)
        .await
    }

    /// How long `wait_for_work` may sleep: 0 if something is claimable now,
    /// else until the next due time, at most `max`.
    async fn sleep_budget(&self, max: Duration) -> Result<Duration, sqlx::Error> {
        let now = now_ms();
        if self.claimable_now(now).await? {
            return Ok(Duration::ZERO);
        }
        Ok(match self.next_due_ms(now).await? {
            Some(at) => max.min(Duration::from_millis(u64::try_from(at - now).unwrap_or(0))),
            None => max,
        })
    }

    /// Returns a job to `available` at `run_at` (used by `fail` and
    /// `release`), or supersedes it when a newer job with its dedup key is
    /// already pending. Runs inside the caller's `BEGIN IMMEDIATE`
    /// transaction. Returns the time the work will run again.
    async fn make_available(tx: &mut sqlx::SqliteConnection, r: Requeue<'_>) -> Result<i64, QueueError> {
        let Requeue {
            id,
            dedup_key,
            priority,
            run_at,
            attempt_delta,
            last_error,
            now,
        } = r;
        let pending: Option<(String, i64)> = match dedup_key {
            Some(key) => {
                sqlx::query_as("SELECT id, run_at FROM jobs WHERE state = 'available' AND dedup_key = ?1 AND id <> ?2")
                    .bind(key)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?
            }
            None => None,
        };
        if let Some((pending_id, pending_run_at)) = pending {
            let note = match last_error {
                Some(err) => truncate_error(&format!("{err} (superseded by pending job {pending_id})")),
                None => format!("released; superseded by pending job {pending_id} with the same dedup key"),
            };
            sqlx::query(
                "UPDATE jobs SET state = 'cancelled', last_error = ?2, lease_expires_at = NULL, \
                 completed_at = ?3, updated_at = ?3 WHERE id = ?1",
            )
            .bind(id)
            .bind(note)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            let merged_run_at = pending_run_at.min(run_at);
            sqlx::query("UPDATE jobs SET run_at = ?2, priority = MIN(priority, ?3), updated_at = ?4 WHERE id = ?1")
                .bind(&pending_id)
                .bind(merged_run_at)
                .bind(priority)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            return Ok(merged_run_at);
        }
        sqlx::query(
            "UPDATE jobs SET state = 'available', run_at = ?2, attempt = attempt + ?3, \
             last_error = COALESCE(?4, last_error), lease_owner = NULL, lease_expires_at = NULL, updated_at = ?5 \
             WHERE id = ?1",
        )
        .bind(id)
        .bind(run_at)
        .bind(attempt_delta)
        .bind(last_error)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        Ok(run_at)
    }

    /// Reads the fenced row for a lease inside a transaction.
    async fn fenced_row(tx: &mut sqlx::SqliteConnection, lease: &Lease) -> Result<Fenced, QueueError> {
        let row: Option<(i64, i64, Option<String>, i64, i64)> = sqlx::query_as(
            "SELECT attempt, max_attempts, dedup_key, priority, run_at FROM jobs \
             WHERE id = ?1 AND lease_owner = ?2 AND attempt = ?3 AND state = 'running'",
        )
        .bind(lease.job_id.to_string())
        .bind(&lease.owner)
        .bind(i64::from(lease.attempt))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let (attempt, max_attempts, dedup_key, priority, run_at) = row.ok_or_else(|| lease_lost(lease))?;
        Ok(Fenced {
            attempt,
            max_attempts,
            dedup_key,
            priority,
            run_at,
        })
    }
}

fn serialize_payload(job: &NewJob) -> Result<String, QueueError> {
    serde_json::to_string(&job.payload).map_err(|e| QueueError::Invalid(format!("payload is not serializable: {e}")))
}

/// Stores `job` (validated) or coalesces it into the available job with its
/// dedup key, inside the caller's `BEGIN IMMEDIATE` transaction. Returns the
/// outcome and whether workers should be woken after the commit.
async fn enqueue_on(
    tx: &mut sqlx::SqliteConnection,
    job: &NewJob,
    payload: String,
    now: i64,
) -> Result<(EnqueueOutcome, bool), QueueError> {
    let run_at = job.run_at.map(to_ms).unwrap_or(now);
    if let Some(key) = job.dedup_key.as_deref() {
        let existing: Option<(String, i64)> =
            sqlx::query_as("SELECT id, run_at FROM jobs WHERE state = 'available' AND dedup_key = ?1")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if let Some((existing_id, existing_run_at)) = existing {
            sqlx::query(
                "UPDATE jobs SET run_at = MIN(run_at, ?2), priority = MIN(priority, ?3), updated_at = ?4 WHERE id = ?1",
            )
            .bind(&existing_id)
            .bind(run_at)
            .bind(i64::from(job.priority))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            return Ok((
                EnqueueOutcome::Coalesced(parse_id(&existing_id)?),
                run_at < existing_run_at,
            ));
        }
    }
    let id = JobId::from_uuid(Uuid::now_v7());
    sqlx::query(
        "INSERT INTO jobs (id, kind, payload, state, priority, run_at, attempt, max_attempts, dedup_key, \
         created_at, updated_at) VALUES (?1, ?2, ?3, 'available', ?4, ?5, 0, ?6, ?7, ?8, ?8)",
    )
    .bind(id.to_string())
    .bind(&job.kind)
    .bind(payload)
    .bind(i64::from(job.priority))
    .bind(run_at)
    .bind(i64::from(job.max_attempts))
    .bind(job.dedup_key.as_deref())
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    Ok((EnqueueOutcome::Enqueued(id), true))
}

#[async_trait]
impl JobQueue for SqliteQueue {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome, QueueError> {
        validate_new_job(&job)?;
        let payload = serialize_payload(&job)?;
        let mut tx = self.inner.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let (outcome, wake) = enqueue_on(&mut tx, &job, payload, now_ms()).await?;
        tx.commit().await.map_err(db)?;
        if wake {
            self.wake_workers();
        }
        Ok(outcome)
    }

    async fn enqueue_periodic(
        &self,
        name: &str,
        slot: DateTime<Utc>,
        mut job: NewJob,
    ) -> Result<Option<EnqueueOutcome>, QueueError> {
        validate_periodic_name(name)?;
        if job.dedup_key.is_none() {
            job.dedup_key = Some(periodic_dedup_key(name));
        }
        validate_new_job(&job)?;
        let payload = serialize_payload(&job)?;
        let slot = slot.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let now = now_ms();
        // One transaction: the slot is reserved if and only if its job is stored.
        let mut tx = self.inner.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let reserved = sqlx::query("INSERT OR IGNORE INTO job_slots (name, slot, created_at) VALUES (?1, ?2, ?3)")
            .bind(name)
            .bind(&slot)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if reserved.rows_affected() == 0 {
            tx.commit().await.map_err(db)?;
            return Ok(None);
        }
        let (outcome, wake) = enqueue_on(&mut tx, &job, payload, now).await?;
        sqlx::query("UPDATE job_slots SET job_id = ?3 WHERE name = ?1 AND slot = ?2")
            .bind(name)
            .bind(&slot)
            .bind(outcome.id().to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        if wake {
            self.wake_workers();
        }
        Ok(Some(outcome))
    }

    async fn claim(&self, owner: &str, limit: usize, lease_for: Duration) -> Result<Vec<ClaimedJob>, QueueError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        if owner.is_empty() {
            return Err(QueueError::Invalid("lease owner must not be empty".into()));
        }
        let now = now_ms();
        let expires_at = now.saturating_add(duration_ms(lease_for).max(1));
        let limit_i64 = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut tx = self.inner.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;

        // 1. Expired leases on the final attempt go to the dead-letter list.
        let discarded: Vec<String> = sqlx::query_scalar(
            "UPDATE jobs SET state = 'discarded', last_error = ?2, lease_expires_at = NULL, completed_at = ?1, \
             updated_at = ?1 WHERE state = 'running' AND lease_expires_at <= ?1 AND attempt >= max_attempts \
             RETURNING id",
        )
        .bind(now)
        .bind(LEASE_EXPIRED_ON_FINAL_ATTEMPT)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        for id in &discarded {
            tracing::warn!(job_id = %id, "job discarded: {LEASE_EXPIRED_ON_FINAL_ATTEMPT}");
        }

        // 2. Expired leases with attempts left are claimable again.
        let expired = sqlx::query(
            "SELECT id, priority, run_at, dedup_key FROM jobs j \
             WHERE j.state = 'running' AND j.lease_expires_at <= ?1 \
               AND (j.dedup_key IS NULL OR NOT EXISTS ( \
                 SELECT 1 FROM jobs r WHERE r.state = 'running' AND r.dedup_key = j.dedup_key \
                   AND r.lease_expires_at > ?1 AND r.id <> j.id))",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let expired_count = i64::try_from(expired.len()).unwrap_or(i64::MAX);

        // 3. Due available jobs. Available dedup keys are unique, so at most
        //    `expired.len()` of these can be skipped below for sharing a key.
        let available = sqlx::query(
            "SELECT id, priority, run_at, dedup_key FROM jobs j \
             WHERE j.state = 'available' AND j.run_at <= ?1 \
               AND (j.dedup_key IS NULL OR NOT EXISTS ( \
                 SELECT 1 FROM jobs r WHERE r.state = 'running' AND r.dedup_key = j.dedup_key \
                   AND r.lease_expires_at > ?1)) \
             ORDER BY j.priority, j.run_at, j.id LIMIT ?2",
        )
        .bind(now)
        .bind(limit_i64.saturating_add(expired_count))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;

        let mut candidates = expired
            .iter()
            .chain(available.iter())
            .map(candidate_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        candidates.sort_by(|a, b| (a.priority, a.run_at, &a.id).cmp(&(b.priority, b.run_at, &b.id)));
        let mut keys_taken = HashSet::new();
        let chosen: Vec<Candidate> = candidates
            .into_iter()
            .filter(|c| c.dedup_key.as_ref().is_none_or(|k| keys_taken.insert(k.clone())))
            .take(limit)
            .collect();

        // 4. Lease them.
        let mut claimed = Vec::with_capacity(chosen.len());
        for c in &chosen {
            let row = sqlx::query(
                "UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_owner = ?2, lease_expires_at = ?3, \
                 updated_at = ?4 WHERE id = ?1 RETURNING kind, payload, dedup_key, attempt, max_attempts",
            )
            .bind(&c.id)
            .bind(owner)
            .bind(expires_at)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            let payload: String = row.try_get("payload").map_err(db)?;
            claimed.push(ClaimedJob {
                kind: row.try_get("kind").map_err(db)?,
                payload: serde_json::from_str(&payload)
                    .map_err(|e| corrupt(format!("payload of job {}: {e}", c.id)))?,
                dedup_key: row.try_get("dedup_key").map_err(db)?,
                max_attempts: to_u32(row.try_get("max_attempts").map_err(db)?, "max_attempts")?,
                lease: Lease {
                    job_id: parse_id(&c.id)?,
                    owner: owner.to_owned(),
                    attempt: to_u32(row.try_get("attempt").map_err(db)?, "attempt")?,
                    expires_at: from_ms(expires_at)?,
                },
            });
        }
        tx.commit().await.map_err(db)?;

        let every = self.inner.options.purge_every_claims;
        let n = self.inner.claims.fetch_add(1, Ordering::Relaxed) + 1;
        if every > 0 && n.is_multiple_of(every) {
            self.purge_opportunistically().await;
        }
        Ok(claimed)
    }

    async fn heartbeat(&self, lease: &Lease, lease_for: Duration) -> Result<Lease, QueueError> {
        let now = now_ms();
        let expires_at = now.saturating_add(duration_ms(lease_for).max(1));
        let done = sqlx::query(
            "UPDATE jobs SET lease_expires_at = ?4, updated_at = ?5 \
             WHERE id = ?1 AND lease_owner = ?2 AND attempt = ?3 AND state = 'running'",
        )
        .bind(lease.job_id.to_string())
        .bind(&lease.owner)
        .bind(i64::from(lease.attempt))
        .bind(expires_at)
        .bind(now)
        .execute(&self.inner.writer)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(lease_lost(lease));
        }
        Ok(Lease {
            expires_at: from_ms(expires_at)?,
            ..lease.clone()
        })
    }

    async fn complete(&self, lease: &Lease) -> Result<(), QueueError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE jobs SET state = 'completed', lease_expires_at = NULL, completed_at = ?4, updated_at = ?4 \
             WHERE id = ?1 AND lease_owner = ?2 AND attempt = ?3 AND state = 'running'",
        )
        .bind(lease.job_id.to_string())
        .bind(&lease.owner)
        .bind(i64::from(lease.attempt))
        .bind(now)
        .execute(&self.inner.writer)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(lease_lost(lease));
        }
        // A job with the same dedup key may have been waiting for this one.
        self.wake_workers();
        Ok(())
    }

    async fn fail(&self, lease: &Lease, error: &str, retry_at: DateTime<Utc>) -> Result<FailOutcome, QueueError> {
        let now = now_ms();
        let error = truncate_error(error);
        let mut tx = self.inner.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let row = Self::fenced_row(&mut tx, lease).await?;
        let id = lease.job_id.to_string();
        let outcome = if row.attempt >= row.max_attempts {
            sqlx::query(
                "UPDATE jobs SET state = 'discarded', last_error = ?2, lease_expires_at = NULL, completed_at = ?3, \
                 updated_at = ?3 WHERE id = ?1",
            )
            .bind(&id)
            .bind(&error)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            FailOutcome::Discarded
        } else {
            let requeue = Requeue {
                id: &id,
                dedup_key: row.dedup_key.as_deref(),
                priority: row.priority,
                run_at: to_ms(retry_at),
                attempt_delta: 0,
                last_error: Some(&error),
                now,
            };
            let at = Self::make_available(&mut tx, requeue).await?;
            FailOutcome::Retrying(from_ms(at)?)
        };
        tx.commit().await.map_err(db)?;
        self.wake_workers();
        Ok(outcome)
    }

    async fn release(&self, lease: &Lease) -> Result<(), QueueError> {
        let now = now_ms();
        let mut tx = self.inner.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let row = Self::fenced_row(&mut tx, lease).await?;
        let id = lease.job_id.to_string();
        // Keep its place in line: a released job keeps an earlier run_at.
        let requeue = Requeue {
            id: &id,
            dedup_key: row.dedup_key.as_deref(),
            priority: row.priority,
            run_at: row.run_at.min(now),
            attempt_delta: -1,
            last_error: None,
            now,
        };
        Self::make_available(&mut tx, requeue).await?;
        tx.commit().await.map_err(db)?;
        self.wake_workers();
        Ok(())
    }

    async fn get(&self, id: JobId) -> Result<JobRecord, QueueError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM jobs WHERE id = ?1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.inner.reader)
            .await
            .map_err(db)?;
        match row {
            Some(row) => record_from_row(&row),
            None => Err(QueueError::NotFound(id)),
        }
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let rows = sqlx::query(
            "SELECT kind, state, COUNT(*) AS n, MIN(CASE WHEN state = 'available' AND run_at <= ?1 THEN run_at END) AS oldest \
             FROM jobs WHERE state IN ('available', 'running', 'discarded') GROUP BY kind, state",
        )
        .bind(now_ms())
        .fetch_all(&self.inner.reader)
        .await
        .map_err(db)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let oldest: Option<i64> = row.try_get("oldest").map_err(db)?;
            out.push((
                row.try_get::<String, _>("kind").map_err(db)?,
                row.try_get::<String, _>("state").map_err(db)?,
                u64::try_from(row.try_get::<i64, _>("n").map_err(db)?).unwrap_or(0),
                oldest.map(from_ms).transpose()?,
            ));
        }
        Ok(QueueStats::from_rows(out))
    }

    async fn list(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, QueueError> {
        let sql =
            format!("SELECT {RECORD_COLUMNS} FROM jobs WHERE state = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(state.as_str())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.inner.reader)
            .await
            .map_err(db)?;
        rows.iter().map(record_from_row).collect()
    }

    async fn wait_for_work(&self, max: Duration) {
        // Register interest before looking at the table so that an enqueue in
        // between is not missed.
        let notified = self.inner.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();

        let sleep_for = match self.sleep_budget(max).await {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(error = %e, "could not read the next due time; waiting the full interval");
                max
            }
        };
        if sleep_for.is_zero() {
            return;
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep(sleep_for) => {}
        }
    }
}
