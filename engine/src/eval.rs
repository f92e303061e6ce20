//! `lettuce eval`: replays the last N commits of a repository as questions
//! and scores the answers of `search_code`, `locate` and a grep baseline.
//! The CLI (`lettuce eval --repo PATH`) and the API (`POST/GET
//! /v1/repos/{id}/eval`, run by the worker) both call [`run_eval`], so they
//! compute the same figures with the same code.
//!
//! For each case (a non-merge commit whose subject is not a release, a bump,
//! a merge or a revert, and which modified or deleted a file):
//! the snapshot of its first parent is indexed into a **scratch index** (a
//! repo id of its own, [`scratch_repo_id`], never the repo's live index;
//! incrementally from the previous case), a fixed navigator over it asks
//! `search_code` (once more with the content words when empty) and `locate`
//! with the subject, and the grep baseline ranks the parent's files by the
//! number of lines matching a content word (case-insensitive, whole words —
//! `rg -c -i -w -e w1 -e w2`), reading the first 3 whole. The scratch index
//! is deleted at the end, also on error or cancellation.

use crate::error::EngineError;
use crate::navigate::{LocateRequest, NavRepo, Navigator, SearchRequest};
use async_trait::async_trait;
use lettuce_domain::eval::{
    CASE_FILES, DEPTH, EvalMethods, EvalQuestion, EvalReport, GREP_READS, LocateVsGrep, Score, content_words,
    skipped_subject,
};
use lettuce_domain::repo::{IndexProgress, RepoStatus};
use lettuce_domain::{AccountId, RepoId};
use lettuce_ports::git::{FileEntry, GitError, RepoSnapshot};
use lettuce_ports::index::{CodeIndexer, CodeSearch, IndexRequest, NoProgress};
use lettuce_ports::tokens::TokenCounter;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Files the grep baseline skips as too large to be source (the index's
/// default limit).
pub const GREP_MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The ports a run indexes and asks with.
#[derive(Clone, Debug)]
pub struct EvalPorts {
    /// Builds the scratch index.
    pub indexer: Arc<dyn CodeIndexer>,
    /// Answers over it.
    pub search: Arc<dyn CodeSearch>,
    /// Counts the tokens of answers and of files read whole.
    pub tokens: Arc<dyn TokenCounter>,
}

/// Where a run reads commits from: a server's mirror, or a local clone.
#[async_trait]
pub trait EvalSource: Send + Sync {
    /// The snapshot of `commit` (a full id from the head's history).
    async fn snapshot(&self, commit: &str) -> Result<Arc<dyn RepoSnapshot>, EngineError>;
}

/// Receives progress: questions answered of the total.
pub trait EvalProgress: Send + Sync {
    /// Called with 0 once the cases are selected, then after each case.
    fn report(&self, done: u32, total: u32);
}

impl<F: Fn(u32, u32) + Send + Sync> EvalProgress for F {
    fn report(&self, done: u32, total: u32) {
        self(done, total)
    }
}

/// What to replay.
#[derive(Debug, Clone)]
pub struct EvalPlan {
    /// The repository's display name (in the report).
    pub repo_name: String,
    /// The account the scratch index is built for.
    pub account_id: AccountId,
    /// The scratch index's repo id ([`scratch_repo_id`] of the repo).
    pub scratch: RepoId,
    /// Questions to ask (the last usable commits, newest first).
    pub commits: usize,
}

/// One replayed commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalCase {
    /// The commit.
    pub commit: String,
    /// Its first parent (the state asked about).
    pub parent: String,
    /// Its subject line (the question).
    pub subject: String,
    /// Files it modified or deleted (files that existed at the parent).
    pub changed: Vec<String>,
}

