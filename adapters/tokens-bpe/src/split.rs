//! `o200k_base`'s pre-tokenization of ASCII text without the regex.
//!
//! Splitting is half of counting (the regex runs once per piece, ~7 M
//! pieces on the CPython standard library). On ASCII text the pattern
//! reduces to a few byte classes, so this scanner finds the same pieces
//! several times faster; text with any other byte goes through the regex.
//! The tests check it against `bpe_openai`'s regex splitter on random
//! strings of the characters that matter and on real source files.
//!
//! The pattern (`bpe_openai`, after tiktoken), tried in order at each
//! position, the first alternative that matches winning:
//!
//! 1. `[^\r\n\p{L}\p{N}]?[\p{Lu}…]*[\p{Ll}…]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?`
//! 2. `[^\r\n\p{L}\p{N}]?[\p{Lu}…]+[\p{Ll}…]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?`
//! 3. `\p{N}{1,3}`
//! 4. ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
//! 5. `\s*[\r\n]+`
//! 6. `\s+$`
//! 7. `\s+\s`, without its last character (tiktoken's `\s+(?!\S)`)
//! 8. `\s+`

/// ASCII whitespace as the regex's `\s` sees it: `\t \n \v \f \r` and space.
fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

fn is_newline(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// Neither letter, digit nor whitespace (`[^\s\p{L}\p{N}]`).
fn is_other(b: u8) -> bool {
    !b.is_ascii_alphanumeric() && !is_space(b)
}

/// May precede a word (`[^\r\n\p{L}\p{N}]`).
fn is_prefix(b: u8) -> bool {
    !b.is_ascii_alphanumeric() && !is_newline(b)
}

/// Pieces of an ASCII `text`, as `o200k_base`'s regex splits it.
pub(crate) struct O200kAscii<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> O200kAscii<'a> {
    /// `text` must be ASCII.
    pub(crate) fn new(text: &'a str) -> Self {
        debug_assert!(text.is_ascii());
        Self { text, at: 0 }
    }

    /// End of the longest run from `i` of bytes satisfying `f`.
    fn run(&self, mut i: usize, f: impl Fn(u8) -> bool) -> usize {
        let s = self.text.as_bytes();
        while i < s.len() && f(s[i]) {
            i += 1;
        }
        i
    }

    /// End of an optional contraction at `i` (`'s`, `'RE`, …).
    fn contraction(&self, i: usize) -> usize {
        let s = self.text.as_bytes();
        if s.get(i) != Some(&b'\'') {
            return i;
        }
        let lower = |k: usize| s.get(i + k).map(u8::to_ascii_lowercase);
        match (lower(1), lower(2)) {
            (Some(b's' | b't' | b'm' | b'd'), _) => i + 2,
            (Some(b'r'), Some(b'e')) | (Some(b'v'), Some(b'e')) | (Some(b'l'), Some(b'l')) => i + 3,
            _ => i,
        }
    }

    /// End of the piece starting at `i` (< len).
    fn piece_end(&self, i: usize) -> usize {
        let s = self.text.as_bytes();
        let c = s[i];
        // 1 and 2: an optional prefix, then a word.
        let word = if is_prefix(c) { i + 1 } else { i };
        let upper = self.run(word, |b| b.is_ascii_uppercase());
        let lower = self.run(upper, |b| b.is_ascii_lowercase());
        if lower > upper || upper > word {
            return self.contraction(lower);
        }
        // 3: up to three digits.
        if c.is_ascii_digit() {
            return self.run(i, |b| b.is_ascii_digit()).min(i + 3);
        }
        // 4: an optional space, punctuation, trailing newlines and slashes.
        let punct = if c == b' ' { i + 1 } else { i };
        if s.get(punct).is_some_and(|&b| is_other(b)) {
            let end = self.run(punct, is_other);
            return self.run(end, |b| is_newline(b) || b == b'/');
        }
        // 5 to 8: whitespace.
        let end = self.run(i, is_space);
        if let Some(last_newline) = s[i..end].iter().rposition(|&b| is_newline(b)) {
            return i + last_newline + 1;
        }
        if end == s.len() || end - i == 1 { end } else { end - 1 }
    }
}

impl<'a> Iterator for O200kAscii<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.at >= self.text.len() {
            return None;
        }
        let start = self.at;
        self.at = self.piece_end(start);
        // Every byte is ASCII: any index is a char boundary.
        Some(&self.text[start..self.at])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regex(text: &str) -> Vec<&str> {
        bpe_openai::o200k_base().split(text).collect()
    }

    fn fast(text: &str) -> Vec<&str> {
        O200kAscii::new(text).collect()
    }

    #[test]
    fn pieces_of_code() {
        assert_eq!(
            fast("def __init__(self, x):\n    return HTTPServer's 1234\n\n  "),
            [
                "def",
                " __",
                "init",
                "__(",
                "self",
                ",",
                " x",
                "):\n",
                "   ",
                " return",
                " HTTPServer's",
                " ",
                "123",
                "4",
                "\n\n",
                "  "
            ]
        );
    }

    #[test]
    fn the_same_pieces_as_the_regex_on_random_text() {
        // Every character class of the pattern, and the contraction letters.
        let alphabet = b" \t\n\r\x0b\x0c\x01\x7faAzZsStTrReEvVmMlLdD09'_/(.:#\"";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize] as char)
                .collect();
            assert_eq!(fast(&text), regex(&text), "{text:?}");
        }
    }

    /// ASCII text files under `dir`, skipping build output and history.
    fn ascii_files(dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                if !matches!(e.file_name().to_str(), Some("target" | ".git" | "node_modules")) {
                    ascii_files(&p, out);
                }
            } else if let Ok(text) = std::fs::read_to_string(&p)
                && text.is_ascii()
            {
                out.push(text);
            }
        }
    }

    #[test]
    fn the_same_pieces_as_the_regex_on_this_repository() {
        // Rust, Python, shell, Markdown, TOML, JSON fixtures, …
        let mut texts = Vec::new();
        ascii_files(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
            &mut texts,
        );
        assert!(texts.len() > 300, "{}", texts.len());
        for text in &texts {
            assert_eq!(fast(text), regex(text));
        }
    }
}
