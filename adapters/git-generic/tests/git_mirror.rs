//! GixMirror against real git servers: `git daemon` and `git http-backend`.

mod support;

use lettuce_domain::repo::RepoUrl;
use lettuce_git_generic::{GenericProvider, GixMirror, NetworkPolicy};
use lettuce_ports::git::{GitError, GitMirror, GitProvider, ProviderKind, SyncOutcome, SyncRequest};
use lettuce_ports::testing::git::{GitMirrorFixture, git_mirror_contract};
use std::collections::BTreeMap;
use std::time::Duration;
use support::{BINARY, Daemon, HEAD_FILES, HttpServer, PASSWORD, Repos, USER};

fn url(raw: &str) -> RepoUrl {
    RepoUrl::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e:?}"))
}

fn req(key: &str, raw: &str, branch: Option<&str>) -> SyncRequest {
    SyncRequest {
        key: key.into(),
        url: url(raw),
        branch: branch.map(str::to_owned),
    }
}

fn mirror(root: &std::path::Path, allow_private: bool) -> GixMirror {
    GixMirror::new(root.to_path_buf(), NetworkPolicy { allow_private })
}

/// Files of a snapshot as path → blob id.
async fn blob_ids(m: &GixMirror, key: &str, commit: &str) -> BTreeMap<String, String> {
    let snap = m.snapshot(key, commit).await.unwrap();
    let files = tokio::task::spawn_blocking(move || snap.files())
        .await
        .unwrap()
        .unwrap();
    files.into_iter().map(|f| (f.path, f.blob_id)).collect()
}

struct Served {
    repos: Repos,
    daemon: Daemon,
    mirrors: tempfile::TempDir,
}

