//! `lettuce eval --repo PATH`: what Lettuce is worth on a repository's own
//! history. The engine's eval ([`lettuce_engine::run_eval`], the same code
//! as `POST /v1/repos/{id}/eval`) replays the last N commits of the clone's
//! `HEAD` (merges, releases and dependency bumps skipped), read in place
//! from the repository (the clone is not touched): each parent commit is
//! indexed into a scratch index next to the directory's local index, asked
//! with the commit's subject line, and scored on whether a file the commit
//! changed is among the first files of the answer — for `search_code`,
//! `locate`, and a grep baseline (files ranked by `rg -c -i -w` of the
//! subject's words, the top 3 read whole).

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use lettuce_bootstrap::local::{LocalConfig, LocalGit, LocalRepo};
use lettuce_domain::AccountId;
use lettuce_domain::eval::{EvalQuestion, EvalReport, MethodScore};
use lettuce_engine::{EvalPlan, EvalSource, run_eval, scratch_repo_id};
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// What `lettuce eval` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The figures as a table.
    Table,
    /// The table, then the questions `locate` missed.
    TableAndMisses,
    /// The whole report (with every question) as JSON.
    Json,
}

impl Output {
    /// From the command's flags.
    pub fn of(json: bool, misses: bool) -> Self {
        match (json, misses) {
            (true, _) => Self::Json,
            (false, true) => Self::TableAndMisses,
            (false, false) => Self::Table,
        }
    }
}

/// `lettuce eval`.
pub async fn eval(config: &LocalConfig, repo: &Path, n: usize, output: Output) -> anyhow::Result<()> {
    let path = repo.to_path_buf();
    let git = tokio::task::spawn_blocking(move || LocalGit::open(&path))
        .await
        .context("opening the repository")??;
    let local = LocalRepo::open(config, &git.root)?;
    let head = git.snapshot(&git.head).await?;
    let plan = EvalPlan {
        repo_name: git.root.display().to_string(),
        account_id: AccountId(uuid::Uuid::nil()),
        scratch: scratch_repo_id(local.repo.id),
        commits: n,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} questions ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("selecting commits");
    let progress = |done: u32, total: u32| {
        if bar.length() != Some(u64::from(total)) {
            bar.set_length(u64::from(total));
            bar.set_message("eval");
        }
        bar.set_position(u64::from(done));
    };
    // Ctrl-C stops the run; the scratch index is removed on the way out.
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let result = run_eval(&local.eval_ports(), &git, head, &plan, &progress, &cancel).await;
    watcher.abort();
    bar.finish_and_clear();
    let report = result.with_context(|| format!("eval of {}", git.root.display()))?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Output::Table => print!("{}", table(&report)),
        Output::TableAndMisses => print!("{}\n{}", table(&report), misses(&report)),
    }
    Ok(())
}

/// The questions `locate` missed, newest first: subject, the files the
/// commit changed and the files `locate` named instead.
fn misses(r: &EvalReport) -> String {
    let missed: Vec<&EvalQuestion> = r.cases.iter().filter(|q| q.locate_missed()).collect();
    let mut out = format!(
        "locate missed {} of {} questions (no changed file in its first 3):\n",
        missed.len(),
        r.cases.len()
    );
    let list = |paths: &[String]| {
        let shown: Vec<&str> = paths.iter().take(3).map(String::as_str).collect();
        match paths.len().saturating_sub(3) {
            0 => shown.join(", "),
            more => format!("{} (+{more} more)", shown.join(", ")),
        }
    };
    let rank = |r: Option<u32>| r.map_or_else(|| "-".to_owned(), |r| r.to_string());
    for q in missed {
        out.push_str(&format!("\n{}  {}\n", &q.commit[..q.commit.len().min(12)], q.subject));
        out.push_str(&format!("    changed: {}\n", list(&q.changed)));
        let named = if q.locate_files.is_empty() {
            "(no file)".to_owned()
        } else {
            list(&q.locate_files)
        };
        out.push_str(&format!("    locate:  {named}\n"));
        out.push_str(&format!(
            "    rank of a changed file: locate {}, search_code {}, grep {}\n",
            rank(q.locate_rank),
            rank(q.search_code_rank),
            rank(q.grep_rank)
        ));
    }
    out
}

