//! Shared fixtures for the end-to-end tests of the `lettuce` binary: a server
//! child process, an HTTP client that checks the error format, git
//! repositories served by a real `git daemon`, and a TCP proxy that can stall
//! connections on demand.
#![allow(dead_code)]

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Generous deadline for anything that should happen "within seconds".
pub const DEADLINE: Duration = Duration::from_secs(60);
/// Poll interval.
pub const POLL: Duration = Duration::from_millis(150);
/// A password that passes the length rule.
pub const PASSWORD: &str = "correct-horse-battery";

/// Variables the product reads; stripped from the inherited environment so
/// the developer's shell cannot change what a test sees.
const PRODUCT_VARS: &[&str] = &["DATABASE_URL", "JWT_SIGNING_KEY", "RUST_LOG", "DO_NOT_TRACK"];

/// Where tests send heartbeats unless they say otherwise: a closed loopback
/// port, so no test ever contacts the real telemetry receiver.
pub const NO_TELEMETRY_RECEIVER: &str = "http://127.0.0.1:9/v1/heartbeat";
const PRODUCT_PREFIXES: &[&str] = &["LETTUCE_", "CODEWAZE_"];

/// Path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_lettuce")
}

/// A `lettuce` command with a clean product environment, run in `cwd`.
pub fn lettuce_cmd(cwd: &Path) -> Command {
    let mut cmd = Command::new(bin());
    for (k, _) in std::env::vars_os() {
        let Some(k) = k.to_str() else { continue };
        if PRODUCT_VARS.contains(&k) || PRODUCT_PREFIXES.iter().any(|p| k.starts_with(p)) {
            cmd.env_remove(k);
        }
    }
    cmd.env("LETTUCE_TELEMETRY_URL", NO_TELEMETRY_RECEIVER);
    cmd.current_dir(cwd).stdin(Stdio::null());
    cmd
}

/// Runs a `lettuce` command to completion (with a 60 s watchdog).
pub fn run_lettuce(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = lettuce_cmd(cwd);
    cmd.args(args).envs(env.iter().copied());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn lettuce");
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < DEADLINE {
                if done.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(POLL);
            }
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        })
    };
    let out = child.wait_with_output().expect("wait for lettuce");
    done.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    out
}

/// A free loopback port (bind :0, read it, drop the listener).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// A running `lettuce` (no arguments = `serve`), killed on drop.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The data directory (`CODEWAZE_DATA_DIR`).
    pub data_dir: PathBuf,
    logs: TempDir,
}

impl Server {
    /// Starts the binary with no arguments on a free port with `data_dir`
    /// and the extra `env`, and waits until `/healthz` answers. Retries on a
    /// port collision.
    pub async fn start(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut last = String::new();
        for _ in 0..3 {
            let mut server = Self::spawn(data_dir, env, None);
            match server.wait_healthy().await {
                Ok(()) => return server,
                Err(e) if e.contains("cannot listen") => last = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("could not start the server after 3 tries: {last}");
    }

    /// Spawns without waiting. `args` replaces the (empty) argument list.
    pub fn spawn(data_dir: &Path, env: &[(&str, &str)], args: Option<&[&str]>) -> Server {
        let port = free_port();
        let logs = tempfile::tempdir().expect("log dir");
        let stdout = std::fs::File::create(logs.path().join("stdout")).expect("stdout file");
        let stderr = std::fs::File::create(logs.path().join("stderr")).expect("stderr file");
        let mut cmd = lettuce_cmd(logs.path());
        cmd.args(args.unwrap_or(&[]))
            .env("CODEWAZE_DATA_DIR", data_dir)
            .env("LETTUCE_BIND", format!("127.0.0.1:{port}"))
            .env("LETTUCE_SHUTDOWN_GRACE_SECS", "5")
            .envs(env.iter().copied())
            .stdout(stdout)
            .stderr(stderr);
        let child = cmd.spawn().expect("spawn lettuce");
        Server {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            data_dir: data_dir.to_path_buf(),
            logs,
        }
    }

    /// Polls `/healthz` until 200; `Err` (with the logs) when the process
    /// exits first or the deadline passes.
    pub async fn wait_healthy(&mut self) -> Result<(), String> {
        let client = client();
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if let Some(status) = self.child_mut().try_wait().expect("try_wait") {
                return Err(format!("lettuce exited early with {status}\n{}", self.logs()));
            }
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await
                && r.status() == StatusCode::OK
            {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
        Err(format!("/healthz did not answer within {DEADLINE:?}\n{}", self.logs()))
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("server already stopped")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server already stopped").id()
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.logs.path().join("stdout")).unwrap_or_default()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.logs.path().join("stderr")).unwrap_or_default()
    }

    /// Both streams, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "----- stdout -----\n{}\n----- stderr -----\n{}",
            self.stdout(),
            self.stderr()
        )
    }

    /// The generated admin token (`<data dir>/admin-token`).
    pub fn admin_token(&self) -> String {
        let path = self.data_dir.join("admin-token");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            .trim()
            .to_owned()
    }

    /// An API client for this server.
    pub fn api(&self) -> Api {
        Api {
            client: client(),
            base: self.base.clone(),
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit.
    pub async fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let pid = self.pid();
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(status) = self.child_mut().try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

/// A response: status, headers and the body parsed as JSON (`Value::Null`
/// for an empty body; a JSON string holding the raw text when unparsable).
#[derive(Debug)]
pub struct Resp {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Value,
    /// Raw body.
    pub text: String,
}

impl Resp {
    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        self.body
    }

    /// Asserts an error response with exactly the documented format and the
    /// given status and code; returns the message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        assert_error_format(self);
        let got = self.body["error"]["code"].as_str().unwrap_or_default();
        assert_eq!(got, code, "unexpected error code; body: {}", self.text);
        self.body["error"]["message"].as_str().unwrap_or_default().to_owned()
    }
}

