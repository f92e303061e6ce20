//! The languages whose symbols are extracted: each a tree-sitter grammar
//! from crates.io with its tags query (definitions only), and the node kinds
//! that count as identifiers for references.

use std::collections::HashMap;
use std::sync::OnceLock;
use tree_sitter::{CaptureQuantifier, Language, Query};

/// Language labels with a grammar, as `lettuce_domain::code::detect_language`
/// names them.
pub const PARSED_LANGUAGES: &[&str] = &[
    "rust",
    "python",
    "javascript",
    "typescript",
    "tsx",
    "go",
    "java",
    "c",
    "cpp",
    "csharp",
    "ruby",
    "php",
    "kotlin",
    "swift",
    "scala",
    "bash",
];

const KOTLIN_TAGS: &str = include_str!("../queries/kotlin-tags.scm");
const BASH_TAGS: &str = include_str!("../queries/bash-tags.scm");
const SCALA_TAGS: &str = include_str!("../queries/scala-tags.scm");

/// Definitions the grammars' own tags queries leave out.
const RUST_EXTRA: &str = "(const_item name: (identifier) @name) @definition.constant\n(static_item name: (identifier) @name) @definition.constant\n(function_signature_item name: (identifier) @name) @definition.function\n";
const TYPESCRIPT_EXTRA: &str = "(type_alias_declaration name: (type_identifier) @name) @definition.type\n(enum_declaration name: (identifier) @name) @definition.enum\n";
const JAVA_EXTRA: &str = "(constructor_declaration name: (identifier) @name) @definition.method\n(enum_declaration name: (identifier) @name) @definition.enum\n(record_declaration name: (identifier) @name) @definition.class\n";

/// A grammar ready for extraction.
pub(crate) struct Grammar {
    /// Language label.
    pub label: &'static str,
    /// The tree-sitter language.
    pub language: Language,
    /// The tags query with only its definition patterns enabled — plus,
    /// when [`Self::roots`] is `None`, one pattern capturing every
    /// identifier node as [`Self::ident_capture`], so that one pass of one
    /// query cursor over the whole tree finds definitions and occurrences.
    pub defs: Query,
    /// Node kind id → whether a definition pattern can start at nodes of
    /// this kind. Extraction then walks the tree once with a tree cursor,
    /// collecting identifier leaves and running the query only at these
    /// nodes (a query cursor visiting every node costs about twice the
    /// walk). `None` when some pattern could start anywhere (a wildcard
    /// root, a supertype, sibling sequences): the whole tree is matched.
    pub roots: Option<Vec<bool>>,
    /// Index of the `@name` capture.
    pub name_capture: u32,
    /// Index of the identifier capture (matched only when `roots` is `None`).
    pub ident_capture: u32,
    /// Capture index → symbol kind, for `@definition.<kind>` captures.
    pub def_kinds: HashMap<u32, String>,
    /// Node kind id → is an identifier (named, visible, and `*identifier`
    /// or one of [`EXTRA_IDENTIFIER_KINDS`]).
    ident_kinds: Vec<bool>,
    /// Node kind id → is a comment.
    comment_kinds: Vec<bool>,
}

impl std::fmt::Debug for Grammar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grammar")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl Grammar {
    /// Whether nodes of this kind are comments.
    pub fn is_comment(&self, kind_id: u16) -> bool {
        self.comment_kinds.get(kind_id as usize).copied().unwrap_or(false)
    }

    /// Whether nodes of this kind are identifiers.
    pub fn is_identifier(&self, kind_id: u16) -> bool {
        self.ident_kinds.get(kind_id as usize).copied().unwrap_or(false)
    }

    /// Whether a definition pattern can start at nodes of this kind
    /// (only meaningful when [`Self::roots`] is set).
    pub fn is_root(&self, kind_id: u16) -> bool {
        self.roots
            .as_ref()
            .and_then(|r| r.get(kind_id as usize).copied())
            .unwrap_or(false)
    }
}

