//! # lettuce-queue-postgres
//!
//! A durable [`JobQueue`] in PostgreSQL: the shared queue of a multi-node
//! Lettuce install. It implements the whole port contract — leases with
//! fencing, retries with a dead-letter list, dedup keys that coalesce pending
//! jobs, per-key exclusion of running jobs — and wakes idle workers on other
//! machines with `LISTEN/NOTIFY`.
//!
//! ## Quick start
//!
//! ```no_run
//! # async fn demo() -> Result<(), lettuce_ports::queue::QueueError> {
//! use lettuce_ports::queue::{JobQueue, NewJob};
//! use lettuce_queue_postgres::PostgresQueue;
//! use std::time::Duration;
//!
//! let queue = PostgresQueue::connect("postgres://lettuce:secret@db.internal/lettuce").await?;
//! queue.migrate().await?; // idempotent; safe to run from every node at start
//! queue.enqueue(NewJob::new("index_repo", serde_json::json!({"repo": 1})).dedup("repo:1")).await?;
//! loop {
//!     for job in queue.claim("worker-1", 10, Duration::from_secs(60)).await? {
//!         // ... run it, heartbeating for long jobs ...
//!         queue.complete(&job.lease).await?;
//!     }
//!     queue.wait_for_work(Duration::from_secs(5)).await;
//! }
//! # }
//! ```
//!
//! ## How it works
//!
//! * **Table.** One table, `lettuce_jobs` ([`PostgresQueue::migrate`]
//!   creates it), with `fillfactor = 80` (room for HOT updates, since every
//!   job is updated several times) and aggressive autovacuum settings
//!   (`autovacuum_vacuum_scale_factor = 0.02`), a partial index on
//!   `state = 'available'` for fetching, and a partial **unique** index on
//!   `dedup_key WHERE state = 'available'`.
//! * **Time** is the database's (`now()`): `run_at`, lease expiry and
//!   `created_at` are computed and compared by PostgreSQL, so several
//!   machines with drifting clocks agree. `NewJob::run_at` given by the
//!   caller is stored as is.
//! * **Claims** are one short transaction (nothing stays locked while a job
//!   runs; ownership is the lease): expired leases on their final attempt
//!   are moved to `discarded`; then candidates — due `available` jobs and
//!   `running` jobs whose lease ran out — are selected with
//!   `WITH p AS MATERIALIZED (SELECT … FOR UPDATE SKIP LOCKED)`, so
//!   concurrent claimers never wait for each other, ordered by
//!   `priority, run_at, id`, skipping jobs whose dedup key belongs to a job
//!   running under a live lease and taking at most one job per key. Keyed
//!   candidates additionally take a transaction-scoped advisory lock on their
//!   key and the exclusion is re-checked with a fresh snapshot, so two
//!   workers can never start two jobs of one key at the same moment.
//! * **Fencing.** `complete`, `fail`, `heartbeat` and `release` match id,
//!   owner, attempt and `state = 'running'`; otherwise
//!   [`QueueError::LeaseLost`].
//! * **Dedup.** `INSERT … ON CONFLICT (dedup_key) WHERE state = 'available'
//!   DO NOTHING`; on conflict the existing job is returned
//!   ([`EnqueueOutcome::Coalesced`]) and its `run_at` / `priority` are pulled
//!   forward if the new job asks for earlier / more urgent work (its payload
//!   is kept). A job that goes back to `available` through `fail` or
//!   `release` while a newer job with its key is pending is *superseded*: it
//!   becomes `cancelled` with a `last_error` naming the pending job, and the
//!   pending job is pulled forward to the retry time.
//! * **Wake-ups.** After an enqueue of a job that is due now (and after a
//!   release, a retry due now or the completion of a keyed job), the handle
//!   sends `NOTIFY lettuce_jobs` from application code, debounced to at most
//!   one per 100 ms per handle (a per-row trigger would serialize every
//!   commit on the notify queue lock). Each handle keeps one dedicated
//!   listener connection (`PgListener`, reconnecting with back-off);
//!   [`JobQueue::wait_for_work`] returns at once when a job is claimable,
//!   else sleeps until the next known due time, a notification, or `max`
//!   (at most 2 s while the listener is disconnected), so polling remains the
//!   fallback when notifications are lost.
//! * **Retention.** [`PostgresQueue::purge_finished`] deletes completed and
//!   cancelled jobs older than a cut-off; [`PostgresQueueOptions::retention`]
//!   is applied opportunistically every
//!   [`PostgresQueueOptions::purge_every_claims`] claims. Discarded jobs (the
//!   dead-letter list) are never deleted by the queue.
//!
//! * **Periodic jobs** without leader election:
//!   [`JobQueue::enqueue_periodic`] lets every node enqueue every slot
//!   of a schedule; a slot table makes each slot run exactly once.
//!
//! ## Deployment notes
//!
//! * **PgBouncer in transaction mode breaks `LISTEN`.** Point the queue at
//!   PostgreSQL directly or at a session-mode pool; with transaction pooling
//!   the queue still works but only through polling.
//! * The URL accepts the usual libpq parameters (`sslmode=require`, …). The
//!   password never appears in `Debug` output, logs or errors of this crate.
#![deny(missing_docs)]

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lettuce_domain::JobId;
use lettuce_ports::BoxError;
use lettuce_ports::queue::{
    ClaimedJob, EnqueueOutcome, FailOutcome, JobQueue, JobRecord, JobState, Lease, NewJob, QueueError, QueueStats,
    periodic_dedup_key, validate_new_job, validate_periodic_name,
};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Row};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

