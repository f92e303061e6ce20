//! `lettuce index PATH` and `lettuce mcp [--repo PATH]`.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use lettuce_bootstrap::local::{LocalConfig, LocalRepo};
use lettuce_ports::index::ProgressSink;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Progress of an index run as an indicatif bar on stderr (hidden when
/// stderr is not a terminal).
#[derive(Debug)]
struct Bar(ProgressBar);

impl Bar {
    fn new(label: &str) -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} files ({per_sec}, eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(label.to_owned());
        Self(bar)
    }
}

impl ProgressSink for Bar {
    fn report(&self, done: u64, total: u64) {
        if self.0.length() != Some(total) {
            self.0.set_length(total);
        }
        self.0.set_position(done);
    }
}

/// Indexes `path` with a progress bar; returns the repo and a summary line.
async fn index_with_bar(config: &LocalConfig, path: &Path) -> anyhow::Result<(LocalRepo, String)> {
    let mut repo = LocalRepo::open(config, path)?;
    let bar = Arc::new(Bar::new(&format!("indexing {}", repo.repo.name)));
    let started = Instant::now();
    let summary = repo.index(bar.clone()).await;
    bar.0.finish_and_clear();
    let summary = summary?;
    let secs = started.elapsed().as_secs_f64();
    let mb = summary.bytes_processed as f64 / 1e6;
    let line = format!(
        "{}: {} files ({} parsed, {} unchanged, {} skipped, {} removed), {} symbols, {:.1} MB in {:.2} s ({:.1} MB/s)",
        repo.root.display(),
        summary.files_total,
        summary.files_processed,
        summary.files_reused,
        summary.files_skipped,
        summary.files_deleted,
        summary.symbols,
        mb,
        secs,
        if secs > 0.0 { mb / secs } else { 0.0 },
    );
    Ok((repo, line))
}

/// `lettuce index PATH`.
pub async fn index(config: &LocalConfig, path: &Path) -> anyhow::Result<()> {
    let (repo, line) = index_with_bar(config, path).await?;
    println!("{line}");
    println!(
        "commit {} · index in {}",
        repo.repo.commit.as_deref().unwrap_or("-"),
        config.dir.display()
    );
    println!("serve it to an agent: lettuce mcp --repo {}", repo.root.display());
    Ok(())
}

/// `lettuce mcp --repo PATH`: index, then serve over stdio.
pub async fn mcp_local(config: &LocalConfig, path: &Path) -> anyhow::Result<()> {
    let (repo, line) = index_with_bar(config, path).await?;
    eprintln!("{line}");
    eprintln!("serving {} over MCP on stdio", repo.repo.name);
    let tools = lettuce_mcp::LettuceTools::fixed(Arc::new(repo.navigator()));
    lettuce_mcp::serve_stdio(tools).await.context("MCP over stdio")
}
