//! # lettuce-git-bitbucket
//!
//! [`GitProvider`] for Bitbucket, in the one flavour an instance runs
//! (`BITBUCKET_FLAVOR`, see `docs/code-hosts.md`):
//!
//! * **Cloud** (`bitbucket.org`, REST 2.0) through an OAuth consumer the
//!   operator registers (`BITBUCKET_APP_CLIENT_ID`/`_SECRET`): consent at
//!   `/site/oauth2/authorize`, code exchange and refresh at
//!   `/site/oauth2/access_token` with HTTP Basic client authentication; the
//!   connection is the user (`GET /2.0/user` → `uuid`); the picker lists every
//!   workspace of the user (`GET /2.0/user/workspaces`) and, in each, the
//!   repositories with contributor access or more
//!   (`GET /2.0/repositories/{workspace}?role=contributor`), following `next`;
//!   clones as `x-token-auth:<token>`; a `repo:push` webhook per repo with the
//!   account's secret (`X-Hub-Signature: sha256=…`).
//! * **Data Center** (`BITBUCKET_HOST`, REST 1.0): a user pastes an HTTP
//!   access token (checked with `/plugins/servlet/applinks/whoami` and
//!   `GET /rest/api/1.0/users/{name}`), or connects through OAuth 2
//!   (`/rest/oauth2/latest/{authorize,token}`) when the incoming application
//!   link's client is configured; the picker lists repositories with
//!   `REPO_WRITE` or more (`values`/`isLastPage`/`nextPageStart` paging) as
//!   `PROJECT/slug`; clones as `<username>:<token>`; a `repo:refs_changed`
//!   webhook per repo with `configuration.secret`.
//!
//! Errors: 401 → `Unauthorized` (the engine marks the connection
//! `needs_reauth`), 403 → `PermissionDenied` naming the permission, 404 →
//! `NotFound`, 429 → `RateLimited` with `Retry-After` (never slept on here),
//! 5xx → `Network`. HTTP goes through `lettuce-http-client`.

#![deny(missing_docs)]

mod cloud;
mod config;
mod dc;

pub use config::BitbucketConfig;

use async_trait::async_trait;
use chrono::Utc;
use lettuce_domain::Secret;
use lettuce_domain::codehost::{BitbucketFlavor, Installation, ProviderCredentials};
use lettuce_domain::repo::{RepoUrl, UrlCredentials};
use lettuce_http_client::{ClientOptions, HttpClient, RequestBuilder};
use lettuce_ports::git::{
    GitError, GitProvider, HookInfo, InstallCallback, InstallGrant, ProviderKind, ProviderStatus, RemoteRepo,
    WebhookEvent, WebhookScheme, WebhookTarget,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

const CLOUD_NOT_CONFIGURED: &str = "Bitbucket OAuth consumer is not configured on this Lettuce instance";

/// Largest page walk.
const MAX_PAGES: usize = 200;

/// The description Lettuce gives the webhooks it creates.
const HOOK_NAME: &str = "Lettuce";

struct OAuthClient {
    id: String,
    secret: Secret,
}

/// The Bitbucket provider (Cloud or Data Center, per [`BitbucketConfig`]).
/// Build it with [`Bitbucket::new`]. A Cloud instance without its OAuth
/// consumer still exists and answers [`GitError::NotConfigured`] naming the
/// missing variables.
pub struct Bitbucket {
    config: BitbucketConfig,
    oauth: Option<OAuthClient>,
    missing: Vec<&'static str>,
    redirect_uri: String,
    http: HttpClient,
    /// Data Center: default branch per repo id (the listing has none).
    default_branches: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

impl std::fmt::Debug for Bitbucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bitbucket")
            .field("flavor", &self.config.flavor)
            .field("host", &self.config.host)
            .field("client_id", &self.config.client_id)
            .field("missing", &self.missing)
            .finish_non_exhaustive()
    }
}

fn backend(message: impl Into<String>, retryable: bool) -> GitError {
    GitError::Backend {
        backend: "bitbucket",
        source: lettuce_ports::box_msg(message),
        retryable,
    }
}

