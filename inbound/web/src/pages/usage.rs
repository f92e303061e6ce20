//! Usage: tokens returned and saved per day (server-drawn SVG), queries per
//! day and per tool.

use crate::WebState;
use crate::chart;
use crate::viewer::Viewer;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use lettuce_engine::Caller;
use minijinja::context;

/// Days the page shows.
const DAYS: u32 = 30;

/// `GET /usage`.
pub(crate) async fn page(State(s): State<WebState>, viewer: Viewer) -> Response {
    if matches!(viewer.caller, Caller::Admin) {
        return Redirect::to("/admin").into_response();
    }
    let report = match s.engine.usage(&viewer.caller, DAYS).await {
        Ok(r) => r,
        Err(e) => return s.error_page(Some(&viewer), e.into()),
    };
    let base = s.base(&viewer, "usage").await;
    let t = report.total;
    let ctx = context! {
        days => DAYS,
        encoding => report.encoding,
        from => report.from.to_string(),
        to => report.to.to_string(),
        chart => chart::bars(&report),
        total => context! {
            queries => t.queries,
            returned => t.tokens_returned,
            full => t.tokens_full,
            saved => t.tokens_saved,
            percent => (t.tokens_full > 0).then(|| t.tokens_saved.saturating_mul(100) / t.tokens_full),
        },
        table => report.days.iter().rev().map(|d| context! {
            date => d.date.to_string(),
            queries => d.counters.queries,
            returned => d.counters.tokens_returned,
            saved => d.counters.tokens_saved,
        }).collect::<Vec<_>>(),
        tools => report.tools.iter().map(|t| context! {
            tool => t.tool.clone(),
            queries => t.counters.queries,
            returned => t.counters.tokens_returned,
            saved => t.counters.tokens_saved,
        }).collect::<Vec<_>>(),
        ..base
    };
    s.page("usage.html", ctx)
}
