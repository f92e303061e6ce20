//! Scale-out crash test: several `lettuce` processes — like separate
//! machines, each with its own data directory — share one PostgreSQL database
//! (store + queue) and one S3 bucket (moto). Two `--role api` processes take
//! the requests, three `--role worker` processes index; while ~200 repos are
//! being indexed, random workers are SIGKILLed and replaced.
//!
//! What must hold: every repo ends `ready` at its served HEAD; every
//! `index_repo` job ends `completed` (none discarded, none lost); and no two
//! live leases for the same repo ever coexist (sampled from `lettuce_jobs`
//! throughout the run). "Indexed exactly once" cannot hold literally — a
//! killed worker's job runs again — so the test checks the outcome and the
//! lease exclusion instead.
//!
//! Peers: `LETTUCE_TEST_POSTGRES_URL` (admin URL; a database is created and
//! dropped), `LETTUCE_TEST_S3_ENDPOINT` (moto; a bucket is created), `git`
//! with `git daemon`, and `psql`. Missing peers skip the test with a printed
//! reason, or fail it under `LETTUCE_REQUIRE_PEERS=1` (`source
//! scripts/test-peers` provides them).

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{Api, GitDaemon, Server, git};

const REPOS: usize = 200;
const WORKERS: usize = 3;
const KILLS: usize = 5;
const KILL_EVERY: Duration = Duration::from_millis(1000);
/// Bound on "all repos ready" after the last repo was added.
const INDEX_DEADLINE: Duration = Duration::from_secs(120);
/// Bound on a process becoming ready (generous: other builds share the CPU).
const BOOT_DEADLINE: Duration = Duration::from_secs(60);

const ADMIN_TOKEN: &str = "scale-out-admin-token-0123456789abcdef";
const JWT_KEY: &str = "scale-out-jwt-signing-key-0123456789abcdef";
const DATA_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn require_peers() -> bool {
    std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() == Ok("1")
}

/// `Some(reason)` when a peer is missing.
fn missing_peer() -> Option<String> {
    for var in ["LETTUCE_TEST_POSTGRES_URL", "LETTUCE_TEST_S3_ENDPOINT"] {
        if std::env::var(var).map(|v| v.trim().is_empty()).unwrap_or(true) {
            return Some(format!("{var} is unset (run `source scripts/test-peers`)"));
        }
    }
    match Command::new("psql").arg("--version").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("`psql` is not installed".to_owned()),
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL (through psql) and S3 (moto, plain HTTP)
// ---------------------------------------------------------------------------

/// Runs one SQL statement; returns the unaligned, tuples-only output.
fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!("psql `{sql}` failed: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

#[track_caller]
fn psql_ok(url: &str, sql: &str) -> String {
    psql(url, sql).unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh database on the test server, dropped (`WITH (FORCE)`) on drop.
struct TempDatabase {
    admin_url: String,
    name: String,
    /// URL of the new database.
    url: String,
}

impl TempDatabase {
    fn create(admin_url: &str, name: &str) -> TempDatabase {
        psql_ok(admin_url, &format!("CREATE DATABASE {name}"));
        let (base, query) = match admin_url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin_url, String::new()),
        };
        let (server, _db) = base
            .rsplit_once('/')
            .filter(|(s, _)| s.contains("://") && !s.ends_with('/'))
            .unwrap_or((base, ""));
        TempDatabase {
            admin_url: admin_url.to_owned(),
            name: name.to_owned(),
            url: format!("{server}/{name}{query}"),
        }
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        if let Err(e) = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("could not drop {}: {e}", self.name);
        }
    }
}

