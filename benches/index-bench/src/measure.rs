//! Running the measured programs (`lettuce index`, `ctags`, `rg`): wall
//! time from spawn to exit, and peak RSS from GNU time (`/usr/bin/time -f
//! %M`, since the workspace forbids the `unsafe` a `getrusage` call needs).

use anyhow::{Context as _, bail};
use regex::Regex;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// GNU time, which reports the peak RSS of the command it runs.
pub const GNU_TIME: &str = "/usr/bin/time";

/// A command to run: program, arguments, working directory, extra variables.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    env: Vec<(String, OsString)>,
}

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct Run {
    /// Wall time from spawn to exit (output drained).
    pub wall: Duration,
    /// Peak resident set size in KiB (0 when not measured).
    pub max_rss_kib: u64,
    /// Standard output.
    pub stdout: String,
}

impl Cmd {
    /// `program` with no arguments.
    pub fn new(program: impl Into<OsString>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Runs in `dir`.
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_owned());
        self
    }

    /// Sets a variable.
    pub fn env(mut self, k: &str, v: impl Into<OsString>) -> Self {
        self.env.push((k.to_owned(), v.into()));
        self
    }

    /// The command line as a shell would show it (for the report).
    pub fn display(&self) -> String {
        let quote = |s: &OsString| {
            let s = s.to_string_lossy();
            if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:+,%@".contains(c)) {
                s.into_owned()
            } else {
                format!("'{}'", s.replace('\'', r"'\''"))
            }
        };
        let mut parts: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
        parts.push(quote(&self.program));
        parts.extend(self.args.iter().map(quote));
        parts.join(" ")
    }

    fn command(&self, program: &OsString, prefix: &[OsString]) -> Command {
        let mut c = Command::new(program);
        c.args(prefix).args(&self.args);
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        // rg searches stdin when it is readable and no path is given.
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    fn finish(&self, mut c: Command) -> anyhow::Result<(Duration, String)> {
        let started = Instant::now();
        let out = c.output().with_context(|| format!("running {}", self.display()))?;
        let wall = started.elapsed();
        let nothing_matched = self.is_rg() && out.status.code() == Some(1);
        if !out.status.success() && !nothing_matched {
            bail!(
                "{} failed ({}): {}",
                self.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok((wall, String::from_utf8_lossy(&out.stdout).into_owned()))
    }

    /// rg exits 1 when nothing matched: not a failure.
    fn is_rg(&self) -> bool {
        Path::new(&self.program).file_name().is_some_and(|n| n == "rg")
    }

    /// Runs it and measures the wall time.
    pub fn run(&self) -> anyhow::Result<Run> {
        let (wall, stdout) = self.finish(self.command(&self.program, &[]))?;
        Ok(Run {
            wall,
            max_rss_kib: 0,
            stdout,
        })
    }

    /// Runs it under GNU time and measures wall time and peak RSS.
    pub fn run_timed(&self, scratch: &Path) -> anyhow::Result<Run> {
        let report = scratch.join(format!("time-{}.txt", std::process::id()));
        let prefix: Vec<OsString> = vec![
            "-f".into(),
            "%e %M".into(),
            "-o".into(),
            report.clone().into(),
            self.program.clone(),
        ];
        let (wall, stdout) = self.finish(self.command(&GNU_TIME.into(), &prefix))?;
        let text = std::fs::read_to_string(&report).with_context(|| format!("reading {}", report.display()))?;
        let _ = std::fs::remove_file(&report);
        let (_, max_rss_kib) =
            parse_gnu_time(&text).with_context(|| format!("unexpected output of {GNU_TIME} -f '%e %M': {text:?}"))?;
        Ok(Run {
            wall,
            max_rss_kib,
            stdout,
        })
    }
}

/// `(elapsed seconds, peak RSS KiB)` from the last line of `time -f '%e %M'`
/// (a failing command adds a "Command exited with non-zero status" line).
pub fn parse_gnu_time(text: &str) -> Option<(f64, u64)> {
    let last = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let mut it = last.split_whitespace();
    let secs = it.next()?.parse().ok()?;
    let rss = it.next()?.parse().ok()?;
    Some((secs, rss))
}

/// The summary `lettuce index PATH` prints.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct IndexLine {
    /// Files in the directory.
    pub files: u64,
    /// Files read and parsed in this run.
    pub parsed: u64,
    /// Files unchanged since the previous run.
    pub unchanged: u64,
    /// Files listed but not indexed (binary, too large, vendored, …).
    pub skipped: u64,
    /// Files removed since the previous run.
    pub removed: u64,
    /// Definitions extracted in this run.
    pub symbols: u64,
    /// MB read and parsed.
    pub mb: f64,
    /// The run's own time (inside the process), seconds.
    pub secs: f64,
}

/// Parses "…: N files (P parsed, U unchanged, S skipped, D removed), K
/// symbols, X MB in T s (R MB/s)".
pub fn parse_index_line(stdout: &str) -> Option<IndexLine> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r"(\d+) files \((\d+) parsed, (\d+) unchanged, (\d+) skipped, (\d+) removed\), (\d+) symbols, ([\d.]+) MB in ([\d.]+) s",
        )
        .expect("valid regex")
    });
    let c = re.captures(stdout)?;
    let n = |i: usize| c[i].parse::<u64>().ok();
    let f = |i: usize| c[i].parse::<f64>().ok();
    Some(IndexLine {
        files: n(1)?,
        parsed: n(2)?,
        unchanged: n(3)?,
        skipped: n(4)?,
        removed: n(5)?,
        symbols: n(6)?,
        mb: f(7)?,
        secs: f(8)?,
    })
}

/// Total size in bytes of the regular files under `dir`.
pub fn tree_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

/// The first line of `program --version` (for the machine notes).
pub fn version_of(program: &str) -> String {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_owned))
        .unwrap_or_else(|| format!("{program}: not found"))
}

/// The load average (`uptime`'s three figures) from `/proc/loadavg`.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gnu_time_output() {
        assert_eq!(parse_gnu_time("1.52 123456\n"), Some((1.52, 123456)));
        assert_eq!(
            parse_gnu_time("Command exited with non-zero status 1\n0.01 2048\n"),
            Some((0.01, 2048))
        );
        assert_eq!(parse_gnu_time(""), None);
        assert_eq!(parse_gnu_time("garbage"), None);
    }

    #[test]
    fn lettuce_index_summary() {
        let out = "/tmp/x:y/tree: 2450 files (1967 parsed, 0 unchanged, 483 skipped, 0 removed), 73012 symbols, 48.3 MB in 4.21 s (11.5 MB/s)\ncommit abc · index in /tmp/l\n";
        let l = parse_index_line(out).unwrap();
        assert_eq!(
            (l.files, l.parsed, l.unchanged, l.skipped, l.removed, l.symbols),
            (2450, 1967, 0, 483, 0, 73012)
        );
        assert_eq!((l.mb, l.secs), (48.3, 4.21));
        assert!(parse_index_line("no summary here").is_none());
    }

    #[test]
    fn command_lines_are_quoted_for_a_shell() {
        let c = Cmd::new("rg").arg("-n").arg("-F").arg("it's (x)").env("A", "b c");
        assert_eq!(c.display(), r"A='b c' rg -n -F 'it'\''s (x)'");
    }
}