const BACKEND: &str = "postgres";

/// The `LISTEN/NOTIFY` channel of the queue.
pub const NOTIFY_CHANNEL: &str = "lettuce_jobs";

/// The message a job gets when its lease runs out on its last attempt.
pub const LEASE_EXPIRED_ON_FINAL_ATTEMPT: &str =
    "worker lease expired on the final attempt (the worker probably crashed)";

/// Minimum spacing of the `NOTIFY`s sent by one handle.
const NOTIFY_DEBOUNCE: Duration = Duration::from_millis(100);

/// Longest sleep of `wait_for_work` while the listener is disconnected.
const POLL_WITHOUT_LISTENER: Duration = Duration::from_secs(2);

/// Longest `last_error` stored, in bytes.
const MAX_ERROR_BYTES: usize = 8 * 1024;

/// Namespace (first key) of the advisory locks taken on dedup keys.
const ADVISORY_NAMESPACE: i32 = 0x4c_51_4b; // "LQK"

/// Namespace of the advisory lock that serializes migrations.
const MIGRATE_LOCK: i64 = 0x4c_65_74_74_75_63_65_51; // "LettuceQ"

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS lettuce_jobs (
    id               uuid        PRIMARY KEY,
    kind             text        NOT NULL,
    payload          jsonb       NOT NULL,
    state            text        NOT NULL
                     CHECK (state IN ('available', 'running', 'completed', 'discarded', 'cancelled')),
    priority         smallint    NOT NULL DEFAULT 0,
    run_at           timestamptz NOT NULL,
    attempt          integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL CHECK (max_attempts >= 1),
    dedup_key        text,
    lease_owner      text,
    lease_expires_at timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05);
ALTER TABLE lettuce_jobs SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.05);
CREATE INDEX IF NOT EXISTS lettuce_jobs_fetch ON lettuce_jobs (priority, run_at, id) WHERE state = 'available';
CREATE INDEX IF NOT EXISTS lettuce_jobs_available_run_at ON lettuce_jobs (run_at) WHERE state = 'available';
CREATE UNIQUE INDEX IF NOT EXISTS lettuce_jobs_dedup_available ON lettuce_jobs (dedup_key)
    WHERE state = 'available';
CREATE INDEX IF NOT EXISTS lettuce_jobs_running_lease ON lettuce_jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS lettuce_jobs_running_dedup ON lettuce_jobs (dedup_key) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS lettuce_jobs_state_created ON lettuce_jobs (state, created_at, id);
CREATE INDEX IF NOT EXISTS lettuce_jobs_finished ON lettuce_jobs (completed_at)
    WHERE state IN ('completed', 'cancelled');
CREATE TABLE IF NOT EXISTS lettuce_job_slots (
    name       text        NOT NULL,
    slot       timestamptz NOT NULL,
    job_id     uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, slot)
);
"#;

const RECORD_COLUMNS: &str =
    "id, kind, payload, state, attempt, max_attempts, dedup_key, run_at, last_error, created_at";

/// "No live running job holds this row's key" (`j` is the row).
const KEY_FREE: &str = "(j.dedup_key IS NULL OR NOT EXISTS ( \
     SELECT 1 FROM lettuce_jobs r WHERE r.state = 'running' AND r.dedup_key = j.dedup_key \
       AND r.lease_expires_at > now() AND r.id <> j.id))";

/// Tunables of a [`PostgresQueue`]; [`Default`] gives the documented values.
#[derive(Debug, Clone)]
pub struct PostgresQueueOptions {
    /// Connections in the pool (default 5; the listener has its own).
    pub max_connections: u32,
    /// How long a call waits for a pooled connection (default 10 s).
    pub acquire_timeout: Duration,
    /// How long completed and cancelled jobs are kept (default 7 days).
    pub retention: Duration,
    /// Completed/cancelled jobs are purged once every this many `claim`
    /// calls through one handle (default 500; 0 disables it).
    pub purge_every_claims: u64,
    /// Whether to keep a `LISTEN` connection for cross-process wake-ups
    /// (default true; turn off behind PgBouncer in transaction mode).
    pub listen: bool,
}

impl Default for PostgresQueueOptions {
    fn default() -> Self {
        Self {
            max_connections: 5,
            acquire_timeout: Duration::from_secs(10),
            retention: Duration::from_secs(7 * 24 * 3600),
            purge_every_claims: 500,
            listen: true,
        }
    }
}

/// A [`JobQueue`] stored in PostgreSQL. Cheap to clone (clones share the
/// pool, the listener and the notifier). See the crate docs for the design.
#[derive(Clone)]
pub struct PostgresQueue {
    inner: Arc<Inner>,
}

struct Inner {
    /// `user@host:port/db`, never the password.
    target: String,
    pool: PgPool,
    wake: Arc<Notify>,
    listener_up: Arc<AtomicBool>,
    notify_tx: mpsc::Sender<()>,
    claims: AtomicU64,
    options: PostgresQueueOptions,
    /// Dropped with the last handle: stops the listener task.
    _shutdown: oneshot::Sender<()>,
}

impl std::fmt::Debug for PostgresQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresQueue")
            .field("target", &self.inner.target)
            .field("listener_connected", &self.inner.listener_up.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Errors of this adapter before they become [`QueueError`]s.
#[derive(Debug, thiserror::Error)]
enum PgQueueError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error("invalid PostgreSQL connection URL: {0}")]
    Url(String),
    #[error("corrupt job row: {0}")]
    Corrupt(String),
}

