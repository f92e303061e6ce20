//! Durability across handles, process death and reopen; adapter-specific
//! behaviour (final-attempt expiry, superseding, retention, wake-ups).

use chrono::Utc;
use lettuce_ports::queue::{EnqueueOutcome, FailOutcome, JobQueue, JobState, NewJob, QueueError};
use lettuce_queue_sqlite::{LEASE_EXPIRED_ON_FINAL_ATTEMPT, SqliteQueue, SqliteQueueOptions};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(30);

fn job(kind: &str) -> NewJob {
    NewJob::new(kind, serde_json::json!({ "kind": kind }))
}

async fn open(path: &Path) -> SqliteQueue {
    SqliteQueue::open(path).await.expect("open queue")
}

/// Polls `claim` until it returns something or `within` passed.
async fn claim_eventually(q: &SqliteQueue, owner: &str, within: Duration) -> lettuce_ports::queue::ClaimedJob {
    let deadline = Instant::now() + within;
    loop {
        let mut got = q.claim(owner, 1, LONG).await.expect("claim");
        if let Some(job) = got.pop() {
            return job;
        }
        assert!(Instant::now() < deadline, "nothing became claimable within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_dropped_handle_loses_its_lease_and_the_job_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let (id, stale) = {
        let q = open(&path).await;
        let id = q.enqueue(job("survivor").max_attempts(3)).await.expect("enqueue").id();
        let claimed = q
            .claim("dead-worker", 1, Duration::from_millis(300))
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        assert_eq!((claimed[0].lease.job_id, claimed[0].lease.attempt), (id, 1));
        (id, claimed[0].lease.clone())
        // The queue is dropped here without completing: a dead process.
    };
    let claimed_at = Instant::now();
    let q = open(&path).await;
    let rec = q.get(id).await.expect("get after reopen");
    assert_eq!(
        (rec.state, rec.attempt),
        (JobState::Running, 1),
        "the claim must have been durable"
    );
    let early = q.claim("survivor-worker", 1, LONG).await.expect("claim");
    if claimed_at.elapsed() < Duration::from_millis(250) {
        assert!(early.is_empty(), "the job must stay leased until its lease runs out");
    }
    tokio::time::sleep(Duration::from_millis(350).saturating_sub(claimed_at.elapsed())).await;
    let again = claim_eventually(&q, "survivor-worker", Duration::from_secs(3)).await;
    assert_eq!(again.lease.job_id, id);
    assert_eq!(again.lease.attempt, 2, "the reclaimed job counts a new attempt");
    assert_eq!(again.lease.owner, "survivor-worker");
    match q.complete(&stale).await {
        Err(QueueError::LeaseLost { job_id, attempt }) => assert_eq!((job_id, attempt), (id, 1)),
        other => panic!("the dead worker's lease must be fenced off, got {other:?}"),
    }
    q.complete(&again.lease).await.expect("complete");
    assert_eq!(q.get(id).await.expect("get").state, JobState::Completed);
    q.close().await;
    // Reopening an existing file is idempotent and keeps the data.
    let q = open(&path).await;
    assert_eq!(q.get(id).await.expect("get").state, JobState::Completed);
    assert!(
        dir.path().join("jobs.db-wal").exists() || dir.path().join("jobs.db-shm").exists(),
        "WAL mode"
    );
}

const CHILD_ENV: &str = "LETTUCE_QUEUE_SQLITE_TEST_CHILD";

/// Child mode: claim one job with a 1 s lease, report it, then hang until
/// killed.
async fn child_main(path: &str) {
    let q = open(Path::new(path)).await;
    let claimed = q
        .claim("child-worker", 1, Duration::from_secs(1))
        .await
        .expect("child claim");
    let job = claimed.first().expect("the child must find the job");
    println!("CLAIMED {} {}", job.lease.job_id, job.lease.attempt);
    use std::io::Write;
    std::io::stdout().flush().expect("flush");
    tokio::time::sleep(Duration::from_secs(60)).await;
    panic!("the child was expected to be killed");
}

#[tokio::test]
async fn a_job_of_a_sigkilled_process_is_reclaimed_after_its_lease() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child_main(&path).await;
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let q = open(&path).await;
    let id = q.enqueue(job("cross_process")).await.expect("enqueue").id();

    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args([
            "a_job_of_a_sigkilled_process_is_reclaimed_after_its_lease",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child test process");
    let stdout = child.stdout.take().expect("child stdout");
    let line = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with("CLAIMED "))
    })
    .await
    .expect("reader thread");
    let claimed_at = Instant::now();
    let Some(line) = line else {
        let out = child.wait_with_output().expect("child output");
        panic!(
            "the child did not claim the job: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    assert_eq!(line, format!("CLAIMED {id} 1"), "the child claimed our job, attempt 1");

    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap the child");
    assert!(
        !status.success(),
        "the child must have died from the kill, got {status:?}"
    );

    let rec = q.get(id).await.expect("get");
    assert_eq!(
        (rec.state, rec.attempt),
        (JobState::Running, 1),
        "the dead child's claim is still leased"
    );
    let early = q.claim("parent-worker", 1, LONG).await.expect("claim");
    if claimed_at.elapsed() < Duration::from_millis(900) {
        assert!(
            early.is_empty(),
            "nothing may be reclaimed before the child's lease runs out"
        );
    }
    let again = claim_eventually(&q, "parent-worker", Duration::from_secs(5)).await;
    assert!(
        claimed_at.elapsed() >= Duration::from_millis(900),
        "reclaimed too early: {:?}",
        claimed_at.elapsed()
    );
    assert_eq!(
        (again.lease.job_id, again.lease.attempt, again.lease.owner.as_str()),
        (id, 2, "parent-worker")
    );
    q.complete(&again.lease).await.expect("complete");
}

#[tokio::test]
async fn a_lease_expiring_on_the_final_attempt_discards_the_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = open(&dir.path().join("jobs.db")).await;
    let id = q.enqueue(job("fragile").max_attempts(1)).await.expect("enqueue").id();
    let c = q.claim("w1", 1, Duration::from_millis(150)).await.expect("claim");
    assert_eq!(c.len(), 1);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        q.claim("w2", 10, LONG).await.expect("claim").is_empty(),
        "it must not be handed out again"
    );
    let rec = q.get(id).await.expect("get");
    assert_eq!(rec.state, JobState::Discarded);
    assert_eq!(rec.last_error.as_deref(), Some(LEASE_EXPIRED_ON_FINAL_ATTEMPT));
    assert!(matches!(
        q.complete(&c[0].lease).await,
        Err(QueueError::LeaseLost { .. })
    ));
    let dead = q.list(JobState::Discarded, 10).await.expect("list");
    assert_eq!(dead.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id]);
}

