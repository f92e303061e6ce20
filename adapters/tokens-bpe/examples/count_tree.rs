//! Token-counting throughput over a directory tree: Lettuce's counter (with
//! its per-thread piece cache and its ASCII splitter) against `bpe-openai`'s own `count`, on one
//! thread, same files, same run; the totals must agree.
//!
//! `cargo run --release -p lettuce-tokens-bpe --example count_tree -- DIR`

use lettuce_ports::tokens::TokenCounter;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(&p, out),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
}

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: count_tree DIR");
        std::process::exit(2);
    };
    let mut paths = Vec::new();
    walk(Path::new(&dir), &mut paths);
    paths.sort();
    let (paths, texts): (Vec<&PathBuf>, Vec<String>) = paths
        .iter()
        .filter_map(|p| Some((p, std::fs::read(p).ok()?)))
        .filter(|(_, b)| !b.contains(&0))
        .map(|(p, b)| (p, String::from_utf8_lossy(&b).into_owned()))
        .unzip();
    let bytes: usize = texts.iter().map(String::len).sum();
    let mb = bytes as f64 / 1e6;
    let counter = lettuce_tokens_bpe::BpeCounter::o200k();
    counter.count("warm up the tables");
    let t = Instant::now();
    let direct: u64 = texts
        .iter()
        .map(|t| bpe_openai::o200k_base().count(t.as_str()) as u64)
        .sum();
    let d = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let cached: u64 = texts.iter().map(|t| counter.count(t)).sum();
    let c = t.elapsed().as_secs_f64();
    println!("{} files, {mb:.1} MB, {cached} o200k tokens", texts.len());
    println!("bpe-openai count:      {d:.2} s ({:.1} MB/s)", mb / d);
    println!(
        "lettuce (piece cache, ASCII splitter): {c:.2} s ({:.1} MB/s) — {:.1}× faster",
        mb / c,
        d / c
    );
    let ascii = texts.iter().filter(|t| t.is_ascii()).count();
    println!("{ascii} of {} texts are ASCII (split without the regex)", texts.len());
    assert_eq!(direct, cached, "the counts must agree");
    // File by file too: one file's error cannot hide behind another's.
    for (p, t) in paths.iter().zip(&texts) {
        assert_eq!(
            counter.count(t),
            bpe_openai::o200k_base().count(t.as_str()) as u64,
            "{}",
            p.display()
        );
    }
}
