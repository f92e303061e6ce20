//! # lettuce-git-gitlab
//!
//! [`GitProvider`] for GitLab.com and self-managed GitLab through an
//! **OAuth application the operator registers** (see `docs/code-hosts.md`):
//!
//! * **connect** — `https://<host>/oauth/authorize?…&scope=api+read_repository+write_repository&state=…`;
//!   the callback's `code` is exchanged at `POST /oauth/token`
//!   (`authorization_code`, with `GITLAB_APP_CLIENT_ID`/`GITLAB_APP_CLIENT_SECRET`
//!   and the redirect URI `${LETTUCE_WEB_URL}/v1/integrations/gitlab/callback`);
//!   `GET /api/v4/user` names the connected user (the installation's
//!   external id). The access and refresh tokens go back to the engine in
//!   [`InstallGrant::credentials`] (`expires_at` = `created_at` +
//!   `expires_in`); the engine seals them and asks
//!   [`refresh_credentials`](GitProvider::refresh_credentials)
//!   (`grant_type=refresh_token`) shortly before they expire;
//! * **clone** — `oauth2:<access token>` URL credentials for URLs on the
//!   GitLab host, never logged;
//! * **picker** — `GET /api/v4/projects?membership=true&min_access_level=30`
//!   (Developer and above), every page (`Link: rel="next"` on the API's own
//!   origin, else `X-Next-Page`);
//! * **webhooks** — one project hook per repo (`POST /projects/:id/hooks`,
//!   `push_events`, the account's secret as `token`, SSL verification on; a
//!   hook already delivering to the same URL is updated instead of
//!   duplicated), `webhook_info` and `delete_webhook` for the repair; the
//!   engine checks `X-Gitlab-Token`; `Push Hook` and `Tag Push Hook` bodies
//!   are parsed here;
//! * **errors** — 401 → `Unauthorized` (reconnect GitLab), 403 →
//!   `PermissionDenied` (the role or scope to grant), 404 → `NotFound`, 429
//!   → `RateLimited` with `Retry-After`/`RateLimit-Reset`, which the job
//!   queue honours (nothing sleeps here).
//!
//! HTTP goes through `lettuce-http-client` (reqwest + tracing), like every
//! HTTP-speaking adapter; the `gitlab` crate is not used (see
//! `docs/ARCHITECTURE.md`).

#![deny(missing_docs)]

mod config;

pub use config::GitLabConfig;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lettuce_domain::Secret;
use lettuce_domain::codehost::{GITLAB_SCOPES, Installation, ProviderCredentials};
use lettuce_domain::repo::{RepoUrl, UrlCredentials};
use lettuce_http_client::{ClientOptions, HttpClient};
use lettuce_ports::git::{
    GitError, GitProvider, HookInfo, InstallCallback, InstallGrant, ProviderKind, ProviderStatus, RemoteRepo,
    WebhookEvent, WebhookScheme, WebhookTarget,
};
use serde::Deserialize;
use std::time::Duration;

const NOT_CONFIGURED: &str = "GitLab is not configured on this Lettuce instance";

/// Largest page walk (100 projects a page).
const MAX_PAGES: usize = 100;

/// The `X-Gitlab-Event` of a branch push.
pub const PUSH_HOOK: &str = "Push Hook";
/// The `X-Gitlab-Event` of a tag push.
pub const TAG_PUSH_HOOK: &str = "Tag Push Hook";

/// The GitLab provider. Build it with [`GitLabOAuth::new`]; without a
/// complete configuration it still exists and answers every GitLab call
/// with [`GitError::NotConfigured`] naming the missing variables.
pub struct GitLabOAuth {
    config: GitLabConfig,
    client_secret: Option<Secret>,
    redirect_uri: Option<String>,
    missing: Vec<&'static str>,
    http: HttpClient,
}

