//! The identifier-aware tokenizer: words are maximal runs of letters,
//! digits and `_`; each word is indexed lowercased, and when it has several
//! parts (`parse_url`, `HTTPServer`, `utf8Decode`) each part is indexed too,
//! so `parse url`, `parseUrl` and `parse_url` all find `parse_url`. A word
//! longer than [`MAX_WORD_BYTES`] is indexed by its parts only, so every
//! part of every word is a term (exact substring search relies on it). A
//! file with such a word gets the [`OVERLONG_WORD`] marker in a field of its
//! own ([`has_overlong_word`]): a file without it has every word as a term,
//! which lets a substring search narrow by the prefix of a literal's last
//! word. (In the content field the marker would change BM25's length
//! normalisation, and with it the ranking of text questions.)

use lettuce_domain::code::{is_word_char, split_identifier};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Name the tokenizer is registered under.
pub const CODE_TOKENIZER: &str = "lettuce_code";

/// Longest word or part indexed as a term. Longer words (long test names,
/// but also hashes and base64) contribute their parts up to this length.
pub const MAX_WORD_BYTES: usize = 64;

/// The marker term of a file with a word longer than [`MAX_WORD_BYTES`].
pub const OVERLONG_WORD: &str = "\u{1}overlong";

/// See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct CodeTokenizer {
    token: Token,
}

/// The token stream of one text.
pub struct CodeTokenStream<'a> {
    text: &'a str,
    pos: usize,
    token: &'a mut Token,
    /// Parts of the current word still to emit: (start, end) in `text`.
    parts: Vec<(usize, usize)>,
    position: usize,
}

impl Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream<'a> {
        self.token.reset();
        CodeTokenStream {
            text,
            pos: 0,
            token: &mut self.token,
            parts: Vec::new(),
            position: 0,
        }
    }
}

impl CodeTokenStream<'_> {
    fn emit(&mut self, start: usize, end: usize) {
        let t = &mut *self.token;
        t.text.clear();
        let s = &self.text[start..end];
        if s.is_ascii() {
            t.text.push_str(s);
            t.text.make_ascii_lowercase();
        } else {
            t.text.extend(s.chars().flat_map(char::to_lowercase));
        }
        t.offset_from = start;
        t.offset_to = end;
        t.position = self.position;
        t.position_length = 1;
        self.position += 1;
    }

    /// The next word's byte range.
    fn next_word(&mut self) -> Option<(usize, usize)> {
        let bytes = self.text.as_bytes();
        // Skip separators.
        while self.pos < bytes.len() {
            let b = bytes[self.pos];
            if b.is_ascii_alphanumeric() || b == b'_' {
                break;
            }
            if b < 0x80 {
                self.pos += 1;
            } else {
                let c = self.text[self.pos..].chars().next().unwrap_or(' ');
                if is_word_char(c) {
                    break;
                }
                self.pos += c.len_utf8();
            }
        }
        if self.pos >= bytes.len() {
            return None;
        }
        let start = self.pos;
        while self.pos < bytes.len() {
            let b = bytes[self.pos];
            if b.is_ascii_alphanumeric() || b == b'_' {
                self.pos += 1;
            } else if b < 0x80 {
                break;
            } else {
                let c = self.text[self.pos..].chars().next().unwrap_or(' ');
                if !is_word_char(c) {
                    break;
                }
                self.pos += c.len_utf8();
            }
        }
        Some((start, self.pos))
    }
}

impl TokenStream for CodeTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if let Some((s, e)) = self.parts.pop() {
            self.emit(s, e);
            return true;
        }
        loop {
            let Some((start, end)) = self.next_word() else {
                return false;
            };
            let word = &self.text[start..end];
            if is_one_part(word) {
                if word.len() > MAX_WORD_BYTES {
                    continue; // one overlong part: noise
                }
                self.emit(start, end);
                return true;
            }
            let parts = split_identifier(word);
            if parts.is_empty() {
                continue; // only underscores
            }
            let overlong = word.len() > MAX_WORD_BYTES;
            if parts.len() > 1 || parts[0].len() != word.len() || overlong {
                // Emitted in order: pop from the back.
                for p in parts.iter().rev().filter(|p| p.len() <= MAX_WORD_BYTES) {
                    let off = p.as_ptr() as usize - word.as_ptr() as usize;
                    self.parts.push((start + off, start + off + p.len()));
                }
            }
            if overlong {
                match self.parts.pop() {
                    Some((s, e)) => self.emit(s, e),
                    None => continue, // one overlong part: noise
                }
            } else {
                self.emit(start, end);
            }
            return true;
        }
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

