//! Opening an index that `lettuce index` built, in this process — the way
//! `lettuce mcp --repo PATH` opens it.

use anyhow::Context as _;
use lettuce_bootstrap::EnvMap;
use lettuce_bootstrap::local::{LocalConfig, LocalRepo};
use lettuce_engine::ports::index::NoProgress;
use std::path::Path;
use std::sync::Arc;

/// The local index of `root` under `local_dir` (`LETTUCE_LOCAL_DIR`),
/// checked to be up to date (opening it parses nothing).
pub async fn open(root: &Path, local_dir: &Path) -> anyhow::Result<LocalRepo> {
    let env = EnvMap::from_pairs(std::env::vars().chain(std::iter::once((
        "LETTUCE_LOCAL_DIR".to_owned(),
        local_dir.display().to_string(),
    ))));
    let config = LocalConfig::from_env(&env).context("local configuration")?;
    let mut repo = LocalRepo::open(&config, root)?;
    let summary = repo.index(Arc::new(NoProgress)).await?;
    anyhow::ensure!(
        summary.files_processed == 0,
        "the index of {} under {} was not up to date ({} files parsed on open)",
        root.display(),
        local_dir.display(),
        summary.files_processed
    );
    Ok(repo)
}
