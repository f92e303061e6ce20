//! # lettuce-git-github
//!
//! [`GitProvider`] for GitHub.com and GitHub Enterprise Server through a
//! **customer-registered GitHub App** (see `docs/code-hosts.md`):
//!
//! * **install** — `https://<host>/apps/<GITHUB_APP_NAME>/installations/new?state=…`;
//!   the callback brings `installation_id` and (with "Request user
//!   authorization (OAuth) during installation") a `code`, which is exchanged
//!   with `GITHUB_APP_CLIENT_ID`/`GITHUB_APP_CLIENT_SECRET` for a user token;
//!   the installation must be among the user's (`GET /user/installations`),
//!   so nobody can claim someone else's installation by its id;
//! * **tokens** — an App JWT (RS256, `GITHUB_APP_PRIVATE_KEY`, 9 minutes) →
//!   installation tokens (`POST /app/installations/{id}/access_tokens`),
//!   cached until 5 minutes before they expire, handed to the mirror as
//!   `x-access-token:<token>` URL credentials (never on disk, never logged);
//! * **listing** — `GET /installation/repositories`, every page (`Link:
//!   rel="next"`, followed only on the API's own origin);
//! * **webhooks** — `POST /repos/{owner}/{repo}/hooks` (`push`, JSON, the
//!   account's secret); `X-Hub-Signature-256` is checked by the engine;
//!   `ping` and `push` payloads are parsed here;
//! * **errors** — 401 → `Unauthorized`, 403 → `PermissionDenied`, 404 on an
//!   installation → `Unauthorized` (uninstalled), primary and secondary rate
//!   limits (`x-ratelimit-remaining: 0` + `x-ratelimit-reset`, `Retry-After`)
//!   → `RateLimited` with the wait, which the job queue honours.
//!
//! HTTP goes through `lettuce-http-client` (reqwest + tracing), the client
//! every HTTP-speaking adapter shares; JWTs through `jsonwebtoken`.

#![deny(missing_docs)]

mod config;

