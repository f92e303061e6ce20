//! In-memory [`JobQueue`] and its contract suite.

use crate::clock::{Clock, SystemClock};
use crate::queue::{
    ClaimedJob, EnqueueOutcome, FailOutcome, JobQueue, JobRecord, JobState, KindStats, Lease, NewJob, QueueError,
    QueueStats, periodic_dedup_key, validate_new_job, validate_periodic_name,
};
use crate::testing::lock;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lettuce_domain::JobId;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use uuid::Uuid;

/// A [`JobQueue`] in memory with the full semantics of the port (leases,
/// fencing, retries, dead letters, dedup coalescing, per-key exclusion and
/// periodic slots, which it never forgets).
///
/// Time comes from a [`Clock`] ([`SystemClock`] by default; use
/// [`MemoryQueue::with_clock`] and a
/// [`ManualClock`](crate::testing::clock::ManualClock) to expire leases
/// without sleeping). [`JobQueue::wait_for_work`] wakes on every enqueue,
/// retry and release through a [`Notify`].
#[derive(Debug)]
pub struct MemoryQueue {
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
    notify: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    jobs: HashMap<JobId, Job>,
    next_seq: u64,
    /// Periodic slots ever enqueued (never forgotten).
    slots: HashSet<(String, DateTime<Utc>)>,
}

impl Inner {
    /// Stores `job` (validated) or coalesces it into the available job with
    /// its dedup key.
    fn enqueue(&mut self, job: NewJob, now: DateTime<Utc>) -> EnqueueOutcome {
        let existing = job.dedup_key.as_ref().and_then(|key| {
            self.jobs
                .values()
                .find(|j| j.record.state == JobState::Available && j.record.dedup_key.as_ref() == Some(key))
                .map(|j| j.record.id)
        });
        if let Some(id) = existing {
            return EnqueueOutcome::Coalesced(id);
        }
        let id = JobId(Uuid::now_v7());
        let seq = self.next_seq;
        self.next_seq += 1;
        let record = JobRecord {
            id,
            kind: job.kind,
            payload: job.payload,
            state: JobState::Available,
            attempt: 0,
            max_attempts: job.max_attempts,
            dedup_key: job.dedup_key,
            run_at: job.run_at.unwrap_or(now),
            last_error: None,
            created_at: now,
        };
        self.jobs.insert(
            id,
            Job {
                record,
                priority: job.priority,
                seq,
                owner: None,
                lease_expires: None,
            },
        );
        EnqueueOutcome::Enqueued(id)
    }
}

#[derive(Debug, Clone)]
struct Job {
    record: JobRecord,
    priority: i16,
    seq: u64,
    owner: Option<String>,
    lease_expires: Option<DateTime<Utc>>,
}

impl Job {
    fn running_live(&self, now: DateTime<Utc>) -> bool {
        self.record.state == JobState::Running && self.lease_expires.is_some_and(|t| t > now)
    }
    fn claimable(&self, now: DateTime<Utc>) -> bool {
        match self.record.state {
            JobState::Available => self.record.run_at <= now,
            JobState::Running => !self.running_live(now),
            _ => false,
        }
    }
}

impl Default for MemoryQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryQueue {
    /// An empty queue on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty queue on `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            inner: Mutex::new(Inner::default()),
            notify: Notify::new(),
        }
    }

    /// Every job in enqueue order (test inspection).
    pub fn jobs(&self) -> Vec<JobRecord> {
        let inner = lock(&self.inner);
        let mut jobs: Vec<&Job> = inner.jobs.values().collect();
        jobs.sort_by_key(|j| j.seq);
        jobs.into_iter().map(|j| j.record.clone()).collect()
    }

    /// Number of jobs in `state`.
    pub fn count(&self, state: JobState) -> usize {
        lock(&self.inner)
            .jobs
            .values()
            .filter(|j| j.record.state == state)
            .count()
    }

    fn wake(&self) {
        // Wake current waiters, and leave a permit for the next one so an
        // enqueue racing a worker that is about to wait is not lost.
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// The running job `lease` refers to, if the lease is current.
    fn fenced<'a>(inner: &'a mut Inner, lease: &Lease) -> Result<&'a mut Job, QueueError> {
        let lost = || QueueError::LeaseLost {
            job_id: lease.job_id,
            attempt: lease.attempt,
        };
        let job = inner.jobs.get_mut(&lease.job_id).ok_or_else(lost)?;
        let current = job.record.state == JobState::Running
            && job.record.attempt == lease.attempt
            && job.owner.as_deref() == Some(lease.owner.as_str());
        if current { Ok(job) } else { Err(lost()) }
    }
}

