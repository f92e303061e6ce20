//! Observability end to end against the real binary: an in-process OTLP
//! collector (HTTP/protobuf, and gRPC) receives the spans of an add-repo
//! flow — request span → enqueue → `job.index_repo` (same trace, linked to
//! the enqueue span) → git fetch, index and SQL spans — `/metrics` parses as
//! Prometheus text with values that move when work is done, JSON logs carry
//! the trace ids, and no secret appears anywhere in the output.

mod support;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{DEADLINE, GitDaemon, GitRepos, PASSWORD, Server};

const ALLOW_PRIVATE: (&str, &str) = ("LETTUCE_ALLOW_PRIVATE_GIT_HOSTS", "1");
/// The caller's trace (W3C `traceparent`), continued by the request span.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// Spans received, with the `service.name` of their resource.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<(String, Span)>>>);

impl Collected {
    fn add(&self, request: ExportTraceServiceRequest) {
        let mut spans = self.0.lock().expect("collector lock");
        for rs in request.resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(AnyValue::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    spans.push((service.clone(), span));
                }
            }
        }
    }

    fn spans(&self) -> Vec<Span> {
        self.0
            .lock()
            .expect("collector lock")
            .iter()
            .map(|(_, s)| s.clone())
            .collect()
    }

    fn services(&self) -> Vec<String> {
        self.0
            .lock()
            .expect("collector lock")
            .iter()
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// Waits until `found` holds on the spans received so far.
    async fn wait_for(&self, what: &str, found: impl Fn(&[Span]) -> bool, logs: impl Fn() -> String) -> Vec<Span> {
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            let spans = self.spans();
            if found(&spans) {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let names: Vec<String> = self.spans().iter().map(|s| s.name.clone()).collect();
        panic!("collector never received {what}; spans: {names:?}\n{}", logs());
    }
}

/// An OTLP/HTTP collector on a free loopback port: `POST /v1/traces` with a
/// protobuf `ExportTraceServiceRequest`.
async fn http_collector() -> (String, Collected) {
    let collected = Collected::default();
    let sink = collected.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                match ExportTraceServiceRequest::decode(body) {
                    Ok(req) => {
                        sink.add(req);
                        (
                            axum::http::StatusCode::OK,
                            [("content-type", "application/x-protobuf")],
                            ExportTraceServiceResponse::default().encode_to_vec(),
                        )
                    }
                    Err(_) => (
                        axum::http::StatusCode::BAD_REQUEST,
                        [("content-type", "text/plain")],
                        b"not an ExportTraceServiceRequest".to_vec(),
                    ),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind collector");
    let addr = listener.local_addr().expect("collector addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), collected)
}

struct GrpcSink(Collected);

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.add(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An OTLP/gRPC collector (the `TraceService/Export` RPC) on a free port.
async fn grpc_collector() -> (String, Collected) {
    let collected = Collected::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind collector");
    let addr = listener.local_addr().expect("collector addr");
    let service = TraceServiceServer::new(GrpcSink(collected.clone()));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    (format!("http://{addr}"), collected)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(AnyValue::StringValue(s)) => Some(s.clone()),
            Some(AnyValue::IntValue(i)) => Some(i.to_string()),
            Some(AnyValue::BoolValue(b)) => Some(b.to_string()),
            _ => None,
        })
}

fn find<'a>(spans: &'a [Span], name: &str) -> Option<&'a Span> {
    spans.iter().find(|s| s.name == name && hex(&s.trace_id) == TRACE_ID)
}

/// `/metrics` parsed as Prometheus text.
async fn scrape(base: &str) -> prometheus_parse::Scrape {
    let body = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("GET /metrics")
        .error_for_status()
        .expect("/metrics status")
        .text()
        .await
        .expect("metrics body");
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("/metrics parses as Prometheus text")
}

