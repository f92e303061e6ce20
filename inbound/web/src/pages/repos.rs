//! Repos: the list with live status (htmx polls `/repos/rows` while any repo
//! is pending or indexing, or an eval runs), add by URL, re-index, run an
//! eval (the last figures in the repo's row), delete with confirmation.

use crate::WebState;
use crate::render::{ago, when};
use crate::viewer::{Viewer, WebForm};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lettuce_domain::RepoId;
use lettuce_domain::eval::EvalRun;
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

/// Webhook health of the linked repos, by repo id.
async fn webhooks(s: &WebState, viewer: &Viewer, repos: &[Repo]) -> std::collections::HashMap<RepoId, Value> {
    let mut out = std::collections::HashMap::new();
    for r in repos {
        if let Ok(Some(h)) = s.engine.webhook_health(&viewer.caller, r.id).await {
            let last = h.deliveries.first().map(|d| {
                context! { event => d.event.clone(), outcome => d.outcome.as_str(), ago => ago(d.at) }
            });
            out.insert(
                r.id,
                context! {
                    provider => h.link.provider,
                    error => h.link.hook_error,
                    last => last,
                    polling => h.link.mode == lettuce_domain::codehost::FreshnessMode::Polling,
                    checked => h.link.checked_at.map(ago),
                    note => h.link.check_note,
                },
            );
        }
    }
    out
}

/// The latest eval run of each repo that has one, by repo id.
async fn evals(s: &WebState, viewer: &Viewer, repos: &[Repo]) -> std::collections::HashMap<RepoId, Value> {
    let mut out = std::collections::HashMap::new();
    for r in repos {
        if let Ok(Some(run)) = s.engine.eval_run_if_any(&viewer.caller, r.id).await {
            out.insert(r.id, eval_view(&run));
        }
    }
    out
}

fn eval_view(run: &EvalRun) -> Value {
    let pct = (run.total > 0).then(|| run.done.saturating_mul(100) / run.total);
    let methods = run.report.as_ref().map(|rep| {
        let m = &rep.methods;
        [
            ("search_code", &m.search_code),
            ("locate", &m.locate),
            ("grep baseline", &m.grep),
        ]
        .into_iter()
        .map(|(name, s)| {
            context! {
                name => name,
                acc_at_1 => format!("{:.0}%", s.acc_at_1),
                acc_at_3 => format!("{:.0}%", s.acc_at_3),
                acc_at_5 => format!("{:.0}%", s.acc_at_5),
                mrr => format!("{:.2}", s.mrr),
                tokens => format!("{:.0}", s.tokens_per_question),
            }
        })
        .collect::<Vec<_>>()
    });
    let ratio = run.report.as_ref().and_then(|rep| {
        let r = &rep.locate_vs_grep;
        Some(format!(
            "locate: {:.1}× grep's first-3 rate with {:.0}× fewer tokens",
            r.acc_at_3_ratio?, r.fewer_tokens?
        ))
    });
    let misses = run.report.as_ref().map(|rep| {
        rep.cases
            .iter()
            .filter(|q| q.locate_missed())
            .map(|q| {
                context! {
                    commit => q.commit.chars().take(12).collect::<String>(),
                    subject => q.subject.clone(),
                    changed => q.changed.join(", "),
                    located => q.locate_files.join(", "),
                    rank => q.locate_rank,
                }
            })
            .collect::<Vec<_>>()
    });
    context! {
        misses => misses,
        status => run.status.as_str(),
        active => run.status.is_active(),
        done => run.done,
        total => run.total,
        percent => pct,
        questions => run.report.as_ref().map(|r| r.questions),
        finished_ago => run.finished_at.map(ago),
        finished_at => run.finished_at.map(when),
        error => run.error.clone(),
        methods => methods,
        ratio => ratio,
    }
}