impl std::fmt::Debug for GitLabOAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitLabOAuth")
            .field("host", &self.config.host)
            .field("client_id", &self.config.client_id)
            .field("missing", &self.missing)
            .finish_non_exhaustive()
    }
}

fn backend(message: impl Into<String>, retryable: bool) -> GitError {
    GitError::Backend {
        backend: "gitlab",
        source: lettuce_ports::box_msg(message),
        retryable,
    }
}

/// GitLab's error bodies: `{"message": …}` (REST, sometimes an object of
/// field errors) or `{"error", "error_description"}` (OAuth).
#[derive(Deserialize, Default)]
struct ApiMessage {
    #[serde(default)]
    message: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

impl ApiMessage {
    fn parse(body: &str) -> Self {
        serde_json::from_str(body).unwrap_or_default()
    }

    fn text(&self) -> String {
        match (&self.message, &self.error, &self.error_description) {
            (Some(serde_json::Value::String(m)), _, _) => m.clone(),
            (Some(other), _, _) => other.to_string(),
            (None, Some(e), Some(d)) => format!("{e}: {d}"),
            (None, Some(e), None) => e.clone(),
            (None, None, _) => String::new(),
        }
    }
}

#[derive(Deserialize)]
struct TokenJson {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
}

impl TokenJson {
    /// The credentials to keep: `expires_at` is `created_at` + `expires_in`
    /// (`created_at` in the future — clock skew — counts from now). A
    /// refresh answer without a new refresh token keeps `previous`.
    fn credentials(self, previous_refresh: Option<&Secret>) -> ProviderCredentials {
        let now = Utc::now();
        let expires_at = self.expires_in.map(|secs| {
            let created = self
                .created_at
                .and_then(|t| DateTime::from_timestamp(t, 0))
                .filter(|t| *t <= now)
                .unwrap_or(now);
            created + chrono::Duration::seconds(secs)
        });
        ProviderCredentials {
            access_token: Secret::new(self.access_token),
            refresh_token: self
                .refresh_token
                .map(Secret::new)
                .or_else(|| previous_refresh.cloned()),
            expires_at,
        }
    }
}

#[derive(Deserialize)]
struct UserJson {
    id: u64,
}

#[derive(Deserialize)]
struct ProjectJson {
    id: u64,
    path_with_namespace: String,
    http_url_to_repo: String,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    visibility: Option<String>,
}

#[derive(Deserialize)]
struct HookJson {
    id: u64,
    #[serde(default)]
    url: String,
    #[serde(default)]
    push_events: Option<bool>,
    #[serde(default)]
    alert_status: Option<String>,
    #[serde(default)]
    disabled_until: Option<DateTime<Utc>>,
}

impl HookJson {
    /// Whether GitLab will deliver pushes: push events on, not disabled
    /// (`alert_status` `disabled`/`temporarily_disabled`, or a
    /// `disabled_until` in the future, on GitLab versions that report them).
    fn active(&self) -> bool {
        let disabled = matches!(
            self.alert_status.as_deref(),
            Some("disabled") | Some("temporarily_disabled")
        ) || self.disabled_until.is_some_and(|t| t > Utc::now());
        self.push_events != Some(false) && !disabled
    }
}

/// Which call an error answered (for messages a user can act on).
#[derive(Clone, Copy)]
enum Call<'a> {
    /// `POST /oauth/token`, code exchange.
    Exchange,
    /// `POST /oauth/token`, refresh.
    Refresh,
    /// Any other API call with the user's token.
    Api,
    /// Hook management on the project `full_name`.
    Hooks(&'a str),
}

impl GitLabOAuth {
    /// The provider for `config`, with the OAuth application's secret as
    /// resolved through the secret store and Lettuce's public URL
    /// (`LETTUCE_WEB_URL`; the redirect URI is
    /// `<web_url>/v1/integrations/gitlab/callback`). Logs once which
    /// variables are missing, if any.
    pub fn new(config: GitLabConfig, client_secret: Option<Secret>, web_url: Option<String>) -> Result<Self, String> {
        let http = lettuce_http_client::build(ClientOptions::new("lettuce-git-gitlab"))
            .map_err(|e| format!("building the GitLab HTTP client: {e}"))?;
        Ok(Self::with_client(config, client_secret, web_url, http))
    }

