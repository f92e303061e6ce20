//! Happy paths through the router.

use crate::support::{ADMIN, App, PASSWORD, REPO_URL, Req};
use axum::http::{StatusCode, header};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not an RFC 3339 time: {v}"))
}

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = App::new();
    let r = app.send(Req::get("/healthz")).await;
    r.expect(StatusCode::OK);
    assert!(
        r.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"))
    );
    assert_eq!(r.json["status"], "ok");
    assert_eq!(r.json["version"], env!("CARGO_PKG_VERSION"));

    let r = app.send(Req::get("/readyz")).await;
    r.expect(StatusCode::OK);
    assert_eq!(
        r.json,
        json!({"status": "ready", "checks": {"metadata_store": {"status": "ok"}, "blob_store": {"status": "ok"}, "job_queue": {"status": "ok"}}})
    );
}

#[tokio::test]
async fn admin_invites_with_and_without_a_body() {
    let app = App::new();
    let before = Utc::now();
    // (request, expected account name after the first redemption)
    let cases: Vec<(Req, &str, String)> = vec![
        (
            Req::post("/api/admin/invites").bearer(ADMIN),
            "no body",
            "one.example team".into(),
        ),
        (
            Req::post("/api/admin/invites").bearer(ADMIN).body("  \n"),
            "whitespace body",
            "two.example team".into(),
        ),
        (
            Req::post("/api/admin/invites").bearer(ADMIN).raw_json("{}"),
            "empty object",
            "three.example team".into(),
        ),
        (
            Req::post("/api/admin/invites")
                .bearer(ADMIN)
                .json(&json!({"account_name": "  Acme Robotics  "})),
            "account_name",
            "Acme Robotics".into(),
        ),
        (
            Req::post("/api/admin/invites")
                .bearer(ADMIN)
                .json(&json!({"account_name": null, "email": null})),
            "explicit nulls",
            "five.example team".into(),
        ),
        (
            Req::post("/api/admin/invites")
                .bearer(ADMIN)
                .json(&json!({"account_name": "", "email": ""})),
            "empty strings",
            "six.example team".into(),
        ),
    ];
    let domains = ["one", "two", "three", "four", "five", "six"];
    let mut seen_codes = Vec::new();
    for ((req, label, account_name), domain) in cases.into_iter().zip(domains) {
        let r = app.send(req).await;
        r.expect(StatusCode::CREATED);
        let obj = r.json.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["code", "expires_at", "id"], "{label}: {}", r.text);
        let code = r.str("/code");
        assert!(code.starts_with("inv_") && code.len() > 20, "{label}: {code}");
        assert!(!seen_codes.contains(&code), "codes are unique");
        seen_codes.push(code.clone());
        let exp = time(&r.json["expires_at"]);
        assert!(
            exp > before + Duration::days(6) && exp < Utc::now() + Duration::days(8),
            "{label}: {exp}"
        );
        uuid::Uuid::parse_str(&r.str("/id")).unwrap();

        let user = app.signup(&code, &format!("owner@{domain}.example")).await;
        let view = app.send(Req::get("/v1/account").bearer(&user.token)).await;
        view.expect(StatusCode::OK);
        assert_eq!(view.json["name"], account_name.as_str(), "{label}");
        assert_eq!(view.json["role"], "owner", "{label}");
    }
}

#[tokio::test]
async fn email_restricted_admin_invite() {
    let app = App::new();
    let code = app
        .send(
            Req::post("/api/admin/invites")
                .bearer(ADMIN)
                .json(&json!({"email": "Grace@Example.com", "account_name": "Navy"})),
        )
        .await
        .expect(StatusCode::CREATED)
        .str("/code");
    app.send(Req::post("/v1/auth/signup").json(&json!({
        "invite_code": code, "email": "mallory@example.com", "password": PASSWORD
    })))
    .await
    .error(StatusCode::BAD_REQUEST, "invite_invalid");
    let grace = app.signup(&code, "grace@example.com").await;
    assert_eq!(grace.email, "grace@example.com");
}

