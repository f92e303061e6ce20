//! Code-host integrations: which hosts are configured and connected, the
//! install redirect and its callback, the repo picker, adding a picked repo,
//! webhook retry, disconnect, and the webhook intake. Wire types live here.

use crate::AppState;
use crate::dto::RepoDto;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use lettuce_domain::RepoId;
use lettuce_domain::codehost::{Installation, WebhookDelivery};
use lettuce_engine::ports::git::InstallCallback;
use lettuce_engine::{AddProviderRepoRequest, IntegrationView, WEBHOOK_MAX_BODY, WebhookHealth};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A connection of the account to a code host.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstallationDto {
    /// The provider's installation (or user) id.
    pub external_id: String,
    /// Who connected it (user id).
    pub connected_by: Uuid,
    /// When.
    pub connected_at: DateTime<Utc>,
    /// Granted scopes or permissions.
    pub scopes: Vec<String>,
    /// The host refused the stored credentials: reconnect.
    pub needs_reauth: bool,
}

impl From<Installation> for InstallationDto {
    fn from(i: Installation) -> Self {
        Self {
            external_id: i.external_id,
            connected_by: i.connected_by.0,
            connected_at: i.connected_at,
            scopes: i.scopes,
            needs_reauth: i.needs_reauth,
        }
    }
}

/// A code host of this build.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationDto {
    /// `github`, `gitlab`, `bitbucket` (Cloud or Data Center).
    pub provider: String,
    /// Display name.
    pub display_name: String,
    /// Whether the operator configured it.
    pub configured: bool,
    /// Why not (names the missing variables).
    pub reason: Option<String>,
    /// How users connect: `install` (redirect to the host's install or
    /// OAuth page) or `token` (paste an access token,
    /// `POST /v1/integrations/{provider}/token`).
    pub connect: String,
    /// Whether the account is connected.
    pub connected: bool,
    /// The connection, when connected.
    pub installation: Option<InstallationDto>,
}

impl From<IntegrationView> for IntegrationDto {
    fn from(v: IntegrationView) -> Self {
        Self {
            provider: v.provider,
            display_name: v.display_name,
            configured: v.configured,
            reason: v.reason,
            connect: if v.accepts_token { "token" } else { "install" }.into(),
            connected: v.installation.is_some(),
            installation: v.installation.map(Into::into),
        }
    }
}

/// `GET /v1/integrations`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationList {
    /// Every code host of this build.
    pub integrations: Vec<IntegrationDto>,
}

/// `GET /v1/integrations/{provider}/install`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstallRedirect {
    /// Send the user here; the host redirects back to the callback with the
    /// signed `state` (valid 15 minutes, single use).
    pub url: String,
}

/// Query of the install callback (what the code host sends back).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    /// The signed state from the install URL.
    pub state: Option<String>,
    /// GitHub App installation id.
    pub installation_id: Option<String>,
    /// GitHub `setup_action`.
    pub setup_action: Option<String>,
    /// OAuth authorization code.
    pub code: Option<String>,
    /// OAuth error (`access_denied`).
    pub error: Option<String>,
}

/// The connection just made.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectedDto {
    /// The provider.
    pub provider: String,
    /// The connection.
    pub installation: InstallationDto,
}

/// Query of the picker.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PickerParams {
    /// Case-insensitive substring of `owner/name`.
    pub filter: Option<String>,
    /// 1-based page (default 1).
    pub page: Option<u32>,
    /// Page size (default 30, at most 100).
    pub per_page: Option<u32>,
}

/// A repository the connection can add.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemoteRepoDto {
    /// The provider's repo id.
    pub id: String,
    /// `owner/name`.
    pub full_name: String,
    /// Clone URL (https, no credentials).
    pub clone_url: String,
    /// Default branch.
    pub default_branch: Option<String>,
    /// Private repository.
    pub private: bool,
}

/// One page of the picker.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemoteRepoPage {
    /// The repos of this page.
    pub repos: Vec<RemoteRepoDto>,
    /// Page number.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
    /// Whether another page follows.
    pub has_more: bool,
}

