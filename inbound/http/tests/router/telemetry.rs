//! `GET, PUT /v1/admin/telemetry`: the state, who may see and change it, and
//! the refusal when the license requires telemetry.

use crate::support::{ADMIN, App, Req, gated};
use axum::http::StatusCode;
use lettuce_domain::license::LicenseState;
use lettuce_engine::Worker;
use serde_json::json;

fn license_with(required: bool) -> lettuce_ports::license::LicenseStatus {
    let mut s = gated(LicenseState::Valid);
    if let Some(c) = s.claims.as_mut() {
        c.telemetry_required = required;
    }
    s
}

#[tokio::test]
async fn owners_see_the_state_and_the_last_receipt() {
    let app = App::new();
    app.license.set_status(license_with(true));
    let owner = app.owner("ada@example.com").await;
    let member = app.member(&owner, "bob@example.com").await;

    let r = app.send(Req::get("/v1/admin/telemetry").bearer(&owner.token)).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.json["sending"], true);
    assert_eq!(r.json["enabled"], true);
    assert_eq!(r.json["opt_out_allowed"], false);
    assert_eq!(r.json["license_term"], "required");
    assert_eq!(r.json["endpoint"], "memory://telemetry");
    assert_eq!(r.json["last_receipt"], serde_json::Value::Null);
    let instance_id = r.str("/instance_id");
    assert_eq!(instance_id.len(), 36);

    // The hourly job sends; the receipt shows up.
    app.engine.telemetry_tick().await.unwrap();
    Worker::new(app.engine.clone()).run_until_idle().await.unwrap();
    assert_eq!(app.telemetry.stored().len(), 1);
    assert_eq!(app.telemetry.stored()[0].instance_id.to_string(), instance_id);
    let r = app.send(Req::get("/v1/admin/telemetry").bearer(ADMIN)).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.str("/instance_id"), instance_id, "the instance id is kept");
    assert!(r.str("/last_receipt/receipt_id").starts_with("rcpt_"));
    assert_eq!(r.json["last_receipt"]["endpoint"], "memory://telemetry");

    app.send(Req::get("/v1/admin/telemetry").bearer(&member.token))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    app.send(Req::get("/v1/admin/telemetry"))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn opting_out_is_refused_unless_the_license_allows_it() {
    let app = App::new();
    app.license.set_status(license_with(true));
    let owner = app.owner("ada@example.com").await;
    let msg = app
        .send(
            Req::put("/v1/admin/telemetry")
                .bearer(&owner.token)
                .json(&json!({"enabled": false})),
        )
        .await
        .error(StatusCode::FORBIDDEN, "telemetry_required");
    assert!(msg.contains("telemetry_required=false"), "{msg}");

    app.license.set_status(license_with(false));
    let r = app
        .send(
            Req::put("/v1/admin/telemetry")
                .bearer(&owner.token)
                .json(&json!({"enabled": false})),
        )
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(r.json["enabled"], false);
    assert_eq!(r.json["sending"], false);
    assert_eq!(r.json["opt_out_allowed"], true);
    assert_eq!(r.json["opt_outs"], json!(["the admin telemetry toggle"]));
    app.engine.telemetry_tick().await.unwrap();
    Worker::new(app.engine.clone()).run_until_idle().await.unwrap();
    assert!(app.telemetry.sent().is_empty(), "an honoured opt-out sends nothing");

    let r = app
        .send(
            Req::put("/v1/admin/telemetry")
                .bearer(ADMIN)
                .json(&json!({"enabled": true})),
        )
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(r.json["sending"], true);

    app.send(
        Req::put("/v1/admin/telemetry")
            .bearer(&owner.token)
            .json(&json!({"enabled": "no"})),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "invalid_body");
    app.send(
        Req::put("/v1/admin/telemetry")
            .bearer(&owner.token)
            .json(&json!({"enabled": false, "extra": 1})),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "invalid_body");
}