async fn create_bucket(endpoint: &str, bucket: &str) {
    let client = reqwest::Client::builder().no_proxy().build().expect("client");
    let url = format!("{}/{bucket}", endpoint.trim_end_matches('/'));
    let r = client
        .put(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
    assert!(r.status().is_success(), "PUT {url}: {}", r.status());
}

// ---------------------------------------------------------------------------
// git fixtures: REPOS bare repositories, each with its own commit
// ---------------------------------------------------------------------------

/// Creates `<served>/r000.git` … `r199.git`, each with one root commit of
/// 1–3 files on `main`; returns name → HEAD.
///
/// Fast (no git process per repo): one `git fast-import` writes every
/// commit into a single pack in `scratch/src.git`; each served repository is
/// then a bare-repo skeleton holding a copy of that pack and one ref.
fn create_repos(served: &Path, scratch: &Path) -> BTreeMap<String, String> {
    let src = scratch.join("src.git");
    std::fs::create_dir_all(&src).expect("mkdir src");
    git(&src, &["init", "-q", "--bare"]);
    let mut stream = String::new();
    let data = |s: &str| format!("data {}\n{s}\n", s.len());
    for i in 0..REPOS {
        let name = format!("r{i:03}");
        let mut files = vec![("README.md".to_owned(), format!("# {name}\n\nRepository number {i}.\n"))];
        if i % 3 >= 1 {
            files.push((
                "src/lib.rs".to_owned(),
                format!("pub fn id() -> usize {{\n    {i}\n}}\n"),
            ));
        }
        if i % 3 == 2 {
            files.push(("notes.txt".to_owned(), format!("notes for {name}\n")));
        }
        stream.push_str(&format!(
            "commit refs/heads/{name}\ncommitter Lettuce Test <test@example.com> {} +0000\n",
            1_700_000_000 + i
        ));
        stream.push_str(&data(&format!("initial commit of {name}")));
        for (path, content) in &files {
            stream.push_str(&format!("M 100644 inline {path}\n"));
            stream.push_str(&data(content));
        }
        stream.push('\n');
    }
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(&src)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run git fast-import");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(stream.as_bytes()).expect("feed fast-import");
    }
    assert!(
        child.wait().expect("wait fast-import").success(),
        "git fast-import failed"
    );

    let refs = git(
        &src,
        &["for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads"],
    );
    let heads: BTreeMap<String, String> = refs
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, h)| (n.to_owned(), h.to_owned()))
        .collect();
    assert_eq!(heads.len(), REPOS, "fast-import made {} branches", heads.len());
    let packs: Vec<PathBuf> = std::fs::read_dir(src.join("objects/pack"))
        .expect("read pack dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pack" || x == "idx"))
        .collect();
    assert!(packs.len() >= 2, "fast-import wrote no pack: {packs:?}");
    for (name, head) in &heads {
        let bare = served.join(format!("{name}.git"));
        for sub in ["objects/pack", "objects/info", "refs/heads", "refs/tags"] {
            std::fs::create_dir_all(bare.join(sub)).expect("mkdir");
        }
        std::fs::write(bare.join("HEAD"), "ref: refs/heads/main\n").expect("HEAD");
        std::fs::write(
            bare.join("config"),
            "[core]\n\trepositoryformatversion = 0\n\tbare = true\n",
        )
        .expect("config");
        std::fs::write(bare.join("refs/heads/main"), format!("{head}\n")).expect("ref");
        for p in &packs {
            let to = bare.join("objects/pack").join(p.file_name().expect("pack name"));
            if std::fs::hard_link(p, &to).is_err() {
                std::fs::copy(p, &to).expect("copy pack");
            }
        }
    }
    // Sanity: git sees a valid repository at the expected HEAD.
    let first = heads.keys().next().expect("a repo");
    assert_eq!(
        &git(&served.join(format!("{first}.git")), &["rev-parse", "HEAD"]),
        &heads[first]
    );
    heads
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// A small deterministic PRNG (the seed is printed for reproduction).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn spawn_role(data_dir: &Path, env: &[(&str, &str)], role: &str) -> Server {
    Server::spawn(data_dir, env, Some(&["serve", "--role", role]))
}

/// Waits for the worker's "worker started" log line.
async fn wait_worker(server: &mut Server) {
    let start = Instant::now();
    while start.elapsed() < BOOT_DEADLINE {
        if server.stderr().contains("worker started") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("worker did not start within {BOOT_DEADLINE:?}\n{}", server.logs());
}

/// Samples `lettuce_jobs` every 200 ms until stopped: the number of repos
/// with two or more live leases (must stay 0), the same without the lease
/// expiry filter (a killed worker's row stays `running` until reclaimed), and
/// the peak number of running jobs.
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<SamplerReport>>,
}

