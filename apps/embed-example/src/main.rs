//! Embedding the Lettuce engine in your own Rust service.
//!
//! This program wires the engine by hand — no environment parsing, no
//! `apps/bootstrap` — with the embedded adapters, then drives one use case end
//! to end: mint an invite, sign up, add a repository, run the worker until the
//! repository is indexed.
//!
//! ```sh
//! cargo run -p lettuce-embed-example -- /path/to/a/git/repo
//! ```

use anyhow::Context;
use lettuce_domain::Secret;
use lettuce_domain::repo::Repo;
use lettuce_engine::{AddRepoRequest, Engine, EngineSettings, SignupRequest, Worker};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Builds an engine whose state lives under `data_dir`.
async fn build_engine(data_dir: &Path) -> anyhow::Result<Engine> {
    let store =
        lettuce_store_sea_orm::SeaOrmStore::connect(&lettuce_store_sea_orm::sqlite_url(&data_dir.join("meta.db")))
            .await?;
    store.migrate().await?;
    let queue = lettuce_queue_sqlite::SqliteQueue::open(&data_dir.join("queue.db")).await?;
    let blobs = Arc::new(lettuce_blob_object_store::ObjectStoreBlobs::local(
        &data_dir.join("blobs"),
    )?);
    // Your service owns its secrets; here they are fixed for the example.
    let auth = Arc::new(lettuce_auth_local::LocalAuth::new(Secret::new(
        "an-example-signing-key-of-32-bytes-or-more",
    ))?);
    let mirror = lettuce_git_generic::GixMirror::new(
        data_dir.join("mirrors"),
        // The example indexes a local path, so private targets are allowed.
        lettuce_git_generic::NetworkPolicy { allow_private: true },
    );
    let tokens = Arc::new(lettuce_tokens_bpe::BpeCounter::o200k());
    let index = Arc::new(
        lettuce_index_tantivy::TantivyIndex::new(
            blobs.clone(),
            lettuce_index_tantivy::IndexConfig::new(data_dir.join("index-cache")),
        )
        .with_token_counter(tokens.clone()),
    );
    let engine = Engine::builder()
        .store(Arc::new(store))
        .queue(Arc::new(queue))
        .blobs(blobs.clone())
        .secrets(Arc::new(lettuce_secrets_env::EnvSecretStore::from_map(HashMap::new())))
        .session_verifier(auth.clone())
        .sessions(auth.clone())
        .passwords(auth)
        .mirror(Arc::new(mirror))
        .indexer(index.clone())
        .search(index)
        .tokens(tokens)
        .settings(EngineSettings::new(
            Secret::new("example-admin-token-0123456789"),
            [42u8; 32],
        ))
        .build()?;
    Ok(engine)
}

/// Signs up a user and indexes the git repository at `repo_path`.
async fn run(data_dir: &Path, repo_path: &Path) -> anyhow::Result<Repo> {
    let engine = build_engine(data_dir).await?;
    let admin = engine
        .authenticate(&Secret::new("example-admin-token-0123456789"))
        .await?;
    let invite = engine.create_admin_invite(&admin, Default::default()).await?;
    let signed_up = engine
        .signup(SignupRequest {
            invite_code: invite.code,
            email: "embedder@example.com".into(),
            password: Secret::new("a long example password"),
        })
        .await?;
    let user = engine.authenticate(&signed_up.token.token).await?;
    let path = repo_path
        .canonicalize()
        .with_context(|| format!("{} does not exist", repo_path.display()))?;
    let repo = engine
        .add_repo(
            &user,
            AddRepoRequest {
                url: format!("file://{}", path.display()),
                branch: None,
            },
        )
        .await?;
    // A real service runs `Worker::run(cancel)` in a background task; here we
    // drain the queue once.
    Worker::new(engine.clone()).run_until_idle().await?;
    // Then ask the index what an agent would: the repository's map.
    let map = engine
        .navigator(&user)?
        .repo_map(lettuce_engine::RepoMapRequest::default())
        .await;
    match map {
        Ok(answer) => println!("{}({} tokens)", answer.text, answer.tokens.returned),
        Err(e) => println!("no repo map: {e}"),
    }
    Ok(engine.get_repo(&user, repo.id).await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let repo_path = std::env::args()
        .nth(1)
        .context("usage: lettuce-embed-example <path to a git repository>")?;
    let data = std::env::temp_dir().join(format!("lettuce-embed-{}", std::process::id()));
    std::fs::create_dir_all(&data)?;
    let repo = run(&data, Path::new(&repo_path)).await?;
    println!(
        "{} is {} at {}",
        repo.name,
        repo.status.as_str(),
        repo.indexed_commit.as_deref().unwrap_or("-")
    );
    if let Some(e) = repo.error {
        println!("error: {e}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[tokio::test]
    async fn embeds_and_indexes_a_local_repo() {
        if Command::new("git").arg("--version").output().is_err() {
            assert!(
                std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() != Ok("1"),
                "git is required (LETTUCE_REQUIRE_PEERS=1)"
            );
            eprintln!("SKIPPED: git is not installed");
            return;
        }
        let src = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let out = Command::new("git").args(args).current_dir(src.path()).output().unwrap();
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        git(&["init", "-q", "-b", "main"]);
        std::fs::write(src.path().join("lib.rs"), "pub fn hello() {}\n").unwrap();
        git(&["add", "."]);
        git(&["-c", "user.name=t", "-c", "user.email=t@e.x", "commit", "-qm", "init"]);
        let head = git(&["rev-parse", "HEAD"]).trim().to_owned();

        let data = tempfile::tempdir().unwrap();
        let repo = run(data.path(), src.path()).await.unwrap();
        assert_eq!(repo.status.as_str(), "ready", "{:?}", repo.error);
        assert_eq!(repo.indexed_commit.as_deref(), Some(head.as_str()));
    }
}
