//! The steps driven through `lettuce-queue-postgres` (the `JobQueue` port).

use crate::admin::{Admin, BenchDb};
use crate::stats;
use crate::{BurnResult, KillResult, NotifyResult, join_all, worker_share};
use anyhow::Context as _;
use lettuce_ports::queue::{JobQueue, NewJob};
use lettuce_queue_postgres::{PostgresQueue, PostgresQueueOptions};
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt as _;

/// Longest a burn-down may take before the bench gives up.
const BURN_TIMEOUT: Duration = Duration::from_secs(900);

async fn queue(url: &str, max_connections: u32) -> anyhow::Result<PostgresQueue> {
    let options = PostgresQueueOptions {
        max_connections,
        ..PostgresQueueOptions::default()
    };
    let q = PostgresQueue::connect_with_options(url, options).await?;
    Ok(q)
}

fn noop(i: usize) -> NewJob {
    NewJob::new("noop", serde_json::json!({ "i": i }))
}

/// Enqueues `jobs` no-op jobs with `workers` concurrent enqueuers.
async fn enqueue_all(q: &PostgresQueue, jobs: usize, workers: usize) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers {
        let q = q.clone();
        let n = worker_share(jobs, workers, w);
        handles.push(tokio::spawn(async move {
            for i in 0..n {
                q.enqueue(noop(i)).await?;
            }
            anyhow::Ok(())
        }));
    }
    join_all(handles).await?;
    Ok(start.elapsed())
}

/// Pre-enqueues `jobs` no-op jobs, then `workers` workers claim them in
/// batches of `batch` and complete them: one `complete_many` per claimed
/// batch when `batched_complete`, else one `complete` per job.
pub async fn burn_down(
    admin: &Admin,
    jobs: usize,
    workers: usize,
    batch: usize,
    lease: Duration,
    batched_complete: bool,
) -> anyhow::Result<BurnResult> {
    let db = admin
        .create_db(if batched_complete { "whatif" } else { "lettuce" })
        .await?;
    let result = burn_down_on(&db, jobs, workers, batch, lease, batched_complete).await;
    admin.drop_db(&db).await?;
    result
}

async fn burn_down_on(
    db: &BenchDb,
    jobs: usize,
    workers: usize,
    batch: usize,
    lease: Duration,
    batched_complete: bool,
) -> anyhow::Result<BurnResult> {
    // One handle per process, as in production, with a connection per worker (+2).
    let pool_size = u32::try_from(workers + 2).unwrap_or(u32::MAX);
    let q = queue(&db.url, pool_size).await?;
    q.migrate().await?;

    let enqueue = enqueue_all(&q, jobs, workers).await?;

    let start = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers {
        let q = q.clone();
        handles.push(tokio::spawn(async move {
            let owner = format!("bench-worker-{w}");
            let mut claims = Vec::new();
            let mut completes = Vec::new();
            let mut done = 0usize;
            loop {
                let t = Instant::now();
                let got = q.claim(&owner, batch, lease).await?;
                claims.push(t.elapsed());
                if got.is_empty() {
                    break;
                }
                match batched_complete {
                    true => {
                        let leases: Vec<_> = got.iter().map(|j| j.lease.clone()).collect();
                        let t = Instant::now();
                        let n = q.complete_many(&leases).await?;
                        completes.push(t.elapsed());
                        anyhow::ensure!(n == got.len(), "batched completion lost leases");
                        done += got.len();
                    }
                    false => {
                        for job in &got {
                            let t = Instant::now();
                            q.complete(&job.lease).await?;
                            completes.push(t.elapsed());
                            done += 1;
                        }
                    }
                }
            }
            anyhow::Ok((done, claims, completes))
        }));
    }
    let results = tokio::time::timeout(BURN_TIMEOUT, join_all(handles))
        .await
        .context("burn-down timed out")??;
    let burn = start.elapsed();

    let mut claims = Vec::new();
    let mut completes = Vec::new();
    let mut done = 0;
    for (d, c, k) in results {
        done += d;
        claims.extend(c);
        completes.extend(k);
    }
    anyhow::ensure!(done == jobs, "completed {done} of {jobs} jobs");
    q.close().await;
    Ok(BurnResult {
        workers,
        jobs,
        enqueue,
        burn,
        claim: Some(stats::summarize(&mut claims)),
        complete: Some(stats::summarize(&mut completes)),
    })
}

/// One waiter in `wait_for_work(5 s)` on handle B, an enqueue on handle A:
/// the time until B wakes up, `samples` times.
pub async fn notify_latency(admin: &Admin, samples: usize) -> anyhow::Result<NotifyResult> {
    let db = admin.create_db("notify").await?;
    let result = notify_latency_on(&db, samples).await;
    admin.drop_db(&db).await?;
    result
}