impl From<PgQueueError> for QueueError {
    fn from(err: PgQueueError) -> Self {
        let retryable = match &err {
            PgQueueError::Sqlx(e) => sqlx_retryable(e),
            PgQueueError::Url(_) | PgQueueError::Corrupt(_) => false,
        };
        QueueError::Backend {
            backend: BACKEND,
            source: Box::new(err) as BoxError,
            retryable,
        }
    }
}

/// Connection trouble, serialization failures, deadlocks and pool
/// exhaustion may pass.
fn sqlx_retryable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            let c = c.as_ref();
            // 08xxx connection exception, 40001 serialization failure, 40P01 deadlock,
            // 53xxx insufficient resources, 55P03 lock not available, 57P0x shutdown/cannot connect now.
            c.starts_with("08")
                || c == "40001"
                || c == "40P01"
                || c.starts_with("53")
                || c == "55P03"
                || c.starts_with("57P0")
        }),
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed | sqlx::Error::Tls(_) => true,
        _ => false,
    }
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().is_some_and(|c| c.as_ref() == "23505"))
}

fn db(err: sqlx::Error) -> QueueError {
    PgQueueError::Sqlx(err).into()
}

fn corrupt(msg: impl Into<String>) -> QueueError {
    PgQueueError::Corrupt(msg.into()).into()
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 4).max(1)
}

