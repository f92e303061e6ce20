//! Warm query latency: the index opened once in this process, then symbol
//! lookups and full-text searches, each against `rg` over the same tree.

use crate::ctags::{Tag, is_callable, is_code_path, is_question_kind, stable_hash};
use crate::measure::Cmd;
use crate::report::Table;
use crate::rg;
use crate::stats::{Latency, ratio};
use lettuce_bootstrap::local::LocalRepo;
use lettuce_engine::ports::index::{CodeSearch, IndexRef, SearchMode, SearchQuery, SymbolQuery};
use lettuce_engine::{Navigator, SearchRequest, SymbolRequest};
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// One sampled name and the literal a substring search uses for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The name (symbol lookup, text search).
    pub name: String,
    /// A literal as an agent would grep it: `name(` for callables,
    /// `class Name` / `struct Name` / `enum Name` / `trait Name` for types.
    pub literal: String,
}

/// Distinct names of question kinds in code files, in a stable
/// pseudo-random order; the first `n`. Common names (`__init__`, `new`)
/// are as likely as rare ones.
pub fn lookups(tags: &[Tag], n: usize) -> Vec<Lookup> {
    let mut seen = HashSet::new();
    let mut all: Vec<&Tag> = tags
        .iter()
        .filter(|t| is_question_kind(t) && is_code_path(&t.path))
        .filter(|t| t.name.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .collect();
    all.sort_by_key(|t| (stable_hash(&t.name), t.name.clone(), t.path.clone(), t.line));
    let mut out = Vec::new();
    for t in all {
        if out.len() == n {
            break;
        }
        if !seen.insert(t.name.clone()) {
            continue;
        }
        let literal = if is_callable(t) {
            format!("{}(", t.name)
        } else {
            let keyword = match t.kind.as_str() {
                "interface" => "trait",
                k => k,
            };
            format!("{keyword} {}", t.name)
        };
        out.push(Lookup {
            name: t.name.clone(),
            literal,
        });
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    SymbolIndex,
    SymbolNav,
    TextIndex,
    TextNav,
    SubstringIndex,
    SubstringNav,
}

impl Op {
    const ALL: [Op; 6] = [
        Op::SymbolIndex,
        Op::SymbolNav,
        Op::TextIndex,
        Op::TextNav,
        Op::SubstringIndex,
        Op::SubstringNav,
    ];

    fn label(self) -> &'static str {
        match self {
            Op::SymbolIndex => "symbol lookup — index (CodeSearch::symbols)",
            Op::SymbolNav => "symbol lookup — find_symbol (MCP text)",
            Op::TextIndex => "text search — index (words mode)",
            Op::TextNav => "text search — search_code (MCP text)",
            Op::SubstringIndex => "substring search — index (matching case)",
            Op::SubstringNav => "substring search — search_code (MCP text)",
        }
    }

    /// The rg command an agent would use instead.
    fn rg(self, root: &Path, l: &Lookup) -> Cmd {
        match self {
            Op::SymbolIndex | Op::SymbolNav => rg::word(root, &l.name),
            Op::TextIndex | Op::TextNav => rg::literal(root, &l.name),
            Op::SubstringIndex | Op::SubstringNav => rg::exact(root, &l.literal),
        }
    }

    /// What the query asks for `l`.
    fn query(self, l: &Lookup) -> &str {
        match self {
            Op::SubstringIndex | Op::SubstringNav => &l.literal,
            _ => &l.name,
        }
    }

    fn rg_label(self) -> &'static str {
        match self {
            Op::SymbolIndex | Op::SymbolNav => "rg -n -w NAME",
            Op::TextIndex | Op::TextNav => "rg -n -F -i NAME",
            Op::SubstringIndex | Op::SubstringNav => "rg -n -F LITERAL",
        }
    }

    /// Runs the query; returns how many results it had.
    async fn run(self, search: &dyn CodeSearch, at: &IndexRef, nav: &Navigator, l: &Lookup) -> anyhow::Result<usize> {
        let text = |query: &str, mode| SearchQuery {
            query: query.to_owned(),
            mode,
            // As the navigator defaults: words ignore case, substrings match it.
            case_sensitive: mode != SearchMode::Text,
            path: None,
            lang: None,
            max_files: 10,
            max_lines_per_file: 5,
        };
        Ok(match self {
            Op::SymbolIndex => {
                let q = SymbolQuery {
                    name: l.name.clone(),
                    kind: None,
                    path: None,
                    lang: None,
                    limit: 10,
                };
                search.symbols(at, &q).await?.len()
            }
            Op::SymbolNav => {
                let req = SymbolRequest {
                    name: l.name.clone(),
                    ..SymbolRequest::default()
                };
                nav.find_symbol(req).await?.data.len()
            }
            Op::TextIndex => search.search(at, &text(&l.name, SearchMode::Text)).await?.files.len(),
            Op::TextNav => {
                let req = SearchRequest {
                    query: l.name.clone(),
                    ..SearchRequest::default()
                };
                nav.search_code(req).await?.data.hits.len()
            }
            Op::SubstringIndex => search
                .search(at, &text(&l.literal, SearchMode::Substring))
                .await?
                .files
                .len(),
            Op::SubstringNav => {
                let req = SearchRequest {
                    query: l.literal.clone(),
                    mode: SearchMode::Substring,
                    ..SearchRequest::default()
                };
                nav.search_code(req).await?.data.hits.len()
            }
        })
    }
}