/// Percent-encodes a query value.
fn query_value(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The code hosts and, when `?pick=<provider>`, one page of its picker.
async fn code_hosts(s: &WebState, viewer: &Viewer, q: &Flash) -> (Vec<Value>, Option<Value>) {
    let hosts = s.engine.list_integrations(&viewer.caller).await.unwrap_or_default();
    let views = hosts
        .iter()
        .map(|h| {
            context! {
                provider => h.provider.clone(),
                display_name => h.display_name.clone(),
                configured => h.configured,
                reason => h.reason.clone(),
                connected => h.installation.is_some(),
                needs_reauth => h.installation.as_ref().is_some_and(|i| i.needs_reauth),
                accepts_token => h.accepts_token,
            }
        })
        .collect();
    let picker = match q.pick.as_deref().and_then(|p| hosts.iter().find(|h| h.provider == p)) {
        None => None,
        Some(h) => {
            let filter = q.filter.clone().filter(|f| !f.trim().is_empty());
            let page = s
                .engine
                .list_provider_repos(&viewer.caller, &h.provider, filter.as_deref(), q.page, None)
                .await;
            let (repos, page_no, has_more, error) = match page {
                Ok(p) => (
                    p.repos
                        .iter()
                        .map(
                            |r| context! { id => r.id.clone(), full_name => r.full_name.clone(), private => r.private },
                        )
                        .collect::<Vec<_>>(),
                    p.page,
                    p.has_more,
                    None,
                ),
                Err(e) => (Vec::new(), 1, false, Some(e.to_string())),
            };
            Some(context! {
                provider => h.provider.clone(),
                display_name => h.display_name.clone(),
                filter_q => query_value(filter.as_deref().unwrap_or_default()),
                filter => filter,
                repos => repos,
                page => page_no,
                has_more => has_more,
                error => error,
            })
        }
    };
    (views, picker)
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

type ById = std::collections::HashMap<RepoId, Value>;

fn rows_ctx(repos: &[Repo], hooks: &ById, evals: &ById) -> Value {
    let eval_live = evals.values().any(|e| e.get_attr("active").is_ok_and(|a| a.is_true()));
    context! {
        repos => repos
            .iter()
            .map(|r| {
                let view = repo_view(r);
                let view = match hooks.get(&r.id) {
                    Some(h) => context! { webhook => h.clone(), ..view },
                    None => view,
                };
                match evals.get(&r.id) {
                    Some(e) => context! { eval => e.clone(), ..view },
                    None => view,
                }
            })
            .collect::<Vec<_>>(),
        polling => eval_live || repos.iter().any(|r| matches!(r.status, RepoStatus::Pending | RepoStatus::Indexing)),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Flash {
    #[serde(default)]
    done: Option<String>,
    /// `?connected=<provider>` after a code-host install.
    #[serde(default)]
    connected: Option<String>,
    /// `?pick=<provider>`: show that host's picker.
    #[serde(default)]
    pick: Option<String>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    page: Option<u32>,
}

fn flash(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "added" => Some("Repository added; indexing has started."),
        "reindex" => Some("Re-index queued; queries keep answering from the current index meanwhile."),
        "eval" => Some(
            "Eval queued: the repository's recent commits are replayed as questions; the figures appear in its row when it finishes.",
        ),
        "deleted" => Some("Repository deleted; its index is removed in the background."),
        "webhook" => Some("Webhook setup retried; see the repository's webhook status."),
        _ => None,
    }
}

async fn render(s: &WebState, viewer: &Viewer, status: StatusCode, notice: Option<&str>, form: Value) -> Response {
    render_with(s, viewer, status, notice, form, &Flash::default()).await
}

async fn render_with(
    s: &WebState,
    viewer: &Viewer,
    status: StatusCode,
    notice: Option<&str>,
    form: Value,
    q: &Flash,
) -> Response {
    let base = s.base(viewer, "repos").await;
    let repos = match s.engine.list_repos(&viewer.caller).await {
        Ok(r) => r,
        Err(e) => return s.error_page(Some(viewer), e.into()),
    };
    let hooks = webhooks(s, viewer, &repos).await;
    let runs = evals(s, viewer, &repos).await;
    let (hosts, picker) = code_hosts(s, viewer, q).await;
    let license = s.engine.license_status(&viewer.caller).await;
    let cap = license.claims.filter(|_| license.gated).map(|c| c.repo_cap);
    let limit_reached = cap.is_some_and(|c| repos.len() as u64 >= u64::from(c));
    let ctx = context! {
        notice => notice,
        form => form,
        rows => rows_ctx(&repos, &hooks, &runs),
        hosts => hosts,
        picker => picker,
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
    let connected = q.connected.as_deref().map(|p| {
        let name = match p {
            "github" => "GitHub",
            "gitlab" => "GitLab",
            "bitbucket" => "Bitbucket",
            _ => "The code host",
        };
        format!("{name} connected: pick repositories below.")
    });
    let notice = connected.as_deref().or_else(|| flash(q.done.as_deref()));
    render_with(&s, &viewer, StatusCode::OK, notice, Value::UNDEFINED, &q).await
}

/// `GET /repos/connect/{provider}`: to the code host's install page.
pub(crate) async fn connect(State(s): State<WebState>, viewer: Viewer, Path(provider): Path<String>) -> Response {
    match s.engine.start_install(&viewer.caller, &provider).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => s.error_page(Some(&viewer), e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PickForm {
    #[serde(default)]
    repo: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /repos/pick/{provider}`: add a repo from the picker.
pub(crate) async fn pick(
    State(s): State<WebState>,
    viewer: Viewer,
    Path(provider): Path<String>,
    WebForm(f): WebForm<PickForm>,
) -> Response {
    if let Err(r) = viewer.check_csrf(&s, &f.csrf_token) {
        return r;
    }
    let req = lettuce_engine::AddProviderRepoRequest {
        repo: f.repo,
        branch: None,
    };
    match s.engine.add_provider_repo(&viewer.caller, &provider, req).await {
        Ok(_) => Redirect::to("/repos?done=added").into_response(),
        Err(e) => s.error_page(Some(&viewer), e.into()),
    }
}

#[derive(Default, Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf_token: String,
}

impl std::fmt::Debug for TokenForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenForm")
            .field("token", &"***")
            .finish_non_exhaustive()
    }
}

/// `POST /repos/token/{provider}`: connect a host with a pasted access
/// token (hosts whose `accepts_token` is true). A refusal is shown next to
/// the field; the token is never rendered back.
pub(crate) async fn connect_token(
    State(s): State<WebState>,
    viewer: Viewer,
    Path(provider): Path<String>,
    WebForm(f): WebForm<TokenForm>,
) -> Response {
    if let Err(r) = viewer.check_csrf(&s, &f.csrf_token) {
        return r;
    }
    let token = lettuce_domain::Secret::new(f.token);
    match s.engine.connect_with_token(&viewer.caller, &provider, token).await {
        Ok(_) => Redirect::to(&format!("/repos?connected={}", query_value(&provider))).into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            let form = context! {
                token_provider => provider,
                token_error => e.message,
            };
            render(&s, &viewer, e.status, None, form).await
        }
    }
}

/// `POST /repos/{id}/webhook`: retry the webhook registration.
pub(crate) async fn retry_webhook(
    State(s): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfForm>,
) -> Response {
    let id = match checked_repo(&s, &viewer, &id, &f.csrf_token) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let outcome = s.engine.retry_webhook(&viewer.caller, id).await;
    done_or_error(&s, &viewer, outcome, "webhook")
}

/// `GET /repos/rows`: the table body alone (htmx polling).
pub(crate) async fn rows(State(s): State<WebState>, viewer: Viewer) -> Response {
    match s.engine.list_repos(&viewer.caller).await {
        Ok(repos) => {
            let hooks = webhooks(&s, &viewer, &repos).await;
            let runs = evals(&s, &viewer, &repos).await;
            s.page(
                "repo_rows.html",
                context! { rows => rows_ctx(&repos, &hooks, &runs), csrf => viewer.csrf.clone() },
            )
        }
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

/// A repo form's checks, in order: its CSRF token, then the repo id.
fn checked_repo(s: &WebState, viewer: &Viewer, raw: &str, csrf_token: &str) -> Result<RepoId, Response> {
    viewer.check_csrf(s, csrf_token)?;
    repo_id(s, viewer, raw)
}

/// After a repo action: back to the Repos page with `done=<what>`, or the
/// action's error page.
fn done_or_error<T, E: Into<ApiError>>(s: &WebState, viewer: &Viewer, outcome: Result<T, E>, what: &str) -> Response {
    match outcome {
        Ok(_) => Redirect::to(&format!("/repos?done={what}")).into_response(),
        Err(e) => s.error_page(Some(viewer), e.into()),
    }
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
    let id = match checked_repo(&s, &viewer, &id, &f.csrf_token) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let outcome = s.engine.reindex_repo(&viewer.caller, id).await;
    done_or_error(&s, &viewer, outcome, "reindex")
}

/// `POST /repos/{id}/eval`: start an eval of the repo (the last 50 commits).
pub(crate) async fn eval(
    State(s): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfForm>,
) -> Response {
    let id = match checked_repo(&s, &viewer, &id, &f.csrf_token) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let outcome = s.engine.start_eval(&viewer.caller, id, None).await;
    done_or_error(&s, &viewer, outcome, "eval")
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
    let id = match checked_repo(&s, &viewer, &id, &f.csrf_token) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let outcome = s.engine.delete_repo(&viewer.caller, id).await;
    done_or_error(&s, &viewer, outcome, "deleted")
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