fn sources(label: &str) -> Option<(Language, Vec<&'static str>)> {
    Some(match label {
        "rust" => (
            tree_sitter_rust::LANGUAGE.into(),
            vec![tree_sitter_rust::TAGS_QUERY, RUST_EXTRA],
        ),
        "python" => (
            tree_sitter_python::LANGUAGE.into(),
            vec![tree_sitter_python::TAGS_QUERY],
        ),
        "javascript" => (
            tree_sitter_javascript::LANGUAGE.into(),
            vec![tree_sitter_javascript::TAGS_QUERY],
        ),
        "typescript" => (
            tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            vec![
                tree_sitter_javascript::TAGS_QUERY,
                tree_sitter_typescript::TAGS_QUERY,
                TYPESCRIPT_EXTRA,
            ],
        ),
        "tsx" => (
            tree_sitter_typescript::LANGUAGE_TSX.into(),
            vec![
                tree_sitter_javascript::TAGS_QUERY,
                tree_sitter_typescript::TAGS_QUERY,
                TYPESCRIPT_EXTRA,
            ],
        ),
        "go" => (tree_sitter_go::LANGUAGE.into(), vec![tree_sitter_go::TAGS_QUERY]),
        "java" => (
            tree_sitter_java::LANGUAGE.into(),
            vec![tree_sitter_java::TAGS_QUERY, JAVA_EXTRA],
        ),
        "c" => (tree_sitter_c::LANGUAGE.into(), vec![tree_sitter_c::TAGS_QUERY]),
        "cpp" => (tree_sitter_cpp::LANGUAGE.into(), vec![tree_sitter_cpp::TAGS_QUERY]),
        "csharp" => (
            tree_sitter_c_sharp::LANGUAGE.into(),
            vec![tree_sitter_c_sharp::TAGS_QUERY],
        ),
        "ruby" => (tree_sitter_ruby::LANGUAGE.into(), vec![tree_sitter_ruby::TAGS_QUERY]),
        "php" => (tree_sitter_php::LANGUAGE_PHP.into(), vec![tree_sitter_php::TAGS_QUERY]),
        "kotlin" => (tree_sitter_kotlin_ng::LANGUAGE.into(), vec![KOTLIN_TAGS]),
        "swift" => (tree_sitter_swift::LANGUAGE.into(), vec![tree_sitter_swift::TAGS_QUERY]),
        "scala" => (tree_sitter_scala::LANGUAGE.into(), vec![SCALA_TAGS]),
        "bash" => (tree_sitter_bash::LANGUAGE.into(), vec![BASH_TAGS]),
        _ => return None,
    })
}

/// Node kinds (besides `*identifier`) that name things.
const EXTRA_IDENTIFIER_KINDS: &[&str] = &["constant", "name", "variable_name"];

/// Name of the capture of identifier nodes.
const IDENT_CAPTURE: &str = "lettuce.ident";

/// Node kind id → whether the kind is an identifier (named, visible, and
/// `*identifier` or one of [`EXTRA_IDENTIFIER_KINDS`]), and the same for
/// comments.
fn kind_tables(language: &Language) -> (Vec<bool>, Vec<bool>) {
    let count = language.node_kind_count();
    let mut ident_kinds = vec![false; count];
    let mut comment_kinds = vec![false; count];
    for id in 0..count as u16 {
        if !language.node_kind_is_named(id) || !language.node_kind_is_visible(id) {
            continue;
        }
        let Some(kind) = language.node_kind_for_id(id) else {
            continue;
        };
        ident_kinds[id as usize] = kind.ends_with("identifier") || EXTRA_IDENTIFIER_KINDS.contains(&kind);
        comment_kinds[id as usize] = kind.contains("comment");
    }
    (ident_kinds, comment_kinds)
}

fn build(label: &'static str) -> Result<Grammar, String> {
    build_with(label, true)
}

/// `label`'s grammar matching definitions over the whole tree (to check
/// the tree walk against).
#[cfg(test)]
pub(crate) fn whole_tree(label: &'static str) -> Grammar {
    build_with(label, false).unwrap_or_else(|e| panic!("{e}"))
}