/// The value of a counter or gauge, or the count of a histogram, summed over
/// the series whose labels include `labels`.
fn value(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_repo_flow_is_one_trace_over_otlp_http_and_metrics_move() {
    require_git!();
    let (endpoint, collector) = http_collector().await;
    let repos = GitRepos::new();
    let head = repos.create(
        "traced",
        &[
            ("src/lib.rs", "pub fn traced() -> u32 {\n    42\n}\n"),
            ("README.md", "# traced\n"),
        ],
    );
    let daemon = GitDaemon::start(&repos);
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        data.path(),
        &[
            ALLOW_PRIVATE,
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_SERVICE_NAME", "lettuce-e2e"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("LETTUCE_LOG_FORMAT", "json"),
        ],
    )
    .await;
    let api = server.api();
    let admin = server.admin_token();
    let token = api.first_user(&admin).await;

    let before = scrape(&server.base).await;
    let completed_before = value(&before, "lettuce_jobs_completed_total", &[("kind", "index_repo")]);

    // The add-repo request continues the caller's trace.
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/repos", server.base))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&json!({ "url": daemon.url("traced") }))
        .send()
        .await
        .expect("POST /v1/repos");
    assert_eq!(resp.status(), 202);
    let repo: Value = resp.json().await.expect("repo json");
    let id = repo["id"].as_str().expect("repo id").to_owned();
    let repo = api
        .wait_repo(
            &token,
            &id,
            DEADLINE,
            |r| r["status"] == "ready" || r["status"] == "failed",
            || server.logs(),
        )
        .await;
    assert_eq!(repo["status"], "ready", "{repo}");
    assert_eq!(repo["indexed_commit"], head.as_str());

    let spans = collector
        .wait_for(
            "the request, job, git, index and SQL spans of one trace",
            |spans| {
                [
                    "POST /v1/repos",
                    "enqueue index_repo",
                    "job.index_repo",
                    "git.fetch",
                    "index.run",
                ]
                .iter()
                .all(|n| find(spans, n).is_some())
            },
            || server.logs(),
        )
        .await;
    let request = find(&spans, "POST /v1/repos").expect("request span");
    assert_eq!(
        hex(&request.parent_span_id),
        CALLER_SPAN,
        "the request span continues the caller's span"
    );
    assert_eq!(request.kind, 2, "server span");
    assert_eq!(attr(request, "http.route").as_deref(), Some("/v1/repos"));
    assert_eq!(attr(request, "http.response.status_code").as_deref(), Some("202"));
    let account = attr(request, "account.id").expect("account.id on the request span");
    assert!(uuid_like(&account), "account.id is the account's id: {account}");

    let enqueue = find(&spans, "enqueue index_repo").expect("enqueue span");
    assert_eq!(
        enqueue.parent_span_id, request.span_id,
        "enqueue runs inside the request span"
    );
    let job = find(&spans, "job.index_repo").expect("job span");
    assert_eq!(
        job.parent_span_id, enqueue.span_id,
        "the job continues the enqueuing span's trace"
    );
    assert!(
        job.links
            .iter()
            .any(|l| l.span_id == enqueue.span_id && hex(&l.trace_id) == TRACE_ID),
        "the job span links to the span that enqueued it: {:?}",
        job.links
    );
    assert_eq!(attr(job, "repo.id").as_deref(), Some(id.as_str()));
    assert_eq!(attr(job, "job.attempt").as_deref(), Some("1"));
    assert_eq!(attr(job, "outcome").as_deref(), Some("completed"));
    let fetch = find(&spans, "git.fetch").expect("git span");
    assert_eq!(fetch.parent_span_id, job.span_id);
    assert_eq!(attr(fetch, "git.commit").as_deref(), Some(head.as_str()));
    let index = find(&spans, "index.run").expect("index span");
    assert_eq!(index.parent_span_id, job.span_id);
    assert_eq!(attr(index, "index.files_parsed").as_deref(), Some("2"));

    // SQL spans: statement kind and table, in the request and in the job.
    let sql: Vec<&Span> = spans
        .iter()
        .filter(|s| hex(&s.trace_id) == TRACE_ID && attr(s, "db.operation.name").is_some())
        .collect();
    assert!(
        sql.iter()
            .any(|s| s.name == "INSERT repos" && s.parent_span_id == request.span_id),
        "the request inserts the repo: {:?}",
        sql.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    assert!(
        sql.iter()
            .any(|s| s.name == "UPDATE repos" && s.parent_span_id == job.span_id),
        "the job updates the repo's status: {:?}",
        sql.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    for s in &sql {
        assert_eq!(attr(s, "db.system.name").as_deref(), Some("sqlite"));
        for kv in &s.attributes {
            let v = format!("{:?}", kv.value);
            assert!(
                !v.contains("https://") && !v.contains(&id[..8]),
                "SQL spans carry no values: {v}"
            );
        }
    }
    assert!(collector.services().iter().all(|s| s == "lettuce-e2e"));

    // An MCP tool call over streamable HTTP: an `mcp.tool` span and the
    // per-tool counters.
    let key = api
        .post("/v1/api-keys", Some(&token), &json!({"name": "agent"}))
        .await
        .expect(201);
    let key = key["key"].as_str().expect("api key").to_owned();
    let answer = mcp_list_repos(&server.base, &key).await;
    assert!(answer.contains("traced"), "{answer}");
    let spans = collector
        .wait_for(
            "the mcp.tool span",
            |spans| spans.iter().any(|s| s.name == "mcp.tool list_repos"),
            || server.logs(),
        )
        .await;
    let tool = spans
        .iter()
        .find(|s| s.name == "mcp.tool list_repos")
        .expect("tool span");
    assert_eq!(attr(tool, "mcp.tool").as_deref(), Some("list_repos"));
    let returned: u64 = attr(tool, "tokens.returned").and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!(returned > 0, "tokens returned recorded on the tool span");

    // Metrics moved.
    let after = scrape(&server.base).await;
    assert_eq!(
        value(
            &after,
            "lettuce_mcp_calls_total",
            &[("tool", "list_repos"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        value(&after, "lettuce_mcp_tokens_returned_total", &[("tool", "list_repos")]),
        returned as f64
    );
    assert!(
        value(&after, "lettuce_jobs_completed_total", &[("kind", "index_repo")]) >= completed_before + 1.0,
        "a completed index job is counted"
    );
    assert!(
        value(
            &after,
            "lettuce_jobs_enqueued_total",
            &[("kind", "index_repo"), ("outcome", "enqueued")]
        ) >= 1.0
    );
    assert!(
        value(
            &after,
            "lettuce_http_request_duration_seconds",
            &[("method", "POST"), ("route", "/v1/repos"), ("status", "202")]
        ) >= 1.0,
        "the add-repo request is in the latency histogram"
    );
    assert!(value(&after, "lettuce_index_files_total", &[("result", "parsed")]) >= 2.0);
    assert!(value(&after, "lettuce_index_bytes_total", &[]) > 0.0);
    assert!(value(&after, "lettuce_git_fetch_duration_seconds", &[("host", "127.0.0.1")]) >= 1.0);
    assert!(
        value(
            &after,
            "lettuce_db_query_duration_seconds",
            &[("operation", "INSERT"), ("table", "repos")]
        ) >= 1.0
    );
    assert_eq!(value(&after, "lettuce_license_state", &[("state", "valid")]), 1.0);
    assert_eq!(
        value(&after, "lettuce_metrics_source_up", &[("source", "job_queue")]),
        1.0
    );
    assert!(
        after
            .samples
            .iter()
            .any(|s| s.metric == "lettuce_queue_oldest_available_age_seconds"),
        "queue gauges are exported"
    );

    // Logs: every line is JSON; lines inside the job's span carry its trace id.
    let stderr = server.stderr();
    let mut traced_lines = 0;
    for line in stderr.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["openTelemetry"]["traceId"] == TRACE_ID {
            traced_lines += 1;
            assert!(
                v["openTelemetry"]["spanId"].as_str().is_some_and(|s| s.len() == 16),
                "{line}"
            );
        }
    }
    assert!(
        traced_lines >= 2,
        "the fetch and index log lines carry the trace id:\n{stderr}"
    );

    // No secret anywhere in the output of the whole flow.
    let output = server.logs();
    for (what, secret) in [
        ("admin token", admin.as_str()),
        ("session token", token.as_str()),
        ("API key", key.as_str()),
        ("password", PASSWORD),
    ] {
        assert!(!output.contains(secret), "the {what} leaked into the output");
        for span in collector.spans() {
            for kv in &span.attributes {
                assert!(
                    !format!("{:?}", kv.value).contains(secret),
                    "the {what} leaked into span {} ({})",
                    span.name,
                    kv.key
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_a_grpc_collector_and_workers_answer_probes() {
    let (endpoint, collector) = grpc_collector().await;
    let data = tempfile::tempdir().expect("tempdir");
    let otel = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let server = Server::start(data.path(), &otel).await;
    let api = server.api();
    api.get("/v1/account", Some(&server.admin_token())).await;
    api.get("/readyz", None).await.expect(200);
    let spans = collector
        .wait_for(
            "the /readyz request span over gRPC",
            |spans| spans.iter().any(|s| s.name == "GET /readyz"),
            || server.logs(),
        )
        .await;
    let ready = spans.iter().find(|s| s.name == "GET /readyz").expect("span");
    assert_eq!(attr(ready, "http.route").as_deref(), Some("/readyz"));
    assert!(
        collector.services().iter().all(|s| s == "lettuce"),
        "default service.name"
    );

    // A worker-only process serves the probes and /metrics on its bind
    // address (same database), and no API.
    let mut worker = Server::spawn(data.path(), &otel, Some(&["serve", "--role", "worker"]));
    worker.wait_healthy().await.unwrap_or_else(|e| panic!("worker: {e}"));
    let w = worker.api();
    assert_eq!(w.get("/readyz", None).await.expect(200)["status"], "ready");
    let scrape = scrape(&worker.base).await;
    assert_eq!(
        value(&scrape, "lettuce_process_starts_total", &[("role", "worker")]),
        1.0
    );
    w.get("/v1/repos", None).await.expect_error(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_bind_moves_metrics_off_the_main_port() {
    let data = tempfile::tempdir().expect("tempdir");
    let port = support::free_port();
    let bind = format!("127.0.0.1:{port}");
    let server = Server::start(data.path(), &[("LETTUCE_METRICS_BIND", bind.as_str())]).await;
    server.api().get("/metrics", None).await.expect_error(404, "not_found");
    let scrape = scrape(&format!("http://{bind}")).await;
    assert_eq!(value(&scrape, "lettuce_process_starts_total", &[("role", "all")]), 1.0);
    // The main port's own requests are measured (the 404 above).
    assert!(
        value(
            &scrape,
            "lettuce_http_request_duration_seconds",
            &[("route", "/metrics"), ("status", "404")]
        ) >= 1.0
    );
    // Without OTEL_* variables nothing is exported and no log line carries ids.
    assert!(!server.stderr().contains("openTelemetry"));
}

/// Initializes an MCP session over streamable HTTP and calls `list_repos`;
/// returns the tool's text.
async fn mcp_list_repos(base: &str, key: &str) -> String {
    let http = reqwest::Client::new();
    let post = |body: Value, session: Option<String>| {
        let mut req = http
            .post(format!("{base}/mcp"))
            .bearer_auth(key)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        req.send()
    };
    let init = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "observability-e2e", "version": "1"}}}),
        None,
    )
    .await
    .expect("initialize");
    assert!(init.status().is_success(), "initialize: {}", init.status());
    let session = init
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let _ = init.text().await;
    post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        session.clone(),
    )
    .await
    .expect("initialized");
    let call = post(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_repos", "arguments": {}}}),
        session,
    )
    .await
    .expect("tools/call");
    let body = call.text().await.expect("tools/call body");
    // A JSON body, or server-sent events with the response in a `data:` line.
    let messages: Vec<Value> = std::iter::once(body.as_str())
        .chain(body.lines().filter_map(|l| l.strip_prefix("data:")))
        .filter_map(|m| serde_json::from_str(m.trim()).ok())
        .collect();
    let response = messages
        .iter()
        .find(|m| m["id"] == 2)
        .unwrap_or_else(|| panic!("no tools/call response in {body}"));
    response["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {response}"))
        .to_owned()
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}
