//! Telemetry end to end: the compiled `lettuce` binary sends heartbeats over
//! real HTTP on 127.0.0.1 to the real receiver (started in-process on a
//! SQLite file), which stores them and shows them in its JSON API and
//! dashboard. Covers `lettuce telemetry preview|send`, the worker's daily
//! heartbeat under `lettuce serve`, `GET /v1/admin/telemetry`, retries
//! against a receiver that comes up late, and the legacy-variable warning.

mod support;

use lettuce_telemetry_receiver::{ReceiverState, ReceiverStore, RunningReceiver};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Server, free_port, run_lettuce};

async fn receiver(dir: &Path, port: u16) -> RunningReceiver {
    let url = format!("sqlite://{}?mode=rwc", dir.join("receiver.db").display());
    let store = ReceiverStore::connect(&url).await.expect("receiver database");
    store.migrate().await.expect("receiver migrations");
    RunningReceiver::start(([127, 0, 0, 1], port).into(), Arc::new(ReceiverState::new(store)))
        .await
        .expect("receiver listens")
}

/// Runs `lettuce ARGS` off the async runtime (the receiver runs on it).
async fn lettuce(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let cwd = cwd.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let out: Output = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_lettuce(&cwd, &args, &env)
    })
    .await
    .expect("join");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A receiver on a free port, a data directory and the heartbeat URL.
async fn setup(dir: &Path) -> (RunningReceiver, std::path::PathBuf, String) {
    let rx = receiver(dir, 0).await;
    let url = format!("{}/v1/heartbeat", rx.base_url());
    (rx, dir.join("data"), url)
}

