//! Contract and adapter-specific tests for `ManifestIndexer`.

use async_trait::async_trait;
use bytes::Bytes;
use lettuce_index_manifest::{MANIFEST_FORMAT, Manifest, ManifestIndexer, SkipReason};
use lettuce_ports::blob::{BlobError, BlobStore};
use lettuce_ports::domain::{AccountId, RepoId};
use lettuce_ports::git::{FileEntry, GitError, RepoSnapshot};
use lettuce_ports::index::{CodeIndexer, IndexError, IndexRequest, IndexSummary};
use lettuce_ports::testing::blob::MemoryBlobStore;
use lettuce_ports::testing::git::MemorySnapshot;
use lettuce_ports::testing::index::{RecordingProgress, code_indexer_contract};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// A snapshot that counts `read_blob` calls per blob id.
#[derive(Debug)]
struct CountingSnapshot {
    inner: MemorySnapshot,
    reads: Mutex<HashMap<String, usize>>,
    total_reads: AtomicUsize,
}

impl CountingSnapshot {
    fn new(inner: MemorySnapshot) -> Arc<Self> {
        Arc::new(Self {
            inner,
            reads: Mutex::default(),
            total_reads: AtomicUsize::new(0),
        })
    }
    fn reads_of(&self, content: &[u8]) -> usize {
        self.reads
            .lock()
            .unwrap()
            .get(&MemorySnapshot::blob_id_of(content))
            .copied()
            .unwrap_or(0)
    }
    fn total_reads(&self) -> usize {
        self.total_reads.load(Ordering::SeqCst)
    }
}

impl RepoSnapshot for CountingSnapshot {
    fn commit(&self) -> &str {
        self.inner.commit()
    }
    fn files(&self) -> Result<Vec<FileEntry>, GitError> {
        self.inner.files()
    }
    fn read_blob(&self, blob_id: &str) -> Result<Vec<u8>, GitError> {
        self.total_reads.fetch_add(1, Ordering::SeqCst);
        *self.reads.lock().unwrap().entry(blob_id.to_owned()).or_default() += 1;
        self.inner.read_blob(blob_id)
    }
}

/// A blob store that records the order of puts.
#[derive(Debug, Default)]
struct RecordingBlobs {
    inner: MemoryBlobStore,
    puts: Mutex<Vec<String>>,
}

#[async_trait]
impl BlobStore for RecordingBlobs {
    fn backend(&self) -> &'static str {
        "recording"
    }
    async fn put(&self, key: &str, data: Bytes) -> Result<(), BlobError> {
        self.puts.lock().unwrap().push(key.to_owned());
        self.inner.put(key, data).await
    }
    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        self.inner.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        self.inner.list(prefix).await
    }
    async fn ping(&self) -> Result<(), BlobError> {
        self.inner.ping().await
    }
}

fn repo() -> RepoId {
    RepoId::from_uuid(Uuid::new_v4())
}

fn request(
    repo_id: RepoId,
    snapshot: Arc<dyn RepoSnapshot>,
    previous: Option<&str>,
) -> (IndexRequest, Arc<RecordingProgress>) {
    let progress = Arc::new(RecordingProgress::new());
    let req = IndexRequest {
        repo_id,
        account_id: AccountId::from_uuid(Uuid::new_v4()),
        snapshot,
        previous_commit: previous.map(str::to_owned),
        progress: progress.clone(),
    };
    (req, progress)
}