#[derive(Debug, Default)]
struct SamplerReport {
    samples: usize,
    errors: Vec<String>,
    /// Samples that found a key with two live leases, with the rows.
    overlaps: Vec<String>,
    /// Samples with two `running` rows of one key (either lease may be expired).
    running_twice: Vec<String>,
    peak_running: usize,
}

impl Sampler {
    fn start(url: String) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut report = SamplerReport::default();
            // One statement, one snapshot: live-lease duplicates | running
            // duplicates | running count.
            let sql = "SELECT \
                (SELECT coalesce(string_agg(dedup_key || ' x' || n, ', '), '') FROM \
                   (SELECT dedup_key, count(*) n FROM lettuce_jobs WHERE state = 'running' \
                      AND lease_expires_at > now() AND dedup_key IS NOT NULL GROUP BY 1 HAVING count(*) > 1) a) \
                || '|' || \
                (SELECT coalesce(string_agg(dedup_key || ' x' || n, ', '), '') FROM \
                   (SELECT dedup_key, count(*) n FROM lettuce_jobs WHERE state = 'running' \
                      AND dedup_key IS NOT NULL GROUP BY 1 HAVING count(*) > 1) b) \
                || '|' || (SELECT count(*) FROM lettuce_jobs WHERE state = 'running')";
            while !flag.load(Ordering::SeqCst) {
                match psql(&url, sql) {
                    Ok(line) => {
                        report.samples += 1;
                        let mut parts = line.splitn(3, '|');
                        let live = parts.next().unwrap_or_default();
                        let any = parts.next().unwrap_or_default();
                        let running: usize = parts.next().unwrap_or_default().trim().parse().unwrap_or(0);
                        if !live.is_empty() {
                            report.overlaps.push(live.to_owned());
                        }
                        if !any.is_empty() {
                            report.running_twice.push(any.to_owned());
                        }
                        report.peak_running = report.peak_running.max(running);
                    }
                    // Before the first migration the table does not exist.
                    Err(e) if e.contains("does not exist") => {}
                    Err(e) => report.errors.push(e),
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            report
        });
        Sampler {
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> SamplerReport {
        self.stop.store(true, Ordering::SeqCst);
        let handle = self.handle.take().expect("sampler running");
        handle.join().expect("sampler thread")
    }
}

impl Drop for Sampler {
    /// Stops the thread when the test panics before `finish`.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Instruments the (test's own) database: every insert into and update of
/// `lettuce_jobs` is copied, with `clock_timestamp()`, into a history table,
/// so lease spans can be checked after the run.
const HISTORY_SQL: &str = "\
CREATE TABLE lettuce_test_job_history (job_id uuid, dedup_key text, state text, attempt integer, \
    lease_owner text, lease_expires_at timestamptz, at timestamptz NOT NULL DEFAULT clock_timestamp()); \
CREATE FUNCTION lettuce_test_record() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
    INSERT INTO lettuce_test_job_history (job_id, dedup_key, state, attempt, lease_owner, lease_expires_at) \
    VALUES (NEW.id, NEW.dedup_key, NEW.state, NEW.attempt, NEW.lease_owner, NEW.lease_expires_at); \
    RETURN NEW; END $$; \
CREATE TRIGGER lettuce_test_history AFTER INSERT OR UPDATE ON lettuce_jobs \
    FOR EACH ROW EXECUTE FUNCTION lettuce_test_record();";

/// One row per lease (job, attempt) taken on a keyed job: claimed at its
/// first `running` record; ended by the first record of that attempt in
/// another state (completed, failed back to available, released), else by
/// its last known lease expiry (the holder died; heartbeats of an attempt are
/// fenced, so the expiry cannot move once the job is reclaimed). A claim made
/// while another lease of the key is unexpired is an overlap. Returns
/// `claims|overlaps` where overlaps lists the offending pairs.
const SPANS_SQL: &str = "\
WITH spans AS ( \
  SELECT h.dedup_key, h.job_id, h.attempt, min(h.at) AS claimed_at, \
    coalesce((SELECT min(f.at) FROM lettuce_test_job_history f \
               WHERE f.job_id = h.job_id AND f.attempt = h.attempt AND f.state <> 'running'), \
             max(h.lease_expires_at)) AS ended_at \
  FROM lettuce_test_job_history h WHERE h.state = 'running' AND h.dedup_key IS NOT NULL GROUP BY 1, 2, 3) \
SELECT (SELECT count(*) FROM spans) || '|' || coalesce(( \
  SELECT string_agg(a.dedup_key || ' attempt ' || a.attempt || ' [' || a.claimed_at || ', ' || a.ended_at \
                    || ') vs attempt ' || b.attempt || ' claimed ' || b.claimed_at, '; ') \
  FROM spans a JOIN spans b ON a.dedup_key = b.dedup_key AND (a.job_id, a.attempt) <> (b.job_id, b.attempt) \
   AND a.claimed_at <= b.claimed_at AND b.claimed_at < a.ended_at), '')";

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}_{:x}", std::process::id(), nanos)
}