/// `{"error": {"code": "snake_case", "message": "non-empty"}}` and nothing
/// else (an optional `field` string is the only extra member allowed).
#[track_caller]
pub fn assert_error_format(r: &Resp) {
    let ct = r
        .headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "content-type {ct:?}; body: {}",
        r.text
    );
    let top = r
        .body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not an object: {}", r.text));
    assert_eq!(top.len(), 1, "error body has extra members: {}", r.text);
    let err = top
        .get("error")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("no `error` object: {}", r.text));
    for key in err.keys() {
        assert!(
            ["code", "message", "field"].contains(&key.as_str()),
            "unexpected member `{key}`: {}",
            r.text
        );
    }
    let code = err.get("code").and_then(Value::as_str).unwrap_or_default();
    assert!(
        !code.is_empty()
            && code.starts_with(|c: char| c.is_ascii_lowercase())
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "code is not snake_case: {}",
        r.text
    );
    let message = err.get("message").and_then(Value::as_str).unwrap_or_default();
    assert!(!message.trim().is_empty(), "empty message: {}", r.text);
    if let Some(field) = err.get("field") {
        assert!(field.is_string(), "field is not a string: {}", r.text);
    }
}

/// A thin HTTP client bound to one server.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    /// Base URL.
    pub base: String,
}

impl Api {
    /// Sends `method path` with an optional bearer token, body and content type.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Resp {
        let mut req = self.client.request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some((content_type, bytes)) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, content_type).body(bytes);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_else(|e| panic!("{method} {path}: body: {e}"));
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
        };
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    /// GET.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(reqwest::Method::GET, path, token, None).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(reqwest::Method::DELETE, path, token, None).await
    }

    /// POST a JSON value.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        let bytes = serde_json::to_vec(body).expect("serialize");
        self.send(reqwest::Method::POST, path, token, Some(("application/json", bytes)))
            .await
    }

    /// POST raw bytes with a content type.
    pub async fn post_raw(&self, path: &str, token: Option<&str>, content_type: &str, body: &str) -> Resp {
        self.send(
            reqwest::Method::POST,
            path,
            token,
            Some((content_type, body.as_bytes().to_vec())),
        )
        .await
    }

    /// POST without a body.
    pub async fn post_empty(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(reqwest::Method::POST, path, token, None).await
    }

    /// Mints an admin invite; returns its code.
    pub async fn admin_invite(&self, admin_token: &str) -> String {
        let v = self
            .post_empty("/api/admin/invites", Some(admin_token))
            .await
            .expect(201);
        v["code"].as_str().expect("invite code").to_owned()
    }

    /// Signs up with `code`; returns the whole response body.
    pub async fn signup(&self, code: &str, email: &str) -> Value {
        self.post(
            "/v1/auth/signup",
            None,
            &json!({"invite_code": code, "email": email, "password": PASSWORD}),
        )
        .await
        .expect(201)
    }

    /// Invite + sign-up of a first user; returns their session token.
    pub async fn first_user(&self, admin_token: &str) -> String {
        let code = self.admin_invite(admin_token).await;
        let v = self.signup(&code, "owner@example.com").await;
        v["token"].as_str().expect("session token").to_owned()
    }

    /// Polls `GET /v1/repos/{id}` until `done` holds; panics with `ctx` on timeout.
    pub async fn wait_repo(
        &self,
        token: &str,
        id: &str,
        deadline: Duration,
        done: impl Fn(&Value) -> bool,
        ctx: impl Fn() -> String,
    ) -> Value {
        let start = Instant::now();
        let mut last = Value::Null;
        while start.elapsed() < deadline {
            let r = self.get(&format!("/v1/repos/{id}"), Some(token)).await;
            if r.status == StatusCode::OK {
                if done(&r.body) {
                    return r.body;
                }
                last = r.body;
            } else {
                last = Value::String(format!("{}: {}", r.status, r.text));
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "repo {id} did not reach the expected state within {deadline:?}; last: {last}\n{}",
            ctx()
        );
    }
}

