//! Several handles (separate pools) on one database: draining a backlog,
//! per-key exclusion races and a dedup storm.

mod common;

use common::TestDb;
use lettuce_ports::queue::{JobQueue, JobState, NewJob};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_handles_complete_every_job_exactly_once() {
    const JOBS: usize = 500;
    let Some(db) = TestDb::create("four_handles_complete_every_job_exactly_once").await else {
        return;
    };
    let producer = db.queue().await;
    for i in 0..JOBS / 2 {
        producer
            .enqueue(NewJob::new("work", serde_json::json!({ "i": i })))
            .await
            .expect("enqueue");
    }
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..4usize {
        let q = db.queue().await;
        let seen = seen.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("worker-{w}");
            let mut done = 0usize;
            loop {
                let batch = [1, 5, 10, 3][w];
                let claimed = q
                    .claim(&owner, batch, LONG)
                    .await
                    .unwrap_or_else(|e| panic!("{owner} claim: {e}"));
                if claimed.is_empty() {
                    if seen.lock().expect("lock").values().sum::<usize>() >= JOBS {
                        break;
                    }
                    assert!(started.elapsed() < Duration::from_secs(25), "{owner} starved");
                    q.wait_for_work(Duration::from_millis(50)).await;
                    continue;
                }
                for c in claimed {
                    *seen
                        .lock()
                        .expect("lock")
                        .entry(c.lease.job_id.to_string())
                        .or_default() += 1;
                    q.complete(&c.lease)
                        .await
                        .unwrap_or_else(|e| panic!("{owner} complete: {e}"));
                    done += 1;
                }
            }
            done
        }));
    }
    for i in JOBS / 2..JOBS {
        producer
            .enqueue(NewJob::new("work", serde_json::json!({ "i": i })))
            .await
            .expect("enqueue while claiming");
    }
    let mut per_worker = Vec::new();
    for t in tasks {
        per_worker.push(t.await.expect("worker task"));
    }
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), JOBS, "every job claimed");
    assert!(seen.values().all(|&n| n == 1), "a job was handed out twice");
    assert_eq!(per_worker.iter().sum::<usize>(), JOBS);
    let completed = producer.list(JobState::Completed, 1000).await.expect("list");
    assert_eq!(completed.len(), JOBS);
    assert!(completed.iter().all(|j| j.attempt == 1), "no job ran twice");
    assert!(producer.list(JobState::Available, 10).await.expect("list").is_empty());
    assert!(producer.list(JobState::Running, 10).await.expect("list").is_empty());
    eprintln!(
        "drained {JOBS} jobs with 4 handles in {:?} (per worker {per_worker:?})",
        started.elapsed()
    );
}

