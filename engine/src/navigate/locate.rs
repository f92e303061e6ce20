//! `locate`: from a task description (an issue title and body) to the
//! files most likely to need a change, each with the definitions that
//! matter, their line ranges and a one-line reason, fitted to a budget.
//!
//! Evidence, combined per file (deterministic for a given index):
//! * **words** — the task as a question to the text search (BM25 over the
//!   task's words, stemmed, stop words out; tests/docs/changelogs weigh
//!   less), normalised to the best file;
//! * **names** — identifiers the task spells (`snake_case`, `camelCase`,
//!   `Dotted.names`, `calls()`, `` `quoted` ``) looked up as definitions;
//!   a name with several definitions shares its weight among them;
//! * **graph** — files that call the definitions found above (by name, from
//!   the symbol graph), a weaker signal;
//! * **file and directory names** — a file the task names, or whose
//!   name's words it has (`fish completions` → `fish_completions.go`), and
//!   files under a small directory it names (`ignore:` → `crates/ignore/`);
//!   a file asked for either way is not down-weighted as a test or doc;
//! * **tests** — when the task is about tests, the test files of the best
//!   source files (`args.go` → `args_test.go`) rise just above them;
//! * **history** — where the mirror has git history (the last
//!   [`HISTORY_COMMITS`] non-merge commits up to the indexed commit, read
//!   once per indexed commit and cached): files that earlier commits with
//!   a similar subject changed (`pkg/brew: update tap` → the formula file;
//!   see [`super::similar`]; not down-weighted as tests or docs, since
//!   that is where such changes went), files that changed together with
//!   the best candidates in several commits boost each other (a co-changed
//!   file may enter on that alone), and when the task sounds like a
//!   regression ("broke", "no longer", "since", …) candidates changed in
//!   the most recent commits rise.

use super::render::Budgeted;
use super::similar;
use super::{Answer, Navigator, RepoCommit, Scope, budgets, clamp_budget, footer_note, room};
use crate::error::EngineError;
use lettuce_domain::ValidationError;
use lettuce_domain::code::{OutlineNode, Symbol, Trust, is_word_char, split_identifier};
use lettuce_ports::git::{CommitChanges, HISTORY_COMMITS, RepoSnapshot};
use lettuce_ports::index::{IndexRef, NameMatch, SearchMode, SearchQuery, SymbolQuery};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Longest task description accepted, in bytes.
pub const MAX_TASK_BYTES: usize = 8 * 1024;
/// Files the text search contributes.
const LEXICAL_FILES: usize = 40;
/// Identifiers looked up as definitions.
const MAX_NAMES: usize = 12;
/// Definitions shown per file.
const DEFS_PER_FILE: usize = 3;
/// Commits changing more files than this say nothing about coupling
/// (reformatting, renames, vendoring).
const MAX_COMMIT_FILES: usize = 30;
/// Best candidates whose co-changed files are looked at.
const COCHANGE_ANCHORS: usize = 5;
/// Fewest shared commits for a co-change link.
const MIN_COCHANGES: u32 = 2;
/// Most recent commits looked at for a regression.
const RECENT_COMMITS: usize = 30;
/// Most history-cache entries (indexed commits).
const HISTORY_CACHE: usize = 64;
/// Weight of the files similar past commits changed (a share in `0..=1`).
const SIMILAR_WEIGHT: f32 = 1.2;
/// Seconds in a day.
const DAY: i64 = 86_400;

/// `locate` parameters.
#[derive(Debug, Clone, Default)]
pub struct LocateRequest {
    /// The task: an issue title and body, a commit subject, a question.
    pub task: String,
    /// The repo (optional when there is one).
    pub repo: Option<String>,
    /// Most files (default 8, at most 30).
    pub max_files: Option<usize>,
    /// Token budget (default [`budgets::LOCATE`]).
    pub max_tokens: Option<u64>,
}

/// A definition in a located file.
#[derive(Debug, Clone, PartialEq)]
pub struct LocatedDefinition {
    /// The definition (name, kind, container, line range, signature).
    pub symbol: Symbol,
    /// How it was found (the definition itself is always syntactic).
    pub trust: Trust,
    /// Why it matters: `named in the task`, `3 matching lines`, `calls X`.
    pub why: String,
}

/// A file `locate` proposes.
#[derive(Debug, Clone, PartialEq)]
pub struct LocatedFile {
    /// Path in the repo.
    pub path: String,
    /// Combined score (comparable within one answer).
    pub score: f32,
    /// One line: which words, names or links put it here.
    pub reason: String,
    /// How the strongest evidence was found: `syntactic` when the file
    /// defines a name the task spells or calls such a definition, `text`
    /// when only words matched.
    pub trust: Trust,
    /// The definitions that matter, best first.
    pub definitions: Vec<LocatedDefinition>,
}

/// `locate` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct LocateAnswer {
    /// The repo read.
    pub repo: RepoCommit,
    /// Files, most likely first.
    pub files: Vec<LocatedFile>,
    /// The task's words found in no file.
    pub absent: Vec<String>,
}

#[derive(Debug, Default)]
struct Evidence {
    lexical: f32,
    words: Vec<String>,
    named: f32,
    names: Vec<String>,
    graph: f32,
    calls: Vec<String>,
    /// Qualified definition name → (matching lines, why).
    defs: BTreeMap<String, (u32, String, Trust)>,
    history: f32,
    history_why: Vec<String>,
    /// Share of the file name's words the task spells (`fish completions`
    /// → `fish_completions.go`), 1.0 when it names the file outright.
    path: f32,
    path_why: String,
    /// The task names a small directory the file is in (`update
    /// requirements` → `requirements/dev.txt`, `workflows` →
    /// `.github/workflows/tests.yaml`).
    dir: bool,
    dir_why: String,
    /// Share of what earlier commits with a similar subject changed
    /// (`pkg/brew: update tap` → `pkg/brew/ripgrep-bin.rb`).
    similar: f32,
    similar_why: String,
    /// The source file this test file tests, when the task is about tests
    /// and that file ranks high.
    tests_of: String,
}

