//! `LocalSnapshot` over real directories: which files, their ids (checked
//! against the `git` CLI), the stat cache, the commit id, and reads of files
//! that changed.

mod support;

use lettuce_ports::git::{GitError, RepoSnapshot};
use lettuce_source_local::{LocalOptions, LocalSnapshot};
use std::time::Duration;
use support::*;

fn opts() -> LocalOptions {
    LocalOptions::default()
}

#[test]
fn blob_ids_are_what_git_hash_object_prints() {
    if !have_git() {
        return;
    }
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let files: &[(&str, &[u8])] = &[
        ("empty", b""),
        ("hello.txt", b"hello\n"),
        ("crlf.txt", b"one\r\ntwo\r\n"),
        ("binary.bin", &[0, 159, 146, 150, 0, 1, 255]),
        ("dir/big.dat", &big),
        ("unicode-ñ.md", "naïve ☃\n".as_bytes()),
    ];
    let dir = tree(files);
    let snap = open(dir.path(), opts());
    for (path, bytes) in files {
        let want = git(dir.path(), &["hash-object", "--no-filters", path]);
        let got = entry(&snap, path);
        assert_eq!(got.blob_id, want.trim(), "blob id of {path}");
        assert_eq!(got.size, bytes.len() as u64);
        assert_eq!(snap.read_blob(&got.blob_id).unwrap(), *bytes);
    }
}

#[test]
fn a_git_work_tree_lists_what_git_add_stages() {
    if !have_git() {
        return;
    }
    let dir = tree(&[
        (".gitignore", b"target/\n*.log\n"),
        ("src/lib.rs", b"pub fn f() {}\n"),
        ("src/gen/.gitignore", b"*.rs\n!keep.rs\n"),
        ("src/gen/out.rs", b"// generated\n"),
        ("src/gen/keep.rs", b"// kept\n"),
        ("target/debug/app", b"\x7fELF"),
        ("build.log", b"log"),
        ("run.sh", b"#!/bin/sh\necho hi\n"),
        (".github/workflows/ci.yml", b"on: push\n"),
        ("secret.txt", b"local only"),
    ]);
    git(dir.path(), &["init", "-q"]);
    std::fs::write(dir.path().join(".git/info/exclude"), "secret.txt\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path().join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("src/lib.rs", dir.path().join("link.rs")).unwrap();
    }
    git(dir.path(), &["add", "-A"]);
    // `<mode> <id> <stage>\t<path>`, regular and executable files only.
    let mut staged: Vec<(String, String)> = git(dir.path(), &["ls-files", "-s"])
        .lines()
        .filter(|l| l.starts_with("100"))
        .map(|l| {
            let (meta, path) = l.split_once('\t').unwrap();
            (path.to_owned(), meta.split(' ').nth(1).unwrap().to_owned())
        })
        .collect();
    staged.sort();
    let snap = open(dir.path(), opts());
    let listed: Vec<(String, String)> = snap.files().unwrap().into_iter().map(|f| (f.path, f.blob_id)).collect();
    assert_eq!(listed, staged);
    assert!(listed.iter().any(|(p, _)| p == "src/gen/keep.rs"));
    assert!(!listed.iter().any(|(p, _)| p.starts_with(".git/")));
}

