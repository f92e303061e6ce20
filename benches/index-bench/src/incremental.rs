//! Incremental re-index: a copy of the corpus is indexed once, then N files
//! (0, 1, 10, 100) are edited and `lettuce index` runs again; exactly N
//! files must be parsed.

use crate::corpus::{Corpus, copy_tree};
use crate::ctags::stable_hash;
use crate::full::lettuce_index;
use crate::measure::parse_index_line;
use crate::report::Table;
use crate::stats::Spread;
use anyhow::Context as _;
use lettuce_index_tantivy::langs::PARSED_LANGUAGES;
use std::io::Write as _;
use std::path::Path;

/// Edit sizes measured.
pub const EDITS: &[usize] = &[0, 1, 10, 100];

/// One edit size's runs.
#[derive(Debug, Clone, Default)]
pub struct EditRuns {
    /// Files edited.
    pub n: usize,
    /// Wall seconds per run.
    pub secs: Vec<f64>,
    /// Seconds the process reported for the index run itself.
    pub inner_secs: Vec<f64>,
    /// Peak RSS per run, MiB.
    pub rss_mib: Vec<f64>,
    /// Files parsed per run.
    pub parsed: Vec<u64>,
}

/// A line that changes a file's blob without changing its meaning.
pub fn edit_line(lang: &str, marker: &str) -> String {
    match lang {
        "python" | "ruby" | "bash" => format!("\n# {marker}\n"),
        _ => format!("\n// {marker}\n"),
    }
}

/// Edits `n` files of `candidates` (path, language), starting at `offset`.
fn edit(root: &Path, candidates: &[(String, String)], offset: usize, n: usize, marker: &str) -> anyhow::Result<()> {
    for i in 0..n.min(candidates.len()) {
        let (path, lang) = &candidates[(offset + i) % candidates.len()];
        let p = root.join(path);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .with_context(|| format!("opening {}", p.display()))?;
        f.write_all(edit_line(lang, marker).as_bytes())?;
    }
    Ok(())
}

/// Runs the incremental series on a copy of `corpus` under `work`.
/// Mismatches (parsed ≠ edited) are returned as problems.
pub async fn run(
    corpus: &Corpus,
    work: &Path,
    bin: &Path,
    runs: usize,
) -> anyhow::Result<(Vec<EditRuns>, f64, Vec<String>)> {
    let tree = work.join("incr-tree");
    if tree.exists() {
        std::fs::remove_dir_all(&tree)?;
    }
    copy_tree(&corpus.root, &tree, &[])?;
    let tree = tree.canonicalize()?;
    let local = work.join("local-incr");
    if local.exists() {
        std::fs::remove_dir_all(&local)?;
    }
    std::fs::create_dir_all(&local)?;
    let cmd = || lettuce_index(bin, &tree, &local);
    let first = cmd().run_timed(work)?;
    let initial = parse_index_line(&first.stdout).context("no summary line from the initial index")?;
    eprintln!(
        "  initial index of the copy: {:.2} s, {} files",
        first.wall.as_secs_f64(),
        initial.files
    );

    // Files the index parsed, in a stable pseudo-random order.
    let repo = crate::local::open(&tree, &local).await?;
    let (search, at) = repo.code_search().context("the copy has no indexed commit")?;
    let mut candidates: Vec<(String, String)> = search
        .list_files(&at, None)
        .await?
        .into_iter()
        .filter(|f| f.skipped.is_none())
        .filter_map(|f| {
            let lang = f.lang?;
            PARSED_LANGUAGES.contains(&lang.as_str()).then_some((f.path, lang))
        })
        .collect();
    drop(repo);
    candidates.sort_by_key(|(p, _)| (stable_hash(p), p.clone()));
    anyhow::ensure!(!candidates.is_empty(), "no parsed files to edit in {}", corpus.name);

    let mut problems = Vec::new();
    let mut series: Vec<EditRuns> = EDITS
        .iter()
        .map(|&n| EditRuns {
            n: n.min(candidates.len()),
            ..EditRuns::default()
        })
        .collect();
    let mut offset = 0;
    for round in 0..runs.max(1) {
        for s in series.iter_mut() {
            edit(
                &tree,
                &candidates,
                offset,
                s.n,
                &format!("lettuce-bench edit {round}/{}", s.n),
            )?;
            offset += s.n;
            let run = cmd().run_timed(work)?;
            let line = parse_index_line(&run.stdout).context("no summary line from lettuce index")?;
            eprintln!(
                "  {} edited: {:.3} s wall ({:.3} s in-process), {} parsed",
                s.n,
                run.wall.as_secs_f64(),
                line.secs,
                line.parsed
            );
            if line.parsed != s.n as u64 || line.files != initial.files {
                problems.push(format!(
                    "{}: after editing {} files, lettuce index parsed {} of {} files (expected exactly {})",
                    corpus.name, s.n, line.parsed, line.files, s.n
                ));
            }
            s.secs.push(run.wall.as_secs_f64());
            s.inner_secs.push(line.secs);
            s.rss_mib.push(run.max_rss_kib as f64 / 1024.0);
            s.parsed.push(line.parsed);
        }
    }
    Ok((series, first.wall.as_secs_f64(), problems))
}

/// Table rows for one corpus.
pub fn rows(corpus: &Corpus, series: &[EditRuns], initial_secs: f64, table: &mut Table) {
    for s in series {
        let parsed: Vec<String> = s.parsed.iter().map(u64::to_string).collect();
        let exact = s.parsed.iter().all(|&p| p == s.n as u64);
        table.row(vec![
            corpus.name.clone(),
            s.n.to_string(),
            format!("{:.0}", Spread::of(&s.secs).median * 1e3),
            format!(
                "{:.0}–{:.0}",
                Spread::of(&s.secs).min * 1e3,
                Spread::of(&s.secs).max * 1e3
            ),
            format!("{:.0}", Spread::of(&s.inner_secs).median * 1e3),
            Spread::of(&s.rss_mib).show(0),
            format!("{} {}", parsed.join(", "), if exact { "✓" } else { "✗" }),
        ]);
    }
    table.note(format!(
        "{}: the initial full index of the copy took {:.2} s",
        corpus.name, initial_secs
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_are_comments_of_the_language() {
        assert_eq!(edit_line("python", "m"), "\n# m\n");
        assert_eq!(edit_line("rust", "m"), "\n// m\n");
    }
}