/// Body of `POST /v1/integrations/{provider}/repos`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddProviderRepoBody {
    /// `owner/name` (case-insensitive) or the provider's repo id, as listed by the picker.
    pub repo: String,
    /// Branch to index; default: the repo's default branch.
    #[serde(default)]
    pub branch: Option<String>,
}

/// Body of `POST /v1/integrations/{provider}/token`.
#[derive(Deserialize, ToSchema)]
pub struct ConnectTokenBody {
    /// The access token (Bitbucket Data Center: an HTTP access token with
    /// repository read and admin permissions). Stored sealed; never shown again.
    pub token: String,
}

impl std::fmt::Debug for ConnectTokenBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectTokenBody { token: *** }")
    }
}

/// An accepted webhook delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDto {
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// Event name (`push`, `ping`).
    pub event: String,
    /// The host's delivery id.
    pub delivery_id: Option<String>,
    /// `queued`, `ignored` or `ping`.
    pub outcome: String,
    /// What happened.
    pub detail: String,
}

impl From<WebhookDelivery> for DeliveryDto {
    fn from(d: WebhookDelivery) -> Self {
        Self {
            at: d.at,
            event: d.event,
            delivery_id: d.delivery_id,
            outcome: d.outcome.as_str().into(),
            detail: d.detail,
        }
    }
}

/// Webhook health of a repo added through a code host.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookHealthDto {
    /// The provider.
    pub provider: String,
    /// The provider's repo id.
    pub provider_repo_id: String,
    /// `owner/name` on the provider.
    pub full_name: String,
    /// The branch pushes re-index.
    pub branch: String,
    /// `registered` or `failed`.
    pub status: String,
    /// The host's hook id.
    pub hook_id: Option<String>,
    /// Why registration failed, and the fix (then `POST /v1/repos/{id}/webhook`).
    pub error: Option<String>,
    /// How the repo is kept fresh: `webhook`, or `polling` while the hook
    /// cannot be relied on (the remote moved without a delivery).
    pub mode: String,
    /// When the periodic check last verified the hook and the remote head.
    pub last_check: Option<DateTime<Utc>>,
    /// What that check found or repaired.
    pub check_note: Option<String>,
    /// The newest accepted delivery, if any.
    pub last_delivery: Option<DateTime<Utc>>,
    /// Latest accepted deliveries, newest first.
    pub deliveries: Vec<DeliveryDto>,
}

impl From<WebhookHealth> for WebhookHealthDto {
    fn from(h: WebhookHealth) -> Self {
        Self {
            provider: h.link.provider,
            provider_repo_id: h.link.provider_repo_id,
            full_name: h.link.full_name,
            branch: h.link.branch,
            status: if h.link.hook_id.is_some() {
                "registered"
            } else {
                "failed"
            }
            .into(),
            hook_id: h.link.hook_id,
            error: h.link.hook_error,
            mode: h.link.mode.as_str().into(),
            last_check: h.link.checked_at,
            check_note: h.link.check_note,
            last_delivery: h.deliveries.first().map(|d| d.at),
            deliveries: h.deliveries.into_iter().map(Into::into).collect(),
        }
    }
}

/// What the intake did with a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    /// `queued`, `ignored` or `ping`.
    pub outcome: String,
    /// The repo it concerned.
    pub repo_id: Option<Uuid>,
    /// Why.
    pub detail: String,
}

/// Code hosts of this instance: configured or not (with the reason),
/// connected or not.
#[utoipa::path(get, path = "/v1/integrations", tag = "integrations", security(("bearer" = [])),
    responses((status = 200, body = IntegrationList)))]
pub(crate) async fn list(State(s): State<AppState>, Auth(caller): Auth) -> Result<Json<IntegrationList>, ApiError> {
    let v = s.engine.list_integrations(&caller).await?;
    Ok(Json(IntegrationList {
        integrations: v.into_iter().map(Into::into).collect(),
    }))
}

/// Where to send the user to connect the host (install URL with a signed state).
#[utoipa::path(get, path = "/v1/integrations/{provider}/install", tag = "integrations", security(("bearer" = [])),
    params(("provider" = String, Path, description = "`github`, …")),
    responses((status = 200, body = InstallRedirect),
        (status = 404, description = "`provider_unknown`", body = ErrorBody),
        (status = 503, description = "`provider_not_configured`: the message names the missing variables", body = ErrorBody)))]