/// `now + d`, saturating instead of overflowing.
fn plus(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[async_trait]
impl JobQueue for MemoryQueue {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome, QueueError> {
        validate_new_job(&job)?;
        let now = self.clock.now();
        let outcome = lock(&self.inner).enqueue(job, now);
        self.wake();
        Ok(outcome)
    }

    async fn claim(&self, owner: &str, limit: usize, lease_for: Duration) -> Result<Vec<ClaimedJob>, QueueError> {
        let now = self.clock.now();
        let expires = plus(now, lease_for);
        let mut inner = lock(&self.inner);
        // Keys held by a job running under a live lease.
        let mut busy: Vec<String> = inner
            .jobs
            .values()
            .filter(|j| j.running_live(now))
            .filter_map(|j| j.record.dedup_key.clone())
            .collect();
        let mut candidates: Vec<&Job> = inner.jobs.values().filter(|j| j.claimable(now)).collect();
        candidates.sort_by_key(|j| (j.priority, j.record.run_at, j.seq));
        let mut chosen = Vec::new();
        for job in candidates {
            if chosen.len() >= limit {
                break;
            }
            if let Some(key) = &job.record.dedup_key {
                if busy.contains(key) {
                    continue;
                }
                busy.push(key.clone());
            }
            chosen.push(job.record.id);
        }
        let mut claimed = Vec::with_capacity(chosen.len());
        for id in chosen {
            let Some(job) = inner.jobs.get_mut(&id) else { continue };
            job.record.state = JobState::Running;
            job.record.attempt += 1;
            job.owner = Some(owner.to_owned());
            job.lease_expires = Some(expires);
            claimed.push(ClaimedJob {
                kind: job.record.kind.clone(),
                payload: job.record.payload.clone(),
                dedup_key: job.record.dedup_key.clone(),
                max_attempts: job.record.max_attempts,
                lease: Lease {
                    job_id: id,
                    owner: owner.to_owned(),
                    attempt: job.record.attempt,
                    expires_at: expires,
                },
            });
        }
        Ok(claimed)
    }

    async fn heartbeat(&self, lease: &Lease, lease_for: Duration) -> Result<Lease, QueueError> {
        let expires = plus(self.clock.now(), lease_for);
        let mut inner = lock(&self.inner);
        let job = Self::fenced(&mut inner, lease)?;
        job.lease_expires = Some(expires);
        Ok(Lease {
            expires_at: expires,
            ..lease.clone()
        })
    }

    async fn complete(&self, lease: &Lease) -> Result<(), QueueError> {
        let mut inner = lock(&self.inner);
        let job = Self::fenced(&mut inner, lease)?;
        job.record.state = JobState::Completed;
        job.owner = None;
        job.lease_expires = None;
        Ok(())
    }

    async fn fail(&self, lease: &Lease, error: &str, retry_at: DateTime<Utc>) -> Result<FailOutcome, QueueError> {
        let outcome = {
            let mut inner = lock(&self.inner);
            let job = Self::fenced(&mut inner, lease)?;
            job.record.last_error = Some(error.to_owned());
            job.owner = None;
            job.lease_expires = None;
            if job.record.attempt >= job.record.max_attempts {
                job.record.state = JobState::Discarded;
                FailOutcome::Discarded
            } else {
                job.record.state = JobState::Available;
                job.record.run_at = retry_at;
                FailOutcome::Retrying(retry_at)
            }
        };
        if matches!(outcome, FailOutcome::Retrying(_)) {
            self.wake();
        }
        Ok(outcome)
    }

    async fn release(&self, lease: &Lease) -> Result<(), QueueError> {
        let now = self.clock.now();
        {
            let mut inner = lock(&self.inner);
            let job = Self::fenced(&mut inner, lease)?;
            job.record.state = JobState::Available;
            job.record.attempt = job.record.attempt.saturating_sub(1);
            job.record.run_at = job.record.run_at.min(now);
            job.owner = None;
            job.lease_expires = None;
        }
        self.wake();
        Ok(())
    }

    async fn get(&self, id: JobId) -> Result<JobRecord, QueueError> {
        lock(&self.inner)
            .jobs
            .get(&id)
            .map(|j| j.record.clone())
            .ok_or(QueueError::NotFound(id))
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let now = self.clock.now();
        let inner = lock(&self.inner);
        Ok(QueueStats::from_rows(inner.jobs.values().map(|j| {
            let due = (j.record.state == JobState::Available && j.record.run_at <= now).then_some(j.record.run_at);
            (j.record.kind.clone(), j.record.state.as_str().to_owned(), 1, due)
        })))
    }

    async fn list(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, QueueError> {
        let inner = lock(&self.inner);
        let mut jobs: Vec<&Job> = inner.jobs.values().filter(|j| j.record.state == state).collect();
        jobs.sort_by_key(|j| std::cmp::Reverse((j.record.created_at, j.seq)));
        Ok(jobs.into_iter().take(limit).map(|j| j.record.clone()).collect())
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
        let now = self.clock.now();
        let outcome = {
            let mut inner = lock(&self.inner);
            if !inner.slots.insert((name.to_owned(), slot)) {
                return Ok(None);
            }
            inner.enqueue(job, now)
        };
        self.wake();
        Ok(Some(outcome))
    }

    async fn wait_for_work(&self, max: Duration) {
        // Also wake when a delayed job becomes due or a lease runs out.
        let now = self.clock.now();
        let next_due = {
            let inner = lock(&self.inner);
            inner
                .jobs
                .values()
                .filter_map(|j| match j.record.state {
                    JobState::Available => Some(j.record.run_at),
                    JobState::Running => j.lease_expires,
                    _ => None,
                })
                .min()
        };
        let wait = match next_due {
            Some(t) if t <= now => return,
            Some(t) => (t - now).to_std().map_or(max, |d| d.min(max)),
            None => max,
        };
        let _ = tokio::time::timeout(wait, self.notify.notified()).await;
    }
}

// ── contract ──────────────────────────────────────────────────────────────

fn ok<T>(b: &str, res: Result<T, QueueError>, what: &str) -> T {
    res.unwrap_or_else(|e| panic!("[{b}] {what} must succeed, got error: {e:?}"))
}

fn job(kind: &str) -> NewJob {
    NewJob::new(kind, serde_json::json!({ "n": kind, "nested": { "list": [1, 2, 3] } }))
}

async fn claim_one(q: &dyn JobQueue, owner: &str, lease: Duration, step: &str) -> ClaimedJob {
    let b = q.backend();
    let mut got = ok(b, q.claim(owner, 1, lease).await, "claim");
    assert_eq!(
        got.len(),
        1,
        "[{b}] {step}: expected exactly one claimable job, got {}",
        got.len()
    );
    got.remove(0)
}

async fn assert_nothing_claimable(q: &dyn JobQueue, step: &str) {
    let b = q.backend();
    let got = ok(b, q.claim("contract-probe", 10, Duration::from_secs(30)).await, "claim");
    let ids: Vec<JobId> = got.iter().map(|c| c.lease.job_id).collect();
    // Do not leave probe claims behind, whatever happened.
    for c in &got {
        let _ = q.complete(&c.lease).await;
    }
    assert!(
        ids.is_empty(),
        "[{b}] {step}: nothing may be claimable, but claim returned {ids:?}"
    );
}

async fn assert_idle(q: &dyn JobQueue, step: &str) {
    let b = q.backend();
    let avail = ok(b, q.list(JobState::Available, 100).await, "list(Available)");
    let running = ok(b, q.list(JobState::Running, 100).await, "list(Running)");
    assert!(
        avail.is_empty() && running.is_empty(),
        "[{b}] after step `{step}` the queue must hold no available or running job (contract needs a fresh queue); \
         available: {:?}, running: {:?}",
        avail.iter().map(|j| j.id).collect::<Vec<_>>(),
        running.iter().map(|j| j.id).collect::<Vec<_>>()
    );
}

fn expect_lease_lost<T: std::fmt::Debug>(b: &str, res: Result<T, QueueError>, stale: &Lease, op: &str) {
    match res {
        Err(QueueError::LeaseLost { job_id, attempt }) => {
            assert_eq!(job_id, stale.job_id, "[{b}] LeaseLost from {op} must name the job");
            assert_eq!(
                attempt, stale.attempt,
                "[{b}] LeaseLost from {op} must name the stale attempt"
            );
        }
        other => panic!("[{b}] {op} with a stale lease (fencing) must be QueueError::LeaseLost, got {other:?}"),
    }
}

/// The periodic part of the contract ([`JobQueue::enqueue_periodic`]); leaves
/// the queue idle.
async fn periodic_contract(q: &dyn JobQueue) {
    let b = q.backend();
    let long = Duration::from_secs(30);
    let hour = Duration::from_secs(3600);
    let name = format!("contract_periodic_{}", Uuid::new_v4().simple());
    let slot = crate::queue::period_slot(Utc::now(), hour);
    let next = slot + chrono::Duration::hours(1);
    let later = slot + chrono::Duration::hours(2);

    match q.enqueue_periodic("", slot, job("contract_periodic")).await {
        Err(QueueError::Invalid(_)) => {}
        other => panic!("[{b}] enqueue_periodic with an empty name must be QueueError::Invalid, got {other:?}"),
    }
    let mut zero = job("contract_periodic");
    zero.max_attempts = 0;
    match q.enqueue_periodic(&name, slot, zero).await {
        Err(QueueError::Invalid(_)) => {}
        other => panic!("[{b}] enqueue_periodic of an invalid job must be QueueError::Invalid, got {other:?}"),
    }
    assert_idle(q, "periodic validation").await;

    // The first call for a slot stores the job (the invalid call above must
    // not have reserved the slot); a second call for the slot is None.
    let first = match ok(
        b,
        q.enqueue_periodic(&name, slot, job("contract_periodic")).await,
        "enqueue_periodic",
    ) {
        Some(EnqueueOutcome::Enqueued(id)) => id,
        other => panic!(
            "[{b}] the first enqueue_periodic of a (name, slot) must be Some(Enqueued) (a rejected call reserves \
             nothing), got {other:?}"
        ),
    };
    let again = ok(
        b,
        q.enqueue_periodic(&name, slot, job("contract_periodic")).await,
        "enqueue_periodic",
    );
    assert!(
        again.is_none(),
        "[{b}] enqueue_periodic of a (name, slot) already enqueued must return None, got {again:?}"
    );
    let avail = ok(b, q.list(JobState::Available, 100).await, "list(Available)");
    assert_eq!(
        avail.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![first],
        "[{b}] a repeated enqueue_periodic must not store a second job"
    );

    // Still None once the slot's job has run: slots outlive their jobs.
    let c = claim_one(q, "w1", long, "the periodic job").await;
    assert_eq!(
        c.lease.job_id, first,
        "[{b}] the claimed periodic job is the one enqueued"
    );
    assert_eq!(c.kind, "contract_periodic", "[{b}] the periodic job keeps its kind");
    let while_running = ok(
        b,
        q.enqueue_periodic(&name, slot, job("contract_periodic")).await,
        "enqueue_periodic",
    );
    assert!(
        while_running.is_none(),
        "[{b}] enqueue_periodic of a slot whose job is running must return None, got {while_running:?}"
    );
    ok(b, q.complete(&c.lease).await, "complete");
    let after = ok(
        b,
        q.enqueue_periodic(&name, slot, job("contract_periodic")).await,
        "enqueue_periodic",
    );
    assert!(
        after.is_none(),
        "[{b}] enqueue_periodic of a slot whose job already completed must still return None (slots are \
         remembered, not only while the job is available), got {after:?}"
    );
    assert_nothing_claimable(q, "a periodic slot enqueued again after its job completed").await;
    assert_idle(q, "periodic: same slot").await;

    // Another slot of the same name is a new run.
    let second = match ok(
        b,
        q.enqueue_periodic(&name, next, job("contract_periodic")).await,
        "enqueue_periodic",
    ) {
        Some(outcome) => outcome.id(),
        None => panic!("[{b}] enqueue_periodic of a new slot must return Some, got None"),
    };
    assert_ne!(second, first, "[{b}] a new slot's run is a new job");
    let c = claim_one(q, "w1", long, "the next slot's periodic job").await;
    assert_eq!(c.lease.job_id, second, "[{b}] the next slot's job is claimable");
    ok(b, q.complete(&c.lease).await, "complete");
    assert_idle(q, "periodic: next slot").await;

    // Two racing calls for a new slot: exactly one stores the job.
    let (a, z) = tokio::join!(
        q.enqueue_periodic(&name, later, job("contract_periodic")),
        q.enqueue_periodic(&name, later, job("contract_periodic")),
    );
    let (a, z) = (ok(b, a, "enqueue_periodic"), ok(b, z, "enqueue_periodic"));
    let winners: Vec<JobId> = [a, z].into_iter().flatten().map(EnqueueOutcome::id).collect();
    assert_eq!(
        winners.len(),
        1,
        "[{b}] of two concurrent enqueue_periodic calls for one new slot exactly one must return Some, got {a:?} \
         and {z:?}"
    );
    let c = claim_one(q, "w1", long, "the raced slot's periodic job").await;
    assert_eq!(c.lease.job_id, winners[0], "[{b}] the winner's job is the one stored");
    ok(b, q.complete(&c.lease).await, "complete");
    assert_nothing_claimable(q, "a slot enqueued by two racing calls").await;
    assert_idle(q, "periodic: concurrent").await;
}

/// Checks the [`JobQueue`] contract: every rule of the
/// [module docs](crate::queue) (leases and expiry, fencing, retries and dead
/// letters, dedup coalescing, per-key exclusion, periodic slots), claim
/// ordering and limits, validation, `get`/`list` and `wait_for_work`.
///
/// Periodic checks use a fresh random name per run, so a persistent backend
/// (whose slots outlive the run) can run the suite again.
///
/// Needs a **fresh, empty** queue whose time is the real time (leases of a
/// few hundred milliseconds expire by sleeping; the whole suite takes about
/// 1.5 s). Every step completes or discards what it creates, so the queue is
/// idle again at the end.
///
/// # Panics
///
/// On the first broken rule, with a message naming it.
pub async fn job_queue_contract(queue: &dyn JobQueue) {
    let q = queue;
    let b = q.backend();
    let long = Duration::from_secs(30);
    assert_idle(q, "start").await;

    // ── get(unknown), empty claim, validation ─────────────────────────────
    let unknown = JobId(Uuid::new_v4());
    match q.get(unknown).await {
        Err(QueueError::NotFound(id)) => assert_eq!(id, unknown, "[{b}] NotFound must name the job"),
        other => panic!("[{b}] get of an unknown job must be QueueError::NotFound, got {other:?}"),
    }
    let none = ok(b, q.claim("w1", 10, long).await, "claim");
    assert!(
        none.is_empty(),
        "[{b}] claim on an empty queue must return nothing, got {} jobs",
        none.len()
    );
    let mut zero = job("contract_zero_attempts");
    zero.max_attempts = 0;
    match q.enqueue(zero).await {
        Err(QueueError::Invalid(_)) => {}
        other => panic!("[{b}] enqueue with max_attempts 0 must be QueueError::Invalid, got {other:?}"),
    }
    match q.enqueue(job("")).await {
        Err(QueueError::Invalid(_)) => {}
        other => panic!("[{b}] enqueue with an empty kind must be QueueError::Invalid, got {other:?}"),
    }
    assert_idle(q, "validation (invalid jobs must not be stored)").await;

    // ── stats: per kind and state, oldest due available job ───────────────
    let before = ok(b, q.stats().await, "stats");
    let s1 = ok(b, q.enqueue(job("contract_stats")).await, "enqueue").id();
    let s2 = ok(b, q.enqueue(job("contract_stats")).await, "enqueue").id();
    let after = ok(b, q.stats().await, "stats");
    let kind = |st: &QueueStats| {
        st.kinds
            .iter()
            .find(|k| k.kind == "contract_stats")
            .cloned()
            .unwrap_or_default()
    };
    assert!(kind(&before).available == 0, "[{b}] stats before enqueue: {before:?}");
    let k = kind(&after);
    assert_eq!(
        (k.available, k.running),
        (2, 0),
        "[{b}] stats must count two available jobs: {after:?}"
    );
    assert!(
        k.oldest_due.is_some(),
        "[{b}] stats must report the oldest due available job: {after:?}"
    );
    let claimed = ok(b, q.claim("w-stats", 10, long).await, "claim");
    let k = kind(&ok(b, q.stats().await, "stats"));
    assert_eq!((k.available, k.running), (0, 2), "[{b}] stats after claim: {k:?}");
    assert_eq!(k.oldest_due, None, "[{b}] nothing is due once both are claimed: {k:?}");
    for c in &claimed {
        ok(b, q.complete(&c.lease).await, "complete");
    }
    assert!(
        claimed.iter().all(|c| [s1, s2].contains(&c.lease.job_id)),
        "[{b}] stats jobs claimed"
    );
    assert_eq!(
        kind(&ok(b, q.stats().await, "stats")),
        KindStats::default(),
        "[{b}] completed jobs leave stats"
    );

    // ── complete_many: batched, fenced ────────────────────────────────────
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(ok(b, q.enqueue(job(&format!("contract_many_{i}"))).await, "enqueue").id());
    }
    let claimed = ok(b, q.claim("w-many", 10, long).await, "claim");
    assert_eq!(claimed.len(), 3, "[{b}] claim must hand out all three jobs");
    let mut leases: Vec<Lease> = claimed.iter().map(|c| c.lease.clone()).collect();
    let mut stale = leases[0].clone();
    stale.attempt += 1;
    leases.push(stale);
    let done = ok(b, q.complete_many(&leases).await, "complete_many");
    assert_eq!(
        done, 3,
        "[{b}] complete_many must complete every live lease and skip stale ones (their complete must be QueueError::LeaseLost)"
    );
    for id in &ids {
        assert_eq!(
            ok(b, q.get(*id).await, "get").state,
            JobState::Completed,
            "[{b}] complete_many must complete job {id}"
        );
    }
    assert_eq!(
        ok(b, q.complete_many(&leases[..1]).await, "complete_many"),
        0,
        "[{b}] a completed job's lease is stale"
    );
    assert_eq!(
        ok(b, q.complete_many(&[]).await, "complete_many"),
        0,
        "[{b}] an empty batch completes nothing"
    );
    assert_idle(q, "complete_many").await;

    // ── enqueue / claim / complete ────────────────────────────────────────
    let new = job("contract_basic");
    let before = Utc::now();
    let id = match ok(b, q.enqueue(new.clone()).await, "enqueue") {
        EnqueueOutcome::Enqueued(id) => id,
        other => panic!("[{b}] enqueue of a job without dedup key must be Enqueued, got {other:?}"),
    };
    let rec = ok(b, q.get(id).await, "get");
    assert_eq!(rec.id, id, "[{b}] get must return the job asked for");
    assert_eq!(rec.state, JobState::Available, "[{b}] a new job is available");
    assert_eq!(rec.attempt, 0, "[{b}] a new job has attempt 0");
    assert_eq!(rec.kind, new.kind, "[{b}] kind must roundtrip");
    assert_eq!(rec.payload, new.payload, "[{b}] payload must roundtrip");
    assert_eq!(rec.max_attempts, new.max_attempts, "[{b}] max_attempts must roundtrip");
    assert_eq!(rec.dedup_key, None, "[{b}] dedup_key must roundtrip");
    assert!(rec.last_error.is_none(), "[{b}] a new job has no last_error");
    let slack = chrono::Duration::seconds(2);
    assert!(
        rec.run_at >= before - slack && rec.run_at <= Utc::now() + slack,
        "[{b}] run_at None means now, got {}",
        rec.run_at
    );
    let c = claim_one(q, "w1", long, "basic claim").await;
    assert_eq!(c.lease.job_id, id, "[{b}] claim must hand out the enqueued job");
    assert_eq!(c.lease.owner, "w1", "[{b}] the lease names its owner");
    assert_eq!(c.lease.attempt, 1, "[{b}] the first claim is attempt 1");
    assert!(
        c.lease.expires_at > Utc::now() + chrono::Duration::seconds(20),
        "[{b}] the lease must run for lease_for"
    );
    assert_eq!(c.kind, new.kind, "[{b}] ClaimedJob.kind");
    assert_eq!(c.payload, new.payload, "[{b}] ClaimedJob.payload");
    assert_eq!(c.max_attempts, new.max_attempts, "[{b}] ClaimedJob.max_attempts");
    let rec = ok(b, q.get(id).await, "get");
    assert_eq!(
        (rec.state, rec.attempt),
        (JobState::Running, 1),
        "[{b}] a claimed job is running, attempt 1"
    );
    assert_nothing_claimable(q, "a job running under a live lease").await;
    let running = ok(b, q.list(JobState::Running, 10).await, "list(Running)");
    assert_eq!(
        running.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![id],
        "[{b}] list(Running) must show the claimed job"
    );
    ok(b, q.complete(&c.lease).await, "complete");
    let rec = ok(b, q.get(id).await, "get");
    assert_eq!(
        (rec.state, rec.attempt),
        (JobState::Completed, 1),
        "[{b}] a completed job is Completed with attempt 1"
    );
    let done = ok(b, q.list(JobState::Completed, 100).await, "list(Completed)");
    assert!(
        done.iter().any(|j| j.id == id),
        "[{b}] list(Completed) must contain the completed job"
    );
    expect_lease_lost(
        b,
        q.complete(&c.lease).await,
        &c.lease,
        "complete of an already completed job",
    );
    assert_nothing_claimable(q, "after completion").await;
    assert_idle(q, "enqueue/claim/complete").await;

    // ── run_at in the future ──────────────────────────────────────────────
    let later = ok(
        b,
        q.enqueue(job("contract_later").run_at(Utc::now() + chrono::Duration::milliseconds(300)))
            .await,
        "enqueue",
    );
    assert_nothing_claimable(q, "a job whose run_at is in the future").await;
    tokio::time::sleep(Duration::from_millis(450)).await;
    let c = claim_one(q, "w1", long, "a job whose run_at has passed").await;
    assert_eq!(
        c.lease.job_id,
        later.id(),
        "[{b}] the delayed job must be claimable once due"
    );
    ok(b, q.complete(&c.lease).await, "complete");
    assert_idle(q, "run_at").await;

    // ── ordering and limit ────────────────────────────────────────────────
    let now = Utc::now();
    let mk = |name: &str, priority: i16, ago_s: i64| {
        let mut j = job(name).run_at(now - chrono::Duration::seconds(ago_s));
        j.priority = priority;
        j
    };
    let a = ok(b, q.enqueue(mk("contract_order_a", 5, 3)).await, "enqueue").id();
    let bb = ok(b, q.enqueue(mk("contract_order_b", 0, 1)).await, "enqueue").id();
    let c_ = ok(b, q.enqueue(mk("contract_order_c", 0, 2)).await, "enqueue").id();
    let d = ok(b, q.enqueue(mk("contract_order_d", 5, 4)).await, "enqueue").id();
    let first = claim_one(q, "w1", long, "ordering").await;
    assert_eq!(
        first.lease.job_id, c_,
        "[{b}] claim order: lowest priority number first, then oldest run_at"
    );
    let two = ok(b, q.claim("w1", 2, long).await, "claim");
    assert_eq!(
        two.len(),
        2,
        "[{b}] claim(limit 2) with 3 due jobs must return exactly 2"
    );
    let mut got: Vec<JobId> = two.iter().map(|c| c.lease.job_id).collect();
    got.sort();
    let mut want = vec![bb, d];
    want.sort();
    assert_eq!(
        got, want,
        "[{b}] claim order: priority 0 (older first), then priority 5 oldest run_at"
    );
    let rest = ok(b, q.claim("w1", 10, long).await, "claim");
    assert_eq!(
        rest.iter().map(|c| c.lease.job_id).collect::<Vec<_>>(),
        vec![a],
        "[{b}] the last job comes last"
    );
    for c in std::iter::once(&first).chain(two.iter()).chain(rest.iter()) {
        ok(b, q.complete(&c.lease).await, "complete");
    }
    assert_idle(q, "ordering").await;

    // ── dedup coalescing and per-key exclusion ────────────────────────────
    let key = format!("contract:{}", Uuid::new_v4());
    let first = match ok(b, q.enqueue(job("contract_dedup").dedup(key.clone())).await, "enqueue") {
        EnqueueOutcome::Enqueued(id) => id,
        other => panic!("[{b}] the first job with a dedup key must be Enqueued, got {other:?}"),
    };
    match ok(b, q.enqueue(job("contract_dedup").dedup(key.clone())).await, "enqueue") {
        EnqueueOutcome::Coalesced(id) => {
            assert_eq!(
                id, first,
                "[{b}] Coalesced must carry the id of the available job with that key"
            )
        }
        other => panic!("[{b}] a second job with the dedup key of an available job must be Coalesced, got {other:?}"),
    }
    let avail = ok(b, q.list(JobState::Available, 100).await, "list(Available)");
    assert_eq!(avail.len(), 1, "[{b}] at most one available job per dedup key");
    assert_eq!(
        avail[0].dedup_key.as_deref(),
        Some(key.as_str()),
        "[{b}] dedup_key must roundtrip"
    );
    let running1 = ok(b, q.claim("w1", 10, long).await, "claim");
    assert_eq!(
        running1.len(),
        1,
        "[{b}] a coalesced enqueue must not create a second job"
    );
    assert_eq!(
        running1[0].lease.job_id, first,
        "[{b}] the coalesced job is the one claimed"
    );
    assert_eq!(
        running1[0].dedup_key.as_deref(),
        Some(key.as_str()),
        "[{b}] ClaimedJob.dedup_key"
    );
    let second = match ok(b, q.enqueue(job("contract_dedup").dedup(key.clone())).await, "enqueue") {
        EnqueueOutcome::Enqueued(id) => id,
        other => panic!("[{b}] once the keyed job is running, a new job with its key must be Enqueued, got {other:?}"),
    };
    assert_ne!(second, first, "[{b}] the new keyed job needs a new id");
    assert_nothing_claimable(
        q,
        "a job whose dedup key is running under a live lease (per-key exclusion)",
    )
    .await;
    ok(b, q.complete(&running1[0].lease).await, "complete");
    let c = claim_one(q, "w2", long, "the keyed job after the running one completed").await;
    assert_eq!(
        c.lease.job_id, second,
        "[{b}] the second keyed job is claimable once the first completed"
    );
    ok(b, q.complete(&c.lease).await, "complete");
    assert_idle(q, "dedup").await;

    // ── lease expiry and fencing ──────────────────────────────────────────
    let id = ok(b, q.enqueue(job("contract_expiry")).await, "enqueue").id();
    let stale = claim_one(q, "w1", Duration::from_millis(200), "lease expiry: first claim")
        .await
        .lease;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let fresh = claim_one(q, "w2", long, "a job whose lease expired must be claimable again")
        .await
        .lease;
    assert_eq!(fresh.job_id, id, "[{b}] the expired job is reclaimed");
    assert_eq!(fresh.attempt, 2, "[{b}] reclaiming an expired job increments attempt");
    assert_eq!(fresh.owner, "w2", "[{b}] the new lease names the new owner");
    expect_lease_lost(b, q.complete(&stale).await, &stale, "complete");
    expect_lease_lost(b, q.heartbeat(&stale, long).await, &stale, "heartbeat");
    expect_lease_lost(b, q.fail(&stale, "stale failure", Utc::now()).await, &stale, "fail");
    expect_lease_lost(b, q.release(&stale).await, &stale, "release");
    let rec = ok(b, q.get(id).await, "get");
    assert_eq!(
        (rec.state, rec.attempt, rec.last_error.as_deref()),
        (JobState::Running, 2, None),
        "[{b}] calls with a stale lease must not change the job"
    );
    let mut impostor = fresh.clone();
    impostor.owner = "w3".into();
    expect_lease_lost(
        b,
        q.complete(&impostor).await,
        &impostor,
        "complete with another owner's name",
    );
    ok(b, q.complete(&fresh).await, "complete with the current lease");
    assert_eq!(
        ok(b, q.get(id).await, "get").state,
        JobState::Completed,
        "[{b}] the current lease completes the job"
    );
    assert_idle(q, "lease expiry").await;

    // ── heartbeat extends the lease ───────────────────────────────────────
    ok(b, q.enqueue(job("contract_heartbeat")).await, "enqueue");
    let lease = claim_one(q, "w1", Duration::from_millis(300), "heartbeat: claim")
        .await
        .lease;
    let extended = ok(b, q.heartbeat(&lease, Duration::from_secs(5)).await, "heartbeat");
    assert!(
        extended.expires_at > lease.expires_at,
        "[{b}] heartbeat must move expires_at forward"
    );
    assert_eq!(
        (extended.job_id, extended.attempt, &extended.owner),
        (lease.job_id, lease.attempt, &lease.owner),
        "[{b}] heartbeat keeps id, attempt, owner"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_nothing_claimable(q, "a job whose lease was extended by heartbeat").await;
    ok(b, q.complete(&extended).await, "complete after heartbeat");
    assert_idle(q, "heartbeat").await;

    // ── fail with retry ───────────────────────────────────────────────────
    let id = ok(b, q.enqueue(job("contract_retry").max_attempts(3)).await, "enqueue").id();
    let l1 = claim_one(q, "w1", long, "retry: first claim").await.lease;
    match ok(b, q.fail(&l1, "boom 1", Utc::now()).await, "fail") {
        FailOutcome::Retrying(_) => {}
        other => panic!("[{b}] fail before max_attempts must be Retrying, got {other:?}"),
    }
    let rec = ok(b, q.get(id).await, "get");
    assert_eq!(
        rec.state,
        JobState::Available,
        "[{b}] a failed job with attempts left is available again"
    );
    assert_eq!(
        rec.last_error.as_deref(),
        Some("boom 1"),
        "[{b}] fail records last_error"
    );
    let l2 = claim_one(q, "w1", long, "retry: the failed job is claimable at retry_at")
        .await
        .lease;
    assert_eq!(
        (l2.job_id, l2.attempt),
        (id, 2),
        "[{b}] a retried job is claimed with attempt + 1"
    );
    ok(b, q.complete(&l2).await, "complete");
    assert_idle(q, "retry").await;

    // ── discard after max_attempts ────────────────────────────────────────
    let id = ok(b, q.enqueue(job("contract_discard").max_attempts(2)).await, "enqueue").id();
    let l1 = claim_one(q, "w1", long, "discard: first claim").await.lease;
    assert!(
        matches!(
            ok(b, q.fail(&l1, "first boom", Utc::now()).await, "fail"),
            FailOutcome::Retrying(_)
        ),
        "[{b}] attempt 1 of 2 must retry"
    );
    let l2 = claim_one(q, "w1", long, "discard: second claim").await.lease;
    assert_eq!(l2.attempt, 2, "[{b}] second claim is attempt 2");
    match ok(b, q.fail(&l2, "final boom", Utc::now()).await, "fail") {
        FailOutcome::Discarded => {}
        other => panic!("[{b}] fail at attempt == max_attempts must be Discarded, got {other:?}"),
    }
    let rec = ok(b, q.get(id).await, "get");
    assert_eq!(rec.state, JobState::Discarded, "[{b}] an exhausted job is discarded");
    let dead = ok(b, q.list(JobState::Discarded, 100).await, "list(Discarded)");
    let entry = dead
        .iter()
        .find(|j| j.id == id)
        .unwrap_or_else(|| panic!("[{b}] list(Discarded) must contain the discarded job"));
    assert_eq!(
        entry.last_error.as_deref(),
        Some("final boom"),
        "[{b}] the dead-letter entry keeps the last error"
    );
    assert_nothing_claimable(q, "a discarded job").await;
    assert_idle(q, "discard").await;

    // ── release does not count the attempt ────────────────────────────────
    let id = ok(b, q.enqueue(job("contract_release")).await, "enqueue").id();
    let l1 = claim_one(q, "w1", long, "release: claim").await.lease;
    ok(b, q.release(&l1).await, "release");
    assert_eq!(
        ok(b, q.get(id).await, "get").state,
        JobState::Available,
        "[{b}] a released job is available"
    );
    let l2 = claim_one(q, "w2", long, "a released job is claimable immediately")
        .await
        .lease;
    assert_eq!(
        (l2.job_id, l2.attempt),
        (id, 1),
        "[{b}] release must not count the attempt"
    );
    expect_lease_lost(b, q.release(&l1).await, &l1, "release of an already released lease");
    ok(b, q.complete(&l2).await, "complete");
    assert_idle(q, "release").await;

    // ── list newest first with limit ──────────────────────────────────────
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(ok(b, q.enqueue(job(&format!("contract_list_{i}"))).await, "enqueue").id());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let listed: Vec<JobId> = ok(b, q.list(JobState::Available, 2).await, "list")
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(
        listed,
        vec![ids[2], ids[1]],
        "[{b}] list(state, limit) must return the newest jobs first, at most limit"
    );
    for c in ok(b, q.claim("w1", 10, long).await, "claim") {
        ok(b, q.complete(&c.lease).await, "complete");
    }
    assert_idle(q, "list").await;

    // ── periodic slots: once per (name, slot), for the queue's lifetime ────
    periodic_contract(q).await;

    // ── wait_for_work wakes on enqueue ────────────────────────────────────
    let started = Instant::now();
    let (enq, ()) = tokio::join!(
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            q.enqueue(job("contract_wake")).await
        },
        q.wait_for_work(Duration::from_secs(5)),
    );
    let waited = started.elapsed();
    ok(b, enq, "enqueue");
    assert!(
        waited < Duration::from_secs(2),
        "[{b}] wait_for_work(5 s) must return soon after an enqueue, took {waited:?}"
    );
    let c = claim_one(q, "w1", long, "the job that woke the waiter").await;
    ok(b, q.complete(&c.lease).await, "complete");
    assert_idle(q, "wait_for_work").await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::clock::ManualClock;

    #[tokio::test]
    async fn memory_queue_passes_contract() {
        let q = MemoryQueue::new();
        let started = Instant::now();
        job_queue_contract(&q).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "contract took {:?}",
            started.elapsed()
        );
        assert_eq!(q.count(JobState::Available) + q.count(JobState::Running), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_queue_passes_contract_multithreaded() {
        job_queue_contract(&MemoryQueue::new()).await;
    }

    /// A queue that ignores fencing on `complete`: the contract must notice.
    #[derive(Debug, Default)]
    struct NoFencing(MemoryQueue);

    #[async_trait]
    impl JobQueue for NoFencing {
        fn backend(&self) -> &'static str {
            "no-fencing"
        }
        async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome, QueueError> {
            self.0.enqueue(job).await
        }
        async fn claim(&self, owner: &str, limit: usize, lease_for: Duration) -> Result<Vec<ClaimedJob>, QueueError> {
            self.0.claim(owner, limit, lease_for).await
        }
        async fn heartbeat(&self, lease: &Lease, lease_for: Duration) -> Result<Lease, QueueError> {
            self.0.heartbeat(lease, lease_for).await
        }
        async fn complete(&self, lease: &Lease) -> Result<(), QueueError> {
            let _ = self.0.complete(lease).await;
            Ok(())
        }
        async fn fail(&self, lease: &Lease, error: &str, retry_at: DateTime<Utc>) -> Result<FailOutcome, QueueError> {
            self.0.fail(lease, error, retry_at).await
        }
        async fn release(&self, lease: &Lease) -> Result<(), QueueError> {
            self.0.release(lease).await
        }
        async fn get(&self, id: JobId) -> Result<JobRecord, QueueError> {
            self.0.get(id).await
        }
        async fn list(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, QueueError> {
            self.0.list(state, limit).await
        }
        async fn enqueue_periodic(
            &self,
            name: &str,
            slot: DateTime<Utc>,
            job: NewJob,
        ) -> Result<Option<EnqueueOutcome>, QueueError> {
            self.0.enqueue_periodic(name, slot, job).await
        }
        async fn wait_for_work(&self, max: Duration) {
            self.0.wait_for_work(max).await
        }
        async fn stats(&self) -> Result<QueueStats, QueueError> {
            self.0.stats().await
        }
    }

    #[tokio::test]
    #[should_panic(expected = "must be QueueError::LeaseLost")]
    async fn contract_catches_missing_fencing() {
        job_queue_contract(&NoFencing::default()).await;
    }

    /// A queue that remembers a periodic slot only while its job is pending
    /// (a plain `cron:<name>:<slot>` dedup key): the contract must notice.
    #[derive(Debug, Default)]
    struct ForgetfulSlots(MemoryQueue);

    #[async_trait]
    impl JobQueue for ForgetfulSlots {
        fn backend(&self) -> &'static str {
            "forgetful-slots"
        }
        async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome, QueueError> {
            self.0.enqueue(job).await
        }
        async fn claim(&self, owner: &str, limit: usize, lease_for: Duration) -> Result<Vec<ClaimedJob>, QueueError> {
            self.0.claim(owner, limit, lease_for).await
        }
        async fn heartbeat(&self, lease: &Lease, lease_for: Duration) -> Result<Lease, QueueError> {
            self.0.heartbeat(lease, lease_for).await
        }
        async fn complete(&self, lease: &Lease) -> Result<(), QueueError> {
            self.0.complete(lease).await
        }
        async fn fail(&self, lease: &Lease, error: &str, retry_at: DateTime<Utc>) -> Result<FailOutcome, QueueError> {
            self.0.fail(lease, error, retry_at).await
        }
        async fn release(&self, lease: &Lease) -> Result<(), QueueError> {
            self.0.release(lease).await
        }
        async fn get(&self, id: JobId) -> Result<JobRecord, QueueError> {
            self.0.get(id).await
        }
        async fn list(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, QueueError> {
            self.0.list(state, limit).await
        }
        async fn enqueue_periodic(
            &self,
            name: &str,
            slot: DateTime<Utc>,
            job: NewJob,
        ) -> Result<Option<EnqueueOutcome>, QueueError> {
            validate_periodic_name(name)?;
            let key = format!("cron:{name}:{}", slot.timestamp());
            let pending = self.0.jobs().iter().any(|j| {
                matches!(j.state, JobState::Available | JobState::Running) && j.dedup_key == Some(key.clone())
            });
            if pending {
                return Ok(None);
            }
            Ok(Some(self.0.enqueue(job.dedup(key)).await?))
        }
        async fn wait_for_work(&self, max: Duration) {
            self.0.wait_for_work(max).await
        }
        async fn stats(&self) -> Result<QueueStats, QueueError> {
            self.0.stats().await
        }
    }

    #[tokio::test]
    #[should_panic(expected = "already completed must still return None")]
    async fn contract_catches_slots_forgotten_after_the_job_ran() {
        job_queue_contract(&ForgetfulSlots::default()).await;
    }

    #[tokio::test]
    async fn periodic_slots_are_per_name_and_keep_an_explicit_dedup_key() {
        let q = MemoryQueue::new();
        let slot = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let a = q
            .enqueue_periodic("a", slot, NewJob::new("k", serde_json::Value::Null))
            .await
            .unwrap();
        let b = q
            .enqueue_periodic("b", slot, NewJob::new("k", serde_json::Value::Null).dedup("mine"))
            .await
            .unwrap();
        assert!(matches!(a, Some(EnqueueOutcome::Enqueued(_))));
        assert!(matches!(b, Some(EnqueueOutcome::Enqueued(_))));
        let keys: Vec<Option<String>> = q.jobs().into_iter().map(|j| j.dedup_key).collect();
        assert_eq!(keys, vec![Some("cron:a".to_owned()), Some("mine".to_owned())]);
        // A pending run of `a` absorbs the next slot's run.
        let next = q
            .enqueue_periodic(
                "a",
                slot + chrono::Duration::hours(1),
                NewJob::new("k", serde_json::Value::Null),
            )
            .await
            .unwrap();
        assert_eq!(next, Some(EnqueueOutcome::Coalesced(a.unwrap().id())));
        assert_eq!(q.jobs().len(), 2);
    }

    #[tokio::test]
    async fn manual_clock_expires_leases_without_sleeping() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let clock = Arc::new(ManualClock::new(start));
        let q = MemoryQueue::with_clock(clock.clone());
        let id = q.enqueue(NewJob::new("k", serde_json::Value::Null)).await.unwrap().id();
        let c = q.claim("w1", 1, Duration::from_secs(60)).await.unwrap();
        assert_eq!(c[0].lease.expires_at, start + chrono::Duration::seconds(60));
        assert!(q.claim("w2", 1, Duration::from_secs(60)).await.unwrap().is_empty());
        clock.advance(chrono::Duration::seconds(61));
        let c2 = q.claim("w2", 1, Duration::from_secs(60)).await.unwrap();
        assert_eq!((c2[0].lease.job_id, c2[0].lease.attempt), (id, 2));
        assert_eq!(q.jobs().len(), 1);
    }

    #[tokio::test]
    async fn wait_for_work_returns_at_once_when_a_job_is_due() {
        let q = MemoryQueue::new();
        q.enqueue(NewJob::new("k", serde_json::Value::Null)).await.unwrap();
        let t = Instant::now();
        q.wait_for_work(Duration::from_secs(5)).await;
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn wait_for_work_wakes_when_a_delayed_job_is_due() {
        let q = MemoryQueue::new();
        q.enqueue(NewJob::new("k", serde_json::Value::Null).run_at(Utc::now() + chrono::Duration::milliseconds(200)))
            .await
            .unwrap();
        // Consume the enqueue's permit.
        q.wait_for_work(Duration::from_millis(1)).await;
        let t = Instant::now();
        q.wait_for_work(Duration::from_secs(5)).await;
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }
}
