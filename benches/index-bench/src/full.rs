//! Full index: `lettuce index` (fresh `LETTUCE_LOCAL_DIR` each run) against
//! `ctags -R`, runs interleaved so both see the same machine state.

use crate::corpus::Corpus;
use crate::measure::{Cmd, IndexLine, parse_index_line, tree_bytes};
use crate::report::Table;
use crate::stats::{Spread, ratio};
use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// What the full-index runs measured.
#[derive(Debug, Clone)]
pub struct FullIndex {
    /// Wall seconds of each `lettuce index` run.
    pub lettuce_secs: Vec<f64>,
    /// Seconds the process reported for indexing itself.
    pub lettuce_inner_secs: Vec<f64>,
    /// Peak RSS of each run, MiB.
    pub lettuce_rss_mib: Vec<f64>,
    /// Bytes under `LETTUCE_LOCAL_DIR` after each run.
    pub lettuce_bytes: Vec<f64>,
    /// The summary of the last run.
    pub line: IndexLine,
    /// `LETTUCE_LOCAL_DIR` of the last run (kept for the queries).
    pub local_dir: PathBuf,
    /// Wall seconds of each `ctags -R` run.
    pub ctags_secs: Vec<f64>,
    /// Peak RSS of each ctags run, MiB.
    pub ctags_rss_mib: Vec<f64>,
    /// Size of the tags file.
    pub tags_bytes: f64,
    /// Tags written.
    pub tags: u64,
    /// The lettuce command.
    pub lettuce_cmd: String,
    /// The ctags command.
    pub ctags_cmd: String,
}

/// The `lettuce index` command for `root` with its index under `local_dir`.
pub fn lettuce_index(bin: &Path, root: &Path, local_dir: &Path) -> Cmd {
    Cmd::new(bin).arg("index").arg(root).env("LETTUCE_LOCAL_DIR", local_dir)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Runs `runs` rounds of both tools on `corpus`.
pub fn run(corpus: &Corpus, work: &Path, bin: &Path, runs: usize) -> anyhow::Result<FullIndex> {
    let mut r = FullIndex {
        lettuce_secs: Vec::new(),
        lettuce_inner_secs: Vec::new(),
        lettuce_rss_mib: Vec::new(),
        lettuce_bytes: Vec::new(),
        line: IndexLine::default(),
        local_dir: PathBuf::new(),
        ctags_secs: Vec::new(),
        ctags_rss_mib: Vec::new(),
        tags_bytes: 0.0,
        tags: 0,
        lettuce_cmd: String::new(),
        ctags_cmd: String::new(),
    };
    let tags = work.join("tags");
    for round in 0..runs.max(1) {
        let lettuce_first = round % 2 == 0;
        for step in 0..2 {
            if (step == 0) == lettuce_first {
                let local = work.join(format!("local-full-{round}"));
                if local.exists() {
                    std::fs::remove_dir_all(&local)?;
                }
                std::fs::create_dir_all(&local)?;
                let cmd = lettuce_index(bin, &corpus.root, &local);
                r.lettuce_cmd = cmd.display();
                let run = cmd.run_timed(work)?;
                let line = parse_index_line(&run.stdout)
                    .with_context(|| format!("no summary line in the output of lettuce index: {}", run.stdout))?;
                r.lettuce_secs.push(run.wall.as_secs_f64());
                r.lettuce_inner_secs.push(line.secs);
                r.lettuce_rss_mib.push(mib(run.max_rss_kib));
                r.lettuce_bytes.push(tree_bytes(&local) as f64);
                r.line = line;
                eprintln!(
                    "  lettuce index: {:.2} s wall, {:.0} MiB peak RSS, {} files ({} parsed), {} symbols",
                    run.wall.as_secs_f64(),
                    mib(run.max_rss_kib),
                    line.files,
                    line.parsed,
                    line.symbols
                );
                if !r.local_dir.as_os_str().is_empty() {
                    std::fs::remove_dir_all(&r.local_dir)?;
                }
                r.local_dir = local;
            } else {
                let _ = std::fs::remove_file(&tags);
                let cmd = Cmd::new("ctags")
                    .arg("-R")
                    .arg("--fields=+n")
                    .arg("-f")
                    .arg(&tags)
                    .arg(&corpus.root);
                r.ctags_cmd = cmd.display();
                let run = cmd.run_timed(work)?;
                r.ctags_secs.push(run.wall.as_secs_f64());
                r.ctags_rss_mib.push(mib(run.max_rss_kib));
                // Patterns quote source lines, which need not be UTF-8.
                let bytes = std::fs::read(&tags).with_context(|| format!("reading {}", tags.display()))?;
                r.tags = bytes
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty() && !l.starts_with(b"!_"))
                    .count() as u64;
                r.tags_bytes = bytes.len() as f64;
                eprintln!(
                    "  ctags -R: {:.2} s wall, {:.0} MiB peak RSS, {} tags",
                    run.wall.as_secs_f64(),
                    mib(run.max_rss_kib),
                    r.tags
                );
            }
        }
    }
    Ok(r)
}

/// The full-index table rows for one corpus, and the ratios.
pub fn rows(corpus: &Corpus, f: &FullIndex, rg_scan_ms: Option<f64>, table: &mut Table, ratios: &mut Table) {
    let mb = f.line.mb;
    let l_time = Spread::of(&f.lettuce_secs);
    let c_time = Spread::of(&f.ctags_secs);
    let l_rss = Spread::of(&f.lettuce_rss_mib);
    let c_rss = Spread::of(&f.ctags_rss_mib);
    let l_size = Spread::of(&f.lettuce_bytes);
    let mbps = |secs: &[f64]| Spread::of(&secs.iter().map(|s| ratio(mb, *s)).collect::<Vec<_>>());
    table.row(vec![
        corpus.name.clone(),
        "lettuce index".into(),
        l_time.show(2),
        mbps(&f.lettuce_secs).show(1),
        l_rss.show(0),
        format!("{:.1}", l_size.median / 1e6),
        format!("{:.2}", ratio(l_size.median, corpus.bytes as f64)),
        format!(
            "{} ({} parsed, {} skipped)",
            f.line.files, f.line.parsed, f.line.skipped
        ),
        format!("{} symbols", f.line.symbols),
    ]);
    table.row(vec![
        corpus.name.clone(),
        "ctags -R".into(),
        c_time.show(2),
        mbps(&f.ctags_secs).show(1),
        c_rss.show(0),
        format!("{:.1}", f.tags_bytes / 1e6),
        format!("{:.2}", ratio(f.tags_bytes, corpus.bytes as f64)),
        "-".into(),
        format!("{} tags", f.tags),
    ]);
    table.row(vec![
        corpus.name.clone(),
        "rg (no index)".into(),
        rg_scan_ms.map_or("-".into(), |ms| format!("{:.3} per query", ms / 1e3)),
        rg_scan_ms.map_or("-".into(), |ms| format!("{:.0}", ratio(mb, ms / 1e3))),
        "-".into(),
        "0".into(),
        "0".into(),
        "-".into(),
        "-".into(),
    ]);
    ratios.row(vec![
        corpus.name.clone(),
        format!("{:.2}×", ratio(l_time.median, c_time.median)),
        format!("{:.2}×", ratio(l_rss.median, c_rss.median)),
        format!("{:.1}×", ratio(l_size.median, f.tags_bytes)),
        format!("{:.2}×", ratio(f.line.symbols as f64, f.tags as f64)),
    ]);
}
