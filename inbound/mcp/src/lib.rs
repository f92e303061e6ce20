//! # lettuce-mcp
//!
//! The inbound MCP adapter: Lettuce's navigation tools — `list_repos`,
//! `search_code`, `find_symbol`, `find_references`, `file_outline`,
//! `read_symbol`, `read_file`, `repo_map`, `locate` — served with the official Rust
//! MCP SDK ([rmcp]).
//!
//! * **Streamable HTTP** ([`http_router`]): mounted at `/mcp` beside the
//!   HTTP API. Every request must carry `Authorization: Bearer <token>` (a
//!   session token or an API key); each tool call runs as that caller, over
//!   that caller's account only. A missing or bad token is a 401 with the
//!   API's error body before any MCP processing.
//! * **stdio** ([`serve_stdio`]): for `lettuce mcp`, either as a user of a
//!   configured instance or over a local directory ([`LettuceTools::fixed`]).
//!
//! Every tool answer is compact text: a `[repo @ commit]` line per repo
//! read, the result, a note when it was shortened to fit `max_tokens`, and
//! a `[tokens: …]` line (tokens returned, tokens of the files it stands
//! for, tokens saved). The same figures are in the result's `_meta.lettuce`.
//!
//! [rmcp]: https://docs.rs/rmcp
#![deny(missing_docs)]

mod params;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lettuce_domain::Secret;
use lettuce_engine::{Answer, Caller, Engine, EngineError, Navigator};
pub use params::*;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, MetaObject, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Instructions sent to clients at initialisation.
pub const INSTRUCTIONS: &str = "Lettuce navigates indexed code repositories with a fraction of the tokens reading files costs. \
Given a task (an issue, a bug report), start with locate (the files and definitions likely to need a change). \
Otherwise start with repo_map (what matters in a repo) or search_code / find_symbol (where something is), then read_symbol for one \
definition's code, file_outline for what a file contains, find_references for callers and uses, and read_file with a \
line range only when you need surrounding code. Every answer names the commit it read, how its items were found \
(syntactic: from the syntax tree, by name; text: words only) and its token accounting; \
answers over max_tokens are shortened and say how to continue.";

/// Where a tool call's navigator comes from.
#[derive(Clone)]
enum Source {
    /// The HTTP caller's account on an engine (the caller arrives in the
    /// request's extensions, put there by the auth middleware).
    Engine(Engine),
    /// A caller fixed for the whole session (stdio as a user).
    Caller(Engine, Caller),
    /// A fixed navigator (a local directory).
    Fixed(Arc<Navigator>),
}

/// The MCP server: one instance per session.
#[derive(Clone)]
pub struct LettuceTools {
    source: Source,
}

impl std::fmt::Debug for LettuceTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LettuceTools").finish_non_exhaustive()
    }
}

enum Nav {
    Owned(Navigator),
    Shared(Arc<Navigator>),
}

impl std::ops::Deref for Nav {
    type Target = Navigator;
    fn deref(&self) -> &Navigator {
        match self {
            Nav::Owned(n) => n,
            Nav::Shared(n) => n,
        }
    }
}

/// A tool failure the model should read: `isError` with the stable code.
fn tool_error(e: &EngineError) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!("error {}: {e}", e.code()))])
}

fn tool_result<T>(answer: Result<Answer<T>, EngineError>) -> Result<CallToolResult, ErrorData> {
    match answer {
        Ok(a) => {
            let repos: Vec<serde_json::Value> = a
                .repos
                .iter()
                .map(|r| serde_json::json!({"id": r.id.to_string(), "name": r.name, "commit": r.commit}))
                .collect();
            let mut meta = serde_json::Map::new();
            meta.insert(
                "lettuce".into(),
                serde_json::json!({
                    "tokens_returned": a.tokens.returned,
                    "tokens_full": a.tokens.full,
                    "tokens_saved": a.tokens.saved(),
                    "repos": repos,
                    "shortened": a.shortened,
                }),
            );
            Ok(CallToolResult::success(vec![ContentBlock::text(a.text)]).with_meta(Some(MetaObject(meta))))
        }
        Err(e) => Ok(tool_error(&e)),
    }
}