/// `label`'s grammar; definitions are matched at their root nodes during
/// a tree walk when `walk` is set and every pattern's root is known, else
/// by one query pass over the whole tree (tests build both to compare).
fn build_with(label: &'static str, walk: bool) -> Result<Grammar, String> {
    let (language, queries) = sources(label).ok_or_else(|| format!("no grammar for {label}"))?;
    let (ident_kinds, comment_kinds) = kind_tables(&language);
    let tags = queries.join("\n");
    let tags_only = Query::new(&language, &tags).map_err(|e| format!("tags query of {label}: {e}"))?;
    let roots = if walk {
        definition_roots(&language, &tags, &tags_only)
    } else {
        None
    };
    let mut defs = if roots.is_some() {
        tags_only
    } else {
        let mut ident_names: Vec<&str> = ident_kinds
            .iter()
            .enumerate()
            .filter(|(_, is)| **is)
            .filter_map(|(id, _)| language.node_kind_for_id(id as u16))
            .collect();
        ident_names.sort_unstable();
        ident_names.dedup();
        let alternatives: Vec<String> = ident_names.iter().map(|k| format!("({k})")).collect();
        let source = format!("{tags}\n[{}] @{IDENT_CAPTURE}\n", alternatives.join(" "));
        Query::new(&language, &source).map_err(|e| format!("tags query of {label}: {e}"))?
    };
    let names = defs.capture_names();
    let name_capture = names
        .iter()
        .position(|n| *n == "name")
        .ok_or_else(|| format!("tags query of {label} has no @name capture"))? as u32;
    // With roots, no pattern captures identifiers: an index past the end.
    let ident_capture = names.iter().position(|n| *n == IDENT_CAPTURE).unwrap_or(names.len()) as u32;
    let def_kinds = definition_captures(&defs);
    // Reference patterns cost matching time and are not used: references
    // come from the identifier walk.
    for pattern in 0..defs.pattern_count() {
        if !is_definition_pattern(&defs, pattern, &def_kinds) && !captures(&defs, pattern, ident_capture) {
            defs.disable_pattern(pattern);
        }
    }
    Ok(Grammar {
        label,
        language,
        defs,
        roots,
        name_capture,
        ident_capture,
        def_kinds,
        ident_kinds,
        comment_kinds,
    })
}

/// Whether `pattern` of `query` has capture `index`.
fn captures(query: &Query, pattern: usize, index: u32) -> bool {
    query
        .capture_quantifiers(pattern)
        .get(index as usize)
        .is_some_and(|q| *q != CaptureQuantifier::Zero)
}

/// Capture index → symbol kind, for the `@definition.<kind>` captures.
fn definition_captures(query: &Query) -> HashMap<u32, String> {
    query
        .capture_names()
        .iter()
        .enumerate()
        .filter_map(|(i, n)| n.strip_prefix("definition.").map(|k| (i as u32, k.to_owned())))
        .collect()
}

fn is_definition_pattern(query: &Query, pattern: usize, def_kinds: &HashMap<u32, String>) -> bool {
    def_kinds.keys().any(|&i| captures(query, pattern, i))
}

/// Node kind id → whether some definition pattern of `query` (compiled
/// from `source`) starts at nodes of that kind; `None` unless every
/// definition pattern's root is a node kind of the language.
fn definition_roots(language: &Language, source: &str, query: &Query) -> Option<Vec<bool>> {
    let def_kinds = definition_captures(query);
    let mut roots = vec![false; language.node_kind_count()];
    for pattern in 0..query.pattern_count() {
        if !is_definition_pattern(query, pattern, &def_kinds) {
            continue;
        }
        let text = source.get(query.start_byte_for_pattern(pattern)..query.end_byte_for_pattern(pattern))?;
        for (kind, named) in pattern_roots(text)? {
            let mut found = false;
            for id in 0..roots.len() as u16 {
                if language.node_kind_for_id(id) == Some(kind.as_str()) && language.node_kind_is_named(id) == named {
                    if language.node_kind_is_supertype(id) || !language.node_kind_is_visible(id) {
                        return None;
                    }
                    roots[id as usize] = true;
                    found = true;
                }
            }
            if !found {
                return None;
            }
        }
    }
    Some(roots)
}

