//! `lettuce-index-bench`: the code index and navigation measured on offline
//! corpora against universal-ctags and ripgrep in the same run, plus the
//! agent-task benchmark (ctags ground truth, o200k_base tokens).
//!
//! ```text
//! cargo build --release -p lettuce -p lettuce-index-bench
//! cargo run --release -p lettuce-index-bench -- --help
//! cargo run --release -p lettuce-index-bench                      # everything, both corpora
//! cargo run --release -p lettuce-index-bench -- --steps agent --corpora crates
//! ```
//!
//! Needs `rg`, `ctags` (universal-ctags) and GNU time at `/usr/bin/time`
//! (`just bench` installs them). See `docs/PERFORMANCE.md` for the figures
//! and what they mean.

mod agent;
mod corpus;
mod ctags;
mod full;
mod incremental;
mod local;
mod measure;
mod queries;
mod report;
mod rg;
mod stats;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use measure::Cmd;
use report::{Report, Table};
use stats::{Spread, ratio};
use std::path::{Path, PathBuf};

/// Default pinned crates (exact versions, from the cargo registry cache).
const DEFAULT_CRATES: &[&str] = &["tokio-1.54.1", "serde-1.0.229", "regex-1.13.2", "tantivy-0.27.0"];

/// Benchmark of the code index and navigation against universal-ctags and
/// ripgrep on offline corpora, and the agent-task benchmark.
///
/// Copies each corpus into a work directory, then: full index (`lettuce
/// index` vs `ctags -R`), incremental re-index after 0/1/10/100 edited
/// files, warm query latency in-process vs `rg`, and agent tasks with ctags
/// ground truth. Prints plain tables and the same as Markdown.
#[derive(Debug, Parser)]
#[command(name = "lettuce-index-bench", version, about, long_about = None)]
struct Cli {
    /// Corpora to measure.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![corpus::Kind::CpythonStdlib, corpus::Kind::Crates])]
    corpora: Vec<corpus::Kind>,

    /// Steps to run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![Step::Full, Step::Incremental, Step::Queries, Step::Agent])]
    steps: Vec<Step>,

    /// Crates of the `crates` corpus, as name-version (exact versions).
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_CRATES.iter().map(|s| s.to_string()).collect::<Vec<_>>())]
    crates: Vec<String>,

    /// The cargo registry source cache (default `$CARGO_HOME/registry/src`).
    #[arg(long)]
    registry: Option<PathBuf>,

    /// Python interpreter whose standard library is the CPython corpus.
    #[arg(long, default_value = "python3")]
    python: String,

    /// The `lettuce` binary (default: next to this one, i.e. the same
    /// target directory; build it with `cargo build --release -p lettuce`).
    #[arg(long)]
    lettuce_bin: Option<PathBuf>,

    /// Repetitions of the full and incremental index runs.
    #[arg(long, default_value_t = 3)]
    runs: usize,

    /// Measured queries per kind (symbol lookup, text, substring).
    #[arg(long, default_value_t = 200)]
    queries: usize,

    /// Unmeasured warm-up queries before them.
    #[arg(long, default_value_t = 20)]
    warmup: usize,

    /// rg runs per query kind.
    #[arg(long, default_value_t = 50)]
    rg_samples: usize,

    /// Agent questions ("where is X defined"; "who calls Y" uses the
    /// callables among them).
    #[arg(long, default_value_t = 200)]
    questions: usize,

    /// Files for "what is in module Z".
    #[arg(long, default_value_t = 100)]
    modules: usize,

    /// Failed questions printed per task and reason.
    #[arg(long, default_value_t = 5)]
    show_failures: usize,

    /// Work directory (default: a new directory under the system temp dir).
    #[arg(long)]
    work_dir: Option<PathBuf>,

    /// Keep the work directory (corpus copies, indexes, tags files).
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Step {
    /// Full index vs ctags.
    Full,
    /// Incremental re-index after 0, 1, 10, 100 edited files.
    Incremental,
    /// Warm query latency vs rg.
    Queries,
    /// Agent tasks with ctags ground truth.
    Agent,
}

/// The `lettuce` binary's allocator, so the in-process query rows measure
/// what the product runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(cli.runs > 0, "--runs must be positive");
    anyhow::ensure!(cli.queries > 0, "--queries must be positive");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = rt.block_on(run(&cli))?;
    println!("{}", report.plain());
    println!("──── Markdown ────\n");
    println!("{}", report.markdown());
    if !report.problems.is_empty() {
        anyhow::bail!("{} problem(s); see PROBLEM lines above", report.problems.len());
    }
    Ok(())
}