pub(crate) async fn install(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiPath(provider): ApiPath<String>,
) -> Result<Json<InstallRedirect>, ApiError> {
    let url = s.engine.start_install(&caller, &provider).await?;
    Ok(Json(InstallRedirect { url }))
}

/// The code host's redirect after an install. Verifies the signed state
/// (15 minutes, single use) and stores the connection. Browsers
/// (`Accept: text/html`) are redirected to `/repos?connected=<provider>`.
#[utoipa::path(get, path = "/v1/integrations/{provider}/callback", tag = "integrations",
    params(("provider" = String, Path, description = "`github`, …"), CallbackParams),
    responses((status = 200, body = ConnectedDto),
        (status = 303, description = "browser: back to the repos page"),
        (status = 400, description = "`install_state_invalid`: invalid or expired install state", body = ErrorBody),
        (status = 403, description = "`provider_access_denied`: <Provider> access was denied", body = ErrorBody),
        (status = 503, description = "`provider_not_configured`", body = ErrorBody)))]
pub(crate) async fn callback(
    State(s): State<AppState>,
    ApiPath(provider): ApiPath<String>,
    ApiQuery(p): ApiQuery<CallbackParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cb = InstallCallback {
        installation_id: p.installation_id,
        code: p.code,
        setup_action: p.setup_action,
        error: p.error,
        token: None,
    };
    let inst = s.engine.complete_install(&provider, p.state.as_deref(), &cb).await?;
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if browser {
        return Ok(Redirect::to(&format!("/repos?connected={provider}")).into_response());
    }
    Ok(Json(ConnectedDto {
        provider,
        installation: inst.into(),
    })
    .into_response())
}

/// The picker: repos the connection can add, filtered by a case-insensitive
/// substring of `owner/name`, paged.
#[utoipa::path(get, path = "/v1/integrations/{provider}/repos", tag = "integrations", security(("bearer" = [])),
    params(("provider" = String, Path, description = "`github`, …"), PickerParams),
    responses((status = 200, body = RemoteRepoPage),
        (status = 409, description = "`not_connected`", body = ErrorBody),
        (status = 503, description = "`provider_not_configured`, `provider_rate_limited`", body = ErrorBody)))]
pub(crate) async fn picker(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiPath(provider): ApiPath<String>,
    ApiQuery(q): ApiQuery<PickerParams>,
) -> Result<Json<RemoteRepoPage>, ApiError> {
    let page = s
        .engine
        .list_provider_repos(&caller, &provider, q.filter.as_deref(), q.page, q.per_page)
        .await?;
    Ok(Json(RemoteRepoPage {
        repos: page
            .repos
            .into_iter()
            .map(|r| RemoteRepoDto {
                id: r.id,
                full_name: r.full_name,
                clone_url: r.clone_url,
                default_branch: r.default_branch,
                private: r.private,
            })
            .collect(),
        page: page.page,
        per_page: page.per_page,
        has_more: page.has_more,
    }))
}

/// Add a repo picked from the connection: registers it, its push webhook
/// (a failure is recorded in `webhook.error` with the fix; the repo is still
/// added) and queues its first index.
#[utoipa::path(post, path = "/v1/integrations/{provider}/repos", tag = "integrations", security(("bearer" = [])),
    params(("provider" = String, Path, description = "`github`, …")), request_body = AddProviderRepoBody,
    responses((status = 202, body = RepoDto),
        (status = 404, description = "`provider_repo_not_found`", body = ErrorBody),
        (status = 409, description = "`not_connected`, `repo_exists`", body = ErrorBody),
        (status = 503, description = "`provider_not_configured`", body = ErrorBody)))]