fn malformed(message: impl Into<String>) -> GitError {
    GitError::MalformedPayload {
        message: message.into(),
    }
}

fn network(url: &str, e: impl std::fmt::Display) -> GitError {
    GitError::Network {
        url: url.to_owned(),
        message: e.to_string(),
    }
}

/// An OAuth token endpoint's answer (Cloud and Data Center).
#[derive(Deserialize)]
struct OAuthToken {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    /// Cloud: `scopes`; Data Center: `scope`.
    #[serde(default, alias = "scope")]
    scopes: Option<String>,
}

/// Which call an error answered (for messages a user can act on).
#[derive(Clone, Copy)]
enum Call<'a> {
    /// An authenticated API call with the stored token.
    Api,
    /// Managing the webhooks of a repo.
    Hooks(&'a str),
    /// Exchanging an authorization code.
    Code,
    /// Refreshing tokens.
    Refresh,
    /// Checking a pasted access token.
    TokenCheck,
}

impl Bitbucket {
    /// The provider for `config`, with the OAuth client secret as resolved
    /// through the secret store and `redirect_uri`, the callback
    /// (`${LETTUCE_WEB_URL}/v1/integrations/bitbucket/callback`). Logs once
    /// which OAuth variables are missing, if any.
    pub fn new(config: BitbucketConfig, client_secret: Option<Secret>, redirect_uri: String) -> Result<Self, String> {
        let http = lettuce_http_client::build(ClientOptions::new("lettuce-git-bitbucket"))
            .map_err(|e| format!("building the Bitbucket HTTP client: {e}"))?;
        Ok(Self::with_client(config, client_secret, redirect_uri, http))
    }

