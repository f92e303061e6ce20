//! Several handles on one file: concurrent claims and a dedup storm.

use lettuce_ports::queue::{EnqueueOutcome, JobQueue, JobState, NewJob};
use lettuce_queue_sqlite::SqliteQueue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_handles_complete_every_job_exactly_once() {
    const JOBS: usize = 200;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let producer = SqliteQueue::open(&path).await.expect("open");
    // Half up front, half while the workers run.
    for i in 0..JOBS / 2 {
        producer
            .enqueue(NewJob::new("work", serde_json::json!({ "i": i })))
            .await
            .expect("enqueue");
    }
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let path = path.clone();
        let seen = seen.clone();
        tasks.push(tokio::spawn(async move {
            let q = SqliteQueue::open(&path).await.expect("open worker handle");
            let owner = format!("worker-{w}");
            let mut done = 0usize;
            loop {
                let batch = 1 + w % 3; // batch sizes 1, 2, 3
                let claimed = q
                    .claim(&owner, batch, LONG)
                    .await
                    .unwrap_or_else(|e| panic!("{owner} claim: {e}"));
                if claimed.is_empty() {
                    if seen.lock().expect("lock").values().sum::<usize>() >= JOBS {
                        break;
                    }
                    assert!(started.elapsed() < Duration::from_secs(20), "{owner} starved");
                    q.wait_for_work(Duration::from_millis(20)).await;
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
    assert!(seen.values().all(|&n| n == 1), "a job was handed out twice: {seen:?}");
    assert_eq!(per_worker.iter().sum::<usize>(), JOBS);
    let completed = producer.list(JobState::Completed, 1000).await.expect("list");
    assert_eq!(completed.len(), JOBS);
    assert!(completed.iter().all(|j| j.attempt == 1), "no job ran twice");
    assert!(producer.list(JobState::Available, 10).await.expect("list").is_empty());
    assert!(producer.list(JobState::Running, 10).await.expect("list").is_empty());
    eprintln!(
        "200 jobs over 4 handles in {:?}, per worker {per_worker:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dedup_storm_leaves_one_available_job_per_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jobs.db");
    let storm = |round: usize| {
        let path = path.clone();
        async move {
            let mut tasks = Vec::new();
            for t in 0..4 {
                let path = path.clone();
                tasks.push(tokio::spawn(async move {
                    let q = SqliteQueue::open(&path).await.expect("open");
                    let mut enqueued = 0usize;
                    for i in 0..250 {
                        let key = format!("repo:{}", (i + t) % 10);
                        let job = NewJob::new("index_repo", serde_json::json!({ "round": round, "i": i })).dedup(key);
                        match q.enqueue(job).await.unwrap_or_else(|e| panic!("enqueue: {e}")) {
                            EnqueueOutcome::Enqueued(_) => enqueued += 1,
                            EnqueueOutcome::Coalesced(_) => {}
                        }
                    }
                    enqueued
                }));
            }
            let mut enqueued = 0;
            for t in tasks {
                enqueued += t.await.expect("task");
            }
            enqueued
        }
    };
    let started = Instant::now();
    assert_eq!(storm(1).await, 10, "1,000 pushes over 10 keys store 10 jobs");
    let q = SqliteQueue::open(&path).await.expect("open");
    let available = q.list(JobState::Available, 2000).await.expect("list");
    assert_eq!(available.len(), 10, "at most one available job per key");
    let mut keys: Vec<_> = available.iter().filter_map(|j| j.dedup_key.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 10);

    // With every key running, a second storm adds one pending job per key:
    // one running + one pending per repo.
    let running = q.claim("w1", 100, LONG).await.expect("claim");
    assert_eq!(running.len(), 10);
    assert_eq!(storm(2).await, 10);
    assert_eq!(q.list(JobState::Available, 2000).await.expect("list").len(), 10);
    assert!(
        q.claim("w2", 100, LONG).await.expect("claim").is_empty(),
        "per-key exclusion"
    );
    for c in &running {
        q.complete(&c.lease).await.expect("complete");
    }
    assert_eq!(q.claim("w2", 100, LONG).await.expect("claim").len(), 10);
    eprintln!("dedup storms took {:?}", started.elapsed());
}
