//! In-memory [`CodeIndexer`], a recording [`ProgressSink`], and the indexer
//! contract suite.

use crate::git::{FileEntry, RepoSnapshot};
use crate::index::{CodeIndexer, IndexError, IndexRequest, IndexSummary, ProgressSink};
use crate::testing::git::MemorySnapshot;
use crate::testing::lock;
use async_trait::async_trait;
use lettuce_domain::{AccountId, RepoId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Files larger than this are skipped by [`MemoryIndexer`].
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A [`ProgressSink`] that keeps every report.
#[derive(Debug, Default)]
pub struct RecordingProgress {
    reports: Mutex<Vec<(u64, u64)>>,
}

impl RecordingProgress {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every `(done, total)` report, in order.
    pub fn reports(&self) -> Vec<(u64, u64)> {
        lock(&self.reports).clone()
    }

    /// The last report.
    pub fn last(&self) -> Option<(u64, u64)> {
        lock(&self.reports).last().copied()
    }
}

impl ProgressSink for RecordingProgress {
    fn report(&self, done: u64, total: u64) {
        lock(&self.reports).push((done, total));
    }
}

/// What [`MemoryIndexer`] stored for one repo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedRepo {
    /// The repo's account.
    pub account_id: AccountId,
    /// The indexed commit.
    pub commit: String,
    /// Every file of the snapshot.
    pub files: Vec<FileEntry>,
    /// Paths of the files that were indexed (not skipped).
    pub indexed_paths: Vec<String>,
}

/// A [`CodeIndexer`] that records, per repo, the commit and the files of the
/// last index run. It is incremental like a real indexer: a file whose path
/// and blob id are unchanged since the previous run is reused, not re-read;
/// binary files (a NUL byte) and files over [`MAX_FILE_BYTES`] are skipped.
/// [`MemoryIndexer::fail_next`] injects a failure.
#[derive(Debug, Default)]
pub struct MemoryIndexer {
    repos: Mutex<HashMap<RepoId, IndexedRepo>>,
    failures: Mutex<Vec<IndexError>>,
    runs: Mutex<u64>,
}

impl MemoryIndexer {
    /// An empty indexer.
    pub fn new() -> Self {
        Self::default()
    }

    /// What is stored for `repo`.
    pub fn indexed(&self, repo: RepoId) -> Option<IndexedRepo> {
        lock(&self.repos).get(&repo).cloned()
    }

    /// Number of `index` calls so far (failed ones included).
    pub fn runs(&self) -> u64 {
        *lock(&self.runs)
    }

    /// Makes the next `index` call fail with `err` (queued in order).
    pub fn fail_next(&self, err: IndexError) {
        lock(&self.failures).insert(0, err);
    }
}

/// What the indexer decided for one file.
enum Outcome {
    Reused,
    Processed(u64),
    Skipped,
}

