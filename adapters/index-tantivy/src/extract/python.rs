//! Python extraction with Astral's `ruff_python_parser` instead of
//! tree-sitter: the same facts (definitions with their ranges, kinds,
//! containers, signatures and docs; every identifier occurrence) at a
//! fraction of tree-sitter-python's parse cost, which was most of a full
//! index of a Python code base (see docs/PERFORMANCE.md).
//!
//! The rules follow the tree-sitter path so both give one answer: classes
//! and functions at any depth (a decorated definition spans its
//! decorators), and module-level assignments to a plain name (`X = …`,
//! `X: T = …`, the first target of `X = Y = …`) as constants; the doc is the
//! comment block right above a definition, else the docstring its body
//! starts with; identifier occurrences are the parser's name tokens (soft
//! keywords used as names included, keywords not).

use super::{
    Def, FileFacts, Ident, MAX_DOC_CHARS, assign_containers, clean_comment, clean_docstring, group_identifiers,
    signature_line, truncate_chars,
};
use lettuce_domain::code::Symbol;
use ruff_python_ast::statement_visitor::{StatementVisitor, walk_stmt};
use ruff_python_ast::token::{TokenKind, Tokens};
use ruff_python_ast::{Expr, PySourceType, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};
use rustc_hash::{FxHashMap, FxHashSet};

/// Extracts definitions and identifier occurrences of a Python module.
pub(super) fn extract(source: &str) -> FileFacts {
    let parsed = ruff_python_parser::parse_unchecked_source(source, PySourceType::Python);
    let lines = Lines::new(source.as_bytes());
    let tokens = parsed.tokens();
    let mut defs = Defs {
        source,
        lines: &lines,
        comments: comments_by_line(tokens, &lines),
        tokens,
        depth: 0,
        prev_end: 0,
        stmt_end: 0,
        found: Vec::new(),
    };
    defs.visit_body(&parsed.syntax().body);
    let mut found = defs.found;
    found.sort_by(|a, b| {
        a.symbol
            .start_byte
            .cmp(&b.symbol.start_byte)
            .then(b.symbol.end_byte.cmp(&a.symbol.end_byte))
    });
    assign_containers(&mut found);
    let def_starts: FxHashSet<usize> = found.iter().map(|d| d.name_start).collect();
    let refs = group_identifiers(identifiers(tokens, source, &lines), source.as_bytes(), &def_starts);
    FileFacts {
        symbols: found.into_iter().map(|d| d.symbol).collect(),
        refs,
        parse_errors: !parsed.errors().is_empty(),
    }
}

/// Byte offsets where each line starts (lines end at `\n`, as in
/// tree-sitter's rows).
struct Lines(Vec<usize>);

impl Lines {
    fn new(source: &[u8]) -> Self {
        let mut starts = Vec::with_capacity(source.len() / 32 + 1);
        starts.push(0);
        starts.extend(memchr::memchr_iter(b'\n', source).map(|i| i + 1));
        Self(starts)
    }

    /// 0-based line of byte `at`.
    fn row(&self, at: usize) -> usize {
        self.0.partition_point(|&s| s <= at) - 1
    }

    fn start(&self, row: usize) -> usize {
        self.0[row]
    }
}

/// The comment token on each line that has one (a line holds at most one).
fn comments_by_line(tokens: &Tokens, lines: &Lines) -> FxHashMap<usize, TextRange> {
    tokens
        .iter()
        .filter(|t| t.kind() == TokenKind::Comment)
        .map(|t| (lines.row(t.start().to_usize()), t.range()))
        .collect()
}

/// Name tokens, in source order, with their 0-based row and byte column —
/// except the names tree-sitter-python calls keywords or punctuation: an
/// f-string's conversion (`{x!r}`), `__future__` in `from __future__
/// import`, and the wildcard `_` of a `case` pattern.
fn identifiers(tokens: &Tokens, source: &str, lines: &Lines) -> Vec<Ident> {
    let mut out = Vec::new();
    let mut row = 0;
    let mut prev = TokenKind::Newline;
    // Bracket depth inside a `case` pattern (`None`: not in one).
    let mut pattern: Option<u32> = None;
    for t in tokens.iter() {
        let kind = t.kind();
        let after = std::mem::replace(&mut prev, kind);
        match (kind, pattern) {
            (TokenKind::Case, _) => pattern = Some(0),
            (TokenKind::Lpar | TokenKind::Lsqb | TokenKind::Lbrace, Some(d)) => pattern = Some(d + 1),
            (TokenKind::Rpar | TokenKind::Rsqb | TokenKind::Rbrace, Some(d)) => pattern = Some(d.saturating_sub(1)),
            (TokenKind::Colon | TokenKind::If, Some(0)) => pattern = None,
            _ => {}
        }
        if kind != TokenKind::Name {
            continue;
        }
        let (start, end) = (t.start().to_usize(), t.end().to_usize());
        if start >= end || end - start > super::MAX_IDENT_BYTES {
            continue;
        }
        let name = &source[start..end];
        if after == TokenKind::Exclamation
            || (after == TokenKind::From && name == "__future__")
            || (pattern.is_some() && name == "_")
        {
            continue;
        }
        while row + 1 < lines.0.len() && lines.0[row + 1] <= start {
            row += 1;
        }
        out.push(Ident {
            start,
            end,
            row,
            column: start - lines.start(row),
        });
    }
    out
}

