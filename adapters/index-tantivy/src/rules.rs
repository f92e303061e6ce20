//! Which files are indexed: skip rules by path (vendored directories,
//! generated and lock files, operator globs, the repository's
//! `.lettuceignore`), by size, and by content (binary, generated markers,
//! minified code).

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

/// Default size limit: larger files are listed but not indexed.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1024 * 1024;
/// How much of a file the binary check looks at.
pub const BINARY_SNIFF_BYTES: usize = 8 * 1024;
/// The repository file with extra exclusion globs, one per line.
pub const IGNORE_FILE: &str = ".lettuceignore";

/// Why a file's contents are not indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SkipReason {
    /// Under a vendored or build-output directory.
    Vendored,
    /// A generated, lock or minified file.
    Generated,
    /// Larger than the size limit.
    TooLarge,
    /// Binary (a NUL byte near the start) or not UTF-8 text.
    Binary,
    /// Excluded by the operator (`LETTUCE_INDEX_EXCLUDE`) or by the
    /// repository's `.lettuceignore`.
    Ignored,
}

impl SkipReason {
    /// Stable name (`vendored`, `generated`, `too_large`, `binary`, `ignored`).
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Vendored => "vendored",
            SkipReason::Generated => "generated",
            SkipReason::TooLarge => "too_large",
            SkipReason::Binary => "binary",
            SkipReason::Ignored => "ignored",
        }
    }
}

/// Directories whose contents are third-party code or build output.
const VENDORED_DIRS: &[&str] = &[
    "node_modules",
    "vendor",
    "third_party",
    "third-party",
    "dist",
    "build",
    "target",
    "bower_components",
    "__pycache__",
    ".git",
    ".venv",
    "venv",
    ".tox",
    ".mypy_cache",
    ".next",
    "Pods",
];
/// Whole file names that are generated.
const GENERATED_NAMES: &[&str] = &[
    "package-lock.json",
    "pnpm-lock.yaml",
    "yarn.lock",
    "Cargo.lock",
    "poetry.lock",
    "composer.lock",
    "Gemfile.lock",
    "go.sum",
];
/// File name suffixes that mark generated files.
const GENERATED_SUFFIXES: &[&str] = &[
    ".min.js",
    ".min.css",
    ".lock",
    ".pb.go",
    "_pb2.py",
    "_pb2_grpc.py",
    ".pb.cc",
    ".pb.h",
    ".map",
    ".designer.cs",
];

/// The skip rules of one index run.
#[derive(Debug, Clone)]
pub struct SkipRules {
    max_file_bytes: u64,
    operator: GlobSet,
    repo: GlobSet,
}

/// A glob that could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadGlob {
    /// The pattern.
    pub pattern: String,
    /// Why.
    pub message: String,
}

impl std::fmt::Display for BadGlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid glob {:?}: {}", self.pattern, self.message)
    }
}

/// Compiles gitignore-style lines: `#` comments, blank lines skipped; a
/// pattern without `/` matches the name at any depth; a pattern that names
/// a directory excludes everything under it (a trailing `/` is allowed); a
/// leading `/` anchors at the root.
pub fn compile_globs<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<GlobSet, BadGlob> {
    let mut b = GlobSetBuilder::new();
    for raw in patterns {
        let p = raw.trim();
        if p.is_empty() || p.starts_with('#') {
            continue;
        }
        let body = p.trim_end_matches('/');
        let anchored = body.starts_with('/');
        let body = body.trim_start_matches('/');
        let base = if anchored || body.contains('/') {
            body.to_owned()
        } else {
            format!("**/{body}")
        };
        // The pattern itself, and everything under it when it names a directory.
        for pat in [base.clone(), format!("{base}/**")] {
            let glob = Glob::new(&pat).map_err(|e| BadGlob {
                pattern: raw.to_owned(),
                message: e.kind().to_string(),
            })?;
            b.add(glob);
        }
    }
    b.build().map_err(|e| BadGlob {
        pattern: String::new(),
        message: e.to_string(),
    })
}

impl SkipRules {
    /// Rules with the default size limit and no extra globs.
    pub fn new(max_file_bytes: u64, operator_globs: GlobSet) -> Self {
        Self {
            max_file_bytes,
            operator: operator_globs,
            repo: GlobSet::empty(),
        }
    }

