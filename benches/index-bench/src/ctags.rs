//! universal-ctags output as ground truth: parsing a tags file written with
//! `--excmd=number --fields=+nKel`, and choosing questions from it
//! deterministically.

use lettuce_engine::domain::code::detect_language;
use lettuce_index_tantivy::langs::PARSED_LANGUAGES;
use std::collections::HashMap;

/// The ctags command line of the ground-truth run (besides `-f FILE` and the
/// directory): line numbers as the address, long kind names, the end line
/// and the language.
pub const GROUND_TRUTH_ARGS: &[&str] = &["-R", "--excmd=number", "--fields=+nKel"];

/// One tag: a definition ctags found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The defined name.
    pub name: String,
    /// File, relative to the corpus root.
    pub path: String,
    /// Line of the definition (1-based).
    pub line: u32,
    /// Long kind name (`function`, `member`, `class`, `method`, …).
    pub kind: String,
    /// ctags' language name (`Python`, `Rust`, …).
    pub language: String,
    /// Last line, when ctags knows it.
    pub end: Option<u32>,
}

/// Parses a tags file. Paths are made relative by removing `root_prefix`
/// (the directory as it was given to ctags) and a leading `./`.
pub fn parse_tags(text: &str, root_prefix: &str) -> Vec<Tag> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("!_") || line.is_empty() {
            continue;
        }
        let Some((head, fields)) = line.split_once(";\"\t") else {
            continue;
        };
        let mut cols = head.splitn(3, '\t');
        let (Some(name), Some(path), Some(addr)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        let mut tag = Tag {
            name: name.to_owned(),
            path: relative(path, root_prefix).to_owned(),
            line: addr.trim().parse().unwrap_or(0),
            kind: String::new(),
            language: String::new(),
            end: None,
        };
        for f in fields.split('\t') {
            match f.split_once(':') {
                Some(("line", v)) => tag.line = v.parse().unwrap_or(tag.line),
                Some(("language", v)) => tag.language = v.to_owned(),
                Some(("end", v)) => tag.end = v.parse().ok(),
                Some(("kind", v)) => tag.kind = v.to_owned(),
                Some(_) => {}
                None if tag.kind.is_empty() => tag.kind = f.to_owned(),
                None => {}
            }
        }
        if tag.line > 0 {
            out.push(tag);
        }
    }
    out
}

fn relative<'a>(path: &'a str, root_prefix: &str) -> &'a str {
    let root = root_prefix.trim_end_matches('/');
    let p = path
        .strip_prefix(root)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(path);
    p.strip_prefix("./").unwrap_or(p)
}

/// FNV-1a: a stable hash for deterministic samples (the same on every
/// machine and Rust version, unlike `DefaultHasher`).
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Whether Lettuce parses files at `path` (a language with a grammar).
pub fn is_code_path(path: &str) -> bool {
    detect_language(path, b"").is_some_and(|l| PARSED_LANGUAGES.contains(&l))
}

/// Kinds a question may ask about: functions, methods (Python's `member`)
/// and classes; for Rust also structs, enums and traits (`interface`).
pub fn is_question_kind(t: &Tag) -> bool {
    match t.kind.as_str() {
        "function" | "method" | "class" => true,
        "member" => t.language == "Python",
        "struct" | "enum" | "interface" => t.language == "Rust",
        _ => false,
    }
}

/// Whether a definition can be called (for "who calls Y").
pub fn is_callable(t: &Tag) -> bool {
    matches!(t.kind.as_str(), "function" | "method") || (t.kind == "member" && t.language == "Python")
}

/// A name whose only ctags definition is `tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The definition.
    pub tag: Tag,
}

