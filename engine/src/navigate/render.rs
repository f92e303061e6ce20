//! Compact text answers for agents, fitted to a token budget.

use lettuce_ports::tokens::TokenCounter;

/// Builds an answer's text chunk by chunk until the budget is spent.
pub(crate) struct Budgeted<'a> {
    counter: &'a dyn TokenCounter,
    max: u64,
    used: u64,
    text: String,
    /// Items that did not fit.
    pub dropped: usize,
}

impl<'a> Budgeted<'a> {
    pub fn new(counter: &'a dyn TokenCounter, max: u64) -> Self {
        Self {
            counter,
            max,
            used: 0,
            text: String::new(),
            dropped: 0,
        }
    }

    /// Appends `chunk` if it fits; counts it as dropped otherwise. The first
    /// chunk always goes in (an answer is never empty), cut to the budget.
    pub fn push(&mut self, chunk: &str) -> bool {
        let n = self.counter.count(chunk);
        if self.used + n <= self.max {
            self.text.push_str(chunk);
            self.used += n;
            return true;
        }
        if self.text.is_empty() {
            let cut = cut_to_tokens(self.counter, chunk, self.max);
            self.used += self.counter.count(&cut);
            self.text.push_str(&cut);
        }
        self.dropped += 1;
        false
    }

    /// Whether anything was left out.
    pub fn shortened(&self) -> bool {
        self.dropped > 0
    }

    pub fn into_text(self) -> String {
        self.text
    }
}

/// The longest prefix of `text` (whole lines when possible) within `max` tokens.
pub(crate) fn cut_to_tokens(counter: &dyn TokenCounter, text: &str, max: u64) -> String {
    if counter.count(text) <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for line in text.split_inclusive('\n') {
        let n = counter.count(line);
        if used + n > max {
            break;
        }
        out.push_str(line);
        used += n;
    }
    if out.is_empty() {
        // One long line: cut by characters.
        let mut lo = 0usize;
        let mut hi = text.chars().count();
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let prefix: String = text.chars().take(mid).collect();
            if counter.count(&prefix) <= max {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        out = text.chars().take(lo).collect();
    }
    out
}

/// Short commit id for display.
pub(crate) fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// Lines `start..=end` (1-based) of `text`, each prefixed with its number.
pub(crate) fn numbered(text: &str, start: u32, end: u32) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let n = i as u32 + 1;
        if n < start {
            continue;
        }
        if n > end {
            break;
        }
        out.push_str(&format!("{n}\t{line}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lettuce_ports::tokens::WordCounter;

    #[test]
    fn budget_keeps_whole_chunks_and_counts_what_it_drops() {
        let mut b = Budgeted::new(&WordCounter, 5);
        assert!(b.push("a b c\n"));
        assert!(!b.push("d e f\n"));
        assert!(b.push("g\n"));
        assert!(b.shortened());
        assert_eq!(b.dropped, 1);
        assert_eq!(b.into_text(), "a b c\ng\n");
    }

    #[test]
    fn the_first_chunk_is_cut_not_dropped() {
        let mut b = Budgeted::new(&WordCounter, 2);
        assert!(!b.push("one two\nthree four\n"));
        assert_eq!(b.into_text(), "one two\n");
        assert_eq!(cut_to_tokens(&WordCounter, "a b c d", 2).trim_end(), "a b");
    }

    #[test]
    fn numbered_lines() {
        assert_eq!(numbered("a\nb\nc\n", 2, 3), "2\tb\n3\tc\n");
        assert_eq!(numbered("a\nb", 1, 99), "1\ta\n2\tb\n");
    }
}
