//! The receiver over real HTTP on 127.0.0.1 with SQLite storage: ingest,
//! strict validation, the JSON API, the dashboard, the token, the license
//! registry, and the Lettuce sender end to end.

mod common;

use common::{Receiver, license_token, ping};
use lettuce_domain::telemetry::Heartbeat;
use lettuce_ports::telemetry::TelemetrySink;
use lettuce_telemetry_http::{HttpTelemetryConfig, HttpTelemetrySink};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post_json(url: &str, body: &Value) -> (StatusCode, Value) {
    let r = client().post(url).json(body).send().await.expect("POST");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get_json(url: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = client().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("GET");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn stores_heartbeats_from_both_paths_and_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::sqlite(dir.path(), None).await;
    let id = Uuid::new_v4().to_string();
    let (status, ack) = post_json(&format!("{}/v1/heartbeat", rx.base), &ping(&id, Some("lic_acme"))).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack["status"], "accepted");
    assert_eq!(ack["instance_id"], id);
    let first_receipt = ack["receipt_id"].as_str().unwrap().to_owned();
    assert!(first_receipt.starts_with("rcpt_"));
    let mut second = ping(&id, Some("lic_acme"));
    second["version"] = json!("1.5.0");
    second["uptime_hours"] = json!(436);
    let (status, ack2) = post_json(&format!("{}/v1/self-hosted/telemetry", rx.base), &second).await;
    assert_eq!(status, StatusCode::OK, "{ack2}");
    assert_ne!(ack2["receipt_id"], first_receipt.as_str());

    let (status, list) = get_json(&format!("{}/v1/instances", rx.base), None).await;
    assert_eq!(status, StatusCode::OK);
    let instances = list["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1);
    let i = &instances[0];
    assert_eq!(i["instance_id"], id);
    assert_eq!(i["version"], "1.5.0", "the latest report wins");
    assert_eq!(i["uptime_hours"], 436);
    assert_eq!(i["pings"], 2);
    assert_eq!(i["tokens_saved_24h"], 184293);
    assert_eq!(i["stale"], false);
    assert_eq!(i["license"], Value::Null, "lic_acme is not registered");

    let (status, one) = get_json(&format!("{}/v1/instances/{id}", rx.base), None).await;
    assert_eq!(status, StatusCode::OK);
    let recent = one["recent_heartbeats"].as_array().unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0]["heartbeat"]["version"], "1.5.0", "newest first");
    assert_eq!(recent[1]["receipt_id"], first_receipt.as_str());
    let (status, _) = get_json(&format!("{}/v1/instances/{}", rx.base, Uuid::new_v4()), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, summary) = get_json(&format!("{}/v1/summary", rx.base), None).await;
    assert_eq!(summary["instances"], 1);
    assert_eq!(summary["active_24h"], 1);
    assert_eq!(summary["tokens_saved_24h"], 184293);
    assert_eq!(summary["versions"], json!([{"version": "1.5.0", "instances": 1}]));
    assert_eq!(summary["unregistered_license_ids"], json!(["lic_acme"]));

    let html = client().get(format!("{}/", rx.base)).send().await.unwrap();
    assert_eq!(html.status(), StatusCode::OK);
    assert!(
        html.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = html.text().await.unwrap();
    for needle in [
        id.as_str(),
        "1.5.0",
        "184,293",
        "Licenses expiring within 30 days",
        "not registered",
    ] {
        assert!(html.contains(needle), "dashboard lacks {needle}");
    }
    let (status, health) = get_json(&format!("{}/healthz", rx.base), None).await;
    assert_eq!((status, health), (StatusCode::OK, json!({"status": "ok"})));
    rx.stop().await;
}