fn serve() -> Option<Served> {
    if !support::have_git() {
        return None;
    }
    let repos = Repos::create();
    let daemon = Daemon::start(&repos.base, &repos.home);
    Some(Served {
        repos,
        daemon,
        mirrors: tempfile::tempdir().unwrap(),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn contract_over_git_daemon() {
    let Some(s) = serve() else { return };
    let m = mirror(s.mirrors.path(), true);
    let fx = GitMirrorFixture {
        good: url(&s.daemon.url("repo")),
        head: s.repos.head.clone(),
        default_branch: "main".into(),
        expected_files: HEAD_FILES.iter().map(|f| (*f).to_owned()).collect(),
        missing: url(&s.daemon.url("no-such-repo.git")),
        // Multicast is refused even with private hosts allowed.
        forbidden: url("git://224.0.0.1/x.git"),
    };
    git_mirror_contract(&m, &fx).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_lists_regular_files_with_git_ids_and_sizes() {
    let Some(s) = serve() else { return };
    let m = mirror(s.mirrors.path(), true);
    let out = m.sync(&req("snap", &s.daemon.url("repo"), None)).await.unwrap();
    assert_eq!(
        out,
        SyncOutcome {
            commit: s.repos.head.clone(),
            branch: "main".into()
        }
    );

    let snap = m.snapshot("snap", &out.commit).await.unwrap();
    assert_eq!(snap.commit(), s.repos.head);
    let s2 = snap.clone();
    let files = tokio::task::spawn_blocking(move || s2.files()).await.unwrap().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths, HEAD_FILES,
        "symlinks and submodules are skipped; executables are included; sorted"
    );
    for f in &files {
        assert_eq!(
            f.blob_id,
            s.repos.rev(&format!("HEAD:{}", f.path)),
            "blob id of {}",
            f.path
        );
        let on_disk = std::fs::read(s.repos.repo.join(&f.path)).unwrap();
        assert_eq!(f.size, on_disk.len() as u64, "size of {}", f.path);
        let (s3, id) = (snap.clone(), f.blob_id.clone());
        let bytes = tokio::task::spawn_blocking(move || s3.read_blob(&id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bytes, on_disk, "contents of {}", f.path);
    }
    let logo = files.iter().find(|f| f.path == "assets/logo.bin").unwrap();
    let (s4, id) = (snap.clone(), logo.blob_id.clone());
    assert_eq!(
        tokio::task::spawn_blocking(move || s4.read_blob(&id))
            .await
            .unwrap()
            .unwrap(),
        BINARY
    );

    // Unknown or malformed ids.
    let s5 = snap.clone();
    let e = tokio::task::spawn_blocking(move || s5.read_blob("not-hex"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, GitError::MissingObject { .. }), "{e:?}");
    let e = m.snapshot("snap", "abc").await.unwrap_err();
    assert!(matches!(e, GitError::MissingObject { .. }), "{e:?}");
    // A tree id is not a commit.
    let tree = s.repos.rev("HEAD^{tree}");
    let e = m.snapshot("snap", &tree).await.unwrap_err();
    assert!(matches!(e, GitError::MissingObject { .. }), "{e:?}");
    let e = m.snapshot("never-synced", &s.repos.head).await.unwrap_err();
    assert!(matches!(e, GitError::MissingObject { .. }), "{e:?}");

    // The mirror is a bare repository at root/<key>.git that git itself can read.
    let dir = s.mirrors.path().join("snap.git");
    assert!(dir.join("HEAD").is_file() && dir.join("objects").is_dir());
    assert_eq!(s.repos.git(&dir, &["rev-parse", "refs/heads/main"]), s.repos.head);
    assert_eq!(
        s.repos.git(&dir, &["rev-parse", "refs/heads/feature"]),
        s.repos.feature_head
    );
    let leftovers: Vec<_> = std::fs::read_dir(s.mirrors.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary clone directories left behind: {leftovers:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_fetch_changes_only_the_changed_blob() {
    let Some(s) = serve() else { return };
    let m = mirror(s.mirrors.path(), true);
    let r = req("inc", &s.daemon.url("repo"), None);
    let first = m.sync(&r).await.unwrap();
    let before = blob_ids(&m, "inc", &first.commit).await;

    let new_head = s.repos.commit_readme("# Demo\n\nversion 3, longer than before\n");
    let second = m.sync(&r).await.unwrap();
    assert_eq!(
        second,
        SyncOutcome {
            commit: new_head.clone(),
            branch: "main".into()
        }
    );
    assert_ne!(second.commit, first.commit);

    let after = blob_ids(&m, "inc", &second.commit).await;
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>());
    let changed: Vec<&String> = after
        .iter()
        .filter(|(p, id)| before[*p] != **id)
        .map(|(p, _)| p)
        .collect();
    assert_eq!(changed, ["README.md"], "only README.md changed");
    assert_eq!(after["README.md"], s.repos.rev("HEAD:README.md"));

    // The old commit is still readable, and a no-op fetch returns the same head.
    assert_eq!(blob_ids(&m, "inc", &first.commit).await, before);
    assert_eq!(m.sync(&r).await.unwrap(), second);

    // Force-updates (history rewritten on the remote) are taken.
    s.repos.git(&s.repos.repo, &["reset", "-q", "--hard", &first.commit]);
    assert_eq!(m.sync(&r).await.unwrap().commit, first.commit);
}

#[tokio::test(flavor = "multi_thread")]
async fn branches_named_and_default() {
    let Some(s) = serve() else { return };
    let m = mirror(s.mirrors.path(), true);
    let out = m
        .sync(&req("br", &s.daemon.url("repo"), Some("feature")))
        .await
        .unwrap();
    assert_eq!(
        out,
        SyncOutcome {
            commit: s.repos.feature_head.clone(),
            branch: "feature".into()
        }
    );
    let files = blob_ids(&m, "br", &out.commit).await;
    assert!(files.contains_key("docs/feature.md"));
    assert_eq!(files["README.md"], s.repos.rev("feature:README.md"));

    // Same mirror, default branch afterwards.
    let out = m.sync(&req("br", &s.daemon.url("repo"), None)).await.unwrap();
    assert_eq!(
        out,
        SyncOutcome {
            commit: s.repos.head.clone(),
            branch: "main".into()
        }
    );

    // The remote's HEAD decides the default branch (here `develop`, not `main`).
    let out = m
        .sync(&req("dev", &s.daemon.url("develop-default"), None))
        .await
        .unwrap();
    assert_eq!(
        out,
        SyncOutcome {
            commit: s.repos.develop_head.clone(),
            branch: "develop".into()
        }
    );

    let e = m
        .sync(&req("br", &s.daemon.url("repo"), Some("nope")))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, GitError::BranchNotFound { branch, .. } if branch == "nope"),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_errors_are_phrased_for_users() {
    let Some(s) = serve() else { return };
    let m = mirror(s.mirrors.path(), true);

    let e = m
        .sync(&req("nf", &s.daemon.url("missing/repo.git"), None))
        .await
        .unwrap_err();
    assert!(matches!(e, GitError::NotFound { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with("repository not found at git://127.0.0.1"),
        "{e}"
    );
    assert!(
        !s.mirrors.path().join("nf.git").exists(),
        "a failed clone leaves no mirror"
    );

    let e = m
        .sync(&req("empty", &s.daemon.url("empty.git"), None))
        .await
        .unwrap_err();
    assert!(matches!(e, GitError::EmptyRepository { .. }), "{e:?}");
    assert!(!s.mirrors.path().join("empty.git").exists());

    let closed = support::free_port();
    let e = m
        .sync(&req("closed", &format!("git://127.0.0.1:{closed}/repo"), None))
        .await
        .unwrap_err();
    assert!(matches!(e, GitError::Network { .. }), "{e:?}");
    assert!(e.is_retryable());

    let e = m
        .check_url(&url("https://no-such-host.invalid/a/b.git"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, GitError::Network { message, .. } if message.contains("could not resolve host")),
        "{e:?}"
    );

    let leftovers = std::fs::read_dir(s.mirrors.path()).unwrap().count();
    assert_eq!(leftovers, 0, "failed syncs leave nothing behind");
}

#[tokio::test(flavor = "multi_thread")]
async fn network_policy() {
    let Some(s) = serve() else { return };
    let strict = mirror(s.mirrors.path(), false);
    let open = mirror(s.mirrors.path(), true);

    let forbidden = |e: GitError| match e {
        GitError::Forbidden { reason } => {
            assert!(reason.contains("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS"), "{reason}");
            reason
        }
        other => panic!("expected Forbidden, got {other:?}"),
    };

    // Loopback by address and by name; link-local metadata; private ranges.
    let daemon_url = s.daemon.url("repo");
    forbidden(strict.sync(&req("p1", &daemon_url, None)).await.unwrap_err());
    let by_name = format!("git://localhost:{}/repo", s.daemon.port);
    forbidden(strict.sync(&req("p2", &by_name, None)).await.unwrap_err());
    for raw in [
        "http://169.254.169.254/latest/x",
        "https://10.1.2.3/a/b",
        "http://[::1]/a",
        "https://100.64.0.1/a",
    ] {
        forbidden(strict.check_url(&url(raw)).await.unwrap_err());
        open.check_url(&url(raw)).await.unwrap();
    }
    forbidden(strict.check_url(&url("https://api.localhost/a/b")).await.unwrap_err());
    // git:// hosts are opaque to the URL parser: literal addresses are still checked as addresses.
    for raw in [
        "git://[::1]/x",
        "git://[fe80::1]/x",
        "git://10.0.0.7:9418/x",
        "git://192.168.1.1/x",
    ] {
        let reason = forbidden(strict.check_url(&url(raw)).await.unwrap_err());
        assert!(!reason.contains("resolves to"), "{reason}");
        open.check_url(&url(raw)).await.unwrap();
    }
    assert!(!s.mirrors.path().join("p1.git").exists());

    // Allowed when the operator opts in: also through a DNS name resolving to loopback.
    let out = open.sync(&req("p2", &by_name, None)).await.unwrap();
    assert_eq!(out.commit, s.repos.head);

    // Multicast is refused either way.
    let reason = forbidden(open.check_url(&url("git://224.0.0.1/x")).await.unwrap_err());
    assert!(reason.contains("multicast"), "{reason}");

    // file:// URLs.
    let file_url = format!("file://{}", s.repos.repo.display());
    let reason = forbidden(strict.sync(&req("f", &file_url, None)).await.unwrap_err());
    assert!(reason.contains("file://"), "{reason}");
    let out = open.sync(&req("f", &file_url, None)).await.unwrap();
    assert_eq!(
        out,
        SyncOutcome {
            commit: s.repos.head.clone(),
            branch: "main".into()
        }
    );
    let e = open
        .sync(&req("f2", &format!("file://{}/nope", s.repos.base.display()), None))
        .await
        .unwrap_err();
    assert!(matches!(e, GitError::NotFound { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_validated_and_remove_is_idempotent() {
    let Some(s) = serve() else { return };
    let m = mirror(s.mirrors.path(), true);
    for bad in ["../escape", "a/b", "", "with space", "dot.git"] {
        let e = m.sync(&req(bad, &s.daemon.url("repo"), None)).await.unwrap_err();
        assert!(e.to_string().contains("invalid mirror key"), "{bad}: {e}");
        assert!(m.remove(bad).await.is_err(), "{bad}");
        assert!(m.snapshot(bad, &s.repos.head).await.is_err(), "{bad}");
    }
    m.sync(&req("k", &s.daemon.url("repo"), None)).await.unwrap();
    assert!(s.mirrors.path().join("k.git").is_dir());
    m.remove("k").await.unwrap();
    assert!(!s.mirrors.path().join("k.git").exists());
    m.remove("k").await.unwrap();

    // A crashed clone's leftovers and a corrupt mirror are recovered from.
    std::fs::create_dir_all(s.mirrors.path().join(".tmp.k.crashed/objects")).unwrap();
    std::fs::create_dir_all(s.mirrors.path().join("k.git")).unwrap();
    std::fs::write(s.mirrors.path().join("k.git/garbage"), b"x").unwrap();
    assert_eq!(
        m.sync(&req("k", &s.daemon.url("repo"), None)).await.unwrap().commit,
        s.repos.head
    );
    assert!(!s.mirrors.path().join(".tmp.k.crashed").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_syncs_of_one_key_are_serialised() {
    let Some(s) = serve() else { return };
    let m = std::sync::Arc::new(mirror(s.mirrors.path(), true));
    let raw = s.daemon.url("repo");
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (m, r) = (m.clone(), req("same", &raw, None));
            tokio::spawn(async move { m.sync(&r).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().commit, s.repos.head);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_server_times_out() {
    if !support::have_git() {
        return;
    }
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let h = held.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            h.lock().unwrap().push(stream);
        }
    });
    let root = tempfile::tempdir().unwrap();
    let m = mirror(root.path(), true).with_sync_timeout(Duration::from_secs(2));
    let started = std::time::Instant::now();
    let e = m
        .sync(&req("slow", &format!("git://127.0.0.1:{port}/repo"), None))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, GitError::Network { message, .. } if message.contains("timed out")),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    held.lock().unwrap().clear(); // closes the connections: the worker thread ends
}

// ---- smart HTTP with basic auth ---------------------------------------------------------------

struct HttpServed {
    repos: Repos,
    server: HttpServer,
    mirrors: tempfile::TempDir,
}

fn serve_http() -> Option<HttpServed> {
    if !support::have_git() || !support::have_http_backend() {
        return None;
    }
    let repos = Repos::create();
    let root = repos.tmp.path().join("http-root");
    std::fs::create_dir_all(root.join("private")).unwrap();
    std::fs::create_dir_all(root.join("public")).unwrap();
    let src = repos.repo.display().to_string();
    repos.git(&root, &["clone", "-q", "--bare", &src, "private/repo.git"]);
    repos.git(&root, &["clone", "-q", "--bare", &src, "public/repo.git"]);
    let server = HttpServer::start(&root, &repos.home);
    Some(HttpServed {
        repos,
        server,
        mirrors: tempfile::tempdir().unwrap(),
    })
}

fn assert_no_password(e: &GitError) {
    for text in [
        e.to_string(),
        format!("{e:?}"),
        format!("{:?}", std::error::Error::source(e)),
    ] {
        assert!(!text.contains(PASSWORD), "password leaked: {text}");
        assert!(!text.contains("wrong-pa55word"), "password leaked: {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn contract_over_smart_http_with_basic_auth() {
    let Some(s) = serve_http() else { return };
    let m = mirror(s.mirrors.path(), true);
    let fx = GitMirrorFixture {
        good: url(&s.server.url(Some((USER, PASSWORD)), "private/repo.git")),
        head: s.repos.head.clone(),
        default_branch: "main".into(),
        expected_files: HEAD_FILES.iter().map(|f| (*f).to_owned()).collect(),
        missing: url(&s.server.url(Some((USER, PASSWORD)), "private/missing.git")),
        forbidden: url(&format!("http://{USER}:{PASSWORD}@224.0.0.1/private/repo.git")),
    };
    git_mirror_contract(&m, &fx).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smart_http_credentials_stay_secret() {
    let Some(s) = serve_http() else { return };
    let m = mirror(s.mirrors.path(), true);

    // Public repository: no credentials needed.
    let out = m
        .sync(&req("pub", &s.server.url(None, "public/repo.git"), None))
        .await
        .unwrap();
    assert_eq!(out.commit, s.repos.head);

    // Private without credentials, and with a wrong password.
    let e = m
        .sync(&req("priv", &s.server.url(None, "private/repo.git"), None))
        .await
        .unwrap_err();
    assert!(matches!(e, GitError::AuthRequired { .. }), "{e:?}");
    let e = m
        .sync(&req(
            "priv",
            &s.server.url(Some((USER, "wrong-pa55word")), "private/repo.git"),
            None,
        ))
        .await
        .unwrap_err();
    assert!(matches!(e, GitError::AuthRequired { .. }), "{e:?}");
    assert_no_password(&e);
    assert!(
        e.to_string()
            .contains(&format!("http://127.0.0.1:{}/private/repo.git", s.server.port)),
        "{e}"
    );

    // Right credentials: clone, then fetch.
    let good = s.server.url(Some((USER, PASSWORD)), "private/repo.git");
    let out = m.sync(&req("priv", &good, None)).await.unwrap();
    assert_eq!(
        out,
        SyncOutcome {
            commit: s.repos.head.clone(),
            branch: "main".into()
        }
    );
    let out = m.sync(&req("priv", &good, Some("feature"))).await.unwrap();
    assert_eq!(out.commit, s.repos.feature_head);

    // Errors with credentials don't carry them either.
    let e = m.sync(&req("priv", &good, Some("nope"))).await.unwrap_err();
    assert!(matches!(e, GitError::BranchNotFound { .. }), "{e:?}");
    assert_no_password(&e);
    let e = m
        .sync(&req(
            "gone",
            &s.server.url(Some((USER, PASSWORD)), "private/gone.git"),
            None,
        ))
        .await
        .unwrap_err();
    assert!(matches!(e, GitError::NotFound { .. }), "{e:?}");
    assert_no_password(&e);
    let closed = support::free_port();
    let e = m
        .sync(&req(
            "closed",
            &format!("http://{USER}:{PASSWORD}@127.0.0.1:{closed}/private/repo.git"),
            None,
        ))
        .await
        .unwrap_err();
    assert!(matches!(e, GitError::Network { .. }), "{e:?}");
    assert_no_password(&e);

    // Nothing on disk knows the password.
    for entry in walk(&s.mirrors.path().join("priv.git")) {
        if entry.is_file() {
            let bytes = std::fs::read(&entry).unwrap();
            assert!(
                !bytes.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()),
                "{} contains the password",
                entry.display()
            );
        }
    }
    let config = std::fs::read_to_string(s.mirrors.path().join("priv.git/config")).unwrap();
    assert!(!config.contains(PASSWORD) && !config.contains(USER), "{config}");
}

#[tokio::test(flavor = "multi_thread")]
async fn smart_http_private_hosts_refused_by_default() {
    let Some(s) = serve_http() else { return };
    let strict = mirror(s.mirrors.path(), false);
    let e = strict
        .sync(&req(
            "x",
            &s.server.url(Some((USER, PASSWORD)), "private/repo.git"),
            None,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, GitError::Forbidden { reason } if reason.contains("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS")),
        "{e:?}"
    );
    assert_no_password(&e);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn generic_provider() {
    let p = GenericProvider::new();
    assert_eq!(p.kind(), ProviderKind::Generic);
    assert!(p.owns(&url("https://git.example.com/a/b.git")));
    assert!(p.owns(&url("git://h.example/x")));
    let installation = lettuce_domain::codehost::Installation {
        account_id: "0190a6f0-0000-7000-8000-000000000001".parse().unwrap(),
        provider: "generic".into(),
        external_id: "x".into(),
        connected_by: "0190a6f0-0000-7000-8000-000000000002".parse().unwrap(),
        connected_at: chrono::Utc::now(),
        scopes: vec![],
        needs_reauth: false,
        sealed_credentials: None,
        credentials: None,
    };
    assert!(
        p.clone_credentials(&installation, &url("https://user:tok@git.example.com/a/b"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(p.status(), lettuce_ports::git::ProviderStatus::Ready);
    assert!(p.webhook_scheme().is_none());
    let e = p.list_repos(&installation).await.unwrap_err();
    assert!(matches!(e, GitError::Unsupported { .. }), "{e:?}");
}

/// Runs git in `dir` with commit dates of `day` (days after 2024-01-01).
fn git_on_day(home: &std::path::Path, dir: &std::path::Path, day: u32, args: &[&str]) -> String {
    let date = format!("2024-01-{:02}T12:00:00Z", day + 1);
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=Lettuce Test", "-c", "user.email=test@lettuce.invalid"])
        .args(["-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", home.join("gitconfig"))
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn history_lists_non_merge_commits_with_changed_paths_up_to_the_snapshot() {
    let Some(s) = serve() else { return };
    let (home, dir) = (s.repos.home.clone(), s.repos.base.join("hist"));
    std::fs::create_dir_all(&dir).unwrap();
    let g = |day: u32, args: &[&str]| git_on_day(&home, &dir, day, args);
    g(0, &["init", "-q", "-b", "main"]);
    support::write(&dir.join("src/a.py"), b"a = 1\n");
    support::write(&dir.join("src/b.py"), b"b = 1\n");
    g(0, &["add", "-A"]);
    g(0, &["commit", "-q", "-m", "initial\n\nbody line"]);
    support::write(&dir.join("src/a.py"), b"a = 2\n");
    support::write(&dir.join("src/b.py"), b"b = 2\n");
    g(1, &["commit", "-q", "-am", "fix a and b"]);
    let second = g(1, &["rev-parse", "HEAD"]);
    g(2, &["checkout", "-q", "-b", "side"]);
    support::write(&dir.join("c.py"), b"c = 1\n");
    g(2, &["add", "-A"]);
    g(2, &["commit", "-q", "-m", "side c"]);
    g(3, &["checkout", "-q", "main"]);
    support::write(&dir.join("docs/d.txt"), b"d\n");
    g(3, &["add", "-A"]);
    g(3, &["commit", "-q", "-m", "docs"]);
    g(4, &["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
    g(5, &["rm", "-q", "src/b.py"]);
    g(5, &["commit", "-q", "-m", "remove b"]);
    let head = g(5, &["rev-parse", "HEAD"]);

    let m = mirror(s.mirrors.path(), true);
    let out = m.sync(&req("hist", &s.daemon.url("hist"), None)).await.unwrap();
    assert_eq!(out.commit, head);
    let history = |commit: String, max: usize| {
        let m = &m;
        async move {
            let snap = m.snapshot("hist", &commit).await.unwrap();
            tokio::task::spawn_blocking(move || snap.history(max))
                .await
                .unwrap()
                .unwrap()
        }
    };
    let h = history(head.clone(), 50).await;
    let got: Vec<(&str, Vec<&str>)> = h
        .iter()
        .map(|c| (c.subject.as_str(), c.paths.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("remove b", vec!["src/b.py"]),
            ("docs", vec!["docs/d.txt"]),
            ("side c", vec!["c.py"]),
            ("fix a and b", vec!["src/a.py", "src/b.py"]),
            ("initial", vec!["src/a.py", "src/b.py"]),
        ],
        "newest first, merges skipped, paths against the first parent"
    );
    assert_eq!(h[0].id, head);
    assert_eq!(h[0].time, 1_704_110_400 + 5 * 86_400);
    assert!(h.windows(2).all(|w| w[0].time >= w[1].time));

    let bounded = history(head, 2).await;
    assert_eq!(bounded.len(), 2, "at most `max` commits");
    assert_eq!(bounded[1].subject, "docs");

    // An older snapshot sees only its own past.
    let old = history(second.clone(), 50).await;
    let subjects: Vec<&str> = old.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(subjects, ["fix a and b", "initial"]);
    assert_eq!(old[0].id, second);

    // First parents: of a merge, the branch it was merged into; none for the root.
    let snap = m.snapshot("hist", &h[0].id).await.unwrap();
    let (h2, head2) = (h.clone(), h[0].id.clone());
    let parents = tokio::task::spawn_blocking(move || {
        let p: Vec<Option<String>> = h2.iter().map(|c| snap.first_parent(&c.id).unwrap()).collect();
        p
    })
    .await
    .unwrap();
    assert_eq!(parents[0].as_deref(), Some(g(5, &["rev-parse", "HEAD^"]).as_str()));
    assert_eq!(
        parents[3].as_deref(),
        Some(g(5, &["rev-parse", &format!("{second}^")]).as_str())
    );
    assert_eq!(parents[4], None, "the root commit");

    // The same repository read in place (a clone's work tree), as `lettuce eval` does.
    let d = dir.clone();
    let (local, head_id) = tokio::task::spawn_blocking(move || {
        (
            lettuce_git_generic::local_snapshot(&d, &second).unwrap(),
            lettuce_git_generic::local_head(&d).unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(head_id, head2);
    let files: Vec<String> = local.files().unwrap().into_iter().map(|f| f.path).collect();
    assert_eq!(files, ["src/a.py", "src/b.py"]);
    assert!(lettuce_git_generic::local_snapshot(&dir, "0000000000000000000000000000000000000000").is_err());
}
