//! Periodic slots: once per (name, slot) across handles, across reopen, and
//! forgotten only after the retention.

use chrono::{DateTime, Utc};
use lettuce_ports::queue::{EnqueueOutcome, JobQueue, NewJob, period_slot};
use lettuce_queue_sqlite::{SqliteQueue, SqliteQueueOptions};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);
const HOUR: Duration = Duration::from_secs(3600);

fn tick() -> NewJob {
    NewJob::new("license_reverify", serde_json::json!({}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_handles_racing_every_slot_store_one_job_per_slot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let first = SqliteQueue::open(&path).await.expect("open");
    let base = period_slot(Utc::now(), HOUR);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let q = SqliteQueue::open(&path).await.expect("open handle");
            let mut won = Vec::new();
            for h in 0..5 {
                let slot = base + chrono::Duration::hours(h);
                if let Some(outcome) = q
                    .enqueue_periodic("hourly", slot, tick())
                    .await
                    .expect("enqueue_periodic")
                {
                    won.push((h, outcome));
                }
            }
            won
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        winners.extend(t.await.expect("task"));
    }
    winners.sort_by_key(|(h, _)| *h);
    assert_eq!(
        winners.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4],
        "exactly one winner per slot"
    );
    // Nothing ran in between, so later slots coalesce into the pending run.
    let id = winners[0].1.id();
    assert!(matches!(winners[0].1, EnqueueOutcome::Enqueued(_)));
    assert!(winners.iter().all(|(_, o)| o.id() == id), "{winners:?}");
    let claimed = first.claim("w", 10, LONG).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].dedup_key.as_deref(), Some("cron:hourly"));
    first.complete(&claimed[0].lease).await.expect("complete");
}

#[tokio::test]
async fn a_slot_stays_taken_after_reopen_and_is_forgotten_after_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let slot: DateTime<Utc> = "2026-11-23T08:00:00Z".parse().expect("slot");
    {
        let q = SqliteQueue::open(&path).await.expect("open");
        assert!(
            q.enqueue_periodic("daily", slot, tick())
                .await
                .expect("enqueue")
                .is_some()
        );
        let c = q.claim("w", 1, LONG).await.expect("claim").remove(0);
        q.complete(&c.lease).await.expect("complete");
        q.close().await;
    }
    let q = SqliteQueue::open(&path).await.expect("reopen");
    assert!(
        q.enqueue_periodic("daily", slot, tick())
            .await
            .expect("enqueue")
            .is_none(),
        "the slot survives a restart"
    );
    // Sub-millisecond slots are distinct slots.
    let nudged = slot + chrono::Duration::nanoseconds(1);
    let n = q.enqueue_periodic("daily", nudged, tick()).await.expect("enqueue");
    assert!(n.is_some());
    let c = q.claim("w", 1, LONG).await.expect("claim").remove(0);
    q.complete(&c.lease).await.expect("complete");
    // The default retention keeps the slot ...
    q.purge_finished(HOUR).await.expect("purge");
    assert!(
        q.enqueue_periodic("daily", slot, tick())
            .await
            .expect("enqueue")
            .is_none()
    );
    q.close().await;
    // ... and a purge past the retention forgets it.
    let options = SqliteQueueOptions {
        retention: Duration::ZERO,
        ..Default::default()
    };
    let q = SqliteQueue::open_with_options(&path, options).await.expect("reopen");
    tokio::time::sleep(Duration::from_millis(5)).await;
    q.purge_finished(Duration::ZERO).await.expect("purge");
    assert!(
        q.enqueue_periodic("daily", slot, tick())
            .await
            .expect("enqueue")
            .is_some(),
        "a slot past the retention is forgotten"
    );
}

#[tokio::test]
async fn invalid_calls_reserve_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = SqliteQueue::open(&dir.path().join("jobs.db")).await.expect("open");
    let slot = period_slot(Utc::now(), HOUR);
    assert!(q.enqueue_periodic("", slot, tick()).await.is_err());
    assert!(q.enqueue_periodic(&"x".repeat(201), slot, tick()).await.is_err());
    assert!(
        q.enqueue_periodic("ok", slot, NewJob::new("", serde_json::json!({})))
            .await
            .is_err()
    );
    assert!(q.enqueue_periodic("ok", slot, tick()).await.expect("enqueue").is_some());
}