/// Whether `text` has a word longer than [`MAX_WORD_BYTES`] (one the
/// tokenizer indexes by its parts only, or not at all).
/// One byte pass that errs on the side of `true`: every non-ASCII byte
/// counts as a word byte, so a file is never wrongly left unmarked.
pub fn has_overlong_word(text: &str) -> bool {
    let mut run = 0usize;
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 {
            run += 1;
            if run > MAX_WORD_BYTES {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// Whether `split_identifier` would return `word` whole (most words: `self`,
/// `Client`, `HTTP`), decided without splitting.
fn is_one_part(word: &str) -> bool {
    let b = word.as_bytes();
    match b.split_first() {
        Some((first, rest)) if first.is_ascii_uppercase() => {
            rest.iter().all(u8::is_ascii_lowercase) || rest.iter().all(u8::is_ascii_uppercase)
        }
        Some(_) => b.iter().all(u8::is_ascii_lowercase),
        None => false,
    }
}

/// The terms a text produces, in order (for queries and tests).
pub fn terms(text: &str) -> Vec<String> {
    let mut t = CodeTokenizer::default();
    let mut stream = t.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_their_parts_lowercased() {
        assert_eq!(
            terms("fn parseUrl(x: &str) -> HTTPResult"),
            [
                "fn",
                "parseurl",
                "parse",
                "url",
                "x",
                "str",
                "httpresult",
                "http",
                "result"
            ]
        );
        assert_eq!(
            terms("__init__ self.max_len"),
            ["__init__", "init", "self", "max_len", "max", "len"]
        );
        assert_eq!(
            terms("Ünïcode_Wörter 42"),
            ["ünïcode_wörter", "ünïcode", "wörter", "42"]
        );
        assert_eq!(terms("___ ..."), Vec::<String>::new());
        let long = "a".repeat(MAX_WORD_BYTES + 1);
        assert_eq!(terms(&format!("{long} ok")), ["ok"]);
        // Overlong words keep their parts (not the whole word).
        let name = "file_read_should_fall_back_to_blocking_if_runtime_has_no_io_driver";
        let t = terms(&format!("{name}() {long}_x"));
        assert_eq!(t.len(), 13 + 1, "{t:?}");
        assert_eq!(&t[..3], ["file", "read", "should"]);
        assert_eq!(t.last().map(String::as_str), Some("x"));
        assert!(!t.contains(&name.to_owned()));
    }

    #[test]
    fn overlong_words_are_detected() {
        let long = "a".repeat(MAX_WORD_BYTES + 1);
        let name = "file_read_should_fall_back_to_blocking_if_runtime_has_no_io_driver";
        assert!(has_overlong_word(&format!("x {long} ok")));
        assert!(has_overlong_word(&format!("{name}()")));
        assert!(!has_overlong_word(&"a".repeat(MAX_WORD_BYTES)));
        assert!(!has_overlong_word("short words only"));
    }

    #[test]
    fn one_part_words_are_the_words_split_identifier_keeps_whole() {
        for w in [
            "self",
            "Client",
            "HTTP",
            "x",
            "X",
            "Ab",
            "aB",
            "HTTPServer",
            "utf8",
            "a_b",
            "_a",
            "Über",
            "éa",
        ] {
            let whole = split_identifier(w) == [w];
            assert!(
                !is_one_part(w) || whole,
                "{w}: fast path disagrees with split_identifier"
            );
        }
        assert!(is_one_part("self") && is_one_part("Client") && is_one_part("HTTP"));
        assert!(!is_one_part("aB") && !is_one_part("HTTPServer") && !is_one_part("a_b"));
    }
}
