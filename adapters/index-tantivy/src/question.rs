//! Rules for questions asked in words (`search_code` text mode, `locate`):
//! which words carry no meaning (stop words), how words are stemmed, and
//! how much a file's kind weighs (source above tests, docs, changelogs).

use rust_stemmers::{Algorithm, Stemmer};
use std::sync::OnceLock;

/// Words that say nothing about where code lives: English function words
/// and the verbs commit subjects and task titles start with.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "after",
    "again",
    "all",
    "also",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "between",
    "both",
    "but",
    "by",
    "can",
    "cannot",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "don",
    "done",
    "during",
    "each",
    "either",
    "else",
    "etc",
    "even",
    "ever",
    "every",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "him",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "isn",
    "it",
    "its",
    "itself",
    "just",
    "let",
    "like",
    "may",
    "me",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "one",
    "only",
    "or",
    "other",
    "our",
    "out",
    "over",
    "own",
    "please",
    "same",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "upon",
    "us",
    "very",
    "via",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "within",
    "without",
    "would",
    "yet",
    "you",
    "your", // task and commit verbs
    "add",
    "added",
    "adding",
    "adds",
    "allow",
    "allows",
    "change",
    "changed",
    "changes",
    "correct",
    "correctly",
    "ensure",
    "fix",
    "fixed",
    "fixes",
    "fixing",
    "handle",
    "handles",
    "implement",
    "improve",
    "improved",
    "instead",
    "make",
    "makes",
    "properly",
    "refactor",
    "remove",
    "removed",
    "removes",
    "support",
    "supports",
    "update",
    "updated",
    "updates",
    "use",
    "used",
    "uses",
    "using",
    "issue",
    "bug",
    "now",
    "new",
    "work",
    "works",
    "wip",
    "minor",
    "small",
    "some",
    "cleanup",
    "tweak",
];

/// Whether `word` (lower-case) is a stop word.
pub(crate) fn is_stop_word(word: &str) -> bool {
    static SET: OnceLock<std::collections::HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| STOP_WORDS.iter().copied().collect()).contains(word)
}

/// The English (Porter 2) stem of a lower-case word; words with digits or
/// `_` and short words are their own stem.
pub(crate) fn stem(word: &str) -> String {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    if word.len() < 4 || !word.chars().all(|c| c.is_ascii_lowercase()) {
        return word.to_owned();
    }
    STEMMER
        .get_or_init(|| Stemmer::create(Algorithm::English))
        .stem(word)
        .into_owned()
}

/// What kind of file a path names, for ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathClass {
    Source,
    Test,
    Doc,
    Changelog,
}

/// The class of `path`.
pub(crate) fn path_class(path: &str) -> PathClass {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let stem = name.split('.').next().unwrap_or(name);
    if matches!(
        stem,
        "changelog" | "changes" | "news" | "history" | "releases" | "release-notes" | "release_notes"
    ) || lower.starts_with("changelog")
        || lower.contains("/changelog")
        || lower.contains("changes/")
    {
        return PathClass::Changelog;
    }
    if crate::search::is_test_path(path) {
        return PathClass::Test;
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if matches!(ext, "md" | "rst" | "txt" | "adoc" | "markdown")
        || lower.starts_with("docs/")
        || lower.starts_with("doc/")
        || lower.contains("/docs/")
        || lower.starts_with("examples/")
    {
        return PathClass::Doc;
    }
    PathClass::Source
}

/// How much a file of `class` weighs for a question whose words (lower
/// case) are `words`: source 1; tests, docs and changelogs less unless the
/// question names them.
pub(crate) fn class_weight(class: PathClass, words: &[String]) -> f32 {
    let asks = |stems: &[&str]| words.iter().any(|w| stems.iter().any(|s| w.starts_with(s)));
    match class {
        PathClass::Source => 1.0,
        PathClass::Test if asks(&["test", "spec"]) => 1.0,
        PathClass::Test => 0.2,
        PathClass::Doc if asks(&["doc", "readme", "example", "tutorial"]) => 1.0,
        PathClass::Doc => 0.25,
        PathClass::Changelog if asks(&["changelog", "release", "news"]) => 1.0,
        PathClass::Changelog => 0.08,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_plurals_and_tenses_together() {
        assert_eq!(stem("callbacks"), stem("callback"));
        assert_eq!(stem("errors"), stem("error"));
        assert_eq!(stem("called"), stem("call"));
        assert_eq!(stem("url"), "url");
        assert_eq!(stem("utf8"), "utf8");
    }

    #[test]
    fn classes_and_weights() {
        assert_eq!(path_class("src/flask/app.py"), PathClass::Source);
        assert_eq!(path_class("tests/test_app.py"), PathClass::Test);
        assert_eq!(path_class("docs/api.rst"), PathClass::Doc);
        assert_eq!(path_class("README.md"), PathClass::Doc);
        assert_eq!(path_class("CHANGES.rst"), PathClass::Changelog);
        assert_eq!(path_class("CHANGELOG.md"), PathClass::Changelog);
        let plain = vec!["teardown".to_owned()];
        assert!(class_weight(PathClass::Test, &plain) < 1.0);
        assert_eq!(class_weight(PathClass::Test, &["tests".to_owned()]), 1.0);
        assert!(is_stop_word("the") && is_stop_word("fix") && !is_stop_word("teardown"));
    }
}