fn index_blocking(
    snapshot: &dyn RepoSnapshot,
    previous: Option<&IndexedRepo>,
    progress: &dyn ProgressSink,
) -> Result<(Vec<FileEntry>, Vec<String>, IndexSummary), IndexError> {
    let files = snapshot.files()?;
    let total = files.len() as u64;
    let before: HashMap<&str, (&str, bool)> = previous
        .map(|p| {
            p.files
                .iter()
                .map(|f| {
                    (
                        f.path.as_str(),
                        (f.blob_id.as_str(), p.indexed_paths.iter().any(|x| x == &f.path)),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut summary = IndexSummary {
        files_total: total,
        ..IndexSummary::default()
    };
    let mut indexed = Vec::new();
    progress.report(0, total);
    for (i, f) in files.iter().enumerate() {
        let outcome = match before.get(f.path.as_str()) {
            Some((blob, true)) if *blob == f.blob_id => Outcome::Reused,
            Some((blob, false)) if *blob == f.blob_id => Outcome::Skipped,
            _ if f.size > MAX_FILE_BYTES => Outcome::Skipped,
            _ => {
                let bytes = snapshot.read_blob(&f.blob_id)?;
                if bytes.contains(&0) {
                    Outcome::Skipped
                } else {
                    Outcome::Processed(bytes.len() as u64)
                }
            }
        };
        match outcome {
            Outcome::Reused => {
                summary.files_reused += 1;
                indexed.push(f.path.clone());
            }
            Outcome::Processed(n) => {
                summary.files_processed += 1;
                summary.bytes_processed += n;
                indexed.push(f.path.clone());
            }
            Outcome::Skipped => summary.files_skipped += 1,
        }
        progress.report(i as u64 + 1, total);
    }
    Ok((files, indexed, summary))
}

#[async_trait]
impl CodeIndexer for MemoryIndexer {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn index(&self, req: IndexRequest) -> Result<IndexSummary, IndexError> {
        *lock(&self.runs) += 1;
        if let Some(err) = lock(&self.failures).pop() {
            return Err(err);
        }
        let previous = self.indexed(req.repo_id);
        let snapshot = req.snapshot.clone();
        let progress = req.progress.clone();
        let (files, indexed_paths, summary) = tokio::task::spawn_blocking(move || {
            index_blocking(snapshot.as_ref(), previous.as_ref(), progress.as_ref())
        })
        .await
        .map_err(|e| IndexError::Backend {
            backend: "memory",
            source: Box::new(e),
            retryable: false,
        })??;
        let record = IndexedRepo {
            account_id: req.account_id,
            commit: req.snapshot.commit().to_owned(),
            files,
            indexed_paths,
        };
        lock(&self.repos).insert(req.repo_id, record);
        Ok(summary)
    }

    async fn indexed_commit(&self, repo: RepoId) -> Result<Option<String>, IndexError> {
        Ok(lock(&self.repos).get(&repo).map(|r| r.commit.clone()))
    }

    async fn delete(&self, repo: RepoId) -> Result<(), IndexError> {
        lock(&self.repos).remove(&repo);
        Ok(())
    }
}

// ── contract ──────────────────────────────────────────────────────────────

fn random_commit() -> String {
    format!(
        "{}{}",
        Uuid::new_v4().simple(),
        &Uuid::new_v4().simple().to_string()[..8]
    )
}

fn contract_files(run: &str, lib_rs: &str) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "README.md".into(),
            format!("# Widgets\n\nA contract-test repository (run {run}).\n").into_bytes(),
        ),
        (
            "src/main.rs".into(),
            b"mod lib;\n\nfn main() {\n    println!(\"{}\", lib::greet(\"world\"));\n}\n".to_vec(),
        ),
        ("src/lib.rs".into(), lib_rs.as_bytes().to_vec()),
        (
            "src/util/strings.py".into(),
            b"def shout(s):\n    return s.upper()\n".to_vec(),
        ),
        ("docs/guide.md".into(), b"Call `greet` to greet.\n".to_vec()),
        (
            "assets/logo.png".into(),
            vec![
                0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R', 0, 0xff,
            ],
        ),
    ]
}

fn check_summary(name: &str, s: &IndexSummary, total: u64, run: &str) {
    assert_eq!(
        s.files_total, total,
        "[{name}] {run}: files_total must be the number of files in the snapshot"
    );
    assert_eq!(
        s.files_processed + s.files_reused + s.files_skipped,
        s.files_total,
        "[{name}] {run}: files_processed + files_reused + files_skipped must equal files_total ({s:?})"
    );
}

/// Checks the [`CodeIndexer`] contract with a small [`MemorySnapshot`]
/// (text files in several directories and one binary file with NUL bytes),
/// under a random repo id:
///
/// * before indexing, `indexed_commit` is `None`;
/// * `index` reports `files_total` = the number of files and
///   processed + reused + skipped = total; `indexed_commit` is the commit;
///   progress ends with `done == total`;
/// * re-indexing the same snapshot (with `previous_commit`) succeeds and
///   reuses every file indexed (processed or reused) before;
/// * indexing a snapshot with one changed file moves `indexed_commit` and
///   processes at least that file;
/// * `delete` clears the index, twice without error; other repos are not
///   affected.
///
/// # Panics
///
/// On the first broken rule, with a message naming it.
pub async fn code_indexer_contract(indexer: &dyn CodeIndexer) {
    let name = indexer.name();
    let repo = RepoId(Uuid::new_v4());
    let other = RepoId(Uuid::new_v4());
    let account = AccountId(Uuid::new_v4());
    let commit_of = |r: RepoId| async move {
        indexer
            .indexed_commit(r)
            .await
            .unwrap_or_else(|e| panic!("[{name}] indexed_commit failed: {e}"))
    };

    assert_eq!(
        commit_of(repo).await,
        None,
        "[{name}] a repo never indexed has no indexed_commit"
    );

    // First run.
    let c1 = random_commit();
    // Per-run contents, so an indexer that caches by content across repos
    // still has something new to process.
    let run = Uuid::new_v4().to_string();
    let files1 = contract_files(
        &run,
        "pub fn greet(who: &str) -> String {\n    format!(\"hello {who}\")\n}\n",
    );
    let total = files1.len() as u64;
    let snap1 = MemorySnapshot::new(c1.clone(), files1).into_arc();
    let progress = Arc::new(RecordingProgress::new());
    let req =
        |snapshot: Arc<dyn RepoSnapshot>, previous: Option<String>, progress: Arc<RecordingProgress>| IndexRequest {
            repo_id: repo,
            account_id: account,
            snapshot,
            previous_commit: previous,
            progress,
        };
    let s1 = indexer
        .index(req(snap1.clone(), None, progress.clone()))
        .await
        .unwrap_or_else(|e| panic!("[{name}] the first index run failed: {e}"));
    check_summary(name, &s1, total, "first run");
    assert_eq!(
        commit_of(repo).await,
        Some(c1.clone()),
        "[{name}] after index, indexed_commit must be the snapshot's commit"
    );
    let last = progress
        .last()
        .unwrap_or_else(|| panic!("[{name}] index must report progress"));
    assert_eq!(
        last,
        (total, total),
        "[{name}] the final progress report must be done == total == files_total"
    );
    let reports = progress.reports();
    assert!(
        reports.windows(2).all(|w| w[0].0 <= w[1].0) && reports.iter().all(|(d, t)| d <= t),
        "[{name}] progress must not go backwards or past total: {reports:?}"
    );
    assert!(
        s1.files_processed >= 1,
        "[{name}] the first run must process the (new) text files ({s1:?})"
    );

    // Same snapshot again: idempotent and incremental.
    let s2 = indexer
        .index(req(snap1.clone(), Some(c1.clone()), Arc::new(RecordingProgress::new())))
        .await
        .unwrap_or_else(|e| panic!("[{name}] re-indexing the same commit failed: {e}"));
    check_summary(name, &s2, total, "re-index of the same commit");
    assert_eq!(
        s2.files_reused,
        s1.files_processed + s1.files_reused,
        "[{name}] re-indexing the same commit must reuse every file indexed before ({s1:?} then {s2:?})"
    );
    assert_eq!(
        commit_of(repo).await,
        Some(c1.clone()),
        "[{name}] re-indexing keeps indexed_commit"
    );

    // One file changed.
    let c2 = random_commit();
    let lib2 = format!("pub fn greet(who: &str) -> String {{\n    format!(\"hi {run}, {{who}}!\")\n}}\n");
    let files2 = contract_files(&run, &lib2);
    let snap2 = MemorySnapshot::new(c2.clone(), files2).into_arc();
    let progress2 = Arc::new(RecordingProgress::new());
    let s3 = indexer
        .index(req(snap2, Some(c1.clone()), progress2.clone()))
        .await
        .unwrap_or_else(|e| panic!("[{name}] indexing a changed commit failed: {e}"));
    check_summary(name, &s3, total, "index of a changed commit");
    assert!(
        s3.files_processed >= 1,
        "[{name}] the changed file must be processed ({s3:?})"
    );
    assert_eq!(
        commit_of(repo).await,
        Some(c2),
        "[{name}] indexed_commit must move to the new commit"
    );
    assert_eq!(
        progress2.last(),
        Some((total, total)),
        "[{name}] every run ends with done == total"
    );

    // Other repos are independent.
    assert_eq!(commit_of(other).await, None, "[{name}] indexed_commit is per repo");
    indexer
        .delete(other)
        .await
        .unwrap_or_else(|e| panic!("[{name}] deleting a never-indexed repo must not fail: {e}"));
    assert!(
        commit_of(repo).await.is_some(),
        "[{name}] deleting another repo must not touch this one"
    );

    // Delete.
    indexer
        .delete(repo)
        .await
        .unwrap_or_else(|e| panic!("[{name}] delete failed: {e}"));
    assert_eq!(
        commit_of(repo).await,
        None,
        "[{name}] after delete, indexed_commit must be None"
    );
    indexer
        .delete(repo)
        .await
        .unwrap_or_else(|e| panic!("[{name}] deleting a deleted index must not fail: {e}"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::NoProgress;

    #[tokio::test]
    async fn memory_indexer_passes_contract() {
        let indexer = MemoryIndexer::new();
        code_indexer_contract(&indexer).await;
        assert_eq!(indexer.runs(), 3);
    }

    #[tokio::test]
    async fn records_and_skips() {
        let indexer = MemoryIndexer::new();
        let repo = RepoId(Uuid::new_v4());
        let snap = MemorySnapshot::new(
            "c1",
            vec![("a.txt".into(), b"hi".to_vec()), ("b.bin".into(), vec![1, 0, 2])],
        );
        let req = IndexRequest {
            repo_id: repo,
            account_id: AccountId(Uuid::new_v4()),
            snapshot: snap.into_arc(),
            previous_commit: None,
            progress: Arc::new(NoProgress),
        };
        let s = indexer.index(req.clone()).await.unwrap();
        assert_eq!((s.files_processed, s.files_skipped, s.bytes_processed), (1, 1, 2));
        let rec = indexer.indexed(repo).unwrap();
        assert_eq!(rec.commit, "c1");
        assert_eq!(rec.indexed_paths, vec!["a.txt".to_owned()]);
        let s = indexer.index(req.clone()).await.unwrap();
        assert_eq!((s.files_reused, s.files_skipped, s.files_processed), (1, 1, 0));

        indexer.fail_next(IndexError::Backend {
            backend: "memory",
            source: crate::box_msg("disk full"),
            retryable: true,
        });
        assert!(indexer.index(req.clone()).await.unwrap_err().is_retryable());
        assert!(indexer.index(req).await.is_ok());
    }
}
