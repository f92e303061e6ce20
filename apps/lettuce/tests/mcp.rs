//! MCP interoperability: the official Python MCP SDK (`mcp`, pinned in
//! scripts/test-peers) drives the real `lettuce` binary over stdio (`lettuce
//! mcp --repo fixtures/code`) and over streamable HTTP (`/mcp` of `lettuce
//! serve`, with an API key), lists the tools and checks definitions and
//! outlines in every supported language against the reviewed golden
//! outlines in `fixtures/code/expected`.

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::{Api, GitDaemon, GitRepos, Server};

const ALLOW_PRIVATE: (&str, &str) = ("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS", "1");
const TOOLS: [&str; 9] = [
    "file_outline",
    "find_references",
    "find_symbol",
    "list_repos",
    "locate",
    "read_file",
    "read_symbol",
    "repo_map",
    "search_code",
];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/code")
}

/// The Python interpreter with the `mcp` SDK, or `None` (skip) — a failure
/// under LETTUCE_REQUIRE_PEERS=1.
fn python() -> Option<String> {
    let found = std::env::var("LETTUCE_TEST_MCP_PYTHON").ok().filter(|p| {
        Command::new(p)
            .args(["-c", "import mcp"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        let why = "LETTUCE_TEST_MCP_PYTHON is unset or has no `mcp` package (scripts/test-peers installs it)";
        assert!(
            std::env::var("LETTUCE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "LETTUCE_REQUIRE_PEERS=1 but {why}"
        );
        eprintln!("SKIPPED: {why}");
    }
    found
}

/// Runs the Python client with `plan`; returns its JSON report.
fn run_client(python: &str, mode_args: &[&str], plan: &Value, env: &[(&str, &str)]) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).expect("write plan");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let mut cmd = Command::new(python);
    cmd.arg(&script).arg(mode_args[0]).arg(&plan_path).args(&mode_args[1..]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the Python MCP client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "MCP client failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("client output is not JSON ({e}): {stdout}"))
}

/// One definition of a golden outline.
#[derive(Debug)]
struct Golden {
    depth: usize,
    name: String,
    kind: String,
    start: u32,
    end: u32,
    signature: String,
}

/// The golden outlines: path → definitions.
fn goldens() -> Vec<(String, Vec<Golden>)> {
    let mut out = Vec::new();
    let dir = fixtures().join("expected");
    let mut entries: Vec<_> = std::fs::read_dir(&dir).expect("expected dir").flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let text = std::fs::read_to_string(e.path()).expect("golden");
        let mut lines = text.lines();
        let header = lines.next().expect("header");
        let path = header
            .trim_start_matches("# ")
            .split(' ')
            .next()
            .expect("path")
            .to_owned();
        let defs = lines
            .filter_map(parse_golden_line)
            .map(|c| Golden {
                depth: c[0].len() / 2,
                name: c[1].clone(),
                kind: c[2].clone(),
                start: c[3].parse().expect("start"),
                end: c[4].parse().expect("end"),
                signature: serde_json::from_str(&c[5]).expect("signature string"),
            })
            .collect();
        out.push((path, defs));
    }
    assert_eq!(out.len(), 16, "one golden outline per language");
    out
}

/// Splits a golden line `  name kind L1-2 container=X sig="…" doc="…"` into
/// indent, name, kind, start, end and the quoted signature.
fn parse_golden_line(line: &str) -> Option<Vec<String>> {
    {
        let depth = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[depth..];
        let (name, rest) = rest.split_once(' ')?;
        let (kind, rest) = rest.split_once(' ')?;
        let rest = rest.strip_prefix('L')?;
        let (range, rest) = rest.split_once(' ')?;
        let (s, e) = range.split_once('-')?;
        let rest = rest.strip_prefix("container=")?;
        let (_, rest) = rest.split_once(' ')?;
        let sig = rest.strip_prefix("sig=")?;
        // The signature is a Rust-debug string; it ends at the closing quote before " doc=" or the end.
        let end = sig.find("\" doc=").map_or(sig.len(), |i| i + 1);
        Some(vec![
            " ".repeat(depth),
            name.into(),
            kind.into(),
            s.into(),
            e.into(),
            sig[..end].into(),
        ])
    }
}

/// The definition each language's `find_symbol` check looks up.
fn probe(defs: &[Golden]) -> &Golden {
    defs.iter()
        .find(|d| d.name.eq_ignore_ascii_case("restock"))
        .or_else(|| defs.iter().find(|d| d.name == "Panel"))
        .expect("every fixture defines restock (or Panel)")
}

fn outline_line(d: &Golden) -> String {
    let label = if d.signature.contains(&d.name) {
        d.signature.clone()
    } else {
        format!("{} ({} {})", d.signature, d.kind, d.name)
    };
    format!("{}{}-{} {label}", "  ".repeat(d.depth + 1), d.start, d.end)
}

/// Runs the per-language plan and checks every answer.
fn check_languages(python: &str, mode_args: &[&str], repo: Option<&str>, env: &[(&str, &str)]) -> Value {
    let goldens = goldens();
    let with_repo = |mut args: Value| {
        if let Some(r) = repo {
            args["repo"] = json!(r);
        }
        args
    };
    let mut plan = vec![json!({"tool": "list_repos"})];
    for (path, defs) in &goldens {
        plan.push(json!({"tool": "file_outline", "args": with_repo(json!({"path": path}))}));
        plan.push(json!({"tool": "find_symbol", "args": with_repo(json!({"name": probe(defs).name, "path": path}))}));
    }
    plan.push(json!({"tool": "read_symbol", "args": with_repo(json!({"name": "Item.apply", "path": "inventory.py"}))}));
    plan.push(json!({"tool": "search_code", "args": with_repo(json!({"query": "stock-keeping unit", "mode": "substring", "max_results": 20}))}));
    plan.push(json!({"tool": "find_references", "args": with_repo(json!({"name": "item_apply"}))}));
    plan.push(json!({"tool": "repo_map", "args": with_repo(json!({"max_tokens": 800}))}));
    plan.push(json!({"tool": "read_file", "args": with_repo(json!({"path": "../../etc/passwd"}))}));
    plan.push(json!({"tool": "search_code", "args": with_repo(json!({"query": "(", "mode": "regex"}))}));
    let report = run_client(python, mode_args, &Value::Array(plan), env);

    assert_eq!(report["server"], "lettuce", "{report}");
    let tools: Vec<&str> = report["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(tools, TOOLS, "{report}");
    assert_eq!(
        report["schemas"]["find_symbol"]["required"],
        json!(["name"]),
        "{report}"
    );
    let results = report["results"].as_array().expect("results");
    let text = |i: usize| results[i]["text"].as_str().unwrap_or_default().to_owned();
    let ok = |i: usize| {
        assert_eq!(results[i]["is_error"], false, "call {i} failed: {}", text(i));
        let meta = &results[i]["meta"]["lettuce"];
        assert!(
            meta["tokens_returned"].as_u64().is_some_and(|n| n > 0),
            "call {i} has no accounting: {meta}"
        );
        assert!(text(i).contains("[tokens: "), "call {i}: {}", text(i));
        text(i)
    };
    assert!(ok(0).contains("ready"), "{}", text(0));
    let mut i = 1;
    for (path, defs) in &goldens {
        let outline = ok(i);
        let commit = results[i]["meta"]["lettuce"]["repos"][0]["commit"]
            .as_str()
            .expect("commit in meta");
        assert!(outline.contains(&format!("@ {}]", &commit[..12])), "{outline}");
        for d in defs {
            assert!(
                outline.contains(&format!("{}\n", outline_line(d))),
                "{path}: outline lacks `{}`:\n{outline}",
                outline_line(d)
            );
        }
        let found = ok(i + 1);
        let p = probe(defs);
        assert!(
            found.contains(&format!("\n{path}:{}-{} ", p.start, p.end)),
            "{path}: find_symbol {} did not return {path}:{}-{}:\n{found}",
            p.name,
            p.start,
            p.end
        );
        let saved = results[i + 1]["meta"]["lettuce"]["tokens_full"]
            .as_u64()
            .expect("tokens_full");
        assert!(saved > 0, "{path}: tokens_full is 0");
        i += 2;
    }
    let code = ok(i);
    assert!(code.contains("13\t    def apply(self, delta):"), "{code}");
    assert!(code.contains("16\t        return self.quantity"), "{code}");
    assert!(
        !code.contains("def restock"),
        "read_symbol returns only the definition: {code}"
    );
    let search = ok(i + 1);
    for lang_file in [
        "inventory.rs",
        "inventory.py",
        "Inventory.java",
        "inventory.c",
        "Inventory.swift",
    ] {
        assert!(search.contains(lang_file), "search misses {lang_file}: {search}");
    }
    let refs = ok(i + 2);
    assert!(
        refs.contains("[in restock]"),
        "the caller of item_apply is restock: {refs}"
    );
    let map = ok(i + 3);
    assert!(
        results[i + 3]["meta"]["lettuce"]["tokens_returned"]
            .as_u64()
            .expect("n")
            <= 800,
        "{map}"
    );
    assert_eq!(results[i + 4]["is_error"], true);
    assert!(text(i + 4).contains("validation_failed"), "{}", text(i + 4));
    assert_eq!(results[i + 5]["is_error"], true);
    assert!(text(i + 5).contains("invalid regular expression"), "{}", text(i + 5));
    report
}

#[test]
fn python_sdk_over_stdio_reads_every_language_of_a_local_directory() {
    let Some(python) = python() else { return };
    let local = tempfile::tempdir().expect("tempdir");
    let dir = fixtures().join("src");
    let local_dir = local.path().to_str().expect("utf-8");
    let bin = support::bin();
    let dir_s = dir.to_str().expect("utf-8");
    check_languages(
        &python,
        &["stdio", "--", bin, "mcp", "--repo", dir_s],
        None,
        &[("LETTUCE_LOCAL_DIR", local_dir), ("LETTUCE_LOG", "warn")],
    );
    // A second session reuses the index: nothing is parsed again.
    let out = support::run_lettuce(Path::new("."), &["index", dir_s], &[("LETTUCE_LOCAL_DIR", local_dir)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("(0 parsed, 16 unchanged"), "{stdout}");
}

fn fixture_files() -> Vec<(String, String)> {
    let root = fixtures().join("src");
    let mut v: Vec<(String, String)> = std::fs::read_dir(&root)
        .expect("fixtures")
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(e.path()).expect("fixture text"))
        })
        .collect();
    v.sort();
    v
}

async fn api_key(api: &Api, token: &str) -> String {
    let r = api
        .post("/v1/api-keys", Some(token), &json!({"name": "mcp"}))
        .await
        .expect(201);
    r["key"].as_str().expect("key").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_over_streamable_http_with_an_api_key() {
    let Some(python) = python() else { return };
    require_git!();
    let repos = GitRepos::new();
    let files = fixture_files();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    let head = repos.create("shop", &refs);
    let daemon = GitDaemon::start(&repos);
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(data.path(), &[ALLOW_PRIVATE]).await;
    let api = server.api();
    let token = api.first_user(&server.admin_token()).await;
    let key = api_key(&api, &token).await;
    let r = api
        .post("/v1/repos", Some(&token), &json!({"url": daemon.url("shop")}))
        .await
        .expect(202);
    let id = r["id"].as_str().expect("id").to_owned();
    let repo = api
        .wait_repo(
            &token,
            &id,
            Duration::from_secs(120),
            |r| matches!(r["status"].as_str(), Some("ready" | "failed")),
            || server.logs(),
        )
        .await;
    assert_eq!(repo["status"], "ready", "{repo}");
    assert_eq!(repo["indexed_commit"], head.as_str());

    let url = format!("{}/mcp", api.base);
    let report = check_languages(&python, &["http", &url, &key], Some("shop"), &[]);
    assert_eq!(
        report["results"][1]["meta"]["lettuce"]["repos"][0]["commit"],
        head.as_str()
    );

    // Without a token, with a bad one, or with the admin token: 401 before MCP.
    let http = reqwest::Client::new();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    for auth in [
        None,
        Some("Bearer lk_not_a_key".to_owned()),
        Some(format!("Bearer {}", server.admin_token())),
    ] {
        let mut req = http
            .post(&url)
            .header("Accept", "application/json, text/event-stream")
            .json(&init);
        if let Some(a) = &auth {
            req = req.header("Authorization", a);
        }
        let resp = req.send().await.expect("post /mcp");
        assert_eq!(resp.status().as_u16(), 401, "{auth:?}");
        assert!(resp.headers().get("www-authenticate").is_some());
        let body: Value = resp.json().await.expect("json error body");
        assert_eq!(body["error"]["code"], "unauthenticated", "{body}");
    }

    // Another account's key sees none of it.
    let code = api.admin_invite(&server.admin_token()).await;
    let eve = api.signup(&code, "eve@example.com").await;
    let eve_key = api_key(&api, eve["token"].as_str().expect("token")).await;
    let other = run_client(
        &python,
        &["http", &url, &eve_key],
        &json!([{"tool": "list_repos"}, {"tool": "find_symbol", "args": {"name": "restock", "repo": id}}]),
        &[],
    );
    assert!(
        other["results"][0]["text"]
            .as_str()
            .expect("text")
            .contains("no repositories yet"),
        "{other}"
    );
    assert_eq!(other["results"][1]["is_error"], true, "{other}");

    // The MCP answers are metered: /v1/usage shows them with tokens saved.
    let usage = api.get("/v1/usage?days=1", Some(&token)).await.expect(200);
    let total = &usage["total"];
    assert!(total["queries"].as_u64().expect("queries") >= 36, "{usage}");
    assert!(total["tokens_saved"].as_u64().expect("saved") > 0, "{usage}");
    let eve_usage = api.get("/v1/usage?days=1", eve["token"].as_str()).await.expect(200);
    assert_eq!(
        eve_usage["total"]["queries"], 1,
        "only eve's one successful answer: {eve_usage}"
    );

    // The telemetry heartbeat reports the instance's tokens saved in the last 24 hours.
    let data_dir = data.path().to_str().expect("utf-8");
    let out = support::run_lettuce(
        data.path(),
        &["telemetry", "preview"],
        &[("CODEWAZE_DATA_DIR", data_dir)],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ping: Value = serde_json::from_slice(&out.stdout).expect("preview prints JSON");
    let all_saved =
        total["tokens_saved"].as_u64().expect("saved") + eve_usage["total"]["tokens_saved"].as_u64().expect("saved");
    assert_eq!(ping["tokens_saved_24h"], all_saved, "{ping}");
}
