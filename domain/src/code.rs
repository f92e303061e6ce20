//! Code navigation: languages, symbols, outlines, repository paths and the
//! identifier rules search is built on. Pure values and functions.

use crate::ValidationError;
use serde::{Deserialize, Serialize};

/// Longest accepted repository path, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;

/// A definition found in a file: a function, class, method, type, …
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    /// The defined name (`parse_url`, `HttpClient`).
    pub name: String,
    /// What it is, from the language's tags query: `function`, `method`,
    /// `class`, `interface`, `module`, `macro`, `constant`, `type`, …
    pub kind: String,
    /// Names of the enclosing definitions, outermost first, joined with `.`
    /// (`HttpClient` for a method of `HttpClient`); `None` at top level.
    pub container: Option<String>,
    /// First line of the definition (1-based).
    pub start_line: u32,
    /// Last line of the definition (1-based, inclusive).
    pub end_line: u32,
    /// Byte offset where the definition starts.
    pub start_byte: u64,
    /// Byte offset just past the definition.
    pub end_byte: u64,
    /// The line that declares the name, trimmed and at most
    /// [`MAX_SIGNATURE_CHARS`] characters.
    pub signature: String,
    /// The doc comment or docstring, when the language has one.
    pub doc: Option<String>,
}

/// Longest signature kept for a symbol, in characters.
pub const MAX_SIGNATURE_CHARS: usize = 240;

impl Symbol {
    /// `container.name`, or the name at top level.
    pub fn qualified_name(&self) -> String {
        match &self.container {
            Some(c) => format!("{c}.{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Number of lines the definition spans.
    pub fn line_count(&self) -> u32 {
        self.end_line.saturating_sub(self.start_line) + 1
    }
}

/// How a definition or reference in an answer was found: what an agent may
/// trust it for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trust {
    /// From the syntax tree (tree-sitter, ruff for Python): a definition, or an identifier
    /// occurrence matched by name (not resolved by type: a same-named
    /// identifier elsewhere also counts).
    Syntactic,
    /// A lexical match only (words in text, comments, strings).
    Text,
    /// Resolved by a compiler-grade index (reserved for a precise-index import).
    Precise,
}

impl Trust {
    /// The label answers print: `syntactic`, `text`, `precise`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trust::Syntactic => "syntactic",
            Trust::Text => "text",
            Trust::Precise => "precise",
        }
    }
}

/// A symbol and the symbols nested in it: one node of a file outline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutlineNode {
    /// The definition.
    pub symbol: Symbol,
    /// Definitions inside it, in source order.
    pub children: Vec<OutlineNode>,
}

/// Token accounting of one answer: what it cost and what reading the files
/// it stands for would have cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenAccount {
    /// Tokens of the answer as returned.
    pub returned: u64,
    /// Tokens of the whole files the answer stands for.
    pub full: u64,
}

impl TokenAccount {
    /// Tokens the answer saved: `full - returned`, never negative.
    pub fn saved(&self) -> u64 {
        self.full.saturating_sub(self.returned)
    }
}

/// Nests `symbols` (any order) by their byte ranges into an outline: a
/// symbol is the child of the smallest other symbol that contains it. The
/// result is in source order at every level.
pub fn build_outline(symbols: &[Symbol]) -> Vec<OutlineNode> {
    let mut order: Vec<usize> = (0..symbols.len()).collect();
    // Outer first: by start ascending, then by end descending.
    order.sort_by(|&a, &b| {
        let (x, y) = (&symbols[a], &symbols[b]);
        x.start_byte.cmp(&y.start_byte).then(y.end_byte.cmp(&x.end_byte))
    });
    let mut roots: Vec<OutlineNode> = Vec::new();
    // Stack of (end_byte, path of indexes into the tree).
    let mut stack: Vec<(u64, Vec<usize>)> = Vec::new();
    for i in order {
        let s = &symbols[i];
        while stack
            .last()
            .is_some_and(|(end, _)| s.start_byte >= *end || s.end_byte > *end)
        {
            stack.pop();
        }
        let node = OutlineNode {
            symbol: s.clone(),
            children: Vec::new(),
        };
        let path = match stack.last() {
            None => {
                roots.push(node);
                vec![roots.len() - 1]
            }
            Some((_, parent_path)) => {
                let parent = node_at(&mut roots, parent_path);
                parent.children.push(node);
                let mut p = parent_path.clone();
                p.push(parent.children.len() - 1);
                p
            }
        };
        stack.push((s.end_byte, path));
    }
    roots
}