impl Evidence {
    fn base(&self) -> f32 {
        self.lexical
            + 1.2 * self.named.min(1.5)
            + 0.3 * self.graph.min(1.0)
            + 0.6 * self.path.min(1.0)
            + if self.dir { 0.3 } else { 0.0 }
    }

    /// Whether the task asks for this very file or its directory: every
    /// word of its name, or the directory's name. A test, doc or changelog
    /// the task points at that way is not down-weighted.
    fn asked_for(&self) -> bool {
        self.path >= 1.0 || self.dir
    }

    /// The file's score: its evidence, weighed by what kind of file it is,
    /// plus what similar past commits changed — not down-weighted: where
    /// such changes went before (a changelog, a doc page) is what it says.
    fn score(&self, path: &str, task_lower: &str, history: f32) -> f32 {
        let weight = if self.asked_for() {
            1.0
        } else {
            path_weight(path, task_lower)
        };
        (self.base() + history) * weight + SIMILAR_WEIGHT * self.similar
    }
}

/// A word folded for comparing file names (and past commit subjects) with
/// a task's words: lowercase, a plural `s` dropped (`completions` →
/// `completion`, `args` → `arg`).
pub(crate) fn fold(word: &str) -> String {
    let w = word.to_lowercase();
    match w.strip_suffix('s') {
        Some(stem) if stem.len() >= 3 && !stem.ends_with('s') => stem.to_owned(),
        _ => w,
    }
}

/// Words too common in file names to point at one (`__init__`, `index`, `main`, `mod`, `lib`, `util`).
const GENERIC_FILE_WORDS: &[&str] = &[
    "init", "index", "main", "mod", "lib", "util", "utils", "common", "base", "core",
];

/// Whether the task names the file outright: its name with the extension
/// (`CHANGES.rst`, `cobra.go`) or a stem with an underscore
/// (`fish_completions_test`), as whole words; generic names never count.
fn names_file(path: &str, task_lower: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name);
    let stem_lower = stem.to_lowercase();
    if stem.len() < 3 || GENERIC_FILE_WORDS.contains(&stem_lower.as_str()) {
        return false;
    }
    let bounded = |needle: &str| {
        task_lower.match_indices(needle).any(|(i, m)| {
            let before = task_lower[..i].chars().next_back();
            let after = task_lower[i + m.len()..].chars().next();
            !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
        })
    };
    bounded(&name.to_lowercase()) || (stem.contains('_') && bounded(&stem_lower))
}

/// How well a file's name matches the task: `(share, reason)`. The share is
/// 1.0 when the task writes the file name (`cobra.go`, `fish_completions_test`),
/// otherwise the share of the name's words the task has (`args` → `args.go`:
/// 1.0; `completions` → `fish_completions.go`: 0.5). Generic names and
/// one-letter parts never match.
pub(crate) fn path_evidence(path: &str, task_lower: &str, task_words: &[String]) -> Option<(f32, String)> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name);
    if stem.len() < 3 {
        return None;
    }
    if names_file(path, task_lower) {
        return Some((1.0, format!("the task names {name}")));
    }
    let parts: Vec<String> = split_identifier(stem)
        .into_iter()
        .flat_map(|p| p.split('-'))
        .filter(|p| p.len() >= 2)
        .map(fold)
        .collect();
    if parts.is_empty() || parts.iter().all(|p| GENERIC_FILE_WORDS.contains(&p.as_str())) {
        return None;
    }
    let hits: Vec<&String> = parts.iter().filter(|p| task_words.contains(p)).collect();
    if hits.is_empty() {
        return None;
    }
    let share = hits.len() as f32 / parts.len() as f32;
    Some((
        share,
        format!(
            "file name matches {}",
            hits.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(", ")
        ),
    ))
}

/// Directory words too common to point anywhere (`src`, `lib`, `pkg`, …);
/// tests and docs are weighed by [`path_weight`] instead.
const GENERIC_DIR_WORDS: &[&str] = &[
    "src", "source", "lib", "pkg", "internal", "cmd", "app", "include", "test", "tests", "doc", "docs", "example",
    "main", "core", "common", "util", "utils",
];

/// A directory the task names must hold at most this share of the files:
/// a word that names half the repository points nowhere.
const MAX_DIR_SHARE: f32 = 0.2;

/// The files in directories the task names, with the directory: a
/// directory segment whose words (split like identifiers, a plural `s`
/// folded) include a task word, generic names left out, and only
/// directories holding at most [`MAX_DIR_SHARE`] of the files (innermost
/// such directory per file). Deterministic.
pub(crate) fn named_directories(index: &PathIndex, task_words: &[String]) -> Vec<(String, String)> {
    let named = |segment: &str| {
        split_identifier(segment)
            .into_iter()
            .flat_map(|p| p.split(['-', '.']).map(fold).collect::<Vec<_>>())
            .any(|w| w.len() >= 3 && !GENERIC_DIR_WORDS.contains(&w.as_str()) && task_words.contains(&w))
    };
    let limit = (index.paths.len() as f32 * MAX_DIR_SHARE).max(1.0) as usize;
    let dirs: std::collections::HashSet<&str> = index
        .dir_files
        .iter()
        .filter(|(dir, n)| **n <= limit && named(dir.rsplit('/').next().unwrap_or(dir)))
        .map(|(dir, _)| dir.as_str())
        .collect();
    if dirs.is_empty() {
        return Vec::new();
    }
    // Each file takes the deepest named directory it is in.
    index
        .paths
        .iter()
        .filter_map(|path| {
            let end = path
                .rmatch_indices('/')
                .map(|(i, _)| i)
                .find(|i| dirs.contains(&path[..*i]))?;
            Some((path.clone(), path[..end].to_owned()))
        })
        .collect()
}

