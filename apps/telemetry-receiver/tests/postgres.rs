//! The receiver on a real PostgreSQL server (`LETTUCE_TEST_POSTGRES_URL`):
//! migrations are idempotent and concurrent, heartbeats from many senders at
//! once are all stored and counted, and the API reads them back. Skips with a
//! printed reason when the variable is unset; fails under
//! `LETTUCE_REQUIRE_PEERS=1`.

mod common;

use common::{Receiver, license_token, ping};
use lettuce_store_sea_orm::testing::{PostgresTestDb, postgres_admin_url};
use lettuce_telemetry_receiver::ReceiverStore;
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_and_serves_heartbeats_on_postgres() {
    let Some(admin) = postgres_admin_url() else { return };
    let db = PostgresTestDb::create(&admin).await;

    // Several receivers starting together migrate once, safely.
    let (a, b) = tokio::join!(ReceiverStore::connect(&db.url), ReceiverStore::connect(&db.url));
    let (a, b) = (a.expect("connect"), b.expect("connect"));
    assert_eq!(a.backend(), "postgres");
    let (ma, mb) = tokio::join!(a.migrate(), b.migrate());
    ma.expect("migrate");
    mb.expect("migrate");

    let rx = Receiver::start(&db.url, None).await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/heartbeat", rx.base);
    let id = Uuid::new_v4().to_string();
    let other = Uuid::new_v4().to_string();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (client, url) = (client.clone(), url.clone());
        let body = ping(if i % 4 == 0 { &other } else { &id }, Some("lic_pg"));
        tasks.push(tokio::spawn(async move {
            let r = client.post(url).json(&body).send().await.expect("POST");
            (r.status(), r.json::<Value>().await.expect("ack"))
        }));
    }
    let mut receipts = Vec::new();
    for t in tasks {
        let (status, ack) = t.await.expect("join");
        assert_eq!(status, reqwest::StatusCode::OK, "{ack}");
        receipts.push(ack["receipt_id"].as_str().unwrap().to_owned());
    }
    receipts.sort();
    receipts.dedup();
    assert_eq!(receipts.len(), 20, "every heartbeat has its own receipt");

    let get = |path: &str| {
        let request = client.get(format!("{}{path}", rx.base));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let list = get("/v1/instances").await;
    let instances = list["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 2);
    let pings: Vec<u64> = instances.iter().map(|i| i["pings"].as_u64().unwrap()).collect();
    assert_eq!(
        pings.iter().sum::<u64>(),
        20,
        "concurrent upserts lose no count: {pings:?}"
    );
    let (_, recent) = b.instance(Uuid::parse_str(&id).unwrap(), 100).await.unwrap().unwrap();
    assert_eq!(recent.len(), 15);

    let r = client
        .post(format!("{}/v1/licenses", rx.base))
        .json(&json!({"token": license_token("lic_pg", 5, false)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let summary = get("/v1/summary").await;
    assert_eq!(summary["licenses_expiring"], 1);
    assert_eq!(summary["unregistered_license_ids"], json!([]));
    rx.stop().await;
}
