//! Criterion benchmarks of the code index, quick to run:
//!
//! * `extract/fixtures` — extraction throughput (one tree-sitter parse,
//!   tags query and identifier walk per file) over `fixtures/code/src`, one
//!   file per supported language;
//! * `query/*` — warm latency of symbol lookup, text and substring search
//!   and references on a small index built here (the fixtures plus this
//!   crate's own sources) over an in-memory blob store.
//!
//! ```text
//! cargo bench -p lettuce-index-tantivy --bench index
//! ```
//!
//! The corpus-scale comparison with ctags and rg is `lettuce-index-bench`
//! (`just bench`, docs/PERFORMANCE.md).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lettuce_domain::{AccountId, RepoId};
use lettuce_index_tantivy::{IndexConfig, TantivyIndex, extract_file};
use lettuce_ports::blob::BlobStore;
use lettuce_ports::index::{
    CodeIndexer, CodeSearch, IndexRef, IndexRequest, NoProgress, ReferenceQuery, SearchMode, SearchQuery, SymbolQuery,
};
use lettuce_ports::testing::blob::MemoryBlobStore;
use lettuce_ports::testing::git::MemorySnapshot;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Every file under `dir` as (path relative to `prefix`, bytes), sorted.
fn files_under(dir: &Path, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readable directory").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                let rel = rel.to_string_lossy().replace('\\', "/");
                out.push((format!("{prefix}{rel}"), std::fs::read(&p).expect("readable file")));
            }
        }
    }
    out.sort();
    out
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    files_under(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/code/src"),
        "fixtures/",
    )
}

fn extraction(c: &mut Criterion) {
    let files = fixtures();
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let mut g = c.benchmark_group("extract");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("fixtures", |b| {
        b.iter(|| {
            for (path, src) in &files {
                black_box(extract_file(path, src, Duration::from_secs(10)));
            }
        })
    });
    g.finish();
}

fn queries(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut files = fixtures();
    files.extend(files_under(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        "index-tantivy/src/",
    ));
    let cache = tempfile::tempdir().expect("temp dir");
    let blobs: Arc<dyn BlobStore> = Arc::new(MemoryBlobStore::new());
    let index = TantivyIndex::new(blobs, IndexConfig::new(cache.path().to_path_buf()));
    let repo = RepoId(uuid::Uuid::now_v7());
    rt.block_on(index.index(IndexRequest {
        repo_id: repo,
        account_id: AccountId(uuid::Uuid::nil()),
        snapshot: MemorySnapshot::new("c1", files).into_arc(),
        previous_commit: None,
        progress: Arc::new(NoProgress),
    }))
    .expect("index the fixtures");
    let at = IndexRef {
        repo_id: repo,
        commit: "c1".into(),
    };
    let symbol = |name: &str| SymbolQuery {
        name: name.into(),
        kind: None,
        path: None,
        lang: None,
        limit: 10,
    };
    let search = |q: &str, mode| SearchQuery {
        query: q.into(),
        mode,
        case_sensitive: false,
        path: None,
        lang: None,
        max_files: 10,
        max_lines_per_file: 5,
    };
    // Open the commit once (the first query maps the segments).
    rt.block_on(index.symbols(&at, &symbol("Inventory"))).expect("query");

    let mut g = c.benchmark_group("query");
    g.bench_function("symbols", |b| {
        b.iter(|| rt.block_on(index.symbols(&at, &symbol("extract_file"))).expect("query"))
    });
    g.bench_function("search_text", |b| {
        b.iter(|| {
            rt.block_on(index.search(&at, &search("parse timeout", SearchMode::Text)))
                .expect("query")
        })
    });
    g.bench_function("search_substring", |b| {
        b.iter(|| {
            rt.block_on(index.search(&at, &search("add_item(", SearchMode::Substring)))
                .expect("query")
        })
    });
    g.bench_function("references", |b| {
        let q = ReferenceQuery {
            name: "Inventory".into(),
            path: None,
            limit: 50,
        };
        b.iter(|| rt.block_on(index.references(&at, &q)).expect("query"))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = extraction, queries
}
criterion_main!(benches);