fn lettuce_bin(cli: &Cli) -> anyhow::Result<PathBuf> {
    let bin = match &cli.lettuce_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("lettuce"))
            .context("no directory for the current executable")?,
    };
    anyhow::ensure!(
        bin.is_file(),
        "{} not found: build it with `cargo build --release -p lettuce` (same CARGO_TARGET_DIR) or pass --lettuce-bin",
        bin.display()
    );
    Ok(bin)
}

fn check_tools() -> anyhow::Result<()> {
    for (tool, hint) in [
        ("rg", "apt-get install -y ripgrep"),
        ("ctags", "apt-get install -y universal-ctags"),
    ] {
        anyhow::ensure!(
            std::process::Command::new(tool)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success()),
            "{tool} is not installed ({hint}; `just bench` installs it)"
        );
    }
    anyhow::ensure!(
        Path::new(measure::GNU_TIME).is_file(),
        "{} is missing (apt-get install -y time)",
        measure::GNU_TIME
    );
    Ok(())
}

fn machine_notes(bin: &Path) -> Vec<String> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| format!("{:.0} GiB RAM", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = Cmd::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .run()
        .map(|r| r.stdout.trim().to_owned())
        .unwrap_or_default();
    vec![
        format!("date: {date}"),
        format!("machine: {cores} cores ({cpu}), {mem}"),
        format!(
            "tools: {} · {} · {} · {}",
            measure::version_of(&bin.display().to_string()),
            measure::version_of("ctags"),
            measure::version_of("rg"),
            measure::version_of("python3")
        ),
        format!("load average at start: {}", measure::load_average()),
    ]
}

/// The exact command line of this run (as a `cargo run`).
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut s = "cargo run --release -p lettuce-index-bench".to_owned();
    if !args.is_empty() {
        s.push_str(" -- ");
        s.push_str(&args.join(" "));
    }
    s
}

struct Targets(Table);

impl Targets {
    fn new() -> Self {
        Self(Table::new(
            "Targets (issue 3, items 7 and 8)",
            &["corpus", "target", "measured", "verdict"],
        ))
    }

    fn check(&mut self, corpus: &str, target: &str, measured: String, met: bool) {
        self.0.row(vec![
            corpus.to_owned(),
            target.to_owned(),
            measured,
            if met { "met".into() } else { "MISSED".into() },
        ]);
    }
}

