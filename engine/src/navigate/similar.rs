//! Similar past commits: the files changed by earlier commits whose
//! subjects resemble the task. A repository's history repeats itself —
//! `pkg/brew: update tap`, `ignore/types: add typst`, `Add Kool to the list
//! of projects using cobra` — and the files those commits changed are
//! where the next such change goes (the "similar bug reports" signal of
//! information-retrieval bug localisation, e.g. BugLocator).
//!
//! Similarity is the cosine of binary TF-IDF vectors over subject words
//! (split like identifiers, a plural `s` folded), with IDF taken from the
//! history itself, so words every other subject has (`fix`, `add`, `the`)
//! weigh little without a stop-word list. A subject's scope (`doc:`,
//! `ignore/types:`) is one more term. Pure and deterministic.

use super::locate::fold;
use lettuce_domain::code::{is_word_char, split_identifier};
use lettuce_ports::git::CommitChanges;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Commits changing more files than this say nothing about where a change goes.
const MAX_FILES: usize = 30;
/// Most similar commits whose files are taken.
const TOP_COMMITS: usize = 5;
/// Least similarity for a commit to count.
const MIN_SIMILARITY: f32 = 0.25;

/// The scope a subject starts with (`ignore/types: add typst` →
/// `ignore/types`, `chore(lint): …` → `chore(lint)`): one token before a
/// colon and a space.
fn scope(subject: &str) -> Option<String> {
    let (head, _) = subject.split_once(": ")?;
    let head = head.trim();
    (!head.is_empty() && head.len() <= 40 && !head.contains(char::is_whitespace)).then(|| head.to_lowercase())
}

/// The distinct terms of a subject or task.
pub(crate) fn terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut push = |t: String| {
        if seen.insert(t.clone()) {
            out.push(t);
        }
    };
    if let Some(s) = scope(text) {
        push(format!("scope:{s}"));
    }
    for word in text.split(|c: char| !is_word_char(c)) {
        for part in split_identifier(word) {
            if part.len() >= 2 && !part.chars().all(|c| c.is_ascii_digit()) {
                push(fold(part));
            }
        }
    }
    out
}

/// What similar past commits add per path: `(share, reason)`, the share in
/// `0..=1` (1 for the best file). `history` is newest first; commits
/// touching more than [`MAX_FILES`] files are left out. Deterministic.
pub(crate) fn similar_commit_evidence(history: &[CommitChanges], task: &str) -> BTreeMap<String, (f32, String)> {
    let mut out = BTreeMap::new();
    let commits: Vec<(&CommitChanges, Vec<String>)> = history
        .iter()
        .filter(|c| !c.paths.is_empty() && c.paths.len() <= MAX_FILES)
        .map(|c| (c, terms(&c.subject)))
        .collect();
    if commits.is_empty() {
        return out;
    }
    let mut df: HashMap<&str, u32> = HashMap::new();
    for (_, ts) in &commits {
        for t in ts {
            *df.entry(t.as_str()).or_default() += 1;
        }
    }
    let n = commits.len() as f32;
    // A word no subject has weighs most: it is in the task's norm.
    let idf = |t: &str| (1.0 + n / df.get(t).copied().unwrap_or(0).max(1) as f32).ln();
    // A task with a body is compared twice — whole, and by its title (its
    // first line, what commit subjects resemble: a long body would dilute
    // every cosine below the threshold) — and the better cosine counts.
    let title = task.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let mut views: Vec<Vec<String>> = vec![terms(task)];
    if title.len() < task.trim().len() {
        views.push(terms(title));
    }
    let views: Vec<(HashSet<&str>, f32)> = views
        .iter()
        .map(|ts| {
            let norm = ts.iter().map(|t| idf(t).powi(2)).sum::<f32>().sqrt();
            (ts.iter().map(String::as_str).collect(), norm)
        })
        .filter(|(_, norm)| *norm > 0.0)
        .collect();
    if views.is_empty() {
        return out;
    }
    let mut scored: Vec<(f32, usize)> = commits
        .iter()
        .enumerate()
        .filter_map(|(i, (_, ts))| {
            let norm = ts.iter().map(|t| idf(t).powi(2)).sum::<f32>().sqrt();
            let sim = views
                .iter()
                .map(|(set, task_norm)| {
                    let shared: f32 = ts
                        .iter()
                        .filter(|t| set.contains(t.as_str()))
                        .map(|t| idf(t).powi(2))
                        .sum();
                    shared / (task_norm * norm)
                })
                .fold(0.0f32, f32::max);
            (sim >= MIN_SIMILARITY).then_some((sim, i))
        })
        .collect();
    // Most similar first; among equals, the newest (lowest index).
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.truncate(TOP_COMMITS);
    let mut per_file: BTreeMap<&str, (f32, usize, u32)> = BTreeMap::new(); // (score, best commit, commits)
    for &(sim, i) in &scored {
        let c = commits[i].0;
        // A commit touching one file points at it; one touching ten, less so at each.
        let w = sim / (c.paths.len() as f32).sqrt();
        for p in &c.paths {
            let e = per_file.entry(p.as_str()).or_insert((0.0, i, 0));
            e.0 += w;
            e.2 += 1;
        }
    }
    let best = per_file.values().map(|v| v.0).fold(0.0f32, f32::max);
    if best == 0.0 {
        return out;
    }
    let top_sim = scored.first().map_or(0.0, |s| s.0);
    for (p, (score, i, count)) in per_file {
        let c = commits[i].0;
        let short: String = c.id.chars().take(7).collect();
        let subject = shorten(&c.subject);
        let why = if count > 1 {
            format!("changed by {count} similar commits, like {short} {subject}")
        } else {
            format!("changed by a similar commit, {short} {subject}")
        };
        // The share of the best file, scaled by how similar the best commit is.
        out.insert(p.to_owned(), (top_sim.min(1.0) * score / best, why));
    }
    out
}