/// The repo id of `repo`'s scratch eval index: derived, so a retried or
/// interrupted run (and the repo's deletion) can remove a left-over one;
/// never `repo` itself.
pub fn scratch_repo_id(repo: RepoId) -> RepoId {
    let digest = Sha256::digest(format!("lettuce-eval-scratch:{repo}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    RepoId(uuid::Uuid::from_bytes(bytes))
}

fn cancelled() -> EngineError {
    EngineError::Unavailable("the eval run was cancelled (the worker is shutting down); it runs again".into())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, GitError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EngineError::Internal(format!("eval task failed: {e}")))?
        .map_err(EngineError::from)
}

/// The last `n` usable commits of `head`'s history, newest first (see the
/// module docs). Reads each candidate's parent snapshot to keep only the
/// files that existed there.
pub async fn select_cases(
    head: Arc<dyn RepoSnapshot>,
    source: &dyn EvalSource,
    n: usize,
    cancel: &CancellationToken,
) -> Result<Vec<EvalCase>, EngineError> {
    let h = head.clone();
    let history = blocking(move || h.history(n.saturating_mul(5).saturating_add(50))).await?;
    let mut out = Vec::new();
    for c in history {
        if out.len() >= n {
            break;
        }
        if cancel.is_cancelled() {
            return Err(cancelled());
        }
        if skipped_subject(&c.subject) || c.paths.is_empty() {
            continue;
        }
        let (h, id) = (head.clone(), c.id.clone());
        let Some(parent) = blocking(move || h.first_parent(&id)).await? else {
            continue; // the root commit
        };
        let snapshot = source.snapshot(&parent).await?;
        let files = blocking(move || snapshot.files()).await?;
        let existed: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let changed: Vec<String> = c
            .paths
            .iter()
            .filter(|p| existed.contains(p.as_str()))
            .cloned()
            .collect();
        if changed.is_empty() {
            continue;
        }
        out.push(EvalCase {
            commit: c.id,
            parent,
            subject: c.subject,
            changed,
        });
    }
    Ok(out)
}

/// Replays the last `plan.commits` usable commits of `head`'s history and
/// scores the three methods. The scratch index is deleted before (a
/// left-over of an interrupted run) and after, whatever the outcome.
/// Fails when the history has no usable commit.
pub async fn run_eval(
    ports: &EvalPorts,
    source: &dyn EvalSource,
    head: Arc<dyn RepoSnapshot>,
    plan: &EvalPlan,
    progress: &dyn EvalProgress,
    cancel: &CancellationToken,
) -> Result<EvalReport, EngineError> {
    let cases = select_cases(head.clone(), source, plan.commits, cancel).await?;
    if cases.is_empty() {
        return Err(EngineError::Conflict {
            code: "eval_no_commits",
            message: format!(
                "{} has no usable commits to replay (non-merge, not a release or bump, modifying a file that existed before)",
                plan.repo_name
            ),
        });
    }
    ports.indexer.delete(plan.scratch).await?;
    let result = run_cases(ports, source, plan, &cases, progress, cancel).await;
    let cleanup = ports.indexer.delete(plan.scratch).await;
    let (methods, questions) = result?;
    cleanup?;
    Ok(EvalReport {
        repo: plan.repo_name.clone(),
        head: head.commit().to_owned(),
        questions: cases.len() as u32,
        locate_vs_grep: LocateVsGrep::of(&methods.locate, &methods.grep),
        methods,
        cases: questions,
    })
}

async fn run_cases(
    ports: &EvalPorts,
    source: &dyn EvalSource,
    plan: &EvalPlan,
    cases: &[EvalCase],
    progress: &dyn EvalProgress,
    cancel: &CancellationToken,
) -> Result<(EvalMethods, Vec<EvalQuestion>), EngineError> {
    let total = cases.len() as u32;
    let mut questions = Vec::with_capacity(cases.len());
    progress.report(0, total);
    let (mut search, mut locate, mut grep) = (Score::default(), Score::default(), Score::default());
    let mut file_tokens: HashMap<String, u64> = HashMap::new();
    let mut previous: Option<String> = None;
    for (i, case) in cases.iter().enumerate() {
        if cancel.is_cancelled() {
            return Err(cancelled());
        }
        let snapshot = source.snapshot(&case.parent).await?;
        let summary = ports
            .indexer
            .index(IndexRequest {
                repo_id: plan.scratch,
                account_id: plan.account_id,
                snapshot: snapshot.clone(),
                previous_commit: previous.take(),
                progress: Arc::new(NoProgress),
            })
            .await?;
        previous = Some(case.parent.clone());
        let repo = NavRepo {
            id: plan.scratch,
            name: plan.repo_name.clone(),
            url: String::new(),
            branch: None,
            status: RepoStatus::Ready,
            commit: Some(case.parent.clone()),
            progress: IndexProgress {
                files_done: summary.files_total,
                files_total: summary.files_total,
            },
        };
        let nav = Navigator::fixed(ports.search.clone(), ports.tokens.clone(), vec![repo])
            .with_snapshot(plan.scratch, snapshot.clone());

        // search_code with the subject; once more with its content words if empty.
        let ask = |query: String| SearchRequest {
            query,
            max_results: Some(DEPTH),
            ..Default::default()
        };
        let mut answer = nav.search_code(ask(case.subject.clone())).await?;
        let mut tokens = answer.tokens.returned;
        if answer.data.hits.is_empty() {
            let words = content_words(&case.subject).join(" ");
            if !words.is_empty() {
                answer = nav.search_code(ask(words)).await?;
                tokens += answer.tokens.returned;
            }
        }
        let ranked = unique(answer.data.hits.iter().map(|h| h.hit.file.path.clone()));
        let search_code_rank = search.add(&ranked, &case.changed, tokens);

        let answer = nav
            .locate(LocateRequest {
                task: case.subject.clone(),
                ..Default::default()
            })
            .await?;
        let ranked: Vec<String> = answer.data.files.iter().map(|f| f.path.clone()).collect();
        let locate_rank = locate.add(&ranked, &case.changed, answer.tokens.returned);
        let locate_files: Vec<String> = ranked.into_iter().take(CASE_FILES).collect();

        let words = content_words(&case.subject);
        let snap = snapshot.clone();
        let ranked = blocking(move || grep_rank(snap.as_ref(), &words)).await?;
        let mut tokens = 0;
        for f in ranked.iter().take(GREP_READS) {
            tokens += match file_tokens.get(&f.blob_id) {
                Some(n) => *n,
                None => {
                    let (snap, id) = (snapshot.clone(), f.blob_id.clone());
                    let bytes = blocking(move || snap.read_blob(&id)).await?;
                    let n = ports.tokens.count(&String::from_utf8_lossy(&bytes));
                    file_tokens.insert(f.blob_id.clone(), n);
                    n
                }
            };
        }
        let ranked: Vec<String> = ranked.into_iter().map(|f| f.path).collect();
        let grep_rank = grep.add(&ranked, &case.changed, tokens);
        questions.push(EvalQuestion {
            commit: case.commit.clone(),
            subject: case.subject.clone(),
            changed: case.changed.clone(),
            search_code_rank,
            locate_rank,
            grep_rank,
            locate_files,
        });
        progress.report(i as u32 + 1, total);
    }
    let methods = EvalMethods {
        search_code: search.summary(),
        locate: locate.summary(),
        grep: grep.summary(),
    };
    Ok((methods, questions))
}

/// Unique paths in order.
fn unique(paths: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    paths.filter(|p| seen.insert(p.clone())).collect()
}

/// The matcher of the grep baseline: any of `words`, case-insensitive,
/// as whole words (`rg -i -w -e w1 -e w2`). `None` without words.
pub fn grep_matcher(words: &[String]) -> Option<regex::bytes::Regex> {
    if words.is_empty() {
        return None;
    }
    let alternatives: Vec<String> = words.iter().map(|w| regex::escape(w)).collect();
    regex::bytes::RegexBuilder::new(&format!(r"\b(?:{})\b", alternatives.join("|")))
        .case_insensitive(true)
        .build()
        .ok()
}

/// Lines of `text` with a match (`rg -c`).
pub fn matching_lines(re: &regex::bytes::Regex, text: &[u8]) -> u64 {
    let mut count = 0;
    let mut line_end = 0;
    for m in re.find_iter(text) {
        if count > 0 && m.start() < line_end {
            continue; // another match on a counted line
        }
        count += 1;
        line_end = text[m.start()..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(text.len(), |p| m.start() + p);
    }
    count
}

/// Whether the grep baseline reads a file: like `rg` in a directory, no
/// hidden paths and no binary files; like the index, nothing over
/// [`GREP_MAX_FILE_BYTES`].
fn grep_reads(f: &FileEntry) -> bool {
    f.size <= GREP_MAX_FILE_BYTES && !f.path.split('/').any(|c| c.starts_with('.'))
}

/// The snapshot's files ranked by the number of lines matching any of
/// `words` (most first, ties by path); files without a match are left out.
pub fn grep_rank(snapshot: &dyn RepoSnapshot, words: &[String]) -> Result<Vec<FileEntry>, GitError> {
    let Some(re) = grep_matcher(words) else {
        return Ok(Vec::new());
    };
    let mut ranked: Vec<(u64, FileEntry)> = Vec::new();
    for f in snapshot.files()? {
        if !grep_reads(&f) {
            continue;
        }
        let bytes = snapshot.read_blob(&f.blob_id)?;
        if bytes[..bytes.len().min(8192)].contains(&0) {
            continue; // binary
        }
        let n = matching_lines(&re, &bytes);
        if n > 0 {
            ranked.push((n, f));
        }
    }
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.path.cmp(&b.1.path)));
    Ok(ranked.into_iter().map(|(_, f)| f).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lettuce_ports::testing::git::MemorySnapshot;

    #[test]
    fn grep_counts_matching_lines_case_insensitively_as_whole_words() {
        let re = grep_matcher(&["teardown".into(), "callbacks".into()]).expect("a matcher");
        let text = b"Teardown and callbacks\nteardowns are not words\nno\nthe CALLBACKS\nx";
        assert_eq!(matching_lines(&re, text), 2, "one count per line, whole words only");
        assert_eq!(matching_lines(&re, b"teardown"), 1);
        assert_eq!(matching_lines(&re, b""), 0);
        assert!(grep_matcher(&[]).is_none());
        let snap = MemorySnapshot::from_text(
            "c1",
            &[
                ("a.py", "teardown\nteardown\n"),
                ("b.py", "teardown\n"),
                ("c.py", "nothing"),
                (".github/x.yml", "teardown\nteardown\nteardown\n"),
                ("bin.dat", "teardown\0\n"),
            ],
        );
        let ranked: Vec<String> = grep_rank(&snap, &["teardown".into()])
            .expect("ranks")
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(ranked, ["a.py", "b.py"], "hidden and binary files skipped");
    }

    #[test]
    fn scratch_ids_differ_from_the_repo_and_are_stable() {
        let repo = RepoId(uuid::Uuid::now_v7());
        assert_ne!(scratch_repo_id(repo), repo);
        assert_eq!(scratch_repo_id(repo), scratch_repo_id(repo));
    }
}