// ---------------------------------------------------------------------------
// git
// ---------------------------------------------------------------------------

/// Whether `git` and `git daemon` are usable. Prints why not and returns
/// `false` (the caller skips), or panics when `LETTUCE_REQUIRE_PEERS=1`.
pub fn git_available() -> bool {
    let reason = match Command::new("git").arg("--exec-path").output() {
        Err(e) => Some(format!("`git` cannot be run: {e}")),
        Ok(o) if !o.status.success() => Some("`git --exec-path` failed".to_owned()),
        Ok(o) => {
            let exec = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
            (!exec.join("git-daemon").exists()).then(|| format!("`git daemon` is not installed ({})", exec.display()))
        }
    };
    match reason {
        None => true,
        Some(reason) if std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() == Ok("1") => {
            panic!("LETTUCE_REQUIRE_PEERS=1 but {reason}")
        }
        Some(reason) => {
            eprintln!("SKIPPED: {reason}");
            false
        }
    }
}

/// Returns from the test (skipping it) when git is unavailable.
#[macro_export]
macro_rules! require_git {
    () => {
        if !support::git_available() {
            return;
        }
    };
}

/// Runs `git` in `dir` with an isolated config; panics with stderr on failure; returns trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Lettuce Test", "-c", "user.email=test@example.com"])
        .args(["-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null())
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Bare repositories under `<tmp>/served` (the daemon's base path), each
/// with a working clone under `<tmp>/work/<name>`.
pub struct GitRepos {
    dir: TempDir,
}

impl GitRepos {
    /// An empty fixture directory.
    pub fn new() -> GitRepos {
        let dir = tempfile::tempdir().expect("git tempdir");
        std::fs::create_dir_all(dir.path().join("served")).expect("mkdir served");
        std::fs::create_dir_all(dir.path().join("work")).expect("mkdir work");
        GitRepos { dir }
    }

    /// The daemon's base path.
    pub fn served(&self) -> PathBuf {
        self.dir.path().join("served")
    }

    fn work(&self, name: &str) -> PathBuf {
        self.dir.path().join("work").join(name)
    }

    fn bare(&self, name: &str) -> PathBuf {
        self.served().join(format!("{name}.git"))
    }

    /// Creates `<name>.git` with one commit of `files`; returns HEAD.
    pub fn create(&self, name: &str, files: &[(&str, &str)]) -> String {
        let bare = self.bare(name);
        std::fs::create_dir_all(&bare).expect("mkdir bare");
        git(&bare, &["init", "-q", "--bare", "--initial-branch=main"]);
        let work = self.work(name);
        std::fs::create_dir_all(&work).expect("mkdir work");
        git(&work, &["init", "-q", "--initial-branch=main"]);
        git(&work, &["remote", "add", "origin", bare.to_str().expect("utf-8 path")]);
        self.commit(name, files, "initial commit")
    }

    /// Writes `files` into the working clone, commits and pushes; returns the new HEAD.
    pub fn commit(&self, name: &str, files: &[(&str, &str)], message: &str) -> String {
        let work = self.work(name);
        for (path, content) in files {
            let p = work.join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, content).expect("write file");
        }
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", message]);
        git(&work, &["push", "-q", "origin", "main"]);
        self.head(name)
    }

    /// HEAD of the served (bare) repository.
    pub fn head(&self, name: &str) -> String {
        git(&self.bare(name), &["rev-parse", "HEAD"])
    }

    /// Number of files at HEAD of the served repository.
    pub fn file_count(&self, name: &str) -> u64 {
        git(&self.bare(name), &["ls-tree", "-r", "--name-only", "HEAD"])
            .lines()
            .filter(|l| !l.is_empty())
            .count() as u64
    }

    /// Path for a pid file next to (not inside) the served directory.
    pub fn pid_file(&self) -> PathBuf {
        self.dir.path().join("daemon.pid")
    }
}

fn alive(pid: u32) -> bool {
    Command::new("kill")
        .arg("-0")
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A `git daemon --detach` serving [`GitRepos::served`]; killed by pid on drop.
pub struct GitDaemon {
    pid: u32,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl GitDaemon {
    /// Starts the daemon on a free port (retrying on a collision) and waits
    /// until it accepts connections.
    pub fn start(repos: &GitRepos) -> GitDaemon {
        let pid_file = repos.pid_file();
        for _ in 0..5 {
            let port = free_port();
            let _ = std::fs::remove_file(&pid_file);
            let status = Command::new("git")
                .arg("daemon")
                .arg("--reuseaddr")
                .arg(format!("--base-path={}", repos.served().display()))
                .arg("--export-all")
                .arg("--listen=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg("--detach")
                .arg(format!("--pid-file={}", pid_file.display()))
                .stdin(Stdio::null())
                .status()
                .expect("run git daemon");
            assert!(status.success(), "git daemon failed to start: {status}");
            let start = Instant::now();
            let mut pid = None;
            while start.elapsed() < Duration::from_secs(10) {
                if pid.is_none() {
                    pid = std::fs::read_to_string(&pid_file)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok());
                }
                if let Some(p) = pid {
                    if StdStream::connect(("127.0.0.1", port)).is_ok() {
                        return GitDaemon { pid: p, port };
                    }
                    if !alive(p) {
                        break; // most likely the port was taken: try another
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if let Some(p) = pid {
                kill_pid(p);
            }
        }
        panic!("git daemon did not come up after 5 tries");
    }

    /// `git://127.0.0.1:PORT/<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}.git", self.port)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

fn kill_pid(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        kill_pid(self.pid);
    }
}

// ---------------------------------------------------------------------------
// Stalling proxy
// ---------------------------------------------------------------------------

/// A TCP proxy on 127.0.0.1: while its gate is closed it accepts
/// connections and holds them open without forwarding a byte; once open it
/// forwards each new connection to the target.
pub struct StallProxy {
    /// The proxy's port.
    pub port: u16,
    gate: Arc<AtomicBool>,
    held: Arc<AtomicUsize>,
    forwarded: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl StallProxy {
    /// Starts the proxy (gate closed) in the current tokio runtime.
    pub async fn start(target: SocketAddr) -> StallProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let port = listener.local_addr().expect("proxy addr").port();
        let gate = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicUsize::new(0));
        let forwarded = Arc::new(AtomicUsize::new(0));
        let task = {
            let (gate, held, forwarded) = (gate.clone(), held.clone(), forwarded.clone());
            tokio::spawn(async move {
                // Stalled connections live as long as this task.
                let mut stalled = Vec::new();
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else {
                        continue;
                    };
                    if !gate.load(Ordering::SeqCst) {
                        held.fetch_add(1, Ordering::SeqCst);
                        stalled.push(inbound);
                        continue;
                    }
                    forwarded.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                }
            })
        };
        StallProxy {
            port,
            gate,
            held,
            forwarded,
            task,
        }
    }

    /// Opens the gate: new connections are forwarded.
    pub fn open(&self) {
        self.gate.store(true, Ordering::SeqCst);
    }

    /// Connections accepted and held while the gate was closed.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Connections forwarded.
    pub fn forwarded(&self) -> usize {
        self.forwarded.load(Ordering::SeqCst)
    }

    /// `git://127.0.0.1:PROXY_PORT/<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}.git", self.port)
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