/// One row: a Lettuce query and the rg command it replaces.
#[derive(Debug, Clone)]
pub struct OpResult {
    /// What was measured.
    pub label: &'static str,
    /// Lettuce latency.
    pub lettuce: Latency,
    /// Queries with at least one result.
    pub answered: usize,
    /// The rg command (shape).
    pub rg_label: &'static str,
    /// rg latency.
    pub rg: Latency,
    /// rg runs with at least one match.
    pub rg_answered: usize,
}

/// Everything the query step measured.
#[derive(Debug, Clone)]
pub struct Queries {
    /// Opening the index and answering the first symbol lookup, ms.
    pub first_ms: f64,
    /// One result per operation.
    pub ops: Vec<OpResult>,
}

/// Measures every operation over `lookups` (after `warmup` unmeasured ones
/// taken from the end of the list) and rg over the first `rg_samples`.
pub async fn run(
    repo: &LocalRepo,
    root: &Path,
    lookups: &[Lookup],
    warmup: usize,
    rg_samples: usize,
) -> anyhow::Result<Queries> {
    let (search, at) = repo.code_search().ok_or_else(|| anyhow::anyhow!("no indexed commit"))?;
    let nav = repo.navigator();
    let (measured, warm) = lookups.split_at(lookups.len().saturating_sub(warmup));
    let started = Instant::now();
    if let Some(first) = warm.first().or(measured.first()) {
        Op::SymbolIndex.run(search.as_ref(), &at, &nav, first).await?;
    }
    let first_ms = started.elapsed().as_secs_f64() * 1e3;
    for l in warm {
        for op in Op::ALL {
            op.run(search.as_ref(), &at, &nav, l).await?;
        }
    }
    let mut ops = Vec::new();
    for op in Op::ALL {
        let mut samples = Vec::with_capacity(measured.len());
        let mut answered = 0;
        for l in measured {
            let t = Instant::now();
            let n = op.run(search.as_ref(), &at, &nav, l).await?;
            samples.push(t.elapsed());
            answered += usize::from(n > 0);
        }
        let (rg, rg_answered) = rg_latency(op, root, &measured[..rg_samples.min(measured.len())])?;
        let mut slowest: Vec<(Duration, &Lookup)> = samples.iter().copied().zip(measured).collect();
        slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
        let slowest: Vec<String> = slowest
            .iter()
            .take(3)
            .map(|(d, l)| format!("{:?} {:.1} ms", op.query(l), d.as_secs_f64() * 1e3))
            .collect();
        eprintln!(
            "  {}: p50 {:.2} ms, p95 {:.2} ms; {}: p50 {:.1} ms; slowest: {}",
            op.label(),
            Latency::of(&samples).p50,
            Latency::of(&samples).p95,
            op.rg_label(),
            rg.p50,
            slowest.join(", ")
        );
        ops.push(OpResult {
            label: op.label(),
            lettuce: Latency::of(&samples),
            answered,
            rg_label: op.rg_label(),
            rg,
            rg_answered,
        });
    }
    Ok(Queries { first_ms, ops })
}

fn rg_latency(op: Op, root: &Path, sample: &[Lookup]) -> anyhow::Result<(Latency, usize)> {
    let mut samples: Vec<Duration> = Vec::with_capacity(sample.len());
    let mut answered = 0;
    if let Some(l) = sample.first() {
        op.rg(root, l).run()?; // warm the page cache
    }
    for l in sample {
        let r = op.rg(root, l).run()?;
        samples.push(r.wall);
        answered += usize::from(!r.stdout.is_empty());
    }
    Ok((Latency::of(&samples), answered))
}

/// The rg full-scan time of one word query (the per-query cost of not
/// having an index), ms.
pub fn rg_scan_ms(q: &Queries) -> Option<f64> {
    q.ops.iter().find(|o| o.rg_label == "rg -n -w NAME").map(|o| o.rg.p50)
}

/// Table rows for one corpus.
pub fn rows(corpus: &str, q: &Queries, table: &mut Table) {
    let f = |x: f64| format!("{x:.2}");
    for o in &q.ops {
        table.row(vec![
            corpus.to_owned(),
            o.label.to_owned(),
            format!("{} / {} / {}", f(o.lettuce.p50), f(o.lettuce.p95), f(o.lettuce.p99)),
            format!("{}/{}", o.answered, o.lettuce.n),
            o.rg_label.to_owned(),
            format!("{:.1} / {:.1} / {:.1}", o.rg.p50, o.rg.p95, o.rg.p99),
            format!("{}/{}", o.rg_answered, o.rg.n),
            format!("{:.0}×", ratio(o.rg.p50, o.lettuce.p50)),
            format!("{:.0}×", ratio(o.rg.p95, o.lettuce.p95)),
        ]);
    }
    table.note(format!(
        "{corpus}: opening the index and the first symbol lookup took {:.1} ms",
        q.first_ms
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctags::parse_tags;

    #[test]
    fn lookups_are_distinct_names_with_grep_literals() {
        let tags = parse_tags(
            "run\ta.py\t1;\"\tfunction\tlanguage:Python\n\
run\tb.py\t1;\"\tmember\tlanguage:Python\n\
Loop\tc.py\t1;\"\tclass\tlanguage:Python\n\
Loop\tc.rs\t1;\"\tinterface\tlanguage:Rust\n\
X\td.md\t1;\"\tchapter\tlanguage:Markdown\n",
            "",
        );
        let l = lookups(&tags, 10);
        assert_eq!(l.len(), 2);
        let run = l.iter().find(|l| l.name == "run").unwrap();
        assert_eq!(run.literal, "run(");
        let lp = l.iter().find(|l| l.name == "Loop").unwrap();
        assert!(lp.literal == "class Loop" || lp.literal == "trait Loop");
        assert_eq!(lookups(&tags, 1).len(), 1);
    }
}