#[tokio::test]
async fn a_retry_is_superseded_by_a_pending_job_with_the_same_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = open(&dir.path().join("jobs.db")).await;
    let first = q.enqueue(job("index").dedup("repo:1")).await.expect("enqueue").id();
    let lease = q.claim("w1", 1, LONG).await.expect("claim").remove(0).lease;
    let second = match q
        .enqueue(
            job("index")
                .dedup("repo:1")
                .run_at(Utc::now() + chrono::Duration::hours(1)),
        )
        .await
    {
        Ok(EnqueueOutcome::Enqueued(id)) => id,
        other => panic!("expected a new pending job, got {other:?}"),
    };
    let retry_at = Utc::now() + chrono::Duration::seconds(5);
    match q.fail(&lease, "clone failed", retry_at).await.expect("fail") {
        FailOutcome::Retrying(at) => assert_eq!(at.timestamp_millis(), retry_at.timestamp_millis()),
        other => panic!("expected Retrying, got {other:?}"),
    }
    let old = q.get(first).await.expect("get");
    assert_eq!(
        old.state,
        JobState::Cancelled,
        "the failed job coalesces into the pending one"
    );
    assert!(
        old.last_error
            .as_deref()
            .is_some_and(|e| e.contains("clone failed") && e.contains(&second.to_string()))
    );
    let pending = q.get(second).await.expect("get");
    assert_eq!(pending.state, JobState::Available);
    assert_eq!(
        pending.run_at.timestamp_millis(),
        retry_at.timestamp_millis(),
        "pulled forward to the retry time"
    );
    let available = q.list(JobState::Available, 10).await.expect("list");
    assert_eq!(available.len(), 1, "still one available job per key");

    // release behaves the same way.
    let third_lease = {
        let c = q.enqueue(job("index").dedup("repo:2")).await.expect("enqueue");
        let l = q.claim("w1", 1, LONG).await.expect("claim");
        // repo:1's pending job is not due yet, so repo:2's job is the one claimed.
        assert_eq!(l[0].lease.job_id, c.id());
        l[0].lease.clone()
    };
    let pending2 = q.enqueue(job("index").dedup("repo:2")).await.expect("enqueue").id();
    q.release(&third_lease).await.expect("release");
    assert_eq!(q.get(third_lease.job_id).await.expect("get").state, JobState::Cancelled);
    assert_eq!(q.get(pending2).await.expect("get").state, JobState::Available);
}

#[tokio::test]
async fn coalescing_pulls_a_delayed_job_forward() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = open(&dir.path().join("jobs.db")).await;
    let later = Utc::now() + chrono::Duration::hours(1);
    let id = q
        .enqueue(job("index").dedup("repo:9").run_at(later))
        .await
        .expect("enqueue")
        .id();
    assert!(q.claim("w1", 1, LONG).await.expect("claim").is_empty());
    let again = q.enqueue(job("index").dedup("repo:9")).await.expect("enqueue");
    assert_eq!(again, EnqueueOutcome::Coalesced(id));
    let c = q.claim("w1", 1, LONG).await.expect("claim");
    assert_eq!(
        c.len(),
        1,
        "a push for the same key must not wait behind the delayed job"
    );
    assert_eq!(c[0].lease.job_id, id);
}

