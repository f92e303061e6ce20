//! Self-hosted license gating end to end: locked without a key, unlocked by
//! an upload without restart, grace and read-only by expiry.

mod support;

use serde_json::json;
use support::*;

/// A license signed with the development private key (its public key is
/// compiled into the binary as the last fallback).
fn license(expires_in_days: i64) -> String {
    use lettuce_license_ed25519::testing::{claims, sign_dev_license};
    let mut claims = claims("lic_e2e", expires_in_days);
    claims["seats"] = 10.into();
    claims["repo_cap"] = 50.into();
    sign_dev_license(&claims)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_without_key_unlocked_by_upload_then_grace_and_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cache = dir.path().join("license.json");
    let cache_s = cache.to_str().unwrap().to_owned();

    // A user exists from before gating was turned on.
    let token = {
        let server = Server::start(&data, &[]).await;
        server.api().first_user(&server.admin_token()).await
    };

    // 1. Self-hosted, no key: starts locked and says why; health stays green.
    let server = Server::start(
        &data,
        &[("LETTUCE_SELF_HOSTED", "1"), ("LETTUCE_LICENSE_CACHE_PATH", &cache_s)],
    )
    .await;
    let api = server.api();
    let admin = server.admin_token();
    api.get("/healthz", None).await.expect(200);
    let lic = api.get("/v1/license", Some(&admin)).await.expect(200);
    assert_eq!(lic["state"], "locked", "{lic}");
    assert_eq!(lic["gated"], true);
    assert!(
        lic["reason"]
            .as_str()
            .unwrap()
            .contains("LETTUCE_LICENSE_KEY is required when LETTUCE_SELF_HOSTED=1"),
        "{lic}"
    );
    assert!(
        server
            .logs()
            .contains("LETTUCE_LICENSE_KEY is required when LETTUCE_SELF_HOSTED=1"),
        "the log says why"
    );
    let add = json!({"url": "https://example.invalid/acme/widgets.git"});
    let msg = api
        .post("/v1/repos", Some(&token), &add)
        .await
        .expect_error(403, "license_locked");
    assert!(msg.contains("LETTUCE_LICENSE_KEY"), "{msg}");
    api.post_empty("/api/admin/invites", Some(&admin))
        .await
        .expect_error(403, "license_locked");

    // 2. Bad uploads are refused precisely and change nothing.
    let put = |key: String| json!({ "key": key });
    let forged = {
        let t = license(30);
        let (head, _) = t.rsplit_once('.').unwrap();
        format!("{head}.AAAA")
    };
    api.send(
        reqwest::Method::PUT,
        "/v1/admin/license",
        Some(&admin),
        Some(("application/json", put(forged).to_string().into_bytes())),
    )
    .await
    .expect_error(400, "license_signature_invalid");
    api.send(
        reqwest::Method::PUT,
        "/v1/admin/license",
        Some(&admin),
        Some(("application/json", put("garbage".into()).to_string().into_bytes())),
    )
    .await
    .expect_error(400, "license_malformed");
    assert_eq!(
        api.get("/v1/license", Some(&admin)).await.expect(200)["state"],
        "locked"
    );

    // 3. A valid key uploaded with the admin token unlocks without restart.
    let ok = api
        .send(
            reqwest::Method::PUT,
            "/v1/admin/license",
            Some(&admin),
            Some(("application/json", put(license(30)).to_string().into_bytes())),
        )
        .await
        .expect(200);
    assert_eq!(ok["state"], "valid", "{ok}");
    assert_eq!(ok["claims"]["sub"], "lic_e2e");
    api.post("/v1/repos", Some(&token), &add).await.expect(202);

    // 4. A key that expired 3 days ago works, with a warning in the status.
    let grace = api
        .send(
            reqwest::Method::PUT,
            "/v1/admin/license",
            Some(&token),
            Some(("application/json", put(license(-3)).to_string().into_bytes())),
        )
        .await
        .expect(200);
    assert_eq!(grace["state"], "grace", "{grace}");
    assert!(grace["reason"].as_str().unwrap().contains("expired"), "{grace}");
    api.post(
        "/v1/repos",
        Some(&token),
        &json!({"url": "https://example.invalid/acme/other.git"}),
    )
    .await
    .expect(202);
    drop(server);

    // 5. Another process of the install (here: a restart with a fresh cache
    //    path and an older LETTUCE_LICENSE_KEY) adopts the key uploaded
    //    through the API, which the metadata store shares: a renewal
    //    uploaded to one process reaches every process.
    let other_cache = dir.path().join("license-2.json");
    let server = Server::start(
        &data,
        &[
            ("LETTUCE_SELF_HOSTED", "1"),
            ("LETTUCE_LICENSE_KEY", &license(-20)),
            ("LETTUCE_LICENSE_CACHE_PATH", other_cache.to_str().unwrap()),
        ],
    )
    .await;
    let lic = server.api().get("/v1/license", Some(&token)).await.expect(200);
    assert_eq!(
        lic["state"], "grace",
        "the uploaded key (expired 3 days ago) wins over the older one: {lic}"
    );
    assert!(
        server
            .logs()
            .contains("adopted the license key uploaded through the admin API"),
        "{}",
        server.logs()
    );
    drop(server);

    // 6. An install whose only key expired 20 days ago: read-only. Adds are
    //    refused with license_expired; reads still answer.
    let data = dir.path().join("data-2");
    let token = {
        let server = Server::start(&data, &[]).await;
        let api = server.api();
        let token = api.first_user(&server.admin_token()).await;
        api.post("/v1/repos", Some(&token), &add).await.expect(202);
        token
    };
    let fresh_cache = dir.path().join("license-3.json");
    let server = Server::start(
        &data,
        &[
            ("LETTUCE_SELF_HOSTED", "1"),
            ("LETTUCE_LICENSE_KEY", &license(-20)),
            ("LETTUCE_LICENSE_CACHE_PATH", fresh_cache.to_str().unwrap()),
        ],
    )
    .await;
    let api = server.api();
    assert_eq!(
        api.get("/v1/license", Some(&token)).await.expect(200)["state"],
        "read_only"
    );
    api.post(
        "/v1/repos",
        Some(&token),
        &json!({"url": "https://example.invalid/acme/third.git"}),
    )
    .await
    .expect_error(403, "license_expired");
    let repos = api.get("/v1/repos", Some(&token)).await.expect(200);
    assert_eq!(
        repos["repos"].as_array().unwrap().len(),
        1,
        "existing repos stay readable"
    );
}
