//! Search: code across the account's repos (the same engine as the
//! `search_code` tool), results linking to a file view with line numbers.

use crate::WebState;
use crate::viewer::Viewer;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lettuce_engine::{Caller, FileRequest, SearchRequest};
use lettuce_http::ApiError;
use lettuce_ports::index::SearchMode;
use minijinja::context;
use serde::Deserialize;

/// Token budget of a file view (a long file is cut, and the page says so).
const FILE_BUDGET: u64 = 30_000;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    mode: String,
}

/// `GET /search?q=…&mode=text|substring|regex`.
pub(crate) async fn page(State(s): State<WebState>, viewer: Viewer, Query(q): Query<SearchQuery>) -> Response {
    if matches!(viewer.caller, Caller::Admin) {
        return Redirect::to("/admin").into_response();
    }
    let base = s.base(&viewer, "search").await;
    let query = q.q.trim().to_owned();
    let mode = match q.mode.as_str() {
        "substring" => SearchMode::Substring,
        "regex" => SearchMode::Regex,
        _ => SearchMode::Text,
    };
    let mut status = StatusCode::OK;
    let (hits, more, error) = if query.is_empty() {
        (Vec::new(), false, None)
    } else {
        let answer = match s.engine.navigator(&viewer.caller) {
            Ok(nav) => {
                nav.search_code(SearchRequest {
                    query: query.clone(),
                    mode,
                    max_results: Some(25),
                    ..Default::default()
                })
                .await
            }
            Err(e) => Err(e),
        };
        match answer {
            Ok(a) => {
                let hits = a
                    .data
                    .hits
                    .iter()
                    .map(|h| {
                        context! {
                            repo => h.repo.name.clone(),
                            repo_id => h.repo.id.0.to_string(),
                            path => h.hit.file.path.clone(),
                            lang => h.hit.file.lang.clone(),
                            count => h.hit.line_matches,
                            lines => h.hit.lines.iter().map(|l| context! { n => l.line, text => l.text.clone() }).collect::<Vec<_>>(),
                        }
                    })
                    .collect::<Vec<_>>();
                (hits, a.data.more, None)
            }
            Err(e) => {
                let e = ApiError::from(e);
                status = e.status;
                (Vec::new(), false, Some(e.message))
            }
        }
    };
    let ctx = context! {
        q => query,
        mode => q.mode,
        hits => hits,
        more => more,
        error => error,
        ..base
    };
    s.page_with(status, "search.html", ctx)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct FileQuery {
    #[serde(default)]
    repo: String,
    #[serde(default)]
    path: String,
}

/// `GET /file?repo=<id>&path=<path>`: a file with line numbers (`#L<n>` anchors).
pub(crate) async fn file(State(s): State<WebState>, viewer: Viewer, Query(q): Query<FileQuery>) -> Response {
    if matches!(viewer.caller, Caller::Admin) {
        return Redirect::to("/admin").into_response();
    }
    let answer = match s.engine.navigator(&viewer.caller) {
        Ok(nav) => {
            nav.read_file(FileRequest {
                repo: Some(q.repo.clone()).filter(|r| !r.is_empty()),
                path: q.path.clone(),
                max_tokens: Some(FILE_BUDGET),
                ..Default::default()
            })
            .await
        }
        Err(e) => Err(e),
    };
    match answer {
        Ok(a) => {
            let base = s.base(&viewer, "search").await;
            let start = a.data.start;
            let lines: Vec<_> = a
                .data
                .text
                .lines()
                .enumerate()
                .map(|(i, t)| context! { n => start as usize + i, text => t })
                .collect();
            let repo = a
                .repos
                .first()
                .map(|r| (r.name.clone(), r.commit.chars().take(12).collect::<String>()));
            let ctx = context! {
                path => a.data.file.path.clone(),
                repo => repo.as_ref().map(|r| r.0.clone()),
                commit => repo.as_ref().map(|r| r.1.clone()),
                lines => lines,
                total_lines => a.data.file.lines,
                shortened => a.shortened,
                ..base
            };
            s.page("file.html", ctx)
        }
        Err(e) => s.error_page(Some(&viewer), e.into()),
    }
}