fn to_u32(v: i32, what: &str) -> Result<u32, QueueError> {
    u32::try_from(v).map_err(|_| corrupt(format!("{what} {v} out of range")))
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

fn record_from_row(row: &PgRow) -> Result<JobRecord, QueueError> {
    let id: Uuid = row.try_get("id").map_err(db)?;
    let state: String = row.try_get("state").map_err(db)?;
    Ok(JobRecord {
        id: JobId::from_uuid(id),
        kind: row.try_get("kind").map_err(db)?,
        payload: row.try_get("payload").map_err(db)?,
        state: JobState::parse(&state).ok_or_else(|| corrupt(format!("state {state:?} of job {id}")))?,
        attempt: to_u32(row.try_get("attempt").map_err(db)?, "attempt")?,
        max_attempts: to_u32(row.try_get("max_attempts").map_err(db)?, "max_attempts")?,
        dedup_key: row.try_get("dedup_key").map_err(db)?,
        run_at: row.try_get("run_at").map_err(db)?,
        last_error: row.try_get("last_error").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

/// A claim candidate.
struct Candidate {
    id: Uuid,
    priority: i16,
    run_at: DateTime<Utc>,
    dedup_key: Option<String>,
}

fn candidate_from_row(row: &PgRow) -> Result<Candidate, QueueError> {
    Ok(Candidate {
        id: row.try_get("id").map_err(db)?,
        priority: row.try_get("priority").map_err(db)?,
        run_at: row.try_get("run_at").map_err(db)?,
        dedup_key: row.try_get("dedup_key").map_err(db)?,
    })
}

/// How a leased job goes back to `available` (`fail` with retry, `release`).
#[derive(Clone, Copy)]
struct Requeue<'a> {
    /// `None`: keep the row's `run_at` if earlier than now, else now (release).
    run_at: Option<DateTime<Utc>>,
    /// Added to `attempt` (-1 for `release`).
    attempt_delta: i32,
    last_error: Option<&'a str>,
}

/// What `make_available` did.
enum Requeued {
    /// Available again at this time.
    At(DateTime<Utc>),
    /// Another job with the key was pending; this one was cancelled and the
    /// pending one will run at this time.
    Superseded(DateTime<Utc>),
}

impl Requeued {
    fn at(&self) -> DateTime<Utc> {
        match self {
            Requeued::At(t) | Requeued::Superseded(t) => *t,
        }
    }
}

impl PostgresQueue {
    /// Connects to the database at `url` (`postgres://user:pass@host:port/db?sslmode=…`)
    /// with the default [`PostgresQueueOptions`]. Does not create the schema:
    /// call [`PostgresQueue::migrate`] once (it is idempotent).
    pub async fn connect(url: &str) -> Result<Self, QueueError> {
        Self::connect_with_options(url, PostgresQueueOptions::default()).await
    }

    /// Like [`PostgresQueue::connect`] with explicit options.
    pub async fn connect_with_options(url: &str, options: PostgresQueueOptions) -> Result<Self, QueueError> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| PgQueueError::Url(e.to_string()))?
            .application_name("lettuce-queue");
        let target = format!(
            "{}@{}:{}/{}",
            connect.get_username(),
            connect.get_host(),
            connect.get_port(),
            connect.get_database().unwrap_or("")
        );
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(db)?;

        let wake = Arc::new(Notify::new());
        let listener_up = Arc::new(AtomicBool::new(false));
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        if options.listen {
            // The first LISTEN is established before `connect` returns so that
            // a caller that waits right away does not miss a notification.
            let first = match Self::listen(&connect).await {
                Ok(listener) => {
                    listener_up.store(true, Ordering::Relaxed);
                    Some(listener)
                }
                Err(e) => {
                    tracing::warn!(error = %e, target = %target, "job queue LISTEN failed; polling until it reconnects");
                    None
                }
            };
            tokio::spawn(listener_task(
                connect.clone(),
                first,
                Arc::downgrade(&wake),
                listener_up.clone(),
                shutdown_rx,
            ));
        } else {
            drop(shutdown_rx);
        }
        let (notify_tx, notify_rx) = mpsc::channel(1);
        tokio::spawn(notifier_task(pool.clone(), notify_rx));

        Ok(Self {
            inner: Arc::new(Inner {
                target,
                pool,
                wake,
                listener_up,
                notify_tx,
                claims: AtomicU64::new(0),
                options,
                _shutdown: shutdown_tx,
            }),
        })
    }

    async fn listen(connect: &PgConnectOptions) -> Result<PgListener, sqlx::Error> {
        // A pool of one connection without timeouts: PgListener uses it to reconnect.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(connect.clone())
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.ignore_pool_close_event(true);
        listener.listen(NOTIFY_CHANNEL).await?;
        Ok(listener)
    }

    /// Creates the table and indexes if missing and (re)applies the storage
    /// parameters. Idempotent and safe to run concurrently from several nodes
    /// (serialized by an advisory lock).
    pub async fn migrate(&self) -> Result<(), QueueError> {
        let mut conn = self.inner.pool.acquire().await.map_err(db)?;
        let mut tx = conn.begin().await.map_err(db)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATE_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // "already exists, skipping" notices are noise on every start.
        sqlx::query("SET LOCAL client_min_messages = warning")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::raw_sql(SCHEMA).execute(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// `user@host:port/database` of this queue (no password).
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// Whether the `LISTEN` connection is currently up.
    pub fn listener_connected(&self) -> bool {
        self.inner.listener_up.load(Ordering::Relaxed)
    }

    /// Closes this handle's pool (clones share it). Later calls fail with a
    /// non-retryable error. The listener stops when the last clone is dropped.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    /// Deletes `completed` and `cancelled` jobs that finished more than
    /// `older_than` ago; returns how many were deleted. Discarded jobs (the
    /// dead-letter list) are never deleted by the queue. Periodic slots
    /// ([`JobQueue::enqueue_periodic`]) older than `older_than` are
    /// forgotten too.
    pub async fn purge_finished(&self, older_than: Duration) -> Result<u64, QueueError> {
        sqlx::query("DELETE FROM lettuce_job_slots WHERE created_at < now() - $1 * interval '1 microsecond'")
            .bind(micros(older_than))
            .execute(&self.inner.pool)
            .await
            .map_err(db)?;
        let done = sqlx::query(
            "DELETE FROM lettuce_jobs WHERE state IN ('completed', 'cancelled') \
             AND completed_at < now() - $1 * interval '1 microsecond'",
        )
        .bind(micros(older_than))
        .execute(&self.inner.pool)
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

    /// Wakes waiters of this process now and other processes through a
    /// debounced `NOTIFY`.
    fn signal_work(&self) {
        self.wake_local();
        // Full channel: a NOTIFY is already scheduled, which covers this job.
        let _ = self.inner.notify_tx.try_send(());
    }

    fn wake_local(&self) {
        self.inner.wake.notify_waiters();
        self.inner.wake.notify_one();
    }

    /// How long `wait_for_work` may sleep: 0 if something is claimable now,
    /// else until the next due time (database clock), at most `max`.
    async fn sleep_budget(&self, max: Duration) -> Result<Duration, sqlx::Error> {
        let (claimable, next_in): (bool, Option<f64>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT \
               EXISTS (SELECT 1 FROM lettuce_jobs j WHERE j.state = 'available' AND j.run_at <= now() AND {KEY_FREE}) \
               OR EXISTS (SELECT 1 FROM lettuce_jobs j WHERE j.state = 'running' AND j.lease_expires_at <= now() \
                          AND {KEY_FREE}), \
               EXTRACT(EPOCH FROM (LEAST( \
                 (SELECT min(run_at) FROM lettuce_jobs WHERE state = 'available' AND run_at > now()), \
                 (SELECT min(lease_expires_at) FROM lettuce_jobs WHERE state = 'running' AND lease_expires_at > now()) \
               ) - now()))::float8"
        )))
        .fetch_one(&self.inner.pool)
        .await?;
        if claimable {
            return Ok(Duration::ZERO);
        }
        let mut budget = max;
        if let Some(secs) = next_in {
            // A few ms of slack so the job is really due when we wake.
            budget = budget.min(Duration::from_secs_f64(secs.max(0.0)) + Duration::from_millis(5));
        }
        if !self.listener_connected() {
            budget = budget.min(POLL_WITHOUT_LISTENER);
        }
        Ok(budget)
    }

    /// Returns a leased job to `available` (or supersedes it, see the crate
    /// docs) inside `tx`, whose fenced row is already locked.
    async fn make_available(
        tx: &mut sqlx::PgConnection,
        id: Uuid,
        dedup_key: Option<&str>,
        r: Requeue<'_>,
    ) -> Result<Requeued, sqlx::Error> {
        if let Some(key) = dedup_key {
            let pending: Option<(Uuid,)> = sqlx::query_as(
                "SELECT id FROM lettuce_jobs WHERE state = 'available' AND dedup_key = $1 AND id <> $2 FOR UPDATE",
            )
            .bind(key)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((pending_id,)) = pending {
                let note = match r.last_error {
                    Some(err) => truncate_error(&format!("{err} (superseded by pending job {pending_id})")),
                    None => format!("released; superseded by pending job {pending_id} with the same dedup key"),
                };
                let (old_run_at, priority): (DateTime<Utc>, i16) = sqlx::query_as(
                    "UPDATE lettuce_jobs SET state = 'cancelled', last_error = $2, lease_expires_at = NULL, \
                     completed_at = now(), updated_at = now() WHERE id = $1 RETURNING run_at, priority",
                )
                .bind(id)
                .bind(note)
                .fetch_one(&mut *tx)
                .await?;
                let at: DateTime<Utc> = sqlx::query_scalar(
                    "UPDATE lettuce_jobs SET run_at = LEAST(run_at, COALESCE($2, LEAST($3, now()))), \
                     priority = LEAST(priority, $4), updated_at = now() WHERE id = $1 RETURNING run_at",
                )
                .bind(pending_id)
                .bind(r.run_at)
                .bind(old_run_at)
                .bind(priority)
                .fetch_one(&mut *tx)
                .await?;
                return Ok(Requeued::Superseded(at));
            }
        }
        let at: DateTime<Utc> = sqlx::query_scalar(
            "UPDATE lettuce_jobs SET state = 'available', run_at = COALESCE($2, LEAST(run_at, now())), \
             attempt = attempt + $3, last_error = COALESCE($4, last_error), lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = now() WHERE id = $1 RETURNING run_at",
        )
        .bind(id)
        .bind(r.run_at)
        .bind(r.attempt_delta)
        .bind(r.last_error)
        .fetch_one(&mut *tx)
        .await?;
        Ok(Requeued::At(at))
    }

    /// `fail` (with retry) and `release`: fenced, in one transaction,
    /// retried when a concurrent enqueue took the key's available slot.
    /// Returns `None` when attempts are exhausted and the job was discarded
    /// (only when `discard_if_exhausted`).
    async fn requeue(
        &self,
        lease: &Lease,
        r: Requeue<'_>,
        discard_if_exhausted: bool,
    ) -> Result<Option<Requeued>, QueueError> {
        let id = lease.job_id.as_uuid();
        let mut tries = 0;
        loop {
            tries += 1;
            let mut tx = self.inner.pool.begin().await.map_err(db)?;
            let row: Option<(i32, i32, Option<String>)> = sqlx::query_as(
                "SELECT attempt, max_attempts, dedup_key FROM lettuce_jobs \
                 WHERE id = $1 AND lease_owner = $2 AND attempt = $3 AND state = 'running' FOR UPDATE",
            )
            .bind(id)
            .bind(&lease.owner)
            .bind(i64::from(lease.attempt))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            let (attempt, max_attempts, dedup_key) = row.ok_or_else(|| lease_lost(lease))?;
            if discard_if_exhausted && attempt >= max_attempts {
                sqlx::query(
                    "UPDATE lettuce_jobs SET state = 'discarded', last_error = $2, lease_expires_at = NULL, \
                     completed_at = now(), updated_at = now() WHERE id = $1",
                )
                .bind(id)
                .bind(r.last_error)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                tx.commit().await.map_err(db)?;
                return Ok(None);
            }
            match Self::make_available(&mut tx, id, dedup_key.as_deref(), r).await {
                Ok(done) => {
                    tx.commit().await.map_err(db)?;
                    return Ok(Some(done));
                }
                // An enqueue with the same key slipped in between our check
                // and our update: try again, now superseding it.
                Err(e) if is_unique_violation(&e) && tries < 5 => {
                    let _ = tx.rollback().await;
                    continue;
                }
                Err(e) => return Err(db(e)),
            }
        }
    }

    async fn claim_tx(&self, owner: &str, limit: usize, lease_for: Duration) -> Result<Vec<ClaimedJob>, QueueError> {
        let limit_i64 = i64::try_from(limit).unwrap_or(i64::MAX / 4);
        let mut tx = self.inner.pool.begin().await.map_err(db)?;

        // 1. Expired leases on the final attempt go to the dead-letter list.
        let discarded: Vec<Uuid> = sqlx::query_scalar(
            "WITH d AS MATERIALIZED ( \
               SELECT id FROM lettuce_jobs WHERE state = 'running' AND lease_expires_at <= now() \
                 AND attempt >= max_attempts FOR UPDATE SKIP LOCKED) \
             UPDATE lettuce_jobs j SET state = 'discarded', last_error = $1, lease_expires_at = NULL, \
               completed_at = now(), updated_at = now() FROM d WHERE j.id = d.id RETURNING j.id",
        )
        .bind(LEASE_EXPIRED_ON_FINAL_ATTEMPT)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        for id in &discarded {
            tracing::warn!(job_id = %id, "job discarded: {LEASE_EXPIRED_ON_FINAL_ATTEMPT}");
        }

        // 2. Expired leases with attempts left are claimable again.
        let expired = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT j.id, j.priority, j.run_at, j.dedup_key FROM lettuce_jobs j \
             WHERE j.state = 'running' AND j.lease_expires_at <= now() AND j.attempt < j.max_attempts \
               AND {KEY_FREE} \
             ORDER BY j.priority, j.run_at, j.id LIMIT $1 FOR UPDATE OF j SKIP LOCKED"
        )))
        .bind(limit_i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let expired_count = i64::try_from(expired.len()).unwrap_or(0);

        // 3. Due available jobs. Available dedup keys are unique, so at most
        //    `expired.len()` of these can be skipped below for sharing a key.
        let available = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH p AS MATERIALIZED ( \
               SELECT j.id FROM lettuce_jobs j WHERE j.state = 'available' AND j.run_at <= now() AND {KEY_FREE} \
               ORDER BY j.priority, j.run_at, j.id LIMIT $1 FOR UPDATE OF j SKIP LOCKED) \
             SELECT j.id, j.priority, j.run_at, j.dedup_key FROM lettuce_jobs j JOIN p ON p.id = j.id"
        )))
        .bind(limit_i64.saturating_add(expired_count))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;

        let mut candidates = expired
            .iter()
            .chain(available.iter())
            .map(candidate_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        candidates.sort_by_key(|a| (a.priority, a.run_at, a.id));
        let mut keys_taken = HashSet::new();
        let chosen: Vec<Candidate> = candidates
            .into_iter()
            .filter(|c| c.dedup_key.as_ref().is_none_or(|k| keys_taken.insert(k.clone())))
            .take(limit)
            .collect();
        if chosen.is_empty() {
            tx.commit().await.map_err(db)?;
            return Ok(Vec::new());
        }

        // 4. Keyed jobs: take the key's advisory lock (held to commit). A
        //    claimer that committed a job of this key before we got the lock
        //    is visible to the re-check in step 5 (a new statement snapshot).
        let keys: Vec<String> = chosen.iter().filter_map(|c| c.dedup_key.clone()).collect();
        let mut locked_keys: HashSet<String> = HashSet::new();
        if !keys.is_empty() {
            let got: Vec<(String, bool)> =
                sqlx::query_as("SELECT k, pg_try_advisory_xact_lock($1, hashtext(k)) FROM unnest($2::text[]) AS t(k)")
                    .bind(ADVISORY_NAMESPACE)
                    .bind(&keys)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db)?;
            locked_keys = got.into_iter().filter(|(_, ok)| *ok).map(|(k, _)| k).collect();
        }
        let ids: Vec<Uuid> = chosen
            .iter()
            .filter(|c| c.dedup_key.as_ref().is_none_or(|k| locked_keys.contains(k)))
            .map(|c| c.id)
            .collect();

        // 5. Lease them, re-checking per-key exclusion.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE lettuce_jobs j SET state = 'running', attempt = j.attempt + 1, lease_owner = $2, \
               lease_expires_at = now() + $3 * interval '1 microsecond', updated_at = now() \
             WHERE j.id = ANY($1) AND {KEY_FREE} \
             RETURNING j.id, j.kind, j.payload, j.dedup_key, j.attempt, j.max_attempts, j.lease_expires_at"
        )))
        .bind(&ids)
        .bind(owner)
        .bind(micros(lease_for))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;

        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: Uuid = row.try_get("id").map_err(db)?;
            claimed.push((
                id,
                ClaimedJob {
                    kind: row.try_get("kind").map_err(db)?,
                    payload: row.try_get("payload").map_err(db)?,
                    dedup_key: row.try_get("dedup_key").map_err(db)?,
                    max_attempts: to_u32(row.try_get("max_attempts").map_err(db)?, "max_attempts")?,
                    lease: Lease {
                        job_id: JobId::from_uuid(id),
                        owner: owner.to_owned(),
                        attempt: to_u32(row.try_get("attempt").map_err(db)?, "attempt")?,
                        expires_at: row.try_get("lease_expires_at").map_err(db)?,
                    },
                },
            ));
        }
        // RETURNING has no order: restore the claim order.
        claimed.sort_by_key(|(id, _)| ids.iter().position(|x| x == id));
        Ok(claimed.into_iter().map(|(_, c)| c).collect())
    }
}