    /// [`Bitbucket::new`] with a given HTTP client.
    pub fn with_client(
        config: BitbucketConfig,
        client_secret: Option<Secret>,
        redirect_uri: String,
        http: HttpClient,
    ) -> Self {
        let missing: Vec<&'static str> = [
            ("BITBUCKET_APP_CLIENT_ID", config.client_id.is_some()),
            ("BITBUCKET_APP_CLIENT_SECRET", client_secret.is_some()),
        ]
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| name)
        .collect();
        let oauth = match (&config.client_id, client_secret) {
            (Some(id), Some(secret)) => Some(OAuthClient { id: id.clone(), secret }),
            _ => None,
        };
        match (config.flavor, missing.len()) {
            (_, 0) => {}
            (BitbucketFlavor::Cloud, 2) => tracing::info!(
                missing = %missing.join(", "),
                "Bitbucket integration is off: no Bitbucket OAuth consumer is configured (see docs/code-hosts.md)"
            ),
            (BitbucketFlavor::Cloud, _) => tracing::warn!(
                missing = %missing.join(", "),
                "{CLOUD_NOT_CONFIGURED}: set the missing variables on every api and worker process"
            ),
            (BitbucketFlavor::Dc, 2) => tracing::info!(
                host = %config.host,
                "Bitbucket Data Center: users connect with HTTP access tokens; OAuth 2 is off (set BITBUCKET_APP_CLIENT_ID and BITBUCKET_APP_CLIENT_SECRET to enable it)"
            ),
            (BitbucketFlavor::Dc, _) => tracing::warn!(
                missing = %missing.join(", "),
                "Bitbucket Data Center OAuth 2 is half configured: set the missing variables on every api and worker process (HTTP access tokens still work)"
            ),
        }
        Self {
            config,
            oauth,
            missing,
            redirect_uri,
            http,
            default_branches: Mutex::new(HashMap::new()),
        }
    }

    /// The OAuth variables that are missing (empty when configured).
    pub fn missing(&self) -> &[&'static str] {
        &self.missing
    }

    fn not_configured_message(&self) -> String {
        match self.config.flavor {
            BitbucketFlavor::Cloud => format!(
                "{CLOUD_NOT_CONFIGURED}: the operator must set {} on every api and worker process",
                self.missing.join(", ")
            ),
            BitbucketFlavor::Dc => format!(
                "Bitbucket Data Center OAuth 2 is not configured on this Lettuce instance: connect with an HTTP access token instead, or the operator sets {}",
                self.missing.join(", ")
            ),
        }
    }

    fn oauth(&self) -> Result<&OAuthClient, GitError> {
        self.oauth.as_ref().ok_or_else(|| GitError::NotConfigured {
            message: self.not_configured_message(),
        })
    }

    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.config.urls.api)
    }

    /// The stored access token of `installation` (opened by the engine).
    fn token(installation: &Installation) -> Result<&Secret, GitError> {
        installation
            .credentials
            .as_ref()
            .map(|c| &c.access_token)
            .ok_or_else(|| GitError::Unauthorized {
                message: "this Bitbucket connection holds no token: reconnect Bitbucket".into(),
            })
    }

    async fn send(&self, req: RequestBuilder, url: &str) -> Result<reqwest::Response, GitError> {
        req.header("accept", "application/json")
            .send()
            .await
            .map_err(|e| network(url, e))
    }

    async fn json<T: serde::de::DeserializeOwned>(resp: reqwest::Response, url: &str) -> Result<T, GitError> {
        let bytes = resp.bytes().await.map_err(|e| network(url, e))?;
        serde_json::from_slice(&bytes).map_err(|e| backend(format!("unexpected answer from {url}: {e}"), false))
    }

    /// An authenticated GET, checked, as JSON.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        token: &Secret,
        call: Call<'_>,
    ) -> Result<T, GitError> {
        let resp = self.send(self.http.get(url).bearer_auth(token.expose()), url).await?;
        Self::json(self.check(resp, url, call).await?, url).await
    }

    /// Whether `next` stays on the API's origin (a token never leaves it).
    fn same_origin(&self, next: &str) -> bool {
        lettuce_http_client::same_origin(&self.config.urls.api, next)
    }

    /// Exchanges a form at the OAuth token endpoint (`grant_type` and the
    /// grant's fields); Cloud authenticates the client with HTTP Basic,
    /// Data Center with `client_id`/`client_secret` form fields.
    async fn token_request(&self, fields: &[(&str, &str)], call: Call<'_>) -> Result<OAuthToken, GitError> {
        let c = self.oauth()?;
        let url = self.config.urls.token.clone();
        let mut req = self
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded");
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in fields {
                form.append_pair(k, v);
            }
            match self.config.flavor {
                BitbucketFlavor::Cloud => {
                    req = req.basic_auth(&c.id, Some(c.secret.expose()));
                }
                BitbucketFlavor::Dc => {
                    form.append_pair("client_id", &c.id);
                    form.append_pair("client_secret", c.secret.expose());
                    form.append_pair("redirect_uri", &self.redirect_uri);
                }
            }
            form.finish()
        };
        let resp = self.send(req.body(form), &url).await?;
        let tok: OAuthToken = Self::json(self.check(resp, &url, call).await?, &url).await?;
        if tok.access_token.as_deref().is_none_or(str::is_empty) {
            return Err(backend(format!("{url} answered without an access_token"), false));
        }
        Ok(tok)
    }

    /// Credentials from a token answer (`previous` refresh token kept when
    /// the host does not rotate it).
    fn credentials(tok: OAuthToken, previous: Option<&Secret>) -> ProviderCredentials {
        ProviderCredentials {
            access_token: Secret::new(tok.access_token.unwrap_or_default()),
            refresh_token: tok.refresh_token.map(Secret::new).or_else(|| previous.cloned()),
            expires_at: tok.expires_in.map(|s| Utc::now() + chrono::Duration::seconds(s.max(0))),
        }
    }

    async fn refresh(&self, installation: &Installation) -> Result<ProviderCredentials, GitError> {
        let refresh = installation
            .credentials
            .as_ref()
            .and_then(|c| c.refresh_token.as_ref())
            .ok_or_else(|| GitError::Unauthorized {
                message: "this Bitbucket connection has no refresh token: reconnect Bitbucket".into(),
            })?;
        let tok = self
            .token_request(
                &[("grant_type", "refresh_token"), ("refresh_token", refresh.expose())],
                Call::Refresh,
            )
            .await?;
        Ok(Self::credentials(tok, Some(refresh)))
    }

    /// Maps a non-2xx answer to the port's errors, with messages a user can
    /// act on.
    async fn check(&self, resp: reqwest::Response, url: &str, call: Call<'_>) -> Result<reqwest::Response, GitError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let code = status.as_u16();
        let retry_after = lettuce_http_client::retry_after(resp.headers());
        let body = resp.text().await.unwrap_or_default();
        let message = error_message(&body);
        let cloud = self.config.flavor == BitbucketFlavor::Cloud;
        if code == 429 {
            let when = retry_after.map_or("later".to_owned(), |w| format!("in {} s", w.as_secs()));
            return Err(GitError::RateLimited {
                retry_after,
                message: format!("Bitbucket rate limit reached ({message}); Lettuce retries {when}"),
            });
        }
        Err(match (code, call) {
            (400 | 401, Call::Code) => GitError::Unauthorized {
                message: format!(
                    "Bitbucket refused the authorization code ({message}): check BITBUCKET_APP_CLIENT_ID and BITBUCKET_APP_CLIENT_SECRET, then connect again"
                ),
            },
            (400 | 401, Call::Refresh) => GitError::Unauthorized {
                message: format!("Bitbucket refused the refresh token ({message}): reconnect Bitbucket"),
            },
            (401, Call::TokenCheck) => GitError::Unauthorized {
                message: format!("Bitbucket refused the token ({message}): paste a valid, unexpired HTTP access token"),
            },
            (401, _) => GitError::Unauthorized {
                message: format!("Bitbucket refused the stored token ({message}): reconnect Bitbucket"),
            },
            (403, Call::Hooks(repo)) if cloud => GitError::PermissionDenied {
                message: format!(
                    "Bitbucket refused to manage the webhooks of {repo} ({message}): the OAuth consumer needs the `Webhooks: Read and write` permission — re-create the consumer with it and reconnect"
                ),
            },
            (403, Call::Hooks(repo)) => GitError::PermissionDenied {
                message: format!(
                    "Bitbucket refused to manage the webhooks of {repo} ({message}): webhooks need admin permission on the repository — connect with an HTTP access token (or an account) that has Repository admin"
                ),
            },
            (403, _) if cloud => GitError::PermissionDenied {
                message: format!(
                    "Bitbucket refused {url} ({message}): the OAuth consumer lacks a permission it needs (Account: Read, Workspace membership: Read, Projects: Read, Repositories: Read and Write, Webhooks: Read and Write)"
                ),
            },
            (403, _) => GitError::PermissionDenied {
                message: format!(
                    "Bitbucket refused {url} ({message}): the token lacks a permission it needs (Repository write to list and clone, Repository admin for webhooks)"
                ),
            },
            (404, _) => GitError::NotFound { url: url.to_owned() },
            (c, _) if c >= 500 => GitError::Network {
                url: url.to_owned(),
                message: format!("Bitbucket answered {status}"),
            },
            _ => backend(format!("Bitbucket answered {status} for {url}: {message}"), false),
        })
    }

    /// Whether `url` is on this Bitbucket's web host (and port).
    fn owns_url(&self, url: &RepoUrl) -> bool {
        lettuce_domain::codehost::url_on_web_host(url, &self.config.urls.web)
    }
}

