//! License states (set through `FakeLicenseOracle`) as the API shows them.

use crate::support::{ADMIN, App, PASSWORD, REPO_URL, Req, gated};
use axum::http::StatusCode;
use lettuce_domain::license::{LicenseClaims, LicenseState};
use lettuce_ports::license::LicenseStatus;
use lettuce_ports::testing::license::sample_claims;
use serde_json::json;

#[tokio::test]
async fn read_only_refuses_writes_and_keeps_reads() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    app.push(REPO_URL, &[("a.txt", "a")]);
    let id = app.add_repo(&owner, REPO_URL).await;
    app.work().await;
    app.license.set_status(LicenseStatus {
        reason: Some("expired on 2024-01-01".into()),
        ..gated(LicenseState::ReadOnly)
    });

    let writes = [
        Req::post("/v1/repos")
            .bearer(&owner.token)
            .json(&json!({"url": "https://github.com/a/b"})),
        Req::post(format!("/v1/repos/{id}/reindex")).bearer(&owner.token),
        Req::post("/v1/invites").bearer(&owner.token),
        Req::post("/api/admin/invites").bearer(ADMIN),
    ];
    for req in writes {
        let msg = app.send(req).await.error(StatusCode::FORBIDDEN, "license_expired");
        assert!(msg.contains("read-only"), "{msg}");
        assert!(msg.contains("expired on 2024-01-01"), "the reason is included: {msg}");
    }

    // Reads still work.
    let list = app.send(Req::get("/v1/repos").bearer(&owner.token)).await;
    list.expect(StatusCode::OK);
    assert_eq!(list.json["repos"].as_array().unwrap().len(), 1);
    app.send(Req::get(format!("/v1/repos/{id}")).bearer(&owner.token))
        .await
        .expect(StatusCode::OK);
    app.send(Req::get("/v1/account").bearer(&owner.token))
        .await
        .expect(StatusCode::OK);
    app.send(Req::post("/v1/auth/login").json(&json!({"email": "ada@example.com", "password": PASSWORD})))
        .await
        .expect(StatusCode::OK);
    let lic = app.send(Req::get("/v1/license").bearer(&owner.token)).await;
    lic.expect(StatusCode::OK);
    assert_eq!(lic.json["state"], "read_only");
    assert_eq!(lic.json["gated"], true);
    assert_eq!(lic.json["reason"], "expired on 2024-01-01");
    assert_eq!(lic.json["claims"]["seats"], 25);
    // Deleting is allowed (it frees a slot and removes data).
    app.send(Req::delete(format!("/v1/repos/{id}")).bearer(&owner.token))
        .await
        .expect(StatusCode::NO_CONTENT);

    // Grace behaves like valid.
    app.license.set_status(gated(LicenseState::Grace));
    app.add_repo(&owner, REPO_URL).await;
}

#[tokio::test]
async fn locked_refuses_writes_with_license_locked() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    let code = app.admin_invite().await;
    app.license.set_status(LicenseStatus {
        gated: true,
        state: LicenseState::Locked,
        claims: None,
        reason: Some("no license key is installed".into()),
    });
    let writes = [
        Req::post("/v1/repos")
            .bearer(&owner.token)
            .json(&json!({"url": REPO_URL})),
        Req::post("/v1/invites").bearer(&owner.token),
        Req::post("/api/admin/invites").bearer(ADMIN),
        Req::post("/v1/auth/signup")
            .json(&json!({"invite_code": code, "email": "b@example.com", "password": PASSWORD})),
    ];
    for req in writes {
        let msg = app.send(req).await.error(StatusCode::FORBIDDEN, "license_locked");
        assert!(msg.contains("no license key is installed"), "{msg}");
    }
    // License status stays readable, by users and by the admin token.
    for token in [owner.token.as_str(), ADMIN] {
        let lic = app.send(Req::get("/v1/license").bearer(token)).await;
        lic.expect(StatusCode::OK);
        assert_eq!(lic.json["state"], "locked");
    }
    app.send(Req::get("/healthz")).await.expect(StatusCode::OK);
    app.send(Req::get("/readyz")).await.expect(StatusCode::OK);
}