/// The node kinds (name, named) a tree-sitter query pattern's match can
/// start at, read from the pattern's text: `(kind …)`, `"literal"`, an
/// alternation `[…]` of those, or a grouping `((comment)* . (kind …))`
/// whose one required element comes last (a match found at that element
/// without the optional siblings before it defines the same name). `None`
/// for anything else — a wildcard, a sequence of required siblings — so
/// the caller matches the whole tree.
fn pattern_roots(text: &str) -> Option<Vec<(String, bool)>> {
    let mut p = QueryText {
        s: text.as_bytes(),
        i: 0,
    };
    let roots = p.element()?.roots?;
    Some(roots)
}

/// One parsed element of a query pattern.
struct Element {
    /// `None`: the element can start anywhere, or is not understood.
    roots: Option<Vec<(String, bool)>>,
    /// `*` or `?`: may match nothing.
    optional: bool,
    /// A predicate (`(#eq? …)`) or an anchor (`.`).
    is_meta: bool,
}

/// A cursor over a query pattern's source.
struct QueryText<'a> {
    s: &'a [u8],
    i: usize,
}

impl QueryText<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Skips whitespace and `;` comments.
    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() {
                self.i += 1;
            } else if c == b';' {
                while self.peek().is_some_and(|c| c != b'\n') {
                    self.i += 1;
                }
            } else {
                break;
            }
        }
    }

    fn name(&mut self) -> String {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'?' | b'!' | b'#'))
        {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    /// A string literal's contents (the cursor on its opening quote).
    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return String::from_utf8(out).ok();
                }
                b'\\' => {
                    let c = *self.s.get(self.i + 1)?;
                    out.push(match c {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'0' => 0,
                        c => c,
                    });
                    self.i += 2;
                }
                c => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// Skips to the `close` matching the bracket the cursor is past.
    fn skip_to_close(&mut self, close: u8) -> Option<()> {
        loop {
            self.skip_space();
            match self.peek()? {
                c if c == close => {
                    self.i += 1;
                    return Some(());
                }
                b'(' => {
                    self.i += 1;
                    self.skip_to_close(b')')?;
                }
                b'[' => {
                    self.i += 1;
                    self.skip_to_close(b']')?;
                }
                b'"' => {
                    self.string()?;
                }
                b')' | b']' => return None,
                _ => self.i += 1,
            }
        }
    }

    /// Elements up to the `close` bracket (consumed).
    fn elements(&mut self, close: u8) -> Option<Vec<Element>> {
        let mut out = Vec::new();
        loop {
            self.skip_space();
            if self.peek()? == close {
                self.i += 1;
                return Some(out);
            }
            out.push(self.element()?);
        }
    }

    /// One element with its captures and quantifier.
    fn element(&mut self) -> Option<Element> {
        self.skip_space();
        let (roots, is_meta) = match self.peek()? {
            b'.' => {
                self.i += 1;
                return Some(Element {
                    roots: None,
                    optional: true,
                    is_meta: true,
                });
            }
            b'"' => (Some(vec![(self.string()?, false)]), false),
            b'_' => {
                self.i += 1;
                (None, false)
            }
            b'[' => {
                self.i += 1;
                let alternatives = self.elements(b']')?;
                let mut roots = Vec::new();
                for a in alternatives {
                    if a.is_meta {
                        return None;
                    }
                    roots.extend(a.roots?);
                }
                (Some(roots), false)
            }
            b'(' => {
                self.i += 1;
                self.skip_space();
                match self.peek()? {
                    b'#' => {
                        self.skip_to_close(b')')?;
                        (None, true)
                    }
                    b'(' | b'[' | b'"' | b'.' => (self.grouping()?, false),
                    _ => {
                        let kind = self.name();
                        self.skip_to_close(b')')?;
                        let root = match kind.as_str() {
                            "" | "_" | "ERROR" | "MISSING" => None,
                            _ => Some(vec![(kind, true)]),
                        };
                        (root, false)
                    }
                }
            }
            _ => return None,
        };
        // Captures, then a quantifier.
        let mut optional = false;
        loop {
            self.skip_space();
            match self.peek() {
                Some(b'@') => {
                    self.i += 1;
                    self.name();
                }
                Some(b'*' | b'?') => {
                    self.i += 1;
                    optional = true;
                }
                Some(b'+') => self.i += 1,
                _ => break,
            }
        }
        Some(Element {
            roots,
            optional,
            is_meta,
        })
    }

    /// A grouping of sibling elements (the cursor past its `(`): its roots
    /// when exactly one element is required and it is the last one.
    fn grouping(&mut self) -> Option<Option<Vec<(String, bool)>>> {
        let elements = self.elements(b')')?;
        let patterns: Vec<&Element> = elements.iter().filter(|e| !e.is_meta).collect();
        let Some((last, before)) = patterns.split_last() else {
            return Some(None);
        };
        if last.optional || before.iter().any(|e| !e.optional) {
            return Some(None);
        }
        Some(last.roots.clone())
    }
}

