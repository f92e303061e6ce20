//! `queue-bench`: benchmark of `lettuce-queue-postgres` on a local PostgreSQL,
//! measured in the same run against sqlxmq 0.6 (crates.io) doing the same work.
//!
//! ```text
//! cargo run --release -p lettuce-queue-bench -- --help
//! cargo run --release -p lettuce-queue-bench -- --jobs 20000 --workers 1,2,4,8 --batch 50
//! ```
//!
//! Every backend and every worker count gets a fresh database, created and
//! dropped by the bench on the cluster of `--database-url`. See
//! `docs/PERFORMANCE.md` for the figures and what they mean.

mod admin;
mod lettuce;
mod peer;
mod stats;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::time::Duration;

/// Default PostgreSQL URL (a maintenance database on the local cluster).
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Benchmark of the Lettuce PostgreSQL job queue (burn-down throughput against
/// sqlxmq 0.6, NOTIFY wake-up latency, kill recovery).
///
/// Creates and drops its own databases (`lettuce_bench_*`) on the cluster of
/// the URL, which needs CREATEDB rights. Prints a plain table and the same
/// table as Markdown with the command that produced it.
#[derive(Debug, Parser)]
#[command(name = "queue-bench", version, about, long_about = None)]
struct Cli {
    /// Maintenance database URL on the cluster to benchmark (databases are created next to it).
    #[arg(long, env = "LETTUCE_TEST_POSTGRES_URL", default_value = DEFAULT_URL, hide_env_values = true)]
    database_url: String,

    /// No-op jobs pre-enqueued for each burn-down.
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,

    /// Worker counts to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 2, 4, 8])]
    workers: Vec<usize>,

    /// Claim batch size (jobs per claim call; for sqlxmq the runner's maximum concurrency).
    #[arg(long, default_value_t = 50)]
    batch: usize,

    /// Lease of claimed jobs in seconds (the kill-recovery step waits about this long).
    #[arg(long, default_value_t = 60)]
    lease_secs: u64,

    /// NOTIFY wake-up samples.
    #[arg(long, default_value_t = 200)]
    notify_samples: usize,

    /// Skip the peer (sqlxmq) burn-down.
    #[arg(long)]
    skip_peer: bool,

    /// Skip the NOTIFY wake-up latency step.
    #[arg(long)]
    skip_notify: bool,

    /// Skip the kill-recovery step (which takes about one lease).
    #[arg(long)]
    skip_kill: bool,

    /// Also measure completing one job per `complete` call (the headline
    /// figures complete each claimed batch with one `complete_many`).
    #[arg(long)]
    per_job_complete: bool,

    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Internal: claim one job and hang until killed (the kill-recovery victim).
    #[command(hide = true)]
    KillChild {
        /// Database URL of the kill-recovery database.
        #[arg(long)]
        url: String,
        /// Lease in seconds.
        #[arg(long)]
        lease_secs: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Cmd::KillChild { url, lease_secs }) = &cli.cmd {
        return lettuce::kill_child(url, Duration::from_secs(*lease_secs)).await;
    }
    anyhow::ensure!(cli.jobs > 0, "--jobs must be positive");
    anyhow::ensure!(cli.batch > 0, "--batch must be positive");
    anyhow::ensure!(
        !cli.workers.is_empty() && cli.workers.iter().all(|&w| w > 0),
        "--workers must list positive counts"
    );
    run(&cli).await
}

/// One burn-down measurement.
#[derive(Debug, Clone)]
pub struct BurnResult {
    /// Workers.
    pub workers: usize,
    /// Jobs burnt down.
    pub jobs: usize,
    /// Time to enqueue them (W concurrent enqueuers, one job per call).
    pub enqueue: Duration,
    /// Time to claim and complete them all.
    pub burn: Duration,
    /// Claim-call latency (only measurable where we drive the claims).
    pub claim: Option<stats::Summary>,
    /// Complete-call latency (per job, or per batch for the what-if).
    pub complete: Option<stats::Summary>,
}

impl BurnResult {
    fn burn_rate(&self) -> f64 {
        stats::rate(self.jobs, self.burn)
    }
    fn enqueue_rate(&self) -> f64 {
        stats::rate(self.jobs, self.enqueue)
    }
    fn combined_rate(&self) -> f64 {
        stats::rate(self.jobs, self.enqueue + self.burn)
    }
}

/// Results of the NOTIFY step.
#[derive(Debug, Clone)]
pub struct NotifyResult {
    /// From the start of `enqueue` on handle A to the wake-up of handle B.
    pub from_enqueue_start: stats::Summary,
    /// From the return of `enqueue` on handle A to the wake-up of handle B.
    pub from_enqueue_return: stats::Summary,
    /// Waits that ran into the 5 s timeout (no wake-up).
    pub timeouts: usize,
}

/// Results of the kill step.
#[derive(Debug, Clone)]
pub struct KillResult {
    /// Lease used.
    pub lease: Duration,
    /// From SIGKILL to the job being claimed again by another handle.
    pub rerun_after_kill: Duration,
    /// From the victim's claim to the re-claim.
    pub rerun_after_claim: Duration,
    /// Attempt number of the re-claim (2 expected).
    pub attempt: u32,
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let admin = admin::Admin::connect(&cli.database_url).await?;
    let env = admin.describe().await?;
    let command = admin::shown_command(&cli.database_url);
    eprintln!("queue-bench: {env}");
    eprintln!(
        "queue-bench: {} jobs, workers {:?}, batch {}, lease {} s",
        cli.jobs, cli.workers, cli.batch, cli.lease_secs
    );
    let lease = Duration::from_secs(cli.lease_secs);

    let mut ours = Vec::new();
    let mut what_if = Vec::new();
    let mut theirs = Vec::new();
    for &w in &cli.workers {
        eprintln!("queue-bench: lettuce-queue-postgres, {w} worker(s)…");
        let r = lettuce::burn_down(&admin, cli.jobs, w, cli.batch, lease, true).await?;
        eprintln!(
            "  {:.0} jobs/s burn-down, {:.0} jobs/s combined",
            r.burn_rate(),
            r.combined_rate()
        );
        ours.push(r);
        if cli.per_job_complete {
            eprintln!("queue-bench: one complete per job, {w} worker(s)…");
            let r = lettuce::burn_down(&admin, cli.jobs, w, cli.batch, lease, false).await?;
            eprintln!("  {:.0} jobs/s burn-down", r.burn_rate());
            what_if.push(r);
        }
        if !cli.skip_peer {
            eprintln!("queue-bench: sqlxmq {}, {w} worker(s)…", peer::VERSION);
            let r = peer::burn_down(&admin, cli.jobs, w, cli.batch).await?;
            eprintln!(
                "  {:.0} jobs/s burn-down, {:.0} jobs/s combined",
                r.burn_rate(),
                r.combined_rate()
            );
            theirs.push(r);
        }
    }

    let notify = if cli.skip_notify {
        None
    } else {
        eprintln!("queue-bench: NOTIFY wake-up latency, {} samples…", cli.notify_samples);
        Some(lettuce::notify_latency(&admin, cli.notify_samples).await?)
    };

    let kill = if cli.skip_kill {
        None
    } else {
        eprintln!(
            "queue-bench: kill recovery with a {} s lease (takes about that long)…",
            cli.lease_secs
        );
        Some(lettuce::kill_recovery(&admin, lease).await?)
    };

    let report = render(
        cli,
        &env,
        &command,
        &ours,
        &what_if,
        &theirs,
        notify.as_ref(),
        kill.as_ref(),
    );
    println!("{}", report.plain);
    println!();
    println!("---- Markdown ----");
    println!("{}", report.markdown);
    Ok(())
}

struct Report {
    plain: String,
    markdown: String,
}

/// A table as rows of cells (first row is the header), rendered twice.
fn tables(title: &str, rows: &[Vec<String>], plain: &mut String, md: &mut String) {
    use std::fmt::Write as _;
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let _ = writeln!(plain, "{title}");
    for (i, r) in rows.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}", w = *w))
            .collect();
        let _ = writeln!(plain, "  {}", line.join("  ").trim_end());
        if i == 0 {
            let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            let _ = writeln!(plain, "  {}", dashes.join("  "));
        }
    }
    let _ = writeln!(md, "**{title}**\n");
    for (i, r) in rows.iter().enumerate() {
        let _ = writeln!(md, "| {} |", r.join(" | "));
        if i == 0 {
            let _ = writeln!(md, "|{}", "---|".repeat(cols));
        }
    }
    let _ = writeln!(md);
}

