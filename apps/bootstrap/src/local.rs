//! Local mode: index a directory on this machine and navigate it without a
//! server (`lettuce index PATH`, `lettuce mcp --repo PATH`). The index lives
//! under `LETTUCE_LOCAL_DIR` (default `$XDG_CACHE_HOME/lettuce`, else
//! `~/.cache/lettuce`), one directory per indexed path, so running again
//! re-indexes only what changed.

use crate::config::{ConfigError, ConfigErrors, EnvMap, IndexSettings, index_settings};
use anyhow::Context;
use lettuce_domain::RepoId;
use lettuce_domain::repo::{IndexProgress, RepoStatus};
use lettuce_engine::{NavRepo, Navigator};
use lettuce_ports::index::{CodeIndexer, CodeSearch, IndexRef, IndexRequest, IndexSummary, ProgressSink};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Settings of local mode.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LocalConfig {
    /// `LETTUCE_LOCAL_DIR`: where local indexes live.
    pub dir: PathBuf,
    /// `LETTUCE_INDEX_*`, `LETTUCE_TOKEN_ENCODING` (the cache directory is
    /// per indexed path).
    pub index: IndexSettings,
}

impl LocalConfig {
    /// Reads `LETTUCE_LOCAL_DIR` and the index variables.
    pub fn from_env(env: &EnvMap) -> Result<Self, ConfigErrors> {
        let mut errs = Vec::new();
        let dir = match env.get("LETTUCE_LOCAL_DIR") {
            Some(d) => PathBuf::from(d),
            None => match (env.get("XDG_CACHE_HOME"), env.get("HOME")) {
                (Some(x), _) => PathBuf::from(x).join("lettuce"),
                (None, Some(h)) => PathBuf::from(h).join(".cache").join("lettuce"),
                (None, None) => {
                    errs.push(ConfigError::new(
                        "LETTUCE_LOCAL_DIR",
                        "neither LETTUCE_LOCAL_DIR, XDG_CACHE_HOME nor HOME is set",
                        "set LETTUCE_LOCAL_DIR to a directory for local indexes",
                    ));
                    PathBuf::from(".lettuce-local")
                }
            },
        };
        let index = index_settings(env, &dir, &mut errs);
        if errs.is_empty() {
            Ok(Self { dir, index })
        } else {
            Err(ConfigErrors(errs))
        }
    }
}

/// A local directory and its index.
pub struct LocalRepo {
    /// The directory (canonical).
    pub root: PathBuf,
    /// The repo as navigation sees it.
    pub repo: NavRepo,
    index: Arc<lettuce_index_tantivy::TantivyIndex>,
    tokens: Arc<dyn lettuce_ports::tokens::TokenCounter>,
    stat_cache: PathBuf,
    max_file_bytes: u64,
    /// The snapshot last indexed: `locate` reads the clone's git history
    /// through it (co-change, similar past commits, recency).
    snapshot: Option<Arc<dyn lettuce_ports::git::RepoSnapshot>>,
}

