//! # lettuce-tokens-bpe
//!
//! A [`TokenCounter`] over OpenAI's BPE encodings, using GitHub's `bpe` /
//! `bpe-openai` crates: the same token counts as `tiktoken` (checked
//! against `tiktoken-rs` in the tests) several times faster, with no
//! worst-case blow-up on long inputs. Lettuce counts with `o200k_base` (the
//! GPT-4o encoding) by default; `cl100k_base` is available. No model's
//! tokenizer is exact for every other model — the encoding is reported with
//! usage so figures are comparable.
//!
//! Counting is on the index's path (every file's count is stored with it),
//! so three things keep it cheap: each thread remembers the counts of the
//! pre-tokenized pieces it has seen, ASCII text is split for `o200k_base`
//! by a scanner instead of the regex (same pieces, see `split.rs`), and the
//! encoding tables load on a thread of their own when a counter is built.
//!
//! ```
//! use lettuce_ports::tokens::TokenCounter;
//! let tokens = lettuce_tokens_bpe::BpeCounter::o200k();
//! assert_eq!(tokens.encoding(), "o200k_base");
//! assert!(tokens.count("fn main() { println!(\"hi\"); }") > 5);
//! ```
#![deny(missing_docs)]

use lettuce_ports::tokens::TokenCounter;
use std::sync::Once;

mod split;

/// Counts tokens with one of OpenAI's BPE encodings.
#[derive(Clone, Copy)]
pub struct BpeCounter {
    name: &'static str,
    /// The encoding's tables (loaded once per process, see [`warm_up`]).
    tables: fn() -> &'static bpe_openai::Tokenizer,
    /// Splits ASCII text without the regex ([`split::O200kAscii`]).
    ascii_split: bool,
}

impl std::fmt::Debug for BpeCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BpeCounter").field("encoding", &self.name).finish()
    }
}

impl BpeCounter {
    /// `o200k_base` (GPT-4o, o1, o3). The encoding tables start loading
    /// in the background (see [`warm_up`]).
    pub fn o200k() -> Self {
        static LOADING: Once = Once::new();
        warm_up(&LOADING, bpe_openai::o200k_base);
        Self {
            name: "o200k_base",
            tables: bpe_openai::o200k_base,
            ascii_split: true,
        }
    }

    /// `cl100k_base` (GPT-4, GPT-3.5).
    pub fn cl100k() -> Self {
        static LOADING: Once = Once::new();
        warm_up(&LOADING, bpe_openai::cl100k_base);
        Self {
            name: "cl100k_base",
            tables: bpe_openai::cl100k_base,
            ascii_split: false,
        }
    }

    /// The encoding called `name` (`o200k_base`, `cl100k_base`), if known.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "o200k_base" => Some(Self::o200k()),
            "cl100k_base" => Some(Self::cl100k()),
            _ => None,
        }
    }
}

impl TokenCounter for BpeCounter {
    fn encoding(&self) -> &'static str {
        self.name
    }

    fn count(&self, text: &str) -> u64 {
        let tables = (self.tables)();
        let text = tables.normalize(text);
        let text = text.as_str();
        if self.ascii_split && text.is_ascii() {
            count_pieces(tables, split::O200kAscii::new(text))
        } else {
            count_pieces(tables, tables.split(text))
        }
    }
}

/// The sum of the pieces' token counts.
fn count_pieces<'a>(tables: &'static bpe_openai::Tokenizer, pieces: impl Iterator<Item = &'a str>) -> u64 {
    let key = tables as *const bpe_openai::Tokenizer as usize;
    PIECES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != key || cache.1.len() >= MAX_CACHED_PIECES {
            cache.0 = key;
            cache.1.clear();
        }
        let mut total = 0u64;
        for piece in pieces {
            let bytes = piece.as_bytes();
            total += if bytes.len() == 1 {
                1 // every single byte is a token of the byte-level encodings
            } else if bytes.len() > MAX_CACHED_PIECE_BYTES {
                tables.bpe.count(bytes) as u64
            } else if let Some(n) = cache.1.get(bytes) {
                u64::from(*n)
            } else {
                let n = tables.bpe.count(bytes) as u32;
                cache.1.insert(bytes.into(), n);
                u64::from(n)
            };
        }
        total
    })
}

