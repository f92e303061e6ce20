//! Durable background jobs. Implementations: SQLite, PostgreSQL, in-memory.
//!
//! Semantics every implementation provides (the contract suite checks them):
//!
//! * **At-least-once with leases.** `claim` hands a job to one owner with a
//!   lease; the owner extends it with `heartbeat`. A job whose lease ran out
//!   (its worker died) is claimable again, with `attempt` incremented.
//! * **Fencing.** `complete`, `fail`, `heartbeat` and `release` match the job
//!   id, owner and attempt of the lease and the `running` state; a stale lease
//!   gets [`QueueError::LeaseLost`] and changes nothing.
//! * **Retries.** `fail` makes the job available again at `retry_at`, or
//!   moves it to `discarded` (the dead-letter list) once `attempt` reached
//!   `max_attempts`.
//! * **Dedup.** At most one `available` job per dedup key: enqueueing a
//!   second one coalesces into the first (`EnqueueOutcome::Coalesced`).
//! * **Periodic slots.** [`JobQueue::enqueue_periodic`] stores at most one
//!   job per (name, slot) for the queue's lifetime.
//! * **Per-key exclusion.** A job is not claimed while another job with the
//!   same dedup key is `running` under an unexpired lease, so one repo is never
//!   indexed by two workers at once.

use crate::BoxError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lettuce_domain::JobId;
use std::time::Duration;

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Job kind (`index_repo`, …); the worker dispatches on it.
    pub kind: String,
    /// Arguments.
    pub payload: serde_json::Value,
    /// Coalescing key (`repo:<id>`); see the module docs.
    pub dedup_key: Option<String>,
    /// Earliest run time; `None` means now.
    pub run_at: Option<DateTime<Utc>>,
    /// Attempts before the job is discarded (≥ 1).
    pub max_attempts: u32,
    /// Lower runs first.
    pub priority: i16,
}

impl NewJob {
    /// A job of `kind` with `payload`, 5 attempts, priority 0, due now.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            dedup_key: None,
            run_at: None,
            max_attempts: 5,
            priority: 0,
        }
    }
    /// Sets the dedup key.
    pub fn dedup(mut self, key: impl Into<String>) -> Self {
        self.dedup_key = Some(key.into());
        self
    }
    /// Sets max attempts.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
    /// Sets the earliest run time.
    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }
}

/// What `enqueue` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnqueueOutcome {
    /// A new job was stored.
    Enqueued(JobId),
    /// An available job with the same dedup key existed; this is its id.
    Coalesced(JobId),
}

impl EnqueueOutcome {
    /// The job id either way.
    pub fn id(self) -> JobId {
        match self {
            EnqueueOutcome::Enqueued(id) | EnqueueOutcome::Coalesced(id) => id,
        }
    }
}

/// Proof of ownership of a claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The job.
    pub job_id: JobId,
    /// The worker that owns it.
    pub owner: String,
    /// The attempt this lease is for (1-based).
    pub attempt: u32,
    /// When the lease runs out unless extended.
    pub expires_at: DateTime<Utc>,
}

/// A claimed job.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// Kind.
    pub kind: String,
    /// Arguments.
    pub payload: serde_json::Value,
    /// Dedup key.
    pub dedup_key: Option<String>,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The lease (carries id and attempt).
    pub lease: Lease,
}

/// Job states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting (possibly until `run_at`).
    Available,
    /// Claimed under a lease.
    Running,
    /// Done.
    Completed,
    /// Failed `max_attempts` times: the dead-letter list.
    Discarded,
    /// Cancelled by a user.
    Cancelled,
}

impl JobState {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Available => "available",
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Discarded => "discarded",
            JobState::Cancelled => "cancelled",
        }
    }
    /// Parses the stable string form.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "available" => JobState::Available,
            "running" => JobState::Running,
            "completed" => JobState::Completed,
            "discarded" => JobState::Discarded,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }
}