impl std::fmt::Debug for LocalRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRepo")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// A stable repo id for a directory.
fn repo_id_for(root: &Path) -> RepoId {
    let digest = Sha256::digest(root.to_string_lossy().as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    RepoId(uuid::Uuid::from_bytes(bytes))
}

impl LocalRepo {
    /// Opens (creating if needed) the local index of `path`.
    pub fn open(config: &LocalConfig, path: &Path) -> anyhow::Result<Self> {
        let root = path
            .canonicalize()
            .with_context(|| format!("{} does not exist or is not readable", path.display()))?;
        anyhow::ensure!(root.is_dir(), "{} is not a directory", root.display());
        let id = repo_id_for(&root);
        let home = config.dir.join("repos").join(id.to_string());
        std::fs::create_dir_all(&home).with_context(|| format!("creating {} (LETTUCE_LOCAL_DIR)", home.display()))?;
        let blobs: Arc<dyn lettuce_ports::blob::BlobStore> = Arc::new(
            lettuce_blob_object_store::ObjectStoreBlobs::local(&home.join("blobs"))
                .with_context(|| format!("opening {}", home.display()))?,
        );
        let mut index_settings = config.index.clone();
        index_settings.cache_dir = home.join("cache");
        let mut c = crate::Config::local_index_config(&index_settings);
        c.cache_dir = index_settings.cache_dir.clone();
        let tokens = crate::wire::counter_for(&config.index.token_encoding)?;
        let index = Arc::new(
            lettuce_index_tantivy::TantivyIndex::try_new(blobs, c)
                .map_err(|e| anyhow::anyhow!("LETTUCE_INDEX_EXCLUDE: {e}"))?
                .with_token_counter(tokens.clone()),
        );
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| root.display().to_string());
        Ok(Self {
            repo: NavRepo {
                id,
                name,
                url: format!("file://{}", root.display()),
                branch: None,
                status: RepoStatus::Pending,
                commit: None,
                progress: IndexProgress::default(),
            },
            root,
            index,
            tokens,
            stat_cache: home.join("stat-cache"),
            max_file_bytes: config.index.max_file_bytes,
            snapshot: None,
        })
    }

    /// Indexes the directory's current state (incrementally after the
    /// first run), reporting progress, and makes it the navigated commit.
    pub async fn index(&mut self, progress: Arc<dyn ProgressSink>) -> anyhow::Result<IndexSummary> {
        let (root, options) = (
            self.root.clone(),
            lettuce_source_local::LocalOptions::default()
                .with_stat_cache(self.stat_cache.clone())
                .with_max_file_bytes(self.max_file_bytes),
        );
        let snapshot = tokio::task::spawn_blocking(move || lettuce_source_local::LocalSnapshot::open(&root, options))
            .await
            .context("walking the directory")??
            .into_arc();
        let commit = snapshot.commit().to_owned();
        let previous_commit = self.index.indexed_commit(self.repo.id).await?;
        let summary = self
            .index
            .index(IndexRequest {
                repo_id: self.repo.id,
                account_id: lettuce_domain::AccountId(uuid::Uuid::nil()),
                snapshot: snapshot.clone(),
                previous_commit,
                progress,
            })
            .await
            .with_context(|| format!("indexing {}", self.root.display()))?;
        self.snapshot = Some(snapshot);
        self.repo.commit = Some(commit);
        self.repo.status = RepoStatus::Ready;
        self.repo.progress = IndexProgress {
            files_done: summary.files_total,
            files_total: summary.files_total,
        };
        Ok(summary)
    }

    /// The token counter answers are counted with (for tools that compare
    /// against reading files whole, like `lettuce eval`).
    pub fn token_counter(&self) -> Arc<dyn lettuce_ports::tokens::TokenCounter> {
        self.tokens.clone()
    }

    /// The ports `lettuce eval` indexes and asks with: this directory's
    /// index store (the run builds a scratch index under its own repo id
    /// there, [`lettuce_engine::scratch_repo_id`], and removes it).
    pub fn eval_ports(&self) -> lettuce_engine::EvalPorts {
        lettuce_engine::EvalPorts {
            indexer: self.index.clone(),
            search: self.index.clone(),
            tokens: self.tokens.clone(),
        }
    }

    /// A navigator over this directory's index (after [`LocalRepo::index`]).
    pub fn navigator(&self) -> Navigator {
        let nav = Navigator::fixed(self.index.clone(), self.tokens.clone(), vec![self.repo.clone()]);
        match &self.snapshot {
            Some(s) => nav.with_snapshot(self.repo.id, s.clone()),
            None => nav,
        }
    }

    /// The code index itself and the commit to read (after
    /// [`LocalRepo::index`]), for tools that query below the navigator —
    /// the benchmarks time raw index queries with it.
    pub fn code_search(&self) -> Option<(Arc<dyn CodeSearch>, IndexRef)> {
        let commit = self.repo.commit.clone()?;
        let search: Arc<dyn CodeSearch> = self.index.clone();
        Some((
            search,
            IndexRef {
                repo_id: self.repo.id,
                commit,
            },
        ))
    }
}

