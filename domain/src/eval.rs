//! `lettuce eval`: what the navigator is worth on a repository's own
//! history. Pure parts: which commits become questions, how an answer is
//! scored, the report and the persisted run.
//!
//! A question is a commit's subject line; it is answered at the commit's
//! first parent; an answer is right at rank *k* when its *k*-th file is one
//! the commit modified or deleted (a file that existed at the parent).
//!
//! ```
//! use lettuce_domain::eval::{Score, skipped_subject};
//! assert!(skipped_subject("Bump serde from 1.0 to 1.1"));
//! let mut s = Score::default();
//! s.add(&["a.rs".into(), "b.rs".into()], &["b.rs".into()], 40);
//! let m = s.summary();
//! assert_eq!((m.acc_at_1, m.acc_at_3), (0.0, 100.0));
//! assert!((m.mrr - 0.5).abs() < 1e-9);
//! ```

use crate::{AccountId, RepoId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Files of an answer considered (ranks beyond count as misses).
pub const DEPTH: usize = 10;
/// Files the grep baseline reads whole per question.
pub const GREP_READS: usize = 3;
/// Questions a run asks by default.
pub const DEFAULT_COMMITS: u32 = 50;
/// Most questions a run over the API may ask.
pub const MAX_COMMITS: u32 = 200;

/// Words dropped from a subject before grepping (the baseline would
/// otherwise rank by "the") and before the retry of an empty search.
const STOP: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "of", "on", "or", "the",
    "to", "with", "when", "not", "no", "fix", "add", "use", "remove", "update", "allow", "make", "support",
];

/// Whether a subject is a release, a version or dependency bump, a merge,
/// a revert or too short to be a question.
pub fn skipped_subject(subject: &str) -> bool {
    let s = subject.trim().to_ascii_lowercase();
    let starts = [
        "release",
        "bump",
        "merge",
        "prepare",
        "version",
        "back to",
        "start version",
        "revert \"",
    ];
    // `update dev dependencies`, `chore: Upgrade dependencies for v1.9.0`.
    let words: Vec<&str> = s
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let dependency_update = words
        .iter()
        .any(|w| matches!(*w, "dependencies" | "dependency" | "deps"))
        && words
            .iter()
            .any(|w| matches!(*w, "update" | "upgrade" | "bump" | "pin" | "lock" | "refresh"));
    dependency_update
        || starts.iter().any(|p| s.starts_with(p))
        || s.contains("dependabot")
        || s.contains("bump ")
        || s.contains("[release]")
        || s.starts_with('v') && s[1..].chars().next().is_some_and(|c| c.is_ascii_digit())
        || s.split_whitespace().count() < 2
}

/// The subject's content words, lower-cased, in order, without repeats,
/// stop words or words under 3 characters (what the grep baseline searches
/// for, and the retry of an empty `search_code`).
pub fn content_words(subject: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in subject.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        let w = w.to_lowercase();
        if w.chars().count() >= 3 && !STOP.contains(&w.as_str()) && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// Figures accumulated for one method over a run.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Score {
    /// Questions asked.
    pub questions: u32,
    /// Right at rank 1.
    pub at1: u32,
    /// Right within the first 3.
    pub at3: u32,
    /// Right within the first 5.
    pub at5: u32,
    /// Sum of reciprocal ranks (within [`DEPTH`]).
    pub rr: f64,
    /// Tokens an agent read.
    pub tokens: u64,
    /// Answers without any file.
    pub empty: u32,
}

impl Score {
    /// Adds one answer: `ranked` files (best first), the files the commit
    /// `changed`, and the tokens the answer cost.
    /// Returns the rank of the first changed file (1-based, within
    /// [`DEPTH`]), `None` for a miss.
    pub fn add(&mut self, ranked: &[String], changed: &[String], tokens: u64) -> Option<u32> {
        self.questions += 1;
        self.tokens += tokens;
        if ranked.is_empty() {
            self.empty += 1;
        }
        let rank = ranked.iter().take(DEPTH).position(|p| changed.contains(p))? + 1;
        self.rr += 1.0 / rank as f64;
        self.at1 += u32::from(rank <= 1);
        self.at3 += u32::from(rank <= 3);
        self.at5 += u32::from(rank <= 5);
        Some(rank as u32)
    }

    fn pct(&self, n: u32) -> f64 {
        if self.questions == 0 {
            0.0
        } else {
            100.0 * f64::from(n) / f64::from(self.questions)
        }
    }

