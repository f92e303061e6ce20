//! Golden tests: every fixture file under `fixtures/code/src` (one per
//! supported language) is indexed, and its outline — nesting, kinds,
//! containers, line ranges, signatures and doc comments — must equal the
//! reviewed expectation in `fixtures/code/expected/<file>.outline`.
//!
//! After an intended change, regenerate with `LETTUCE_BLESS=1 cargo test -p
//! lettuce-index-tantivy --test golden` and review the diff.

mod support;

use lettuce_domain::code::OutlineNode;
use lettuce_ports::index::{CodeSearch, IndexedFile};
use std::fmt::Write;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/code")
}

fn render(out: &mut String, nodes: &[OutlineNode], depth: usize) {
    for n in nodes {
        let s = &n.symbol;
        let _ = write!(
            out,
            "{}{} {} L{}-{} container={} sig={:?}",
            "  ".repeat(depth),
            s.name,
            s.kind,
            s.start_line,
            s.end_line,
            s.container.as_deref().unwrap_or("-"),
            s.signature
        );
        if let Some(d) = &s.doc {
            let _ = write!(out, " doc={d:?}");
        }
        out.push('\n');
        render(out, &n.children, depth + 1);
    }
}

#[tokio::test]
async fn outlines_match_the_reviewed_expectations() {
    let (index, at) = support::index_dir(&fixtures().join("src")).await;
    let files: Vec<IndexedFile> = index.list_files(&at, None).await.unwrap();
    assert_eq!(files.len(), 16, "one fixture per supported language");
    let bless = std::env::var_os("LETTUCE_BLESS").is_some();
    let mut failures = Vec::new();
    for f in files {
        let outline = index.outline(&at, &f.path).await.unwrap();
        let mut got = format!("# {} ({})\n", f.path, f.lang.as_deref().unwrap_or("?"));
        render(&mut got, &outline.symbols, 0);
        let path = fixtures().join("expected").join(format!("{}.outline", f.path));
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (bless with LETTUCE_BLESS=1)", path.display()));
        if want != got {
            failures.push(format!("{}:\n--- expected\n{want}--- got\n{got}", f.path));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
