//! Times `LocalSnapshot::open` on a directory:
//!
//! ```text
//! cargo run --release -p lettuce-source-local --example walk_timing -- PATH [THREADS] [STAT_CACHE] [RUNS]
//! ```
//!
//! `THREADS` is `LocalOptions::threads` (0 = automatic, 1 = serial). With
//! `STAT_CACHE` (`-` for none), the first run fills the cache and later
//! runs use it. `RUST_LOG=lettuce_source_local=debug` prints the phases.

use lettuce_ports::git::RepoSnapshot;
use lettuce_source_local::{LocalOptions, LocalSnapshot};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `RUST_LOG=lettuce_source_local=debug` shows where the time goes.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(
        args.next()
            .ok_or("usage: walk_timing PATH [THREADS] [STAT_CACHE] [RUNS]")?,
    );
    let threads: usize = args.next().map(|t| t.parse()).transpose()?.unwrap_or(0);
    let cache = args.next().filter(|c| !c.is_empty() && c != "-").map(PathBuf::from);
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(3);
    let mut options = LocalOptions::default().with_threads(threads);
    if let Some(cache) = cache {
        options = options.with_stat_cache(cache);
    }
    for run in 1..=runs {
        let started = Instant::now();
        let snapshot = LocalSnapshot::open(&root, options.clone())?;
        let elapsed = started.elapsed();
        let files = snapshot.files()?;
        let bytes: u64 = files.iter().map(|f| f.size).sum();
        println!(
            "run {run}: threads={threads} files={} bytes={bytes} hashed={} commit={} time={:.0} ms",
            files.len(),
            snapshot.files_hashed(),
            snapshot.commit(),
            elapsed.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}