/// Inserts `job` or coalesces it into the available job with its dedup key,
/// on `conn` (a pooled connection or a transaction). Returns the outcome and
/// whether waiters should be woken (a job became due now).
async fn enqueue_on(conn: &mut sqlx::PgConnection, job: &NewJob) -> Result<(EnqueueOutcome, bool), QueueError> {
    let id = Uuid::now_v7();
    let mut tries = 0;
    loop {
        tries += 1;
        let inserted: Option<(Uuid, bool)> = sqlx::query_as(
            "INSERT INTO lettuce_jobs (id, kind, payload, state, priority, run_at, attempt, max_attempts, \
             dedup_key) VALUES ($1, $2, $3, 'available', $4, COALESCE($5, now()), 0, $6, $7) \
             ON CONFLICT (dedup_key) WHERE state = 'available' DO NOTHING \
             RETURNING id, run_at <= now()",
        )
        .bind(id)
        .bind(&job.kind)
        .bind(&job.payload)
        .bind(job.priority)
        .bind(job.run_at)
        .bind(i64::from(job.max_attempts))
        .bind(job.dedup_key.as_deref())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
        if let Some((id, due)) = inserted {
            return Ok((EnqueueOutcome::Enqueued(JobId::from_uuid(id)), due));
        }
        // Conflict: coalesce into the available job with this key, pulling
        // its run_at and priority forward.
        let existing: Option<(Uuid, bool, bool)> = sqlx::query_as(
            "WITH old AS (SELECT id, run_at FROM lettuce_jobs WHERE state = 'available' AND dedup_key = $1 \
               FOR UPDATE) \
             UPDATE lettuce_jobs j SET run_at = LEAST(j.run_at, COALESCE($2, now())), \
               priority = LEAST(j.priority, $3), updated_at = now() \
             FROM old WHERE j.id = old.id AND j.state = 'available' \
             RETURNING j.id, j.run_at < old.run_at, j.run_at <= now()",
        )
        .bind(job.dedup_key.as_deref())
        .bind(job.run_at)
        .bind(job.priority)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
        match existing {
            Some((id, moved, due)) => return Ok((EnqueueOutcome::Coalesced(JobId::from_uuid(id)), moved && due)),
            // The available job was claimed in between: insert again.
            None if tries < 10 => continue,
            None => {
                return Err(QueueError::Backend {
                    backend: BACKEND,
                    source: "enqueue kept racing with claims of the same dedup key".into(),
                    retryable: true,
                });
            }
        }
    }
}

