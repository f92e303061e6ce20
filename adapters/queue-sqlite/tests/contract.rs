//! The shared `JobQueue` contract suite against a fresh SQLite file.

use lettuce_ports::queue::{JobQueue, JobState};
use lettuce_ports::testing::queue::job_queue_contract;
use lettuce_queue_sqlite::SqliteQueue;
use std::time::{Duration, Instant};

#[tokio::test]
async fn sqlite_queue_passes_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = SqliteQueue::open(&dir.path().join("jobs.db")).await.expect("open");
    assert_eq!(queue.backend(), "sqlite");
    let started = Instant::now();
    job_queue_contract(&queue).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "contract took {:?}",
        started.elapsed()
    );
    assert!(queue.list(JobState::Available, 10).await.expect("list").is_empty());
    queue.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queue_passes_contract_multithreaded_in_a_new_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    // open() creates missing parent directories.
    let queue = SqliteQueue::open(&dir.path().join("nested/deeper/jobs.db"))
        .await
        .expect("open");
    job_queue_contract(&queue).await;
}