/// The message of a Bitbucket error body: Cloud's
/// `{"type":"error","error":{"message"}}`, Data Center's
/// `{"errors":[{"message"}]}`, OAuth's `{"error","error_description"}`.
fn error_message(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.chars().take(200).collect();
    };
    if let Some(m) = v.pointer("/error/message").and_then(|m| m.as_str()) {
        return m.to_owned();
    }
    if let Some(m) = v.pointer("/errors/0/message").and_then(|m| m.as_str()) {
        return m.to_owned();
    }
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        let d = v.get("error_description").and_then(|d| d.as_str()).unwrap_or_default();
        return if d.is_empty() {
            e.to_owned()
        } else {
            format!("{e}: {d}")
        };
    }
    String::new()
}

/// `url` without user info (the API's clone links carry the user name).
fn strip_userinfo(href: &str) -> Option<String> {
    let mut u = url::Url::parse(href).ok()?;
    u.set_username("").ok()?;
    u.set_password(None).ok()?;
    Some(u.into())
}

/// Whether `s` is a full commit id.
fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[async_trait]
impl GitProvider for Bitbucket {
    fn kind(&self) -> ProviderKind {
        match self.config.flavor {
            BitbucketFlavor::Cloud => ProviderKind::BitbucketCloud,
            BitbucketFlavor::Dc => ProviderKind::BitbucketDc,
        }
    }