fn node_at<'a>(roots: &'a mut [OutlineNode], path: &[usize]) -> &'a mut OutlineNode {
    let (first, rest) = path.split_first().expect("outline paths are never empty");
    let mut node = &mut roots[*first];
    for &i in rest {
        node = &mut node.children[i];
    }
    node
}

/// Normalises a path inside a repository as users and agents type it
/// (`./src/lib.rs`, `src//lib.rs`) to the stored form (`src/lib.rs`), and
/// refuses anything that could leave the repository: absolute paths, `..`
/// segments, backslashes, NUL and control characters.
pub fn normalize_repo_path(input: &str) -> Result<String, ValidationError> {
    let bad = |msg: &str| Err(ValidationError::new("path", msg));
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return bad("the path is empty: give a file path relative to the repository root, e.g. src/main.rs");
    }
    if trimmed.len() > MAX_PATH_BYTES {
        return bad("the path is longer than 4096 bytes");
    }
    if trimmed.chars().any(|c| c.is_control()) {
        return bad("the path contains control characters");
    }
    if trimmed.contains('\\') {
        return bad("use `/` to separate directories; backslashes are not allowed");
    }
    if trimmed.starts_with('/') {
        return bad("the path must be relative to the repository root (no leading `/`)");
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in trimmed.split('/') {
        match seg {
            "" | "." => {}
            ".." => return bad("`..` is not allowed: paths cannot leave the repository"),
            s => out.push(s),
        }
    }
    if out.is_empty() {
        return bad("the path names the repository root, not a file");
    }
    Ok(out.join("/"))
}

/// Whether `c` can be part of an identifier-like word for search.
pub fn is_word_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Splits an identifier into its parts at `_` and at case and digit
/// boundaries: `parse_url` → `parse`, `url`; `HTTPServerError` → `HTTP`,
/// `Server`, `Error`; `utf8Decode` → `utf`, `8`, `Decode`. Empty parts are
/// never returned. The parts are slices of `word`, in order.
pub fn split_identifier(word: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    for chunk in word.split('_') {
        split_case(chunk, &mut parts);
    }
    parts
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CharClass {
    Lower,
    Upper,
    Digit,
    Other,
}

fn class_of(c: char) -> CharClass {
    if c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric()) {
        CharClass::Digit
    } else if c.is_uppercase() {
        CharClass::Upper
    } else if c.is_lowercase() {
        CharClass::Lower
    } else {
        CharClass::Other
    }
}

fn split_case<'a>(chunk: &'a str, parts: &mut Vec<&'a str>) {
    if chunk.is_empty() {
        return;
    }
    if chunk.is_ascii() {
        // Byte offsets are char offsets: no char table needed.
        let b = chunk.as_bytes();
        let class = |c: u8| class_of(c as char);
        split_at_boundaries(chunk, b.len(), |i| class(b[i]), |i| i, parts);
    } else {
        let chars: Vec<(usize, char)> = chunk.char_indices().collect();
        split_at_boundaries(chunk, chars.len(), |i| class_of(chars[i].1), |i| chars[i].0, parts);
    }
}

/// Pushes the parts of `chunk` (`n` chars; `class(i)` and `offset(i)` of
/// char `i`) split at case and digit boundaries.
fn split_at_boundaries<'a>(
    chunk: &'a str,
    n: usize,
    class: impl Fn(usize) -> CharClass,
    offset: impl Fn(usize) -> usize,
    parts: &mut Vec<&'a str>,
) {
    let mut start = 0usize;
    for i in 1..n {
        let prev = class(i - 1);
        let cur = class(i);
        let boundary = match (prev, cur) {
            (CharClass::Lower, CharClass::Upper) => true,
            // `HTTPServer`: the boundary is before the last capital of a run.
            (CharClass::Upper, CharClass::Upper) => i + 1 < n && class(i + 1) == CharClass::Lower,
            (CharClass::Digit, CharClass::Digit) => false,
            (CharClass::Digit, _) | (_, CharClass::Digit) => true,
            _ => false,
        };
        if boundary {
            let at = offset(i);
            parts.push(&chunk[start..at]);
            start = at;
        }
    }
    parts.push(&chunk[start..]);
}

