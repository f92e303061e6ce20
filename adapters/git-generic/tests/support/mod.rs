//! Real-git fixtures: repositories made with the `git` CLI, served by
//! `git daemon` and (optionally) by `git http-backend` behind a tiny Python
//! CGI bridge with basic auth.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "pa55-w0rd-Sekr1t";

/// Whether a peer may be skipped; panics when `LETTUCE_REQUIRE_PEERS=1`.
pub fn peer_available(available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{what} is not available, and LETTUCE_REQUIRE_PEERS=1 requires it");
    }
    eprintln!("SKIPPED: {what} is not available (set LETTUCE_REQUIRE_PEERS=1 to make this a failure)");
    false
}

fn runs(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn git_program(name: &str) -> bool {
    Command::new("git")
        .arg("--exec-path")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join(name))
        .is_some_and(|p| p.exists())
}

/// The `git` CLI with `git daemon`.
pub fn have_git() -> bool {
    peer_available(
        runs("git", &["--version"]) && git_program("git-daemon"),
        "the git CLI (with git daemon)",
    )
}

/// `git http-backend` and `python3`.
pub fn have_http_backend() -> bool {
    peer_available(
        git_program("git-http-backend") && runs("python3", &["--version"]),
        "git http-backend and python3",
    )
}

/// Runs git in `dir` with an isolated configuration; returns trimmed stdout.
pub fn git(home: &Path, dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Lettuce Test",
            "-c",
            "user.email=test@lettuce.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(["-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always"])
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", home.join("gitconfig"))
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .output()
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

pub const BINARY: &[u8] = &[0, 159, 146, 150, 0, 1, 2, 255, 0, 10, 13];

/// Served repositories under one base directory.
pub struct Repos {
    pub tmp: tempfile::TempDir,
    /// HOME for git commands.
    pub home: PathBuf,
    /// What `git daemon` serves (`--base-path`).
    pub base: PathBuf,
    /// `base/repo`: main (2 commits) + `feature`.
    pub repo: PathBuf,
    pub head: String,
    pub feature_head: String,
    /// `base/develop-default`: HEAD is `develop`, `main` also exists.
    pub develop_head: String,
    /// `base/empty.git`: no commits.
    pub empty: PathBuf,
}

/// Files at `repo`'s head, sorted (symlink `link` and submodule `vendor/lib` are not files).
pub const HEAD_FILES: &[&str] = &[
    "README.md",
    "assets/logo.bin",
    "bin/run.sh",
    "src/main.rs",
    "src/nested/deep/lib.rs",
];

impl Repos {
    pub fn create() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let base = tmp.path().join("served");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&base).unwrap();

        let repo = base.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&home, &repo, &["init", "-q", "-b", "main"]);
        write(&repo.join("README.md"), b"# Demo\n\nversion 1\n");
        write(&repo.join("src/main.rs"), b"fn main() {\n    println!(\"hi\");\n}\n");
        write(&repo.join("src/nested/deep/lib.rs"), b"pub fn deep() -> u8 { 42 }\n");
        write(&repo.join("assets/logo.bin"), BINARY);
        write(&repo.join("bin/run.sh"), b"#!/bin/sh\necho run\n");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(repo.join("bin/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::symlink("README.md", repo.join("link")).unwrap();
        }
        git(&home, &repo, &["add", "-A"]);
        git(&home, &repo, &["commit", "-q", "-m", "initial"]);
        // A submodule entry (gitlink): not a file, must be skipped.
        let first = git(&home, &repo, &["rev-parse", "HEAD"]);
        git(
            &home,
            &repo,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("160000,{first},vendor/lib"),
            ],
        );
        git(&home, &repo, &["commit", "-q", "-m", "add submodule entry"]);
        git(&home, &repo, &["checkout", "-q", "-b", "feature"]);
        write(&repo.join("docs/feature.md"), b"feature only\n");
        git(&home, &repo, &["add", "docs/feature.md"]);
        git(&home, &repo, &["commit", "-q", "-m", "feature"]);
        let feature_head = git(&home, &repo, &["rev-parse", "HEAD"]);
        git(&home, &repo, &["checkout", "-q", "main"]);
        write(&repo.join("README.md"), b"# Demo\n\nversion 2\n");
        git(&home, &repo, &["commit", "-q", "-am", "readme v2"]);
        let head = git(&home, &repo, &["rev-parse", "HEAD"]);

        let dev = base.join("develop-default");
        std::fs::create_dir_all(&dev).unwrap();
        git(&home, &dev, &["init", "-q", "-b", "main"]);
        write(&dev.join("a.txt"), b"main\n");
        git(&home, &dev, &["add", "-A"]);
        git(&home, &dev, &["commit", "-q", "-m", "main"]);
        git(&home, &dev, &["checkout", "-q", "-b", "develop"]);
        write(&dev.join("a.txt"), b"develop\n");
        git(&home, &dev, &["commit", "-q", "-am", "develop"]);
        let develop_head = git(&home, &dev, &["rev-parse", "HEAD"]);

        let empty = base.join("empty.git");
        std::fs::create_dir_all(&empty).unwrap();
        git(&home, &empty, &["init", "-q", "--bare", "-b", "main"]);

        Self {
            tmp,
            home,
            base,
            repo,
            head,
            feature_head,
            develop_head,
            empty,
        }
    }

    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        git(&self.home, dir, args)
    }

    /// Commits a new README on `main` of `repo`; returns the new head.
    pub fn commit_readme(&self, text: &str) -> String {
        write(&self.repo.join("README.md"), text.as_bytes());
        self.git(&self.repo, &["commit", "-q", "-am", "update readme"]);
        self.git(&self.repo, &["rev-parse", "HEAD"])
    }

    /// `git rev-parse <rev>` in `repo`.
    pub fn rev(&self, rev: &str) -> String {
        self.git(&self.repo, &["rev-parse", rev])
    }
}