async fn notify_latency_on(db: &BenchDb, samples: usize) -> anyhow::Result<NotifyResult> {
    const MAX_WAIT: Duration = Duration::from_secs(5);
    let a = queue(&db.url, 3).await?;
    a.migrate().await?;
    let b = queue(&db.url, 3).await?;
    anyhow::ensure!(b.listener_connected(), "handle B has no LISTEN connection");

    let mut from_start = Vec::with_capacity(samples);
    let mut from_return = Vec::with_capacity(samples);
    let mut timeouts = 0;
    // The first wake-ups pay for connection set-up (the notifier's first
    // pooled connection); they are not counted.
    const WARM_UP: usize = 3;
    for i in 0..samples + WARM_UP {
        // Let B reach its sleep (and A's 100 ms NOTIFY debounce run out).
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move {
                b.wait_for_work(MAX_WAIT).await;
                Instant::now()
            })
        };
        tokio::time::sleep(Duration::from_millis(120)).await;
        let t0 = Instant::now();
        a.enqueue(noop(i)).await?;
        let t1 = Instant::now();
        let woke = waiter.await.context("waiter panicked")?;
        let lat = woke.saturating_duration_since(t0);
        let timed_out = lat >= MAX_WAIT - Duration::from_millis(50);
        if i >= WARM_UP && timed_out {
            timeouts += 1;
        }
        if i >= WARM_UP && !timed_out {
            if std::env::var_os("QUEUE_BENCH_TRACE").is_some() {
                eprintln!("notify sample {i}: {lat:?}");
            }
            from_start.push(lat);
            from_return.push(woke.saturating_duration_since(t1));
        }
        // Drain, so that B sleeps again next time.
        for job in b.claim("notify-drain", 10, Duration::from_secs(60)).await? {
            b.complete(&job.lease).await?;
        }
    }
    a.close().await;
    b.close().await;
    Ok(NotifyResult {
        from_enqueue_start: stats::summarize(&mut from_start),
        from_enqueue_return: stats::summarize(&mut from_return),
        timeouts,
    })
}

/// Hidden subcommand: claims the one job with `lease`, reports it on stdout
/// and hangs (no heartbeat) until the parent SIGKILLs this process.
pub async fn kill_child(url: &str, lease: Duration) -> anyhow::Result<()> {
    let q = queue(url, 2).await?;
    let got = q.claim("doomed-worker", 1, lease).await?;
    let job = got.first().context("victim found no job to claim")?;
    println!("CLAIMED {}", job.lease.job_id.as_uuid());
    use std::io::Write as _;
    std::io::stdout().flush()?;
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// A child process claims a job with `lease` and is SIGKILLed; how long until
/// another handle (a worker loop: `claim`, else `wait_for_work(5 s)`) runs it
/// again.
pub async fn kill_recovery(admin: &Admin, lease: Duration) -> anyhow::Result<KillResult> {
    let db = admin.create_db("kill").await?;
    let result = kill_recovery_on(&db, lease).await;
    admin.drop_db(&db).await?;
    result
}

async fn kill_recovery_on(db: &BenchDb, lease: Duration) -> anyhow::Result<KillResult> {
    let q = queue(&db.url, 3).await?;
    q.migrate().await?;
    let id = q.enqueue(noop(0)).await?.id();

    let exe = std::env::current_exe().context("cannot find the bench binary to re-run")?;
    let mut child = tokio::process::Command::new(exe)
        .arg("kill-child")
        .arg("--url")
        .arg(&db.url)
        .arg("--lease-secs")
        .arg(lease.as_secs().to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the victim process")?;
    let stdout = child.stdout.take().context("victim has no stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .context("victim did not claim in time")??
        .context("victim exited before claiming")?;
    let claimed_at = Instant::now();
    anyhow::ensure!(
        line == format!("CLAIMED {}", id.as_uuid()),
        "victim claimed something else: {line}"
    );
    // SIGKILL (tokio's kill is SIGKILL on Unix): no cleanup, no release.
    child.kill().await.context("cannot kill the victim")?;
    let killed_at = Instant::now();

    let deadline = lease + Duration::from_secs(120);
    loop {
        let got = q.claim("rescuer", 1, lease).await?;
        if let Some(job) = got.first() {
            let now = Instant::now();
            anyhow::ensure!(job.lease.job_id == id, "rescuer claimed an unexpected job");
            q.complete(&job.lease).await?;
            q.close().await;
            return Ok(KillResult {
                lease,
                rerun_after_kill: now - killed_at,
                rerun_after_claim: now - claimed_at,
                attempt: job.lease.attempt,
            });
        }
        anyhow::ensure!(
            killed_at.elapsed() < deadline,
            "the killed worker's job never ran again"
        );
        q.wait_for_work(Duration::from_secs(5)).await;
    }
}
