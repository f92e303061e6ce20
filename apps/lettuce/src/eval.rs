//! `lettuce eval --repo PATH`: what Lettuce is worth on a repository's own
//! history. Replays the last N commits (merges, releases and dependency
//! bumps skipped): checks out each parent commit, indexes it
//! (incrementally), asks with the commit's subject line, and checks whether
//! a file the commit changed is among the first files of the answer —
//! for `search_code`, `locate`, and a grep baseline (files ranked by
//! `rg -c -i -w` of the subject's words, the top 3 read whole).

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use lettuce_bootstrap::local::{LocalConfig, LocalRepo};
use lettuce_engine::{LocateRequest, SearchRequest};
use lettuce_ports::index::NoProgress;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// Files the grep baseline reads per question.
const GREP_READS: usize = 3;
/// Files of an answer considered (ranks beyond count as misses).
const DEPTH: usize = 10;

/// Words the grep baseline drops (it would otherwise rank by "the").
const STOP: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "of", "on", "or", "the",
    "to", "with", "when", "not", "no", "fix", "add", "use", "remove", "update", "allow", "make", "support",
];

/// One replayed commit.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its first parent (the state asked about).
    pub parent: String,
    /// Its subject line (the question).
    pub subject: String,
    /// Files it modified or deleted (files that existed at the parent).
    pub changed: Vec<String>,
}

/// Accumulated figures of one method.
#[derive(Debug, Default, Clone)]
struct Score {
    questions: u32,
    at1: u32,
    at3: u32,
    at5: u32,
    rr: f64,
    tokens: u64,
    empty: u32,
}

impl Score {
    fn add(&mut self, ranked: &[String], changed: &[String], tokens: u64) {
        self.questions += 1;
        self.tokens += tokens;
        if ranked.is_empty() {
            self.empty += 1;
        }
        if let Some(i) = ranked.iter().take(DEPTH).position(|p| changed.contains(p)) {
            let rank = i + 1;
            self.rr += 1.0 / rank as f64;
            self.at1 += u32::from(rank <= 1);
            self.at3 += u32::from(rank <= 3);
            self.at5 += u32::from(rank <= 5);
        }
    }

    fn pct(&self, n: u32) -> f64 {
        if self.questions == 0 {
            0.0
        } else {
            100.0 * f64::from(n) / f64::from(self.questions)
        }
    }