    fn owns(&self, url: &RepoUrl) -> bool {
        self.owns_url(url)
    }

    fn status(&self) -> ProviderStatus {
        match (self.config.flavor, &self.oauth) {
            (BitbucketFlavor::Cloud, None) => ProviderStatus::NotConfigured {
                message: self.not_configured_message(),
            },
            _ => ProviderStatus::Ready,
        }
    }

    fn install_url(&self, state: &str) -> Result<String, GitError> {
        let c = self.oauth()?;
        let mut url = url::Url::parse(&self.config.urls.authorize)
            .map_err(|e| backend(format!("bad authorize URL: {e}"), false))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &c.id).append_pair("response_type", "code");
            if self.config.flavor == BitbucketFlavor::Dc {
                q.append_pair("redirect_uri", &self.redirect_uri)
                    .append_pair("scope", "REPO_ADMIN");
            }
            q.append_pair("state", state);
        }
        Ok(url.into())
    }

    async fn complete_install(&self, callback: &InstallCallback) -> Result<InstallGrant, GitError> {
        if let Some(e) = &callback.error {
            return Err(GitError::Unauthorized {
                message: format!("Bitbucket answered `{e}`"),
            });
        }
        match self.config.flavor {
            BitbucketFlavor::Cloud => self.cloud_complete_install(callback).await,
            BitbucketFlavor::Dc => self.dc_complete_install(callback).await,
        }
    }

    fn accepts_token(&self) -> bool {
        self.config.flavor == BitbucketFlavor::Dc
    }

    async fn refresh_credentials(&self, installation: &Installation) -> Result<ProviderCredentials, GitError> {
        self.refresh(installation).await
    }

    async fn clone_credentials(
        &self,
        installation: &Installation,
        url: &RepoUrl,
    ) -> Result<Option<UrlCredentials>, GitError> {
        if !self.owns(url) {
            return Ok(None);
        }
        let token = Self::token(installation)?.clone();
        let username = match self.config.flavor {
            // Bitbucket Cloud's documented user name for OAuth access tokens.
            BitbucketFlavor::Cloud => "x-token-auth".to_owned(),
            // Data Center: HTTP access tokens replace the password of their
            // user, whose name the connection keeps as its external id.
            BitbucketFlavor::Dc => installation.external_id.clone(),
        };
        Ok(Some(UrlCredentials {
            username,
            password: token,
        }))
    }

    async fn list_repos(&self, installation: &Installation) -> Result<Vec<RemoteRepo>, GitError> {
        let token = Self::token(installation)?;
        match self.config.flavor {
            BitbucketFlavor::Cloud => self.cloud_list_repos(token).await,
            BitbucketFlavor::Dc => self.dc_list_repos(token).await,
        }
    }

    async fn register_webhook(
        &self,
        installation: &Installation,
        repo: &RemoteRepo,
        target: &WebhookTarget,
    ) -> Result<String, GitError> {
        let token = Self::token(installation)?;
        match self.config.flavor {
            BitbucketFlavor::Cloud => self.cloud_register_webhook(token, repo, target).await,
            BitbucketFlavor::Dc => self.dc_register_webhook(token, repo, target).await,
        }
    }

    async fn webhook_info(
        &self,
        installation: &Installation,
        repo: &RemoteRepo,
        hook_id: &str,
    ) -> Result<Option<HookInfo>, GitError> {
        let token = Self::token(installation)?;
        let url = self.hook_url(repo, hook_id)?;
        let resp = self.send(self.http.get(&url).bearer_auth(token.expose()), &url).await?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let hook: serde_json::Value =
            Self::json(self.check(resp, &url, Call::Hooks(&repo.full_name)).await?, &url).await?;
        Ok(Some(HookInfo {
            url: hook.get("url").and_then(|u| u.as_str()).unwrap_or_default().to_owned(),
            active: hook.get("active").and_then(|a| a.as_bool()).unwrap_or(false),
        }))
    }

    async fn delete_webhook(
        &self,
        installation: &Installation,
        repo: &RemoteRepo,
        hook_id: &str,
    ) -> Result<(), GitError> {
        let token = Self::token(installation)?;
        let url = self.hook_url(repo, hook_id)?;
        let resp = self
            .send(self.http.delete(&url).bearer_auth(token.expose()), &url)
            .await?;
        if resp.status().as_u16() == 404 {
            return Ok(());
        }
        self.check(resp, &url, Call::Hooks(&repo.full_name)).await?;
        Ok(())
    }

    fn webhook_scheme(&self) -> Option<WebhookScheme> {
        Some(WebhookScheme {
            signature_header: "x-hub-signature",
            token: false,
            event_header: "x-event-key",
            delivery_header: Some(match self.config.flavor {
                BitbucketFlavor::Cloud => "x-request-uuid",
                BitbucketFlavor::Dc => "x-request-id",
            }),
        })
    }

    fn parse_webhook(&self, event: &str, body: &[u8]) -> Result<WebhookEvent, GitError> {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
        if !v.is_object() {
            return Err(malformed("not a JSON object"));
        }
        match (self.config.flavor, event) {
            (BitbucketFlavor::Cloud, "repo:push") => cloud::parse_push(&v),
            (BitbucketFlavor::Dc, "repo:refs_changed") => dc::parse_refs_changed(&v),
            (BitbucketFlavor::Dc, "diagnostics:ping") => Ok(WebhookEvent::Ping {
                provider_repo_id: v.pointer("/repository/id").map(|id| match id {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
            }),
            (_, other) => Ok(WebhookEvent::Other {
                event: other.to_owned(),
            }),
        }
    }
}

impl Bitbucket {
    /// The API URL of hook `hook_id` on `repo`.
    fn hook_url(&self, repo: &RemoteRepo, hook_id: &str) -> Result<String, GitError> {
        match self.config.flavor {
            BitbucketFlavor::Cloud => Ok(self.api(&format!(
                "/repositories/{}/hooks/{}",
                repo.full_name,
                encode_segment(hook_id)
            ))),
            BitbucketFlavor::Dc => {
                let (key, slug) = dc::split_full_name(&repo.full_name)?;
                if hook_id.is_empty() || !hook_id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(backend(format!("`{hook_id}` is not a Bitbucket webhook id"), false));
                }
                Ok(self.api(&format!(
                    "/projects/{}/repos/{}/webhooks/{hook_id}",
                    encode_segment(key),
                    encode_segment(slug)
                )))
            }
        }
    }
}

/// Percent-encodes one path segment (Cloud hook ids are `{uuid}`); RFC 3986
/// unreserved characters (`~` of personal project keys) stay.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_message(r#"{"type":"error","error":{"message":"Repository dev/null not found"}}"#),
            "Repository dev/null not found"
        );
        assert_eq!(
            error_message(
                r#"{"errors":[{"context":null,"message":"Project dev does not exist.","exceptionName":"x"}]}"#
            ),
            "Project dev does not exist."
        );
        assert_eq!(
            error_message(r#"{"error":"invalid_grant","error_description":"Invalid refresh_token"}"#),
            "invalid_grant: Invalid refresh_token"
        );
        assert_eq!(error_message("plain"), "plain");
    }

    #[test]
    fn clone_links_lose_their_user() {
        assert_eq!(
            strip_userinfo("https://brydzewski@bitbucket.org/atlassian/stash-example-plugin.git").as_deref(),
            Some("https://bitbucket.org/atlassian/stash-example-plugin.git")
        );
        assert_eq!(encode_segment("{d53603cc-3f67}"), "%7Bd53603cc-3f67%7D");
        assert_eq!(encode_segment("~JDOE"), "~JDOE");
    }
}