#[tokio::test]
async fn finished_jobs_are_purged_after_retention_but_dead_letters_stay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let options = SqliteQueueOptions {
        retention: Duration::ZERO,
        purge_every_claims: 1,
        ..Default::default()
    };
    let q = SqliteQueue::open_with_options(&path, options).await.expect("open");
    let done = q.enqueue(job("done")).await.expect("enqueue").id();
    let dead = q.enqueue(job("dead").max_attempts(1)).await.expect("enqueue").id();
    for c in q.claim("w1", 2, LONG).await.expect("claim") {
        if c.lease.job_id == done {
            q.complete(&c.lease).await.expect("complete");
        } else {
            assert_eq!(
                q.fail(&c.lease, "boom", Utc::now()).await.expect("fail"),
                FailOutcome::Discarded
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    // The next claim triggers the opportunistic purge (every claim here).
    assert!(q.claim("w1", 1, LONG).await.expect("claim").is_empty());
    assert!(
        matches!(q.get(done).await, Err(QueueError::NotFound(_))),
        "completed job past retention is deleted"
    );
    assert_eq!(q.get(dead).await.expect("dead letter kept").state, JobState::Discarded);
    assert_eq!(q.purge_finished(Duration::ZERO).await.expect("purge"), 0);

    // The default retention keeps fresh completed jobs.
    let q2 = open(&path).await;
    let id = q2.enqueue(job("fresh")).await.expect("enqueue").id();
    let c = q2.claim("w1", 1, LONG).await.expect("claim").remove(0);
    q2.complete(&c.lease).await.expect("complete");
    assert_eq!(q2.purge_finished(Duration::from_secs(3600)).await.expect("purge"), 0);
    assert_eq!(q2.get(id).await.expect("get").state, JobState::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_work_is_woken_by_another_handle_and_by_due_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let waiter = open(&path).await;
    let producer = open(&path).await;

    // Empty queue: sleeps the full (short) interval.
    let t = Instant::now();
    waiter.wait_for_work(Duration::from_millis(200)).await;
    assert!(
        t.elapsed() >= Duration::from_millis(190),
        "returned early: {:?}",
        t.elapsed()
    );

    // Woken by an enqueue through another handle on the same file.
    let t = Instant::now();
    let (_, enq) = tokio::join!(waiter.wait_for_work(Duration::from_secs(10)), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        producer.enqueue(job("wake")).await
    });
    enq.expect("enqueue");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "not woken by the enqueue: {:?}",
        t.elapsed()
    );

    // A claimable job makes it return at once.
    let t = Instant::now();
    waiter.wait_for_work(Duration::from_secs(10)).await;
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let c = waiter.claim("w1", 1, LONG).await.expect("claim").remove(0);
    waiter.complete(&c.lease).await.expect("complete");

    // A delayed job wakes the waiter when it becomes due.
    producer
        .enqueue(job("delayed").run_at(Utc::now() + chrono::Duration::milliseconds(300)))
        .await
        .expect("enqueue");
    waiter.wait_for_work(Duration::from_millis(1)).await; // consume the enqueue's permit
    let t = Instant::now();
    waiter.wait_for_work(Duration::from_secs(10)).await;
    let waited = t.elapsed();
    assert!(waited < Duration::from_secs(2), "not woken at run_at: {waited:?}");
    let c = claim_eventually(&waiter, "w1", Duration::from_secs(1)).await;
    waiter.complete(&c.lease).await.expect("complete");

    // A job blocked by its running dedup key does not make it spin.
    let running = {
        producer.enqueue(job("keyed").dedup("repo:7")).await.expect("enqueue");
        waiter.claim("w1", 1, LONG).await.expect("claim").remove(0)
    };
    producer.enqueue(job("keyed").dedup("repo:7")).await.expect("enqueue");
    waiter.wait_for_work(Duration::from_millis(1)).await; // consume the enqueue's permit
    let t = Instant::now();
    waiter.wait_for_work(Duration::from_millis(300)).await;
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "spun on a blocked job: {:?}",
        t.elapsed()
    );
    // ... and completing the running one wakes a waiter.
    let t = Instant::now();
    let (_, done) = tokio::join!(waiter.wait_for_work(Duration::from_secs(10)), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        producer.complete(&running.lease).await
    });
    done.expect("complete");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[tokio::test]
async fn backend_errors_say_sqlite_and_a_closed_queue_fails_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = open(&dir.path().join("jobs.db")).await;
    q.close().await;
    match q.enqueue(job("after_close")).await {
        Err(QueueError::Backend { backend, .. }) => assert_eq!(backend, "sqlite"),
        other => panic!("expected a backend error, got {other:?}"),
    }
    assert!(format!("{q:?}").contains("jobs.db"));
    // A directory where the file should be is a clean error, not a panic.
    let err = SqliteQueue::open(dir.path())
        .await
        .expect_err("a directory is not a queue file");
    assert!(matches!(err, QueueError::Backend { backend: "sqlite", .. }), "{err:?}");
}