    fn json(&self) -> serde_json::Value {
        let q = f64::from(self.questions.max(1));
        json!({
            "questions": self.questions,
            "acc_at_1": self.pct(self.at1),
            "acc_at_3": self.pct(self.at3),
            "acc_at_5": self.pct(self.at5),
            "mrr": self.rr / q,
            "tokens_per_question": self.tokens as f64 / q,
            "empty_answers": self.empty,
        })
    }
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether a subject is a release, a version or dependency bump, or a merge.
fn skipped_subject(subject: &str) -> bool {
    let s = subject.to_ascii_lowercase();
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
    starts.iter().any(|p| s.starts_with(p))
        || s.contains("dependabot")
        || s.contains("bump ")
        || s.contains("[release]")
        || s.starts_with("v") && s[1..].chars().next().is_some_and(|c| c.is_ascii_digit())
        || s.split_whitespace().count() < 2
}

/// The last `n` usable commits of `root`'s HEAD, newest first.
pub fn cases(root: &Path, n: usize) -> anyhow::Result<Vec<Case>> {
    let log = git(
        root,
        &[
            "log",
            "--no-merges",
            "--format=%H%x00%P%x00%s",
            "-n",
            &(n * 5 + 50).to_string(),
        ],
    )?;
    let mut out = Vec::new();
    for line in log.lines() {
        if out.len() == n {
            break;
        }
        let mut parts = line.split('\0');
        let (Some(commit), Some(parents), Some(subject)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Some(parent) = parents.split_whitespace().next() else {
            continue; // the root commit
        };
        if skipped_subject(subject) {
            continue;
        }
        let changed: Vec<String> = git(
            root,
            &[
                "diff-tree",
                "--no-commit-id",
                "-r",
                "--name-only",
                "--diff-filter=MD",
                commit,
            ],
        )?
        .lines()
        .map(str::to_owned)
        .collect();
        if changed.is_empty() {
            continue;
        }
        out.push(Case {
            parent: parent.to_owned(),
            subject: subject.to_owned(),
            changed,
        });
    }
    Ok(out)
}

/// The subject's content words (for the grep baseline and the retry).
fn content_words(subject: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in subject.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        let w = w.to_lowercase();
        if w.len() >= 3 && !STOP.contains(&w.as_str()) && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// Files ranked by `rg -c -i -w` of `words` (most matching lines first).
fn grep_rank(dir: &Path, words: &[String]) -> anyhow::Result<Vec<String>> {
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let mut cmd = Command::new("rg");
    cmd.current_dir(dir).args(["-c", "-i", "-w", "--no-messages"]);
    for w in words {
        cmd.arg("-e").arg(w);
    }
    let out = cmd.arg(".").output().context("running rg (install ripgrep)")?;
    let mut ranked: Vec<(u64, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (path, n) = l.rsplit_once(':')?;
            Some((n.parse().ok()?, path.trim_start_matches("./").to_owned()))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(ranked.into_iter().map(|(_, p)| p).collect())
}

/// Unique paths in order.
fn unique(paths: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in paths {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// `lettuce eval`.
pub async fn eval(config: &LocalConfig, repo: &Path, n: usize, as_json: bool) -> anyhow::Result<()> {
    // A clone's top level, or a bare repository itself.
    let root = match git(repo, &["rev-parse", "--show-toplevel"]) {
        Ok(top) if !top.trim().is_empty() => PathBuf::from(top.trim()),
        _ if git(repo, &["rev-parse", "--is-bare-repository"])?.trim() == "true" => repo.to_path_buf(),
        Err(e) => return Err(e.context(format!("{} is not a git repository", repo.display()))),
        Ok(_) => bail!("{} is not a git repository", repo.display()),
    };
    let cases = cases(&root, n)?;
    if cases.is_empty() {
        bail!(
            "{} has no usable commits (non-merge, non-release, modifying files)",
            root.display()
        );
    }
    let rg_ok = Command::new("rg").arg("--version").output().is_ok();
    if !rg_ok {
        eprintln!("note: rg (ripgrep) is not installed; the grep baseline is skipped");
    }
    // A scratch worktree at each parent in turn; its index is updated incrementally.
    let scratch = std::env::temp_dir().join(format!("lettuce-eval-{}", std::process::id()));
    git(
        &root,
        &[
            "worktree",
            "add",
            "--detach",
            "-f",
            &scratch.to_string_lossy(),
            &cases[0].parent,
        ],
    )?;
    let result = run_cases(config, &scratch, &cases, rg_ok).await;
    if let Err(e) = git(&root, &["worktree", "remove", "--force", &scratch.to_string_lossy()]) {
        eprintln!(
            "warning: could not remove the scratch worktree {}: {e}",
            scratch.display()
        );
    }
    let scores = result?;
    let head = git(&root, &["rev-parse", "HEAD"])?.trim().to_owned();
    if as_json {
        let mut methods = serde_json::Map::new();
        for (name, s) in &scores {
            methods.insert((*name).to_owned(), s.json());
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "repo": root.display().to_string(),
                "head": head,
                "questions": cases.len(),
                "methods": methods,
            }))?
        );
        return Ok(());
    }
    println!(
        "{}: {} questions (commit subjects → files changed, at the parent commit; HEAD {})",
        root.display(),
        cases.len(),
        &head[..head.len().min(12)]
    );
    println!(
        "{:<22} {:>7} {:>7} {:>7} {:>6} {:>12} {:>7}",
        "method", "Acc@1", "Acc@3", "Acc@5", "MRR", "tokens/q", "empty"
    );
    for (name, s) in &scores {
        if s.questions == 0 {
            continue;
        }
        println!(
            "{:<22} {:>6.1}% {:>6.1}% {:>6.1}% {:>6.3} {:>12.0} {:>7}",
            name,
            s.pct(s.at1),
            s.pct(s.at3),
            s.pct(s.at5),
            s.rr / f64::from(s.questions),
            s.tokens as f64 / f64::from(s.questions),
            s.empty
        );
    }
    if let (Some(l), Some(g)) = (
        scores.iter().find(|(n, _)| *n == "locate"),
        scores.iter().find(|(n, _)| n.starts_with("grep")),
    ) && g.1.questions > 0
        && g.1.at3 > 0
        && l.1.tokens > 0
    {
        println!(
            "locate vs grep: {:.2}× the first-3 rate, {:.0}× fewer tokens",
            f64::from(l.1.at3) / f64::from(g.1.at3),
            g.1.tokens as f64 / l.1.tokens as f64
        );
    }
    Ok(())
}

async fn run_cases(
    config: &LocalConfig,
    scratch: &Path,
    cases: &[Case],
    rg_ok: bool,
) -> anyhow::Result<Vec<(&'static str, Score)>> {
    let mut local = LocalRepo::open(config, scratch)?;
    let counter = local.token_counter();
    let bar = ProgressBar::new(cases.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} questions ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("eval");
    let mut search = Score::default();
    let mut locate = Score::default();
    let mut grep = Score::default();
    let mut token_cache: BTreeMap<String, u64> = BTreeMap::new();
    for case in cases {
        git(scratch, &["checkout", "-q", "--detach", "-f", &case.parent])?;
        local.index(Arc::new(NoProgress)).await?;
        let nav = local.navigator();
        // search_code with the subject; once more with its content words if empty.
        let mut tokens = 0;
        let mut a = nav
            .search_code(SearchRequest {
                query: case.subject.clone(),
                max_results: Some(DEPTH),
                ..Default::default()
            })
            .await?;
        tokens += a.tokens.returned;
        if a.data.hits.is_empty() {
            let words = content_words(&case.subject).join(" ");
            if !words.is_empty() {
                a = nav
                    .search_code(SearchRequest {
                        query: words,
                        max_results: Some(DEPTH),
                        ..Default::default()
                    })
                    .await?;
                tokens += a.tokens.returned;
            }
        }
        let ranked = unique(a.data.hits.iter().map(|h| h.hit.file.path.clone()));
        search.add(&ranked, &case.changed, tokens);
        let l = nav
            .locate(LocateRequest {
                task: case.subject.clone(),
                ..Default::default()
            })
            .await?;
        let ranked: Vec<String> = l.data.files.iter().map(|f| f.path.clone()).collect();
        locate.add(&ranked, &case.changed, l.tokens.returned);
        if rg_ok {
            let ranked = grep_rank(scratch, &content_words(&case.subject))?;
            let mut tokens = 0;
            for p in ranked.iter().take(GREP_READS) {
                let key = format!("{}:{p}", case.parent);
                let n = match token_cache.get(&key) {
                    Some(n) => *n,
                    None => {
                        let text = std::fs::read(scratch.join(p)).unwrap_or_default();
                        let n = counter.count(&String::from_utf8_lossy(&text));
                        token_cache.insert(key, n);
                        n
                    }
                };
                tokens += n;
            }
            grep.add(&ranked, &case.changed, tokens);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(vec![
        ("search_code", search),
        ("locate", locate),
        ("grep (rg -c -i -w, read 3)", grep),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_skipped_and_words() {
        assert!(skipped_subject("Release 2.3.0"));
        assert!(skipped_subject("Bump serde from 1.0 to 1.1"));
        assert!(skipped_subject("build(deps): bump tokio"));
        assert!(skipped_subject("v1.2.3"));
        assert!(!skipped_subject("all teardown callbacks are called despite errors"));
        assert_eq!(
            content_words("Fix the teardown callbacks for app_context"),
            ["teardown", "callbacks", "app_context"]
        );
    }

    #[test]
    fn scores() {
        let mut s = Score::default();
        s.add(&["a".into(), "b".into()], &["b".into()], 10);
        s.add(&[], &["b".into()], 0);
        assert_eq!((s.questions, s.at1, s.at3, s.empty), (2, 0, 1, 1));
        assert!((s.rr - 0.5).abs() < 1e-9);
    }
}