async fn run(cli: &Cli) -> anyhow::Result<Report> {
    check_tools()?;
    let bin = lettuce_bin(cli)?;
    let work = match &cli.work_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("lettuce-index-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let mut report = Report {
        command: command_line(),
        machine: machine_notes(&bin),
        ..Report::default()
    };
    let sources = corpus::Sources {
        python: cli.python.clone(),
        registry: cli.registry.clone().unwrap_or_else(corpus::default_registry),
        crates: cli.crates.clone(),
    };
    let counter = lettuce_tokens_bpe::BpeCounter::o200k();
    let has = |s: Step| cli.steps.contains(&s);

    let mut corpora = Table::new(
        "Corpora (copied into the work directory; every tool reads the copy)",
        &[
            "corpus",
            "what",
            "files",
            "MB",
            "code files (parsed languages)",
            "code MB",
        ],
    );
    let mut full_t = Table::new(
        "Full index (fresh LETTUCE_LOCAL_DIR each run; median (min–max) of the runs)",
        &[
            "corpus",
            "tool",
            "wall s",
            "MB/s (MB Lettuce indexed / wall)",
            "peak RSS MiB",
            "output MB",
            "output / corpus bytes",
            "files",
            "definitions",
        ],
    );
    let mut ratios_t = Table::new(
        "Full index: Lettuce / ctags (medians)",
        &["corpus", "wall time", "peak RSS", "output size", "definitions"],
    );
    let mut incr_t = Table::new(
        "Incremental re-index (`lettuce index` again after editing N files of a copy)",
        &[
            "corpus",
            "files edited",
            "wall ms (median)",
            "wall ms (min–max)",
            "in-process ms (median)",
            "peak RSS MiB",
            "files parsed (each run)",
        ],
    );
    let mut query_t = Table::new(
        "Warm queries (index opened once in-process) vs rg over the same tree",
        &[
            "corpus",
            "query",
            "Lettuce p50 / p95 / p99 ms",
            "with results",
            "rg (in the corpus root)",
            "rg p50 / p95 / p99 ms",
            "with matches",
            "rg/Lettuce p50",
            "rg/Lettuce p95",
        ],
    );
    let mut agent_t = agent::table();
    let mut targets = Targets::new();
    let mut commands: Vec<String> = Vec::new();

    for &kind in &cli.corpora {
        let dir = work.join(format!("{kind:?}").to_lowercase());
        std::fs::create_dir_all(&dir)?;
        eprintln!("preparing corpus {kind:?} in {}", dir.display());
        let c = corpus::prepare(kind, &sources, &dir)?;
        let mut what = c.description.clone();
        if c.symlinks_skipped > 0 {
            what.push_str(&format!("; {} symbolic links left out", c.symlinks_skipped));
        }
        corpora.row(vec![
            c.name.clone(),
            what,
            c.files.to_string(),
            format!("{:.1}", c.bytes as f64 / 1e6),
            c.code_files.to_string(),
            format!("{:.1}", c.code_bytes as f64 / 1e6),
        ]);

        // Ground truth: one more ctags run, with line numbers, long kinds,
        // end lines and languages (not timed).
        let gt_file = dir.join("ground-truth.tags");
        let mut gt = Cmd::new("ctags");
        for a in ctags::GROUND_TRUTH_ARGS {
            gt = gt.arg(*a);
        }
        gt.arg("-f").arg(&gt_file).arg(".").cwd(&c.root).run()?;
        let tags = ctags::parse_tags(&String::from_utf8_lossy(&std::fs::read(&gt_file)?), ".");
        eprintln!("  ground truth: {} ctags definitions", tags.len());

        let (full, local_dir) = if has(Step::Full) {
            eprintln!("full index ({} runs)", cli.runs);
            let f = full::run(&c, &dir, &bin, cli.runs)?;
            commands.push(f.lettuce_cmd.replace(&c.root.display().to_string(), "$CORPUS"));
            commands.push(f.ctags_cmd.replace(&c.root.display().to_string(), "$CORPUS"));
            let local = f.local_dir.clone();
            (Some(f), local)
        } else {
            let local = dir.join("local-full-0");
            std::fs::create_dir_all(&local)?;
            full::lettuce_index(&bin, &c.root, &local).run()?;
            (None, local)
        };

        if has(Step::Incremental) {
            eprintln!("incremental re-index ({} runs)", cli.runs);
            let (series, initial, problems) = incremental::run(&c, &dir, &bin, cli.runs).await?;
            incremental::rows(&c, &series, initial, &mut incr_t);
            report.problems.extend(problems);
            if let Some(one) = series.iter().find(|s| s.n == 1) {
                let med = Spread::of(&one.secs).median * 1e3;
                targets.check(
                    &c.name,
                    "1-file incremental re-index ≤ 200 ms",
                    format!(
                        "{med:.0} ms wall (median of {}), {:.0} ms in-process",
                        one.secs.len(),
                        Spread::of(&one.inner_secs).median * 1e3
                    ),
                    med <= 200.0,
                );
            }
        }

        let repo = if has(Step::Queries) || has(Step::Agent) {
            Some(local::open(&c.root, &local_dir).await?)
        } else {
            None
        };
        let mut rg_scan = None;
        if let (true, Some(repo)) = (has(Step::Queries), &repo) {
            let lookups = queries::lookups(&tags, cli.queries + cli.warmup);
            eprintln!("warm queries ({} names, rg on {})", lookups.len(), cli.rg_samples);
            let q = queries::run(repo, &c.root, &lookups, cli.warmup, cli.rg_samples).await?;
            queries::rows(&c.name, &q, &mut query_t);
            rg_scan = queries::rg_scan_ms(&q);
            let worst = q.ops.iter().map(|o| o.lettuce.p95).fold(0.0, f64::max);
            targets.check(
                &c.name,
                "warm p95 ≤ 10 ms (every query kind, MCP text included)",
                format!("worst p95 {worst:.2} ms"),
                worst <= 10.0,
            );
            if let Some(sym) = q.ops.iter().find(|o| o.label.contains("find_symbol")) {
                let r50 = ratio(sym.rg.p50, sym.lettuce.p50);
                let r95 = ratio(sym.rg.p95, sym.lettuce.p95);
                targets.check(
                    &c.name,
                    "symbol lookup ≥ 10× faster than rg",
                    format!("find_symbol {r50:.0}× at p50, {r95:.0}× at p95"),
                    r50 >= 10.0 && r95 >= 10.0,
                );
            }
        }
        if let Some(f) = &full {
            full::rows(&c, f, rg_scan, &mut full_t, &mut ratios_t);
            if kind == corpus::Kind::CpythonStdlib {
                let med = Spread::of(&f.lettuce_secs).median;
                targets.check(
                    &c.name,
                    "CPython stdlib full index ≤ 2 s",
                    format!(
                        "{med:.2} s wall (median of {}); ctags {:.2} s",
                        f.lettuce_secs.len(),
                        Spread::of(&f.ctags_secs).median
                    ),
                    med <= 2.0,
                );
            }
        }

        if let (true, Some(repo)) = (has(Step::Agent), &repo) {
            let questions = ctags::unique_definitions(&tags, cli.questions);
            let modules = ctags::module_files(&tags, cli.modules);
            eprintln!("agent tasks ({} questions, {} modules)", questions.len(), modules.len());
            let a = agent::run(
                &c.name,
                repo,
                &c.root,
                &counter,
                &questions,
                &modules,
                cli.show_failures,
            )
            .await?;
            agent_t.rows.extend(a.rows);
            report.diagnostics.extend(a.failures);
            targets.check(
                &c.name,
                "agent: right file, line and code ≥ 95%, ≥ 30× fewer tokens",
                format!("{:.1}%, {:.1}× fewer tokens (totals)", a.define.0 * 100.0, a.define.1),
                a.define.0 >= 0.95 && a.define.1 >= 30.0,
            );
        }
    }

    corpora.note("MB = 10^6 bytes; MiB = 2^20 bytes");
    full_t.note("Lettuce: the release `lettuce index` binary; 2 threads (every core). ctags is single-threaded; rg searches with every core and builds nothing (its row is the p50 of one `rg -n -w NAME` over the whole tree, from the query step).");
    full_t.note("output: the whole LETTUCE_LOCAL_DIR (tantivy segments with the stored text, commit record, stat cache) vs the tags file.");
    for c in commands {
        full_t.note(format!("`{c}`"));
    }
    incr_t.note("0 edited files is the fixed cost of a run: walk, stat, compare, no writes. Every edit appends a comment line; the stat cache re-hashes only changed files.");
    query_t.note(format!(
        "{} measured names per kind after {} warm-up names (distinct names of functions, methods and classes from the ctags ground truth, stable pseudo-random order; common names included); rg on the first {}.",
        cli.queries, cli.warmup, cli.rg_samples
    ));
    query_t.note("Index rows time the CodeSearch port alone; MCP-text rows time the Navigator answer an MCP client receives (rendering, token budget, o200k_base accounting of the files it stands for). LITERAL is `name(` for callables, `class Name` / `struct Name` / `trait Name` for types. Case as the MCP tools default: text search ignores case (rg -i), substring search matches it (rg without -i).");
    agent_t.note("Questions: definitions of kind function/method/class (Python `member` = method; Rust struct/enum/trait too) whose name has exactly one ctags definition in the corpus (Rust impl blocks not counted), in a file of a parsed language; stable pseudo-random sample.");
    agent_t.note("Success: find_symbol's first hit is in ctags' file, ctags' line is within the hit's line range, and read_symbol(X, path = that file) contains ctags' definition line. Lettuce tokens = both answers' text. Naive = `rg -n -w X` output + the 3 files with the most matches, read whole.");
    agent_t.note("who calls Y: rg's `-w` lines in code files (including comments and strings, which are not references) found among find_references' occurrences; complete = the answer was neither shortened by its budget nor cut by its limit.");
    agent_t.note("what is in module Z: ctags' definitions of the question kinds in the file found in file_outline's text (name and line range) and in its data.");

    for t in [corpora, full_t, ratios_t, incr_t, query_t, agent_t, targets.0] {
        if !t.rows.is_empty() {
            report.tables.push(t);
        }
    }
    report
        .machine
        .push(format!("load average at end: {}", measure::load_average()));
    if cli.keep {
        eprintln!("work directory kept: {}", work.display());
    } else if cli.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(report)
}
