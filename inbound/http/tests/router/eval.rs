//! `POST/GET /v1/repos/{id}/eval`: starting a run (202), one at a time
//! (409 `eval_running`), only on an indexed repo (409 `repo_not_indexed`),
//! `commits` bounds (400), the latest run read back (404 `eval_not_found`
//! before the first), another account's repo 404, and the worker recording
//! the outcome (this harness has no code search, so the run fails with the
//! reason; the figures themselves are tested in the engine).

use crate::support::{App, REPO_URL, Req};
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn eval_runs_are_started_one_at_a_time_and_read_back() {
    let app = App::new();
    let ada = app.owner("ada@example.com").await;
    let bob = app.owner("bob@example.com").await;
    app.push(REPO_URL, &[("src/lib.rs", "pub fn a() {}\n")]);
    let id = app.add_repo(&ada, REPO_URL).await;
    let url = format!("/v1/repos/{id}/eval");

    // Never run: 404 with a stable code and what to do.
    let none = app.send(Req::get(url.clone()).bearer(&ada.token)).await;
    let msg = none.error(StatusCode::NOT_FOUND, "eval_not_found");
    assert!(msg.contains("POST"), "{msg}");
    // Not indexed yet: a clear refusal, nothing recorded.
    let early = app.send(Req::post(url.clone()).bearer(&ada.token)).await;
    let msg = early.error(StatusCode::CONFLICT, "repo_not_indexed");
    assert!(msg.contains("not indexed yet"), "{msg}");
    app.send(Req::get(url.clone()).bearer(&ada.token))
        .await
        .error(StatusCode::NOT_FOUND, "eval_not_found");
    app.work().await;

    for bad in [0, 201] {
        app.send(
            Req::post(url.clone())
                .bearer(&ada.token)
                .json(&json!({ "commits": bad })),
        )
        .await
        .error_with_field(StatusCode::BAD_REQUEST, "validation_failed", "commits");
    }

    let started = app.send(Req::post(url.clone()).bearer(&ada.token)).await;
    started.expect(StatusCode::ACCEPTED);
    assert_eq!(started.json["status"], "queued");
    assert_eq!(started.json["commits"], 50, "the default");
    assert_eq!(started.json["repo_id"], id.as_str());
    assert_eq!(started.json["progress"], json!({"done": 0, "total": 0}));
    assert!(started.json["report"].is_null());

    let twice = app
        .send(Req::post(url.clone()).bearer(&ada.token).json(&json!({"commits": 5})))
        .await;
    let msg = twice.error(StatusCode::CONFLICT, "eval_running");
    assert!(msg.contains("already queued"), "{msg}");

    let got = app.send(Req::get(url.clone()).bearer(&ada.token)).await;
    got.expect(StatusCode::OK);
    assert_eq!(got.json["status"], "queued");
    assert!(got.json["queued_at"].is_string());

    // Another account: 404 as for every other route of the repo.
    for req in [Req::get(url.clone()), Req::post(url.clone())] {
        app.send(req.bearer(&bob.token))
            .await
            .error(StatusCode::NOT_FOUND, "not_found");
    }

    // The worker runs it; without code search it fails and says why.
    assert_eq!(app.work().await, 1);
    let got = app.send(Req::get(url.clone()).bearer(&ada.token)).await;
    assert_eq!(got.json["status"], "failed", "{}", got.text);
    assert!(
        got.json["error"]
            .as_str()
            .is_some_and(|e| e.contains("code search is not configured")),
        "{}",
        got.text
    );
    assert!(got.json["finished_at"].is_string(), "{}", got.text);

    // A finished run is replaced by a new one.
    let again = app
        .send(Req::post(url.clone()).bearer(&ada.token).json(&json!({"commits": 5})))
        .await;
    again.expect(StatusCode::ACCEPTED);
    assert_eq!(again.json["commits"], 5);
    assert_eq!(
        app.send(Req::get(url.clone()).bearer(&ada.token)).await.json["status"],
        "queued"
    );

    // Deleting the repo deletes its run.
    app.send(Req::delete(format!("/v1/repos/{id}")).bearer(&ada.token))
        .await
        .expect(StatusCode::NO_CONTENT);
    app.send(Req::get(url).bearer(&ada.token))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}
