//! The recent history of a git repository as [`CommitChanges`]: non-merge
//! commits reachable from a tip, newest first, each with the regular-file
//! paths it added, modified or deleted against its first parent (no rename
//! tracking: a rename is a delete plus an add). What `locate` reads for
//! co-change and recency.
//!
//! Used by the mirror snapshots of `git-generic` and by `source-local` for a
//! directory that is the top of a git work tree (so `lettuce eval` and
//! `lettuce index` of a clone see the same history a served mirror does).

use gix::bstr::ByteSlice;
use lettuce_ports::git::CommitChanges;
use std::path::Path;

/// At most `max` non-merge commits reachable from `tip`, newest first (ties
/// by id).
pub fn history_at(repo: &gix::Repository, tip: gix::ObjectId, max: usize) -> Result<Vec<CommitChanges>, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let walk = repo
        .rev_walk([tip])
        .sorting(gix::revision::walk::Sorting::ByCommitTime(Default::default()))
        .all()
        .map_err(|e| err(&e))?;
    let opts = gix::diff::Options::default().with_rewrites(None);
    let mut out = Vec::new();
    for info in walk {
        if out.len() >= max {
            break;
        }
        let info = info.map_err(|e| err(&e))?;
        if info.parent_ids.len() > 1 {
            continue; // merges repeat their parents' changes
        }
        let commit = info.object().map_err(|e| err(&e))?;
        let tree = commit.tree().map_err(|e| err(&e))?;
        let parent_tree = match info.parent_ids.first() {
            Some(p) => Some(repo.find_commit(*p).map_err(|e| err(&e))?.tree().map_err(|e| err(&e))?),
            None => None,
        };
        let changes = repo
            .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), opts)
            .map_err(|e| err(&e))?;
        let mut paths: Vec<String> = changes
            .iter()
            .filter(|c| c.entry_mode().is_blob())
            .map(|c| c.location().to_str_lossy().into_owned())
            .collect();
        paths.sort();
        paths.dedup();
        let subject = commit
            .message_raw_sloppy()
            .lines()
            .next()
            .map(|l| l.to_str_lossy().trim().to_owned())
            .unwrap_or_default();
        let time = commit.time().map(|t| t.seconds).unwrap_or_default();
        out.push(CommitChanges {
            id: info.id.to_string(),
            time,
            subject,
            paths,
        });
    }
    out.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// The first parent of `commit` (full hex id) in `repo`; `None` for a root
/// commit.
pub fn first_parent(repo: &gix::Repository, commit: &str) -> Result<Option<String>, String> {
    let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| format!("{commit} is not a commit id: {e}"))?;
    let c = repo.find_commit(id).map_err(|e| e.to_string())?;
    Ok(c.parent_ids().next().map(|p| p.to_string()))
}

/// The history of `dir`'s `HEAD` when `dir` is the top of a git work tree
/// (paths in the history are then relative to `dir`, like a snapshot's);
/// `None` when it is not (no repository, a subdirectory of one, a bare
/// repository, an unborn `HEAD`).
pub fn worktree_history(dir: &Path, max: usize) -> Result<Option<Vec<CommitChanges>>, String> {
    let Ok(repo) = gix::open_opts(dir, gix::open::Options::isolated()) else {
        return Ok(None);
    };
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !repo.workdir().is_some_and(|w| same(w, dir)) {
        return Ok(None);
    }
    let Ok(tip) = repo.head_id() else {
        return Ok(None);
    };
    history_at(&repo, tip.detach(), max).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        git_at(dir, "2026-01-01T00:00:00Z", args)
    }

    fn git_at(dir: &Path, date: &str, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    #[test]
    fn worktree_history_reads_head_and_only_at_the_top() {
        if Command::new("git").arg("--version").output().is_err() {
            eprintln!("skipped: git is not installed");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        std::fs::create_dir(d.join("src")).expect("mkdir");
        std::fs::write(d.join("src/a.rs"), "fn a() {}").expect("write");
        std::fs::write(d.join("README.md"), "# r").expect("write");
        git(d, &["add", "."]);
        git(d, &["commit", "-q", "-m", "first"]);
        std::fs::write(d.join("src/a.rs"), "fn a() { 1 }").expect("write");
        git_at(d, "2026-01-02T00:00:00Z", &["commit", "-q", "-am", "change a\n\nbody"]);
        let head = git(d, &["rev-parse", "HEAD"]);
        let h = worktree_history(d, 10).expect("reads").expect("a work tree");
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].id, head);
        assert_eq!(h[0].subject, "change a");
        assert_eq!(h[0].paths, vec!["src/a.rs".to_owned()]);
        assert_eq!(h[1].paths, vec!["README.md".to_owned(), "src/a.rs".to_owned()]);
        assert_eq!(worktree_history(d, 1).expect("reads").map(|h| h.len()), Some(1));
        let repo = gix::open(d).expect("opens");
        assert_eq!(first_parent(&repo, &head).expect("reads"), Some(h[1].id.clone()));
        assert_eq!(first_parent(&repo, &h[1].id).expect("reads"), None, "a root commit");
        assert!(first_parent(&repo, "nope").is_err());
        assert_eq!(
            worktree_history(&d.join("src"), 10).expect("reads"),
            None,
            "a subdirectory has other paths"
        );
        let plain = tempfile::tempdir().expect("tempdir");
        assert_eq!(worktree_history(plain.path(), 10).expect("reads"), None);
    }
}