#[tokio::test]
async fn signup_then_login() {
    let app = App::new();
    let code = app.admin_invite().await;
    let r = app
        .send(Req::post("/v1/auth/signup").json(&json!({
            "invite_code": format!("  {code}  "), "email": "  Ada@Example.com ", "password": PASSWORD,
        })))
        .await;
    r.expect(StatusCode::CREATED);
    assert_eq!(r.json["user"]["email"], "ada@example.com", "email is normalised");
    assert_eq!(r.json["user"]["role"], "owner");
    assert_eq!(r.json["account"]["name"], "example.com team");
    assert!(time(&r.json["expires_at"]) > Utc::now() + Duration::days(6));
    assert!(r.json["user"].get("password_hash").is_none());
    let signup_token = r.str("/token");

    // Login: case-insensitive email, a fresh token, both tokens work.
    let l = app
        .send(Req::post("/v1/auth/login").json(&json!({"email": "ADA@example.com", "password": PASSWORD})))
        .await;
    l.expect(StatusCode::OK);
    let obj = l.json.as_object().unwrap();
    assert_eq!(obj.len(), 2, "{}", l.text);
    let login_token = l.str("/token");
    assert_ne!(login_token, signup_token);
    for token in [&signup_token, &login_token] {
        let v = app.send(Req::get("/v1/account").bearer(token)).await;
        v.expect(StatusCode::OK);
        assert_eq!(v.json["id"], r.json["account"]["id"]);
    }
    // Lower-case scheme is accepted too.
    app.send(Req::get("/v1/account").header(header::AUTHORIZATION, format!("bearer {login_token}")))
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn api_keys_create_list_use_revoke() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    let created = app
        .send(
            Req::post("/v1/api-keys")
                .bearer(&owner.token)
                .json(&json!({"name": " laptop agent "})),
        )
        .await;
    created.expect(StatusCode::CREATED);
    let key = created.str("/key");
    let id = created.str("/id");
    assert!(key.starts_with("lk_"), "{key}");
    assert_eq!(created.json["name"], "laptop agent");
    let prefix = created.str("/prefix");
    let shown = prefix.trim_end_matches('…');
    assert!(
        key.starts_with(shown) && shown.len() >= 6 && shown.len() < key.len() / 2,
        "{prefix}"
    );

    // The key authenticates as its user.
    let via_key = app.send(Req::get("/v1/account").bearer(&key)).await;
    via_key.expect(StatusCode::OK);
    assert_eq!(via_key.json["id"], owner.account_id.as_str());
    app.send(Req::get("/v1/repos").bearer(&key))
        .await
        .expect(StatusCode::OK);

    // Listing shows metadata and recent use, never the key.
    app.send(
        Req::post("/v1/api-keys")
            .bearer(&owner.token)
            .json(&json!({"name": "ci"})),
    )
    .await
    .expect(StatusCode::CREATED);
    let list = app.send(Req::get("/v1/api-keys").bearer(&owner.token)).await;
    list.expect(StatusCode::OK);
    let keys = list.json["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["name"], "ci", "newest first");
    let listed = keys.iter().find(|k| k["id"] == id.as_str()).unwrap();
    assert_eq!(listed["prefix"], prefix.as_str());
    assert!(listed.get("key").is_none());
    assert!(listed["last_used_at"].is_string(), "use is recorded: {listed}");
    assert!(listed["revoked_at"].is_null());
    assert!(!list.text.contains(&key));

    // Keys list only their own user's keys.
    let member = app.member(&owner, "bob@example.com").await;
    let theirs = app.send(Req::get("/v1/api-keys").bearer(&member.token)).await;
    assert_eq!(theirs.json["api_keys"], json!([]));

    // Revoke: 204 with no body; the key stops working; the list shows it.
    let del = app
        .send(Req::delete(format!("/v1/api-keys/{id}")).bearer(&owner.token))
        .await;
    del.expect(StatusCode::NO_CONTENT);
    assert!(del.text.is_empty());
    app.send(Req::get("/v1/account").bearer(&key))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let list = app.send(Req::get("/v1/api-keys").bearer(&owner.token)).await;
    let listed = list.json["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert!(listed["revoked_at"].is_string());
    // A key can also manage keys (it is the user).
    let k2 = app
        .send(
            Req::post("/v1/api-keys")
                .bearer(&owner.token)
                .json(&json!({"name": "k2"})),
        )
        .await
        .str("/key");
    app.send(Req::get("/v1/api-keys").bearer(&k2))
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn team_invites_and_account_view() {
    let app = App::with_settings(|s| s.web_url = Some("https://lettuce.example.com/".into()));
    let owner = app.owner("ada@example.com").await;

    // Owner mints teammate invites (with and without a body).
    let plain = app.send(Req::post("/v1/invites").bearer(&owner.token)).await;
    plain.expect(StatusCode::CREATED);
    let restricted = app
        .send(
            Req::post("/v1/invites")
                .bearer(&owner.token)
                .json(&json!({"email": "carol@example.com"})),
        )
        .await;
    restricted.expect(StatusCode::CREATED);
    app.send(Req::post("/v1/invites").bearer(&owner.token).raw_json("{}"))
        .await
        .expect(StatusCode::CREATED);

    let bob = app.signup(&plain.str("/code"), "bob@example.com").await;
    assert_eq!(bob.account_id, owner.account_id, "team invites join the account");
    app.send(Req::post("/v1/auth/signup").json(&json!({
        "invite_code": restricted.str("/code"), "email": "dave@example.com", "password": PASSWORD
    })))
    .await
    .error(StatusCode::BAD_REQUEST, "invite_invalid");
    let carol = app.signup(&restricted.str("/code"), "carol@example.com").await;
    assert_eq!(carol.account_id, owner.account_id);

    // The invite list: owners only, no codes, redemption counts.
    let list = app.send(Req::get("/v1/invites").bearer(&owner.token)).await;
    list.expect(StatusCode::OK);
    let invites = list.json["invites"].as_array().unwrap();
    assert_eq!(
        invites.len(),
        4,
        "the admin invite (now bound) and three team invites: {}",
        list.text
    );
    assert!(invites.iter().all(|i| i.get("code").is_none()));
    let by_id = |id: &str| invites.iter().find(|i| i["id"] == id).unwrap().clone();
    assert_eq!(by_id(&plain.str("/id"))["redemptions"], 1);
    assert_eq!(by_id(&restricted.str("/id"))["email"], "carol@example.com");

    // Revoking: members may not; the owner may; the link then stops working.
    let spare = app.send(Req::post("/v1/invites").bearer(&owner.token)).await;
    spare.expect(StatusCode::CREATED);
    let spare_url = format!("/v1/invites/{}", spare.str("/id"));
    app.send(Req::delete(&spare_url).bearer(&bob.token))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    app.send(Req::delete(&spare_url).bearer(&owner.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    app.send(Req::post("/v1/auth/signup").json(&json!({
        "invite_code": spare.str("/code"), "email": "eve@example.com", "password": PASSWORD
    })))
    .await
    .error(StatusCode::BAD_REQUEST, "invite_invalid");
    app.send(Req::delete(format!("/v1/invites/{}", uuid::Uuid::new_v4())).bearer(&owner.token))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");

    // Account view: owners see the webhook secret and URLs; members do not.
    let ov = app.send(Req::get("/v1/account").bearer(&owner.token)).await;
    ov.expect(StatusCode::OK);
    assert_eq!(ov.json["id"], owner.account_id.as_str());
    assert_eq!(ov.json["role"], "owner");
    assert_eq!(ov.json["seats_used"], 3);
    assert_eq!(ov.json["repo_count"], 0);
    let secret = ov.str("/webhook_secret");
    assert!(
        secret.len() >= 32 && secret.chars().all(|c| c.is_ascii_hexdigit()),
        "{secret}"
    );
    let acct = &owner.account_id;
    assert_eq!(
        ov.json["webhook_urls"],
        json!({
            "github": format!("https://lettuce.example.com/v1/github/webhook/{acct}"),
            "gitlab": format!("https://lettuce.example.com/v1/gitlab/webhook/{acct}"),
            "bitbucket": format!("https://lettuce.example.com/v1/bitbucket/webhook/{acct}"),
        })
    );
    let mv = app.send(Req::get("/v1/account").bearer(&bob.token)).await;
    mv.expect(StatusCode::OK);
    assert_eq!(mv.json["role"], "member");
    assert_eq!(mv.json["seats_used"], 3);
    assert!(mv.json.get("webhook_secret").is_none(), "{}", mv.text);
    assert!(mv.json.get("webhook_urls").is_none(), "{}", mv.text);
    assert!(!mv.text.contains(&secret));
}

#[tokio::test]
async fn owner_without_web_url_sees_secret_but_no_urls() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    let ov = app.send(Req::get("/v1/account").bearer(&owner.token)).await;
    assert!(ov.json["webhook_secret"].is_string());
    assert!(ov.json.get("webhook_urls").is_none(), "{}", ov.text);
}

#[tokio::test]
async fn repo_lifecycle_add_index_reindex_delete() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    let head = app.push(REPO_URL, &[("src/lib.rs", "pub fn a() {}\n"), ("README.md", "# w\n")]);

    let add = app
        .send(
            Req::post("/v1/repos")
                .bearer(&owner.token)
                .json(&json!({"url": REPO_URL})),
        )
        .await;
    add.expect(StatusCode::ACCEPTED);
    assert_eq!(add.json["status"], "pending");
    assert_eq!(add.json["url"], REPO_URL);
    assert_eq!(add.json["name"], "acme/widgets");
    assert!(add.json["indexed_commit"].is_null());
    assert!(add.json["error"].is_null());
    assert!(add.json["branch"].is_null());
    let id = add.str("/id");

    // Listed and readable while pending.
    let list = app.send(Req::get("/v1/repos").bearer(&owner.token)).await;
    assert_eq!(list.json["repos"].as_array().unwrap().len(), 1);
    assert_eq!(list.json["repos"][0]["id"], id.as_str());

    // The worker indexes it.
    assert_eq!(app.work().await, 1);
    let got = app.send(Req::get(format!("/v1/repos/{id}")).bearer(&owner.token)).await;
    got.expect(StatusCode::OK);
    assert_eq!(got.json["status"], "ready", "{}", got.text);
    assert_eq!(got.json["indexed_commit"], head.as_str());
    assert!(got.json["error"].is_null());
    assert_eq!(got.json["progress"], json!({"files_done": 2, "files_total": 2}));
    assert!(got.json["indexed_at"].is_string());
    let acct = app.send(Req::get("/v1/account").bearer(&owner.token)).await;
    assert_eq!(acct.json["repo_count"], 1);

    // A push, then re-index: 202 pending, then the new head.
    let head2 = app.push(REPO_URL, &[("src/lib.rs", "pub fn b() {}\n")]);
    let re = app
        .send(Req::post(format!("/v1/repos/{id}/reindex")).bearer(&owner.token))
        .await;
    re.expect(StatusCode::ACCEPTED);
    assert_eq!(re.json["status"], "pending");
    assert_eq!(
        re.json["indexed_commit"],
        head.as_str(),
        "the old index keeps answering"
    );
    // A second request coalesces.
    app.send(Req::post(format!("/v1/repos/{id}/reindex")).bearer(&owner.token))
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(app.work().await, 1, "two re-index requests coalesce into one job");
    let got = app.send(Req::get(format!("/v1/repos/{id}")).bearer(&owner.token)).await;
    assert_eq!(got.json["status"], "ready");
    assert_eq!(got.json["indexed_commit"], head2.as_str());

    // Delete: 204 with no body, then 404 everywhere.
    let del = app
        .send(Req::delete(format!("/v1/repos/{id}")).bearer(&owner.token))
        .await;
    del.expect(StatusCode::NO_CONTENT);
    assert!(del.text.is_empty());
    app.send(Req::get(format!("/v1/repos/{id}")).bearer(&owner.token))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    app.send(Req::delete(format!("/v1/repos/{id}")).bearer(&owner.token))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    app.send(Req::post(format!("/v1/repos/{id}/reindex")).bearer(&owner.token))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    let list = app.send(Req::get("/v1/repos").bearer(&owner.token)).await;
    assert_eq!(list.json["repos"], json!([]));
    assert_eq!(app.work().await, 0, "cleanup waits a few seconds");
    assert_eq!(app.work_later().await, 1, "the delete job cleans up");
    assert!(!app.mirror.has_mirror(&id));
    // Adding it again after deletion works.
    app.add_repo(&owner, REPO_URL).await;
}

#[tokio::test]
async fn repo_with_branch_and_failure_states() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    app.push(REPO_URL, &[("a.txt", "a")]);
    let dev_head = app
        .mirror
        .add_remote(REPO_URL, "dev", vec![("b.txt".into(), b"b".to_vec())]);

    let r = app
        .send(
            Req::post("/v1/repos")
                .bearer(&owner.token)
                .json(&json!({"url": REPO_URL, "branch": " dev "})),
        )
        .await;
    r.expect(StatusCode::ACCEPTED);
    assert_eq!(r.json["branch"], "dev");
    let dev = r.str("/id");
    // The same URL on another branch is a different repo.
    let nope = app
        .send(
            Req::post("/v1/repos")
                .bearer(&owner.token)
                .json(&json!({"url": REPO_URL, "branch": "nope"})),
        )
        .await
        .expect(StatusCode::ACCEPTED)
        .str("/id");
    let missing = app.add_repo(&owner, "https://github.com/acme/missing").await;
    app.work().await;

    let got = app
        .send(Req::get(format!("/v1/repos/{dev}")).bearer(&owner.token))
        .await;
    assert_eq!(got.json["status"], "ready");
    assert_eq!(got.json["indexed_commit"], dev_head.as_str());
    for (id, needle) in [(nope, "branch `nope`"), (missing, "not found")] {
        let got = app.send(Req::get(format!("/v1/repos/{id}")).bearer(&owner.token)).await;
        got.expect(StatusCode::OK);
        assert_eq!(got.json["status"], "failed", "{}", got.text);
        assert!(got.str("/error").contains(needle), "{}", got.text);
        assert!(got.json["indexed_commit"].is_null());
    }
}

#[tokio::test]
async fn license_endpoint_answers_users_and_the_admin_token() {
    let app = App::new();
    let owner = app.owner("ada@example.com").await;
    for token in [owner.token.as_str(), ADMIN] {
        let r = app.send(Req::get("/v1/license").bearer(token)).await;
        r.expect(StatusCode::OK);
        assert_eq!(r.json["state"], "valid");
        assert_eq!(r.json["gated"], false);
    }
}

#[tokio::test]
async fn openapi_json_is_served() {
    let app = App::new();
    let r = app.send(Req::get("/openapi.json")).await;
    r.expect(StatusCode::OK);
    assert!(r.json["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    assert_eq!(r.json["info"]["title"], "Lettuce API");
}