/// Snapshots of a local git repository read in place (no checkout): what
/// `lettuce eval --repo PATH` replays.
#[cfg(feature = "git-generic")]
#[derive(Debug, Clone)]
pub struct LocalGit {
    /// The top of the work tree, or the bare repository.
    pub root: PathBuf,
    /// Its `HEAD` commit.
    pub head: String,
}

#[cfg(feature = "git-generic")]
impl LocalGit {
    /// The repository `path` is in (the nearest directory upwards holding
    /// `.git`), or `path` itself when it is a bare repository. Blocks.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let path = path
            .canonicalize()
            .with_context(|| format!("{} does not exist or is not readable", path.display()))?;
        let root = path
            .ancestors()
            .find(|d| d.join(".git").exists())
            .map(Path::to_path_buf)
            .unwrap_or(path);
        let head = lettuce_git_generic::local_head(&root)
            .map_err(|e| anyhow::anyhow!("{} is not a git repository with commits: {e}", root.display()))?;
        Ok(Self { root, head })
    }
}

#[cfg(feature = "git-generic")]
#[async_trait::async_trait]
impl lettuce_engine::EvalSource for LocalGit {
    async fn snapshot(
        &self,
        commit: &str,
    ) -> Result<Arc<dyn lettuce_ports::git::RepoSnapshot>, lettuce_engine::EngineError> {
        let (root, commit) = (self.root.clone(), commit.to_owned());
        tokio::task::spawn_blocking(move || lettuce_git_generic::local_snapshot(&root, &commit))
            .await
            .map_err(|e| lettuce_engine::EngineError::Internal(format!("reading the repository failed: {e}")))?
            .map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `lettuce mcp --repo PATH` on a clone: `locate` reads the clone's
    /// history (here: earlier commits with a similar subject).
    #[tokio::test]
    async fn a_local_clone_gives_locate_its_history() {
        if Command::new("git").arg("--version").output().is_err() {
            assert!(
                std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() != Ok("1"),
                "git is required (LETTUCE_REQUIRE_PEERS=1)"
            );
            eprintln!("skipped: no git on PATH");
            return;
        }
        let work = tempfile::tempdir().unwrap();
        let dir = work.path().join("repo");
        std::fs::create_dir_all(dir.join("src")).unwrap();
        git(&dir, &["init", "-q"]);
        std::fs::write(
            dir.join("src/render.py"),
            "def render(shape):\n    return shape.draw()\n",
        )
        .unwrap();
        std::fs::write(dir.join("palette.txt"), "red\n").unwrap();
        git(&dir, &["add", "."]);
        git(&dir, &["commit", "-q", "-m", "render: first cut"]);
        for (color, n) in [("blue", 2), ("amber", 3)] {
            let list: String = ["red", "blue", "amber"]
                .iter()
                .take(n)
                .map(|c| format!("{c}\n"))
                .collect();
            std::fs::write(dir.join("palette.txt"), list).unwrap();
            git(&dir, &["commit", "-q", "-am", &format!("palette: add {color}")]);
        }
        let env = EnvMap::from_pairs([("LETTUCE_LOCAL_DIR", work.path().join("local").display().to_string())]);
        let config = LocalConfig::from_env(&env).unwrap();
        let mut repo = LocalRepo::open(&config, &dir).unwrap();
        repo.index(Arc::new(lettuce_ports::index::NoProgress)).await.unwrap();
        let answer = repo
            .navigator()
            .locate(lettuce_engine::LocateRequest {
                task: "palette: add violet".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let first = &answer.data.files[0];
        assert_eq!(first.path, "palette.txt", "{}", answer.text);
        assert!(
            first.reason.contains("changed by 2 similar commits, like"),
            "{}",
            first.reason
        );
    }
}
