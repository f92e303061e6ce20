//! Symbol and reference extraction from one file: a single tree-sitter
//! parse, then one walk of the tree collecting identifier occurrences and
//! running the language's tags query (definitions) at the nodes where its
//! patterns start. Python is read by ruff's parser instead ([`python`]),
//! to the same facts.

use crate::langs::Grammar;
use lettuce_domain::code::{MAX_SIGNATURE_CHARS, Symbol};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};
use streaming_iterator::StreamingIterator;
use tree_sitter::{Node, ParseOptions, Parser, QueryCursor, QueryMatch, Tree};

mod python;

/// Longest identifier recorded as a reference.
const MAX_IDENT_BYTES: usize = 128;
/// Longest doc comment kept, in characters.
const MAX_DOC_CHARS: usize = 1500;

/// What extraction learned about one file. Stored with the file in the
/// index and reused for every file with the same blob id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileFacts {
    /// Definitions in source order.
    pub symbols: Vec<Symbol>,
    /// Identifier occurrences, grouped by name, names sorted.
    pub refs: Vec<RefGroup>,
    /// Whether the parse had syntax errors (extraction is best effort then).
    pub parse_errors: bool,
}

/// Every occurrence of one identifier in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RefGroup {
    /// The identifier.
    pub name: String,
    /// `(line, column, is_definition)`, 1-based, in source order.
    pub at: Vec<(u32, u32, bool)>,
}

/// Why extraction produced nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExtractError {
    /// The parser gave up after the time limit.
    Timeout,
    /// The grammar could not be loaded into the parser.
    Language(String),
}

thread_local! {
    static PARSERS: RefCell<HashMap<&'static str, Parser>> = RefCell::new(HashMap::new());
    static CURSOR: RefCell<QueryCursor> = RefCell::new(QueryCursor::new());
    /// Matches only patterns starting at the node it is given.
    static ROOTED_CURSOR: RefCell<QueryCursor> = RefCell::new({
        let mut c = QueryCursor::new();
        c.set_max_start_depth(Some(0));
        c
    });
}

fn parse(grammar: &Grammar, source: &[u8], timeout: Duration) -> Result<Tree, ExtractError> {
    PARSERS.with(|parsers| {
        let mut parsers = parsers.borrow_mut();
        let parser = match parsers.entry(grammar.label) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let mut p = Parser::new();
                p.set_language(&grammar.language)
                    .map_err(|e| ExtractError::Language(e.to_string()))?;
                v.insert(p)
            }
        };
        parser.reset();
        let deadline = Instant::now() + timeout;
        let mut progress = |_: &tree_sitter::ParseState| {
            if Instant::now() > deadline {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        parser
            .parse_with_options(
                &mut |i, _| if i < source.len() { &source[i..] } else { &[] },
                None,
                Some(ParseOptions::new().progress_callback(&mut progress)),
            )
            .ok_or(ExtractError::Timeout)
    })
}

/// Extracts definitions and identifier occurrences of `source`: Python
/// (valid UTF-8, as every indexed text is) with ruff's parser, everything
/// else with the grammar's tree-sitter parser.
pub(crate) fn extract(grammar: &Grammar, source: &[u8], timeout: Duration) -> Result<FileFacts, ExtractError> {
    if grammar.label == "python"
        && let Ok(text) = std::str::from_utf8(source)
    {
        return Ok(python::extract(text));
    }
    extract_with_tree_sitter(grammar, source, timeout)
}

/// [`extract`] with the tree-sitter grammar, whatever the language.
pub(crate) fn extract_with_tree_sitter(
    grammar: &Grammar,
    source: &[u8],
    timeout: Duration,
) -> Result<FileFacts, ExtractError> {
    let tree = parse(grammar, source, timeout)?;
    let root = tree.root_node();
    let (mut symbols, idents) = definitions_and_identifiers(grammar, root, source);
    assign_containers(&mut symbols);
    let def_starts: FxHashSet<usize> = symbols.iter().map(|d| d.name_start).collect();
    let refs = group_identifiers(idents, source, &def_starts);
    Ok(FileFacts {
        symbols: symbols.into_iter().map(|d| d.symbol).collect(),
        refs,
        parse_errors: root.has_error(),
    })
}

