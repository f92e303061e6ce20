//! Helpers for building directory trees and running the `git` CLI.

#![allow(dead_code)]

use lettuce_ports::git::{FileEntry, RepoSnapshot};
use lettuce_source_local::{LocalOptions, LocalSnapshot};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

/// An hour ago: files with this mtime are safely outside the racy window.
pub fn an_hour_ago() -> SystemTime {
    SystemTime::now() - Duration::from_secs(3600)
}

/// Writes `bytes` to `root/path` (creating directories) with mtime `an_hour_ago()`.
pub fn write(root: &Path, path: &str, bytes: &[u8]) {
    write_at(root, path, bytes, an_hour_ago());
}

/// Writes `bytes` to `root/path` (creating directories) with mtime `mtime`.
pub fn write_at(root: &Path, path: &str, bytes: &[u8], mtime: SystemTime) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(&full, bytes).unwrap();
    set_mtime(&full, mtime);
}

/// Sets the modification time of the file at `path`.
pub fn set_mtime(path: &Path, mtime: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

/// A temporary directory holding `files`, all an hour old.
pub fn tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in files {
        write(dir.path(), path, bytes);
    }
    dir
}

/// Opens `root` with `options`, panicking with the error.
pub fn open(root: &Path, options: LocalOptions) -> LocalSnapshot {
    LocalSnapshot::open(root, options).unwrap_or_else(|e| panic!("open {}: {e}", root.display()))
}

/// The listed paths.
pub fn paths(snapshot: &LocalSnapshot) -> Vec<String> {
    snapshot.files().unwrap().into_iter().map(|f| f.path).collect()
}

/// The entry for `path`.
pub fn entry(snapshot: &LocalSnapshot, path: &str) -> FileEntry {
    snapshot
        .files()
        .unwrap()
        .into_iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} is not listed: {:?}", paths(snapshot)))
}

/// Whether the `git` CLI runs; panics when it does not and
/// `LETTUCE_REQUIRE_PEERS=1`.
pub fn have_git() -> bool {
    if Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return true;
    }
    if std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("the git CLI is not available, and LETTUCE_REQUIRE_PEERS=1 requires it");
    }
    eprintln!("SKIPPED: the git CLI is not available (set LETTUCE_REQUIRE_PEERS=1 to make this a failure)");
    false
}

/// Runs `git args` in `dir`; its stdout. The user's global configuration
/// stays in force (the walker reads the same global excludes file), with
/// line-ending conversion off.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "core.autocrlf=false", "-c", "core.safecrlf=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