/// Each key has an expired running job and an available one: concurrent
/// claimers must start exactly one of them per key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_key_exclusion_holds_under_concurrent_claims() {
    const KEYS: usize = 20;
    let Some(db) = TestDb::create("per_key_exclusion_holds_under_concurrent_claims").await else {
        return;
    };
    let setup = db.queue().await;
    for k in 0..KEYS {
        setup
            .enqueue(NewJob::new("k", serde_json::json!({})).dedup(format!("repo:{k}")))
            .await
            .expect("enqueue");
    }
    let first = setup
        .claim("dying", KEYS, Duration::from_millis(300))
        .await
        .expect("claim");
    assert_eq!(first.len(), KEYS);
    for k in 0..KEYS {
        setup
            .enqueue(NewJob::new("k", serde_json::json!({})).dedup(format!("repo:{k}")))
            .await
            .expect("enqueue second");
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut handles = Vec::new();
    for _ in 0..4 {
        handles.push(db.queue().await);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(handles.len()));
    let mut tasks = Vec::new();
    for (w, q) in handles.into_iter().enumerate() {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut got = Vec::new();
            for _ in 0..3 {
                got.extend(
                    q.claim(&format!("w{w}"), 7, LONG)
                        .await
                        .expect("claim")
                        .into_iter()
                        .map(|c| c.dedup_key.expect("keyed")),
                );
            }
            got
        }));
    }
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        for key in t.await.expect("task") {
            *per_key.entry(key).or_default() += 1;
        }
    }
    assert!(
        per_key.values().all(|&n| n == 1),
        "two jobs of one key started together: {per_key:?}"
    );
    assert_eq!(per_key.len(), KEYS, "every key made progress: {per_key:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dedup_storm_coalesces() {
    const PUSHES: usize = 1000;
    const KEYS: usize = 10;
    let Some(db) = TestDb::create("dedup_storm_coalesces").await else {
        return;
    };
    let mut tasks = Vec::new();
    for p in 0..4usize {
        let q = db.queue().await;
        tasks.push(tokio::spawn(async move {
            let mut enqueued = 0usize;
            for i in 0..PUSHES / 4 {
                let key = format!("repo:{}", (i * 4 + p) % KEYS);
                let out = q
                    .enqueue(NewJob::new("index_repo", serde_json::json!({})).dedup(key))
                    .await
                    .expect("enqueue");
                if matches!(out, lettuce_ports::queue::EnqueueOutcome::Enqueued(_)) {
                    enqueued += 1;
                }
            }
            enqueued
        }));
    }
    // A worker claims and completes during the storm, so keys go through
    // available → running → completed while pushes race in.
    let worker = db.queue().await;
    let started = Instant::now();
    let mut completed = 0usize;
    while started.elapsed() < Duration::from_millis(1500) {
        for c in worker.claim("storm-worker", 10, LONG).await.expect("claim") {
            worker.complete(&c.lease).await.expect("complete");
            completed += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut enqueued = 0;
    for t in tasks {
        enqueued += t.await.expect("task");
    }
    let available = worker.list(JobState::Available, 10_000).await.expect("list");
    assert!(
        available.len() <= KEYS,
        "{} available rows for {KEYS} keys",
        available.len()
    );
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for j in &available {
        *per_key.entry(j.dedup_key.clone().expect("keyed")).or_default() += 1;
    }
    assert!(per_key.values().all(|&n| n == 1), "{per_key:?}");
    let running = worker.list(JobState::Running, 10_000).await.expect("list");
    assert!(running.is_empty());
    eprintln!("dedup storm: {PUSHES} pushes → {enqueued} jobs stored, {completed} completed during the storm");
    assert!(
        enqueued < PUSHES / 4,
        "the storm must mostly coalesce ({enqueued} stored)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn periodic_slots_run_once_across_nodes() {
    let Some(db) = TestDb::create("periodic_slots_run_once_across_nodes").await else {
        return;
    };
    let slot = chrono::DateTime::parse_from_rfc3339("2026-01-01T03:00:00Z")
        .expect("slot")
        .with_timezone(&chrono::Utc);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let q = db.queue().await;
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..5 {
                got.push(
                    q.enqueue_periodic("nightly_gc", slot, NewJob::new("gc", serde_json::json!({})))
                        .await
                        .expect("enqueue_periodic"),
                );
            }
            got
        }));
    }
    let mut created = Vec::new();
    for t in tasks {
        created.extend(t.await.expect("task").into_iter().flatten());
    }
    assert_eq!(created.len(), 1, "one node wins the slot: {created:?}");
    let q = db.queue().await;
    let c = q.claim("w", 10, LONG).await.expect("claim");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].dedup_key.as_deref(), Some("cron:nightly_gc"));
    q.complete(&c[0].lease).await.expect("complete");
    // The slot stays taken after its job ran; the next slot is new.
    assert!(
        q.enqueue_periodic("nightly_gc", slot, NewJob::new("gc", serde_json::json!({})))
            .await
            .expect("again")
            .is_none()
    );
    let next = slot + chrono::Duration::days(1);
    assert!(
        q.enqueue_periodic("nightly_gc", next, NewJob::new("gc", serde_json::json!({})))
            .await
            .expect("next slot")
            .is_some()
    );
    assert_eq!(q.purge_finished(Duration::from_secs(3600)).await.expect("purge"), 0);
    assert_eq!(
        q.purge_finished(Duration::ZERO).await.expect("purge"),
        1,
        "the completed job"
    );
}