    /// [`GitLabOAuth::new`] with a given HTTP client.
    pub fn with_client(
        config: GitLabConfig,
        client_secret: Option<Secret>,
        web_url: Option<String>,
        http: HttpClient,
    ) -> Self {
        let web_url = web_url
            .map(|w| w.trim().trim_end_matches('/').to_owned())
            .filter(|w| !w.is_empty());
        let client_secret = client_secret.filter(|s| !s.expose().trim().is_empty());
        let missing: Vec<&'static str> = [
            ("GITLAB_APP_CLIENT_ID", config.client_id.is_some()),
            ("GITLAB_APP_CLIENT_SECRET", client_secret.is_some()),
            ("LETTUCE_WEB_URL", web_url.is_some()),
        ]
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| name)
        .collect();
        if config.client_id.is_none() && client_secret.is_none() {
            tracing::info!(
                missing = %missing.join(", "),
                "GitLab integration is off: no GitLab OAuth application is configured (see docs/code-hosts.md)"
            );
        } else if !missing.is_empty() {
            tracing::warn!(
                missing = %missing.join(", "),
                "{NOT_CONFIGURED}: set the missing variables on every api and worker process"
            );
        }
        Self {
            redirect_uri: web_url.map(|w| format!("{w}/v1/integrations/gitlab/callback")),
            config,
            client_secret,
            missing,
            http,
        }
    }

    /// The variables that are missing (empty when configured).
    pub fn missing(&self) -> &[&'static str] {
        &self.missing
    }

    /// The OAuth redirect URI registered on the GitLab application, once
    /// `LETTUCE_WEB_URL` is known.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.redirect_uri.as_deref()
    }

    fn not_configured_message(&self) -> String {
        format!(
            "{NOT_CONFIGURED}: set {} on every api and worker process (see docs/code-hosts.md)",
            self.missing.join(", ")
        )
    }

    /// Client id, secret and redirect URI, or `NotConfigured`.
    fn app(&self) -> Result<(&str, &Secret, &str), GitError> {
        match (&self.config.client_id, &self.client_secret, &self.redirect_uri) {
            (Some(id), Some(secret), Some(redirect)) => Ok((id, secret, redirect)),
            _ => Err(GitError::NotConfigured {
                message: self.not_configured_message(),
            }),
        }
    }

    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.config.urls.api)
    }

    /// The installation's access token (opened by the engine).
    fn token<'i>(&self, installation: &'i Installation) -> Result<&'i Secret, GitError> {
        self.app()?;
        installation
            .credentials
            .as_ref()
            .map(|c| &c.access_token)
            .ok_or_else(|| GitError::Unauthorized {
                message: "the GitLab connection has no usable token: reconnect GitLab".into(),
            })
    }

    async fn send(&self, req: lettuce_http_client::RequestBuilder, url: &str) -> Result<reqwest::Response, GitError> {
        req.header("accept", "application/json")
            .send()
            .await
            .map_err(|e| GitError::Network {
                url: url.to_owned(),
                message: e.to_string(),
            })
    }

    async fn json<T: serde::de::DeserializeOwned>(resp: reqwest::Response, url: &str) -> Result<T, GitError> {
        let bytes = resp.bytes().await.map_err(|e| GitError::Network {
            url: url.to_owned(),
            message: e.to_string(),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| backend(format!("unexpected answer from {url}: {e}"), false))
    }

    /// `POST /oauth/token` with `form` (plus the client credentials).
    async fn token_request(&self, form: &[(&str, &str)], call: Call<'_>) -> Result<TokenJson, GitError> {
        let (client_id, secret, redirect) = self.app()?;
        let url = self.config.urls.token_url();
        let body = {
            let mut body = url::form_urlencoded::Serializer::new(String::new());
            body.append_pair("client_id", client_id)
                .append_pair("client_secret", secret.expose())
                .append_pair("redirect_uri", redirect);
            for (k, v) in form {
                body.append_pair(k, v);
            }
            body.finish()
        };
        let req = self
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let resp = self.send(req, &url).await?;
        Self::json(check(resp, &url, call).await?, &url).await
    }

    /// GETs every page of `first`: `Link: rel="next"` when it stays on the
    /// API's origin (so the token never leaves for another host), else
    /// `X-Next-Page` applied to the current URL.
    async fn pages(&self, first: String, token: &Secret, call: Call<'_>) -> Result<Vec<serde_json::Value>, GitError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                tracing::warn!(%url, "GitLab listing stopped after {MAX_PAGES} pages");
                break;
            }
            let resp = self.send(self.http.get(&url).bearer_auth(token.expose()), &url).await?;
            let resp = check(resp, &url, call).await?;
            next =
                next_page(resp.headers(), &url).filter(|n| lettuce_http_client::same_origin(&self.config.urls.api, n));
            let page: serde_json::Value = Self::json(resp, &url).await?;
            out.push(page);
        }
        Ok(out)
    }

    /// The project's hooks delivering to `target`, if any.
    async fn existing_hook(&self, token: &Secret, repo: &RemoteRepo, target: &str) -> Result<Option<u64>, GitError> {
        let pages = self
            .pages(
                self.api(&format!("/projects/{}/hooks?per_page=100", project_ref(repo))),
                token,
                Call::Hooks(&repo.full_name),
            )
            .await?;
        for p in pages {
            let hooks: Vec<HookJson> =
                serde_json::from_value(p).map_err(|e| backend(format!("unexpected hooks list: {e}"), false))?;
            if let Some(h) = hooks.iter().find(|h| h.url == target) {
                return Ok(Some(h.id));
            }
        }
        Ok(None)
    }
}