    /// The figures a report shows.
    pub fn summary(&self) -> MethodScore {
        let q = f64::from(self.questions.max(1));
        MethodScore {
            questions: self.questions,
            acc_at_1: self.pct(self.at1),
            acc_at_3: self.pct(self.at3),
            acc_at_5: self.pct(self.at5),
            mrr: self.rr / q,
            tokens_per_question: self.tokens as f64 / q,
            empty_answers: self.empty,
        }
    }
}

/// One method's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MethodScore {
    /// Questions asked.
    pub questions: u32,
    /// Percent of questions with a changed file at rank 1.
    pub acc_at_1: f64,
    /// … within the first 3.
    pub acc_at_3: f64,
    /// … within the first 5.
    pub acc_at_5: f64,
    /// Mean reciprocal rank of the first changed file (0 when none within
    /// the first 10).
    pub mrr: f64,
    /// Tokens an agent reads per question: the answer's text, or for grep
    /// the first 3 files read whole.
    pub tokens_per_question: f64,
    /// Answers without any file.
    pub empty_answers: u32,
}

/// The three methods compared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalMethods {
    /// `search_code` with the subject (once more with its content words
    /// when the first answer is empty).
    pub search_code: MethodScore,
    /// `locate` with the subject.
    pub locate: MethodScore,
    /// Files ranked by the number of lines matching a content word
    /// (case-insensitive, whole words: `rg -c -i -w`), the first 3 read.
    pub grep: MethodScore,
}

/// `locate` against the grep baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocateVsGrep {
    /// `locate`'s Acc@3 over grep's (none when grep's is 0).
    pub acc_at_3_ratio: Option<f64>,
    /// grep's tokens per question over `locate`'s (none when `locate`
    /// read none).
    pub fewer_tokens: Option<f64>,
}

impl LocateVsGrep {
    /// The ratios of two methods' figures.
    pub fn of(locate: &MethodScore, grep: &MethodScore) -> Self {
        Self {
            acc_at_3_ratio: (grep.acc_at_3 > 0.0).then(|| locate.acc_at_3 / grep.acc_at_3),
            fewer_tokens: (locate.tokens_per_question > 0.0 && grep.questions > 0)
                .then(|| grep.tokens_per_question / locate.tokens_per_question),
        }
    }
}

/// What a run found: the same JSON as `lettuce eval --json` and
/// `GET /v1/repos/{id}/eval`'s `report`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The repository (name or directory).
    pub repo: String,
    /// The commit whose history was replayed.
    pub head: String,
    /// Questions asked.
    pub questions: u32,
    /// Figures per method.
    pub methods: EvalMethods,
    /// `locate` against grep.
    pub locate_vs_grep: LocateVsGrep,
    /// Each question with where each method ranked a changed file, newest
    /// commit first (empty in reports stored before it was recorded).
    #[serde(default)]
    pub cases: Vec<EvalQuestion>,
}

/// Files of `locate`'s answer a question records.
pub const CASE_FILES: usize = 3;

/// One question of a run and how each method answered it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalQuestion {
    /// The replayed commit.
    pub commit: String,
    /// Its subject line (the question).
    pub subject: String,
    /// Files it modified or deleted.
    pub changed: Vec<String>,
    /// Rank (1-based, within the first 10) of the first changed file in
    /// `search_code`'s answer; `None` for a miss.
    pub search_code_rank: Option<u32>,
    /// … in `locate`'s answer.
    pub locate_rank: Option<u32>,
    /// … in the grep baseline's ranking.
    pub grep_rank: Option<u32>,
    /// `locate`'s first files (at most [`CASE_FILES`]): what it pointed at
    /// instead, for a miss.
    pub locate_files: Vec<String>,
}

impl EvalQuestion {
    /// Whether `locate` missed: no changed file within its first 3.
    pub fn locate_missed(&self) -> bool {
        self.locate_rank.is_none_or(|r| r > 3)
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is replaying commits.
    Running,
    /// Finished; the report is there.
    Done,
    /// Gave up; `error` says why.
    Failed,
}

impl EvalStatus {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            EvalStatus::Queued => "queued",
            EvalStatus::Running => "running",
            EvalStatus::Done => "done",
            EvalStatus::Failed => "failed",
        }
    }

    /// Parses the stable string form.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => EvalStatus::Queued,
            "running" => EvalStatus::Running,
            "done" => EvalStatus::Done,
            "failed" => EvalStatus::Failed,
            _ => return None,
        })
    }

    /// Whether the run has not finished (a new one must wait).
    pub fn is_active(self) -> bool {
        matches!(self, EvalStatus::Queued | EvalStatus::Running)
    }
}