/// The grammar for a language label, built once per process. `None` for
/// languages without a grammar (their files are still full-text indexed).
pub(crate) fn grammar(label: &str) -> Option<&'static Grammar> {
    static GRAMMARS: OnceLock<HashMap<&'static str, OnceLock<Option<Grammar>>>> = OnceLock::new();
    let table = GRAMMARS.get_or_init(|| PARSED_LANGUAGES.iter().map(|l| (*l, OnceLock::new())).collect());
    let (&label, cell) = table.get_key_value(label)?;
    cell.get_or_init(|| match build(label) {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::error!(error = %e, "grammar unavailable; files of this language are indexed as text only");
            None
        }
    })
    .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grammar_builds_with_definition_patterns() {
        for label in PARSED_LANGUAGES {
            let g = build(label).unwrap_or_else(|e| panic!("{e}"));
            assert!(!g.def_kinds.is_empty(), "{label} has no definition captures");
            assert_ne!(g.ident_capture, g.name_capture, "{label}");
            assert!(grammar(label).is_some());
        }
        assert!(grammar("markdown").is_none());
    }

    #[test]
    fn every_grammar_walks_the_tree_with_known_definition_roots() {
        for label in PARSED_LANGUAGES {
            let g = grammar(label).unwrap();
            let roots: Vec<&str> = g
                .roots
                .as_ref()
                .unwrap_or_else(|| panic!("{label}: some definition pattern has no known root"))
                .iter()
                .enumerate()
                .filter(|(_, r)| **r)
                .filter_map(|(id, _)| g.language.node_kind_for_id(id as u16))
                .collect();
            println!("{label}: {roots:?}");
            assert!(!roots.is_empty(), "{label}");
        }
    }

    #[test]
    fn pattern_roots_read_nodes_alternations_and_groupings() {
        let roots = |t: &str| {
            pattern_roots(t).map(|r| {
                r.into_iter()
                    .map(|(k, n)| format!("{k}{}", if n { "" } else { "'" }))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            roots("(function_definition name: (identifier) @name) @definition.function"),
            Some(vec!["function_definition".into()])
        );
        assert_eq!(
            roots(
                "; comment (x)\n(\n  (comment)* @doc\n  .\n  [\n    (class name: (_) @name)\n    (class_declaration name: (_) @name)\n  ] @definition.class\n  (#strip! @doc \"^[\\\\s\\\\*/]+|^[\\\\s\\\\*/]$\")\n  (#select-adjacent! @doc @definition.class)\n)"
            ),
            Some(vec!["class".into(), "class_declaration".into()])
        );
        assert_eq!(
            roots("(module (expression_statement (assignment left: (identifier) @name) @definition.constant))"),
            Some(vec!["module".into()])
        );
        assert_eq!(roots("\"fn\" @x"), Some(vec!["fn'".into()]));
        // Anywhere, or needing siblings a walk of one node cannot see.
        assert_eq!(roots("(_ name: (identifier) @name) @definition.x"), None);
        assert_eq!(roots("((a) . (b) @definition.x)"), None);
        assert_eq!(roots("((a) @definition.x . (comment)*)"), None);
        assert_eq!(roots("(a"), None);
    }
}