#[tokio::test]
async fn bad_heartbeats_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::sqlite(dir.path(), None).await;
    let url = format!("{}/v1/heartbeat", rx.base);
    let id = Uuid::new_v4().to_string();
    let with = |k: &str, v: Value| {
        let mut p = ping(&id, None);
        p[k] = v;
        p
    };
    let mut missing = ping(&id, None);
    missing.as_object_mut().unwrap().remove("user_count");
    for (name, body, status, code, field) in [
        (
            "unknown field",
            with("repo_names", json!(["secret-repo"])),
            422,
            "unknown_field",
            Some("repo_names"),
        ),
        ("missing field", missing, 422, "missing_field", Some("user_count")),
        (
            "wrong type",
            with("repo_count", json!("47")),
            422,
            "wrong_type",
            Some("repo_count"),
        ),
        (
            "negative",
            with("uptime_hours", json!(-1)),
            422,
            "out_of_range",
            Some("uptime_hours"),
        ),
        (
            "too big",
            with("tokens_saved_24h", json!(1u64 << 60)),
            422,
            "out_of_range",
            Some("tokens_saved_24h"),
        ),
        (
            "bad uuid",
            with("instance_id", json!("not-a-uuid")),
            422,
            "out_of_range",
            Some("instance_id"),
        ),
        ("array", json!([1, 2]), 400, "malformed_json", None),
    ] {
        let (got, body) = post_json(&url, &body).await;
        assert_eq!(got.as_u16(), status, "{name}: {body}");
        assert_eq!(body["error"]["code"], code, "{name}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        if let Some(f) = field {
            assert_eq!(body["error"]["field"], f, "{name}");
            assert!(message.contains(f), "{name}: {message}");
        }
    }
    let raw = client()
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    assert_eq!(raw.json::<Value>().await.unwrap()["error"]["code"], "malformed_json");
    let no_type = client()
        .post(&url)
        .body(ping(&id, None).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(no_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = client()
        .post(&url)
        .header("content-type", "application/json")
        .body(format!("{{\"pad\":\"{}\"}}", "x".repeat(20_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        huge.json::<Value>().await.unwrap()["error"]["code"],
        "payload_too_large"
    );
    // Nothing was stored.
    assert!(rx.store.instances().await.unwrap().is_empty());
    rx.stop().await;
}

#[tokio::test]
async fn the_token_protects_dashboard_and_api_but_not_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let token = "receiver-token-0123456789abcdef";
    let rx = Receiver::sqlite(dir.path(), Some(token)).await;
    let (status, _) = post_json(
        &format!("{}/v1/heartbeat", rx.base),
        &ping(&Uuid::new_v4().to_string(), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "instances need no token");
    for path in ["/", "/v1/summary", "/v1/instances", "/v1/licenses"] {
        let r = client().get(format!("{}{path}", rx.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(r.headers().contains_key(reqwest::header::WWW_AUTHENTICATE));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthenticated");
        let (status, _) = get_json(&format!("{}{path}", rx.base), Some("wrong-token-0123456789")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        let r = client()
            .get(format!("{}{path}", rx.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let r = client()
            .get(format!("{}{path}", rx.base))
            .basic_auth("ops", Some(token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path} with HTTP Basic");
    }
    let (status, _) = get_json(&format!("{}/healthz", rx.base), None).await;
    assert_eq!(status, StatusCode::OK);
    rx.stop().await;
}

#[tokio::test]
async fn the_license_registry_drives_the_expiring_list() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::sqlite(dir.path(), None).await;
    let url = format!("{}/v1/licenses", rx.base);
    for (sub, days) in [("lic_soon", 10), ("lic_later", 200)] {
        let (status, body) = post_json(&url, &json!({"token": license_token(sub, days, false)})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["license_id"], sub);
        assert_eq!(body["customer_id"], format!("cus_{sub}"));
    }
    let (status, body) = post_json(&url, &json!({"token": license_token("lic_forged", 10, true)})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "license_invalid");
    let (status, body) = post_json(&url, &json!({"token": "eyJhbGciOiJub25lIn0.e30."})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = post_json(&url, &json!({"key": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let id = Uuid::new_v4().to_string();
    post_json(&format!("{}/v1/heartbeat", rx.base), &ping(&id, Some("lic_soon"))).await;

    let (_, expiring) = get_json(&format!("{url}?expiring=true"), None).await;
    let expiring = expiring["licenses"].as_array().unwrap();
    assert_eq!(expiring.len(), 1, "{expiring:?}");
    assert_eq!(expiring[0]["license_id"], "lic_soon");
    assert_eq!(expiring[0]["instances"], 1);
    assert!(expiring[0]["days_left"].as_i64().unwrap() >= 9);
    let (_, all) = get_json(&url, None).await;
    assert_eq!(all["licenses"].as_array().unwrap().len(), 2);
    let (_, instances) = get_json(&format!("{}/v1/instances", rx.base), None).await;
    assert_eq!(instances["instances"][0]["license"]["customer_id"], "cus_lic_soon");
    let (_, summary) = get_json(&format!("{}/v1/summary", rx.base), None).await;
    assert_eq!(summary["licenses_expiring"], 1);
    let html = client()
        .get(format!("{}/", rx.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let expiring_section = &html[html.find("id=\"expiring\"").unwrap()..html.find("id=\"versions\"").unwrap()];
    assert!(expiring_section.contains("lic_soon") && expiring_section.contains("cus_lic_soon"));
    assert!(!expiring_section.contains("lic_later"));
    rx.stop().await;
}

#[tokio::test]
async fn the_lettuce_sender_gets_a_verified_receipt_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::sqlite(dir.path(), None).await;
    for path in ["/v1/heartbeat", "/v1/self-hosted/telemetry"] {
        let sink = HttpTelemetrySink::new(HttpTelemetryConfig::new(format!("{}{path}", rx.base))).unwrap();
        let hb = Heartbeat {
            instance_id: Uuid::new_v4(),
            license_id: Some("lic_e2e".into()),
            version: "0.1.0".into(),
            repo_count: 3,
            user_count: 2,
            seat_count: Some(10),
            tokens_saved_24h: 99,
            uptime_hours: 1,
        };
        let receipt = sink.send(&hb).await.expect("verified receipt");
        assert_eq!(receipt.instance_id, hb.instance_id);
        let (_, stored) = rx.store.instance(hb.instance_id, 5).await.unwrap().expect("stored");
        assert_eq!(stored.len(), 1);
        assert_eq!(
            stored[0].receipt_id, receipt.receipt_id,
            "the receipt names the stored heartbeat"
        );
        assert_eq!(stored[0].heartbeat, hb, "stored exactly as sent");
    }
    rx.stop().await;
}
