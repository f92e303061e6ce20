//! The pages, one module per area.

pub(crate) mod admin;
pub(crate) mod auth;
pub(crate) mod connect;
pub(crate) mod repos;
pub(crate) mod search;
pub(crate) mod team;
pub(crate) mod usage;

use crate::WebState;

/// The absolute link that redeems invite `code`.
pub(crate) fn invite_link(state: &WebState, code: &str) -> String {
    format!("{}/invite/{code}", state.options.web_url.trim_end_matches('/'))
}
