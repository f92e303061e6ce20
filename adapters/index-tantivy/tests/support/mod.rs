//! Shared helpers: snapshots from directories and indexes over a memory or
//! filesystem blob store.
#![allow(dead_code)]

use lettuce_domain::{AccountId, RepoId};
use lettuce_index_tantivy::{IndexConfig, TantivyIndex};
use lettuce_ports::blob::BlobStore;
use lettuce_ports::index::{CodeIndexer, IndexRef, IndexRequest, IndexSummary, NoProgress};
use lettuce_ports::testing::blob::MemoryBlobStore;
use lettuce_ports::testing::git::MemorySnapshot;
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

/// Every file under `dir`, as `(relative path, bytes)`, sorted.
pub fn read_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

pub fn config(cache: &Path) -> IndexConfig {
    let mut c = IndexConfig::new(cache.to_path_buf());
    c.threads = 2;
    c.memory_bytes = 64 << 20;
    c
}

/// A fresh index over a memory blob store with its own cache directory.
pub fn memory_index() -> (TantivyIndex, Arc<dyn BlobStore>, tempfile::TempDir) {
    let blobs: Arc<dyn BlobStore> = Arc::new(MemoryBlobStore::new());
    let cache = tempfile::tempdir().unwrap();
    (TantivyIndex::new(blobs.clone(), config(cache.path())), blobs, cache)
}

pub async fn run(index: &TantivyIndex, repo: RepoId, snap: MemorySnapshot) -> IndexSummary {
    let previous_commit = index.indexed_commit(repo).await.unwrap();
    index
        .index(IndexRequest {
            repo_id: repo,
            account_id: AccountId(Uuid::nil()),
            snapshot: snap.into_arc(),
            previous_commit,
            progress: Arc::new(NoProgress),
        })
        .await
        .unwrap()
}

/// Indexes a directory as commit `c1` of a new repo.
pub async fn index_dir(dir: &Path) -> (TantivyIndex, IndexRef) {
    let (index, _blobs, cache) = memory_index();
    std::mem::forget(cache); // lives as long as the test process
    let repo = RepoId(Uuid::now_v7());
    run(&index, repo, MemorySnapshot::new("c1", read_tree(dir))).await;
    (
        index,
        IndexRef {
            repo_id: repo,
            commit: "c1".into(),
        },
    )
}