/// Records a finished tool call on its span and in the metrics.
fn observe_tool_call(span: &tracing::Span, tool: &str, response: &Result<rmcp::model::CallToolResponse, ErrorData>) {
    // Unknown tool names come from the client: keep the label set bounded.
    let label = if LettuceTools::tool_router().get(tool).is_some() {
        tool.to_owned()
    } else {
        "unknown".to_owned()
    };
    let outcome = match response {
        Ok(rmcp::model::CallToolResponse::Complete(r)) if r.is_error == Some(true) => "error",
        Ok(_) => "ok",
        Err(_) => "error",
    };
    metrics::counter!("lettuce_mcp_calls_total", "tool" => label.clone(), "outcome" => outcome).increment(1);
    if outcome == "error" {
        span.record("error", true);
    }
    let Ok(rmcp::model::CallToolResponse::Complete(result)) = response else {
        return;
    };
    let Some(lettuce) = result.meta.as_ref().and_then(|m| m.0.get("lettuce")) else {
        return;
    };
    let returned = lettuce.get("tokens_returned").and_then(|v| v.as_u64()).unwrap_or(0);
    let saved = lettuce.get("tokens_saved").and_then(|v| v.as_u64()).unwrap_or(0);
    span.record("tokens.returned", returned);
    span.record("tokens.saved", saved);
    if let Some(repo) = lettuce
        .get("repos")
        .and_then(|r| r.as_array())
        .and_then(|r| r.first())
        .and_then(|r| r.get("id"))
        .and_then(|v| v.as_str())
    {
        span.record("repo", repo);
    }
    metrics::counter!("lettuce_mcp_tokens_returned_total", "tool" => label.clone()).increment(returned);
    metrics::counter!("lettuce_mcp_tokens_saved_total", "tool" => label).increment(saved);
}

#[tool_router]
impl LettuceTools {
    /// Tools for the HTTP transport: each call runs as the request's caller.
    pub fn for_engine(engine: Engine) -> Self {
        Self {
            source: Source::Engine(engine),
        }
    }

    /// Tools running as one caller for the whole session (stdio).
    pub fn for_caller(engine: Engine, caller: Caller) -> Self {
        Self {
            source: Source::Caller(engine, caller),
        }
    }

    /// Tools over a fixed navigator (a local directory).
    pub fn fixed(navigator: Arc<Navigator>) -> Self {
        Self {
            source: Source::Fixed(navigator),
        }
    }

    fn navigator(&self, ctx: &RequestContext<RoleServer>) -> Result<Nav, EngineError> {
        match &self.source {
            Source::Fixed(n) => Ok(Nav::Shared(n.clone())),
            Source::Caller(engine, caller) => engine.navigator(caller).map(Nav::Owned),
            Source::Engine(engine) => {
                let caller = ctx
                    .extensions
                    .get::<http::request::Parts>()
                    .and_then(|p| p.extensions.get::<Caller>())
                    .ok_or_else(|| EngineError::Unauthenticated("missing bearer token".into()))?;
                engine.navigator(caller).map(Nav::Owned)
            }
        }
    }