/// Splits a possibly qualified symbol name (`Foo.bar`, `a::b::c`,
/// `Klass#meth`, `obj->m`) into its container (normalised to `.`) and the
/// bare name.
pub fn split_qualified_name(s: &str) -> (Option<String>, String) {
    let s = s.trim();
    for sep in ["::", "->", "#", "."] {
        if let Some((container, name)) = s.rsplit_once(sep)
            && !name.is_empty()
            && !container.is_empty()
        {
            let container = container.replace("::", ".").replace("->", ".").replace('#', ".");
            return (Some(container), name.to_owned());
        }
    }
    (None, s.to_owned())
}

/// A language label for a file, from its name and (for scripts without an
/// extension) its first line: `rust`, `python`, `typescript`, `tsx`,
/// `markdown`, … `None` when unknown.
pub fn detect_language(path: &str, first_line: &[u8]) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name {
        "Dockerfile" => return Some("dockerfile"),
        "Makefile" | "GNUmakefile" => return Some("make"),
        "CMakeLists.txt" => return Some("cmake"),
        "Rakefile" | "Gemfile" | "Podfile" | "Vagrantfile" => return Some("ruby"),
        "BUILD" | "WORKSPACE" | "BUILD.bazel" => return Some("starlark"),
        ".bashrc" | ".bash_profile" | ".profile" | ".zshrc" => return Some("bash"),
        _ => {}
    }
    if let Some((stem, ext)) = name.rsplit_once('.')
        && !stem.is_empty()
        && let Some(lang) = language_for_extension(&ext.to_ascii_lowercase())
    {
        return Some(lang);
    }
    shebang_language(first_line)
}

fn language_for_extension(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "rs" => "rust",
        "py" | "pyi" | "pyw" => "python",
        "js" | "mjs" | "cjs" | "jsx" => "javascript",
        "ts" | "mts" | "cts" => "typescript",
        "tsx" => "tsx",
        "go" => "go",
        "java" => "java",
        "c" | "h" => "c",
        "cc" | "cpp" | "cxx" | "c++" | "hpp" | "hh" | "hxx" | "h++" | "ipp" | "inl" => "cpp",
        "cs" => "csharp",
        "rb" | "rake" | "gemspec" => "ruby",
        "php" | "phtml" => "php",
        "kt" | "kts" => "kotlin",
        "swift" => "swift",
        "scala" | "sc" | "sbt" => "scala",
        "sh" | "bash" | "zsh" | "ksh" => "bash",
        "md" | "markdown" | "mdx" => "markdown",
        "rst" => "rst",
        "txt" => "text",
        "json" | "jsonc" => "json",
        "yaml" | "yml" => "yaml",
        "toml" => "toml",
        "ini" | "cfg" | "conf" => "ini",
        "html" | "htm" => "html",
        "css" => "css",
        "scss" | "sass" => "scss",
        "sql" => "sql",
        "proto" => "protobuf",
        "lua" => "lua",
        "dart" => "dart",
        "ex" | "exs" => "elixir",
        "erl" | "hrl" => "erlang",
        "hs" => "haskell",
        "ml" | "mli" => "ocaml",
        "r" => "r",
        "pl" | "pm" => "perl",
        "vue" => "vue",
        "svelte" => "svelte",
        "xml" | "xsd" | "xsl" => "xml",
        "gradle" => "groovy",
        "tf" | "hcl" => "hcl",
        _ => return None,
    })
}

