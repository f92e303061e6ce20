//! Connect an agent: the MCP URL, an API key created on the spot (shown
//! once), and copyable configuration for Claude Code, Cursor, VS Code and a
//! generic MCP client, over HTTP and stdio.

use crate::WebState;
use crate::render::{ago, when};
use crate::viewer::{Viewer, WebForm};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lettuce_domain::ApiKeyId;
use lettuce_engine::Caller;
use lettuce_http::ApiError;
use minijinja::{Value, context};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

/// Placeholder shown in snippets until a key is created.
const KEY_PLACEHOLDER: &str = "<YOUR_API_KEY>";

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// The client configurations for `mcp_url` and `key`.
pub(crate) fn snippets(mcp_url: &str, key: &str) -> Vec<Value> {
    let bearer = format!("Bearer {key}");
    let stdio_env = json!({ "LETTUCE_API_KEY": key });
    vec![
        context! {
            id => "claude-http", client => "Claude Code", transport => "HTTP",
            note => "Run in a terminal.",
            text => format!("claude mcp add --transport http lettuce {mcp_url} --header \"Authorization: {bearer}\""),
        },
        context! {
            id => "claude-stdio", client => "Claude Code", transport => "stdio",
            note => "Runs `lettuce mcp` on a machine with this instance's configuration (the server host).",
            text => format!("claude mcp add lettuce --env LETTUCE_API_KEY={key} -- lettuce mcp"),
        },
        context! {
            id => "cursor-http", client => "Cursor", transport => "HTTP",
            note => "~/.cursor/mcp.json (or .cursor/mcp.json in a project).",
            text => pretty(&json!({ "mcpServers": { "lettuce": { "url": mcp_url, "headers": { "Authorization": bearer } } } })),
        },
        context! {
            id => "cursor-stdio", client => "Cursor", transport => "stdio",
            note => "~/.cursor/mcp.json; `lettuce` must be on PATH with this instance's configuration.",
            text => pretty(&json!({ "mcpServers": { "lettuce": { "command": "lettuce", "args": ["mcp"], "env": stdio_env } } })),
        },
        context! {
            id => "vscode-http", client => "VS Code", transport => "HTTP",
            note => ".vscode/mcp.json in the workspace.",
            text => pretty(&json!({ "servers": { "lettuce": { "type": "http", "url": mcp_url, "headers": { "Authorization": bearer } } } })),
        },
        context! {
            id => "vscode-stdio", client => "VS Code", transport => "stdio",
            note => ".vscode/mcp.json in the workspace.",
            text => pretty(&json!({ "servers": { "lettuce": { "type": "stdio", "command": "lettuce", "args": ["mcp"], "env": stdio_env } } })),
        },
        context! {
            id => "generic-http", client => "Any MCP client", transport => "streamable HTTP",
            note => "Point the client at the URL and send the header on every request.",
            text => format!("URL:    {mcp_url}\nHeader: Authorization: {bearer}"),
        },
        context! {
            id => "generic-stdio", client => "Any MCP client", transport => "stdio",
            note => "Start this command with the variable set.",
            text => format!("LETTUCE_API_KEY={key} lettuce mcp"),
        },
    ]
}

async fn render(
    s: &WebState,
    viewer: &Viewer,
    status: StatusCode,
    created: Option<(String, String)>,
    error: Option<String>,
) -> Response {
    if matches!(viewer.caller, Caller::Admin) {
        return Redirect::to("/admin").into_response();
    }
    let base = s.base(viewer, "connect").await;
    let keys = match s.engine.list_api_keys(&viewer.caller).await {
        Ok(k) => k,
        Err(e) => return s.error_page(Some(viewer), e.into()),
    };
    let mcp_url = s.options.mcp_url.clone();
    let key = created.as_ref().map(|(_, k)| k.as_str()).unwrap_or(KEY_PLACEHOLDER);
    let ctx = context! {
        mcp_url => mcp_url.clone(),
        created => created.as_ref().map(|(name, key)| context! { name => name, key => key }),
        error => error,
        snippets => snippets(&mcp_url, key),
        keys => keys.iter().filter(|k| k.revoked_at.is_none()).map(|k| context! {
            id => k.id.0.to_string(),
            name => k.name.clone(),
            prefix => k.prefix.clone(),
            created => when(k.created_at),
            last_used => k.last_used_at.map(ago),
        }).collect::<Vec<_>>(),
        ..base
    };
    s.page_with(status, "connect.html", ctx)
}

/// `GET /connect`.
pub(crate) async fn page(State(s): State<WebState>, viewer: Viewer) -> Response {
    render(&s, &viewer, StatusCode::OK, None, None).await
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /connect`: create an API key and show it once, in the snippets.
pub(crate) async fn create_key(State(s): State<WebState>, viewer: Viewer, WebForm(f): WebForm<KeyForm>) -> Response {
    if let Err(r) = viewer.check_csrf(&s, &f.csrf_token) {
        return r;
    }
    match s.engine.create_api_key(&viewer.caller, &f.name).await {
        Ok(k) => {
            let created = (k.key.name.clone(), k.secret.expose().to_owned());
            render(&s, &viewer, StatusCode::CREATED, Some(created), None).await
        }
        Err(e) => {
            let e = ApiError::from(e);
            render(&s, &viewer, e.status, None, Some(e.message)).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /connect/keys/{id}/revoke`.
pub(crate) async fn revoke_key(
    State(s): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    WebForm(f): WebForm<RevokeForm>,
) -> Response {
    if let Err(r) = viewer.check_csrf(&s, &f.csrf_token) {
        return r;
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return s.error_page(
            Some(&viewer),
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "api key not found"),
        );
    };
    match s.engine.revoke_api_key(&viewer.caller, ApiKeyId(id)).await {
        Ok(()) => Redirect::to("/connect").into_response(),
        Err(e) => s.error_page(Some(&viewer), e.into()),
    }
}
