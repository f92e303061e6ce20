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
    /// The tags query with only its definition patterns enabled, plus one
    /// pattern capturing every identifier node as [`Self::ident_capture`]:
    /// one pass of one query cursor finds definitions and occurrences.
    pub defs: Query,
    /// Index of the `@name` capture.
    pub name_capture: u32,
    /// Index of the identifier capture.
    pub ident_capture: u32,
    /// Capture index → symbol kind, for `@definition.<kind>` captures.
    pub def_kinds: HashMap<u32, String>,
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
    let (language, queries) = sources(label).ok_or_else(|| format!("no grammar for {label}"))?;
    let (ident_kinds, comment_kinds) = kind_tables(&language);
    let mut ident_names: Vec<&str> = ident_kinds
        .iter()
        .enumerate()
        .filter(|(_, is)| **is)
        .filter_map(|(id, _)| language.node_kind_for_id(id as u16))
        .collect();
    ident_names.sort_unstable();
    ident_names.dedup();
    let alternatives: Vec<String> = ident_names.iter().map(|k| format!("({k})")).collect();
    let source = format!(
        "{}\n[{}] @{IDENT_CAPTURE}\n",
        queries.join("\n"),
        alternatives.join(" ")
    );
    let mut defs = Query::new(&language, &source).map_err(|e| format!("tags query of {label}: {e}"))?;
    let names = defs.capture_names();
    let name_capture = names
        .iter()
        .position(|n| *n == "name")
        .ok_or_else(|| format!("tags query of {label} has no @name capture"))? as u32;
    let ident_capture = names
        .iter()
        .position(|n| *n == IDENT_CAPTURE)
        .ok_or_else(|| format!("identifier pattern of {label} has no capture"))? as u32;
    let def_kinds: HashMap<u32, String> = names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| n.strip_prefix("definition.").map(|k| (i as u32, k.to_owned())))
        .collect();
    // Reference patterns cost matching time and are not used: references
    // come from the identifier walk.
    for pattern in 0..defs.pattern_count() {
        let quantifiers = defs.capture_quantifiers(pattern);
        let captures = |i: u32| {
            quantifiers
                .get(i as usize)
                .is_some_and(|q| *q != CaptureQuantifier::Zero)
        };
        let has_def = def_kinds.keys().any(|&i| captures(i));
        if !has_def && !captures(ident_capture) {
            defs.disable_pattern(pattern);
        }
    }
    Ok(Grammar {
        label,
        language,
        defs,
        name_capture,
        ident_capture,
        def_kinds,
        comment_kinds,
    })
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
}