async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.expect("GET").json().await.expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_then_send_reaches_the_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, data, url) = setup(dir.path()).await;
    let env = [
        ("CODEWAZE_DATA_DIR", data.to_str().unwrap()),
        ("LETTUCE_TELEMETRY_URL", url.as_str()),
    ];

    let (code, stdout, stderr) = lettuce(dir.path(), &["telemetry", "preview"], &env).await;
    assert_eq!(code, Some(0), "{stderr}");
    let preview: Value = serde_json::from_str(&stdout).expect("preview prints the payload as JSON on stdout");
    let keys: Vec<&String> = preview.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 8, "exactly eight fields: {keys:?}");
    assert!(stderr.contains("would send: yes"), "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");
    assert!(stdout.contains("\n  \""), "pretty-printed:\n{stdout}");
    let instance_id = preview["instance_id"].as_str().unwrap().to_owned();
    assert!(rx.store.instances().await.unwrap().is_empty(), "preview sends nothing");

    let (code, stdout, stderr) = lettuce(dir.path(), &["telemetry", "send"], &env).await;
    assert_eq!(code, Some(0), "{stderr}");
    let sent: Value = serde_json::from_str(&stdout).expect("send prints the payload it sent");
    assert_eq!(sent, preview, "the preview was the exact payload");
    let stored = rx.store.instances().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].instance_id.to_string(),
        instance_id,
        "the instance id is kept"
    );
    let (_, pings) = rx.store.instance(stored[0].instance_id, 5).await.unwrap().unwrap();
    assert!(
        stderr.contains(&format!("verified: receipt {}", pings[0].receipt_id)),
        "the printed receipt is the stored heartbeat's: {stderr}"
    );

    let list = get_json(&format!("{}/v1/instances", rx.base_url())).await;
    assert_eq!(list["instances"][0]["instance_id"], instance_id.as_str());
    assert_eq!(list["instances"][0]["version"], env!("CARGO_PKG_VERSION"));
    let html = reqwest::get(format!("{}/", rx.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&instance_id), "the dashboard shows the instance");

    // A preview now reports the receipt.
    let (_, _, stderr) = lettuce(dir.path(), &["telemetry", "preview"], &env).await;
    assert!(stderr.contains(&pings[0].receipt_id), "{stderr}");

    // A receiver that refuses: non-zero exit and the reason.
    let bad = [
        ("CODEWAZE_DATA_DIR", data.to_str().unwrap()),
        ("LETTUCE_TELEMETRY_URL", &format!("{}/v1/nowhere", rx.base_url())),
    ];
    let (code, _, stderr) = lettuce(dir.path(), &["telemetry", "send"], &bad).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("not verified (rejected)") && stderr.contains("404"),
        "{stderr}"
    );
    rx.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opt_outs_and_the_legacy_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, data, url) = setup(dir.path()).await;
    let env = [
        ("CODEWAZE_DATA_DIR", data.to_str().unwrap()),
        ("LETTUCE_TELEMETRY_URL", url.as_str()),
        ("LETTUCE_TELEMETRY_DISABLED", "1"),
    ];
    let (code, _, stderr) = lettuce(dir.path(), &["telemetry", "preview"], &env).await;
    assert_eq!(code, Some(0), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("LETTUCE_TELEMETRY_DISABLED is deprecated"))
        .collect();
    assert_eq!(warnings.len(), 1, "exactly one WARN: {stderr}");
    assert!(warnings[0].contains("WARN") && warnings[0].contains("LETTUCE_TELEMETRY_ENABLED=false"));
    assert!(
        stderr.contains("would send: no"),
        "ungated: the opt-out is honoured: {stderr}"
    );
    let (code, _, stderr) = lettuce(dir.path(), &["telemetry", "send"], &env).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("nothing sent") && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(rx.store.instances().await.unwrap().is_empty());
    let (code, _, stderr) = lettuce(dir.path(), &["telemetry", "send", "--force"], &env).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(rx.store.instances().await.unwrap().len(), 1);

    let (code, _, stderr) = lettuce(
        dir.path(),
        &["telemetry", "preview"],
        &[
            ("CODEWAZE_DATA_DIR", data.to_str().unwrap()),
            ("LETTUCE_TELEMETRY_ENABLED", "perhaps"),
        ],
    )
    .await;
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("LETTUCE_TELEMETRY_ENABLED") && stderr.contains("fix:"),
        "{stderr}"
    );

    let (code, stdout, _) = lettuce(
        dir.path(),
        &["config", "check"],
        &[("DO_NOT_TRACK", "1"), ("LETTUCE_TELEMETRY_URL", url.as_str())],
    )
    .await;
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("LETTUCE_TELEMETRY_ENABLED") && stdout.contains("DO_NOT_TRACK=1"),
        "{stdout}"
    );
    assert!(stdout.contains(&url), "{stdout}");
    rx.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_with_backoff_until_a_late_receiver_answers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let data = dir.path().join("data");
    let url = format!("http://127.0.0.1:{port}/v1/heartbeat");
    let env = [
        ("CODEWAZE_DATA_DIR", data.to_str().unwrap()),
        ("LETTUCE_TELEMETRY_URL", url.as_str()),
    ];
    // Nothing listens yet: the first try is refused; the receiver comes up
    // during the 5 s backoff and the second try is verified.
    let started = Instant::now();
    let ((code, _, stderr), rx) = tokio::join!(
        lettuce(dir.path(), &["telemetry", "send", "--attempts", "3"], &env),
        async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            receiver(dir.path(), port).await
        }
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("retrying"), "the first refusal is retried: {stderr}");
    assert!(started.elapsed() >= Duration::from_secs(5), "waited the 5 s backoff");
    assert_eq!(rx.store.instances().await.unwrap().len(), 1);
    rx.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_sends_the_daily_heartbeat_and_shows_the_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let rx = receiver(dir.path(), 0).await;
    let data = dir.path().join("data");
    let url = format!("{}/v1/self-hosted/telemetry", rx.base_url());
    let mut server = Server::start(&data, &[("LETTUCE_TELEMETRY_URL", url.as_str())]).await;
    let admin = server.admin_token();
    let api = server.api();

    // The boot tick enqueues the hour's job; the worker sends at once.
    let deadline = Instant::now() + Duration::from_secs(30);
    let receipt = loop {
        let state = api.get("/v1/admin/telemetry", Some(&admin)).await.expect(200);
        if let Some(id) = state["last_receipt"]["receipt_id"].as_str() {
            break (id.to_owned(), state);
        }
        assert!(
            Instant::now() < deadline,
            "no receipt within 30 s: {state}\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (receipt_id, state) = receipt;
    assert_eq!(state["sending"], true);
    assert_eq!(state["license_term"], "ungated");
    assert_eq!(state["endpoint"], url.as_str());
    let instances = rx.store.instances().await.unwrap();
    assert_eq!(instances.len(), 1);
    assert_eq!(
        instances[0].instance_id.to_string(),
        state["instance_id"].as_str().unwrap()
    );
    let (_, pings) = rx.store.instance(instances[0].instance_id, 5).await.unwrap().unwrap();
    assert_eq!(pings.len(), 1, "one heartbeat per day");
    assert_eq!(pings[0].receipt_id, receipt_id);
    assert!(
        server.logs().contains("telemetry heartbeat sent and verified"),
        "{}",
        server.logs()
    );
    server.terminate(Duration::from_secs(20)).await;
    rx.stop().await.unwrap();
}