/// The project as GitLab's `:id` path parameter: the numeric id, else the
/// URL-encoded `namespace/path`.
fn project_ref(repo: &RemoteRepo) -> String {
    if !repo.id.is_empty() && repo.id.bytes().all(|b| b.is_ascii_digit()) {
        repo.id.clone()
    } else {
        url::form_urlencoded::byte_serialize(repo.full_name.as_bytes()).collect()
    }
}

fn hook_ref(hook_id: &str) -> Result<&str, GitError> {
    if !hook_id.is_empty() && hook_id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(hook_id)
    } else {
        Err(backend(format!("`{hook_id}` is not a GitLab hook id"), false))
    }
}

/// The next page of a listing: the `rel="next"` URL of a `Link` header,
/// else `current` with its `page` set to `X-Next-Page` (empty on the last
/// page).
fn next_page(headers: &reqwest::header::HeaderMap, current: &str) -> Option<String> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(next) = lettuce_http_client::link_next(headers) {
        return Some(next);
    }
    let page = get("x-next-page").filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))?;
    let mut url = url::Url::parse(current).ok()?;
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair("page", page);
    Some(url.into())
}

/// How long a 429 asks us to wait: `Retry-After` (seconds), else
/// `RateLimit-Reset` (epoch seconds), else a minute.
fn rate_limit_wait(headers: &reqwest::header::HeaderMap) -> Duration {
    lettuce_http_client::retry_after(headers)
        .map(|d| d.max(Duration::from_secs(1)))
        .or_else(|| lettuce_http_client::wait_until_epoch(headers, "ratelimit-reset"))
        .unwrap_or(Duration::from_secs(60))
}