    #[tool(
        description = "List the repositories you can navigate: name, status (pending, indexing, ready, failed), indexed commit and id. Use a name or id as `repo` in the other tools."
    )]
    async fn list_repos(&self, ctx: RequestContext<RoleServer>) -> Result<CallToolResult, ErrorData> {
        let nav = match self.navigator(&ctx) {
            Ok(n) => n,
            Err(e) => return Ok(tool_error(&e)),
        };
        tool_result(nav.list_repos().await)
    }

    #[tool(
        description = "Search file contents. mode=text (default): words or a question; files ranked by relevance (all words and the identifier they form first; stemmed, stop words ignored; tests and docs after source); identifiers are split (parseUrl, parse_url and 'parse url' match each other); each line names its enclosing definition. mode=substring: exact string. mode=regex: Rust regex. Returns matching lines with line numbers. Narrow with path (glob like src/**/*.py, or a substring) and lang."
    )]
    async fn search_code(
        &self,
        Parameters(p): Parameters<SearchCodeParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let nav = match self.navigator(&ctx) {
            Ok(n) => n,
            Err(e) => return Ok(tool_error(&e)),
        };
        let req = match p.into_request() {
            Ok(r) => r,
            Err(e) => return Ok(tool_error(&e)),
        };
        tool_result(nav.search_code(req).await)
    }

    #[tool(
        description = "Locate the code a task is about: give an issue title and body (or a bug report, a question; up to 8 KB) and get the files most likely to need a change, best first, each with the definitions that matter (line ranges) and a one-line reason (words matched, names the task spells, callers). Start here for a task; then read_symbol the definitions shown."
    )]
    async fn locate(
        &self,
        Parameters(p): Parameters<LocateParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let nav = match self.navigator(&ctx) {
            Ok(n) => n,
            Err(e) => return Ok(tool_error(&e)),
        };
        tool_result(nav.locate(p.into()).await)
    }

    #[tool(
        description = "Find where a symbol is defined: functions, methods, classes, types, constants. The name may be qualified (Client.send, net::Client::send). Returns file, line range, kind, signature and the first doc line; exact matches first."
    )]
    async fn find_symbol(
        &self,
        Parameters(p): Parameters<FindSymbolParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let nav = match self.navigator(&ctx) {
            Ok(n) => n,
            Err(e) => return Ok(tool_error(&e)),
        };
        tool_result(nav.find_symbol(p.into()).await)
    }

    #[tool(
        description = "Find where an identifier is used in code (not in comments or strings), grouped by file, each with the definition it occurs in — for a function, that is its callers. Definitions are marked 'def'."
    )]
    async fn find_references(
        &self,
        Parameters(p): Parameters<FindReferencesParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let nav = match self.navigator(&ctx) {
            Ok(n) => n,
            Err(e) => return Ok(tool_error(&e)),
        };
        tool_result(nav.find_references(p.into()).await)
    }

    #[tool(
        description = "Outline one file: its definitions, nested (classes with their methods), each with its line range and signature. Much cheaper than reading the file."
    )]
    async fn file_outline(
        &self,
        Parameters(p): Parameters<FileOutlineParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let nav = match self.navigator(&ctx) {
            Ok(n) => n,
            Err(e) => return Ok(tool_error(&e)),
        };
        tool_result(nav.file_outline(p.into()).await)
    }

    #[tool(
        description = "Show the code of one definition, found by name (optionally qualified, e.g. Client.send), with line numbers and its doc comment. Use path or kind to pick among same-named definitions."
    )]
    async fn read_symbol(
        &self,
        Parameters(p): Parameters<ReadSymbolParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let nav = match self.navigator(&ctx) {
            Ok(n) => n,
            Err(e) => return Ok(tool_error(&e)),
        };
        tool_result(nav.read_symbol(p.into()).await)
    }

    #[tool(
        description = "Read lines of a file with line numbers (start and end are 1-based and inclusive; default the whole file). Long reads are cut at max_tokens and say where to continue."
    )]
    async fn read_file(
        &self,
        Parameters(p): Parameters<ReadFileParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let nav = match self.navigator(&ctx) {
            Ok(n) => n,
            Err(e) => return Ok(tool_error(&e)),
        };
        tool_result(nav.read_file(p.into()).await)
    }

    #[tool(
        description = "Map a repository: its most important definitions (ranked by how the code uses them, like aider's repo map), grouped by file with line numbers, fitted to max_tokens. focus (paths or identifiers) centres the map on what you are working on."
    )]
    async fn repo_map(
        &self,
        Parameters(p): Parameters<RepoMapParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let nav = match self.navigator(&ctx) {
            Ok(n) => n,
            Err(e) => return Ok(tool_error(&e)),
        };
        tool_result(nav.repo_map(p.into()).await)
    }
}

