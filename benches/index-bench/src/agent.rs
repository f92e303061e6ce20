//! The agent-task benchmark: questions with ctags ground truth, answered by
//! Lettuce's navigation tools (the text an MCP client receives) and by a
//! naive agent that greps (`rg -n -w NAME`) and reads the three files with
//! the most matches whole. Tokens are counted with the same o200k_base
//! counter for both.

use crate::ctags::{Question, Tag, is_callable, is_code_path};
use crate::report::Table;
use crate::rg;
use crate::stats::{percent, ratio};
use lettuce_bootstrap::local::LocalRepo;
use lettuce_engine::domain::code::OutlineNode;
use lettuce_engine::ports::tokens::TokenCounter;
use lettuce_engine::{FileRequest, ReadSymbolRequest, ReferencesRequest, SymbolRequest};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Files the naive agent reads whole.
pub const NAIVE_FILES: usize = 3;

/// Reads corpus files once and counts their tokens.
struct Files<'a> {
    root: &'a Path,
    counter: &'a dyn TokenCounter,
    text: HashMap<String, String>,
    tokens: HashMap<String, u64>,
}

impl<'a> Files<'a> {
    fn new(root: &'a Path, counter: &'a dyn TokenCounter) -> Self {
        Self {
            root,
            counter,
            text: HashMap::new(),
            tokens: HashMap::new(),
        }
    }

    fn text(&mut self, path: &str) -> &str {
        let root = self.root;
        self.text.entry(path.to_owned()).or_insert_with(|| {
            std::fs::read(root.join(path))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        })
    }

    fn line(&mut self, path: &str, line: u32) -> String {
        self.text(path)
            .lines()
            .nth(line.saturating_sub(1) as usize)
            .unwrap_or_default()
            .to_owned()
    }

    fn tokens(&mut self, path: &str) -> u64 {
        if let Some(n) = self.tokens.get(path) {
            return *n;
        }
        let counter = self.counter;
        let n = counter.count(self.text(path));
        self.tokens.insert(path.to_owned(), n);
        n
    }
}

/// What the naive agent spends on one name: rg's output plus the top files.
struct Naive {
    tokens: u64,
    hits: Vec<rg::Hit>,
    top: Vec<String>,
}

fn naive(root: &Path, files: &mut Files<'_>, name: &str) -> anyhow::Result<Naive> {
    let out = rg::word(root, name).run()?.stdout;
    let hits = rg::parse_hits(&out);
    let top = rg::top_files(&hits, NAIVE_FILES);
    let mut tokens = files.counter.count(&out);
    for p in &top {
        tokens += files.tokens(p);
    }
    Ok(Naive { tokens, hits, top })
}

/// Whether `needle` occurs in `hay` as a whole word.
pub fn contains_word(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    hay.match_indices(needle)
        .any(|(i, _)| !is_word(hay[..i].chars().next_back()) && !is_word(hay[i + needle.len()..].chars().next()))
}

/// `(start, end, label)` of every entry line (`  12-40 def f(x):`) of a
/// `file_outline` answer.
pub fn outline_entries(text: &str) -> Vec<(u32, u32, &str)> {
    text.lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| {
            let (range, label) = l.trim_start().split_once(' ')?;
            let (a, b) = range.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?, label))
        })
        .collect()
}

/// Token totals and per-question ratios of one task.
#[derive(Debug, Default)]
struct Tokens {
    lettuce: Vec<u64>,
    naive: Vec<u64>,
}

impl Tokens {
    fn push(&mut self, lettuce: u64, naive: u64) {
        self.lettuce.push(lettuce);
        self.naive.push(naive);
    }

    fn total_ratio(&self) -> f64 {
        ratio(
            self.naive.iter().sum::<u64>() as f64,
            self.lettuce.iter().sum::<u64>() as f64,
        )
    }

    fn median_ratio(&self) -> f64 {
        let mut r: Vec<f64> = self
            .lettuce
            .iter()
            .zip(&self.naive)
            .map(|(l, n)| ratio(*n as f64, *l as f64))
            .collect();
        r.sort_by(f64::total_cmp);
        r.get(r.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
    }

    fn median(v: &[u64]) -> u64 {
        let mut v = v.to_vec();
        v.sort_unstable();
        v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0)
    }

    fn cells(&self) -> Vec<String> {
        vec![
            format!("{} ({})", Self::median(&self.lettuce), self.lettuce.iter().sum::<u64>()),
            format!("{} ({})", Self::median(&self.naive), self.naive.iter().sum::<u64>()),
            format!("{:.1}×", self.total_ratio()),
            format!("{:.1}×", self.median_ratio()),
        ]
    }
}