fn shebang_language(first_line: &[u8]) -> Option<&'static str> {
    let line = first_line.strip_prefix(b"#!")?;
    let line = std::str::from_utf8(line).ok()?.trim();
    let mut words = line.split_whitespace();
    let mut prog = words.next()?.rsplit('/').next()?;
    if prog == "env" {
        prog = words.find(|w| !w.starts_with('-'))?;
    }
    let prog = prog.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    Some(match prog {
        "python" | "pypy" => "python",
        "bash" | "sh" | "zsh" | "dash" | "ksh" => "bash",
        "node" | "nodejs" | "deno" | "bun" => "javascript",
        "ruby" => "ruby",
        "php" => "php",
        "perl" => "perl",
        "kotlin" => "kotlin",
        "swift" => "swift",
        "scala" => "scala",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(name: &str, start: u64, end: u64) -> Symbol {
        Symbol {
            name: name.into(),
            kind: "function".into(),
            container: None,
            start_line: start as u32,
            end_line: end as u32,
            start_byte: start,
            end_byte: end,
            signature: name.into(),
            doc: None,
        }
    }

    #[test]
    fn outline_nests_by_range() {
        let syms = vec![sym("m2", 30, 40), sym("C", 10, 50), sym("m1", 12, 20), sym("f", 60, 70)];
        let outline = build_outline(&syms);
        assert_eq!(outline.len(), 2);
        assert_eq!(outline[0].symbol.name, "C");
        let kids: Vec<_> = outline[0].children.iter().map(|n| n.symbol.name.as_str()).collect();
        assert_eq!(kids, ["m1", "m2"]);
        assert_eq!(outline[1].symbol.name, "f");
        assert!(outline[1].children.is_empty());
        // Same range twice: the second nests in the first, nothing is lost.
        let same = build_outline(&[sym("a", 0, 5), sym("b", 0, 5)]);
        assert_eq!(same.len(), 1);
        assert_eq!(same[0].children.len(), 1);
    }

    #[test]
    fn paths_are_normalised_and_escapes_refused() {
        assert_eq!(normalize_repo_path("./src//lib.rs").unwrap(), "src/lib.rs");
        assert_eq!(normalize_repo_path(" a/./b.py ").unwrap(), "a/b.py");
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../b",
            "a\\b",
            "a\0b",
            ".",
            "./",
            "a/\nb",
        ] {
            let err = normalize_repo_path(bad).unwrap_err();
            assert_eq!(err.field, "path", "{bad:?}");
        }
        assert!(normalize_repo_path(&"a/".repeat(3000)).is_err());
    }

    #[test]
    fn identifiers_split_at_case_digits_and_underscores() {
        let cases: &[(&str, &[&str])] = &[
            ("parse_url", &["parse", "url"]),
            ("HTTPServerError", &["HTTP", "Server", "Error"]),
            ("utf8Decode", &["utf", "8", "Decode"]),
            ("getX", &["get", "X"]),
            ("__init__", &["init"]),
            ("ABC", &["ABC"]),
            ("simple", &["simple"]),
            ("v2_1", &["v", "2", "1"]),
            ("ÉtéHiver", &["Été", "Hiver"]),
            ("_", &[]),
        ];
        for (word, want) in cases {
            assert_eq!(split_identifier(word), *want, "{word}");
        }
    }

    #[test]
    fn qualified_names() {
        assert_eq!(split_qualified_name("Foo.bar"), (Some("Foo".into()), "bar".into()));
        assert_eq!(split_qualified_name("a::b::c"), (Some("a.b".into()), "c".into()));
        assert_eq!(
            split_qualified_name("Klass#meth"),
            (Some("Klass".into()), "meth".into())
        );
        assert_eq!(split_qualified_name("plain"), (None, "plain".into()));
        assert_eq!(split_qualified_name(".x"), (None, ".x".into()));
    }

    #[test]
    fn languages_by_extension_name_and_shebang() {
        assert_eq!(detect_language("src/main.rs", b""), Some("rust"));
        assert_eq!(detect_language("a/b.TSX", b""), Some("tsx"));
        assert_eq!(detect_language("a/b.ts", b""), Some("typescript"));
        assert_eq!(detect_language("x.hpp", b""), Some("cpp"));
        assert_eq!(detect_language("Rakefile", b""), Some("ruby"));
        assert_eq!(detect_language("bin/tool", b"#!/usr/bin/env python3"), Some("python"));
        assert_eq!(detect_language("bin/run", b"#!/bin/bash -e"), Some("bash"));
        assert_eq!(
            detect_language("bin/srv", b"#!/usr/bin/env -S node --flag"),
            Some("javascript")
        );
        assert_eq!(detect_language(".gitignore", b""), None);
        assert_eq!(detect_language("LICENSE", b"MIT"), None);
        assert_eq!(detect_language("data.bin", b""), None);
    }
}