/// Indentation width of the line starting at `line_start`, as
/// tree-sitter-python's scanner counts it (a tab is 8 columns, a form feed
/// starts over).
fn indent_width(source: &[u8], line_start: usize) -> usize {
    let mut width = 0;
    for &b in &source[line_start..] {
        match b {
            b' ' => width += 1,
            b'\t' => width += 8,
            0x0c => width = 0,
            _ => break,
        }
    }
    width
}

/// Collects definitions while visiting statements.
struct Defs<'s, 'l> {
    source: &'s str,
    lines: &'l Lines,
    comments: FxHashMap<usize, TextRange>,
    tokens: &'l Tokens,
    /// Nesting of statement bodies: 1 in the module's own body.
    depth: usize,
    /// Where the statement before the one visited ends, with the comments
    /// its last block keeps (0 before the first statement of a body).
    /// Comments after it are siblings of the visited one.
    prev_end: usize,
    /// Where the statement last visited ends, with the comments its last
    /// block keeps: computed once, for its own extent (a definition's) and
    /// as the next sibling's `prev_end`.
    stmt_end: usize,
    found: Vec<Def>,
}

impl<'a> StatementVisitor<'a> for Defs<'_, '_> {
    fn visit_body(&mut self, body: &'a [Stmt]) {
        self.depth += 1;
        let mut prev_end = 0;
        for stmt in body {
            self.prev_end = prev_end;
            self.visit_stmt(stmt);
            prev_end = self.stmt_end;
        }
        self.depth -= 1;
    }

    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        let end = match last_block(stmt) {
            Some(block) => self.end_with_trailing_comments(stmt.end().to_usize(), block),
            None => stmt.end().to_usize(),
        };
        match stmt {
            Stmt::FunctionDef(f) => self.define(f.name.range, f.start(), end, "function", Some(&f.body)),
            Stmt::ClassDef(c) => self.define(c.name.range, c.start(), end, "class", Some(&c.body)),
            // A plain name, not `(x) = …`.
            Stmt::Assign(a) if self.depth == 1 => {
                if let Some(Expr::Name(n)) = a.targets.first()
                    && n.start() == a.start()
                {
                    self.define(n.range, a.start(), end, "constant", None);
                }
            }
            Stmt::AnnAssign(a) if self.depth == 1 && a.simple => {
                if let Expr::Name(n) = &*a.target {
                    self.define(n.range, a.start(), end, "constant", None);
                }
            }
            _ => {}
        }
        walk_stmt(self, stmt);
        self.stmt_end = end; // after the nested statements, which set it too
    }
}

impl Defs<'_, '_> {
    /// Records a definition spanning `start..end` (`end` with the trailing
    /// comments its block keeps).
    fn define(&mut self, name: TextRange, start: TextSize, end: usize, kind: &str, body: Option<&[Stmt]>) {
        if name.is_empty() {
            return; // error recovery: `def (`
        }
        let (name_start, name_end) = (name.start().to_usize(), name.end().to_usize());
        let (start_byte, end_byte) = (start.to_usize().min(name_start), end.max(name_end));
        let start_row = self.lines.row(start_byte);
        let doc = self
            .comment_doc(start_byte, start_row)
            .or_else(|| body.and_then(|b| self.docstring(b)));
        self.found.push(Def {
            symbol: Symbol {
                name: self.source[name_start..name_end].to_owned(),
                kind: kind.to_owned(),
                container: None,
                start_line: start_row as u32 + 1,
                end_line: self.lines.row(end_byte) as u32 + 1,
                start_byte: start_byte as u64,
                end_byte: end_byte as u64,
                signature: signature_line(self.source.as_bytes(), name_start),
                doc,
            },
            name_start,
            hooked_container: None,
        });
    }

