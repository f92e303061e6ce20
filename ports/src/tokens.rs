//! Counting tokens the way a model's tokenizer does, for the token
//! accounting every navigation answer carries.

/// Counts tokens of text. Implementations: a BPE tokenizer (`tokens-bpe`),
/// and in tests a whitespace counter.
pub trait TokenCounter: Send + Sync + std::fmt::Debug + 'static {
    /// Name of the encoding (`o200k_base`, …), reported with usage.
    fn encoding(&self) -> &'static str;

    /// Number of tokens `text` encodes to. Never fails: every string has a
    /// token count.
    fn count(&self, text: &str) -> u64;
}

/// Counts whitespace-separated words: a deterministic stand-in for tests
/// and for builds without a tokenizer.
#[derive(Debug, Default, Clone, Copy)]
pub struct WordCounter;

impl TokenCounter for WordCounter {
    fn encoding(&self) -> &'static str {
        "words"
    }

    fn count(&self, text: &str) -> u64 {
        text.split_whitespace().count() as u64
    }
}