#[test]
fn ignore_files_apply_outside_git_too() {
    let dir = tree(&[
        (".gitignore", b"*.tmp\n/dist/\n"),
        (".ignore", b"notes/\n"),
        (".lettuceignore", b"vendor/\nfixtures/*.json\n!fixtures/keep.json\n"),
        ("a.rs", b"a"),
        ("a.tmp", b"t"),
        ("dist/bundle.js", b"b"),
        ("sub/dist/kept.js", b"anchored pattern: only the top dist/"),
        ("notes/todo.md", b"n"),
        ("vendor/lib.c", b"v"),
        ("fixtures/big.json", b"{}"),
        ("fixtures/keep.json", b"{}"),
        ("nested/.gitignore", b"secret.*\n"),
        ("nested/secret.key", b"k"),
        ("nested/code.py", b"p"),
        ("secret.key", b"nested rules stay nested"),
        (".env.example", b"hidden files are listed"),
        // A `.git` directory (here without git) is never entered.
        (".git/HEAD", b"ref: refs/heads/main\n"),
        (".git/info/exclude", b"excluded.txt\n"),
        ("excluded.txt", b"x"),
        ("sub/.git", b"gitdir: ../.git/worktrees/sub\n"),
    ]);
    let snap = open(dir.path(), opts());
    assert_eq!(
        paths(&snap),
        [
            ".env.example",
            ".gitignore",
            ".ignore",
            ".lettuceignore",
            "a.rs",
            "fixtures/keep.json",
            "nested/.gitignore",
            "nested/code.py",
            "secret.key",
            "sub/dist/kept.js",
        ]
    );
}

#[test]
fn ignore_files_above_the_root_apply() {
    let dir = tree(&[
        (".gitignore", b"*.log\n"),
        (".lettuceignore", b"generated/\n"),
        ("sub/a.rs", b"a"),
        ("sub/debug.log", b"l"),
        ("sub/generated/x.rs", b"x"),
    ]);
    let snap = open(&dir.path().join("sub"), opts());
    assert_eq!(paths(&snap), ["a.rs"]);
}

#[cfg(unix)]
#[test]
fn symlinks_are_neither_listed_nor_followed() {
    let dir = tree(&[("real/file.txt", b"x")]);
    let outside = tree(&[("outside.txt", b"o")]);
    let root = dir.path();
    std::os::unix::fs::symlink("real/file.txt", root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink("real", root.join("linkdir")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("escape")).unwrap();
    std::os::unix::fs::symlink("missing", root.join("dangling")).unwrap();
    let snap = open(root, opts());
    assert_eq!(paths(&snap), ["real/file.txt"]);
}

#[cfg(target_os = "linux")]
#[test]
fn non_utf8_names_are_skipped() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = tree(&[("ok.txt", b"ok")]);
    std::fs::write(dir.path().join(OsStr::from_bytes(b"bad-\xff.txt")), b"x").unwrap();
    std::fs::create_dir(dir.path().join(OsStr::from_bytes(b"dir-\xfe"))).unwrap();
    std::fs::write(dir.path().join(OsStr::from_bytes(b"dir-\xfe/inner.txt")), b"y").unwrap();
    let snap = open(dir.path(), opts());
    assert_eq!(paths(&snap), ["ok.txt"]);
}

#[test]
fn stat_cache_skips_unchanged_files() {
    let dir = tree(&[("a.rs", b"aaaa"), ("b.rs", b"bbbb"), ("c/d.rs", b"dddd"), ("e.md", b"")]);
    let cache_dir = tempfile::tempdir().unwrap();
    let options = opts().with_stat_cache(cache_dir.path().join("stat"));

    let first = open(dir.path(), options.clone());
    assert_eq!(first.files_hashed(), 4);
    let written = std::fs::read(cache_dir.path().join("stat")).unwrap();
    let second = open(dir.path(), options.clone());
    assert_eq!(second.files_hashed(), 0, "an unchanged tree is not read again");
    assert_eq!(std::fs::read(cache_dir.path().join("stat")).unwrap(), written);
    assert_eq!(second.commit(), first.commit());
    assert_eq!(second.files().unwrap(), first.files().unwrap());

    // Same size, new contents, another (old) mtime.
    write_at(dir.path(), "b.rs", b"BBBB", an_hour_ago() + Duration::from_secs(60));
    let third = open(dir.path(), options.clone());
    assert_eq!(third.files_hashed(), 1, "exactly the touched file is read");
    assert_ne!(third.commit(), first.commit());
    assert_eq!(third.read_blob(&entry(&third, "b.rs").blob_id).unwrap(), b"BBBB");

    // mtime only: read again, same id, same commit.
    set_mtime(&dir.path().join("a.rs"), an_hour_ago() + Duration::from_secs(120));
    let fourth = open(dir.path(), options.clone());
    assert_eq!(fourth.files_hashed(), 1);
    assert_eq!(fourth.commit(), third.commit());
    assert_eq!(open(dir.path(), options.clone()).files_hashed(), 0);

    // New and removed files.
    write(dir.path(), "new.rs", b"n");
    std::fs::remove_file(dir.path().join("c/d.rs")).unwrap();
    let fifth = open(dir.path(), options.clone());
    assert_eq!(fifth.files_hashed(), 1);
    assert_eq!(paths(&fifth), ["a.rs", "b.rs", "e.md", "new.rs"]);

    // Without the option nothing is cached.
    assert_eq!(open(dir.path(), opts()).files_hashed(), 4);
}

