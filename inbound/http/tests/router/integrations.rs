//! Code-host integrations over the in-memory GitHub fake: connect (state
//! round trip, single use, expiry, denial), picker (filter, pages), add
//! (webhook registered with the account's secret, first index), signed push
//! → re-index to the new head, forged deliveries → 401 with nothing queued,
//! webhook failure and retry, disconnect keeping repos, not configured → 503.

use crate::support::{App, Req, TestUser};
use axum::http::{HeaderName, StatusCode};
use lettuce_domain::codehost::hmac_sha256_signature;
use lettuce_ports::git::{GitError, RemoteRepo};
use serde_json::json;

const WEB: &str = "https://lettuce.example";

fn remote(id: u32, name: &str) -> RemoteRepo {
    RemoteRepo {
        id: id.to_string(),
        full_name: name.into(),
        clone_url: format!("https://github.example/{name}.git"),
        default_branch: Some("main".into()),
        private: true,
    }
}

fn state_of(url: &str) -> String {
    url.split("state=")
        .nth(1)
        .expect("install URL carries a state")
        .to_owned()
}

async fn connect(app: &App, user: &TestUser) {
    let url = app
        .send(Req::get("/v1/integrations/github/install").bearer(&user.token))
        .await
        .expect(StatusCode::OK)
        .str("/url");
    app.send(Req::get(format!(
        "/v1/integrations/github/callback?state={}&installation_id=77&setup_action=install",
        state_of(&url)
    )))
    .await
    .expect(StatusCode::OK);
}

async fn webhook_secret(app: &App, owner: &TestUser) -> String {
    app.send(Req::get("/v1/account").bearer(&owner.token))
        .await
        .expect(StatusCode::OK)
        .str("/webhook_secret")
}

fn delivery(path: &str, event: &str, id: &str, sig: Option<String>, body: &[u8]) -> Req {
    let mut r = Req::post(path.to_owned())
        .header(HeaderName::from_static("x-github-event"), event)
        .header(HeaderName::from_static("x-github-delivery"), id)
        .header(HeaderName::from_static("content-type"), "application/json")
        .body(body.to_vec());
    if let Some(sig) = sig {
        r = r.header(HeaderName::from_static("x-hub-signature-256"), sig);
    }
    r
}

fn push_body(repo_id: u32, full_name: &str, branch: &str, head: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ref": format!("refs/heads/{branch}"),
        "before": "0000000000000000000000000000000000000000",
        "after": head,
        "repository": {"id": repo_id, "full_name": full_name},
        "pusher": {"name": "octocat"},
    }))
    .expect("json")
}

