//! The port contract plus PostgreSQL-specific behaviour: cross-process
//! wake-ups, crash recovery, supersede rules, coalescing and redaction.

mod common;

use chrono::Utc;
use common::TestDb;
use lettuce_ports::queue::{EnqueueOutcome, FailOutcome, JobQueue, JobState, NewJob};
use lettuce_queue_postgres::{LEASE_EXPIRED_ON_FINAL_ATTEMPT, PostgresQueue};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(30);

fn job(kind: &str) -> NewJob {
    NewJob::new(kind, serde_json::json!({ "kind": kind }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queue_passes_contract() {
    let Some(db) = TestDb::create("postgres_queue_passes_contract").await else {
        return;
    };
    let q = db.queue().await;
    // migrate is idempotent.
    q.migrate().await.expect("second migrate");
    let started = Instant::now();
    lettuce_ports::testing::queue::job_queue_contract(&q).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "contract took {:?}",
        started.elapsed()
    );
    assert!(q.listener_connected(), "the LISTEN connection should be up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_handle_is_woken_by_notify() {
    let Some(db) = TestDb::create("another_handle_is_woken_by_notify").await else {
        return;
    };
    let producer = db.queue().await;
    let waiter = db.queue().await;
    // Nothing due: a wait would take the full 5 s without a notification.
    let started = Instant::now();
    let (enq, ()) = tokio::join!(
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            producer.enqueue(job("wake")).await
        },
        waiter.wait_for_work(Duration::from_secs(5)),
    );
    enq.expect("enqueue");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(1), "cross-process wake-up took {waited:?}");
    let c = waiter.claim("w", 1, LONG).await.expect("claim");
    assert_eq!(c.len(), 1);
    waiter.complete(&c[0].lease).await.expect("complete");

    // A delayed job wakes the waiter when it becomes due (next due time).
    producer
        .enqueue(job("later").run_at(Utc::now() + chrono::Duration::milliseconds(400)))
        .await
        .expect("enqueue later");
    tokio::time::sleep(Duration::from_millis(150)).await; // let the NOTIFY pass
    let started = Instant::now();
    waiter.wait_for_work(Duration::from_secs(5)).await;
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(2), "due-time wake-up took {waited:?}");
    let c = waiter.claim("w", 1, LONG).await.expect("claim");
    assert_eq!(c.len(), 1, "the delayed job is due after the wait");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_is_debounced() {
    let Some(db) = TestDb::create("notify_is_debounced").await else {
        return;
    };
    let q = db.queue().await;
    let mut listener = sqlx::postgres::PgListener::connect(&db.url).await.expect("listener");
    listener
        .listen(lettuce_queue_postgres::NOTIFY_CHANNEL)
        .await
        .expect("listen");
    let started = Instant::now();
    for i in 0..200 {
        q.enqueue(NewJob::new("burst", serde_json::json!({ "i": i })))
            .await
            .expect("enqueue");
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await; // trailing NOTIFY
    let mut count = 0u32;
    while let Ok(Ok(Some(_))) = tokio::time::timeout(Duration::from_millis(50), listener.try_recv()).await {
        count += 1;
    }
    let allowed = u32::try_from(elapsed.as_millis() / 100).unwrap_or(u32::MAX) + 3;
    assert!(count >= 1, "at least one NOTIFY");
    assert!(
        count <= allowed,
        "{count} NOTIFYs for 200 enqueues in {elapsed:?} (at most ~1 per 100 ms allowed)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_worker_job_is_reclaimed_by_another_handle() {
    let Some(db) = TestDb::create("crashed_worker_job_is_reclaimed_by_another_handle").await else {
        return;
    };
    let id;
    {
        let doomed = db.queue().await;
        id = doomed.enqueue(job("crash")).await.expect("enqueue").id();
        let c = doomed.claim("doomed", 1, Duration::from_secs(1)).await.expect("claim");
        assert_eq!(c.len(), 1);
        doomed.close().await;
    } // the worker "crashes": its handle is gone
    let rescuer = db.queue().await;
    assert!(
        rescuer.claim("rescuer", 1, LONG).await.expect("claim").is_empty(),
        "not claimable while the lease is live"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let c = rescuer.claim("rescuer", 1, LONG).await.expect("claim");
    assert_eq!(c.len(), 1, "reclaimed after the lease expired");
    assert_eq!((c[0].lease.job_id, c[0].lease.attempt), (id, 2));
    rescuer.complete(&c[0].lease).await.expect("complete");

    // On the final attempt, an expired lease sends the job to the dead letters.
    let id = rescuer
        .enqueue(job("last").max_attempts(1))
        .await
        .expect("enqueue")
        .id();
    let c = rescuer
        .claim("doomed", 1, Duration::from_millis(300))
        .await
        .expect("claim");
    assert_eq!(c.len(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(rescuer.claim("rescuer", 5, LONG).await.expect("claim").is_empty());
    let rec = rescuer.get(id).await.expect("get");
    assert_eq!(rec.state, JobState::Discarded);
    assert_eq!(rec.last_error.as_deref(), Some(LEASE_EXPIRED_ON_FINAL_ATTEMPT));
    assert!(
        rescuer.complete(&c[0].lease).await.is_err(),
        "the stale lease is fenced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalescing_pulls_run_at_and_priority_forward() {
    let Some(db) = TestDb::create("coalescing_pulls_run_at_and_priority_forward").await else {
        return;
    };
    let q = db.queue().await;
    let later = Utc::now() + chrono::Duration::hours(1);
    let mut first = job("reindex").dedup("repo:1").run_at(later);
    first.priority = 5;
    let id = match q.enqueue(first).await.expect("enqueue") {
        EnqueueOutcome::Enqueued(id) => id,
        other => panic!("{other:?}"),
    };
    assert!(q.claim("w", 1, LONG).await.expect("claim").is_empty(), "not due yet");
    let mut second = NewJob::new("reindex", serde_json::json!({ "other": true })).dedup("repo:1");
    second.priority = 1;
    assert_eq!(q.enqueue(second).await.expect("enqueue"), EnqueueOutcome::Coalesced(id));
    let rec = q.get(id).await.expect("get");
    assert!(rec.run_at <= Utc::now(), "run_at pulled forward to now: {}", rec.run_at);
    assert_eq!(
        rec.payload,
        serde_json::json!({ "kind": "reindex" }),
        "payload of the first kept"
    );
    // A later coalesce does not push it back.
    assert_eq!(
        q.enqueue(job("reindex").dedup("repo:1").run_at(later))
            .await
            .expect("enqueue"),
        EnqueueOutcome::Coalesced(id)
    );
    assert!(q.get(id).await.expect("get").run_at <= Utc::now());
    let c = q.claim("w", 5, LONG).await.expect("claim");
    assert_eq!(c.len(), 1);
    q.complete(&c[0].lease).await.expect("complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_and_release_are_superseded_by_a_pending_job() {
    let Some(db) = TestDb::create("fail_and_release_are_superseded_by_a_pending_job").await else {
        return;
    };
    let q = db.queue().await;
    // fail: the running job is cancelled, the pending one pulled to retry_at.
    let a = q.enqueue(job("k").dedup("repo:2")).await.expect("enqueue").id();
    let la = q.claim("w", 1, LONG).await.expect("claim").remove(0).lease;
    let far = Utc::now() + chrono::Duration::hours(2);
    let b = q
        .enqueue(job("k").dedup("repo:2").run_at(far))
        .await
        .expect("enqueue")
        .id();
    assert_ne!(a, b);
    let retry_at = Utc::now() + chrono::Duration::minutes(5);
    match q.fail(&la, "boom", retry_at).await.expect("fail") {
        FailOutcome::Retrying(at) => assert!(at <= retry_at + chrono::Duration::seconds(1), "{at}"),
        other => panic!("{other:?}"),
    }
    let ra = q.get(a).await.expect("get a");
    assert_eq!(ra.state, JobState::Cancelled);
    assert!(
        ra.last_error
            .as_deref()
            .is_some_and(|e| e.contains("boom") && e.contains(&b.to_string()))
    );
    let rb = q.get(b).await.expect("get b");
    assert_eq!(rb.state, JobState::Available);
    assert!(
        rb.run_at <= retry_at + chrono::Duration::seconds(1),
        "pending pulled forward"
    );
    assert_eq!(q.list(JobState::Available, 10).await.expect("list").len(), 1);

    // release: same rule, the pending job becomes due now.
    let c = q.enqueue(job("k").dedup("repo:3")).await.expect("enqueue").id();
    let lc = q.claim("w", 1, LONG).await.expect("claim").remove(0).lease;
    assert_eq!(lc.job_id, c);
    let d = q
        .enqueue(job("k").dedup("repo:3").run_at(far))
        .await
        .expect("enqueue")
        .id();
    q.release(&lc).await.expect("release");
    assert_eq!(q.get(c).await.expect("get").state, JobState::Cancelled);
    let got = q.claim("w", 10, LONG).await.expect("claim");
    assert_eq!(got.iter().map(|g| g.lease.job_id).collect::<Vec<_>>(), vec![d]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_and_errors_never_show_the_password() {
    let Some(db) = TestDb::create("debug_and_errors_never_show_the_password").await else {
        return;
    };
    // Trust auth ignores the password, so any will do.
    let secret = "s3cr3t-Pa55word";
    let url = match db.url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) if !user.contains(':') => format!("{scheme}://{user}:{secret}@{host}"),
            _ => db.url.clone(),
        },
        None => db.url.clone(),
    };
    let q = PostgresQueue::connect(&url).await.expect("connect");
    let shown = format!("{q:?} {}", q.target());
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("PostgresQueue"));
    // An error from a missing table mentions neither.
    let err = q
        .get(lettuce_domain::JobId::from_uuid(uuid::Uuid::new_v4()))
        .await
        .expect_err("no table yet");
    assert!(!format!("{err} {err:?}").contains(secret));
    assert!(!err.is_retryable(), "undefined table is not retryable: {err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_reconnects_after_its_connection_is_killed() {
    let Some(db) = TestDb::create("listener_reconnects_after_its_connection_is_killed").await else {
        return;
    };
    let producer = db.queue().await;
    let waiter = db.queue().await;
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .expect("admin connection");
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(&mut admin)
    .await
    .expect("terminate listeners");
    assert_eq!(killed.len(), 2, "one LISTEN connection per handle");
    // Reconnect (first retry after 250 ms).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        )
        .fetch_one(&mut admin)
        .await
        .expect("count listeners");
        if listening == 2 && waiter.listener_connected() {
            break;
        }
        assert!(Instant::now() < deadline, "listeners did not come back ({listening})");
    }
    let started = Instant::now();
    let (enq, ()) = tokio::join!(
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            producer.enqueue(job("after-reconnect")).await
        },
        waiter.wait_for_work(Duration::from_secs(5)),
    );
    enq.expect("enqueue");
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(1),
        "wake-up after reconnect took {waited:?}"
    );
}
