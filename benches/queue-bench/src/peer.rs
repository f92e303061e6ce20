//! The peer: sqlxmq 0.6 (crates.io), driven through its own job runner.
//!
//! Same work as the Lettuce burn-down: `jobs` no-op jobs are spawned first by
//! `workers` concurrent tasks (one `JobBuilder::spawn` per job, sqlxmq's API),
//! then `workers` job runners, each polling up to `batch` jobs at a time
//! (`set_concurrency(1, batch)`: poll a batch when idle, like the Lettuce
//! worker loop), run a no-op handler that calls `CurrentJob::complete` (one
//! `mq_delete` per job). Keep-alive is off (jobs finish at once).

use crate::admin::{Admin, BenchDb};
use crate::{BurnResult, join_all, worker_share};
use anyhow::Context as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The peer's version (see Cargo.toml).
pub const VERSION: &str = "0.6.0";

/// sqlxmq's schema (its crate's migrations, copied verbatim), in order.
const MIGRATIONS: [&str; 5] = [
    include_str!("../sqlxmq-migrations/20210316025847_setup.up.sql"),
    include_str!("../sqlxmq-migrations/20210921115907_clear.up.sql"),
    include_str!("../sqlxmq-migrations/20211013151757_fix_mq_latest_message.up.sql"),
    include_str!("../sqlxmq-migrations/20220208120856_fix_concurrent_poll.up.sql"),
    include_str!("../sqlxmq-migrations/20220713122907_fix-clear_all-keep-nil-message.up.sql"),
];

const BURN_TIMEOUT: Duration = Duration::from_secs(900);

/// Burn-down of `jobs` no-op jobs by `workers` sqlxmq runners on a fresh database.
pub async fn burn_down(admin: &Admin, jobs: usize, workers: usize, batch: usize) -> anyhow::Result<BurnResult> {
    let db = admin.create_db("sqlxmq").await?;
    let result = burn_down_on(&db, jobs, workers, batch).await;
    admin.drop_db(&db).await?;
    result
}

async fn burn_down_on(db: &BenchDb, jobs: usize, workers: usize, batch: usize) -> anyhow::Result<BurnResult> {
    let pool_size = u32::try_from(workers + 2).unwrap_or(u32::MAX);
    let pool = sqlx08::postgres::PgPoolOptions::new()
        .max_connections(pool_size)
        .connect(&db.url)
        .await
        .context("sqlxmq pool")?;
    for m in MIGRATIONS {
        sqlx08::raw_sql(m).execute(&pool).await.context("sqlxmq migration")?;
    }

    // Enqueue.
    let start = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers {
        let pool = pool.clone();
        let n = worker_share(jobs, workers, w);
        handles.push(tokio::spawn(async move {
            for i in 0..n {
                sqlxmq::JobBuilder::new("noop")
                    .set_json(&serde_json::json!({ "i": i }))?
                    .spawn(&pool)
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    join_all(handles).await?;
    let enqueue = start.elapsed();

    // Burn down.
    let done = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(Notify::new());
    let end: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let start = Instant::now();
    let mut runners = Vec::new();
    for _ in 0..workers {
        let done = done.clone();
        let finished = finished.clone();
        let end = end.clone();
        let mut options = sqlxmq::JobRunnerOptions::new(&pool, move |mut job: sqlxmq::CurrentJob| {
            let done = done.clone();
            let finished = finished.clone();
            let end = end.clone();
            tokio::spawn(async move {
                match job.complete().await {
                    Ok(()) => {
                        if done.fetch_add(1, Ordering::SeqCst) + 1 == jobs {
                            if let Ok(mut e) = end.lock() {
                                *e = Some(Instant::now());
                            }
                            finished.notify_one();
                        }
                    }
                    Err(e) => eprintln!("sqlxmq complete failed: {e}"),
                }
            });
        });
        options.set_concurrency(1, batch).set_keep_alive(false);
        runners.push(options.run().await.context("start sqlxmq runner")?);
    }
    let waited = tokio::time::timeout(BURN_TIMEOUT, async {
        while done.load(Ordering::SeqCst) < jobs {
            // Re-check now and then in case the last notification raced.
            let _ = tokio::time::timeout(Duration::from_millis(50), finished.notified()).await;
        }
    })
    .await;
    let burn = end
        .lock()
        .ok()
        .and_then(|e| *e)
        .map_or_else(|| start.elapsed(), |e| e - start);
    for r in &mut runners {
        r.stop().await;
    }
    waited.context("sqlxmq burn-down timed out")?;
    pool.close().await;
    Ok(BurnResult {
        workers,
        jobs,
        enqueue,
        burn,
        claim: None,
        complete: None,
    })
}