/// Sends `NOTIFY` at most once per [`NOTIFY_DEBOUNCE`]: the leading request
/// goes out at once, requests during the quiet period collapse into one
/// trailing `NOTIFY`. Ends when the handle (the sender) is dropped.
async fn notifier_task(pool: PgPool, mut rx: mpsc::Receiver<()>) {
    while rx.recv().await.is_some() {
        if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(NOTIFY_CHANNEL)
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::debug!(error = %e, "job queue NOTIFY failed; waiters will poll");
        }
        tokio::time::sleep(NOTIFY_DEBOUNCE).await;
    }
}

/// Keeps a `LISTEN` connection and wakes local waiters on every
/// notification. Reconnects with back-off; ends when the last handle is
/// dropped.
async fn listener_task(
    connect: PgConnectOptions,
    mut listener: Option<PgListener>,
    wake: std::sync::Weak<Notify>,
    up: Arc<AtomicBool>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let Some(l) = listener.as_mut() else {
            tokio::select! {
                _ = &mut shutdown => return,
                () = tokio::time::sleep(backoff) => {}
            }
            match PostgresQueue::listen(&connect).await {
                Ok(l) => {
                    tracing::info!("job queue listener reconnected");
                    listener = Some(l);
                    up.store(true, Ordering::Relaxed);
                    backoff = Duration::from_millis(250);
                    // Anything may have happened while we were away.
                    if let Some(w) = wake.upgrade() {
                        w.notify_waiters();
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "job queue listener still down");
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
            continue;
        };
        let got = tokio::select! {
            _ = &mut shutdown => return,
            got = l.try_recv() => got,
        };
        match got {
            Ok(Some(_)) => match wake.upgrade() {
                Some(w) => w.notify_waiters(),
                None => return,
            },
            // Connection lost; PgListener re-connected (eagerly) and re-subscribed.
            Ok(None) => {
                tracing::debug!("job queue listener connection was lost and re-established");
                if let Some(w) = wake.upgrade() {
                    w.notify_waiters();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "job queue listener failed; polling until it reconnects");
                up.store(false, Ordering::Relaxed);
                listener = None;
            }
        }
    }
}

#[async_trait]
impl JobQueue for PostgresQueue {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome, QueueError> {
        validate_new_job(&job)?;
        let mut conn = self.inner.pool.acquire().await.map_err(db)?;
        let (outcome, due) = enqueue_on(&mut conn, &job).await?;
        drop(conn);
        if due {
            self.signal_work();
        }
        Ok(outcome)
    }

    /// Enqueues the run of periodic job `name` for time slot `slot`
    /// (e.g. the start of the hour) exactly once across all nodes: every node
    /// may call this for every slot without leader election. Returns the new
    /// job's outcome (`Coalesced` if a run of `name` was still pending), or
    /// `None` when this slot was already taken (by any node, whatever became
    /// of its job since). The reservation and the job commit together.
    ///
    /// Unlike a dedup key (which only coalesces with an *available* job), the
    /// slot is remembered in `lettuce_job_slots` after the job ran; slots are
    /// forgotten by [`PostgresQueue::purge_finished`] after the same
    /// retention. The job also gets `dedup_key = "cron:<name>"` unless it has
    /// one, so a slow node cannot pile up several runs of one periodic job.
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
        // One transaction: the slot is reserved if and only if its job is stored.
        let mut tx = self.inner.pool.begin().await.map_err(db)?;
        let reserved = sqlx::query(
            "INSERT INTO lettuce_job_slots (name, slot) VALUES ($1, $2) ON CONFLICT (name, slot) DO NOTHING",
        )
        .bind(name)
        .bind(slot)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if reserved.rows_affected() == 0 {
            tx.commit().await.map_err(db)?;
            return Ok(None);
        }
        let (outcome, due) = enqueue_on(&mut tx, &job).await?;
        sqlx::query("UPDATE lettuce_job_slots SET job_id = $3 WHERE name = $1 AND slot = $2")
            .bind(name)
            .bind(slot)
            .bind(outcome.id().as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        if due {
            self.signal_work();
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
        let claimed = self.claim_tx(owner, limit, lease_for).await?;
        let every = self.inner.options.purge_every_claims;
        let n = self.inner.claims.fetch_add(1, Ordering::Relaxed) + 1;
        if every > 0 && n.is_multiple_of(every) {
            self.purge_opportunistically().await;
        }
        Ok(claimed)
    }

    async fn heartbeat(&self, lease: &Lease, lease_for: Duration) -> Result<Lease, QueueError> {
        let expires: Option<DateTime<Utc>> = sqlx::query_scalar(
            "UPDATE lettuce_jobs SET lease_expires_at = now() + $4 * interval '1 microsecond', updated_at = now() \
             WHERE id = $1 AND lease_owner = $2 AND attempt = $3 AND state = 'running' RETURNING lease_expires_at",
        )
        .bind(lease.job_id.as_uuid())
        .bind(&lease.owner)
        .bind(i64::from(lease.attempt))
        .bind(micros(lease_for))
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(db)?;
        let expires_at = expires.ok_or_else(|| lease_lost(lease))?;
        Ok(Lease {
            expires_at,
            ..lease.clone()
        })
    }

    async fn complete(&self, lease: &Lease) -> Result<(), QueueError> {
        let done: Option<Option<String>> = sqlx::query_scalar(
            "UPDATE lettuce_jobs SET state = 'completed', lease_expires_at = NULL, completed_at = now(), \
             updated_at = now() WHERE id = $1 AND lease_owner = $2 AND attempt = $3 AND state = 'running' \
             RETURNING dedup_key",
        )
        .bind(lease.job_id.as_uuid())
        .bind(&lease.owner)
        .bind(i64::from(lease.attempt))
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(db)?;
        match done {
            None => Err(lease_lost(lease)),
            // A job with the same key may have been waiting for this one.
            Some(Some(_)) => {
                self.signal_work();
                Ok(())
            }
            Some(None) => Ok(()),
        }
    }

    async fn complete_many(&self, leases: &[Lease]) -> Result<usize, QueueError> {
        if leases.is_empty() {
            return Ok(0);
        }
        let ids: Vec<uuid::Uuid> = leases.iter().map(|l| l.job_id.as_uuid()).collect();
        let attempts: Vec<i64> = leases.iter().map(|l| i64::from(l.attempt)).collect();
        let owners: Vec<&str> = leases.iter().map(|l| l.owner.as_str()).collect();
        // One statement, one commit, the same fencing as `complete`.
        let keys: Vec<Option<String>> = sqlx::query_scalar(
            "UPDATE lettuce_jobs j SET state = 'completed', lease_expires_at = NULL, completed_at = now(), \
             updated_at = now() FROM unnest($1::uuid[], $2::int8[], $3::text[]) AS l(id, attempt, owner) \
             WHERE j.id = l.id AND j.attempt = l.attempt AND j.lease_owner = l.owner AND j.state = 'running' \
             RETURNING j.dedup_key",
        )
        .bind(&ids)
        .bind(&attempts)
        .bind(&owners)
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db)?;
        // Jobs with the same key may have been waiting for these.
        if keys.iter().any(Option::is_some) {
            self.signal_work();
        }
        Ok(keys.len())
    }

    async fn fail(&self, lease: &Lease, error: &str, retry_at: DateTime<Utc>) -> Result<FailOutcome, QueueError> {
        let error = truncate_error(error);
        let r = Requeue {
            run_at: Some(retry_at),
            attempt_delta: 0,
            last_error: Some(&error),
        };
        match self.requeue(lease, r, true).await? {
            None => Ok(FailOutcome::Discarded),
            Some(done) => {
                let at = done.at();
                if at <= Utc::now() {
                    self.signal_work();
                } else {
                    self.wake_local();
                }
                Ok(FailOutcome::Retrying(at))
            }
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), QueueError> {
        let r = Requeue {
            run_at: None,
            attempt_delta: -1,
            last_error: None,
        };
        self.requeue(lease, r, false).await?;
        self.signal_work();
        Ok(())
    }

    async fn get(&self, id: JobId) -> Result<JobRecord, QueueError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RECORD_COLUMNS} FROM lettuce_jobs WHERE id = $1"
        )))
        .bind(id.as_uuid())
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(db)?;
        match row {
            Some(row) => record_from_row(&row),
            None => Err(QueueError::NotFound(id)),
        }
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let rows = sqlx::query(
            "SELECT kind, state, COUNT(*) AS n, MIN(run_at) FILTER (WHERE state = 'available' AND run_at <= now()) AS oldest \
             FROM lettuce_jobs WHERE state IN ('available', 'running', 'discarded') GROUP BY kind, state",
        )
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push((
                row.try_get::<String, _>("kind").map_err(db)?,
                row.try_get::<String, _>("state").map_err(db)?,
                u64::try_from(row.try_get::<i64, _>("n").map_err(db)?).unwrap_or(0),
                row.try_get::<Option<DateTime<Utc>>, _>("oldest").map_err(db)?,
            ));
        }
        Ok(QueueStats::from_rows(out))
    }

    async fn list(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, QueueError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RECORD_COLUMNS} FROM lettuce_jobs WHERE state = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        )))
        .bind(state.as_str())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db)?;
        rows.iter().map(record_from_row).collect()
    }

    async fn wait_for_work(&self, max: Duration) {
        // Register interest before looking at the table so that a wake-up in
        // between is not missed.
        let notified = self.inner.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();

        let sleep_for = match self.sleep_budget(max).await {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(error = %e, "could not read the next due time; polling");
                max.min(POLL_WITHOUT_LISTENER)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_long_errors_at_char_boundary() {
        let long = "é".repeat(MAX_ERROR_BYTES);
        let t = truncate_error(&long);
        assert!(t.len() <= MAX_ERROR_BYTES + "…".len());
        assert!(t.ends_with('…'));
        assert_eq!(truncate_error("short"), "short");
    }

    #[test]
    fn retryable_classification() {
        assert!(sqlx_retryable(&sqlx::Error::PoolTimedOut));
        assert!(!sqlx_retryable(&sqlx::Error::RowNotFound));
        assert!(!sqlx_retryable(&sqlx::Error::PoolClosed));
    }

    #[tokio::test]
    async fn bad_url_is_invalid_without_echoing_the_password() {
        let err = PostgresQueue::connect("postgres://u:hunter2@host:notaport/db")
            .await
            .expect_err("bad port");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!err.is_retryable());
    }
}