/// Definitions of a question kind, in a code file, whose name has exactly
/// one ctags definition in the corpus (Rust `impl` blocks, which ctags tags
/// with the implemented type's name, do not count as definitions), ordered
/// by a stable hash of name and path; the first `n`.
pub fn unique_definitions(tags: &[Tag], n: usize) -> Vec<Question> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for t in tags.iter().filter(|t| t.kind != "implementation") {
        *count.entry(t.name.as_str()).or_default() += 1;
    }
    let mut picked: Vec<&Tag> = tags
        .iter()
        .filter(|t| count.get(t.name.as_str()) == Some(&1))
        .filter(|t| is_question_kind(t) && is_code_path(&t.path))
        .filter(|t| t.name.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .collect();
    picked.sort_by_key(|t| (stable_hash(&format!("{}\t{}", t.name, t.path)), t.name.clone()));
    picked.truncate(n);
    picked.into_iter().map(|t| Question { tag: t.clone() }).collect()
}

/// Code files with at least one definition of a question kind, ordered by
/// a stable hash of the path; the first `n`, each with those definitions.
pub fn module_files(tags: &[Tag], n: usize) -> Vec<(String, Vec<Tag>)> {
    let mut by_file: HashMap<&str, Vec<Tag>> = HashMap::new();
    for t in tags.iter().filter(|t| is_question_kind(t) && is_code_path(&t.path)) {
        by_file.entry(t.path.as_str()).or_default().push(t.clone());
    }
    let mut files: Vec<(String, Vec<Tag>)> = by_file.into_iter().map(|(p, v)| (p.to_owned(), v)).collect();
    files.sort_by_key(|(p, _)| (stable_hash(p), p.clone()));
    files.truncate(n);
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAGS: &str = "!_TAG_FILE_FORMAT\t2\t/extended format/\n\
parse_url\t/c/net/url.py\t12;\"\tfunction\tline:12\tlanguage:Python\tend:20\n\
Client\t/c/net/client.py\t3;\"\tclass\tline:3\tlanguage:Python\tend:40\n\
send\t/c/net/client.py\t9;\"\tmember\tline:9\tlanguage:Python\tclass:Client\tend:14\n\
send\t/c/net/other.py\t2;\"\tfunction\tline:2\tlanguage:Python\tend:3\n\
Widget\t/c/w.rs\t1;\"\tstruct\tline:1\tlanguage:Rust\tend:4\n\
Widget\t/c/w.rs\t6;\"\timplementation\tline:6\tlanguage:Rust\tend:9\n\
VERSION\t/c/net/url.py\t1;\"\tvariable\tline:1\tlanguage:Python\n\
target\t/c/Makefile\t5;\"\ttarget\tline:5\tlanguage:Make\n";

    #[test]
    fn parses_number_addressed_tags_with_long_kinds() {
        let tags = parse_tags(TAGS, "/c");
        assert_eq!(tags.len(), 8);
        assert_eq!(
            tags[0],
            Tag {
                name: "parse_url".into(),
                path: "net/url.py".into(),
                line: 12,
                kind: "function".into(),
                language: "Python".into(),
                end: Some(20),
            }
        );
        assert_eq!(tags[2].kind, "member");
        assert_eq!(parse_tags("x\t./a.py\t7;\"\tclass\n", ".")[0].path, "a.py");
        assert_eq!(parse_tags("x\ta.py\t7;\"\tkind:class\n", "")[0].kind, "class");
        assert_eq!(
            parse_tags("x\t./.github/a.py\t7;\"\tclass\n", ".")[0].path,
            ".github/a.py"
        );
    }

    #[test]
    fn questions_are_unique_names_of_question_kinds_in_code_files() {
        let tags = parse_tags(TAGS, "/c");
        let q = unique_definitions(&tags, 100);
        let mut names: Vec<&str> = q.iter().map(|q| q.tag.name.as_str()).collect();
        names.sort();
        // `send` has two definitions; VERSION and target are not question kinds;
        // the impl block does not make Widget ambiguous.
        assert_eq!(names, ["Client", "Widget", "parse_url"]);
        assert_eq!(unique_definitions(&tags, 2).len(), 2);
        assert_eq!(unique_definitions(&tags, 100), q, "deterministic");
        let files = module_files(&tags, 10);
        let client = files.iter().find(|(p, _)| p == "net/client.py").unwrap();
        assert_eq!(client.1.len(), 2);
        assert!(files.iter().all(|(p, _)| p != "Makefile"));
    }

    #[test]
    fn stable_hash_is_fnv1a() {
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