#[tool_handler]
impl ServerHandler for LettuceTools {
    /// Every tool call runs in an `mcp.tool` span (tool, repo, tokens
    /// returned/saved) and moves the `lettuce_mcp_*` metrics.
    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, ErrorData> {
        use tracing::Instrument;
        let tool = request.name.to_string();
        let span = tracing::info_span!(
            "mcp.tool",
            otel.name = %format!("mcp.tool {tool}"),
            mcp.tool = %tool,
            repo = tracing::field::Empty,
            tokens.returned = tracing::field::Empty,
            tokens.saved = tracing::field::Empty,
            error = tracing::field::Empty,
        );
        let tcc = rmcp::handler::server::tool::ToolCallContext::new(self, request, context);
        let response = Self::tool_router().call(tcc).instrument(span.clone()).await;
        observe_tool_call(&span, &tool, &response);
        response
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("lettuce", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}

/// Options of the HTTP transport.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// `Host` header values accepted (DNS-rebinding protection): loopback
    /// names plus the hosts of `LETTUCE_MCP_URL` / `LETTUCE_WEB_URL`.
    pub allowed_hosts: Vec<String>,
    /// Stops every session on shutdown.
    pub cancel: CancellationToken,
}

impl HttpOptions {
    /// Loopback hosts plus the hosts of `public_urls`.
    pub fn for_urls<'a>(public_urls: impl IntoIterator<Item = &'a str>, cancel: CancellationToken) -> Self {
        let mut allowed_hosts: Vec<String> = ["localhost", "127.0.0.1", "::1", "[::1]"]
            .iter()
            .map(|h| (*h).to_owned())
            .collect();
        for u in public_urls {
            if let Some(authority) = u.split("://").nth(1).and_then(|rest| rest.split('/').next()) {
                let host = authority.rsplit('@').next().unwrap_or(authority);
                allowed_hosts.push(host.to_owned());
                if let Some((h, _port)) = host.rsplit_once(':')
                    && !h.ends_with(']')
                {
                    allowed_hosts.push(h.to_owned());
                }
            }
        }
        allowed_hosts.sort();
        allowed_hosts.dedup();
        Self { allowed_hosts, cancel }
    }
}

/// The `/mcp` route: streamable HTTP behind bearer authentication.
pub fn http_router(engine: Engine, options: HttpOptions) -> axum::Router {
    let mut config = StreamableHttpServerConfig::default();
    config.allowed_hosts = options.allowed_hosts;
    config.cancellation_token = options.cancel;
    let factory_engine = engine.clone();
    let service = StreamableHttpService::new(
        move || Ok(LettuceTools::for_engine(factory_engine.clone())),
        LocalSessionManager::default().into(),
        config,
    );
    axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(engine, authenticate))
}

fn unauthorized(message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": "unauthenticated", "message": message}});
    let mut r = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"lettuce\""),
    );
    r
}

/// Turns the bearer token into a [`Caller`] in the request's extensions,
/// or answers 401.
async fn authenticate(State(engine): State<Engine>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_owned());
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return unauthorized("send Authorization: Bearer <token> (a session token or an API key)");
    };
    match engine.authenticate(&Secret::new(token)).await {
        Ok(caller @ Caller::User(_)) => {
            if let Caller::User(u) = &caller {
                // The request span (when the app traces requests) names the account.
                tracing::Span::current().record("account.id", u.account_id.to_string());
            }
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Ok(Caller::Admin) => unauthorized("the admin token cannot read code; use an API key or a user's session token"),
        Err(e) if e.kind() == lettuce_engine::ErrorKind::Unavailable => {
            let body = serde_json::json!({"error": {"code": e.code(), "message": e.to_string()}});
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
        Err(e) => unauthorized(&e.to_string()),
    }
}

/// Serves `tools` over stdin/stdout until the client disconnects.
pub async fn serve_stdio(tools: LettuceTools) -> Result<(), std::io::Error> {
    let running = tools
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| std::io::Error::other(format!("MCP initialisation failed: {e}")))?;
    running
        .waiting()
        .await
        .map_err(|e| std::io::Error::other(format!("MCP session ended with an error: {e}")))?;
    Ok(())
}