/// Maps a non-2xx answer to the port's errors, with messages a user can act on.
async fn check(resp: reqwest::Response, url: &str, call: Call<'_>) -> Result<reqwest::Response, GitError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let code = status.as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    let parsed = ApiMessage::parse(&body);
    let message = parsed.text();
    if code == 429 {
        let wait = rate_limit_wait(&headers);
        return Err(GitError::RateLimited {
            retry_after: Some(wait),
            message: format!(
                "GitLab rate limit reached ({}); Lettuce retries in {} s",
                if message.is_empty() { body.trim() } else { &message },
                wait.as_secs()
            ),
        });
    }
    let oauth_error = parsed.error.as_deref();
    Err(match (code, call) {
        (400 | 401, Call::Exchange | Call::Refresh) if oauth_error == Some("invalid_client") => {
            GitError::Unauthorized {
                message: format!(
                    "GitLab refused the OAuth application's credentials ({message}): the operator must check GITLAB_APP_CLIENT_ID and GITLAB_APP_CLIENT_SECRET"
                ),
            }
        }
        (400 | 401, Call::Exchange) => GitError::Unauthorized {
            message: format!("GitLab refused the authorization code ({message}): connect GitLab again"),
        },
        (400 | 401, Call::Refresh) => GitError::Unauthorized {
            message: format!(
                "GitLab refused to renew the connection's token ({message}): the authorization was revoked or expired; reconnect GitLab"
            ),
        },
        (401, _) => GitError::Unauthorized {
            message: format!("GitLab rejected the connection's token ({message}): reconnect GitLab"),
        },
        (403, Call::Hooks(repo)) => GitError::PermissionDenied {
            message: format!(
                "GitLab refused to manage the webhooks of {repo} ({message}): the connected GitLab user needs the Maintainer role on the project, and the GitLab connection the `api` and `write_repository` scopes (reconnect GitLab after adding them to the OAuth application)"
            ),
        },
        (403, _) => GitError::PermissionDenied {
            message: format!(
                "GitLab refused {url} ({message}): the GitLab connection lacks a scope it needs (`api`, `read_repository`, `write_repository`): add them to the OAuth application, then reconnect GitLab"
            ),
        },
        (404, Call::Hooks(repo)) => GitError::PermissionDenied {
            message: format!(
                "GitLab does not show the project {repo} to the connected user ({message}): check the project still exists and that the user is a member with the Maintainer role"
            ),
        },
        (404, _) => GitError::NotFound { url: url.to_owned() },
        (c, _) if c >= 500 => GitError::Network {
            url: url.to_owned(),
            message: format!("GitLab answered {status}"),
        },
        _ => backend(format!("GitLab answered {status} for {url}: {message}"), false),
    })
}

fn malformed(message: impl Into<String>) -> GitError {
    GitError::MalformedPayload {
        message: message.into(),
    }
}

fn is_commit_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parses a `Push Hook` or `Tag Push Hook` body.
fn parse_push(v: &serde_json::Value) -> Result<WebhookEvent, GitError> {
    let git_ref = v
        .get("ref")
        .and_then(|r| r.as_str())
        .ok_or_else(|| malformed("no ref"))?;
    let head = v
        .get("after")
        .and_then(|r| r.as_str())
        .ok_or_else(|| malformed("no after"))?;
    if !is_commit_id(head) {
        return Err(malformed("after is not a commit id"));
    }
    let id = v
        .pointer("/project/id")
        .or_else(|| v.get("project_id"))
        .ok_or_else(|| malformed("no project.id"))?;
    let provider_repo_id = match id {
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err(malformed("project.id is not a number")),
    };
    let full_name = v
        .pointer("/project/path_with_namespace")
        .and_then(|r| r.as_str())
        .ok_or_else(|| malformed("no project.path_with_namespace"))?;
    Ok(WebhookEvent::Push {
        provider_repo_id,
        full_name: full_name.to_owned(),
        branch: git_ref.strip_prefix("refs/heads/").map(str::to_owned),
        head: head.to_ascii_lowercase(),
    })
}

#[async_trait]
impl GitProvider for GitLabOAuth {
    fn kind(&self) -> ProviderKind {
        ProviderKind::GitLab
    }