async fn manifest_of(blobs: &dyn BlobStore, repo: RepoId, commit: &str) -> Manifest {
    let bytes = blobs
        .get(&format!("repos/{repo}/manifests/{commit}.json"))
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn reason(m: &Manifest, path: &str) -> Option<SkipReason> {
    m.files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not in manifest"))
        .skipped_reason
}

#[tokio::test]
async fn manifest_indexer_meets_the_contract() {
    let blobs = Arc::new(MemoryBlobStore::new());
    let indexer = ManifestIndexer::new(blobs.clone());
    assert_eq!(indexer.name(), "manifest");
    code_indexer_contract(&indexer).await;
    assert!(
        blobs.is_empty(),
        "the contract deletes its repo; nothing may be left: {:?}",
        blobs.keys()
    );
}

#[tokio::test]
async fn skip_rules_and_languages_are_recorded() {
    const MAIN_RS: &[u8] = b"fn main() {}\n";
    const APP_TSX: &[u8] = b"export const A = 1;\n";
    const BUILD_RS: &[u8] = b"fn main() {}\n// build script\n";
    let big = vec![b'x'; 1024 * 1024 + 1];
    let mut late_nul = vec![b'a'; 8 * 1024];
    late_nul.push(0);
    let files: Vec<(String, Vec<u8>)> = vec![
        ("src/main.rs".into(), MAIN_RS.to_vec()),
        ("web/app.tsx".into(), APP_TSX.to_vec()),
        (
            "node_modules/left-pad/index.js".into(),
            b"module.exports = 1;\n".to_vec(),
        ),
        ("vendor/github.com/x/y.go".into(), b"package y\n".to_vec()),
        ("third_party/z/z.c".into(), b"int z;\n".to_vec()),
        ("dist/bundle.js".into(), b"var a;\n".to_vec()),
        ("site/build/out.css".into(), b"a{}\n".to_vec()),
        ("target/debug/gen.rs".into(), b"// gen\n".to_vec()),
        ("public/jquery.min.js".into(), b"!function(){}\n".to_vec()),
        ("Cargo.lock".into(), b"# lock\n".to_vec()),
        ("api/v1/service.pb.go".into(), b"package v1\n".to_vec()),
        ("src/schema_generated.ts".into(), b"export {};\n".to_vec()),
        ("assets/big.txt".into(), big.clone()),
        ("assets/logo.png".into(), vec![0x89, b'P', b'N', b'G', 0, 0, 0, 0x0d]),
        ("docs/late-nul.txt".into(), late_nul.clone()),
        ("src/build.rs".into(), BUILD_RS.to_vec()),
    ];
    let total = files.len() as u64;
    let snap = CountingSnapshot::new(MemorySnapshot::new("c0ffee", files));
    let blobs = Arc::new(MemoryBlobStore::new());
    let indexer = ManifestIndexer::new(blobs.clone());
    let r = repo();
    let (req, progress) = request(r, snap.clone(), None);
    let s = indexer.index(req).await.unwrap();

    let m = manifest_of(blobs.as_ref(), r, "c0ffee").await;
    assert_eq!(m.commit, "c0ffee");
    assert_eq!(m.format, MANIFEST_FORMAT);
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort_unstable();
    assert_eq!(paths, sorted, "manifest entries are sorted by path");
    for p in [
        "node_modules/left-pad/index.js",
        "vendor/github.com/x/y.go",
        "third_party/z/z.c",
        "dist/bundle.js",
        "site/build/out.css",
        "target/debug/gen.rs",
    ] {
        assert_eq!(reason(&m, p), Some(SkipReason::Vendored), "{p}");
    }
    for p in [
        "public/jquery.min.js",
        "Cargo.lock",
        "api/v1/service.pb.go",
        "src/schema_generated.ts",
    ] {
        assert_eq!(reason(&m, p), Some(SkipReason::Generated), "{p}");
    }
    assert_eq!(reason(&m, "assets/big.txt"), Some(SkipReason::TooLarge));
    assert_eq!(reason(&m, "assets/logo.png"), Some(SkipReason::Binary));
    for p in ["src/main.rs", "web/app.tsx", "docs/late-nul.txt", "src/build.rs"] {
        assert_eq!(reason(&m, p), None, "{p} is indexed");
    }
    let lang = |p: &str| m.files.iter().find(|f| f.path == p).unwrap().language.clone();
    assert_eq!(lang("src/main.rs").as_deref(), Some("rust"));
    assert_eq!(lang("web/app.tsx").as_deref(), Some("typescript"));
    assert_eq!(lang("api/v1/service.pb.go").as_deref(), Some("go"));
    assert_eq!(lang("assets/logo.png"), None);

    // Only the four indexed files and the binary one were read; path- and
    // size-skipped files never are.
    assert_eq!(snap.total_reads(), 5);
    assert_eq!(snap.reads_of(&big), 0);
    assert_eq!(snap.reads_of(b"module.exports = 1;\n"), 0);
    assert_eq!(
        s,
        IndexSummary {
            files_total: total,
            files_processed: 4,
            files_reused: 0,
            files_skipped: total - 4,
            bytes_processed: (MAIN_RS.len() + APP_TSX.len() + late_nul.len() + BUILD_RS.len()) as u64,
        }
    );
    assert_eq!(progress.last(), Some((total, total)));
    assert_eq!(progress.reports().first(), Some(&(0, total)));
    assert!(
        progress.reports().len() <= 3,
        "progress is throttled: {:?}",
        progress.reports()
    );
}

#[tokio::test]
async fn unchanged_files_are_reused_without_reading_them() {
    let lib_v1 = b"pub fn a() {}\n".to_vec();
    let lib_v2 = b"pub fn a() { println!(); }\n".to_vec();
    let readme = b"# readme\n".to_vec();
    let png = vec![0u8, 1, 2, 3];
    let blobs = Arc::new(MemoryBlobStore::new());
    let indexer = ManifestIndexer::new(blobs.clone());
    let r = repo();

    let v1 = vec![
        ("src/lib.rs".to_string(), lib_v1.clone()),
        ("README.md".to_string(), readme.clone()),
        ("logo.png".to_string(), png.clone()),
    ];
    let snap1 = CountingSnapshot::new(MemorySnapshot::new("c1", v1));
    let (req, _) = request(r, snap1.clone(), None);
    let s1 = indexer.index(req).await.unwrap();
    assert_eq!((s1.files_processed, s1.files_reused, s1.files_skipped), (2, 0, 1));
    assert_eq!(snap1.total_reads(), 3);

    // c2: lib.rs changed, README renamed (same blob), logo unchanged, one new file.
    let v2 = vec![
        ("src/lib.rs".to_string(), lib_v2.clone()),
        ("docs/README.md".to_string(), readme.clone()),
        ("logo.png".to_string(), png.clone()),
        ("src/new.py".to_string(), b"x = 1\n".to_vec()),
    ];
    let snap2 = CountingSnapshot::new(MemorySnapshot::new("c2", v2));
    let (req, progress) = request(r, snap2.clone(), Some("c1"));
    let s2 = indexer.index(req).await.unwrap();
    assert_eq!(snap2.reads_of(&readme), 0, "an unchanged blob is not read again");
    assert_eq!(snap2.reads_of(&png), 0, "a known binary blob is not read again");
    assert_eq!(snap2.reads_of(&lib_v2), 1);
    assert_eq!(snap2.total_reads(), 2);
    assert_eq!(
        s2,
        IndexSummary {
            files_total: 4,
            files_processed: 2,
            files_reused: 1,
            files_skipped: 1,
            bytes_processed: (lib_v2.len() + 6) as u64
        }
    );
    assert_eq!(progress.last(), Some((4, 4)));
    let m2 = manifest_of(blobs.as_ref(), r, "c2").await;
    assert_eq!(reason(&m2, "logo.png"), Some(SkipReason::Binary));
    assert_eq!(reason(&m2, "docs/README.md"), None);
    assert_eq!(
        m2.files
            .iter()
            .find(|f| f.path == "docs/README.md")
            .unwrap()
            .language
            .as_deref(),
        Some("markdown")
    );

    // Without previous_commit nothing is reused.
    let snap3 = CountingSnapshot::new(MemorySnapshot::new(
        "c2",
        snap2
            .inner
            .files()
            .unwrap()
            .iter()
            .map(|f| (f.path.clone(), snap2.inner.read_blob(&f.blob_id).unwrap()))
            .collect(),
    ));
    let (req, _) = request(r, snap3.clone(), None);
    let s3 = indexer.index(req).await.unwrap();
    assert_eq!(s3.files_reused, 0);
    assert_eq!(snap3.total_reads(), 4);
}

#[tokio::test]
async fn the_pointer_is_written_after_the_manifest() {
    let blobs = Arc::new(RecordingBlobs::default());
    let indexer = ManifestIndexer::new(blobs.clone());
    let r = repo();
    let (req, _) = request(
        r,
        MemorySnapshot::from_text("abc123", &[("a.rs", "fn a() {}")]).into_arc(),
        None,
    );
    indexer.index(req).await.unwrap();
    assert_eq!(
        *blobs.puts.lock().unwrap(),
        [format!("repos/{r}/manifests/abc123.json"), format!("repos/{r}/HEAD")]
    );
    assert_eq!(
        blobs.inner.get(&format!("repos/{r}/HEAD")).await.unwrap(),
        Bytes::from_static(b"abc123")
    );
    assert_eq!(indexer.indexed_commit(r).await.unwrap().as_deref(), Some("abc123"));
}

#[tokio::test]
async fn old_manifests_are_collected_and_delete_removes_everything() {
    let blobs = Arc::new(MemoryBlobStore::new());
    let indexer = ManifestIndexer::new(blobs.clone());
    let (r, other) = (repo(), repo());
    let snap = |c: &str, body: &str| MemorySnapshot::from_text(c, &[("a.rs", body)]).into_arc();
    indexer
        .index(request(other, snap("o1", "other"), None).0)
        .await
        .unwrap();
    let mut prev: Option<String> = None;
    for (i, c) in ["c1", "c2", "c3"].into_iter().enumerate() {
        indexer
            .index(request(r, snap(c, &format!("v{i}")), prev.as_deref()).0)
            .await
            .unwrap();
        prev = Some(c.to_owned());
    }
    // The current and the previous head remain.
    assert_eq!(
        blobs.list(&format!("repos/{r}/")).await.unwrap(),
        [
            format!("repos/{r}/HEAD"),
            format!("repos/{r}/manifests/c2.json"),
            format!("repos/{r}/manifests/c3.json")
        ]
    );
    indexer.delete(r).await.unwrap();
    assert!(blobs.list(&format!("repos/{r}/")).await.unwrap().is_empty());
    assert_eq!(indexer.indexed_commit(r).await.unwrap(), None);
    assert_eq!(
        indexer.indexed_commit(other).await.unwrap().as_deref(),
        Some("o1"),
        "other repos are untouched"
    );
    indexer.delete(r).await.unwrap();
}

#[tokio::test]
async fn a_corrupt_previous_manifest_only_costs_reuse() {
    let blobs = Arc::new(MemoryBlobStore::new());
    let indexer = ManifestIndexer::new(blobs.clone());
    let r = repo();
    blobs
        .put(
            &format!("repos/{r}/manifests/c1.json"),
            Bytes::from_static(b"{not json"),
        )
        .await
        .unwrap();
    let snap = CountingSnapshot::new(MemorySnapshot::from_text("c2", &[("a.rs", "fn a() {}")]));
    let s = indexer.index(request(r, snap.clone(), Some("c1")).0).await.unwrap();
    assert_eq!((s.files_processed, s.files_reused), (1, 0));
    // A previous commit that was never indexed is fine too.
    let s = indexer.index(request(r, snap.clone(), Some("never")).0).await.unwrap();
    assert_eq!(s.files_processed, 1);
    assert!(
        matches!(indexer.manifest(r, "c1").await, Ok(None)),
        "the corrupt manifest was collected"
    );
}

#[tokio::test]
async fn empty_snapshots_and_bad_commit_ids() {
    let blobs = Arc::new(MemoryBlobStore::new());
    let indexer = ManifestIndexer::new(blobs.clone());
    let r = repo();
    let (req, progress) = request(r, MemorySnapshot::new("e1", vec![]).into_arc(), None);
    let s = indexer.index(req).await.unwrap();
    assert_eq!(s, IndexSummary::default());
    assert_eq!(progress.last(), Some((0, 0)));
    assert_eq!(indexer.indexed_commit(r).await.unwrap().as_deref(), Some("e1"));

    let (req, _) = request(r, MemorySnapshot::new("../evil", vec![]).into_arc(), None);
    assert!(matches!(
        indexer.index(req).await,
        Err(IndexError::Storage(BlobError::InvalidKey { .. }))
    ));
    assert_eq!(indexer.indexed_commit(r).await.unwrap().as_deref(), Some("e1"));
}

#[tokio::test]
async fn snapshot_errors_surface_as_source_errors() {
    #[derive(Debug)]
    struct Broken;
    impl RepoSnapshot for Broken {
        fn commit(&self) -> &str {
            "b1"
        }
        fn files(&self) -> Result<Vec<FileEntry>, GitError> {
            Ok(vec![FileEntry {
                path: "a.rs".into(),
                blob_id: "dead".into(),
                size: 3,
            }])
        }
        fn read_blob(&self, blob_id: &str) -> Result<Vec<u8>, GitError> {
            Err(GitError::MissingObject {
                key: "k".into(),
                commit: blob_id.into(),
            })
        }
    }
    let blobs = Arc::new(MemoryBlobStore::new());
    let indexer = ManifestIndexer::new(blobs.clone());
    let r = repo();
    assert!(matches!(
        indexer.index(request(r, Arc::new(Broken), None).0).await,
        Err(IndexError::Source(_))
    ));
    assert_eq!(indexer.indexed_commit(r).await.unwrap(), None);
    assert!(blobs.is_empty(), "a failed run writes nothing");
}