/// Starts loading an encoding's tables (~0.2 s of one core for
/// `o200k_base`) on a thread of its own, once per process: a process that
/// builds its counter at startup (`lettuce index`) walks its files
/// meanwhile instead of waiting. The first count waits for the load if it
/// is not done; if no thread can be started, that count loads the tables.
fn warm_up(once: &'static Once, tables: fn() -> &'static bpe_openai::Tokenizer) {
    once.call_once(|| {
        let _ = std::thread::Builder::new().name("bpe-tables".into()).spawn(move || {
            tables();
        });
    });
}

/// Longest pre-tokenized piece whose count is remembered.
const MAX_CACHED_PIECE_BYTES: usize = 48;
/// Pieces remembered per thread before the cache starts over (a few MB).
const MAX_CACHED_PIECES: usize = 64 * 1024;

thread_local! {
    /// Token counts of pre-tokenized pieces (`" self"`, `"parse"`, `"():\n"`),
    /// per thread, for the tokenizer at the recorded address. Code repeats
    /// its identifiers and punctuation, so most pieces of a file were seen
    /// before: the byte-pair encoding runs once per distinct piece instead
    /// of once per occurrence — same counts (1.4× faster on the CPython
    /// stdlib; `examples/count_tree.rs`).
    static PIECES: std::cell::RefCell<(usize, PieceCounts)> =
        std::cell::RefCell::new((0, PieceCounts::default()));
}

/// Token count per pre-tokenized piece (pieces are short: Fx hashing).
type PieceCounts = std::collections::HashMap<Box<[u8]>, u32, rustc_hash::FxBuildHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &[&str] = &[
        "",
        "hello world",
        "fn parse_url(url: &str) -> Result<Url, ParseError> {\n    Url::parse(url)\n}\n",
        "def __init__(self, sku, quantity=0):\n        self.sku = sku  # ünïcödé 日本語\n",
        "    \t\n\n   x = [1, 2, 3]  // 🎉🎉🎉\r\n",
    ];

    #[test]
    fn counts_equal_tiktoken() {
        let o200k = tiktoken_rs::o200k_base().unwrap();
        let cl100k = tiktoken_rs::cl100k_base().unwrap();
        let long = SAMPLES.concat().repeat(200);
        for s in SAMPLES.iter().copied().chain([long.as_str()]) {
            assert_eq!(
                BpeCounter::o200k().count(s),
                o200k.encode_ordinary(s).len() as u64,
                "{s:?}"
            );
            assert_eq!(
                BpeCounter::cl100k().count(s),
                cl100k.encode_ordinary(s).len() as u64,
                "{s:?}"
            );
        }
    }

    #[test]
    fn cached_pieces_count_like_the_encoder() {
        // Real code with repeated identifiers, long pieces and non-ASCII text;
        // encodings alternate on one thread so the cache starts over, and each
        // text is counted twice (the second time from the cache).
        let texts = [
            include_str!("lib.rs").to_owned(),
            SAMPLES.concat(),
            format!("{} {}", "x".repeat(200), "日本語のテキスト ünïcödé ".repeat(50)),
        ];
        for _ in 0..2 {
            for t in &texts {
                assert_eq!(
                    BpeCounter::o200k().count(t),
                    bpe_openai::o200k_base().count(t.as_str()) as u64
                );
                assert_eq!(
                    BpeCounter::cl100k().count(t),
                    bpe_openai::cl100k_base().count(t.as_str()) as u64
                );
            }
        }
    }

    #[test]
    fn names() {
        assert_eq!(BpeCounter::by_name("cl100k_base").unwrap().encoding(), "cl100k_base");
        assert!(BpeCounter::by_name("p50k").is_none());
        assert_eq!(
            format!("{:?}", BpeCounter::o200k()),
            "BpeCounter { encoding: \"o200k_base\" }"
        );
    }
}
