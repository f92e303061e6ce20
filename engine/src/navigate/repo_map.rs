//! The repo map: the most important definitions of a repository, ranked
//! the way aider ranks them, fitted to a token budget.
//!
//! Files are nodes; "file A uses a name that file B defines" is an edge
//! A → B weighted by √(uses) — ×10 for names the caller focuses on, ×0.1
//! for `_private` names and for names defined in many files. PageRank
//! (personalised towards focused files) ranks files; each file's rank flows
//! along its edges to the definitions they point at.

use lettuce_domain::rank::{PageRankParams, pagerank};
use lettuce_ports::index::SymbolGraph;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Names defined in more files than this carry no signal (`__init__`, `new`).
const MAX_DEFINERS: usize = 40;

/// Methods that are trait/protocol plumbing repeated per type (`fmt`,
/// `next`, `len`, `new`, `__repr__`, `String`, …): folded into their type
/// in the map instead of ranked on their own.
const PLUMBING: &[&str] = &[
    "fmt",
    "next",
    "next_back",
    "size_hint",
    "len",
    "is_empty",
    "new",
    "default",
    "from",
    "into",
    "try_from",
    "try_into",
    "eq",
    "ne",
    "partial_cmp",
    "cmp",
    "hash",
    "clone",
    "clone_from",
    "drop",
    "deref",
    "deref_mut",
    "as_ref",
    "as_mut",
    "borrow",
    "borrow_mut",
    "from_str",
    "to_string",
    "into_iter",
    "from_iter",
    "extend",
    "index",
    "index_mut",
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "not",
    "poll",
    "poll_next",
    "serialize",
    "deserialize",
    "description",
    "source",
    "cause",
    "write_str",
    "write",
    "flush",
    "read",
    "__init__",
    "__repr__",
    "__str__",
    "__eq__",
    "__ne__",
    "__hash__",
    "__len__",
    "__iter__",
    "__next__",
    "__contains__",
    "__getitem__",
    "__setitem__",
    "__enter__",
    "__exit__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__bool__",
    "String",
    "Error",
    "Len",
    "Less",
    "Swap",
    "toString",
    "equals",
    "hashCode",
    "compareTo",
];

/// Whether a definition is a plumbing method of a type.
pub(crate) fn is_plumbing(d: &lettuce_domain::code::Symbol) -> bool {
    d.container.is_some() && matches!(d.kind.as_str(), "method" | "function") && PLUMBING.contains(&d.name.as_str())
}

/// How much a plumbing method keeps of its rank (it folds into its type).
const PLUMBING_WEIGHT: f64 = 0.02;

/// A definition and its rank.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RankedDef {
    /// Index into `graph.files`.
    pub file: usize,
    /// Index into that file's `definitions`.
    pub def: usize,
    pub rank: f64,
}

/// Definitions of a graph, best first.
#[derive(Debug)]
pub(crate) struct Ranked {
    pub graph: Arc<SymbolGraph>,
    pub defs: Vec<RankedDef>,
}

/// What the caller wants the map to centre on: paths (or path substrings)
/// and identifiers.
#[derive(Debug, Default, Clone)]
pub(crate) struct Focus {
    pub paths: Vec<String>,
    pub names: HashSet<String>,
}

impl Focus {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.names.is_empty()
    }
}

pub(crate) fn rank(graph: Arc<SymbolGraph>, focus: &Focus) -> Ranked {
    let files = &graph.files;
    let n = files.len();
    let mut definers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        let mut seen = HashSet::new();
        for d in &f.definitions {
            if seen.insert(d.name.as_str()) {
                definers.entry(d.name.as_str()).or_default().push(i);
            }
        }
    }
    // (from, to, weight, name)
    let mut edges: Vec<(u32, u32, f64, &str)> = Vec::new();
    for (r, f) in files.iter().enumerate() {
        for (name, uses) in &f.references {
            let Some(ds) = definers.get(name.as_str()) else {
                continue;
            };
            if ds.len() > MAX_DEFINERS {
                continue;
            }
            let mut mul = 1.0;
            if focus.names.contains(name) {
                mul *= 10.0;
            }
            if name.starts_with('_') {
                mul *= 0.1;
            }
            if ds.len() > 5 {
                mul *= 0.1;
            }
            let w = mul * f64::from(*uses).sqrt();
            for &d in ds {
                if d != r {
                    edges.push((r as u32, d as u32, w, name.as_str()));
                }
            }
        }
    }
    let personal: Option<Vec<f64>> = (!focus.is_empty()).then(|| {
        files
            .iter()
            .map(|f| {
                let by_path = focus.paths.iter().any(|p| f.file.path.contains(p.as_str()));
                let by_name = f.definitions.iter().any(|d| focus.names.contains(&d.name));
                if by_path || by_name { 1.0 } else { 0.0 }
            })
            .collect()
    });
    let plain: Vec<(u32, u32, f64)> = edges.iter().map(|&(a, b, w, _)| (a, b, w)).collect();
    let file_rank = pagerank(n, &plain, personal.as_deref(), PageRankParams::default());
    let mut out_weight = vec![0.0f64; n];
    for &(a, _, w, _) in &edges {
        out_weight[a as usize] += w;
    }
    let mut def_rank: HashMap<(usize, &str), f64> = HashMap::new();
    for &(a, b, w, name) in &edges {
        *def_rank.entry((b as usize, name)).or_default() += file_rank[a as usize] * w / out_weight[a as usize];
    }
    let mut defs = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let base = file_rank[i] * 0.01 / f.definitions.len().max(1) as f64;
        for (j, d) in f.definitions.iter().enumerate() {
            let mut r = def_rank.get(&(i, d.name.as_str())).copied().unwrap_or(0.0) + base;
            if focus.names.contains(&d.name) {
                r += 1.0;
            } else if is_plumbing(d) {
                r *= PLUMBING_WEIGHT;
            }
            defs.push(RankedDef {
                file: i,
                def: j,
                rank: r,
            });
        }
    }
    defs.sort_by(|a, b| {
        b.rank
            .total_cmp(&a.rank)
            .then_with(|| files[a.file].file.path.cmp(&files[b.file].file.path))
            .then(a.def.cmp(&b.def))
    });
    Ranked { graph, defs }
}