/// Known gap (see the report): PRODUCT P-6 says a locked instance refuses
/// everything but health, license status and license upload; the engine
/// gates only writes, so reads still answer 200.
#[tokio::test]

async fn locked_refuses_reads_too() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    app.license.set_status(gated(LicenseState::Locked));
    for path in ["/v1/repos", "/v1/account", "/v1/api-keys"] {
        app.send(Req::get(path).bearer(&owner.token))
            .await
            .error(StatusCode::FORBIDDEN, "license_locked");
    }
}

#[tokio::test]
async fn limits_are_license_limit_reached() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    app.push(REPO_URL, &[("a.txt", "a")]);
    app.add_repo(&owner, REPO_URL).await;
    let code = app
        .send(Req::post("/v1/invites").bearer(&owner.token))
        .await
        .str("/code");
    app.license.set_status(LicenseStatus {
        claims: Some(LicenseClaims {
            repo_cap: 1,
            seats: 1,
            ..sample_claims()
        }),
        ..gated(LicenseState::Valid)
    });
    let msg = app
        .send(
            Req::post("/v1/repos")
                .bearer(&owner.token)
                .json(&json!({"url": "https://github.com/a/b"})),
        )
        .await
        .error(StatusCode::FORBIDDEN, "license_limit_reached");
    assert!(msg.contains("License limit reached") && msg.contains('1'), "{msg}");
    let msg = app
        .send(
            Req::post("/v1/auth/signup")
                .json(&json!({"invite_code": code, "email": "b@example.com", "password": PASSWORD})),
        )
        .await
        .error(StatusCode::FORBIDDEN, "license_limit_reached");
    assert!(msg.contains("seats"), "{msg}");
    // Minting an invite is still allowed (the seat check bites at redemption).
    app.send(Req::post("/v1/invites").bearer(&owner.token))
        .await
        .expect(StatusCode::CREATED);
    // Raising the cap lifts the limit without a restart.
    app.license.set_status(gated(LicenseState::Valid));
    app.add_repo(&owner, "https://github.com/a/b").await;
    app.signup(&code, "b@example.com").await;
}

#[tokio::test]
async fn uploading_a_key_unlocks_without_restart() {
    use lettuce_ports::testing::license::VALID_TEST_KEY;
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    app.license.set_status(gated(LicenseState::Locked));
    app.send(Req::get("/v1/repos").bearer(&owner.token))
        .await
        .error(StatusCode::FORBIDDEN, "license_locked");

    // Bad keys are refused with a precise code and change nothing.
    for (key, code) in [("not-a-jwt", "license_malformed"), ("", "validation_failed")] {
        app.send(Req::put("/v1/admin/license").bearer(ADMIN).json(&json!({ "key": key })))
            .await
            .error(StatusCode::BAD_REQUEST, code);
    }
    assert_eq!(
        app.send(Req::get("/v1/license").bearer(ADMIN)).await.json["state"],
        "locked"
    );

    // The admin token works while locked; the new state applies at once.
    let ok = app
        .send(
            Req::put("/v1/admin/license")
                .bearer(ADMIN)
                .json(&json!({ "key": VALID_TEST_KEY })),
        )
        .await;
    ok.expect(StatusCode::OK);
    assert_eq!(ok.json["state"], "valid");
    app.send(Req::get("/v1/repos").bearer(&owner.token))
        .await
        .expect(StatusCode::OK);

    // Owners may upload too; members may not.
    app.send(
        Req::put("/v1/admin/license")
            .bearer(&owner.token)
            .json(&json!({ "key": VALID_TEST_KEY })),
    )
    .await
    .expect(StatusCode::OK);
    let code = app
        .send(Req::post("/v1/invites").bearer(&owner.token))
        .await
        .str("/code");
    let member = app.signup(&code, "bob@example.com").await;
    app.send(
        Req::put("/v1/admin/license")
            .bearer(&member.token)
            .json(&json!({ "key": VALID_TEST_KEY })),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
}