fn opt_ms(s: Option<stats::Summary>, f: impl Fn(stats::Summary) -> Duration) -> String {
    s.map_or_else(|| "n/a".to_owned(), |s| stats::ms(f(s)))
}

#[allow(clippy::too_many_arguments)]
fn render(
    cli: &Cli,
    env: &str,
    command: &str,
    ours: &[BurnResult],
    what_if: &[BurnResult],
    theirs: &[BurnResult],
    notify: Option<&NotifyResult>,
    kill: Option<&KillResult>,
) -> Report {
    let mut plain = String::new();
    let mut md = String::new();
    let header = format!(
        "Command: `{command}`\n\nEnvironment: {env}. {} no-op jobs per run, claim batch {}, fresh database per backend \
         and worker count.\n",
        cli.jobs, cli.batch
    );
    plain.push_str(&header.replace('`', ""));
    plain.push('\n');
    md.push_str(&header);
    md.push('\n');

    let mut rows = vec![
        [
            "backend",
            "workers",
            "burn-down jobs/s (claim+complete)",
            "enqueue jobs/s",
            "enqueue+claim+complete jobs/s",
            "claim p50 ms",
            "claim p99 ms",
            "complete p50 ms",
            "complete p99 ms",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    let mut push = |name: &str, r: &BurnResult| {
        rows.push(vec![
            name.to_owned(),
            r.workers.to_string(),
            format!("{:.0}", r.burn_rate()),
            format!("{:.0}", r.enqueue_rate()),
            format!("{:.0}", r.combined_rate()),
            opt_ms(r.claim, |s| s.p50),
            opt_ms(r.claim, |s| s.p99),
            opt_ms(r.complete, |s| s.p50),
            opt_ms(r.complete, |s| s.p99),
        ]);
    };
    for r in ours {
        push("lettuce-queue-postgres (claim batch + complete_many)", r);
    }
    for r in what_if {
        push("lettuce-queue-postgres, one complete per job", r);
    }
    for r in theirs {
        push(&format!("sqlxmq {}", peer::VERSION), r);
    }
    tables("Burn-down", &rows, &mut plain, &mut md);

    if !theirs.is_empty() {
        let mut rows = vec![
            ["workers", "burn-down lettuce/sqlxmq", "combined lettuce/sqlxmq"]
                .map(str::to_owned)
                .to_vec(),
        ];
        for o in ours {
            if let Some(t) = theirs.iter().find(|t| t.workers == o.workers) {
                let ratio = |a: f64, b: f64| {
                    if b > 0.0 {
                        format!("{:.2}×", a / b)
                    } else {
                        "n/a".into()
                    }
                };
                rows.push(vec![
                    o.workers.to_string(),
                    ratio(o.burn_rate(), t.burn_rate()),
                    ratio(o.combined_rate(), t.combined_rate()),
                ]);
            }
        }
        tables("Lettuce / peer", &rows, &mut plain, &mut md);
    }

    if let Some(n) = notify {
        let rows = vec![
            [
                "NOTIFY wake-up (other handle)",
                "samples",
                "p50 ms",
                "p99 ms",
                "max ms",
                "timeouts",
            ]
            .map(str::to_owned)
            .to_vec(),
            vec![
                "from enqueue start".into(),
                n.from_enqueue_start.count.to_string(),
                stats::ms(n.from_enqueue_start.p50),
                stats::ms(n.from_enqueue_start.p99),
                stats::ms(n.from_enqueue_start.max),
                n.timeouts.to_string(),
            ],
            vec![
                "from enqueue return".into(),
                n.from_enqueue_return.count.to_string(),
                stats::ms(n.from_enqueue_return.p50),
                stats::ms(n.from_enqueue_return.p99),
                stats::ms(n.from_enqueue_return.max),
                n.timeouts.to_string(),
            ],
        ];
        tables("NOTIFY wake-up latency", &rows, &mut plain, &mut md);
    }

    if let Some(k) = kill {
        let rows = vec![
            [
                "lease s",
                "re-run after SIGKILL s",
                "re-run after victim's claim s",
                "attempt",
            ]
            .map(str::to_owned)
            .to_vec(),
            vec![
                k.lease.as_secs().to_string(),
                format!("{:.2}", k.rerun_after_kill.as_secs_f64()),
                format!("{:.2}", k.rerun_after_claim.as_secs_f64()),
                k.attempt.to_string(),
            ],
        ];
        tables("Kill recovery", &rows, &mut plain, &mut md);
    }
    Report { plain, markdown: md }
}

/// Helpers shared by the steps.
pub(crate) fn worker_share(total: usize, workers: usize, i: usize) -> usize {
    total / workers + usize::from(i < total % workers)
}

/// Waits for all tasks and propagates the first error.
pub(crate) async fn join_all<T>(handles: Vec<tokio::task::JoinHandle<anyhow::Result<T>>>) -> anyhow::Result<Vec<T>> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.context("bench task panicked")??);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for (total, w) in [(20_000, 8), (7, 3), (1, 4)] {
            let sum: usize = (0..w).map(|i| worker_share(total, w, i)).sum();
            assert_eq!(sum, total);
        }
    }

    #[test]
    fn cli_parses() {
        let cli = Cli::try_parse_from(["queue-bench", "--workers", "1,2", "--skip-kill"]).expect("parse");
        assert_eq!(cli.workers, vec![1, 2]);
        assert!(cli.skip_kill);
        assert_eq!(cli.lease_secs, 60);
    }
}