async fn list_repos(api: &Api, token: &str) -> Vec<Value> {
    let body = api.get("/v1/repos", Some(token)).await.expect(200);
    body["repos"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_mid_index_lose_no_job_and_never_overlap() {
    if let Some(reason) = missing_peer() {
        assert!(!require_peers(), "LETTUCE_REQUIRE_PEERS=1 but {reason}");
        eprintln!("SKIPPED: {reason}");
        return;
    }
    require_git!();
    let t0 = Instant::now();
    let admin_url = std::env::var("LETTUCE_TEST_POSTGRES_URL").expect("checked");
    let s3_endpoint = std::env::var("LETTUCE_TEST_S3_ENDPOINT").expect("checked");
    let suffix = unique_suffix();

    // Peers: a fresh database and bucket.
    let db = TempDatabase::create(&admin_url, &format!("lettuce_mp_{suffix}"));
    let bucket = format!("lettuce-mp-{}", suffix.replace('_', "-"));
    create_bucket(&s3_endpoint, &bucket).await;

    // git: REPOS repositories behind one daemon.
    let repos = support::GitRepos::new();
    let scratch = tempfile::tempdir().expect("scratch");
    let heads = create_repos(&repos.served(), scratch.path());
    let daemon = GitDaemon::start(&repos);
    let t_git = t0.elapsed();
    eprintln!(
        "[{t_git:>6.1?}] {REPOS} repos created and served on port {}",
        daemon.port
    );

    let env: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", db.url.as_str()),
        ("CODEWAZE_S3_BUCKET", bucket.as_str()),
        ("CODEWAZE_S3_ENDPOINT_URL", s3_endpoint.as_str()),
        ("CODEWAZE_S3_REGION", "us-east-1"),
        ("CODEWAZE_S3_ACCESS_KEY_ID", "testing"),
        ("CODEWAZE_S3_SECRET_ACCESS_KEY", "testing"),
        ("CODEWAZE_ADMIN_TOKEN", ADMIN_TOKEN),
        ("JWT_SIGNING_KEY", JWT_KEY),
        ("LETTUCE_DATA_KEY", DATA_KEY),
        ("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS", "1"),
        ("LETTUCE_JOB_LEASE_SECS", "3"),
        ("LETTUCE_WORKER_CONCURRENCY", "2"),
    ];
    let machines = tempfile::tempdir().expect("machines");
    let mut next_dir = 0usize;
    let mut new_data_dir = || -> PathBuf {
        next_dir += 1;
        machines.path().join(format!("machine-{next_dir}"))
    };

    // API 1 first (it migrates the fresh database), then the rest at once.
    let sampler = Sampler::start(db.url.clone());
    let mut api1 = spawn_role(&new_data_dir(), &env, "api");
    api1.wait_healthy().await.unwrap_or_else(|e| panic!("api 1: {e}"));
    psql_ok(&db.url, HISTORY_SQL);
    let mut api2 = spawn_role(&new_data_dir(), &env, "api");
    let mut workers: Vec<Server> = (0..WORKERS)
        .map(|_| spawn_role(&new_data_dir(), &env, "worker"))
        .collect();
    api2.wait_healthy().await.unwrap_or_else(|e| panic!("api 2: {e}"));
    for w in &mut workers {
        wait_worker(w).await;
    }
    // A worker serves no API, only the probes and /metrics on LETTUCE_BIND.
    let http = reqwest::Client::new();
    for w in &workers {
        let health = http
            .get(format!("{}/healthz", w.base))
            .send()
            .await
            .expect("worker /healthz");
        assert_eq!(
            health.status(),
            200,
            "a --role worker process answers its liveness probe"
        );
        let ready = http
            .get(format!("{}/readyz", w.base))
            .send()
            .await
            .expect("worker /readyz");
        assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap_or_default());
        let api = http
            .get(format!("{}/v1/repos", w.base))
            .send()
            .await
            .expect("worker /v1/repos");
        assert_eq!(api.status(), 404, "a --role worker process serves no API");
    }
    let t_boot = t0.elapsed();
    eprintln!("[{t_boot:>6.1?}] 2 api + {WORKERS} worker processes up");

    let (a1, a2) = (api1.api(), api2.api());
    let token = a1.first_user(ADMIN_TOKEN).await;

    // Add the repos, alternating between the two API processes, and kill a
    // random worker every KILL_EVERY from the moment indexing can start.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1);
    let mut rng = Lcg(seed);
    eprintln!("kill schedule seed: {seed}");
    let mut ids: HashMap<String, String> = HashMap::new(); // repo id -> name
    let mut kills = 0usize;
    let mut last_kill = Instant::now();
    let mut kill_log = Vec::new();
    let mut kill_one = |workers: &mut Vec<Server>, dir: PathBuf, kills: &mut usize| {
        let victim = rng.below(workers.len());
        let mut dead = workers.swap_remove(victim);
        let pid = dead.pid();
        dead.kill();
        *kills += 1;
        workers.push(spawn_role(&dir, &env, "worker"));
        pid
    };
    for (i, name) in heads.keys().enumerate() {
        let api = if i % 2 == 0 { &a1 } else { &a2 };
        let r = api
            .post(
                "/v1/repos",
                Some(&token),
                &serde_json::json!({ "url": daemon.url(name) }),
            )
            .await
            .expect(202);
        let id = r["id"].as_str().expect("repo id").to_owned();
        ids.insert(id, name.clone());
        if kills < KILLS && last_kill.elapsed() >= KILL_EVERY {
            let pid = kill_one(&mut workers, new_data_dir(), &mut kills);
            kill_log.push(format!("{:.1?}: SIGKILL worker pid {pid}", t0.elapsed()));
            last_kill = Instant::now();
        }
    }
    let t_added = t0.elapsed();
    eprintln!("[{t_added:>6.1?}] {REPOS} repos added ({kills} kills so far)");
    while kills < KILLS {
        tokio::time::sleep(KILL_EVERY.saturating_sub(last_kill.elapsed())).await;
        let pid = kill_one(&mut workers, new_data_dir(), &mut kills);
        kill_log.push(format!("{:.1?}: SIGKILL worker pid {pid}", t0.elapsed()));
        last_kill = Instant::now();
    }
    for line in &kill_log {
        eprintln!("  {line}");
    }
    let t_kills = t0.elapsed();
    eprintln!("[{t_kills:>6.1?}] {KILLS} workers killed and replaced");

    // Wait until every repo is ready at its HEAD.
    let start = Instant::now();
    let mut last_summary;
    let done = loop {
        let list = list_repos(&a2, &token).await;
        let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
        let mut good = 0usize;
        for r in &list {
            let status = r["status"].as_str().unwrap_or_default().to_owned();
            if status == "failed" {
                panic!(
                    "repo {} failed: {r}\nworkers:\n{}",
                    r["url"],
                    workers.iter().map(Server::logs).collect::<Vec<_>>().join("\n")
                );
            }
            let id = r["id"].as_str().unwrap_or_default();
            if status == "ready"
                && let Some(name) = ids.get(id)
                && r["indexed_commit"].as_str() == heads.get(name).map(String::as_str)
            {
                good += 1;
            }
            *by_status.entry(status).or_default() += 1;
        }
        last_summary = format!("{} listed, {good} ready at HEAD, {by_status:?}", list.len());
        if good == REPOS && list.len() == REPOS {
            break true;
        }
        if start.elapsed() > INDEX_DEADLINE {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let report = sampler.finish();
    let t_ready = t0.elapsed();
    assert!(
        done,
        "not every repo was ready at its HEAD within {INDEX_DEADLINE:?} after the kills: {last_summary}\n\
         jobs: {}\nworker logs:\n{}",
        psql(&db.url, "SELECT state, count(*) FROM lettuce_jobs GROUP BY 1").unwrap_or_default(),
        workers.iter().map(Server::logs).collect::<Vec<_>>().join("\n")
    );
    eprintln!("[{t_ready:>6.1?}] all {REPOS} repos ready at HEAD ({last_summary})");

    // The queue's record of it.
    let states = psql_ok(
        &db.url,
        "SELECT state || ':' || count(*) FROM lettuce_jobs WHERE kind = 'index_repo' GROUP BY state ORDER BY 1",
    );
    let states: Vec<&str> = states.lines().collect();
    assert_eq!(
        states,
        [format!("completed:{REPOS}").as_str()],
        "every index job must end completed (none discarded, running or lost): {states:?}\n{}",
        psql(
            &db.url,
            "SELECT dedup_key, state, attempt, last_error FROM lettuce_jobs WHERE state <> 'completed'"
        )
        .unwrap_or_default()
    );
    let done_ids: HashSet<String> = psql_ok(
        &db.url,
        "SELECT DISTINCT payload->>'repo_id' FROM lettuce_jobs WHERE kind = 'index_repo' AND state = 'completed'",
    )
    .lines()
    .map(str::to_owned)
    .collect();
    let want: HashSet<String> = ids.keys().cloned().collect();
    assert_eq!(
        done_ids, want,
        "completed index jobs do not cover exactly the added repos"
    );
    let discarded = psql_ok(&db.url, "SELECT count(*) FROM lettuce_jobs WHERE state = 'discarded'");
    assert_eq!(discarded, "0", "discarded jobs (dead letters) exist");
    let reruns = psql_ok(
        &db.url,
        "SELECT count(*) FILTER (WHERE attempt > 1) || ' rerun, max attempt ' || max(attempt) \
         FROM lettuce_jobs WHERE kind = 'index_repo'",
    );
    // The kills must have hit work in flight, or this test proved nothing.
    assert!(
        !reruns.starts_with("0 "),
        "no index job ran twice: the kills hit no leased job ({reruns})"
    );

    // No two live leases for one repo, ever: from the full history...
    let spans = psql_ok(&db.url, SPANS_SQL);
    let (claims, overlaps) = spans.split_once('|').expect("claims|overlaps");
    let claims: usize = claims.parse().expect("claim count");
    assert!(
        overlaps.is_empty(),
        "a lease was taken while another lease of the key was live: {overlaps}"
    );
    assert!(
        claims > REPOS,
        "{claims} leases for {REPOS} repos: the kills interrupted nothing"
    );
    eprintln!("lease history: {claims} leases taken on {REPOS} repo keys, no overlap");
    // ... and as sampled while it ran.
    assert!(report.errors.is_empty(), "sampling failed: {:?}", report.errors);
    assert!(report.samples >= 5, "too few samples: {report:?}");
    assert!(
        report.overlaps.is_empty(),
        "two live leases for one key at once: {:?}",
        report.overlaps
    );
    eprintln!(
        "lease samples: {} (peak running {}), overlapping live leases: 0, \
         keys with two `running` rows (incl. expired): {}; index jobs: {reruns}",
        report.samples,
        report.peak_running,
        report.running_twice.len()
    );
    assert!(
        report.running_twice.is_empty(),
        "two `running` rows for one key: {:?}",
        report.running_twice
    );

    for mut w in workers {
        w.kill();
    }
    api1.kill();
    api2.kill();
    eprintln!(
        "timings: git {t_git:.1?}, boot {:.1?}, add {:.1?}, index after last kill {:.1?}, total {:.1?}",
        t_boot - t_git,
        t_added - t_boot,
        t_ready - t_kills,
        t0.elapsed()
    );
}