    /// Where a block ends, as tree-sitter-python ends it: after the
    /// comment on its last line and the comment lines that follow (blank
    /// lines between them allowed), up to the first one indented less than
    /// the block's statements.
    fn end_with_trailing_comments(&self, end: usize, body: &[Stmt]) -> usize {
        let source = self.source.as_bytes();
        let last_row = self.lines.row(end.saturating_sub(1));
        let block_indent = body.first().and_then(|first| {
            let start = first.start().to_usize();
            let line = self.lines.start(self.lines.row(start));
            source[line..start]
                .iter()
                .all(|b| b.is_ascii_whitespace() || *b == 0x0c)
                .then(|| indent_width(source, line))
        });
        let from = self.tokens.partition_point(|t| t.end().to_usize() <= end);
        let mut new_end = end;
        for t in &self.tokens[from..] {
            match t.kind() {
                TokenKind::Newline | TokenKind::NonLogicalNewline | TokenKind::Dedent | TokenKind::Indent => {}
                // `x = 1; pass;`: the last `;` is the block's
                TokenKind::Semi if self.lines.row(t.start().to_usize()) == last_row => new_end = t.end().to_usize(),
                TokenKind::Comment => {
                    let start = t.start().to_usize();
                    let row = self.lines.row(start);
                    let inside = row == last_row
                        || block_indent.is_some_and(|i| indent_width(source, self.lines.start(row)) >= i);
                    if !inside {
                        break;
                    }
                    new_end = t.end().to_usize();
                }
                _ => break,
            }
        }
        new_end
    }

    /// The comments right above a definition that starts its line, as
    /// tree-sitter finds them among the definition's siblings: whole-line
    /// comments up to a blank or code line, and a comment after the code
    /// right above unless it is in that code's block.
    fn comment_doc(&self, start: usize, row: usize) -> Option<String> {
        if !self.source[self.lines.start(row)..start].trim().is_empty() {
            return None; // `A = 1; B = 2`: B is not what the comment above is about
        }
        let mut raw = Vec::new();
        let mut r = row;
        while r > 0 {
            r -= 1;
            let Some(c) = self.comments.get(&r) else { break };
            if c.start().to_usize() < self.prev_end {
                break; // the comment is in the block of the statement before
            }
            // After code: `X = 1  # note`, or a block header's comment
            // above the block's first statement.
            let after_code = !self.source[self.lines.start(r)..c.start().to_usize()].trim().is_empty();
            raw.push(&self.source[c.start().to_usize()..c.end().to_usize()]);
            if after_code {
                break;
            }
        }
        if raw.is_empty() {
            return None;
        }
        raw.reverse();
        let doc = clean_comment(&raw.join("\n"));
        (!doc.is_empty()).then(|| truncate_chars(&doc, MAX_DOC_CHARS))
    }

    /// The string a body starts with, if it is one literal.
    fn docstring(&self, body: &[Stmt]) -> Option<String> {
        let Some(Stmt::Expr(e)) = body.first() else { return None };
        let one_literal = match &*e.value {
            Expr::StringLiteral(s) => !s.value.is_implicit_concatenated(),
            Expr::BytesLiteral(s) => !s.value.is_implicit_concatenated(),
            Expr::FString(s) => !s.value.is_implicit_concatenated(),
            Expr::TString(s) => !s.value.is_implicit_concatenated(),
            _ => false,
        };
        if !one_literal {
            return None;
        }
        let doc = clean_docstring(&self.source[e.value.range()]);
        (!doc.is_empty()).then(|| truncate_chars(&doc, MAX_DOC_CHARS))
    }
}