/// A free port on 127.0.0.1 (closed again; tiny race accepted).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server on port {port} did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `git daemon` serving `base`; killed on drop.
pub struct Daemon {
    pub port: u16,
    pid: String,
}

impl Daemon {
    pub fn start(base: &Path, home: &Path) -> Self {
        let port = free_port();
        let pid_file = home.join(format!("daemon-{port}.pid"));
        let status = Command::new("git")
            .arg("daemon")
            .arg("--reuseaddr")
            .arg(format!("--base-path={}", base.display()))
            .arg("--export-all")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg("--detach")
            .arg(format!("--pid-file={}", pid_file.display()))
            .arg(base)
            .env("HOME", home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .expect("start git daemon");
        assert!(status.success(), "git daemon failed to start");
        wait_for_port(port);
        // Read the pid now: the pid file lives in a temporary directory that
        // may be gone by the time this guard drops.
        let pid = std::fs::read_to_string(&pid_file)
            .expect("git daemon pid file")
            .trim()
            .to_owned();
        assert!(pid.parse::<u32>().is_ok(), "bad pid file content {pid:?}");
        Self { port, pid }
    }

    pub fn url(&self, path: &str) -> String {
        format!("git://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(&self.pid).status();
    }
}

/// The Python smart-HTTP bridge serving `root`; killed on drop.
pub struct HttpServer {
    pub port: u16,
    child: Child,
}

impl HttpServer {
    pub fn start(root: &Path, home: &Path) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/git_http_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--root")
            .arg(root)
            .args(["--user", USER, "--password", PASSWORD])
            .env("HOME", home)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3 git http server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("unexpected server output {line:?}"))
            .parse()
            .unwrap();
        wait_for_port(port);
        Self { port, child }
    }

    pub fn url(&self, creds: Option<(&str, &str)>, path: &str) -> String {
        match creds {
            Some((u, p)) => format!("http://{u}:{p}@127.0.0.1:{}/{path}", self.port),
            None => format!("http://127.0.0.1:{}/{path}", self.port),
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