#[test]
fn recently_modified_files_are_not_trusted_from_the_cache() {
    let dir = tree(&[("old.rs", b"old")]);
    std::fs::write(dir.path().join("fresh.rs"), b"written just now").unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let options = opts().with_stat_cache(cache_dir.path().join("stat"));
    assert_eq!(open(dir.path(), options.clone()).files_hashed(), 2);
    // `fresh.rs` could still change within the same timestamp tick.
    assert_eq!(open(dir.path(), options.clone()).files_hashed(), 1);
}

#[test]
fn damaged_cache_is_ignored() {
    let dir = tree(&[("a.rs", b"a"), ("b.rs", b"b")]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_dir.path().join("stat");
    let options = opts().with_stat_cache(&cache);
    let clean = open(dir.path(), options.clone());

    for damage in [b"garbage".to_vec(), Vec::new(), {
        let mut b = std::fs::read(&cache).unwrap();
        let last = b.len() - 1;
        b[last] ^= 1;
        b
    }] {
        std::fs::write(&cache, &damage).unwrap();
        let snap = open(dir.path(), options.clone());
        assert_eq!(snap.files_hashed(), 2, "a damaged cache means hashing everything");
        assert_eq!(snap.commit(), clean.commit());
        assert_eq!(
            open(dir.path(), options.clone()).files_hashed(),
            0,
            "and it is rewritten"
        );
    }

    // A cache path that cannot be written is not an error either.
    let blocked = tree(&[("file", b"not a directory")]);
    let snap = open(dir.path(), opts().with_stat_cache(blocked.path().join("file/stat")));
    assert_eq!(snap.commit(), clean.commit());
}

#[test]
fn cache_inside_the_root_is_not_listed() {
    let dir = tree(&[("a.rs", b"a")]);
    let options = opts().with_stat_cache(dir.path().join(".lettuce/stat"));
    let first = open(dir.path(), options.clone());
    assert!(dir.path().join(".lettuce/stat").exists());
    let second = open(dir.path(), options.clone());
    assert_eq!(paths(&second), ["a.rs"]);
    assert_eq!(second.commit(), first.commit());
    assert_eq!(second.files_hashed(), 0);
}

#[test]
fn commit_id_follows_the_contents() {
    let files: &[(&str, &[u8])] = &[("a.rs", b"fn a() {}"), ("d/b.rs", b"fn b() {}")];
    let one = tree(files);
    let two = tree(files);
    let a = open(one.path(), opts());
    assert_eq!(a.commit().len(), 40);
    assert!(
        a.commit().chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "{}",
        a.commit()
    );
    assert_eq!(open(one.path(), opts()).commit(), a.commit(), "same tree, same id");
    assert_eq!(
        open(two.path(), opts()).commit(),
        a.commit(),
        "same contents elsewhere, same id"
    );

    write(one.path(), "a.rs", b"fn a() {)");
    let changed = open(one.path(), opts());
    assert_ne!(changed.commit(), a.commit(), "a one-byte change is a new id");

    std::fs::rename(two.path().join("d/b.rs"), two.path().join("d/c.rs")).unwrap();
    assert_ne!(open(two.path(), opts()).commit(), a.commit(), "a rename is a new id");

    let empty = tempfile::tempdir().unwrap();
    let e = open(empty.path(), opts());
    assert!(e.files().unwrap().is_empty());
    assert_eq!(e.commit().len(), 40);
}

#[test]
fn read_blob_notices_changes_since_the_walk() {
    let dir = tree(&[
        ("a.rs", b"original"),
        ("b.rs", b"twin"),
        ("c.rs", b"twin"),
        ("gone.rs", b"bye"),
        ("now-a-dir.rs", b"file"),
    ]);
    let snap = open(dir.path(), opts());
    let a = entry(&snap, "a.rs");

    write(dir.path(), "a.rs", b"edited!!");
    let err = snap.read_blob(&a.blob_id).unwrap_err();
    assert!(matches!(err, GitError::Backend { retryable: true, .. }), "{err:?}");
    assert!(err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.contains("a.rs") && msg.contains("changed while indexing; run again"),
        "{msg}"
    );

    let gone = entry(&snap, "gone.rs");
    std::fs::remove_file(dir.path().join("gone.rs")).unwrap();
    let err = snap.read_blob(&gone.blob_id).unwrap_err();
    assert!(err.is_retryable() && err.to_string().contains("gone.rs"), "{err}");

    let now_dir = entry(&snap, "now-a-dir.rs");
    std::fs::remove_file(dir.path().join("now-a-dir.rs")).unwrap();
    std::fs::create_dir(dir.path().join("now-a-dir.rs")).unwrap();
    assert!(snap.read_blob(&now_dir.blob_id).unwrap_err().is_retryable());

    // Equal contents share an id: one surviving copy is enough.
    let twin = entry(&snap, "b.rs");
    assert_eq!(twin.blob_id, entry(&snap, "c.rs").blob_id);
    write(dir.path(), "b.rs", b"changed");
    assert_eq!(snap.read_blob(&twin.blob_id).unwrap(), b"twin");

    for unknown in ["0".repeat(40), "large-0".into(), String::new()] {
        match snap.read_blob(&unknown) {
            Err(GitError::MissingObject { commit, .. }) => assert_eq!(commit, unknown),
            other => panic!("read_blob({unknown:?}) must be MissingObject, got {other:?}"),
        }
    }
}

#[test]
fn large_files_are_listed_but_not_hashed() {
    let dir = tree(&[("small.txt", b"0123456789"), ("big.bin", b"0123456789A")]);
    let cache_dir = tempfile::tempdir().unwrap();
    let options = opts()
        .with_max_file_bytes(10)
        .with_stat_cache(cache_dir.path().join("stat"));
    let snap = open(dir.path(), options.clone());
    assert_eq!(snap.files_hashed(), 1, "only the small file is read");
    let big = entry(&snap, "big.bin");
    assert_eq!(big.size, 11);
    assert!(big.blob_id.starts_with("large-"), "{}", big.blob_id);
    assert!(!big.blob_id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(snap.read_blob(&big.blob_id).unwrap(), b"0123456789A");
    let again = open(dir.path(), options.clone());
    assert_eq!(entry(&again, "big.bin").blob_id, big.blob_id, "stable while unchanged");
    assert_eq!(again.commit(), snap.commit());

    set_mtime(&dir.path().join("big.bin"), an_hour_ago() + Duration::from_secs(5));
    let touched = open(dir.path(), options.clone());
    assert_ne!(entry(&touched, "big.bin").blob_id, big.blob_id, "mtime changes the id");
    assert_ne!(touched.commit(), snap.commit());
    assert!(snap.read_blob(&big.blob_id).unwrap_err().is_retryable());

    write(dir.path(), "big.bin", b"0123456789AB");
    assert_ne!(
        entry(&open(dir.path(), options.clone()), "big.bin").blob_id,
        big.blob_id
    );
    // Under a larger limit the same file gets its real blob id.
    let raised = open(dir.path(), options.with_max_file_bytes(100));
    assert_eq!(entry(&raised, "big.bin").blob_id.len(), 40);
}

#[test]
fn serial_and_parallel_walks_agree() {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for d in 0..8 {
        for f in 0..40 {
            files.push((format!("d{d}/sub{}/f{f}.txt", f % 3), format!("{d}-{f}").into_bytes()));
        }
    }
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let dir = tree(&refs);
    let serial = open(dir.path(), opts().with_threads(1));
    assert_eq!(serial.files().unwrap().len(), 320);
    for threads in [0, 2, 4] {
        let parallel = open(dir.path(), opts().with_threads(threads));
        assert_eq!(parallel.files().unwrap(), serial.files().unwrap(), "{threads} threads");
        assert_eq!(parallel.commit(), serial.commit());
    }
}

#[test]
fn snapshot_keeps_the_port_rules() {
    let dir = tree(&[
        ("z.rs", b"z"),
        ("a/b.rs", b"b"),
        ("a.rs", b"a"),
        ("a-b.rs", b"ab"),
        ("ä.rs", b"u"),
    ]);
    let snap: std::sync::Arc<dyn RepoSnapshot> = open(dir.path(), opts()).into_arc();
    let files = snap.files().unwrap();
    assert!(files.windows(2).all(|w| w[0].path < w[1].path), "sorted, no duplicates");
    for f in &files {
        assert!(!f.path.starts_with('/') && !f.path.contains('\\'), "{}", f.path);
        assert_eq!(snap.read_blob(&f.blob_id).unwrap().len() as u64, f.size);
    }
}

#[test]
fn bad_roots_say_what_to_do() {
    let dir = tree(&[("file.txt", b"x")]);
    let missing = dir.path().join("nope");
    let err = LocalSnapshot::open(&missing, opts()).unwrap_err();
    assert!(!err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.contains(&missing.display().to_string()) && msg.contains("does not exist"),
        "{msg}"
    );

    let file = dir.path().join("file.txt");
    let msg = LocalSnapshot::open(&file, opts()).unwrap_err().to_string();
    assert!(msg.contains("file.txt") && msg.contains("is not a directory"), "{msg}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read_dir(&locked).is_ok() {
            eprintln!("SKIPPED the unreadable-root case: this user (root?) reads any directory");
        } else {
            let msg = LocalSnapshot::open(&locked, opts()).unwrap_err().to_string();
            assert!(msg.contains("locked") && msg.contains("cannot read"), "{msg}");
        }
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn debug_shows_root_and_count_not_contents() {
    let dir = tree(&[("secret.rs", b"const TOKEN: &str = \"hunter2\";")]);
    let snap = open(dir.path(), opts());
    let debug = format!("{snap:?}");
    assert!(debug.contains(&snap.root().display().to_string()), "{debug}");
    assert!(debug.contains("files: 1"), "{debug}");
    assert!(!debug.contains("hunter2") && !debug.contains("secret.rs"), "{debug}");
}

#[test]
fn relative_roots_are_resolved() {
    let dir = tree(&[("a.rs", b"a")]);
    let snap = open(&dir.path().join("."), opts());
    assert_eq!(snap.root(), std::fs::canonicalize(dir.path()).unwrap());
    assert_eq!(paths(&snap), ["a.rs"]);
    #[cfg(unix)]
    {
        let links = tempfile::tempdir().unwrap();
        let link = links.path().join("project");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        let via_link = open(&link, opts());
        assert_eq!(via_link.root(), snap.root(), "a symlinked root is followed");
        assert_eq!(via_link.commit(), snap.commit());
    }
}