    fn owns(&self, url: &RepoUrl) -> bool {
        lettuce_domain::codehost::url_on_web_host(url, &self.config.urls.web)
    }

    fn status(&self) -> ProviderStatus {
        match self.app() {
            Ok(_) => ProviderStatus::Ready,
            Err(_) => ProviderStatus::NotConfigured {
                message: self.not_configured_message(),
            },
        }
    }

    fn install_url(&self, state: &str) -> Result<String, GitError> {
        let (client_id, _, redirect) = self.app()?;
        Ok(self.config.urls.authorize_url(client_id, redirect, state))
    }

    async fn complete_install(&self, callback: &InstallCallback) -> Result<InstallGrant, GitError> {
        self.app()?;
        if let Some(e) = &callback.error {
            return Err(GitError::Unauthorized {
                message: format!("GitLab answered `{e}`"),
            });
        }
        let code = callback
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| GitError::Unauthorized {
                message: "the callback carries no authorization code: connect GitLab from the Connect GitLab button"
                    .into(),
            })?;
        let tok = self
            .token_request(&[("grant_type", "authorization_code"), ("code", code)], Call::Exchange)
            .await?;
        let scopes: Vec<String> = match &tok.scope {
            Some(s) if !s.trim().is_empty() => s.split_whitespace().map(str::to_owned).collect(),
            _ => GITLAB_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        };
        let credentials = tok.credentials(None);
        let url = self.api("/user");
        let resp = self
            .send(self.http.get(&url).bearer_auth(credentials.access_token.expose()), &url)
            .await?;
        let user: UserJson = Self::json(check(resp, &url, Call::Api).await?, &url).await?;
        Ok(InstallGrant {
            external_id: user.id.to_string(),
            scopes,
            credentials: Some(credentials),
        })
    }

    async fn refresh_credentials(&self, installation: &Installation) -> Result<ProviderCredentials, GitError> {
        self.app()?;
        let refresh = installation
            .credentials
            .as_ref()
            .and_then(|c| c.refresh_token.as_ref())
            .ok_or_else(|| GitError::Unauthorized {
                message: "the GitLab connection has no refresh token: reconnect GitLab".into(),
            })?;
        let tok = self
            .token_request(
                &[("grant_type", "refresh_token"), ("refresh_token", refresh.expose())],
                Call::Refresh,
            )
            .await?;
        Ok(tok.credentials(Some(refresh)))
    }

    async fn clone_credentials(
        &self,
        installation: &Installation,
        url: &RepoUrl,
    ) -> Result<Option<UrlCredentials>, GitError> {
        if !self.owns(url) {
            return Ok(None);
        }
        let token = self.token(installation)?;
        Ok(Some(UrlCredentials {
            username: "oauth2".into(),
            password: token.clone(),
        }))
    }

    async fn list_repos(&self, installation: &Installation) -> Result<Vec<RemoteRepo>, GitError> {
        let token = self.token(installation)?;
        // Not `simple=true`: the simple representation has no `visibility`.
        let pages = self
            .pages(
                self.api("/projects?membership=true&min_access_level=30&per_page=100&order_by=id&sort=asc"),
                token,
                Call::Api,
            )
            .await?;
        let mut out = Vec::new();
        for p in pages {
            let page: Vec<ProjectJson> =
                serde_json::from_value(p).map_err(|e| backend(format!("unexpected /projects: {e}"), false))?;
            out.extend(page.into_iter().map(|p| RemoteRepo {
                id: p.id.to_string(),
                full_name: p.path_with_namespace,
                clone_url: p.http_url_to_repo,
                default_branch: p.default_branch,
                private: p.visibility.as_deref() != Some("public"),
            }));
        }
        Ok(out)
    }

    async fn register_webhook(
        &self,
        installation: &Installation,
        repo: &RemoteRepo,
        target: &WebhookTarget,
    ) -> Result<String, GitError> {
        let token = self.token(installation)?;
        let body = serde_json::json!({
            "url": target.url,
            "token": target.secret.expose(),
            "push_events": true,
            "tag_push_events": false,
            "enable_ssl_verification": true,
        });
        let project = project_ref(repo);
        let call = Call::Hooks(&repo.full_name);
        let (req, url) = match self.existing_hook(token, repo, &target.url).await? {
            // Already there (a retry): refresh its token and events.
            Some(id) => {
                let url = self.api(&format!("/projects/{project}/hooks/{id}"));
                (self.http.put(&url), url)
            }
            None => {
                let url = self.api(&format!("/projects/{project}/hooks"));
                (self.http.post(&url), url)
            }
        };
        let resp = self.send(req.bearer_auth(token.expose()).json(&body), &url).await?;
        let hook: HookJson = Self::json(check(resp, &url, call).await?, &url).await?;
        Ok(hook.id.to_string())
    }

    async fn webhook_info(
        &self,
        installation: &Installation,
        repo: &RemoteRepo,
        hook_id: &str,
    ) -> Result<Option<HookInfo>, GitError> {
        let token = self.token(installation)?;
        let url = self.api(&format!("/projects/{}/hooks/{}", project_ref(repo), hook_ref(hook_id)?));
        let resp = self.send(self.http.get(&url).bearer_auth(token.expose()), &url).await?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let hook: HookJson = Self::json(check(resp, &url, Call::Hooks(&repo.full_name)).await?, &url).await?;
        Ok(Some(HookInfo {
            active: hook.active(),
            url: hook.url,
        }))
    }

    async fn delete_webhook(
        &self,
        installation: &Installation,
        repo: &RemoteRepo,
        hook_id: &str,
    ) -> Result<(), GitError> {
        let token = self.token(installation)?;
        let url = self.api(&format!("/projects/{}/hooks/{}", project_ref(repo), hook_ref(hook_id)?));
        let resp = self
            .send(self.http.delete(&url).bearer_auth(token.expose()), &url)
            .await?;
        if resp.status().as_u16() == 404 {
            return Ok(());
        }
        check(resp, &url, Call::Hooks(&repo.full_name)).await?;
        Ok(())
    }

    /// `X-Gitlab-Token` carries the account's secret itself (GitLab signs
    /// nothing). No delivery header is declared: `X-Gitlab-Event-UUID` is
    /// shared by recursive webhooks and repeated by "Resend request", older
    /// self-managed versions do not send it, and with a bare token (no body
    /// signature) refusing a seen id adds no protection — anyone holding
    /// the token can mint a new id. A duplicate push costs one coalesced,
    /// de-duplicated re-index.
    fn webhook_scheme(&self) -> Option<WebhookScheme> {
        Some(WebhookScheme {
            signature_header: "x-gitlab-token",
            token: true,
            event_header: "x-gitlab-event",
            delivery_header: None,
        })
    }

    fn parse_webhook(&self, event: &str, body: &[u8]) -> Result<WebhookEvent, GitError> {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
        if !v.is_object() {
            return Err(malformed("not a JSON object"));
        }
        match event {
            PUSH_HOOK => parse_push(&v),
            TAG_PUSH_HOOK => match parse_push(&v)? {
                WebhookEvent::Push {
                    provider_repo_id,
                    full_name,
                    head,
                    ..
                } => Ok(WebhookEvent::Push {
                    provider_repo_id,
                    full_name,
                    branch: None,
                    head,
                }),
                other => Ok(other),
            },
            other => Ok(WebhookEvent::Other {
                event: other.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn next_page_from_link_or_x_next_page() {
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static(
                "<https://gitlab.example.com/api/v4/projects?page=1>; rel=\"prev\", <https://gitlab.example.com/api/v4/projects?page=3>; rel=\"next\"",
            ),
        );
        assert_eq!(
            next_page(&h, "https://gitlab.example.com/api/v4/projects?page=2").as_deref(),
            Some("https://gitlab.example.com/api/v4/projects?page=3")
        );
        let mut h = HeaderMap::new();
        h.insert("x-next-page", HeaderValue::from_static("2"));
        assert_eq!(
            next_page(&h, "https://g.example/api/v4/projects?membership=true&per_page=100").as_deref(),
            Some("https://g.example/api/v4/projects?membership=true&per_page=100&page=2")
        );
        assert_eq!(
            next_page(&h, "https://g.example/api/v4/projects?page=1&per_page=100").as_deref(),
            Some("https://g.example/api/v4/projects?per_page=100&page=2")
        );
        let mut last = HeaderMap::new();
        last.insert("x-next-page", HeaderValue::from_static(""));
        assert_eq!(next_page(&last, "https://g.example/api/v4/projects"), None);
        assert_eq!(next_page(&HeaderMap::new(), "https://g.example/api/v4/projects"), None);
    }

    #[test]
    fn rate_limit_waits() {
        let mut h = HeaderMap::new();
        assert_eq!(rate_limit_wait(&h), Duration::from_secs(60));
        let reset = (Utc::now().timestamp() + 120).to_string();
        h.insert("ratelimit-reset", HeaderValue::from_str(&reset).unwrap());
        let wait = rate_limit_wait(&h);
        assert!(wait.as_secs() > 100 && wait.as_secs() <= 120, "{wait:?}");
        h.insert("retry-after", HeaderValue::from_static("30"));
        assert_eq!(rate_limit_wait(&h), Duration::from_secs(30));
    }

    #[test]
    fn token_expiry_from_created_at() {
        let created = Utc::now().timestamp() - 100;
        let t = TokenJson {
            access_token: "a".into(),
            refresh_token: None,
            expires_in: Some(7200),
            created_at: Some(created),
            scope: None,
        };
        let c = t.credentials(Some(&Secret::new("old-refresh")));
        assert_eq!(c.expires_at.map(|e| e.timestamp()), Some(created + 7200));
        assert_eq!(c.refresh_token.as_ref().map(|s| s.expose()), Some("old-refresh"));
        let future = TokenJson {
            access_token: "a".into(),
            refresh_token: Some("new".into()),
            expires_in: Some(60),
            created_at: Some(Utc::now().timestamp() + 3600),
            scope: None,
        };
        let c = future.credentials(Some(&Secret::new("old")));
        let left = c.expires_at.unwrap() - Utc::now();
        assert!(left <= chrono::Duration::seconds(60), "{left}");
        assert_eq!(c.refresh_token.as_ref().map(|s| s.expose()), Some("new"));
    }

    #[test]
    fn hooks_that_do_not_deliver_are_inactive() {
        let hook = |v: serde_json::Value| -> HookJson { serde_json::from_value(v).unwrap() };
        assert!(hook(serde_json::json!({"id": 1, "url": "u"})).active());
        assert!(hook(serde_json::json!({"id": 1, "url": "u", "alert_status": "executable"})).active());
        assert!(!hook(serde_json::json!({"id": 1, "url": "u", "alert_status": "disabled"})).active());
        assert!(!hook(serde_json::json!({"id": 1, "url": "u", "alert_status": "temporarily_disabled"})).active());
        assert!(!hook(serde_json::json!({"id": 1, "url": "u", "push_events": false})).active());
        let later = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        assert!(!hook(serde_json::json!({"id": 1, "url": "u", "disabled_until": later})).active());
    }

    #[test]
    fn project_refs() {
        let repo = |id: &str, name: &str| RemoteRepo {
            id: id.into(),
            full_name: name.into(),
            clone_url: String::new(),
            default_branch: None,
            private: true,
        };
        assert_eq!(project_ref(&repo("15", "mike/diaspora")), "15");
        assert_eq!(project_ref(&repo("", "group/sub/proj")), "group%2Fsub%2Fproj");
    }
}