pub(crate) async fn add(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiPath(provider): ApiPath<String>,
    ApiJson(b): ApiJson<AddProviderRepoBody>,
) -> Result<(StatusCode, Json<RepoDto>), ApiError> {
    let (repo, health) = s
        .engine
        .add_provider_repo(
            &caller,
            &provider,
            AddProviderRepoRequest {
                repo: b.repo,
                branch: b.branch,
            },
        )
        .await?;
    let mut dto: RepoDto = repo.into();
    dto.webhook = Some(health.into());
    Ok((StatusCode::ACCEPTED, Json(dto)))
}

/// Connect a code host with a pasted access token (hosts whose `connect`
/// is `token`: Bitbucket Data Center). The host checks the token first; it
/// is then stored sealed with the data key and never shown again.
#[utoipa::path(post, path = "/v1/integrations/{provider}/token", tag = "integrations", security(("bearer" = [])),
    params(("provider" = String, Path, description = "`bitbucket` (Data Center flavour)")), request_body = ConnectTokenBody,
    responses((status = 200, body = ConnectedDto),
        (status = 400, description = "`token_not_accepted`, `token_missing`", body = ErrorBody),
        (status = 403, description = "`provider_token_refused`: the host refused the token", body = ErrorBody),
        (status = 503, description = "`provider_not_configured`", body = ErrorBody)))]
pub(crate) async fn connect_token(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiPath(provider): ApiPath<String>,
    ApiJson(b): ApiJson<ConnectTokenBody>,
) -> Result<Json<ConnectedDto>, ApiError> {
    let inst = s
        .engine
        .connect_with_token(&caller, &provider, lettuce_domain::Secret::new(b.token))
        .await?;
    Ok(Json(ConnectedDto {
        provider,
        installation: inst.into(),
    }))
}

/// Disconnect the code host: the connection and its tokens are removed;
/// repos stay (public ones keep working; private ones fail their next fetch
/// until reconnected). Owners only.
#[utoipa::path(delete, path = "/v1/integrations/{provider}", tag = "integrations", security(("bearer" = [])),
    params(("provider" = String, Path, description = "`github`, …")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn disconnect(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiPath(provider): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    s.engine.disconnect(&caller, &provider).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Retry the webhook registration of a repo added through a code host.
#[utoipa::path(post, path = "/v1/repos/{id}/webhook", tag = "integrations", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "repo id")),
    responses((status = 200, body = WebhookHealthDto),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`repo_not_linked`, `not_connected`", body = ErrorBody)))]
pub(crate) async fn retry_webhook(
    State(s): State<AppState>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<WebhookHealthDto>, ApiError> {
    Ok(Json(s.engine.retry_webhook(&caller, RepoId(id)).await?.into()))
}

/// Webhook intake. The signature (`X-Hub-Signature-256` for GitHub) is
/// checked in constant time against the account's webhook secret before
/// the body is parsed; unsigned, forged, malformed, oversized (> 5 MiB) and
/// replayed deliveries get 401 `webhook_rejected` and change nothing. A push
/// to the indexed branch queues a re-index; other branches are ignored.
#[utoipa::path(post, path = "/v1/{provider}/webhook/{account_id}", tag = "integrations",
    params(("provider" = String, Path, description = "`github`, …"), ("account_id" = Uuid, Path, description = "the account")),
    request_body(content = String, description = "the code host's JSON payload", content_type = "application/json"),
    responses((status = 200, body = WebhookAck),
        (status = 401, description = "`webhook_rejected`", body = ErrorBody),
        (status = 503, description = "`provider_not_configured`", body = ErrorBody)))]
pub(crate) async fn webhook(
    State(s): State<AppState>,
    axum::extract::Path((provider, account)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<WebhookAck>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        tracing::warn!(provider = %provider, account = %account, reason = "body too large", "webhook delivery rejected");
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "webhook_rejected",
            "webhook delivery rejected: body too large",
        )
    };
    if declared.is_some_and(|n| n > WEBHOOK_MAX_BODY) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, WEBHOOK_MAX_BODY)
        .await
        .map_err(|_| too_large())?;
    let lookup = move |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let reply = s.engine.receive_webhook(&provider, &account, &lookup, &bytes).await?;
    Ok(Json(WebhookAck {
        outcome: reply.outcome.as_str().into(),
        repo_id: reply.repo_id.map(|r| r.0),
        detail: reply.detail,
    }))
}