/// Renders the `k` best definitions grouped by file (files in path order,
/// definitions in line order), indented by nesting. Also returns the
/// indexes of the files shown.
pub(crate) fn render(ranked: &Ranked, k: usize) -> (String, Vec<usize>) {
    let mut chosen: Vec<RankedDef> = ranked.defs.iter().take(k).copied().collect();
    chosen.sort_by(|a, b| {
        let (fa, fb) = (&ranked.graph.files[a.file], &ranked.graph.files[b.file]);
        fa.file
            .path
            .cmp(&fb.file.path)
            .then(fa.definitions[a.def].start_line.cmp(&fb.definitions[b.def].start_line))
    });
    let mut out = String::new();
    let mut shown = Vec::new();
    for d in chosen {
        let f = &ranked.graph.files[d.file];
        if shown.last() != Some(&d.file) {
            out.push_str(&f.file.path);
            out.push_str(":\n");
            shown.push(d.file);
        }
        let s = &f.definitions[d.def];
        let depth = s.container.as_deref().map_or(0, |c| c.split('.').count());
        // A type's plumbing methods, folded into its line.
        let qualified = s.qualified_name();
        let mut folded: Vec<&str> = f
            .definitions
            .iter()
            .filter(|m| is_plumbing(m) && m.container.as_deref() == Some(qualified.as_str()))
            .map(|m| m.name.as_str())
            .collect();
        folded.sort_unstable();
        folded.dedup();
        let folded = if folded.is_empty() || is_plumbing(s) {
            String::new()
        } else {
            format!("  (+ {})", folded.join(", "))
        };
        out.push_str(&format!(
            "{}{}: {}{folded}\n",
            "  ".repeat(depth + 1),
            s.start_line,
            s.signature
        ));
    }
    (out, shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lettuce_domain::code::Symbol;
    use lettuce_ports::index::{GraphFile, IndexedFile};

    fn file(path: &str, defs: &[&str], refs: &[(&str, u32)]) -> GraphFile {
        GraphFile {
            file: IndexedFile {
                path: path.into(),
                lang: Some("python".into()),
                blob_id: path.into(),
                size: 1,
                lines: 10,
                skipped: None,
                tokens: None,
            },
            definitions: defs
                .iter()
                .enumerate()
                .map(|(i, n)| Symbol {
                    name: (*n).into(),
                    kind: "function".into(),
                    container: None,
                    start_line: i as u32 + 1,
                    end_line: i as u32 + 1,
                    start_byte: 0,
                    end_byte: 1,
                    signature: format!("def {n}():"),
                    doc: None,
                })
                .collect(),
            references: refs.iter().map(|(n, c)| ((*n).into(), *c)).collect(),
        }
    }

    fn graph() -> Arc<SymbolGraph> {
        Arc::new(SymbolGraph {
            files: vec![
                file("core.py", &["parse", "_helper"], &[]),
                file("a.py", &["main_a"], &[("parse", 3), ("util", 1)]),
                file("b.py", &["main_b"], &[("parse", 1), ("_helper", 5)]),
                file("util.py", &["util"], &[]),
            ],
        })
    }

    #[test]
    fn widely_used_definitions_rank_first() {
        let r = rank(graph(), &Focus::default());
        let g = &r.graph;
        let top = &g.files[r.defs[0].file].definitions[r.defs[0].def];
        assert_eq!(top.name, "parse");
        let (text, shown) = render(&r, 2);
        assert_eq!(shown.len(), 2);
        assert!(text.starts_with("core.py:\n  1: def parse():\n"), "{text}");
    }

    #[test]
    fn trait_plumbing_folds_into_its_type() {
        let mut lib = file("src/lib.rs", &["Iter", "parse"], &[]);
        for (i, name) in ["next", "len", "fmt"].iter().enumerate() {
            lib.definitions.push(Symbol {
                name: (*name).into(),
                kind: "method".into(),
                container: Some("Iter".into()),
                start_line: 10 + i as u32,
                end_line: 10 + i as u32,
                start_byte: 0,
                end_byte: 1,
                signature: format!("fn {name}(&self)"),
                doc: None,
            });
        }
        lib.definitions[0].kind = "struct".into();
        lib.definitions[0].signature = "pub struct Iter".into();
        let user = file(
            "src/main.rs",
            &["main"],
            &[("Iter", 2), ("parse", 2), ("next", 9), ("len", 9), ("fmt", 9)],
        );
        let r = rank(Arc::new(SymbolGraph { files: vec![lib, user] }), &Focus::default());
        let names: Vec<&str> = r
            .defs
            .iter()
            .take(2)
            .map(|d| r.graph.files[d.file].definitions[d.def].name.as_str())
            .collect();
        assert!(names.contains(&"Iter") && names.contains(&"parse"), "{names:?}");
        let (text, _) = render(&r, 2);
        assert!(text.contains("1: pub struct Iter  (+ fmt, len, next)\n"), "{text}");
    }

    #[test]
    fn focus_moves_the_map() {
        let focus = Focus {
            paths: vec![],
            names: ["util".to_owned()].into(),
        };
        let r = rank(graph(), &focus);
        let top = &r.graph.files[r.defs[0].file].definitions[r.defs[0].def];
        assert_eq!(top.name, "util");
    }
}