    /// These rules plus the repository's `.lettuceignore` lines. Invalid
    /// lines are ignored with a warning (the repository is not the
    /// operator's to fix).
    pub fn with_repo_ignore(mut self, contents: &str) -> Self {
        let valid: Vec<&str> = contents
            .lines()
            .filter(|l| match compile_globs([*l]) {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "ignoring a line of {IGNORE_FILE}");
                    false
                }
            })
            .collect();
        self.repo = compile_globs(valid).unwrap_or_else(|_| GlobSet::empty());
        self
    }

    /// The size limit.
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_bytes
    }

    /// The reason implied by the path and size alone, if any.
    pub fn by_path(&self, path: &str, size: u64) -> Option<SkipReason> {
        if self.operator.is_match(path) || self.repo.is_match(path) {
            return Some(SkipReason::Ignored);
        }
        let mut segments: Vec<&str> = path.split('/').collect();
        let name = segments.pop().unwrap_or_default();
        if segments.iter().any(|dir| VENDORED_DIRS.contains(dir)) {
            return Some(SkipReason::Vendored);
        }
        let generated = GENERATED_NAMES.contains(&name)
            || GENERATED_SUFFIXES
                .iter()
                .any(|s| name.len() > s.len() && name.ends_with(s))
            || name.find("_generated.").is_some_and(|i| i > 0)
            || name.find(".generated.").is_some_and(|i| i > 0);
        if generated {
            return Some(SkipReason::Generated);
        }
        (size > self.max_file_bytes).then_some(SkipReason::TooLarge)
    }
}

/// The reason implied by the contents, if any: binary data, a generated
/// marker in the first lines, or minified code (very long lines).
pub fn by_content(bytes: &[u8]) -> Option<SkipReason> {
    if bytes[..bytes.len().min(BINARY_SNIFF_BYTES)].contains(&0) {
        return Some(SkipReason::Binary);
    }
    let head_end = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(4)
        .map_or(bytes.len().min(2048), |(i, _)| i)
        .min(2048);
    let head = String::from_utf8_lossy(&bytes[..head_end]);
    if head.contains("@generated")
        || (head.contains("Code generated") && head.contains("DO NOT EDIT"))
        || head.contains("<auto-generated")
    {
        return Some(SkipReason::Generated);
    }
    if bytes.len() > 4096 {
        let lines = bytes.iter().filter(|b| **b == b'\n').count() + 1;
        if bytes.len() / lines > 1000 {
            return Some(SkipReason::Generated);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> SkipRules {
        SkipRules::new(
            DEFAULT_MAX_FILE_BYTES,
            compile_globs(["docs/", "*.snap", "/top.py"]).unwrap(),
        )
    }

    #[test]
    fn path_rules() {
        let r = rules().with_repo_ignore("# comment\nfixtures/big/\n[bad\n*.golden\n");
        let cases: &[(&str, Option<SkipReason>)] = &[
            ("node_modules/x/index.js", Some(SkipReason::Vendored)),
            ("a/vendor/lib.go", Some(SkipReason::Vendored)),
            ("app.min.js", Some(SkipReason::Generated)),
            ("Cargo.lock", Some(SkipReason::Generated)),
            ("api/x.pb.go", Some(SkipReason::Generated)),
            ("src/schema_generated.rs", Some(SkipReason::Generated)),
            ("docs/a/b.md", Some(SkipReason::Ignored)),
            ("x/y.snap", Some(SkipReason::Ignored)),
            ("top.py", Some(SkipReason::Ignored)),
            ("sub/top.py", None),
            ("fixtures/big/data.json", Some(SkipReason::Ignored)),
            ("t/out.golden", Some(SkipReason::Ignored)),
            ("src/build.rs", None),
            ("vendor.go", None),
            ("_generated.rs", None),
            ("src/main.rs", None),
        ];
        for (p, want) in cases {
            assert_eq!(r.by_path(p, 10), *want, "{p}");
        }
        assert_eq!(
            r.by_path("src/main.rs", DEFAULT_MAX_FILE_BYTES + 1),
            Some(SkipReason::TooLarge)
        );
        assert!(compile_globs(["[oops"]).is_err());
    }

    #[test]
    fn content_rules() {
        assert_eq!(by_content(b"ab\0c"), Some(SkipReason::Binary));
        assert_eq!(
            by_content(b"// Code generated by protoc. DO NOT EDIT.\npackage x\n"),
            Some(SkipReason::Generated)
        );
        assert_eq!(by_content(b"# @generated by tool\n"), Some(SkipReason::Generated));
        let minified = format!("var a={};", "x".repeat(9000));
        assert_eq!(by_content(minified.as_bytes()), Some(SkipReason::Generated));
        assert_eq!(by_content(b"fn main() {}\n"), None);
        let mut late = vec![b'a'; BINARY_SNIFF_BYTES];
        late.push(0);
        late.extend(std::iter::repeat_n(b'\n', 100));
        assert_eq!(by_content(&late), None);
    }
}