/// The block a compound statement ends with (`else:`, `finally:`, the
/// last `case`); `None` for a simple statement.
fn last_block(stmt: &Stmt) -> Option<&[Stmt]> {
    let non_empty = |b: &'_ [Stmt]| !b.is_empty();
    Some(match stmt {
        Stmt::FunctionDef(f) => &f.body,
        Stmt::ClassDef(c) => &c.body,
        Stmt::If(i) => i.elif_else_clauses.last().map_or(&i.body[..], |c| &c.body[..]),
        Stmt::For(f) => Some(&f.orelse[..]).filter(|b| non_empty(b)).unwrap_or(&f.body),
        Stmt::While(w) => Some(&w.orelse[..]).filter(|b| non_empty(b)).unwrap_or(&w.body),
        Stmt::With(w) => &w.body,
        Stmt::Match(m) => &m.cases.last()?.body,
        Stmt::Try(t) => [&t.finalbody[..], &t.orelse[..]]
            .into_iter()
            .find(|b| non_empty(b))
            .or_else(|| {
                t.handlers.last().map(|h| match h {
                    ruff_python_ast::ExceptHandler::ExceptHandler(h) => &h.body[..],
                })
            })
            .unwrap_or(&t.body),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{FileFacts, extract_with_tree_sitter};
    use crate::langs::grammar;
    use std::time::Duration;

    fn tree_sitter(src: &str) -> FileFacts {
        extract_with_tree_sitter(grammar("python").unwrap(), src.as_bytes(), Duration::from_secs(5)).unwrap()
    }

    /// What tree-sitter-python reads in the corners of the language: the
    /// ruff extraction must find the same definitions, ranges, docs and
    /// identifier occurrences.
    const CORNERS: &str = r#"#!/usr/bin/env python3
"""Module docstring."""
from __future__ import annotations
import os.path as osp

# Limits.
LIMIT = 10  # per call
# Follows a trailing comment.
RATE: float = 1.5
A = 1; B = 2
(PAREN) = 3
X = Y = 4
MC_A=0; MC_B=1;


class Base:  # a header comment
    def first(self): pass  # one-liner
    def second(self):
        """Second."""
        return f"{self!r} {osp.join('a', 'b')!s}"
        # trailing, inside second

    # between, inside Base
    @property
    def third(self):
        x = 1; y = 2;
        return x + y  # last line
    # at the class's depth
# at the module's depth

#
def after():
    """The docstring still counts."""
    match os.sep:
        case "/" if _ := 1:
            return _
        case _:
            pass


if os.name == "nt":  # Windows only
    def win():
        pass
else:
    # elsewhere
    async def win():
        type = match = 1
        return type + match
        # ends win


def deep():
    def inner():
        class Local:
            value = 1
        return Local
    return inner
"#;

    #[test]
    fn the_corners_of_python_read_as_tree_sitter_reads_them() {
        let ruff = super::extract(CORNERS);
        let ts = tree_sitter(CORNERS);
        assert_eq!(ruff.symbols, ts.symbols);
        assert_eq!(ruff.refs, ts.refs);
        assert_eq!(ruff.parse_errors, ts.parse_errors);
        let find = |name: &str| ruff.symbols.iter().find(|s| s.name == name).unwrap();
        assert_eq!(find("LIMIT").doc.as_deref(), Some("Limits."));
        assert_eq!(
            find("RATE").doc.as_deref(),
            Some("per call\nFollows a trailing comment.")
        );
        assert_eq!(find("first").doc.as_deref(), Some("a header comment"));
        assert_eq!(find("after").doc.as_deref(), Some("The docstring still counts."));
        assert_eq!(find("second").end_line, 21);
        assert_eq!(find("third").end_line, 27);
        assert_eq!(find("Base").end_line, 28);
        assert_eq!(find("win").doc.as_deref(), Some("Windows only"));
        assert!(ruff.symbols.iter().all(|s| s.name != "PAREN" && s.name != "Y"));
        let names: Vec<&str> = ruff.refs.iter().map(|g| g.name.as_str()).collect();
        for keywordish in ["r", "s", "__future__"] {
            assert!(!names.contains(&keywordish), "{keywordish} in {names:?}");
        }
        assert!(names.contains(&"type") && names.contains(&"match"), "{names:?}");
        // `case _:` is a wildcard; the walrus-bound `_` is a name.
        let underscore = ruff.refs.iter().find(|g| g.name == "_").unwrap();
        assert_eq!(underscore.at.len(), 2, "{:?}", underscore.at);
    }

    #[test]
    fn python_sources_of_this_repository_read_alike() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let files = [
            "fixtures/code/src/inventory.py",
            "scripts/check-invariants.py",
            "apps/lettuce/tests/mcp/client.py",
            "adapters/git-generic/tests/support/git_http_server.py",
        ];
        for f in files {
            let src = std::fs::read_to_string(root.join(f)).unwrap();
            assert_eq!(super::extract(&src), tree_sitter(&src), "{f}");
        }
    }

    #[test]
    fn broken_and_deeply_nested_sources_are_read_without_a_crash() {
        let broken = super::extract("def f(:\n    return\nclass C\n    def g(self): pass\n");
        assert!(broken.parse_errors);
        assert!(broken.symbols.iter().any(|s| s.name == "g"), "{:?}", broken.symbols);
        let deep = format!("x = {}1{}\n", "(".repeat(50_000), ")".repeat(50_000));
        let facts = super::extract(&deep);
        assert_eq!(facts.symbols.len(), 1);
        let empty = super::extract("");
        assert!(empty.symbols.is_empty() && empty.refs.is_empty() && !empty.parse_errors);
    }
}