/// The files an index holds (skipped ones left out), and how many are
/// under each directory (`a/b/c.rs` counts for `a` and `a/b`). Built once
/// per indexed commit.
#[derive(Debug)]
pub struct PathIndex {
    paths: Vec<String>,
    /// Indices into `paths` in path order (for [`PathIndex::contains`]).
    sorted: Vec<u32>,
    dir_files: HashMap<String, usize>,
    /// Test files by the (lowercase) file name they test: `args.go` →
    /// `[cmd/args_test.go]` (see [`tested_name`]).
    tests: HashMap<String, Vec<String>>,
}

impl PathIndex {
    pub(crate) fn new(paths: Vec<String>) -> Self {
        let mut dir_files: HashMap<String, usize> = HashMap::new();
        for path in &paths {
            for (i, _) in path.match_indices('/') {
                match dir_files.get_mut(&path[..i]) {
                    Some(n) => *n += 1,
                    None => {
                        dir_files.insert(path[..i].to_owned(), 1);
                    }
                }
            }
        }
        let mut tests: HashMap<String, Vec<String>> = HashMap::new();
        for p in &paths {
            if is_test_path(&p.to_lowercase())
                && let Some(tested) = tested_name(p)
            {
                tests.entry(tested).or_default().push(p.clone());
            }
        }
        let mut sorted: Vec<u32> = (0..paths.len() as u32).collect();
        sorted.sort_unstable_by(|a, b| paths[*a as usize].cmp(&paths[*b as usize]));
        Self {
            paths,
            sorted,
            dir_files,
            tests,
        }
    }

    /// Whether the index holds this file.
    pub(crate) fn contains(&self, path: &str) -> bool {
        self.sorted
            .binary_search_by(|i| self.paths[*i as usize].as_str().cmp(path))
            .is_ok()
    }
}

/// Whether the task reads like a regression report.
pub(crate) fn regression_wording(task_lower: &str) -> bool {
    let words: String = task_lower
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let padded = format!(" {} ", words.split_whitespace().collect::<Vec<_>>().join(" "));
    [
        "regression",
        "regressed",
        "broke",
        "broken",
        "breaks",
        "since",
        "no longer",
        "used to",
        "stopped working",
    ]
    .iter()
    .any(|w| padded.contains(&format!(" {w} ")))
}

/// What history adds per path: `(boost, reason)`. `scored` holds the
/// candidates with their evidence so far, best first. Deterministic.
pub(crate) fn history_evidence(
    history: &[CommitChanges],
    scored: &[(String, f32)],
    regression: bool,
) -> BTreeMap<String, (f32, String)> {
    let mut out: BTreeMap<String, (f32, String)> = BTreeMap::new();
    let Some(top) = scored.first().map(|s| s.1).filter(|t| *t > 0.0) else {
        return out;
    };
    let useful = || {
        history
            .iter()
            .filter(|c| !c.paths.is_empty() && c.paths.len() <= MAX_COMMIT_FILES)
    };
    // Co-change: per anchor, how often each other file changed with it.
    for (anchor, score) in scored.iter().take(COCHANGE_ANCHORS) {
        let mut total = 0u32;
        let mut with: BTreeMap<&str, u32> = BTreeMap::new();
        for c in useful() {
            if !c.paths.contains(anchor) {
                continue;
            }
            total += 1;
            for p in c.paths.iter().filter(|p| *p != anchor) {
                *with.entry(p.as_str()).or_default() += 1;
            }
        }
        for (p, n) in with {
            if n < MIN_COCHANGES {
                continue;
            }
            // Share of the anchor's commits, trusted more with more commits.
            let w = 0.6 * (score / top) * (n as f32 / total as f32) * (n.min(5) as f32 / 5.0);
            let e = out.entry(p.to_owned()).or_insert((0.0, String::new()));
            if w > e.0 {
                *e = (w, format!("changes with {anchor} ({n} commits)"));
            }
        }
    }
    // Recency, for regressions: candidates changed in the latest commits.
    if regression {
        let newest = history.first().map_or(0, |c| c.time);
        let candidates: BTreeMap<&str, f32> = scored.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        let mut seen: Vec<&str> = Vec::new();
        for c in useful().take(RECENT_COMMITS) {
            let days = (newest - c.time).max(0) / DAY;
            // Halves every two weeks before the indexed commit.
            let w = 0.5 * 0.5f32.powf(days as f32 / 14.0);
            for p in &c.paths {
                if seen.contains(&p.as_str()) || !candidates.contains_key(p.as_str()) {
                    continue;
                }
                seen.push(p);
                let ago = match days {
                    0 => "changed in the latest day".to_owned(),
                    1 => "changed 1 day ago".to_owned(),
                    d => format!("changed {d} days ago"),
                };
                let short: String = c.id.chars().take(7).collect();
                let why = format!("{ago} in {short} {}", c.subject);
                let e = out.entry(p.clone()).or_insert((0.0, String::new()));
                e.0 += w;
                e.1 = if e.1.is_empty() { why } else { format!("{why}; {}", e.1) };
            }
        }
    }
    out
}