pub use config::GitHubConfig;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lettuce_domain::Secret;
use lettuce_domain::codehost::Installation;
use lettuce_domain::repo::{RepoUrl, UrlCredentials};
use lettuce_http_client::{ClientOptions, HttpClient};
use lettuce_ports::git::{
    GitError, GitProvider, HookInfo, InstallCallback, InstallGrant, ProviderKind, ProviderStatus, RemoteRepo,
    WebhookEvent, WebhookScheme, WebhookTarget,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

const NOT_CONFIGURED: &str = "GitHub App is not configured on this Lettuce instance";

/// Refresh an installation token this long before it expires.
const TOKEN_MARGIN: chrono::Duration = chrono::Duration::minutes(5);

/// Largest page walk (100 repos a page).
const MAX_PAGES: usize = 100;

struct Credentials {
    app_id: String,
    slug: String,
    client_id: String,
    client_secret: Secret,
    key: EncodingKey,
}

/// The GitHub provider. Build it with [`GitHubApp::new`]; without a complete
/// App configuration it still exists and answers every GitHub call with
/// [`GitError::NotConfigured`] naming the missing variables.
pub struct GitHubApp {
    config: GitHubConfig,
    creds: Option<Credentials>,
    missing: Vec<&'static str>,
    http: HttpClient,
    tokens: Mutex<HashMap<String, (Secret, DateTime<Utc>)>>,
}

impl std::fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubApp")
            .field("host", &self.config.host)
            .field("app_id", &self.config.app_id)
            .field("missing", &self.missing)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn backend(message: impl Into<String>, retryable: bool) -> GitError {
    GitError::Backend {
        backend: "github",
        source: lettuce_ports::box_msg(message),
        retryable,
    }
}

#[derive(Deserialize)]
struct ApiMessage {
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct AccessToken {
    token: String,
    expires_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct RepoJson {
    id: u64,
    full_name: String,
    clone_url: String,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    private: bool,
}

#[derive(Deserialize)]
struct RepoPage {
    repositories: Vec<RepoJson>,
}

#[derive(Deserialize)]
struct InstallationJson {
    id: u64,
    #[serde(default)]
    permissions: HashMap<String, String>,
}

#[derive(Deserialize)]
struct InstallationPage {
    installations: Vec<InstallationJson>,
}

#[derive(Deserialize)]
struct HookJson {
    id: u64,
    #[serde(default)]
    config: HashMap<String, serde_json::Value>,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct OAuthToken {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Which call an error answered (for messages a user can act on).
#[derive(Clone, Copy)]
enum Call<'a> {
    InstallationToken(&'a str),
    Installation,
    Hooks(&'a str),
    User,
}

impl GitHubApp {
    /// The provider for `config`, with the App's private key (PEM) and OAuth
    /// client secret as resolved through the secret store. Logs once which
    /// App variables are missing, if any. A malformed key is an error
    /// naming `GITHUB_APP_PRIVATE_KEY`.
    pub fn new(
        config: GitHubConfig,
        private_key: Option<Secret>,
        client_secret: Option<Secret>,
    ) -> Result<Self, String> {
        let http = lettuce_http_client::build(ClientOptions::new("lettuce-git-github"))
            .map_err(|e| format!("building the GitHub HTTP client: {e}"))?;
        Self::with_client(config, private_key, client_secret, http)
    }

    /// [`GitHubApp::new`] with a given HTTP client.
    pub fn with_client(
        config: GitHubConfig,
        private_key: Option<Secret>,
        client_secret: Option<Secret>,
        http: HttpClient,
    ) -> Result<Self, String> {
        let set = config.missing();
        let missing: Vec<&'static str> = [
            ("GITHUB_APP_ID", !set.contains(&"GITHUB_APP_ID")),
            ("GITHUB_APP_NAME", !set.contains(&"GITHUB_APP_NAME")),
            ("GITHUB_APP_PRIVATE_KEY", private_key.is_some()),
            ("GITHUB_APP_CLIENT_ID", !set.contains(&"GITHUB_APP_CLIENT_ID")),
            ("GITHUB_APP_CLIENT_SECRET", client_secret.is_some()),
        ]
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| name)
        .collect();
        let key = private_key
            .map(|pem| {
                EncodingKey::from_rsa_pem(pem.expose().as_bytes()).map_err(|e| {
                    format!(
                        "GITHUB_APP_PRIVATE_KEY is not an RSA private key in PEM form ({e}): paste the .pem file GitHub generated for the App"
                    )
                })
            })
            .transpose()?;
        let creds = match (&config.app_id, &config.app_name, &config.client_id, client_secret, key) {
            (Some(app_id), Some(slug), Some(client_id), Some(client_secret), Some(key)) => Some(Credentials {
                app_id: app_id.clone(),
                slug: slug.clone(),
                client_id: client_id.clone(),
                client_secret,
                key,
            }),
            _ => None,
        };
        if creds.is_none() {
            let all_missing = missing.len() == 5;
            if all_missing {
                tracing::info!(
                    missing = %missing.join(", "),
                    "GitHub integration is off: no GitHub App is configured (see docs/code-hosts.md)"
                );
            } else {
                tracing::warn!(
                    missing = %missing.join(", "),
                    "{NOT_CONFIGURED}: set the missing variables on every api and worker process"
                );
            }
        }
        Ok(Self {
            config,
            creds,
            missing,
            http,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// The App variables that are missing (empty when configured).
    pub fn missing(&self) -> &[&'static str] {
        &self.missing
    }

    fn creds(&self) -> Result<&Credentials, GitError> {
        self.creds.as_ref().ok_or_else(|| GitError::NotConfigured {
            message: self.not_configured_message(),
        })
    }

    fn not_configured_message(&self) -> String {
        format!(
            "{NOT_CONFIGURED}: the operator must set {} on every api and worker process",
            self.missing.join(", ")
        )
    }

    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.config.urls.api)
    }

    /// A fresh App JWT (RS256, issued 60 s in the past against clock skew,
    /// valid 9 minutes).
    fn app_jwt(&self) -> Result<String, GitError> {
        let c = self.creds()?;
        let now = Utc::now().timestamp();
        let claims = serde_json::json!({ "iat": now - 60, "exp": now + 540, "iss": c.app_id });
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &c.key)
            .map_err(|e| backend(format!("signing the GitHub App JWT failed: {e}"), false))
    }

    /// The installation's token, from the cache unless it expires within
    /// [`TOKEN_MARGIN`].
    async fn installation_token(&self, installation: &str) -> Result<Secret, GitError> {
        if let Some((token, exp)) = lock(&self.tokens).get(installation)
            && *exp - TOKEN_MARGIN > Utc::now()
        {
            return Ok(token.clone());
        }
        if !installation.bytes().all(|b| b.is_ascii_digit()) || installation.is_empty() {
            return Err(GitError::Unauthorized {
                message: format!("`{installation}` is not a GitHub App installation id: reconnect GitHub"),
            });
        }
        let jwt = self.app_jwt()?;
        let url = self.api(&format!("/app/installations/{installation}/access_tokens"));
        let resp = self.send(self.http.post(&url).bearer_auth(jwt), &url).await?;
        let tok: AccessToken =
            Self::json(check(resp, &url, Call::InstallationToken(installation)).await?, &url).await?;
        let secret = Secret::new(tok.token);
        lock(&self.tokens).insert(installation.to_owned(), (secret.clone(), tok.expires_at));
        Ok(secret)
    }

    async fn send(&self, req: lettuce_http_client::RequestBuilder, url: &str) -> Result<reqwest::Response, GitError> {
        req.header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
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

    /// GETs every page of `first` (following `Link: rel="next"` on the API's
    /// own origin only, so the token never leaves for another host).
    async fn pages(&self, first: String, token: &Secret, call: Call<'_>) -> Result<Vec<serde_json::Value>, GitError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                break;
            }
            let resp = self.send(self.http.get(&url).bearer_auth(token.expose()), &url).await?;
            let resp = check(resp, &url, call).await?;
            next = lettuce_http_client::link_next(resp.headers())
                .filter(|n| lettuce_http_client::same_origin(&self.config.urls.api, n));
            out.push(Self::json(resp, &url).await?);
        }
        Ok(out)
    }

    async fn user_installations(&self, user_token: &Secret) -> Result<Vec<InstallationJson>, GitError> {
        let pages = self
            .pages(self.api("/user/installations?per_page=100"), user_token, Call::User)
            .await?;
        let mut out = Vec::new();
        for p in pages {
            let page: InstallationPage = serde_json::from_value(p)
                .map_err(|e| backend(format!("unexpected /user/installations: {e}"), false))?;
            out.extend(page.installations);
        }
        Ok(out)
    }

    async fn existing_hook(&self, token: &Secret, full_name: &str, target: &str) -> Result<Option<String>, GitError> {
        let pages = self
            .pages(
                self.api(&format!("/repos/{full_name}/hooks?per_page=100")),
                token,
                Call::Hooks(full_name),
            )
            .await?;
        for p in pages {
            let hooks: Vec<HookJson> =
                serde_json::from_value(p).map_err(|e| backend(format!("unexpected hooks list: {e}"), false))?;
            if let Some(h) = hooks
                .iter()
                .find(|h| h.config.get("url").and_then(|u| u.as_str()) == Some(target))
            {
                return Ok(Some(h.id.to_string()));
            }
        }
        Ok(None)
    }
}

/// How long a rate-limited answer asks us to wait: `Retry-After` (seconds),
/// else `x-ratelimit-reset` (epoch seconds) when `x-ratelimit-remaining` is
/// 0; `None` when the answer is not a rate limit.
fn rate_limit_wait(status: u16, headers: &reqwest::header::HeaderMap, body: &str) -> Option<Option<Duration>> {
    if status != 403 && status != 429 {
        return None;
    }
    if let Some(wait) = lettuce_http_client::retry_after(headers) {
        return Some(Some(wait));
    }
    let remaining = headers.get("x-ratelimit-remaining").and_then(|v| v.to_str().ok());
    if remaining.map(str::trim) == Some("0") {
        let wait = lettuce_http_client::wait_until_epoch(headers, "x-ratelimit-reset");
        return Some(wait.or(Some(Duration::from_secs(60))));
    }
    if status == 429 || body.to_ascii_lowercase().contains("secondary rate limit") {
        // GitHub: without headers, wait at least a minute.
        return Some(Some(Duration::from_secs(60)));
    }
    None
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
    let message = serde_json::from_str::<ApiMessage>(&body)
        .map(|m| m.message)
        .unwrap_or_default();
    if let Some(wait) = rate_limit_wait(code, &headers, &body) {
        let when = wait.map_or("later".to_owned(), |w| format!("in {} s", w.as_secs()));
        return Err(GitError::RateLimited {
            retry_after: wait,
            message: format!("GitHub rate limit reached ({message}); Lettuce retries {when}"),
        });
    }
    Err(match (code, call) {
        (401, Call::InstallationToken(_)) => GitError::Unauthorized {
            message: format!(
                "GitHub rejected the App's credentials ({message}): check that GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY belong to the same App"
            ),
        },
        (401, _) => GitError::Unauthorized {
            message: format!("GitHub rejected the token ({message}): reconnect GitHub"),
        },
        (404, Call::InstallationToken(id)) => GitError::Unauthorized {
            message: format!(
                "the GitHub App installation {id} no longer exists (the App was uninstalled or suspended): reconnect GitHub"
            ),
        },
        (403, Call::Hooks(repo)) | (404, Call::Hooks(repo)) => GitError::PermissionDenied {
            message: format!(
                "GitHub refused to manage webhooks of {repo} ({message}): the GitHub App needs the `Webhooks: Read & write` permission"
            ),
        },
        (403, Call::InstallationToken(id)) => GitError::Unauthorized {
            message: format!(
                "GitHub refused a token for installation {id} ({message}): the installation may be suspended; reconnect GitHub"
            ),
        },
        (403, _) => GitError::PermissionDenied {
            message: format!(
                "GitHub refused {url} ({message}): the GitHub App lacks a permission it needs (Contents: Read, Metadata: Read, Webhooks: Read & write)"
            ),
        },
        (404, _) => GitError::NotFound { url: url.to_owned() },
        (c, _) if c >= 500 => GitError::Network {
            url: url.to_owned(),
            message: format!("GitHub answered {status}"),
        },
        _ => backend(format!("GitHub answered {status} for {url}: {message}"), false),
    })
}

fn malformed(message: impl Into<String>) -> GitError {
    GitError::MalformedPayload {
        message: message.into(),
    }
}

fn repo_id_of(v: &serde_json::Value) -> Option<String> {
    match v.pointer("/repository/id")? {
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[async_trait]
impl GitProvider for GitHubApp {
    fn kind(&self) -> ProviderKind {
        ProviderKind::GitHub
    }

    fn owns(&self, url: &RepoUrl) -> bool {
        lettuce_domain::codehost::url_on_web_host(url, &self.config.urls.web)
    }

    fn status(&self) -> ProviderStatus {
        match self.creds {
            Some(_) => ProviderStatus::Ready,
            None => ProviderStatus::NotConfigured {
                message: self.not_configured_message(),
            },
        }
    }

    fn install_url(&self, state: &str) -> Result<String, GitError> {
        let c = self.creds()?;
        let mut url = url::Url::parse(&self.config.urls.install_url(&c.slug))
            .map_err(|e| backend(format!("bad install URL: {e}"), false))?;
        url.query_pairs_mut().append_pair("state", state);
        Ok(url.into())
    }

    async fn complete_install(&self, callback: &InstallCallback) -> Result<InstallGrant, GitError> {
        let c = self.creds()?;
        if let Some(e) = &callback.error {
            return Err(GitError::Unauthorized {
                message: format!("GitHub answered `{e}`"),
            });
        }
        let id = callback
            .installation_id
            .as_deref()
            .filter(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| GitError::Unauthorized {
                message: "the callback carries no installation_id: install the App from the Connect GitHub button"
                    .into(),
            })?;
        let code = callback.code.as_deref().ok_or_else(|| GitError::Unauthorized {
            message: "the callback carries no OAuth code: enable \"Request user authorization (OAuth) during installation\" on the GitHub App".into(),
        })?;
        let url = format!("{}/login/oauth/access_token", self.config.urls.web);
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &c.client_id)
            .append_pair("client_secret", c.client_secret.expose())
            .append_pair("code", code)
            .finish();
        let req = self
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form);
        let resp = req.send().await.map_err(|e| GitError::Network {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let tok: OAuthToken = Self::json(check(resp, &url, Call::User).await?, &url).await?;
        let user_token = match (tok.access_token, tok.error) {
            (Some(t), None) => Secret::new(t),
            (_, e) => {
                return Err(GitError::Unauthorized {
                    message: format!(
                        "GitHub refused the authorization code ({}): {}",
                        e.unwrap_or_default(),
                        tok.error_description.unwrap_or_default()
                    ),
                });
            }
        };
        let installations = self.user_installations(&user_token).await?;
        let found = installations
            .into_iter()
            .find(|i| i.id.to_string() == id)
            .ok_or_else(|| GitError::Unauthorized {
                message: format!("installation {id} is not one the signed-in GitHub user can access"),
            })?;
        let mut scopes: Vec<String> = found.permissions.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        scopes.sort();
        Ok(InstallGrant {
            external_id: id.to_owned(),
            scopes,
            credentials: None,
        })
    }

    async fn clone_credentials(
        &self,
        installation: &Installation,
        url: &RepoUrl,
    ) -> Result<Option<UrlCredentials>, GitError> {
        if !self.owns(url) {
            return Ok(None);
        }
        let token = self.installation_token(&installation.external_id).await?;
        Ok(Some(UrlCredentials {
            username: "x-access-token".into(),
            password: token,
        }))
    }

    async fn list_repos(&self, installation: &Installation) -> Result<Vec<RemoteRepo>, GitError> {
        let token = self.installation_token(&installation.external_id).await?;
        let pages = self
            .pages(
                self.api("/installation/repositories?per_page=100"),
                &token,
                Call::Installation,
            )
            .await?;
        let mut out = Vec::new();
        for p in pages {
            let page: RepoPage = serde_json::from_value(p)
                .map_err(|e| backend(format!("unexpected /installation/repositories: {e}"), false))?;
            out.extend(page.repositories.into_iter().map(|r| RemoteRepo {
                id: r.id.to_string(),
                full_name: r.full_name,
                clone_url: r.clone_url,
                default_branch: r.default_branch,
                private: r.private,
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
        let token = self.installation_token(&installation.external_id).await?;
        let url = self.api(&format!("/repos/{}/hooks", repo.full_name));
        let body = serde_json::json!({
            "name": "web",
            "active": true,
            "events": ["push"],
            "config": {
                "url": target.url,
                "content_type": "json",
                "secret": target.secret.expose(),
                "insecure_ssl": "0",
            },
        });
        let resp = self
            .send(self.http.post(&url).bearer_auth(token.expose()).json(&body), &url)
            .await?;
        if resp.status().as_u16() == 422 {
            // "Hook already exists on this repository": reuse it.
            if let Some(id) = self.existing_hook(&token, &repo.full_name, &target.url).await? {
                return Ok(id);
            }
        }
        let hook: HookJson = Self::json(check(resp, &url, Call::Hooks(&repo.full_name)).await?, &url).await?;
        Ok(hook.id.to_string())
    }

    async fn webhook_info(
        &self,
        installation: &Installation,
        repo: &RemoteRepo,
        hook_id: &str,
    ) -> Result<Option<HookInfo>, GitError> {
        let token = self.installation_token(&installation.external_id).await?;
        let url = self.api(&format!("/repos/{}/hooks/{hook_id}", repo.full_name));
        let resp = self.send(self.http.get(&url).bearer_auth(token.expose()), &url).await?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let hook: HookJson = Self::json(check(resp, &url, Call::Hooks(&repo.full_name)).await?, &url).await?;
        Ok(Some(HookInfo {
            url: hook
                .config
                .get("url")
                .and_then(|u| u.as_str())
                .unwrap_or_default()
                .to_owned(),
            active: hook.active,
        }))
    }

    async fn delete_webhook(
        &self,
        installation: &Installation,
        repo: &RemoteRepo,
        hook_id: &str,
    ) -> Result<(), GitError> {
        let token = self.installation_token(&installation.external_id).await?;
        let url = self.api(&format!("/repos/{}/hooks/{hook_id}", repo.full_name));
        let resp = self
            .send(self.http.delete(&url).bearer_auth(token.expose()), &url)
            .await?;
        if resp.status().as_u16() == 404 {
            return Ok(());
        }
        check(resp, &url, Call::Hooks(&repo.full_name)).await?;
        Ok(())
    }

    fn webhook_scheme(&self) -> Option<WebhookScheme> {
        Some(WebhookScheme {
            signature_header: "x-hub-signature-256",
            token: false,
            event_header: "x-github-event",
            delivery_header: Some("x-github-delivery"),
        })
    }

    fn parse_webhook(&self, event: &str, body: &[u8]) -> Result<WebhookEvent, GitError> {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
        if !v.is_object() {
            return Err(malformed("not a JSON object"));
        }
        match event {
            "ping" => Ok(WebhookEvent::Ping {
                provider_repo_id: repo_id_of(&v),
            }),
            "push" => {
                let git_ref = v
                    .get("ref")
                    .and_then(|r| r.as_str())
                    .ok_or_else(|| malformed("no ref"))?;
                let head = v
                    .get("after")
                    .and_then(|r| r.as_str())
                    .ok_or_else(|| malformed("no after"))?;
                if head.len() != 40 || !head.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(malformed("after is not a commit id"));
                }
                let provider_repo_id = repo_id_of(&v).ok_or_else(|| malformed("no repository.id"))?;
                let full_name = v
                    .pointer("/repository/full_name")
                    .and_then(|r| r.as_str())
                    .ok_or_else(|| malformed("no repository.full_name"))?;
                Ok(WebhookEvent::Push {
                    provider_repo_id,
                    full_name: full_name.to_owned(),
                    branch: git_ref.strip_prefix("refs/heads/").map(str::to_owned),
                    head: head.to_ascii_lowercase(),
                })
            }
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
    fn link_header_next() {
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static(
                "<https://api.github.com/installation/repositories?page=2>; rel=\"next\", <https://api.github.com/installation/repositories?page=5>; rel=\"last\"",
            ),
        );
        assert_eq!(
            lettuce_http_client::link_next(&h).as_deref(),
            Some("https://api.github.com/installation/repositories?page=2")
        );
        assert_eq!(lettuce_http_client::link_next(&HeaderMap::new()), None);
    }

    #[test]
    fn rate_limits() {
        let mut h = HeaderMap::new();
        assert_eq!(rate_limit_wait(200, &h, ""), None);
        assert_eq!(
            rate_limit_wait(403, &h, "{\"message\":\"Resource not accessible\"}"),
            None
        );
        assert_eq!(
            rate_limit_wait(403, &h, "You have exceeded a secondary rate limit"),
            Some(Some(Duration::from_secs(60)))
        );
        h.insert("retry-after", HeaderValue::from_static("30"));
        assert_eq!(rate_limit_wait(403, &h, ""), Some(Some(Duration::from_secs(30))));
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        let reset = (Utc::now().timestamp() + 120).to_string();
        h.insert("x-ratelimit-reset", HeaderValue::from_str(&reset).unwrap());
        let wait = rate_limit_wait(403, &h, "").unwrap().unwrap();
        assert!(wait.as_secs() > 100 && wait.as_secs() <= 120, "{wait:?}");
    }
}