/// The report as a table.
fn table(r: &EvalReport) -> String {
    let mut out = format!(
        "{}: {} questions (commit subjects → files changed, at the parent commit; HEAD {})\n",
        r.repo,
        r.questions,
        &r.head[..r.head.len().min(12)]
    );
    out.push_str(&format!(
        "{:<24} {:>7} {:>7} {:>7} {:>6} {:>12} {:>7}\n",
        "method", "Acc@1", "Acc@3", "Acc@5", "MRR", "tokens/q", "empty"
    ));
    let rows: [(&str, &MethodScore); 3] = [
        ("search_code", &r.methods.search_code),
        ("locate", &r.methods.locate),
        ("grep (-c -i -w, read 3)", &r.methods.grep),
    ];
    for (name, s) in rows {
        if s.questions == 0 {
            continue;
        }
        out.push_str(&format!(
            "{:<24} {:>6.1}% {:>6.1}% {:>6.1}% {:>6.3} {:>12.0} {:>7}\n",
            name, s.acc_at_1, s.acc_at_3, s.acc_at_5, s.mrr, s.tokens_per_question, s.empty_answers
        ));
    }
    if let (Some(ratio), Some(fewer)) = (r.locate_vs_grep.acc_at_3_ratio, r.locate_vs_grep.fewer_tokens) {
        out.push_str(&format!(
            "locate vs grep: {ratio:.2}× the first-3 rate, {fewer:.0}× fewer tokens\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lettuce_domain::eval::{LocateVsGrep, Score, content_words, skipped_subject};

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

    #[test]
    fn misses_list_only_what_locate_missed() {
        let q = |commit: &str, subject: &str, locate_rank| EvalQuestion {
            commit: commit.into(),
            subject: subject.into(),
            changed: vec!["src/a.py".into(), "src/b.py".into(), "c".into(), "d".into()],
            search_code_rank: Some(7),
            locate_rank,
            grep_rank: None,
            locate_files: vec!["x.py".into(), "y.py".into()],
        };
        let r = EvalReport {
            cases: vec![
                q("0123456789abcdef", "teardown callbacks despite errors", None),
                q("fedcba9876543210", "found at rank two", Some(2)),
                q("aaaaaaaaaaaaaaaa", "found at rank four", Some(4)),
            ],
            ..Default::default()
        };
        let m = misses(&r);
        assert!(m.starts_with("locate missed 2 of 3 questions"), "{m}");
        assert!(m.contains("0123456789ab  teardown callbacks despite errors"), "{m}");
        assert!(m.contains("changed: src/a.py, src/b.py, c (+1 more)"), "{m}");
        assert!(m.contains("locate:  x.py, y.py"), "{m}");
        assert!(m.contains("locate -, search_code 7, grep -"), "{m}");
        assert!(m.contains("locate 4, search_code 7"), "{m}");
        assert!(!m.contains("rank two"), "{m}");
        assert_eq!(Output::of(false, true), Output::TableAndMisses);
        assert_eq!(Output::of(true, false), Output::Json);
    }

    #[test]
    fn table_shows_every_method_and_the_ratio() {
        let mut r = EvalReport {
            repo: "/src/shop".into(),
            head: "0123456789abcdef".into(),
            questions: 2,
            ..Default::default()
        };
        let mut locate = Score::default();
        locate.add(&["a".into()], &["a".into()], 100);
        locate.add(&["b".into()], &["a".into()], 100);
        let mut grep = Score::default();
        grep.add(&["x".into(), "y".into(), "z".into(), "a".into()], &["a".into()], 5000);
        grep.add(&["a".into()], &["a".into()], 5000);
        r.methods.search_code = locate.summary();
        r.methods.locate = locate.summary();
        r.methods.grep = grep.summary();
        r.locate_vs_grep = LocateVsGrep::of(&r.methods.locate, &r.methods.grep);
        let t = table(&r);
        assert!(t.contains("HEAD 0123456789ab"), "{t}");
        assert!(
            t.lines().any(|l| l.starts_with("locate ") && l.contains("  50.0%")),
            "{t}"
        );
        assert!(t.lines().any(|l| l.starts_with("grep (-c -i -w, read 3)")), "{t}");
        assert!(
            t.contains("locate vs grep: 1.00× the first-3 rate, 50× fewer tokens"),
            "{t}"
        );
    }
}
