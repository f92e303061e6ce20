//! Extraction cost on a directory tree, one thread, split into the
//! tree-sitter parse alone and the whole extraction (parse, definitions,
//! identifier occurrences) — to see where index time goes. The parse
//! alone is timed on the Python files; the extraction on every file of a
//! parsed language.
//!
//! `cargo run --release -p lettuce-index-tantivy --example extract_tree -- DIR`

use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: extract_tree DIR");
        std::process::exit(2);
    };
    let mut paths = Vec::new();
    files(std::path::Path::new(&dir), &mut paths);
    paths.sort();
    let sources: Vec<(String, Vec<u8>)> = paths
        .iter()
        .filter_map(|p| Some((p.to_string_lossy().into_owned(), std::fs::read(p).ok()?)))
        .collect();
    let bytes: usize = sources.iter().map(|(_, s)| s.len()).sum();
    let py_bytes: usize = sources
        .iter()
        .filter(|(p, _)| p.ends_with(".py"))
        .map(|(_, s)| s.len())
        .sum();
    let mut parser = tree_sitter::Parser::new();
    let lang: tree_sitter::Language = tree_sitter_python::LANGUAGE.into();
    if let Err(e) = parser.set_language(&lang) {
        eprintln!("{e}");
        std::process::exit(1);
    }
    let t = Instant::now();
    for (_, s) in sources.iter().filter(|(p, _)| p.ends_with(".py")) {
        let tree = parser.parse(s, None);
        drop(tree);
    }
    let parse = t.elapsed();
    let t = Instant::now();
    let extracted: Vec<_> = sources
        .iter()
        .filter_map(|(p, s)| lettuce_index_tantivy::extract_file(p, s, Duration::from_secs(10)))
        .collect();
    let all = t.elapsed();
    // Outside the timed loop: a digest to compare two builds' output.
    let mut digest = std::collections::hash_map::DefaultHasher::new();
    let (mut symbols, mut occurrences) = (0, 0);
    for x in &extracted {
        symbols += x.symbols.len();
        occurrences += x.occurrences;
        std::hash::Hash::hash(&format!("{:?}", x.symbols), &mut digest);
    }
    let mb = bytes as f64 / 1e6;
    println!(
        "{} files, {mb:.1} MB, {symbols} symbols ({:x}), {occurrences} occurrences: python parse {:.2} s ({:.1} MB/s), extract {:.2} s ({:.1} MB/s)",
        sources.len(),
        std::hash::Hasher::finish(&digest),
        parse.as_secs_f64(),
        py_bytes as f64 / 1e6 / parse.as_secs_f64(),
        all.as_secs_f64(),
        mb / all.as_secs_f64()
    );
}