/// The latest eval run of a repo, as persisted.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRun {
    /// The repo.
    pub repo_id: RepoId,
    /// Its account.
    pub account_id: AccountId,
    /// Where it is.
    pub status: EvalStatus,
    /// Commits asked for.
    pub commits: u32,
    /// Questions answered so far.
    pub done: u32,
    /// Questions in the run (0 until the commits are selected).
    pub total: u32,
    /// When it was asked for.
    pub queued_at: DateTime<Utc>,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished or failed.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub error: Option<String>,
    /// The figures, once done.
    pub report: Option<EvalReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_skipped_and_words() {
        for s in [
            "Release 2.3.0",
            "Bump serde from 1.0 to 1.1",
            "build(deps): bump tokio",
            "v1.2.3",
            "Merge pull request #1 from x/y",
            "Revert \"add a thing\"",
            "typo",
        ] {
            assert!(skipped_subject(s), "{s}");
        }
        assert!(!skipped_subject("all teardown callbacks are called despite errors"));
        assert!(skipped_subject("update dev dependencies"));
        assert!(skipped_subject("chore: Upgrade dependencies for v1.9.0 (#2233)"));
        assert!(!skipped_subject(
            "no need for separate requirements-skip folder anymore"
        ));
        assert!(!skipped_subject("fix dependency injection in the app factory"));
        assert_eq!(
            content_words("Fix the teardown callbacks for app_context, the TEARDOWN"),
            ["teardown", "callbacks", "app_context"]
        );
    }

    #[test]
    fn a_question_is_a_locate_miss_beyond_rank_3_and_old_reports_still_read() {
        let q = |rank| EvalQuestion {
            locate_rank: rank,
            ..Default::default()
        };
        assert!(!q(Some(1)).locate_missed());
        assert!(!q(Some(3)).locate_missed());
        assert!(q(Some(4)).locate_missed());
        assert!(q(None).locate_missed());
        // A report stored before questions were recorded has none.
        let old = r#"{"repo":"r","head":"h","questions":1,"methods":{"search_code":{"questions":1,"acc_at_1":0.0,"acc_at_3":0.0,"acc_at_5":0.0,"mrr":0.0,"tokens_per_question":1.0,"empty_answers":0},"locate":{"questions":1,"acc_at_1":0.0,"acc_at_3":0.0,"acc_at_5":0.0,"mrr":0.0,"tokens_per_question":1.0,"empty_answers":0},"grep":{"questions":1,"acc_at_1":0.0,"acc_at_3":0.0,"acc_at_5":0.0,"mrr":0.0,"tokens_per_question":1.0,"empty_answers":0}},"locate_vs_grep":{"acc_at_3_ratio":null,"fewer_tokens":null}}"#;
        let r: EvalReport = serde_json::from_str(old).unwrap();
        assert!(r.cases.is_empty());
    }

    #[test]
    fn scores_and_ratios() {
        let mut s = Score::default();
        assert_eq!(s.add(&["a".into(), "b".into()], &["b".into()], 10), Some(2));
        assert_eq!(s.add(&[], &["b".into()], 0), None);
        assert_eq!(s.add(&["b".into()], &["b".into()], 20), Some(1));
        assert_eq!((s.questions, s.at1, s.at3, s.at5, s.empty), (3, 1, 2, 2, 1));
        assert!((s.rr - 1.5).abs() < 1e-9);
        let m = s.summary();
        assert!((m.acc_at_3 - 200.0 / 3.0).abs() < 1e-9);
        assert!((m.tokens_per_question - 10.0).abs() < 1e-9);
        // A hit beyond DEPTH is a miss.
        let mut far = Score::default();
        let ranked: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
        assert_eq!(far.add(&ranked, &["f15".into()], 0), None);
        assert_eq!(far.rr, 0.0);
        let grep = MethodScore {
            questions: 3,
            acc_at_3: 25.0,
            tokens_per_question: 1000.0,
            ..Default::default()
        };
        let r = LocateVsGrep::of(&m, &grep);
        assert!((r.acc_at_3_ratio.unwrap_or_default() - (200.0 / 3.0) / 25.0).abs() < 1e-9);
        assert_eq!(r.fewer_tokens, Some(100.0));
        assert_eq!(LocateVsGrep::of(&m, &MethodScore::default()).acc_at_3_ratio, None);
        for s in [
            EvalStatus::Queued,
            EvalStatus::Running,
            EvalStatus::Done,
            EvalStatus::Failed,
        ] {
            assert_eq!(EvalStatus::parse(s.as_str()), Some(s));
        }
    }
}