/// A definition while it is being built.
struct Def {
    symbol: Symbol,
    name_start: usize,
    /// Container found through a language hook (`impl` type, receiver).
    hooked_container: Option<String>,
}

fn text<'s>(source: &'s [u8], node: Node<'_>) -> std::borrow::Cow<'s, str> {
    String::from_utf8_lossy(&source[node.byte_range()])
}

/// The node that spans the whole definition: C-family tags point at a
/// declarator, decorators and templates wrap the definition.
fn definition_extent(node: Node<'_>) -> Node<'_> {
    let mut n = node;
    while n.kind().ends_with("declarator")
        && let Some(p) = n.parent()
    {
        n = p;
    }
    if let Some(p) = n.parent()
        && matches!(
            p.kind(),
            "decorated_definition" | "template_declaration" | "export_statement"
        )
    {
        n = p;
    }
    n
}

/// An identifier leaf: its byte range and 0-based `(row, column)`.
struct Ident {
    start: usize,
    end: usize,
    row: usize,
    column: usize,
}

/// Definitions (in source order, outermost first) and identifier leaves:
/// one tree-cursor walk running the definition query only where a pattern
/// can start, or one query pass over the whole tree (see
/// [`Grammar::roots`]).
fn definitions_and_identifiers(grammar: &Grammar, root: Node<'_>, source: &[u8]) -> (Vec<Def>, Vec<Ident>) {
    let mut found = Found::default();
    if grammar.roots.is_some() {
        ROOTED_CURSOR.with(|cursor| {
            let mut query_cursor = cursor.borrow_mut();
            let mut walk = root.walk();
            loop {
                let node = walk.node();
                let kind = node.kind_id();
                if grammar.is_identifier(kind) && node.child_count() == 0 {
                    found.ident(node);
                }
                if grammar.is_root(kind) {
                    let mut matches = query_cursor.matches(&grammar.defs, node, source);
                    while let Some(m) = matches.next() {
                        found.on_match(grammar, m, source);
                    }
                }
                if walk.goto_first_child() {
                    continue;
                }
                while !walk.goto_next_sibling() {
                    if !walk.goto_parent() {
                        return;
                    }
                }
            }
        });
    } else {
        CURSOR.with(|cursor| {
            let mut cursor = cursor.borrow_mut();
            let mut matches = cursor.matches(&grammar.defs, root, source);
            while let Some(m) = matches.next() {
                found.on_match(grammar, m, source);
            }
        });
    }
    let Found { mut defs, idents, .. } = found;
    defs.sort_by(|a, b| {
        a.symbol
            .start_byte
            .cmp(&b.symbol.start_byte)
            .then(b.symbol.end_byte.cmp(&a.symbol.end_byte))
    });
    (defs, idents)
}

/// What one extraction pass collects.
#[derive(Default)]
struct Found {
    defs: Vec<Def>,
    idents: Vec<Ident>,
    /// Name ranges already defined (several patterns may match one name).
    seen: FxHashSet<(usize, usize)>,
}

impl Found {
    /// Records an identifier leaf.
    fn ident(&mut self, n: Node<'_>) {
        let (start, end) = (n.start_byte(), n.end_byte());
        if start < end && end - start <= MAX_IDENT_BYTES {
            let p = n.start_position();
            self.idents.push(Ident {
                start,
                end,
                row: p.row,
                column: p.column,
            });
        }
    }

    /// Records a query match: an identifier capture or a definition.
    fn on_match(&mut self, grammar: &Grammar, m: &QueryMatch<'_, '_>, source: &[u8]) {
        let mut name = None;
        let mut def = None;
        for c in m.captures() {
            if c.index == grammar.ident_capture {
                if c.node.child_count() == 0 {
                    self.ident(c.node);
                }
            } else if c.index == grammar.name_capture {
                name = Some(c.node);
            } else if let Some(kind) = grammar.def_kinds.get(&c.index) {
                def = Some((c.node, kind));
            }
        }
        let (Some(name), Some((node, kind))) = (name, def) else {
            return;
        };
        let node = narrowest_declaration(name, node);
        if name.has_error() || name.byte_range().is_empty() || !self.seen.insert((name.start_byte(), name.end_byte())) {
            return;
        }
        let extent = definition_extent(node);
        let start = extent.start_position().row.min(name.start_position().row);
        let end = extent.end_position().row.max(name.end_position().row);
        let start_byte = extent.start_byte().min(name.start_byte());
        let end_byte = extent.end_byte().max(name.end_byte());
        self.defs.push(Def {
            symbol: Symbol {
                name: text(source, name).into_owned(),
                kind: refine_kind(extent, kind),
                container: None,
                start_line: start as u32 + 1,
                end_line: end as u32 + 1,
                start_byte: start_byte as u64,
                end_byte: end_byte as u64,
                signature: signature_line(source, name.start_byte()),
                doc: doc_comment(grammar, extent, source),
            },
            name_start: name.start_byte(),
            hooked_container: container_hook(grammar.label, extent, source),
        });
    }
}

/// Whether a node kind declares something (`function_declaration`,
/// `class_definition`, `struct_item`, `type_spec`, …).
fn is_declaration_kind(kind: &str) -> bool {
    [
        "_declaration",
        "_definition",
        "_item",
        "_specifier",
        "_spec",
        "_signature",
    ]
    .iter()
    .any(|s| kind.ends_with(s))
}

/// Some tags queries capture a whole class as the definition of each of
/// its members (Swift): the definition is then the nearest declaration
/// around the name inside the captured node.
fn narrowest_declaration<'t>(name: Node<'t>, captured: Node<'t>) -> Node<'t> {
    let mut n = name.parent();
    while let Some(cur) = n {
        if cur.id() == captured.id() {
            break;
        }
        if is_declaration_kind(cur.kind()) {
            return cur;
        }
        n = cur.parent();
    }
    captured
}

/// A more precise kind than the tags query's (which calls Rust structs and
/// enums `class`), from the definition's node.
fn refine_kind(node: Node<'_>, kind: &str) -> String {
    let by_node = match node.kind() {
        "struct_item" | "struct_specifier" | "struct_declaration" => Some("struct"),
        "enum_item" | "enum_specifier" | "enum_declaration" => Some("enum"),
        "union_item" | "union_specifier" => Some("union"),
        "trait_item" => Some("trait"),
        "type_item" | "type_alias" | "type_alias_declaration" | "type_definition" => Some("type"),
        "type_spec" | "type_declaration" => {
            let spec = if node.kind() == "type_declaration" {
                node.named_child(0)
            } else {
                Some(node)
            };
            match spec.and_then(|s| s.child_by_field_name("type")).map(|t| t.kind()) {
                Some("struct_type") => Some("struct"),
                Some("interface_type") => Some("interface"),
                _ => None,
            }
        }
        _ => None,
    };
    by_node.unwrap_or(kind).to_owned()
}

/// The source line holding byte `at`, trimmed and cut to
/// [`MAX_SIGNATURE_CHARS`].
fn signature_line(source: &[u8], at: usize) -> String {
    let start = source[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let end = source[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(source.len(), |i| at + i);
    let line = String::from_utf8_lossy(&source[start..end]);
    truncate_chars(line.trim(), MAX_SIGNATURE_CHARS)
}

pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn is_attribute_like(kind: &str) -> bool {
    kind.contains("attribute") || kind.contains("annotation") || kind == "decorator"
}

/// The doc comment of a definition: the comments right above it (across
/// attributes and decorators, no blank line between), else a docstring as
/// the first statement of its body.
fn doc_comment(grammar: &Grammar, node: Node<'_>, source: &[u8]) -> Option<String> {
    // A definition that opens a block (Ruby bodies, Go type specs) has its
    // comment beside the block: climb while the parent starts on our line.
    let mut anchor = node;
    while anchor.prev_named_sibling().is_none()
        && let Some(p) = anchor.parent()
        && p.parent().is_some()
        && p.start_position().row == anchor.start_position().row
    {
        anchor = p;
    }
    let mut comments = Vec::new();
    let mut next_row = anchor.start_position().row;
    let mut sib = anchor.prev_sibling();
    while let Some(s) = sib {
        if last_row(s) + 1 < next_row {
            break;
        }
        if grammar.is_comment(s.kind_id()) {
            if is_inner_doc(&source[s.byte_range()]) {
                break;
            }
            comments.push(s);
        } else if !is_attribute_like(s.kind()) {
            break;
        }
        next_row = s.start_position().row;
        sib = s.prev_sibling();
    }
    if !comments.is_empty() {
        comments.reverse();
        // Line comments may include their newline (tree-sitter-rust's do).
        let raw: Vec<String> = comments
            .iter()
            .map(|c| text(source, *c).trim_end_matches(['\n', '\r']).to_owned())
            .collect();
        let doc = clean_comment(&raw.join("\n"));
        if !doc.is_empty() {
            return Some(truncate_chars(&doc, MAX_DOC_CHARS));
        }
        // A bare `#` or a marker such as `# <=3.11` documents nothing: the
        // docstring still can.
    }
    let body = node.child_by_field_name("body").or_else(|| {
        node.child_by_field_name("definition")
            .and_then(|d| d.child_by_field_name("body"))
    })?;
    let first = body.named_child(0)?;
    let string = if first.kind() == "expression_statement" {
        first.named_child(0)?
    } else {
        first
    };
    if string.kind() != "string" {
        return None;
    }
    let doc = clean_docstring(&text(source, string));
    (!doc.is_empty()).then(|| truncate_chars(&doc, MAX_DOC_CHARS))
}

/// The last row a node's text is on (line comments may end at column 0
/// of the next row, after their newline).
fn last_row(n: Node<'_>) -> usize {
    let end = n.end_position();
    if end.column == 0 && end.row > n.start_position().row {
        end.row - 1
    } else {
        end.row
    }
}

/// `//!` and `/*!` document the enclosing module, not the next item.
fn is_inner_doc(comment: &[u8]) -> bool {
    comment.starts_with(b"//!") || comment.starts_with(b"/*!")
}

/// Strips comment markers (`///`, `//!`, `//`, `#`, `/** */`, leading `*`).
fn clean_comment(raw: &str) -> String {
    let mut lines = Vec::new();
    for line in raw.lines() {
        let mut l = line.trim();
        for prefix in ["///", "//!", "//", "/**", "/*!", "/*", "#", "--"] {
            if let Some(rest) = l.strip_prefix(prefix) {
                l = rest;
                break;
            }
        }
        let l = l.strip_suffix("*/").unwrap_or(l).trim();
        let l = l.strip_prefix("* ").unwrap_or(if l == "*" { "" } else { l });
        lines.push(l.trim_end());
    }
    while lines.first().is_some_and(|l| l.is_empty()) {
        lines.remove(0);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    strip_xml_doc_tags(&lines.join("\n"))
}

/// C#-style XML doc comments: `<summary>Text</summary>` → `Text`.
fn strip_xml_doc_tags(doc: &str) -> String {
    if !doc.trim_start().starts_with('<') {
        return doc.to_owned();
    }
    let mut out = String::with_capacity(doc.len());
    let mut in_tag = false;
    for c in doc.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

fn clean_docstring(raw: &str) -> String {
    let s = raw.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let s = ["\"\"\"", "'''", "\"", "'"]
        .iter()
        .find_map(|q| s.strip_prefix(q).and_then(|r| r.strip_suffix(q)))
        .unwrap_or(s);
    let lines: Vec<&str> = s.lines().collect();
    let indent = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out: Vec<&str> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                l.trim()
            } else {
                l.get(indent..).unwrap_or(l.trim()).trim_end()
            }
        })
        .collect();
    while out.first().is_some_and(|l| l.is_empty()) {
        out.remove(0);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.join("\n")
}

/// Containers that are not symbols themselves: the type of a Rust `impl`
/// block, the receiver type of a Go method.
fn container_hook(label: &str, node: Node<'_>, source: &[u8]) -> Option<String> {
    match label {
        "rust" => {
            let mut p = node.parent();
            while let Some(n) = p {
                if n.kind() == "impl_item" {
                    let ty = n.child_by_field_name("type")?;
                    let t = text(source, ty);
                    // `Client<T>` → `Client`
                    return Some(t.split('<').next().unwrap_or(&t).trim().to_owned());
                }
                p = n.parent();
            }
            None
        }
        "go" if node.kind() == "method_declaration" => {
            let receiver = node.child_by_field_name("receiver")?;
            let t = text(source, receiver);
            let ty = t
                .trim_matches(|c| c == '(' || c == ')')
                .split_whitespace()
                .last()?
                .trim_start_matches('*')
                .split('[')
                .next()?
                .to_owned();
            (!ty.is_empty()).then_some(ty)
        }
        _ => None,
    }
}

const TYPE_KINDS: &[&str] = &[
    "class",
    "interface",
    "struct",
    "object",
    "trait",
    "enum",
    "module",
    "type",
];

/// Sets each symbol's container from the symbols enclosing it (sorted input)
/// and turns functions inside types into methods.
fn assign_containers(defs: &mut [Def]) {
    let mut stack: Vec<(u64, String, String)> = Vec::new(); // (end_byte, qualified name, kind)
    for d in defs.iter_mut() {
        let s = &mut d.symbol;
        while stack.last().is_some_and(|(end, _, _)| s.start_byte >= *end) {
            stack.pop();
        }
        // Nesting, plus what a hook knows (`mod m { impl T { fn f } }` → `m.T`).
        let container = match (stack.last().map(|(_, q, _)| q.clone()), d.hooked_container.take()) {
            (Some(outer), Some(hooked)) => Some(format!("{outer}.{hooked}")),
            (outer, hooked) => outer.or(hooked),
        };
        let parent_kind = stack.last().map(|(_, _, k)| k.as_str());
        if s.kind == "function"
            && (parent_kind.is_some_and(|k| TYPE_KINDS.contains(&k) && k != "module")
                || (parent_kind.is_none() && container.is_some()))
        {
            s.kind = "method".into();
        }
        s.container = container;
        let qualified = s.qualified_name();
        stack.push((s.end_byte, qualified, s.kind.clone()));
    }
}

/// Identifier leaves grouped by name (names sorted, occurrences in source
/// order), each marked when it is a definition's name.
fn group_identifiers(mut idents: Vec<Ident>, source: &[u8], def_starts: &FxHashSet<usize>) -> Vec<RefGroup> {
    idents.sort_unstable_by_key(|i| i.start);
    let mut groups: FxHashMap<&[u8], Vec<(u32, u32, bool)>> = FxHashMap::default();
    for i in &idents {
        groups.entry(&source[i.start..i.end]).or_default().push((
            i.row as u32 + 1,
            i.column as u32 + 1,
            def_starts.contains(&i.start),
        ));
    }
    let mut refs: Vec<RefGroup> = groups
        .into_iter()
        .filter_map(|(name, at)| {
            std::str::from_utf8(name)
                .ok()
                .map(|n| RefGroup { name: n.to_owned(), at })
        })
        .collect();
    refs.sort_by(|a, b| a.name.cmp(&b.name));
    refs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::langs::grammar;

    fn facts(lang: &str, src: &str) -> FileFacts {
        extract(grammar(lang).unwrap(), src.as_bytes(), Duration::from_secs(5)).unwrap()
    }

    #[test]
    fn python_classes_methods_docstrings_and_refs() {
        let src = "import os\n\n\nclass Client:\n    \"\"\"Talks to the server.\n\n    Twice.\n    \"\"\"\n\n    def send(self, msg):\n        return os.write(msg)\n\n\n# Builds one.\n@cache\ndef make_client():\n    return Client()\n";
        let f = facts("python", src);
        let names: Vec<_> = f
            .symbols
            .iter()
            .map(|s| (s.qualified_name(), s.kind.as_str(), s.start_line, s.end_line))
            .collect();
        assert_eq!(
            names,
            [
                ("Client".to_owned(), "class", 4, 11),
                ("Client.send".to_owned(), "method", 10, 11),
                ("make_client".to_owned(), "function", 15, 17)
            ]
        );
        assert_eq!(f.symbols[0].doc.as_deref(), Some("Talks to the server.\n\nTwice."));
        assert_eq!(f.symbols[2].doc.as_deref(), Some("Builds one."));
        assert_eq!(f.symbols[1].signature, "def send(self, msg):");
        let client = f.refs.iter().find(|r| r.name == "Client").unwrap();
        assert_eq!(client.at, [(4, 7, true), (17, 12, false)]);
        assert!(!f.parse_errors);
    }

    #[test]
    fn rust_impl_methods_get_their_type_as_container() {
        let src = "/// A client.\n#[derive(Debug)]\npub struct Client<T> { t: T }\n\nimpl<T> Client<T> {\n    /// Sends.\n    pub fn send(&self) {}\n}\n\nfn main() { Client::send(); }\n";
        let f = facts("rust", src);
        let s: Vec<_> = f
            .symbols
            .iter()
            .map(|s| (s.qualified_name(), s.kind.as_str()))
            .collect();
        assert_eq!(
            s,
            [
                ("Client".to_owned(), "struct"),
                ("Client.send".to_owned(), "method"),
                ("main".to_owned(), "function")
            ]
        );
        assert_eq!(f.symbols[0].doc.as_deref(), Some("A client."));
        assert_eq!(f.symbols[1].doc.as_deref(), Some("Sends."));
    }

    #[test]
    fn rust_doc_lines_join_without_blank_lines_and_modules_prefix_impl_containers() {
        let src = "mod outer {\n    /// First line.\n    ///\n    /// Second paragraph.\n    pub struct T;\n\n    impl T {\n        pub fn f(&self) {}\n    }\n}\n";
        let f = facts("rust", src);
        let t = f.symbols.iter().find(|s| s.name == "T").unwrap();
        assert_eq!(t.doc.as_deref(), Some("First line.\n\nSecond paragraph."));
        let m = f.symbols.iter().find(|s| s.name == "f").unwrap();
        assert_eq!(m.qualified_name(), "outer.T.f");
    }

    #[test]
    fn rust_trait_method_declarations_and_extern_fns_are_definitions() {
        // Regression: `fn f(&self);` in a trait (and in an `extern` block)
        // is a `function_signature_item`, which the grammar's tags query
        // leaves out: the trait's documented declaration was missing from
        // outlines and symbol lookups, which found only the impls.
        let src = "pub trait Wake {\n    /// Wakes the task.\n    fn wake(self: Arc<Self>);\n    fn wake_by_ref(self: &Arc<Self>) {}\n}\n\nextern \"C\" {\n    fn has_asyncify() -> i32;\n}\n";
        let f = facts("rust", src);
        let s: Vec<_> = f
            .symbols
            .iter()
            .map(|s| (s.qualified_name(), s.kind.as_str(), s.start_line, s.end_line))
            .collect();
        assert_eq!(
            s,
            [
                ("Wake".to_owned(), "trait", 1, 5),
                ("Wake.wake".to_owned(), "method", 3, 3),
                ("Wake.wake_by_ref".to_owned(), "method", 4, 4),
                ("has_asyncify".to_owned(), "function", 8, 8)
            ]
        );
        assert_eq!(f.symbols[1].doc.as_deref(), Some("Wakes the task."));
        assert_eq!(f.symbols[1].signature, "fn wake(self: Arc<Self>);");
    }

    #[test]
    fn c_functions_span_their_body() {
        let src = "/* Adds. */\nint add(int a, int b)\n{\n  return a + b;\n}\n";
        let f = facts("c", src);
        assert_eq!(f.symbols.len(), 1);
        let s = &f.symbols[0];
        assert_eq!((s.name.as_str(), s.start_line, s.end_line), ("add", 2, 5));
        assert_eq!(s.doc.as_deref(), Some("Adds."));
    }

    /// Files of parsed languages under `dir` (recursively, skipping build
    /// output and dependencies), sorted.
    fn sources(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, &'static str)>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if !matches!(name.as_str(), "target" | "node_modules" | ".git") {
                    sources(&p, out);
                }
            } else if let Some(lang) = lettuce_domain::code::detect_language(&name, b"")
                && crate::langs::grammar(lang).is_some()
            {
                out.push((p, lang));
            }
        }
    }

    /// Extracts every file of `dir` both ways and compares; the languages
    /// seen and the number of files.
    fn walk_equals_whole_tree(dir: &std::path::Path) -> (std::collections::BTreeSet<&'static str>, usize) {
        let mut files = Vec::new();
        sources(dir, &mut files);
        files.sort();
        let mut langs = std::collections::BTreeSet::new();
        let mut whole: HashMap<&str, Grammar> = HashMap::new();
        for (path, lang) in &files {
            let Ok(src) = std::fs::read(path) else { continue };
            let g = grammar(lang).unwrap();
            let w = whole.entry(lang).or_insert_with(|| crate::langs::whole_tree(g.label));
            let walked = extract_with_tree_sitter(g, &src, Duration::from_secs(10));
            let queried = extract_with_tree_sitter(w, &src, Duration::from_secs(10));
            assert_eq!(walked, queried, "{}", path.display());
            langs.insert(*lang);
        }
        (langs, files.len())
    }

    #[test]
    fn the_tree_walk_finds_what_a_whole_tree_query_finds() {
        // Every language's golden fixture and this repository's own sources
        // (Rust, Python, shell, JavaScript, …): same definitions (kinds,
        // containers, ranges, docs) and same identifier occurrences.
        let (langs, files) = walk_equals_whole_tree(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
        assert_eq!(langs.len(), crate::langs::PARSED_LANGUAGES.len(), "{langs:?}");
        assert!(files > 200, "{files}");
    }

    /// The same over any tree, e.g. the cargo registry's sources (C, C++,
    /// JavaScript, Python, …) after a grammar upgrade:
    /// `LETTUCE_EXTRACT_CHECK_DIR=~/.cargo/registry/src cargo test --release
    /// -p lettuce-index-tantivy --lib -- --ignored walk_equals`.
    #[test]
    #[ignore = "needs LETTUCE_EXTRACT_CHECK_DIR; minutes on a large tree"]
    fn walk_equals_whole_tree_on_a_directory() {
        let dir = std::env::var("LETTUCE_EXTRACT_CHECK_DIR").expect("LETTUCE_EXTRACT_CHECK_DIR: a directory to check");
        let (langs, files) = walk_equals_whole_tree(std::path::Path::new(&dir));
        println!("{files} files alike: {langs:?}");
    }

    /// Differences between ruff's and tree-sitter's Python facts over the
    /// `.py` files of `dir`: (files, files alike, first differences).
    fn python_against_tree_sitter(dir: &std::path::Path) -> (usize, usize, Vec<String>) {
        let mut files = Vec::new();
        sources(dir, &mut files);
        files.sort();
        let g = grammar("python").unwrap();
        let (mut n, mut alike, mut diffs) = (0, 0, Vec::new());
        for (path, _) in files.iter().filter(|(_, l)| *l == "python") {
            let Ok(src) = std::fs::read(path) else { continue };
            let Ok(text) = String::from_utf8(src) else { continue };
            n += 1;
            let ruff = python::extract(&text);
            let ts = extract_with_tree_sitter(g, text.as_bytes(), Duration::from_secs(30)).unwrap();
            if ruff == ts {
                alike += 1;
                continue;
            }
            let p = path.display();
            if ruff.parse_errors != ts.parse_errors {
                diffs.push(format!(
                    "{p}: parse errors ruff {} tree-sitter {}",
                    ruff.parse_errors, ts.parse_errors
                ));
            }
            let key = |s: &Symbol| (s.start_byte, s.name.clone());
            let rs: HashMap<_, _> = ruff.symbols.iter().map(|s| (key(s), s)).collect();
            let tss: HashMap<_, _> = ts.symbols.iter().map(|s| (key(s), s)).collect();
            for (k, s) in &tss {
                match rs.get(k) {
                    None => diffs.push(format!(
                        "{p}: only tree-sitter: {} {} line {}",
                        s.kind, s.name, s.start_line
                    )),
                    Some(r) if r != s => diffs.push(format!("{p}: differs:\n  ruff {r:?}\n  t-s  {s:?}")),
                    _ => {}
                }
            }
            for (k, s) in &rs {
                if !tss.contains_key(k) {
                    diffs.push(format!("{p}: only ruff: {} {} line {}", s.kind, s.name, s.start_line));
                }
            }
            let rr: HashMap<_, _> = ruff.refs.iter().map(|g| (g.name.as_str(), &g.at)).collect();
            let tr: HashMap<_, _> = ts.refs.iter().map(|g| (g.name.as_str(), &g.at)).collect();
            for (name, at) in &tr {
                if rr.get(name) != Some(at) {
                    diffs.push(format!(
                        "{p}: refs of {name}: ruff {:?} tree-sitter {at:?}",
                        rr.get(name)
                    ));
                }
            }
            for (name, at) in &rr {
                if !tr.contains_key(name) {
                    diffs.push(format!("{p}: refs of {name}: only ruff {at:?}"));
                }
            }
        }
        (n, alike, diffs)
    }

    /// `LETTUCE_EXTRACT_CHECK_DIR=/usr/lib/python3.11 cargo test --release
    /// -p lettuce-index-tantivy --lib -- --ignored --nocapture python_against`
    #[test]
    #[ignore = "needs LETTUCE_EXTRACT_CHECK_DIR; a minute on a large tree"]
    fn python_against_tree_sitter_on_a_directory() {
        let dir = std::env::var("LETTUCE_EXTRACT_CHECK_DIR").expect("LETTUCE_EXTRACT_CHECK_DIR: a directory to check");
        let (n, alike, diffs) = python_against_tree_sitter(std::path::Path::new(&dir));
        for d in diffs.iter().take(400) {
            println!("{d}");
        }
        println!("{n} files, {alike} alike, {} differences", diffs.len());
    }

    #[test]
    fn a_timeout_is_reported() {
        let big = "def f():\n    return 1\n".repeat(20_000);
        let err = extract_with_tree_sitter(grammar("python").unwrap(), big.as_bytes(), Duration::ZERO).unwrap_err();
        assert_eq!(err, ExtractError::Timeout);
    }
}
