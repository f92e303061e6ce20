//! ripgrep as the peer of every query and as the naive agent's tool.

use crate::measure::Cmd;
use regex::Regex;
use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

/// `rg -n -w NAME`, run in the corpus root (paths print relative, as an
/// agent working in the repo sees them).
pub fn word(root: &Path, name: &str) -> Cmd {
    Cmd::new("rg").arg("-n").arg("-w").arg("--").arg(name).cwd(root)
}

/// `rg -n -F -i LITERAL` (ignoring case), run in the corpus root.
pub fn literal(root: &Path, text: &str) -> Cmd {
    Cmd::new("rg")
        .arg("-n")
        .arg("-F")
        .arg("-i")
        .arg("--")
        .arg(text)
        .cwd(root)
}

/// `rg -n -F LITERAL` (matching case), run in the corpus root.
pub fn exact(root: &Path, text: &str) -> Cmd {
    Cmd::new("rg").arg("-n").arg("-F").arg("--").arg(text).cwd(root)
}

/// One matching line of `rg -n` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// File, as rg printed it.
    pub path: String,
    /// Line (1-based).
    pub line: u32,
}

/// Parses `path:line:text` lines (the first `:<digits>:` ends the path).
pub fn parse_hits(out: &str) -> Vec<Hit> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"^(.*?):(\d+):").expect("valid regex"));
    out.lines()
        .filter_map(|l| {
            let c = re.captures(l)?;
            Some(Hit {
                path: c[1].strip_prefix("./").unwrap_or(&c[1]).to_owned(),
                line: c[2].parse().ok()?,
            })
        })
        .collect()
}

/// The `n` files with the most hits (ties: the file rg printed first).
pub fn top_files(hits: &[Hit], n: usize) -> Vec<String> {
    let mut order: Vec<&str> = Vec::new();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for h in hits {
        let c = count.entry(h.path.as_str()).or_default();
        if *c == 0 {
            order.push(h.path.as_str());
        }
        *c += 1;
    }
    let mut ranked: Vec<(usize, &str)> = order.iter().enumerate().map(|(i, p)| (i, *p)).collect();
    ranked.sort_by_key(|(i, p)| (std::cmp::Reverse(count[p]), *i));
    ranked.into_iter().take(n).map(|(_, p)| p.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbered_output() {
        let out = "asyncio/events.py:12:def get_loop():\n./a:b.py:3:x = get_loop()\nweird line\nz.py:7:  get_loop()  # 1:2:3\n";
        assert_eq!(
            parse_hits(out),
            [
                Hit {
                    path: "asyncio/events.py".into(),
                    line: 12
                },
                Hit {
                    path: "a:b.py".into(),
                    line: 3
                },
                Hit {
                    path: "z.py".into(),
                    line: 7
                },
            ]
        );
    }

    #[test]
    fn top_files_by_hit_count_then_first_seen() {
        let hits = parse_hits("a:1:x\nb:1:x\nb:2:x\nc:1:x\nc:5:x\nd:1:x\n");
        assert_eq!(top_files(&hits, 3), ["b", "c", "a"]);
        assert_eq!(top_files(&hits, 10).len(), 4);
        assert!(top_files(&[], 3).is_empty());
    }

    #[test]
    fn commands() {
        let root = Path::new("/corpus");
        assert_eq!(word(root, "parse").display(), "rg -n -w -- parse");
        assert_eq!(literal(root, "parse(").display(), "rg -n -F -i -- 'parse('");
        assert_eq!(exact(root, "class X").display(), "rg -n -F -- 'class X'");
    }
}
