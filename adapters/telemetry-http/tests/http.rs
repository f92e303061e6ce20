//! The HTTP sink against real HTTP servers on 127.0.0.1 that behave like a
//! receiver, a broken receiver, a proxy or nothing at all.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lettuce_domain::telemetry::{HeartbeatAck, parse_ping};
use lettuce_ports::telemetry::{TelemetryError, TelemetrySink};
use lettuce_ports::testing::telemetry::{SinkCases, sample_heartbeat, telemetry_sink_contract};
use lettuce_telemetry_http::{HttpTelemetryConfig, HttpTelemetrySink};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What the mock receiver saw.
#[derive(Debug, Default)]
struct Seen {
    bodies: Vec<Vec<u8>>,
    content_types: Vec<String>,
    user_agents: Vec<String>,
}

type Shared = Arc<Mutex<Seen>>;

async fn accept(State(seen): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    {
        let mut s = seen.lock().unwrap();
        s.bodies.push(body.to_vec());
        s.content_types.push(header(header::CONTENT_TYPE));
        s.user_agents.push(header(header::USER_AGENT));
    }
    match parse_ping(&body) {
        Ok(hb) => axum::Json(HeartbeatAck {
            status: "accepted".into(),
            instance_id: hb.instance_id,
            receipt_id: format!("rcpt_{}", Uuid::now_v7().simple()),
            received_at: chrono::Utc::now(),
        })
        .into_response(),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.message).into_response(),
    }
}

async fn reject() -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(serde_json::json!({"error": {"code": "out_of_range",
            "message": "field `repo_count` must be at most 1000000000"}})),
    )
        .into_response()
}

async fn fail() -> StatusCode {
    StatusCode::SERVICE_UNAVAILABLE
}

async fn impostor() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html")],
        "<html>Welcome to the hotel wifi</html>",
    )
        .into_response()
}

async fn other_instance(body: Bytes) -> Response {
    let _ = parse_ping(&body);
    axum::Json(HeartbeatAck {
        status: "accepted".into(),
        instance_id: Uuid::new_v4(),
        receipt_id: "rcpt_someone_else".into(),
        received_at: chrono::Utc::now(),
    })
    .into_response()
}

async fn redirect() -> Response {
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, "/accept?token=secret")],
    )
        .into_response()
}

async fn slow() -> StatusCode {
    tokio::time::sleep(Duration::from_secs(10)).await;
    StatusCode::OK
}

async fn limited() -> Response {
    (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "7")]).into_response()
}

async fn start() -> (SocketAddr, Shared) {
    let seen = Shared::default();
    let app = Router::new()
        .route("/accept", post(accept))
        .route("/reject", post(reject))
        .route("/fail", post(fail))
        .route("/impostor", post(impostor))
        .route("/other-instance", post(other_instance))
        .route("/redirect", post(redirect))
        .route("/slow", post(slow))
        .route("/limited", post(limited))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

fn sink(url: String) -> HttpTelemetrySink {
    HttpTelemetrySink::new(HttpTelemetryConfig::new(url).with_timeouts(Duration::from_secs(2), Duration::from_secs(2)))
        .unwrap()
}

/// A loopback port with nothing listening.
async fn dead_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn http_sink_passes_the_contract() {
    let (addr, seen) = start().await;
    let url = |path: &str| format!("http://{addr}{path}");
    let accepting = sink(url("/accept"));
    let rejecting = sink(url("/reject"));
    let failing = sink(url("/fail"));
    let impostor = sink(url("/impostor"));
    let unreachable = sink(format!("http://127.0.0.1:{}/v1/heartbeat", dead_port().await));
    telemetry_sink_contract(SinkCases {
        accepting: &accepting,
        rejecting: &rejecting,
        failing: &failing,
        impostor: &impostor,
        unreachable: &unreachable,
    })
    .await;

    // The wire format: JSON with exactly the eight fields, as the receiver's
    // strict parser accepts it.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.bodies.len(), 4);
    for body in &seen.bodies {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 8, "{v}");
        parse_ping(body).unwrap();
    }
    assert!(seen.content_types.iter().all(|c| c == "application/json"));
    assert!(seen.user_agents.iter().all(|u| u.starts_with("lettuce/")));
}

#[tokio::test]
async fn an_ack_for_another_instance_is_not_a_receipt() {
    let (addr, _) = start().await;
    let err = sink(format!("http://{addr}/other-instance"))
        .send(&sample_heartbeat(true))
        .await
        .unwrap_err();
    assert!(matches!(err, TelemetryError::Unverified { .. }), "{err:?}");
    assert!(err.to_string().contains("not this instance"), "{err}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (addr, seen) = start().await;
    let err = sink(format!("http://{addr}/redirect"))
        .send(&sample_heartbeat(true))
        .await
        .unwrap_err();
    match &err {
        TelemetryError::Rejected { status, code, message } => {
            assert_eq!(*status, 307);
            assert_eq!(code.as_deref(), Some("redirected"));
            assert!(message.contains("LETTUCE_TELEMETRY_URL"), "{message}");
            assert!(
                !message.contains("secret"),
                "the query string must not be shown: {message}"
            );
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(
        seen.lock().unwrap().bodies.is_empty(),
        "the redirect target must not be called"
    );
}

#[tokio::test]
async fn rejections_keep_the_receivers_code_and_message() {
    let (addr, _) = start().await;
    match sink(format!("http://{addr}/reject"))
        .send(&sample_heartbeat(false))
        .await
    {
        Err(TelemetryError::Rejected { status, code, message }) => {
            assert_eq!(status, 422);
            assert_eq!(code.as_deref(), Some("out_of_range"));
            assert!(message.contains("repo_count"), "{message}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn rate_limits_carry_retry_after() {
    let (addr, _) = start().await;
    match sink(format!("http://{addr}/limited"))
        .send(&sample_heartbeat(false))
        .await
    {
        Err(e @ TelemetryError::RateLimited { .. }) => {
            assert!(e.is_retryable());
            assert!(
                matches!(e, TelemetryError::RateLimited { status: 429, retry_after: Some(d) } if d == Duration::from_secs(7))
            );
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn a_silent_receiver_times_out() {
    let (addr, _) = start().await;
    let started = Instant::now();
    let err = sink(format!("http://{addr}/slow"))
        .send(&sample_heartbeat(false))
        .await
        .unwrap_err();
    assert!(matches!(err, TelemetryError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "the timeout must bound the call"
    );
}

#[tokio::test]
async fn errors_never_show_url_credentials() {
    let port = dead_port().await;
    let s = sink(format!(
        "http://telemetry:hunter2@127.0.0.1:{port}/v1/heartbeat?key=sekret"
    ));
    assert_eq!(s.endpoint(), format!("http://127.0.0.1:{port}/v1/heartbeat"));
    let err = s.send(&sample_heartbeat(true)).await.unwrap_err();
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("hunter2") && !text.contains("sekret"), "{text}");
    }
}