/// Results of the three tasks for one corpus.
#[derive(Debug, Default)]
pub struct AgentRows {
    /// Table rows.
    pub rows: Vec<Vec<String>>,
    /// Examples of misses.
    pub failures: Vec<String>,
    /// "where is X defined" success rate and token ratio (for the verdicts).
    pub define: (f64, f64),
}

/// Runs the tasks over one corpus.
pub async fn run(
    corpus: &str,
    repo: &LocalRepo,
    root: &Path,
    counter: &dyn TokenCounter,
    questions: &[Question],
    modules: &[(String, Vec<Tag>)],
    show: usize,
) -> anyhow::Result<AgentRows> {
    let nav = repo.navigator();
    let (search, at) = repo.code_search().ok_or_else(|| anyhow::anyhow!("no indexed commit"))?;
    let mut files = Files::new(root, counter);
    let mut out = AgentRows::default();

    // ── where is X defined — show me its code ───────────────────────────
    let mut tokens = Tokens::default();
    let (mut ok, mut naive_ok) = (0, 0);
    let mut reasons: HashMap<&'static str, usize> = HashMap::new();
    for q in questions {
        let t = &q.tag;
        let def_line = files.line(&t.path, t.line);
        let mut spent = 0;
        let verdict: Result<(), (&'static str, String)> = async {
            let found = nav
                .find_symbol(SymbolRequest {
                    name: t.name.clone(),
                    ..SymbolRequest::default()
                })
                .await
                .map_err(|e| ("find_symbol failed", e.to_string()))?;
            spent += counter.count(&found.text);
            let Some(first) = found.data.first() else {
                return Err(("no definition found", String::new()));
            };
            let s = &first.hit.symbol;
            let read = nav
                .read_symbol(ReadSymbolRequest {
                    name: t.name.clone(),
                    path: Some(first.hit.file.path.clone()),
                    ..ReadSymbolRequest::default()
                })
                .await
                .map_err(|e| ("read_symbol failed", e.to_string()))?;
            spent += counter.count(&read.text);
            let got = format!(
                "first hit {}:{}-{} {} {}",
                first.hit.file.path, s.start_line, s.end_line, s.kind, s.name
            );
            if first.hit.file.path != t.path {
                return Err(("first hit in another file", got));
            }
            if !(s.start_line <= t.line && t.line <= s.end_line) {
                return Err(("ctags line outside the hit's range", got));
            }
            if !read.text.contains(def_line.trim()) {
                return Err(("read_symbol lacks the definition line", got));
            }
            Ok(())
        }
        .await;
        let n = naive(root, &mut files, &t.name)?;
        naive_ok += usize::from(n.top.contains(&t.path));
        tokens.push(spent, n.tokens);
        match verdict {
            Ok(()) => ok += 1,
            Err((reason, detail)) => {
                let count = reasons.entry(reason).or_default();
                *count += 1;
                if *count <= show {
                    let skipped = match search.outline(&at, &t.path).await {
                        Ok(o) => o.file.skipped.map(|r| format!(" (Lettuce skipped the file: {r})")),
                        Err(e) => Some(format!(" (file not in the index: {e})")),
                    }
                    .unwrap_or_default();
                    out.failures.push(format!(
                        "{corpus} define {} ({} at {}:{}{skipped}): {reason}; {detail}",
                        t.name, t.kind, t.path, t.line
                    ));
                }
            }
        }
    }
    let n = questions.len();
    let mut row = vec![
        corpus.to_owned(),
        "where is X defined — show me its code (find_symbol + read_symbol)".into(),
        n.to_string(),
        format!("{} right file, line and code", percent(ok, n)),
    ];
    row.extend(tokens.cells());
    row.push(format!("{} (ctags' file among the 3 read)", percent(naive_ok, n)));
    out.rows.push(row);
    out.define = (ratio(ok as f64, n as f64), tokens.total_ratio());
    let mut reasons: Vec<_> = reasons.into_iter().collect();
    reasons.sort();
    for (r, c) in reasons {
        out.failures.push(format!("{corpus} define: {c} × {r}"));
    }

    // ── who calls Y ─────────────────────────────────────────────────────
    let mut tokens = Tokens::default();
    let (mut rg_lines, mut covered, mut complete, mut complete_lines, mut complete_covered) = (0, 0, 0, 0, 0);
    let mut shown = 0;
    let callables: Vec<&Question> = questions.iter().filter(|q| is_callable(&q.tag)).collect();
    for q in &callables {
        let t = &q.tag;
        let a = nav
            .find_references(ReferencesRequest {
                name: t.name.clone(),
                ..ReferencesRequest::default()
            })
            .await?;
        let got: HashSet<(String, u32)> = a
            .data
            .references
            .iter()
            .map(|r| (r.reference.file.path.clone(), r.reference.line))
            .collect();
        let n = naive(root, &mut files, &t.name)?;
        let code: Vec<&rg::Hit> = n.hits.iter().filter(|h| is_code_path(&h.path)).collect();
        let hit = code.iter().filter(|h| got.contains(&(h.path.clone(), h.line))).count();
        rg_lines += code.len();
        covered += hit;
        let whole = a.shortened.is_none() && !a.data.more;
        if whole {
            complete += 1;
            complete_lines += code.len();
            complete_covered += hit;
            if hit < code.len() && shown < show {
                shown += 1;
                let missed: Vec<String> = code
                    .iter()
                    .filter(|h| !got.contains(&(h.path.clone(), h.line)))
                    .take(3)
                    .map(|h| format!("{}:{} `{}`", h.path, h.line, files.line(&h.path, h.line).trim()))
                    .collect();
                out.failures.push(format!(
                    "{corpus} callers {}: {}/{} rg lines covered; missed e.g. {}",
                    t.name,
                    hit,
                    code.len(),
                    missed.join(" · ")
                ));
            }
        }
        tokens.push(counter.count(&a.text), n.tokens);
    }
    let mut row = vec![
        corpus.to_owned(),
        "who calls Y (find_references)".into(),
        callables.len().to_string(),
        format!(
            "{} of rg's code lines covered; {} in the {} complete answers",
            percent(covered, rg_lines),
            percent(complete_covered, complete_lines),
            complete
        ),
    ];
    row.extend(tokens.cells());
    row.push("-".into());
    out.rows.push(row);

    // ── what is in module Z ─────────────────────────────────────────────
    let mut tokens = Tokens::default();
    let (mut defs, mut in_text, mut in_data) = (0, 0, 0);
    let (mut whole_answers, mut whole_defs, mut whole_in_text) = (0, 0, 0);
    let mut shown = 0;
    for (path, tags) in modules {
        let a = nav
            .file_outline(FileRequest {
                path: path.clone(),
                ..FileRequest::default()
            })
            .await?;
        let entries = outline_entries(&a.text);
        let mut flat = Vec::new();
        flatten(&a.data.symbols, &mut flat);
        let mut missed = Vec::new();
        let whole = a.shortened.is_none();
        whole_answers += usize::from(whole);
        for t in tags {
            defs += 1;
            let seen = entries
                .iter()
                .any(|(s, e, label)| *s <= t.line && t.line <= *e && contains_word(label, &t.name));
            in_text += usize::from(seen);
            if whole {
                whole_defs += 1;
                whole_in_text += usize::from(seen);
            }
            let known = flat
                .iter()
                .any(|(name, s, e)| name == &t.name && *s <= t.line && t.line <= *e);
            in_data += usize::from(known);
            if !known {
                missed.push(format!("{} {} line {}", t.kind, t.name, t.line));
            }
        }
        if !missed.is_empty() && shown < show {
            shown += 1;
            out.failures.push(format!(
                "{corpus} outline {path}: not in the outline: {}",
                missed.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        tokens.push(counter.count(&a.text), files.tokens(path));
    }
    let mut row = vec![
        corpus.to_owned(),
        "what is in module Z (file_outline vs reading the file)".into(),
        modules.len().to_string(),
        format!(
            "{} of ctags' definitions in the answer's text ({} in the {} answers not shortened by the budget; {} in the outline data)",
            percent(in_text, defs),
            percent(whole_in_text, whole_defs),
            whole_answers,
            percent(in_data, defs)
        ),
    ];
    row.extend(tokens.cells());
    row.push("-".into());
    out.rows.push(row);
    Ok(out)
}

fn flatten(nodes: &[OutlineNode], out: &mut Vec<(String, u32, u32)>) {
    for n in nodes {
        out.push((n.symbol.name.clone(), n.symbol.start_line, n.symbol.end_line));
        flatten(&n.children, out);
    }
}

/// The agent table.
pub fn table() -> Table {
    Table::new(
        "Agent tasks: Lettuce navigation vs grep + read the top 3 files (o200k_base tokens)",
        &[
            "corpus",
            "task",
            "questions",
            "Lettuce result",
            "Lettuce tokens: median (total)",
            "naive tokens: median (total)",
            "naive/Lettuce (totals)",
            "naive/Lettuce (median of per-question ratios)",
            "naive result",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words() {
        assert!(contains_word("def parse(x):", "parse"));
        assert!(!contains_word("def parse_url(x):", "parse"));
        assert!(contains_word("parse_url parse", "parse"));
        assert!(!contains_word("reparse", "parse"));
        assert!(!contains_word("x", ""));
    }

    #[test]
    fn outline_lines() {
        let text = "[cpy @ 0123]\nnet/url.py (python, 40 lines)\n  3-20 class Url:\n    5-9 def parse(self):\n[tokens: 30 returned, 400 in the files, 370 saved]\n";
        assert_eq!(
            outline_entries(text),
            [(3, 20, "class Url:"), (5, 9, "def parse(self):")]
        );
    }
}