#[tokio::test]
async fn connect_state_round_trip_single_use_expiry_and_denial() {
    let app = App::with_settings(|s| s.web_url = Some(WEB.into()));
    let alice = app.owner("alice@a.example").await;
    let r = app.send(Req::get("/v1/integrations").bearer(&alice.token)).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.json["integrations"][0]["provider"], "github");
    assert_eq!(r.json["integrations"][0]["configured"], true);
    assert_eq!(r.json["integrations"][0]["connected"], false);

    // No state, a forged state: the seed's message.
    let msg = app
        .send(Req::get("/v1/integrations/github/callback?installation_id=77"))
        .await
        .error(StatusCode::BAD_REQUEST, "install_state_invalid");
    assert_eq!(msg, "invalid or expired install state");
    let url = app
        .send(Req::get("/v1/integrations/github/install").bearer(&alice.token))
        .await
        .expect(StatusCode::OK)
        .str("/url");
    let state = state_of(&url);
    let mut forged = state.clone();
    forged.pop();
    forged.push(if state.ends_with('0') { '1' } else { '0' });
    app.send(Req::get(format!(
        "/v1/integrations/github/callback?state={forged}&installation_id=77"
    )))
    .await
    .error(StatusCode::BAD_REQUEST, "install_state_invalid");

    // The real one works once.
    let cb = format!("/v1/integrations/github/callback?state={state}&installation_id=77&setup_action=install");
    let r = app.send(Req::get(cb.clone())).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.json["installation"]["external_id"], "77");
    app.send(Req::get(cb))
        .await
        .error(StatusCode::BAD_REQUEST, "install_state_invalid");
    let r = app.send(Req::get("/v1/integrations").bearer(&alice.token)).await;
    assert_eq!(r.json["integrations"][0]["connected"], true, "{}", r.text);

    // Denied on the host.
    let url = app
        .send(Req::get("/v1/integrations/github/install").bearer(&alice.token))
        .await
        .str("/url");
    let msg = app
        .send(Req::get(format!(
            "/v1/integrations/github/callback?state={}&error=access_denied",
            state_of(&url)
        )))
        .await
        .error(StatusCode::FORBIDDEN, "provider_access_denied");
    assert_eq!(msg, "GitHub access was denied");

    // Expired after 15 minutes.
    let url = app
        .send(Req::get("/v1/integrations/github/install").bearer(&alice.token))
        .await
        .str("/url");
    app.clock.advance(chrono::Duration::minutes(16));
    app.send(Req::get(format!(
        "/v1/integrations/github/callback?state={}&installation_id=77",
        state_of(&url)
    )))
    .await
    .error(StatusCode::BAD_REQUEST, "install_state_invalid");

    // A browser is sent back to the repos page.
    let url = app
        .send(Req::get("/v1/integrations/github/install").bearer(&alice.token))
        .await
        .str("/url");
    let r = app
        .send(
            Req::get(format!(
                "/v1/integrations/github/callback?state={}&installation_id=77",
                state_of(&url)
            ))
            .header(axum::http::header::ACCEPT, "text/html"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(r.headers["location"], "/repos?connected=github");
}

#[tokio::test]
async fn picker_add_push_reindex_forgeries_retry_and_disconnect() {
    let app = App::with_settings(|s| s.web_url = Some(WEB.into()));
    let alice = app.owner("alice@a.example").await;
    let member = app.member(&alice, "m@a.example").await;
    let bob = app.owner("bob@b.example").await;
    app.github.set_repos(vec![
        remote(1, "acme/Widgets"),
        remote(2, "acme/api"),
        remote(3, "other/API-docs"),
    ]);
    app.send(Req::get("/v1/integrations/github/repos").bearer(&alice.token))
        .await
        .error(StatusCode::CONFLICT, "not_connected");
    connect(&app, &alice).await;

    // Picker: case-insensitive filter, pages.
    let r = app
        .send(Req::get("/v1/integrations/github/repos?filter=API&per_page=1").bearer(&alice.token))
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(r.json["repos"][0]["full_name"], "acme/api");
    assert_eq!(r.json["has_more"], true);
    let r = app
        .send(Req::get("/v1/integrations/github/repos?filter=api&per_page=1&page=2").bearer(&alice.token))
        .await;
    assert_eq!(r.json["repos"][0]["full_name"], "other/API-docs");
    assert_eq!(r.json["has_more"], false);

    // Add: webhook registered with the account's secret, first index.
    let url = "https://github.example/acme/api.git";
    let c1 = app.push(url, &[("a.rs", "fn one() {}")]);
    let r = app
        .send(
            Req::post("/v1/integrations/github/repos")
                .bearer(&alice.token)
                .json(&json!({"repo": "ACME/API"})),
        )
        .await;
    r.expect(StatusCode::ACCEPTED);
    let repo = r.str("/id");
    assert_eq!(r.json["webhook"]["status"], "registered", "{}", r.text);
    assert_eq!(r.json["webhook"]["provider_repo_id"], "2");
    let secret = webhook_secret(&app, &alice).await;
    let hooks = app.github.hooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].url, format!("{WEB}/v1/github/webhook/{}", alice.account_id));
    assert_eq!(hooks[0].secret, secret);
    app.work().await;
    let r = app
        .send(Req::get(format!("/v1/repos/{repo}")).bearer(&alice.token))
        .await;
    assert_eq!(r.json["indexed_commit"], c1.as_str(), "{}", r.text);

    // A signed push moves the index to the new head.
    let hook = format!("/v1/github/webhook/{}", alice.account_id);
    let c2 = app.push(url, &[("a.rs", "fn two() {}")]);
    let body = push_body(2, "acme/api", "main", &c2);
    let sig = hmac_sha256_signature(secret.as_bytes(), &body);
    let r = app.send(delivery(&hook, "push", "d-1", Some(sig.clone()), &body)).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.json["outcome"], "queued");
    assert_eq!(app.work().await, 1, "one re-index job");
    let r = app
        .send(Req::get(format!("/v1/repos/{repo}")).bearer(&alice.token))
        .await;
    assert_eq!(r.json["indexed_commit"], c2.as_str(), "{}", r.text);
    assert_eq!(r.json["webhook"]["deliveries"][0]["outcome"], "queued", "{}", r.text);

    // Forged, unsigned, changed, replayed, other account: 401 and nothing queued.
    let c3 = app.push(url, &[("a.rs", "fn three() {}")]);
    let body3 = push_body(2, "acme/api", "main", &c3);
    let good3 = hmac_sha256_signature(secret.as_bytes(), &body3);
    let mut changed = body3.clone();
    let last = changed.len() - 2;
    changed[last] ^= 0x01;
    let bad = [
        delivery(
            &hook,
            "push",
            "d-2",
            Some(hmac_sha256_signature(b"wrong", &body3)),
            &body3,
        ),
        delivery(&hook, "push", "d-3", None, &body3),
        delivery(&hook, "push", "d-4", Some(good3.clone()), &changed),
        delivery(&hook, "push", "d-1", Some(sig.clone()), &body),
        delivery(
            &format!("/v1/github/webhook/{}", bob.account_id),
            "push",
            "d-5",
            Some(good3.clone()),
            &body3,
        ),
        delivery(&hook, "push", "d-6", Some("sha256=zz".into()), &body3),
        delivery(
            "/v1/github/webhook/not-an-id",
            "push",
            "d-7",
            Some(good3.clone()),
            &body3,
        ),
    ];
    for req in bad {
        app.send(req).await.error(StatusCode::UNAUTHORIZED, "webhook_rejected");
    }
    // Signed but malformed, and oversized.
    let junk = b"{not json".to_vec();
    let junk_sig = hmac_sha256_signature(secret.as_bytes(), &junk);
    app.send(delivery(&hook, "push", "d-8", Some(junk_sig), &junk))
        .await
        .error(StatusCode::UNAUTHORIZED, "webhook_rejected");
    let huge = vec![b' '; lettuce_engine::WEBHOOK_MAX_BODY + 1];
    let huge_sig = hmac_sha256_signature(secret.as_bytes(), &huge);
    app.send(delivery(&hook, "push", "d-9", Some(huge_sig), &huge))
        .await
        .error(StatusCode::UNAUTHORIZED, "webhook_rejected");
    assert_eq!(app.work().await, 0, "nothing was queued by rejected deliveries");
    let r = app
        .send(Req::get(format!("/v1/repos/{repo}")).bearer(&alice.token))
        .await;
    assert_eq!(r.json["indexed_commit"], c2.as_str());

    // Other branches are ignored; pings answered.
    let other = push_body(2, "acme/api", "feature", &c3);
    let r = app
        .send(delivery(
            &hook,
            "push",
            "d-10",
            Some(hmac_sha256_signature(secret.as_bytes(), &other)),
            &other,
        ))
        .await;
    assert_eq!(r.json["outcome"], "ignored", "{}", r.text);
    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1,"repository":{"id":2}}"#;
    let r = app
        .send(delivery(
            &hook,
            "ping",
            "d-11",
            Some(hmac_sha256_signature(secret.as_bytes(), ping)),
            ping,
        ))
        .await;
    assert_eq!(r.json["outcome"], "ping", "{}", r.text);
    assert_eq!(app.work().await, 0);
    let r = app
        .send(Req::get(format!("/v1/repos/{repo}")).bearer(&alice.token))
        .await;
    let outcomes: Vec<&str> = r.json["webhook"]["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .filter_map(|d| d["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["ping", "ignored", "queued"], "{}", r.text);

    // Missing webhook permission: the repo is added, the failure recorded with the fix; retry works.
    app.github.fail_next_hook(GitError::PermissionDenied {
        message: "the GitHub App lacks the `Webhooks: Read & write` permission".into(),
    });
    app.push("https://github.example/acme/Widgets.git", &[("w.rs", "fn w() {}")]);
    let r = app
        .send(
            Req::post("/v1/integrations/github/repos")
                .bearer(&alice.token)
                .json(&json!({"repo": "1"})),
        )
        .await;
    r.expect(StatusCode::ACCEPTED);
    let widgets = r.str("/id");
    assert_eq!(r.json["webhook"]["status"], "failed");
    let err = r.str("/webhook/error");
    assert!(
        err.contains("re-grant the permission, then retry webhook setup"),
        "{err}"
    );
    app.send(Req::post(format!("/v1/repos/{widgets}/webhook")).bearer(&bob.token))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    let r = app
        .send(Req::post(format!("/v1/repos/{widgets}/webhook")).bearer(&alice.token))
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(r.json["status"], "registered", "{}", r.text);

    // The host refuses the installation at clone time (App uninstalled):
    // the repo fails with the host's message and the connection is flagged
    // "reconnect".
    app.work().await;
    app.github
        .fail_next_credentials(lettuce_ports::git::GitError::Unauthorized {
            message: "the GitHub App installation is gone (uninstalled or suspended)".into(),
        });
    app.send(Req::post(format!("/v1/repos/{repo}/reindex")).bearer(&alice.token))
        .await
        .expect(StatusCode::ACCEPTED);
    app.work().await;
    let r = app
        .send(Req::get(format!("/v1/repos/{repo}")).bearer(&alice.token))
        .await;
    assert!(
        r.json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("installation is gone"),
        "{}",
        r.text
    );
    let r = app.send(Req::get("/v1/integrations").bearer(&alice.token)).await;
    assert_eq!(
        r.json["integrations"][0]["installation"]["needs_reauth"], true,
        "{}",
        r.text
    );

    // Disconnect: owners only; repos stay.
    app.send(Req::delete("/v1/integrations/github").bearer(&member.token))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    app.send(Req::delete("/v1/integrations/github").bearer(&alice.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    let r = app.send(Req::get("/v1/repos").bearer(&alice.token)).await;
    assert_eq!(r.json["repos"].as_array().map(Vec::len), Some(2), "{}", r.text);
    let r = app.send(Req::get("/v1/integrations").bearer(&alice.token)).await;
    assert_eq!(r.json["integrations"][0]["connected"], false);
    app.send(Req::get("/v1/integrations/github/repos").bearer(&alice.token))
        .await
        .error(StatusCode::CONFLICT, "not_connected");

    // Not configured: 503 naming it, on every GitHub route.
    app.github.set_configured(false);
    let r = app.send(Req::get("/v1/integrations").bearer(&alice.token)).await;
    assert_eq!(r.json["integrations"][0]["configured"], false);
    let msg = app
        .send(Req::get("/v1/integrations/github/install").bearer(&alice.token))
        .await
        .error(StatusCode::SERVICE_UNAVAILABLE, "provider_not_configured");
    assert!(msg.contains("not configured on this Lettuce instance"), "{msg}");
    app.send(delivery(&hook, "push", "d-12", Some(sig), &body))
        .await
        .error(StatusCode::SERVICE_UNAVAILABLE, "provider_not_configured");
    app.send(Req::get("/v1/integrations/gitlab/install").bearer(&alice.token))
        .await
        .error(StatusCode::NOT_FOUND, "provider_unknown");
}

async fn health(app: &App, user: &TestUser, repo: &str) -> serde_json::Value {
    let r = app
        .send(Req::get(format!("/v1/repos/{repo}")).bearer(&user.token))
        .await;
    r.expect(StatusCode::OK);
    r.json
}

#[tokio::test]
async fn webhook_check_repairs_hooks_and_falls_back_to_polling() {
    let app = App::with_settings(|s| s.web_url = Some(WEB.into()));
    let alice = app.owner("alice@a.example").await;
    app.github.set_repos(vec![remote(2, "acme/api")]);
    connect(&app, &alice).await;
    let url = "https://github.example/acme/api.git";
    let c1 = app.push(url, &[("a.rs", "fn one() {}")]);
    let r = app
        .send(
            Req::post("/v1/integrations/github/repos")
                .bearer(&alice.token)
                .json(&json!({"repo": "acme/api"})),
        )
        .await;
    r.expect(StatusCode::ACCEPTED);
    let repo = r.str("/id");
    assert_eq!(r.json["webhook"]["mode"], "webhook");
    assert!(r.json["webhook"]["last_check"].is_null());
    app.work().await;

    // All well: nothing repaired, nothing queued; the health says so. The
    // check runs as the periodic job.
    app.engine.freshness_tick().await.expect("tick");
    app.engine.freshness_tick().await.expect("tick");
    assert_eq!(app.work().await, 1, "one check job per interval, however many ticks");
    let h = health(&app, &alice, &repo).await;
    assert_eq!(h["indexed_commit"], c1.as_str());
    assert_eq!(h["webhook"]["mode"], "webhook", "{h}");
    assert!(h["webhook"]["last_check"].is_string(), "{h}");
    assert_eq!(
        h["webhook"]["check_note"], "webhook registered and active; index up to date",
        "{h}"
    );

    // The hook is deleted on the host and a push arrives without a delivery:
    // one check re-registers the hook, notices the moved head, switches to
    // polling and re-indexes.
    let old_hook = app.github.hooks()[0].id.clone();
    app.github.delete_hook_on_host(&old_hook);
    let c2 = app.push(url, &[("a.rs", "fn two() {}")]);
    app.clock.advance(chrono::Duration::minutes(15));
    let report = app.engine.check_webhooks().await.expect("check");
    assert_eq!(
        (report.repaired, report.now_polling, report.reindexed),
        (1, 1, 1),
        "{report:?}"
    );
    let hooks = app.github.hooks();
    assert_eq!(hooks.len(), 1, "re-registered");
    assert_ne!(hooks[0].id, old_hook);
    assert_eq!(hooks[0].url, format!("{WEB}/v1/github/webhook/{}", alice.account_id));
    app.work().await;
    let h = health(&app, &alice, &repo).await;
    assert_eq!(h["indexed_commit"], c2.as_str(), "the push reached the index: {h}");
    assert_eq!(h["webhook"]["mode"], "polling", "{h}");
    assert_eq!(h["webhook"]["hook_id"], hooks[0].id.as_str());
    let note = h["webhook"]["check_note"].as_str().expect("note");
    assert!(note.contains("deleted on the code host"), "{note}");
    assert!(note.contains("webhook unreachable"), "{note}");

    // While polling, each check follows the head.
    let c3 = app.push(url, &[("a.rs", "fn three() {}")]);
    app.clock.advance(chrono::Duration::minutes(15));
    let report = app.engine.check_webhooks().await.expect("check");
    assert_eq!((report.repaired, report.reindexed), (0, 1), "{report:?}");
    app.work().await;
    assert_eq!(health(&app, &alice, &repo).await["indexed_commit"], c3.as_str());

    // A delivery arrives again: back to webhooks.
    let secret = webhook_secret(&app, &alice).await;
    let c4 = app.push(url, &[("a.rs", "fn four() {}")]);
    let body = push_body(2, "acme/api", "main", &c4);
    let sig = hmac_sha256_signature(secret.as_bytes(), &body);
    let hook = format!("/v1/github/webhook/{}", alice.account_id);
    app.send(delivery(&hook, "push", "d-back", Some(sig), &body))
        .await
        .expect(StatusCode::OK);
    app.work().await;
    let h = health(&app, &alice, &repo).await;
    assert_eq!(h["indexed_commit"], c4.as_str());
    assert_eq!(h["webhook"]["mode"], "webhook", "{h}");
    assert!(h["webhook"]["last_delivery"].is_string(), "{h}");

    // A hook the host deactivated is replaced.
    let current = app.github.hooks()[0].id.clone();
    app.github.deactivate_hook(&current);
    app.clock.advance(chrono::Duration::minutes(15));
    let report = app.engine.check_webhooks().await.expect("check");
    assert_eq!((report.repaired, report.reindexed), (1, 0), "{report:?}");
    let hooks = app.github.hooks();
    assert_eq!(hooks.len(), 1, "the inactive hook was deleted, a new one registered");
    assert!(hooks[0].active && hooks[0].id != current);
    let note = health(&app, &alice, &repo).await["webhook"]["check_note"].clone();
    assert!(note.as_str().unwrap_or_default().contains("deactivated"), "{note}");

    // A hook pointing at an old address (LETTUCE_WEB_URL changed) is replaced.
    let current = app.github.hooks()[0].id.clone();
    app.github
        .repoint_hook(&current, "https://old-lettuce.example/v1/github/webhook/x");
    app.clock.advance(chrono::Duration::minutes(15));
    let report = app.engine.check_webhooks().await.expect("check");
    assert_eq!(report.repaired, 1, "{report:?}");
    let hooks = app.github.hooks();
    assert_eq!(hooks.len(), 1, "the stale hook was deleted");
    assert_eq!(hooks[0].url, format!("{WEB}/v1/github/webhook/{}", alice.account_id));
    let note = health(&app, &alice, &repo).await["webhook"]["check_note"].clone();
    assert!(
        note.as_str()
            .unwrap_or_default()
            .contains("pointed at https://old-lettuce.example"),
        "{note}"
    );

    // A host API failure while checking is reported, not counted as a repair.
    app.github.set_configured(false);
    app.clock.advance(chrono::Duration::minutes(15));
    let report = app.engine.check_webhooks().await.expect("check");
    assert_eq!(report.repaired, 0, "{report:?}");
    let note = health(&app, &alice, &repo).await["webhook"]["check_note"].clone();
    assert!(note.as_str().unwrap_or_default().contains("not configured"), "{note}");
    app.github.set_configured(true);

    // The head check reads the remote with the installation's credentials.
    app.github.set_token(Some("inst-token"));
    app.clock.advance(chrono::Duration::minutes(15));
    app.engine.check_webhooks().await.expect("check");
    let last = app.mirror.head_checks().pop().expect("a head check");
    assert_eq!(last.branch.as_deref(), Some("main"));
    assert_eq!(
        last.url.credentials().map(|c| c.password.expose().to_owned()),
        Some("inst-token".to_owned())
    );
}

#[tokio::test]
async fn polling_budget_is_per_host_and_zero_turns_head_checks_off() {
    let app = App::with_settings(|s| {
        s.web_url = Some(WEB.into());
        s.freshness.poll_budget_per_host = 1;
    });
    let alice = app.owner("alice@a.example").await;
    app.github.set_repos(vec![remote(1, "acme/one"), remote(2, "acme/two")]);
    connect(&app, &alice).await;
    for name in ["acme/one", "acme/two"] {
        app.push(&format!("https://github.example/{name}.git"), &[("a.rs", "fn a() {}")]);
        app.send(
            Req::post("/v1/integrations/github/repos")
                .bearer(&alice.token)
                .json(&json!({"repo": name})),
        )
        .await
        .expect(StatusCode::ACCEPTED);
    }
    app.work().await;
    let report = app.engine.check_webhooks().await.expect("check");
    assert_eq!((report.checked, report.over_budget), (2, 1), "{report:?}");
    assert_eq!(
        app.mirror.head_checks().len(),
        1,
        "one head check for the host this hour"
    );
    app.clock.advance(chrono::Duration::hours(1));
    let report = app.engine.check_webhooks().await.expect("check");
    assert_eq!(report.over_budget, 1, "a new hour, a new budget of one");
    assert_eq!(app.mirror.head_checks().len(), 2);

    let off = App::with_settings(|s| {
        s.web_url = Some(WEB.into());
        s.freshness.poll_budget_per_host = 0;
    });
    let bob = off.owner("bob@b.example").await;
    off.github.set_repos(vec![remote(1, "acme/one")]);
    connect(&off, &bob).await;
    off.push("https://github.example/acme/one.git", &[("a.rs", "fn a() {}")]);
    off.send(
        Req::post("/v1/integrations/github/repos")
            .bearer(&bob.token)
            .json(&json!({"repo": "acme/one"})),
    )
    .await
    .expect(StatusCode::ACCEPTED);
    off.work().await;
    let report = off.engine.check_webhooks().await.expect("check");
    assert_eq!((report.checked, report.over_budget), (1, 0));
    assert!(
        off.mirror.head_checks().is_empty(),
        "budget 0: hooks only, no head checks"
    );
}

#[tokio::test]
async fn oauth_tokens_are_sealed_refreshed_before_expiry_and_a_refused_refresh_asks_to_reconnect() {
    use lettuce_domain::Secret;
    use lettuce_domain::codehost::ProviderCredentials;
    let app = App::with_settings(|s| s.web_url = Some(WEB.into()));
    let alice = app.owner("alice@a.example").await;
    app.github.set_repos(vec![remote(2, "acme/api")]);
    let now = lettuce_ports::clock::Clock::now(app.clock.as_ref());
    app.github.set_grant_credentials(Some(ProviderCredentials {
        access_token: Secret::new("access-1"),
        refresh_token: Some(Secret::new("refresh-1")),
        expires_at: Some(now + chrono::Duration::hours(2)),
    }));
    connect(&app, &alice).await;

    // Stored sealed: the row holds no token in the clear.
    let stored = lettuce_ports::store::MetadataStore::get_installation(
        app.store.as_ref(),
        alice.account_id.parse().expect("account id"),
        "github",
    )
    .await
    .expect("store")
    .expect("installation");
    let sealed = stored.sealed_credentials.clone().expect("sealed credentials stored");
    assert!(
        !sealed.contains("access-1") && !sealed.contains("refresh-1"),
        "{sealed}"
    );
    assert!(stored.credentials.is_none(), "open credentials are never stored");

    // Fresh: used as they are.
    app.send(Req::get("/v1/integrations/github/repos").bearer(&alice.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(app.github.refreshes(), 0);
    assert_eq!(
        app.github.seen_access_tokens().last().map(String::as_str),
        Some("access-1")
    );

    // Within five minutes of expiry: refreshed first, the new tokens kept.
    app.clock.advance(chrono::Duration::minutes(116));
    app.github.set_refresh(Ok(ProviderCredentials {
        access_token: Secret::new("access-2"),
        refresh_token: Some(Secret::new("refresh-2")),
        expires_at: Some(lettuce_ports::clock::Clock::now(app.clock.as_ref()) + chrono::Duration::hours(2)),
    }));
    app.send(Req::get("/v1/integrations/github/repos").bearer(&alice.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(app.github.refreshes(), 1);
    assert_eq!(
        app.github.seen_access_tokens().last().map(String::as_str),
        Some("access-2")
    );
    app.send(Req::get("/v1/integrations/github/repos").bearer(&alice.token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(app.github.refreshes(), 1, "the refreshed token is stored and reused");

    // The host refuses the refresh token: reconnect.
    app.clock.advance(chrono::Duration::hours(3));
    app.github.set_refresh(Err(GitError::Unauthorized {
        message: "the refresh token is invalid or revoked".into(),
    }));
    let msg = app
        .send(Req::get("/v1/integrations/github/repos").bearer(&alice.token))
        .await
        .error(StatusCode::FORBIDDEN, "provider_unauthorized");
    assert!(msg.contains("reconnect"), "{msg}");
    let r = app.send(Req::get("/v1/integrations").bearer(&alice.token)).await;
    assert_eq!(
        r.json["integrations"][0]["installation"]["needs_reauth"], true,
        "{}",
        r.text
    );
}
