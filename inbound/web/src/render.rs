//! Templates (compiled into the binary, HTML-autoescaped) and the pieces
//! every page shares: the layout context, error pages, time formatting.

use crate::WebState;
use crate::viewer::Viewer;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use lettuce_domain::account::Role;
use lettuce_domain::license::LicenseState;
use lettuce_engine::Caller;
use lettuce_http::ApiError;
use minijinja::{Environment, Value, context};

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("signin.html", include_str!("../templates/signin.html")),
    ("signup.html", include_str!("../templates/signup.html")),
    ("operator.html", include_str!("../templates/operator.html")),
    ("setup.html", include_str!("../templates/setup.html")),
    ("repos.html", include_str!("../templates/repos.html")),
    ("repo_rows.html", include_str!("../templates/repo_rows.html")),
    ("code_hosts.html", include_str!("../templates/code_hosts.html")),
    ("repo_delete.html", include_str!("../templates/repo_delete.html")),
    ("team.html", include_str!("../templates/team.html")),
    ("admin.html", include_str!("../templates/admin.html")),
    ("usage.html", include_str!("../templates/usage.html")),
    ("connect.html", include_str!("../templates/connect.html")),
    ("search.html", include_str!("../templates/search.html")),
    ("file.html", include_str!("../templates/file.html")),
];

/// The template environment. `.html` templates are HTML-autoescaped
/// (minijinja's default for that extension); nothing is marked safe.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            // A broken template is a build bug; the unit test below catches it.
            tracing::error!(template = name, error = %e, "template does not compile");
        }
    }
    env
}

impl WebState {
    /// Renders `name` with `ctx` as a 200 page.
    pub(crate) fn page(&self, name: &str, ctx: Value) -> Response {
        self.page_with(StatusCode::OK, name, ctx)
    }

    /// Renders `name` with `ctx` and `status`.
    pub(crate) fn page_with(&self, status: StatusCode, name: &str, ctx: Value) -> Response {
        match self.templates.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "rendering a page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Html("<!doctype html><title>Error</title><p>This page could not be rendered; the server log says why.</p>"),
                )
                    .into_response()
            }
        }
    }

    /// An error page for `err` (its status, its message).
    pub(crate) fn error_page(&self, viewer: Option<&Viewer>, err: ApiError) -> Response {
        if err.status.is_server_error() {
            tracing::warn!(code = err.code, status = err.status.as_u16(), "{}", err.message);
        }
        let title = match err.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::UNAUTHORIZED => "Sign in again",
            StatusCode::SERVICE_UNAVAILABLE => "Temporarily unavailable",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let ctx = context! {
            title => title,
            status => err.status.as_u16(),
            code => err.code,
            message => err.message,
            viewer => viewer.map(Viewer::nav),
            csrf => viewer.map(|v| v.csrf.clone()),
        };
        self.page_with(err.status, "error.html", ctx)
    }

    /// The layout context of a signed-in page: navigation, CSRF token and
    /// the license banner.
    pub(crate) async fn base(&self, viewer: &Viewer, active: &str) -> Value {
        let license = self.engine.license_status(&viewer.caller).await;
        let banner = license_banner(&license);
        context! {
            viewer => viewer.nav(),
            csrf => viewer.csrf.clone(),
            active => active,
            banner => banner,
        }
    }
}

/// The banner every page shows while the license is not plainly valid.
fn license_banner(st: &lettuce_ports::license::LicenseStatus) -> Option<Value> {
    if !st.gated {
        return None;
    }
    let reason = st.reason.clone().unwrap_or_default();
    let (kind, text) = match st.state {
        LicenseState::Valid => return None,
        LicenseState::Grace => (
            "warn",
            "The license has expired; Lettuce keeps working during the 14-day grace period. Install a renewed key on the Admin page.",
        ),
        LicenseState::ReadOnly => (
            "error",
            "Read-only: the license expired more than 14 days ago. Existing indexes answer, but no repos, indexing, users or invites can be added until a new key is installed on the Admin page.",
        ),
        LicenseState::Locked => (
            "error",
            "Locked: no valid license key is installed. An owner or the operator can install one on the Admin page.",
        ),
    };
    Some(context! { kind => kind, text => text, reason => reason })
}

/// "3 min ago"-style age of `t`.
pub(crate) fn ago(t: DateTime<Utc>) -> String {
    let secs = (Utc::now() - t).num_seconds().max(0);
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// A timestamp for people (UTC).
pub(crate) fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Whether `caller` may open the admin page (account owners and the operator).
pub(crate) fn is_admin(caller: &Caller) -> bool {
    match caller {
        Caller::Admin => true,
        Caller::User(u) => u.role == Role::Owner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
        let html = env
            .get_template("error.html")
            .unwrap()
            .render(context! { title => "t", message => "<script>alert(1)</script>" })
            .unwrap();
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>alert"), "{html}");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(ago(Utc::now()), "just now");
        assert_eq!(ago(Utc::now() - chrono::Duration::minutes(5)), "5 min ago");
        assert_eq!(ago(Utc::now() - chrono::Duration::days(3)), "3 days ago");
    }
}

#[cfg(test)]
mod render_empty {
    /// Every template renders with nothing in the context (optional parts
    /// are optional, attribute chains on missing values are empty).
    #[test]
    fn every_template_renders_with_an_empty_context() {
        let env = super::environment();
        for (name, _) in super::TEMPLATES {
            if let Err(e) = env.get_template(name).unwrap().render(minijinja::context! {}) {
                panic!("{name}: {e:#}");
            }
        }
    }
}