/// A job as stored.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// Identifier.
    pub id: JobId,
    /// Kind.
    pub kind: String,
    /// Arguments.
    pub payload: serde_json::Value,
    /// State.
    pub state: JobState,
    /// Attempts started so far.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Dedup key.
    pub dedup_key: Option<String>,
    /// Next run time.
    pub run_at: DateTime<Utc>,
    /// The last failure message.
    pub last_error: Option<String>,
    /// Enqueue time.
    pub created_at: DateTime<Utc>,
}

/// What `fail` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// The job will run again at this time.
    Retrying(DateTime<Utc>),
    /// Attempts exhausted: moved to the dead-letter list.
    Discarded,
}

/// A durable job queue.
#[async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug + 'static {
    /// Short backend name.
    fn backend(&self) -> &'static str;

    /// Stores a job (or coalesces it; see the module docs).
    async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome, QueueError>;

    /// Claims up to `limit` due jobs for `owner` with a lease of `lease_for`,
    /// highest priority (lowest number), then oldest `run_at` first. Jobs
    /// whose lease expired are claimable again. Claims are short transactions:
    /// nothing stays locked while the job runs.
    async fn claim(&self, owner: &str, limit: usize, lease_for: Duration) -> Result<Vec<ClaimedJob>, QueueError>;

    /// Extends a lease to now + `lease_for`. `LeaseLost` if it is stale.
    async fn heartbeat(&self, lease: &Lease, lease_for: Duration) -> Result<Lease, QueueError>;

    /// Marks the job completed. `LeaseLost` if the lease is stale.
    async fn complete(&self, lease: &Lease) -> Result<(), QueueError>;

    /// Marks several jobs completed, in one round trip where the backend can
    /// (batched completion is what makes high throughput possible). Each
    /// lease is fenced exactly like [`JobQueue::complete`]; stale leases are
    /// skipped, not errors. Returns how many jobs were completed.
    async fn complete_many(&self, leases: &[Lease]) -> Result<usize, QueueError> {
        let mut done = 0;
        for lease in leases {
            match self.complete(lease).await {
                Ok(()) => done += 1,
                Err(QueueError::LeaseLost { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Records a failure: available again at `retry_at`, or discarded when
    /// attempts are exhausted. `LeaseLost` if the lease is stale.
    async fn fail(&self, lease: &Lease, error: &str, retry_at: DateTime<Utc>) -> Result<FailOutcome, QueueError>;

    /// Gives a claimed job back without counting the attempt (graceful
    /// shutdown). `LeaseLost` if the lease is stale.
    async fn release(&self, lease: &Lease) -> Result<(), QueueError>;

    /// One job, or `NotFound`.
    async fn get(&self, id: JobId) -> Result<JobRecord, QueueError>;

    /// Jobs in `state`, newest first, at most `limit`.
    async fn list(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, QueueError>;

    /// Enqueues `job` for the period starting at `slot` at most once per
    /// (name, slot) across every process sharing the queue, for the queue's
    /// lifetime (not only while the job is available); returns None when that
    /// slot was already enqueued. Callers compute `slot` by truncating the
    /// current time to the period (e.g. the hour), see [`period_slot`].
    ///
    /// This is how scheduled work (daily telemetry, hourly license
    /// re-verification) runs once per period however many workers there are,
    /// without leader election: every worker calls this for every slot and
    /// only the first call stores a job. The slot reservation and the job are
    /// stored atomically (a failed call reserves nothing). Unless `job` has a
    /// dedup key, it gets `cron:<name>`, so a run still pending from an
    /// earlier slot absorbs the new one (`Some(Coalesced)`) instead of piling
    /// up. `name` must be 1–200 characters ([`QueueError::Invalid`]
    /// otherwise, see [`validate_periodic_name`]). Backends may forget slots
    /// older than their retention of finished jobs.
    async fn enqueue_periodic(
        &self,
        name: &str,
        slot: DateTime<Utc>,
        job: NewJob,
    ) -> Result<Option<EnqueueOutcome>, QueueError>;

    /// Waits until a job may be due (a wake-up from an enqueue in this or,
    /// where the backend supports it, another process) or `max` elapsed.
    async fn wait_for_work(&self, max: Duration);

    /// Jobs per kind and state that are not finished (available, running,
    /// discarded), with the oldest due available job per kind: what metrics
    /// and readiness read. One cheap aggregate query; also the queue's
    /// readiness probe.
    async fn stats(&self) -> Result<QueueStats, QueueError>;
}

/// Unfinished jobs of one kind, see [`JobQueue::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindStats {
    /// Job kind.
    pub kind: String,
    /// Available (waiting or scheduled) jobs.
    pub available: u64,
    /// Jobs under a lease.
    pub running: u64,
    /// Jobs on the dead-letter list (discarded after their last attempt).
    pub discarded: u64,
    /// `run_at` of the oldest available job that is already due (None when
    /// nothing is due): how long the queue has kept work waiting.
    pub oldest_due: Option<DateTime<Utc>>,
}

/// Unfinished jobs per kind, sorted by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// One entry per kind with at least one unfinished job.
    pub kinds: Vec<KindStats>,
}

impl QueueStats {
    /// Builds stats from `(kind, state, count, oldest due run_at)` rows as a
    /// `GROUP BY kind, state` query returns them; unknown states are ignored.
    pub fn from_rows(rows: impl IntoIterator<Item = (String, String, u64, Option<DateTime<Utc>>)>) -> Self {
        let mut by_kind: std::collections::BTreeMap<String, KindStats> = std::collections::BTreeMap::new();
        for (kind, state, count, oldest) in rows {
            if !matches!(state.as_str(), "available" | "running" | "discarded") {
                continue;
            }
            let entry = by_kind.entry(kind.clone()).or_insert_with(|| KindStats {
                kind,
                ..KindStats::default()
            });
            match state.as_str() {
                "available" => {
                    entry.available += count;
                    entry.oldest_due = match (entry.oldest_due, oldest) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                "running" => entry.running += count,
                "discarded" => entry.discarded += count,
                _ => {}
            }
        }
        Self {
            kinds: by_kind.into_values().collect(),
        }
    }
}

/// Failures of a [`JobQueue`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The lease is stale: the job was reclaimed, finished or released.
    #[error("lease on job {job_id} (attempt {attempt}) was lost")]
    LeaseLost {
        /// Job.
        job_id: JobId,
        /// Attempt of the stale lease.
        attempt: u32,
    },
    /// No such job.
    #[error("job {0} not found")]
    NotFound(JobId),
    /// The job is malformed (e.g. `max_attempts` 0, empty kind).
    #[error("invalid job: {0}")]
    Invalid(String),
    /// Anything else.
    #[error("{backend} job queue failed: {source}")]
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

impl QueueError {
    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, QueueError::Backend { retryable: true, .. })
    }
}

/// Validates a job before enqueueing (shared by adapters).
pub fn validate_new_job(job: &NewJob) -> Result<(), QueueError> {
    if job.kind.is_empty() || job.kind.len() > 64 {
        return Err(QueueError::Invalid("kind must be 1–64 characters".into()));
    }
    if job.max_attempts == 0 {
        return Err(QueueError::Invalid("max_attempts must be at least 1".into()));
    }
    if job.dedup_key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 256) {
        return Err(QueueError::Invalid("dedup_key must be 1–256 characters".into()));
    }
    Ok(())
}

/// Validates the name of a periodic job (1–200 characters; shared by adapters).
pub fn validate_periodic_name(name: &str) -> Result<(), QueueError> {
    if name.is_empty() || name.len() > 200 {
        return Err(QueueError::Invalid("periodic job name must be 1–200 characters".into()));
    }
    Ok(())
}

/// The dedup key [`JobQueue::enqueue_periodic`] gives a periodic job that has
/// none: `cron:<name>`.
pub fn periodic_dedup_key(name: &str) -> String {
    format!("cron:{name}")
}

/// The start of the period of length `period` that contains `now`, counting
/// periods from the Unix epoch (so an hour starts at `:00:00`, a day at
/// midnight UTC). A zero `period` returns `now` unchanged.
///
/// ```
/// # use chrono::{DateTime, Utc};
/// # use std::time::Duration;
/// let now: DateTime<Utc> = "2026-11-23T08:42:17.5Z".parse().unwrap();
/// let hour = lettuce_ports::queue::period_slot(now, Duration::from_secs(3600));
/// assert_eq!(hour.to_rfc3339(), "2026-11-23T08:00:00+00:00");
/// ```
pub fn period_slot(now: DateTime<Utc>, period: Duration) -> DateTime<Utc> {
    const NANOS: i128 = 1_000_000_000;
    let Ok(period) = i128::try_from(period.as_nanos()) else {
        return now;
    };
    if period == 0 {
        return now;
    }
    let total = i128::from(now.timestamp()) * NANOS + i128::from(now.timestamp_subsec_nanos());
    let floor = total - total.rem_euclid(period);
    let secs = floor.div_euclid(NANOS);
    let nanos = floor.rem_euclid(NANOS);
    match (i64::try_from(secs), u32::try_from(nanos)) {
        (Ok(secs), Ok(nanos)) => DateTime::from_timestamp(secs, nanos).unwrap_or(now),
        _ => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn period_slot_floors_to_the_hour_and_day() {
        let now = at("2026-11-23T08:42:17.123456789Z");
        assert_eq!(period_slot(now, Duration::from_secs(3600)), at("2026-11-23T08:00:00Z"));
        assert_eq!(
            period_slot(now, Duration::from_secs(86_400)),
            at("2026-11-23T00:00:00Z")
        );
        assert_eq!(period_slot(now, Duration::from_secs(900)), at("2026-11-23T08:30:00Z"));
        assert_eq!(
            period_slot(now, Duration::from_millis(1)),
            at("2026-11-23T08:42:17.123Z")
        );
    }

    #[test]
    fn period_slot_is_stable_within_a_period_and_moves_at_the_boundary() {
        let hour = Duration::from_secs(3600);
        let start = at("2026-11-23T08:00:00Z");
        assert_eq!(period_slot(start, hour), start);
        assert_eq!(period_slot(at("2026-11-23T08:59:59.999999999Z"), hour), start);
        assert_eq!(
            period_slot(at("2026-11-23T09:00:00Z"), hour),
            at("2026-11-23T09:00:00Z")
        );
    }

    #[test]
    fn period_slot_floors_before_the_epoch_too() {
        let hour = Duration::from_secs(3600);
        assert_eq!(
            period_slot(at("1969-12-31T23:30:00Z"), hour),
            at("1969-12-31T23:00:00Z")
        );
        assert_eq!(
            period_slot(at("1970-01-01T00:00:00Z"), hour),
            at("1970-01-01T00:00:00Z")
        );
    }

    #[test]
    fn period_slot_with_zero_or_huge_period() {
        let now = at("2026-11-23T08:42:17Z");
        assert_eq!(period_slot(now, Duration::ZERO), now);
        // A period longer than the time since the epoch floors to the epoch.
        assert_eq!(
            period_slot(now, Duration::from_secs(100 * 365 * 86_400)),
            DateTime::<Utc>::UNIX_EPOCH
        );
        assert_eq!(period_slot(now, Duration::MAX), DateTime::<Utc>::UNIX_EPOCH);
    }

    #[test]
    fn periodic_name_validation() {
        assert!(validate_periodic_name("license_reverify").is_ok());
        assert!(matches!(validate_periodic_name(""), Err(QueueError::Invalid(_))));
        assert!(matches!(
            validate_periodic_name(&"x".repeat(201)),
            Err(QueueError::Invalid(_))
        ));
        assert_eq!(periodic_dedup_key("telemetry"), "cron:telemetry");
    }
}
