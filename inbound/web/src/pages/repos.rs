//! Repos: the list with live status (htmx polls `/repos/rows` while any repo
//! is pending or indexing), add by URL, re-index, delete with confirmation.

use crate::WebState;
use crate::render::{ago, when};
use crate::viewer::{Viewer, WebForm};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lettuce_domain::RepoId;
use lettuce_domain::repo::{Repo, RepoStatus};
use lettuce_engine::AddRepoRequest;
use lettuce_http::ApiError;
use minijinja::{Value, context};
use serde::Deserialize;
use uuid::Uuid;

/// What to do about a failed repo, from its error text.
fn action_for(error: &str) -> &'static str {
    let e = error.to_ascii_lowercase();
    if e.contains("auth")
        || e.contains("credential")
        || e.contains("permission")
        || e.contains("403")
        || e.contains("401")
    {
        "Check that the URL's credentials (or the code host's access) can read this repository, then delete and add it again with a working URL."
    } else if e.contains("not found") || e.contains("404") || e.contains("does not exist") {
        "Check the URL and branch: the repository or branch was not found. Delete it and add the right URL."
    } else if e.contains("private") || e.contains("forbidden") {
        "The address is not allowed from this server; see the note under \"Add a repository\"."
    } else if e.contains("timed out") || e.contains("timeout") || e.contains("unreachable") || e.contains("connect") {
        "The repository host did not answer. Check that it is reachable from the server, then re-index."
    } else {
        "Fix the cause named above, then re-index."
    }
}

fn repo_view(r: &Repo) -> Value {
    let live = matches!(r.status, RepoStatus::Pending | RepoStatus::Indexing);
    let pct = (r.progress.files_total > 0).then(|| r.progress.files_done.saturating_mul(100) / r.progress.files_total);
    context! {
        id => r.id.0.to_string(),
        name => r.name.clone(),
        url => r.url.clone(),
        branch => r.branch.clone(),
        status => r.status.as_str(),
        live => live,
        files_done => r.progress.files_done,
        files_total => r.progress.files_total,
        percent => pct,
        commit => r.indexed_commit.as_deref().map(|c| c.chars().take(12).collect::<String>()),
        indexed_ago => r.indexed_at.map(ago),
        indexed_at => r.indexed_at.map(when),
        error => r.error.clone(),
        action => r.error.as_deref().map(action_for),
    }
}

fn rows_ctx(repos: &[Repo]) -> Value {
    context! {
        repos => repos.iter().map(repo_view).collect::<Vec<_>>(),
        polling => repos.iter().any(|r| matches!(r.status, RepoStatus::Pending | RepoStatus::Indexing)),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Flash {
    #[serde(default)]
    done: Option<String>,
}

fn flash(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "added" => Some("Repository added; indexing has started."),
        "reindex" => Some("Re-index queued; queries keep answering from the current index meanwhile."),
        "deleted" => Some("Repository deleted; its index is removed in the background."),
        _ => None,
    }
}

async fn render(s: &WebState, viewer: &Viewer, status: StatusCode, notice: Option<&str>, form: Value) -> Response {
    let base = s.base(viewer, "repos").await;
    let repos = match s.engine.list_repos(&viewer.caller).await {
        Ok(r) => r,
        Err(e) => return s.error_page(Some(viewer), e.into()),
    };
    let license = s.engine.license_status(&viewer.caller).await;
    let cap = license.claims.filter(|_| license.gated).map(|c| c.repo_cap);
    let limit_reached = cap.is_some_and(|c| repos.len() as u64 >= u64::from(c));
    let ctx = context! {
        notice => notice,
        form => form,
        rows => rows_ctx(&repos),
        repo_cap => cap,
        limit_reached => limit_reached,
        ..base
    };
    s.page_with(status, "repos.html", ctx)
}

/// `GET /repos`.
pub(crate) async fn page(State(s): State<WebState>, viewer: Viewer, Query(q): Query<Flash>) -> Response {
    if !matches!(viewer.caller, lettuce_engine::Caller::User(_)) {
        return Redirect::to("/admin").into_response();
    }
    render(&s, &viewer, StatusCode::OK, flash(q.done.as_deref()), Value::UNDEFINED).await
}

/// `GET /repos/rows`: the table body alone (htmx polling).
pub(crate) async fn rows(State(s): State<WebState>, viewer: Viewer) -> Response {
    match s.engine.list_repos(&viewer.caller).await {
        Ok(repos) => s.page(
            "repo_rows.html",
            context! { rows => rows_ctx(&repos), csrf => viewer.csrf.clone() },
        ),
        Err(e) => s.error_page(Some(&viewer), e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AddForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    branch: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /repos`: add by URL.
pub(crate) async fn add(State(s): State<WebState>, viewer: Viewer, WebForm(f): WebForm<AddForm>) -> Response {
    if let Err(r) = viewer.check_csrf(&s, &f.csrf_token) {
        return r;
    }
    let branch = Some(f.branch.trim().to_owned()).filter(|b| !b.is_empty());
    let req = AddRepoRequest {
        url: f.url.trim().to_owned(),
        branch: branch.clone(),
    };
    match s.engine.add_repo(&viewer.caller, req).await {
        Ok(_) => Redirect::to("/repos?done=added").into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            let ssrf = e.code == "repo_url_forbidden";
            let form = context! {
                url => f.url,
                branch => branch,
                error => e.message,
                field => e.field.unwrap_or("url"),
                ssrf => ssrf,
                code => e.code,
            };
            render(&s, &viewer, e.status, None, form).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

fn repo_id(s: &WebState, viewer: &Viewer, raw: &str) -> Result<RepoId, Response> {
    Uuid::parse_str(raw).map(RepoId).map_err(|_| {
        s.error_page(
            Some(viewer),
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "repo not found"),
        )
    })
}

/// `POST /repos/{id}/reindex`.
pub(crate) async fn reindex(
    State(s): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfForm>,
) -> Response {
    if let Err(r) = viewer.check_csrf(&s, &f.csrf_token) {
        return r;
    }
    let id = match repo_id(&s, &viewer, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    match s.engine.reindex_repo(&viewer.caller, id).await {
        Ok(_) => Redirect::to("/repos?done=reindex").into_response(),
        Err(e) => s.error_page(Some(&viewer), e.into()),
    }
}

/// `GET /repos/{id}/delete`: the confirmation page.
pub(crate) async fn confirm_delete(State(s): State<WebState>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let id = match repo_id(&s, &viewer, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    match s.engine.get_repo(&viewer.caller, id).await {
        Ok(r) => {
            let base = s.base(&viewer, "repos").await;
            s.page("repo_delete.html", context! { repo => repo_view(&r), ..base })
        }
        Err(e) => s.error_page(Some(&viewer), e.into()),
    }
}

/// `POST /repos/{id}/delete`.
pub(crate) async fn delete(
    State(s): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfForm>,
) -> Response {
    if let Err(r) = viewer.check_csrf(&s, &f.csrf_token) {
        return r;
    }
    let id = match repo_id(&s, &viewer, &id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    match s.engine.delete_repo(&viewer.caller, id).await {
        Ok(()) => Redirect::to("/repos?done=deleted").into_response(),
        Err(e) => s.error_page(Some(&viewer), e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::action_for;

    #[test]
    fn failures_name_an_action() {
        assert!(action_for("authentication failed for https://x").contains("credentials"));
        assert!(action_for("remote branch not found").contains("not found"));
        assert!(action_for("something odd").contains("re-index"));
    }
}