/// Identifiers the task spells out: words with `_`, inner capitals or
/// digits after letters, dotted names, words before `(`, and anything
/// between backticks.
pub(crate) fn named_identifiers(task: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |w: &str| {
        let w = w.trim_matches(|c: char| !is_word_char(c));
        if w.len() >= 3 && w.chars().any(|c| c.is_alphabetic()) && !out.iter().any(|o| o == w) {
            out.push(w.to_owned());
        }
    };
    for quoted in task.split('`').skip(1).step_by(2) {
        for part in quoted.split(|c: char| !is_word_char(c) && c != '.') {
            for seg in part.split('.') {
                push(seg);
            }
        }
    }
    let chars: Vec<char> = task.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !is_word_char(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_word_char(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let inner_upper = word.chars().skip(1).any(|c| c.is_uppercase()) && word.chars().any(|c| c.is_lowercase());
        let snake = word.trim_matches('_').contains('_');
        let call = chars.get(i) == Some(&'(');
        let dotted = chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(|c| is_word_char(*c))
            || start > 0 && chars[start - 1] == '.' && start > 1 && is_word_char(chars[start - 2]);
        if inner_upper || snake || call || dotted {
            push(&word);
        }
    }
    out.truncate(MAX_NAMES);
    out
}

/// How much a file of this path weighs: source 1, tests/docs/changelogs
/// less unless the task asks for them (names the kind, or the file).
fn path_weight(path: &str, task_lower: &str) -> f32 {
    // A file the task names is what it asks for, whatever its kind.
    if names_file(path, task_lower) {
        return 1.0;
    }
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let stem = name.split('.').next().unwrap_or(name);
    if matches!(stem, "changelog" | "changes" | "news" | "history") {
        return if task_lower.contains("changelog") { 1.0 } else { 0.15 };
    }
    if is_test_path(&lower) {
        return if task_lower.contains("test") { 1.0 } else { 0.45 };
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if matches!(ext, "md" | "rst" | "txt" | "adoc") || lower.starts_with("docs/") || lower.starts_with("doc/") {
        return if task_lower.contains("doc") { 1.0 } else { 0.35 };
    }
    1.0
}

/// Whether a (lowercase) path is a test: in a test directory, or named
/// `test_*`, `*_test.*`, `*_spec.*`, `*.test.*`, `*.spec.*`.
fn is_test_path(lower: &str) -> bool {
    lower.split('/').any(|s| {
        matches!(s, "test" | "tests" | "testing" | "__tests__" | "spec")
            || s.starts_with("test_")
            || s.split('.')
                .next()
                .is_some_and(|st| st.ends_with("_test") || st.ends_with("_spec"))
            || s.contains(".test.")
            || s.contains(".spec.")
    })
}

/// The name a test file tests, with its extension: `args_test.go` →
/// `args.go`, `test_ctx.py` → `ctx.py`, `Button.test.tsx` → `button.tsx`,
/// `FooTest.java` → `foo.java`; `None` for a file not named as a test.
fn tested_name(test_path: &str) -> Option<String> {
    let original = test_path.rsplit('/').next().unwrap_or(test_path);
    let (stem, ext) = original.split_once('.')?;
    let base = if let Some(rest) = ext.strip_prefix("test.").or_else(|| ext.strip_prefix("spec.")) {
        return Some(format!("{}.{rest}", stem.to_lowercase()));
    } else if let Some(b) = stem.strip_prefix("test_") {
        b
    } else if let Some(b) = stem.strip_suffix("_test").or_else(|| stem.strip_suffix("_spec")) {
        b
    } else {
        stem.strip_suffix("Test")?
    };
    (!base.is_empty()).then(|| format!("{}.{ext}", base.to_lowercase()))
}

/// Tests this many of the best source files pull their test files up.
const TESTED_SOURCES: usize = 5;
/// A test file's share of its source file's score.
const TEST_SHARE: f32 = 1.05;

/// When the task is about tests (`add tests for legacyArgs()`), the test
/// files of the best source files rise with them: each gets
/// [`TEST_SHARE`] of its source's score (just above it: a task about tests
/// changes the tests first) when that is more than its own.
/// `ranked` is best first; it stays sorted. Deterministic.
fn pull_up_tests(ranked: &mut Vec<(String, f32, Evidence)>, index: &PathIndex) {
    let sources: Vec<(String, f32)> = ranked
        .iter()
        .filter(|(p, _, _)| !is_test_path(&p.to_lowercase()))
        .take(TESTED_SOURCES)
        .map(|(p, s, _)| (p.clone(), *s))
        .collect();
    for (source, score) in sources {
        let name = source.rsplit('/').next().unwrap_or(&source).to_lowercase();
        let Some(found) = index.tests.get(&name) else { continue };
        for test in found {
            let pulled = TEST_SHARE * score;
            match ranked.iter_mut().find(|(p, _, _)| p == test) {
                Some((_, s, e)) if *s < pulled => {
                    *s = pulled;
                    e.tests_of = source.clone();
                }
                Some(_) => {}
                None => ranked.push((
                    test.clone(),
                    pulled,
                    Evidence {
                        tests_of: source.clone(),
                        ..Evidence::default()
                    },
                )),
            }
        }
    }
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
}

fn flatten(nodes: &[OutlineNode], out: &mut Vec<Symbol>) {
    for n in nodes {
        out.push(n.symbol.clone());
        flatten(&n.children, out);
    }
}

impl Navigator {
    /// The history of the indexed commit, read once from the mirror (or the
    /// fixed navigator's snapshot of that very commit) and cached; empty
    /// when there is none.
    async fn history(&self, at: &IndexRef) -> Arc<Vec<CommitChanges>> {
        if let Some(h) = self.state.history.lock().unwrap_or_else(|e| e.into_inner()).get(at) {
            return h.clone();
        }
        let snap: Option<Arc<dyn RepoSnapshot>> = match &self.scope {
            Scope::Account { engine, .. } => engine
                .inner
                .mirror
                .snapshot(&at.repo_id.to_string(), &at.commit)
                .await
                .ok(),
            Scope::Fixed(_) => self
                .snapshots
                .get(&at.repo_id)
                .filter(|s| s.commit() == at.commit)
                .cloned(),
        };
        let commits = match snap {
            Some(s) => match tokio::task::spawn_blocking(move || s.history(HISTORY_COMMITS)).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    tracing::debug!(commit = %at.commit, error = %e, "no git history for locate");
                    Vec::new()
                }
                Err(_) => Vec::new(),
            },
            None => Vec::new(),
        };
        let h = Arc::new(commits);
        let mut cache = self.state.history.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= HISTORY_CACHE {
            cache.clear();
        }
        cache.insert(at.clone(), h.clone());
        h
    }

    /// Paths of the files the index holds (skipped ones left out), read once
    /// per indexed commit and cached.
    async fn indexed_paths(&self, at: &IndexRef) -> Result<Arc<PathIndex>, lettuce_ports::index::IndexError> {
        if let Some(p) = self.state.paths.lock().unwrap_or_else(|e| e.into_inner()).get(at) {
            return Ok(p.clone());
        }
        let files = self.search.list_files(at, None).await?;
        let paths = Arc::new(PathIndex::new(
            files
                .into_iter()
                .filter(|f| f.skipped.is_none())
                .map(|f| f.path)
                .collect(),
        ));
        let mut cache = self.state.paths.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= HISTORY_CACHE {
            cache.clear();
        }
        cache.insert(at.clone(), paths.clone());
        Ok(paths)
    }

    /// `locate`: the files most likely to need a change for a task, with
    /// the definitions that matter and why, fitted to the budget.
    pub async fn locate(&self, req: LocateRequest) -> Result<Answer<LocateAnswer>, EngineError> {
        let task = req.task.trim();
        if task.is_empty() {
            return Err(
                ValidationError::new("task", "describe the task: an issue title and body, or a question").into(),
            );
        }
        if task.len() > MAX_TASK_BYTES {
            return Err(ValidationError::new(
                "task",
                format!(
                    "the task is {} bytes; at most {MAX_TASK_BYTES} are read — send the title and the relevant part of the body",
                    task.len()
                ),
            )
            .into());
        }
        let budget = clamp_budget(req.max_tokens, budgets::LOCATE);
        let max_files = req.max_files.unwrap_or(8).clamp(1, 30);
        let (r, at) = self.target(req.repo.as_deref()).await?;
        let task_lower = task.to_lowercase();
        let mut ev: HashMap<String, Evidence> = HashMap::new();

        // Words.
        let q = SearchQuery {
            query: task.to_owned(),
            mode: SearchMode::Text,
            case_sensitive: false,
            path: None,
            lang: None,
            max_files: LEXICAL_FILES,
            max_lines_per_file: 12,
        };
        let res = match self.search.search(&at, &q).await {
            Ok(x) => x,
            Err(e) => return Err(self.index_err(&r, e).await),
        };
        let top = res.files.first().map_or(1.0, |f| f.score).max(f32::MIN_POSITIVE);
        for (rank, f) in res.files.iter().enumerate() {
            let e = ev.entry(f.file.path.clone()).or_default();
            // Score share, with a little weight on the rank itself.
            e.lexical = 0.8 * (f.score / top) + 0.2 / (1.0 + rank as f32);
            e.words = f.words.clone();
            for l in &f.lines {
                if let Some(name) = &l.enclosing {
                    let d = e
                        .defs
                        .entry(name.clone())
                        .or_insert((0, String::new(), Trust::Syntactic));
                    d.0 += 1;
                }
            }
        }

        // Names the task spells.
        let names = named_identifiers(task);
        let mut seeds: Vec<(String, String, f32)> = Vec::new(); // (name, defining path, weight)
        for name in &names {
            let sq = SymbolQuery {
                name: name.clone(),
                kind: None,
                path: None,
                lang: None,
                limit: 8,
            };
            let hits = match self.search.symbols(&at, &sq).await {
                Ok(h) => h,
                Err(e) => return Err(self.index_err(&r, e).await),
            };
            let defs: Vec<_> = hits.into_iter().filter(|h| h.matched != NameMatch::Partial).collect();
            if defs.is_empty() {
                continue;
            }
            let share = 1.0 / defs.len() as f32;
            for h in defs {
                let e = ev.entry(h.file.path.clone()).or_default();
                e.named += share;
                let short = h.symbol.name.clone();
                if !e.names.contains(&short) {
                    e.names.push(short.clone());
                }
                let why = if share < 1.0 {
                    format!("named in the task (1 of {} definitions)", (1.0 / share).round())
                } else {
                    "named in the task".to_owned()
                };
                e.defs.insert(h.symbol.qualified_name(), (u32::MAX, why, h.trust));
                seeds.push((short, h.file.path.clone(), share));
            }
        }

        // Graph: callers of the named definitions and of the best lexical
        // file's most matched definitions.
        let mut lexical_seeds: Vec<(String, f32)> = Vec::new();
        if let Some(best) = res.files.first() {
            let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
            for l in &best.lines {
                if let Some(n) = &l.enclosing {
                    *counts.entry(n.as_str()).or_default() += 1;
                }
            }
            let mut by: Vec<(&str, u32)> = counts.into_iter().collect();
            by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            for (n, _) in by.into_iter().take(2) {
                let last = n.rsplit('.').next().unwrap_or(n).to_owned();
                lexical_seeds.push((last, 0.5));
            }
        }
        if !seeds.is_empty() || !lexical_seeds.is_empty() {
            let graph = match self.search.symbol_graph(&at).await {
                Ok(g) => g,
                Err(e) => return Err(self.index_err(&r, e).await),
            };
            let all: Vec<(String, f32)> = seeds
                .iter()
                .map(|(n, _, w)| (n.clone(), *w))
                .chain(lexical_seeds)
                .collect();
            for (name, weight) in all {
                if name.len() < 3 {
                    continue;
                }
                let callers: Vec<&lettuce_ports::index::GraphFile> = graph
                    .files
                    .iter()
                    .filter(|f| f.references.iter().any(|(n, _)| *n == name))
                    .collect();
                if callers.is_empty() || callers.len() > 40 {
                    continue; // unused, or too common to point anywhere
                }
                let w = weight / (1.0 + callers.len() as f32).ln().max(1.0);
                for f in callers {
                    let e = ev.entry(f.file.path.clone()).or_default();
                    e.graph += w;
                    if !e.calls.contains(&name) {
                        e.calls.push(name.clone());
                    }
                }
            }
        }

        // File names the task spells.
        let task_words: Vec<String> = task_lower
            .split(|c: char| !is_word_char(c))
            .filter(|w| w.len() >= 2)
            .map(fold)
            .collect();
        let paths = match self.indexed_paths(&at).await {
            Ok(p) => p,
            Err(e) => return Err(self.index_err(&r, e).await),
        };
        for path in &paths.paths {
            if let Some((share, why)) = path_evidence(path, &task_lower, &task_words) {
                let e = ev.entry(path.clone()).or_default();
                e.path = share;
                e.path_why = why;
            }
        }
        for (path, dir) in named_directories(&paths, &task_words) {
            let e = ev.entry(path).or_default();
            e.dir = true;
            e.dir_why = format!("in {dir}/, which the task names");
        }

        // History: files similar past commits changed (still in the index),
        // co-change with the best candidates, recency for regressions.
        let history = self.history(&at).await;
        for (path, (share, why)) in similar::similar_commit_evidence(&history, task) {
            if paths.contains(&path) {
                let e = ev.entry(path).or_default();
                e.similar = share;
                e.similar_why = why;
            }
        }
        if !ev.is_empty() && !history.is_empty() {
            let mut scored: Vec<(String, f32)> = ev
                .iter()
                .map(|(p, e)| (p.clone(), e.score(p, &task_lower, 0.0)))
                .filter(|(_, s)| *s > 0.0)
                .collect();
            scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            for (path, (boost, why)) in history_evidence(&history, &scored, regression_wording(&task_lower)) {
                let e = ev.entry(path).or_default();
                e.history += boost;
                e.history_why.push(why);
            }
        }

        // Combine.
        let mut ranked: Vec<(String, f32, Evidence)> = ev
            .into_iter()
            .map(|(path, e)| {
                let s = e.score(&path, &task_lower, e.history);
                (path, s, e)
            })
            .filter(|(_, s, _)| *s > 0.0)
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        if task_words.iter().any(|w| w == "test") {
            pull_up_tests(&mut ranked, &paths);
        }

        // Definitions with line ranges, from each file's outline.
        let mut files: Vec<LocatedFile> = Vec::new();
        let mut indexed: HashMap<String, lettuce_ports::index::IndexedFile> = HashMap::new();
        for (path, score, e) in ranked {
            if files.len() == max_files {
                break;
            }
            let mut symbols = Vec::new();
            if let Ok(o) = self.search.outline(&at, &path).await {
                flatten(&o.symbols, &mut symbols);
                indexed.insert(path.clone(), o.file);
            } else if e.base() == 0.0 && e.similar == 0.0 && e.tests_of.is_empty() {
                continue; // known from history only, and no longer in the index
            }
            let mut defs: Vec<(u32, String, String, Trust)> = e
                .defs
                .iter()
                .map(|(q, (n, why, t))| (*n, q.clone(), why.clone(), *t))
                .collect();
            defs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            let mut definitions = Vec::new();
            for (n, qname, why, trust) in defs {
                if definitions.len() == DEFS_PER_FILE {
                    break;
                }
                let Some(sym) = symbols.iter().find(|s| s.qualified_name() == qname) else {
                    continue;
                };
                let why = if n == u32::MAX {
                    why
                } else if n == 1 {
                    "1 matching line".to_owned()
                } else {
                    format!("{n} matching lines")
                };
                definitions.push(LocatedDefinition {
                    symbol: sym.clone(),
                    trust,
                    why,
                });
            }
            let mut reason: Vec<String> = Vec::new();
            if !e.names.is_empty() {
                reason.push(format!("defines {}", e.names.join(", ")));
            }
            if !e.words.is_empty() {
                reason.push(format!("words: {}", e.words.join(", ")));
            }
            if !e.calls.is_empty() {
                let calls: Vec<&str> = e.calls.iter().take(3).map(String::as_str).collect();
                reason.push(format!("uses {}", calls.join(", ")));
            }
            if !e.path_why.is_empty() {
                reason.push(e.path_why.clone());
            }
            if !e.dir_why.is_empty() {
                reason.push(e.dir_why.clone());
            }
            if !e.similar_why.is_empty() {
                reason.push(e.similar_why.clone());
            }
            if !e.tests_of.is_empty() {
                reason.push(format!("tests {}", e.tests_of));
            }
            reason.extend(e.history_why.iter().cloned());
            let trust = if e.named > 0.0 || (e.graph > 0.0 && e.lexical == 0.0) {
                Trust::Syntactic
            } else {
                Trust::Text
            };
            files.push(LocatedFile {
                path,
                score,
                reason: reason.join("; "),
                trust,
                definitions,
            });
        }

        // Render.
        let mut b = Budgeted::new(self.tokens.as_ref(), room(budget));
        if files.is_empty() {
            let words = if res.absent.is_empty() {
                String::new()
            } else {
                format!(" (not found anywhere: {})", res.absent.join(", "))
            };
            b.push(&format!(
                "no file matches the task's words or names{words}; rephrase with identifiers, file names or error messages\n"
            ));
        } else {
            b.push("files to change, most likely first; [syntactic] = definitions/calls found in the syntax tree, [text] = words or git history only\n");
        }
        let mut shown = Vec::new();
        for (i, f) in files.into_iter().enumerate() {
            let mut chunk = format!("{}. {} [{}] — {}\n", i + 1, f.path, f.trust.as_str(), f.reason);
            for d in &f.definitions {
                let s = &d.symbol;
                chunk.push_str(&format!(
                    "   {}-{} {} {} — {}\n",
                    s.start_line,
                    s.end_line,
                    s.kind,
                    s.qualified_name(),
                    d.why
                ));
            }
            if b.push(&chunk) {
                shown.push(f);
            }
        }
        let shortened = b.shortened().then(|| {
            footer_note(
                "files",
                b.dropped,
                budget,
                "raise max_tokens, or read_symbol the definitions shown",
            )
        });
        let full = self
            .files_tokens(
                shown
                    .iter()
                    .filter_map(|f| indexed.get(&f.path))
                    .map(|f| (at.clone(), f.clone()))
                    .collect(),
            )
            .await;
        let repo = Self::commit_of(&r, &at);
        let data = LocateAnswer {
            repo: repo.clone(),
            files: shown,
            absent: res.absent.clone(),
        };
        Ok(self.finish("locate", data, b.into_text(), full, vec![repo], shortened))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelled_identifiers() {
        let t = "cli loader handles kwargs in app factory: `create_app` and find_best_app() via flask.cli; parseUrl";
        let n = named_identifiers(t);
        assert_eq!(n, ["create_app", "find_best_app", "flask", "cli", "parseUrl"], "{n:?}");
        assert!(named_identifiers("all teardown callbacks are called despite errors").is_empty());
    }

    fn commit(id: &str, day: i64, subject: &str, paths: &[&str]) -> CommitChanges {
        let mut paths: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
        paths.sort();
        CommitChanges {
            id: id.to_owned(),
            time: 1_700_000_000 + day * DAY,
            subject: subject.to_owned(),
            paths,
        }
    }

    #[test]
    fn regression_words() {
        assert!(regression_wording("login no longer works since 2.1"));
        assert!(regression_wording("regression: parse broke"));
        assert!(!regression_wording("add a sincere greeting to the brokerage page"));
    }

    #[test]
    fn history_links_and_recency() {
        let history = vec![
            commit("c3c3c3c3aa", 10, "tweak b", &["b.py"]),
            commit("c2c2c2c2aa", 5, "a with c", &["a.py", "c.py"]),
            commit("c1c1c1c1aa", 1, "a with c again", &["a.py", "c.py", "d.py"]),
        ];
        let scored = vec![("a.py".to_owned(), 2.0), ("b.py".to_owned(), 1.0)];
        let h = history_evidence(&history, &scored, false);
        let (w, why) = &h["c.py"];
        assert!(*w > 0.0);
        assert_eq!(why, "changes with a.py (2 commits)");
        assert!(!h.contains_key("d.py"), "one shared commit is no link");
        assert!(!h.contains_key("b.py"), "no recency without regression wording");
        let h = history_evidence(&history, &scored, true);
        assert_eq!(h["b.py"].1, "changed in the latest day in c3c3c3c tweak b");
        assert_eq!(h["a.py"].1, "changed 5 days ago in c2c2c2c a with c");
        assert!(h["b.py"].0 > h["a.py"].0, "newer first");
        assert!(history_evidence(&[], &scored, true).is_empty());
    }

    #[test]
    fn file_names_the_task_spells() {
        let ev = |path: &str, task: &str| {
            let lower = task.to_lowercase();
            let words: Vec<String> = lower
                .split(|c: char| !is_word_char(c))
                .filter(|w| w.len() >= 2)
                .map(fold)
                .collect();
            path_evidence(path, &lower, &words)
        };
        assert_eq!(ev("cobra.go", "Add tests for funcs in cobra.go").unwrap().0, 1.0);
        assert_eq!(
            ev(
                "fish_completions_test.go",
                "test: make fish_completions_test more robust"
            )
            .unwrap()
            .1,
            "the task names fish_completions_test.go"
        );
        assert_eq!(
            ev("args.go", "Add cobra unique args validator").unwrap(),
            (1.0, "file name matches arg".to_owned())
        );
        assert_eq!(
            ev("fish_completions.go", "Fix typo in fish completions").unwrap().0,
            1.0
        );
        assert_eq!(ev("zsh_completions.go", "Fix typo in fish completions").unwrap().0, 0.5);
        assert!(
            ev("src/flask/__init__.py", "fix init of the app").is_none(),
            "generic names never match"
        );
        assert!(ev("src/flask/cli.py", "all teardown callbacks are called despite errors").is_none());
        assert!(
            ev("src/flask/app.py", "the application factory").is_none(),
            "whole words only"
        );
    }

    fn words(task: &str) -> Vec<String> {
        task.to_lowercase()
            .split(|c: char| !is_word_char(c))
            .filter(|w| w.len() >= 2)
            .map(fold)
            .collect()
    }

    #[test]
    fn directories_the_task_names() {
        let mut paths: Vec<String> = (0..20).map(|i| format!("src/m{i}.py")).collect();
        paths.extend(
            [
                ".github/workflows/tests.yaml",
                ".github/workflows/lock.yaml",
                ".github/ISSUE_TEMPLATE/bug.md",
                "requirements/dev.txt",
                "crates/ignore/src/walk.rs",
                "crates/ignore/src/dir.rs",
                "crates/cli/src/lib.rs",
            ]
            .map(str::to_owned),
        );
        let index = PathIndex::new(paths.clone());
        let found = |task: &str| -> Vec<(String, String)> { named_directories(&index, &words(task)) };
        assert_eq!(
            found("set workflow permissions"),
            [
                (
                    ".github/workflows/tests.yaml".to_owned(),
                    ".github/workflows".to_owned()
                ),
                (".github/workflows/lock.yaml".to_owned(), ".github/workflows".to_owned()),
            ],
            "plural folded, innermost directory"
        );
        assert_eq!(
            found("ignore: fix reference cycle")
                .iter()
                .map(|(p, d)| (p.as_str(), d.as_str()))
                .collect::<Vec<_>>(),
            [
                ("crates/ignore/src/walk.rs", "crates/ignore"),
                ("crates/ignore/src/dir.rs", "crates/ignore")
            ]
        );
        assert_eq!(found("update requirements").len(), 1);
        assert!(found("move code out of src").is_empty(), "generic names never count");
        assert!(found("all teardown callbacks are called despite errors").is_empty());
        // A directory with over a fifth of the files points nowhere.
        let mut big = paths.clone();
        big.extend((0..20).map(|i| format!("requirements/r{i}.txt")));
        assert!(named_directories(&PathIndex::new(big), &words("update requirements")).is_empty());
    }

    #[test]
    fn a_file_or_directory_the_task_asks_for_is_not_down_weighted() {
        let doc = "projects_using_cobra.md";
        let task = "add allero to the list of projects using cobra";
        let mut e = Evidence {
            lexical: 0.5,
            ..Evidence::default()
        };
        let plain = e.score(doc, task, 0.0);
        assert!(plain < 0.5, "a doc weighs less by default");
        let (share, why) = path_evidence(doc, task, &words(task)).unwrap();
        assert_eq!((share, why.as_str()), (1.0, "file name matches project, using, cobra"));
        e.path = share;
        assert!(e.score(doc, task, 0.0) > 1.0, "every word of its name: asked for");
        let mut d = Evidence {
            lexical: 0.5,
            dir: true,
            ..Evidence::default()
        };
        assert!(d.score("requirements/dev.txt", "update requirements", 0.0) > 0.7);
        d.dir = false;
        assert!(d.score("requirements/dev.txt", "update requirements", 0.0) < 0.2);
    }

    #[test]
    fn test_files_name_what_they_test() {
        assert_eq!(tested_name("args_test.go").as_deref(), Some("args.go"));
        assert_eq!(tested_name("tests/test_ctx.py").as_deref(), Some("ctx.py"));
        assert_eq!(tested_name("src/Button.test.tsx").as_deref(), Some("button.tsx"));
        assert_eq!(tested_name("lib/parser_spec.rb").as_deref(), Some("parser.rb"));
        assert_eq!(tested_name("src/FooTest.java").as_deref(), Some("foo.java"));
        assert_eq!(tested_name("tests/conftest.py"), None);
        assert_eq!(tested_name("args.go"), None);
        assert!(is_test_path("src/button.test.tsx") && !is_test_path("src/latest.rs"));
    }

    #[test]
    fn a_task_about_tests_pulls_up_the_test_files_of_the_best_sources() {
        let index = PathIndex::new(
            [
                "args.go",
                "args_test.go",
                "command.go",
                "command_test.go",
                "zsh_test.go",
            ]
            .map(String::from)
            .to_vec(),
        );
        let mut ranked = vec![
            ("command.go".to_owned(), 1.0, Evidence::default()),
            ("args.go".to_owned(), 0.9, Evidence::default()),
            ("command_test.go".to_owned(), 0.95, Evidence::default()),
            ("zsh_test.go".to_owned(), 0.5, Evidence::default()),
        ];
        assert!(index.contains("args_test.go") && index.contains("zsh_test.go") && !index.contains("args"));
        pull_up_tests(&mut ranked, &index);
        let order: Vec<&str> = ranked.iter().map(|r| r.0.as_str()).collect();
        // Each test file just above its source; an unrelated test stays.
        assert_eq!(
            order,
            [
                "command_test.go",
                "command.go",
                "args_test.go",
                "args.go",
                "zsh_test.go"
            ]
        );
        assert!((ranked[2].1 - 0.945).abs() < 1e-6);
        assert_eq!(ranked[2].2.tests_of, "args.go");
        assert_eq!(ranked[0].2.tests_of, "command.go");
        assert_eq!(ranked[4].1, 0.5);
        // A test file already above its source keeps its own score.
        let mut ranked = vec![
            ("args_test.go".to_owned(), 2.0, Evidence::default()),
            ("args.go".to_owned(), 1.0, Evidence::default()),
        ];
        pull_up_tests(&mut ranked, &index);
        assert_eq!(ranked[0].1, 2.0);
        assert!(ranked[0].2.tests_of.is_empty());
    }

    #[test]
    fn weights() {
        assert_eq!(path_weight("src/app.py", "x"), 1.0);
        assert!(path_weight("tests/test_app.py", "x") < 1.0);
        assert_eq!(path_weight("tests/test_app.py", "add a test"), 1.0);
        assert!(path_weight("CHANGES.rst", "x") < 0.2);
        assert_eq!(path_weight("CHANGES.rst", "update changes.rst"), 1.0, "named outright");
        assert!(path_weight("docs/server.rst", "fix the server") < 1.0);
        assert_eq!(path_weight("docs/server.rst", "update server.rst"), 1.0);
    }
}