/// Longest subject quoted in a reason, in characters.
const SUBJECT_CHARS: usize = 72;

/// A subject cut to [`SUBJECT_CHARS`] (with `…`).
fn shorten(subject: &str) -> String {
    match subject.char_indices().nth(SUBJECT_CHARS) {
        Some((i, _)) => format!("{}…", &subject[..i]),
        None => subject.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(id: &str, subject: &str, paths: &[&str]) -> CommitChanges {
        CommitChanges {
            id: id.repeat(40 / id.len()),
            time: 0,
            subject: subject.to_owned(),
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn subject_terms_fold_split_and_keep_the_scope() {
        assert_eq!(
            terms("ignore/types: add Typst files"),
            vec!["scope:ignore/types", "ignore", "type", "add", "typst", "file"]
        );
        assert_eq!(terms("Fix parseArgs for 2 args"), vec!["fix", "parse", "arg", "for"]);
        assert_eq!(scope("chore(lint): tidy"), Some("chore(lint)".to_owned()));
        assert_eq!(scope("Fixing issue 5342: the quote"), None);
    }

    #[test]
    fn files_of_similar_subjects_rank_and_unrelated_ones_do_not() {
        let history = vec![
            commit("a", "pkg/brew: update tap", &["pkg/brew/ripgrep-bin.rb"]),
            commit(
                "b",
                "searcher: fix a performance bug",
                &["crates/searcher/src/lines.rs"],
            ),
            commit("c", "ignore/types: add typst", &["crates/ignore/src/default_types.rs"]),
            commit("d", "ignore/types: add scdoc", &["crates/ignore/src/default_types.rs"]),
            commit(
                "e",
                "printer: fix hyperlink aliases",
                &["crates/printer/src/hyperlink.rs"],
            ),
            commit("f", "pkg/brew: update tap", &["pkg/brew/ripgrep-bin.rb"]),
            commit("g", "deps: bump everything", &["Cargo.lock"]),
            commit(
                "h",
                "ignore: fix walk order",
                &["crates/ignore/src/walk.rs", "CHANGELOG.md"],
            ),
        ];
        let e = similar_commit_evidence(&history, "ignore/types: add seed7");
        let (share, why) = &e["crates/ignore/src/default_types.rs"];
        assert!(
            (*share - e.values().map(|v| v.0).fold(0.0, f32::max)).abs() < 1e-6,
            "{e:?}"
        );
        assert!(why.starts_with("changed by 2 similar commits, like ccccccc"), "{why}");
        assert!(!e.contains_key("pkg/brew/ripgrep-bin.rb"));
        let e = similar_commit_evidence(&history, "pkg/brew: update tap");
        assert!(e["pkg/brew/ripgrep-bin.rb"].0 > 0.9, "{e:?}");
        // Nothing alike: nothing added.
        assert!(similar_commit_evidence(&history, "teardown callbacks run despite errors").is_empty());
        assert!(similar_commit_evidence(&[], "pkg/brew: update tap").is_empty());
        // Deterministic.
        assert_eq!(
            similar_commit_evidence(&history, "ignore/types: add seed7"),
            similar_commit_evidence(&history, "ignore/types: add seed7")
        );
    }

    #[test]
    fn an_issue_body_does_not_drown_its_title() {
        let history = vec![
            commit("a", "ignore/types: add typst", &["crates/ignore/src/default_types.rs"]),
            commit(
                "b",
                "printer: fix hyperlink aliases",
                &["crates/printer/src/hyperlink.rs"],
            ),
            commit(
                "c",
                "searcher: fix a performance bug",
                &["crates/searcher/src/lines.rs"],
            ),
        ];
        // A realistic issue body: some seventy distinct words.
        let body = "I maintain a language server and our users keep asking why rg skips their \
                    sources unless they pass a glob by hand every single time they search. \
                    Gleam files end in a short extension that editors already recognise, \
                    the compiler ships with every major distribution now, and several popular \
                    projects on public forges contain thousands of lines written this way. \
                    Could the default list learn about it? Happy to open a pull request with \
                    tests, documentation updates, changelog entry, whatever maintainers prefer.";
        let e = similar_commit_evidence(&history, &format!("ignore/types: add gleam\n\n{body}"));
        assert!(e.contains_key("crates/ignore/src/default_types.rs"), "{e:?}");
        // The body alone points nowhere.
        assert!(similar_commit_evidence(&history, body).is_empty());
    }

    #[test]
    fn long_subjects_are_cut_in_reasons() {
        let long = format!("docs: {}", "word ".repeat(40));
        let history = vec![commit("a", &long, &["README.md"])];
        let e = similar_commit_evidence(&history, &long);
        let why = &e["README.md"].1;
        assert!(why.ends_with('…') && why.chars().count() < 120, "{why}");
    }

    #[test]
    fn big_commits_are_left_out() {
        let many: Vec<String> = (0..31).map(|i| format!("f{i}.rs")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let history = vec![commit("a", "style: reformat everything", &refs)];
        assert!(similar_commit_evidence(&history, "style: reformat everything").is_empty());
    }
}
