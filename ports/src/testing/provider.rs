//! In-memory code host ([`MemoryGitProvider`]) and the provider contract
//! ([`git_provider_contract`]) every code-host adapter runs.

use crate::git::{
    GitError, GitProvider, HookInfo, InstallCallback, InstallGrant, ProviderKind, ProviderStatus, RemoteRepo,
    WebhookEvent, WebhookScheme, WebhookTarget,
};
use crate::testing::lock;
use async_trait::async_trait;
use lettuce_domain::Secret;
use lettuce_domain::codehost::{Installation, ProviderCredentials};
use lettuce_domain::repo::{RepoUrl, UrlCredentials, UrlHost};
use std::sync::Mutex;

/// A webhook the fake registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredHook {
    /// The hook id handed out.
    pub id: String,
    /// Whether the host would deliver (see [`MemoryGitProvider::deactivate_hook`]).
    pub active: bool,
    /// Installation it was registered through.
    pub installation: String,
    /// `owner/name`.
    pub repo: String,
    /// Delivery URL.
    pub url: String,
    /// The secret (exposed: it is a test fake).
    pub secret: String,
}

/// A code host in memory with GitHub's webhook shape (`x-hub-signature-256`,
/// `x-github-event`, `x-github-delivery`, push payloads with `ref`, `after`,
/// `repository.id`, `repository.full_name`). Installs complete for any
/// `installation_id`; `access_denied` as the callback's `error` is refused.
#[derive(Debug)]
pub struct MemoryGitProvider {
    kind: ProviderKind,
    host: String,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    configured: bool,
    repos: Vec<RemoteRepo>,
    hooks: Vec<RegisteredHook>,
    hook_error: Option<GitError>,
    list_error: Option<GitError>,
    credentials_error: Option<GitError>,
    token: Option<String>,
    next_hook: usize,
    grant_credentials: Option<ProviderCredentials>,
    refresh: Option<Result<ProviderCredentials, GitError>>,
    refreshes: usize,
    seen_access_tokens: Vec<String>,
    accepts_token: bool,
}

impl MemoryGitProvider {
    /// A configured fake for `kind` owning URLs on `host`.
    pub fn new(kind: ProviderKind, host: &str) -> Self {
        Self {
            kind,
            host: host.to_ascii_lowercase(),
            state: Mutex::new(State {
                configured: true,
                ..State::default()
            }),
        }
    }

    /// Marks the fake not configured (every call answers `NotConfigured`).
    pub fn set_configured(&self, configured: bool) {
        lock(&self.state).configured = configured;
    }

    /// Sets the repositories every installation sees.
    pub fn set_repos(&self, repos: Vec<RemoteRepo>) {
        lock(&self.state).repos = repos;
    }

    /// The next `register_webhook` fails with `err`.
    pub fn fail_next_hook(&self, err: GitError) {
        lock(&self.state).hook_error = Some(err);
    }

    /// The next `list_repos` fails with `err`.
    pub fn fail_next_list(&self, err: GitError) {
        lock(&self.state).list_error = Some(err);
    }

    /// The next `clone_credentials` fails with `err` (e.g. the App was
    /// uninstalled on the host).
    pub fn fail_next_credentials(&self, err: GitError) {
        lock(&self.state).credentials_error = Some(err);
    }

    /// Clone credentials handed out (`x-access-token:<token>`), if any.
    pub fn set_token(&self, token: Option<&str>) {
        lock(&self.state).token = token.map(str::to_owned);
    }

    /// Makes the fake a host connected by a pasted access token
    /// ([`GitProvider::accepts_token`]): `complete_install` then takes
    /// [`InstallCallback::token`] (any token but `refused` is accepted; the
    /// external id is `token-user`).
    pub fn set_accepts_token(&self, accepts: bool) {
        lock(&self.state).accepts_token = accepts;
    }

    /// Installs grant these OAuth credentials (sealed by the engine).
    pub fn set_grant_credentials(&self, creds: Option<ProviderCredentials>) {
        lock(&self.state).grant_credentials = creds;
    }

    /// The next `refresh_credentials` answers `result` (without one it is
    /// `Unsupported`).
    pub fn set_refresh(&self, result: Result<ProviderCredentials, GitError>) {
        lock(&self.state).refresh = Some(result);
    }

    /// How many times `refresh_credentials` was called.
    pub fn refreshes(&self) -> usize {
        lock(&self.state).refreshes
    }

    /// The access tokens of the installations `list_repos` and
    /// `clone_credentials` were called with, in order.
    pub fn seen_access_tokens(&self) -> Vec<String> {
        lock(&self.state).seen_access_tokens.clone()
    }

    fn see(&self, installation: &Installation) {
        if let Some(c) = &installation.credentials {
            lock(&self.state)
                .seen_access_tokens
                .push(c.access_token.expose().to_owned());
        }
    }

    /// Deletes a hook "on the host" (as a user deleting it in the host's
    /// settings would).
    pub fn delete_hook_on_host(&self, id: &str) {
        lock(&self.state).hooks.retain(|h| h.id != id);
    }

    /// Points a hook at another URL "on the host" (as after a change of
    /// `LETTUCE_WEB_URL`).
    pub fn repoint_hook(&self, id: &str, url: &str) {
        for h in lock(&self.state).hooks.iter_mut().filter(|h| h.id == id) {
            h.url = url.to_owned();
        }
    }

    /// Marks a hook inactive "on the host" (disabled after failures).
    pub fn deactivate_hook(&self, id: &str) {
        for h in lock(&self.state).hooks.iter_mut().filter(|h| h.id == id) {
            h.active = false;
        }
    }

    /// Webhooks registered so far (and not deleted).
    pub fn hooks(&self) -> Vec<RegisteredHook> {
        lock(&self.state).hooks.clone()
    }

    fn not_configured(&self) -> GitError {
        GitError::NotConfigured {
            message: format!(
                "{} is not configured on this Lettuce instance",
                self.kind.display_name()
            ),
        }
    }

    fn check(&self) -> Result<(), GitError> {
        if lock(&self.state).configured {
            Ok(())
        } else {
            Err(self.not_configured())
        }
    }
}

#[async_trait]
impl GitProvider for MemoryGitProvider {
    fn kind(&self) -> ProviderKind {
        self.kind
    }

    fn owns(&self, url: &RepoUrl) -> bool {
        match url.host() {
            UrlHost::Domain(d) => d.eq_ignore_ascii_case(&self.host),
            UrlHost::Ip(ip) => ip.to_string() == self.host,
            UrlHost::Local => false,
        }
    }

    fn status(&self) -> ProviderStatus {
        if lock(&self.state).configured {
            ProviderStatus::Ready
        } else {
            ProviderStatus::NotConfigured {
                message: self.not_configured().to_string(),
            }
        }
    }

    fn install_url(&self, state: &str) -> Result<String, GitError> {
        self.check()?;
        Ok(format!(
            "https://{}/apps/fake/installations/new?state={state}",
            self.host
        ))
    }

    async fn complete_install(&self, callback: &InstallCallback) -> Result<InstallGrant, GitError> {
        self.check()?;
        if callback.error.is_some() {
            return Err(GitError::Unauthorized {
                message: lettuce_domain::codehost::access_denied_message(self.kind.display_name()),
            });
        }
        if let Some(token) = &callback.token {
            if !lock(&self.state).accepts_token {
                return Err(GitError::Unauthorized {
                    message: "this host is not connected with a pasted token".into(),
                });
            }
            if token.expose() == "refused" {
                return Err(GitError::Unauthorized {
                    message: "the host refused the token".into(),
                });
            }
            return Ok(InstallGrant {
                external_id: "token-user".into(),
                scopes: vec!["repo:write".into()],
                credentials: Some(lettuce_domain::codehost::ProviderCredentials::bearer(token.clone())),
            });
        }
        let id = callback
            .installation_id
            .clone()
            .or_else(|| callback.code.clone())
            .ok_or_else(|| GitError::Unauthorized {
                message: "the callback carries no installation".into(),
            })?;
        Ok(InstallGrant {
            external_id: id,
            scopes: vec!["contents:read".into(), "metadata:read".into(), "webhooks:write".into()],
            credentials: lock(&self.state).grant_credentials.clone(),
        })
    }

    async fn refresh_credentials(&self, _installation: &Installation) -> Result<ProviderCredentials, GitError> {
        self.check()?;
        let mut st = lock(&self.state);
        st.refreshes += 1;
        st.refresh
            .take()
            .unwrap_or_else(|| Err(self.unsupported("refreshing tokens")))
    }

    async fn clone_credentials(
        &self,
        installation: &Installation,
        url: &RepoUrl,
    ) -> Result<Option<UrlCredentials>, GitError> {
        self.check()?;
        self.see(installation);
        if !self.owns(url) {
            return Ok(None);
        }
        if let Some(err) = lock(&self.state).credentials_error.take() {
            return Err(err);
        }
        Ok(lock(&self.state).token.as_ref().map(|t| UrlCredentials {
            username: "x-access-token".into(),
            password: Secret::new(t),
        }))
    }

    async fn list_repos(&self, installation: &Installation) -> Result<Vec<RemoteRepo>, GitError> {
        self.check()?;
        self.see(installation);
        let mut st = lock(&self.state);
        if let Some(e) = st.list_error.take() {
            return Err(e);
        }
        Ok(st.repos.clone())
    }

    async fn register_webhook(
        &self,
        installation: &Installation,
        repo: &RemoteRepo,
        target: &WebhookTarget,
    ) -> Result<String, GitError> {
        self.check()?;
        let mut st = lock(&self.state);
        if let Some(e) = st.hook_error.take() {
            return Err(e);
        }
        st.next_hook += 1;
        let id = format!("hook-{}", st.next_hook);
        st.hooks.push(RegisteredHook {
            id: id.clone(),
            active: true,
            installation: installation.external_id.clone(),
            repo: repo.full_name.clone(),
            url: target.url.clone(),
            secret: target.secret.expose().to_owned(),
        });
        Ok(id)
    }

    async fn webhook_info(
        &self,
        _installation: &Installation,
        repo: &RemoteRepo,
        hook_id: &str,
    ) -> Result<Option<HookInfo>, GitError> {
        self.check()?;
        Ok(lock(&self.state)
            .hooks
            .iter()
            .find(|h| h.id == hook_id && h.repo == repo.full_name)
            .map(|h| HookInfo {
                url: h.url.clone(),
                active: h.active,
            }))
    }

    async fn delete_webhook(
        &self,
        _installation: &Installation,
        repo: &RemoteRepo,
        hook_id: &str,
    ) -> Result<(), GitError> {
        self.check()?;
        lock(&self.state)
            .hooks
            .retain(|h| !(h.id == hook_id && h.repo == repo.full_name));
        Ok(())
    }

    fn accepts_token(&self) -> bool {
        lock(&self.state).accepts_token
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
        parse_github_like(event, body)
    }
}

fn malformed(message: impl Into<String>) -> GitError {
    GitError::MalformedPayload {
        message: message.into(),
    }
}

/// Parses GitHub-shaped `ping` and `push` bodies (the fake's format).
fn parse_github_like(event: &str, body: &[u8]) -> Result<WebhookEvent, GitError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let repo_id = |v: &serde_json::Value| -> Option<String> {
        match v.pointer("/repository/id")? {
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::String(s) => Some(s.clone()),
            _ => None,
        }
    };
    match event {
        "ping" => Ok(WebhookEvent::Ping {
            provider_repo_id: repo_id(&v),
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
            let provider_repo_id = repo_id(&v).ok_or_else(|| malformed("no repository.id"))?;
            let full_name = v
                .pointer("/repository/full_name")
                .and_then(|r| r.as_str())
                .ok_or_else(|| malformed("no repository.full_name"))?;
            Ok(WebhookEvent::Push {
                provider_repo_id,
                full_name: full_name.to_owned(),
                branch: git_ref.strip_prefix("refs/heads/").map(str::to_owned),
                head: head.to_owned(),
            })
        }
        other => Ok(WebhookEvent::Other {
            event: other.to_owned(),
        }),
    }
}

/// What [`git_provider_contract`] drives a provider with.
#[derive(Debug, Clone)]
pub struct GitProviderFixture {
    /// An installation the provider accepts.
    pub installation: Installation,
    /// A callback that completes an install, and the external id it yields.
    pub callback: InstallCallback,
    /// The external id `callback` yields.
    pub external_id: String,
    /// Every repo the installation lists (all pages), by `full_name`.
    pub repos: Vec<String>,
    /// A ping body and the repo id it names (if any).
    pub ping: (Vec<u8>, Option<String>),
    /// A push body and what it parses to.
    pub push: (Vec<u8>, WebhookEvent),
    /// Where to register a hook in the contract.
    pub hook_url: String,
}

/// The event names a host sends in its event header, for
/// [`git_provider_contract_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractEvents {
    /// The push event (`push`, GitLab's `Push Hook`).
    pub push: &'static str,
    /// The ping event, when the host has one (GitLab has none: the
    /// fixture's `ping` is then not used).
    pub ping: Option<&'static str>,
}

impl ContractEvents {
    /// GitHub's names: `push` and `ping`.
    pub const GITHUB: ContractEvents = ContractEvents {
        push: "push",
        ping: Some("ping"),
    };
}

/// The provider contract: configured status, install URL carrying the state,
/// install completion and refusal, listing every page, webhook registration,
/// and parsing of pings, pushes and malformed bodies. Run by
/// [`MemoryGitProvider`] and every code-host adapter. Event names are
/// GitHub's ([`ContractEvents::GITHUB`]); hosts with other names run
/// [`git_provider_contract_with`].
pub async fn git_provider_contract(p: &dyn GitProvider, fx: &GitProviderFixture) {
    git_provider_contract_with(p, fx, ContractEvents::GITHUB).await;
}

/// [`git_provider_contract`] with the host's own event names.
pub async fn git_provider_contract_with(p: &dyn GitProvider, fx: &GitProviderFixture, events: ContractEvents) {
    let k = p.kind().as_str();
    assert_eq!(
        p.status(),
        ProviderStatus::Ready,
        "[{k}] a configured provider is ready"
    );
    let url = p
        .install_url("st4te.x")
        .unwrap_or_else(|e| panic!("[{k}] install_url: {e}"));
    assert!(url.starts_with("http"), "[{k}] install_url is a URL: {url}");
    assert!(url.contains("st4te.x"), "[{k}] install_url carries the state: {url}");
    let grant = p
        .complete_install(&fx.callback)
        .await
        .unwrap_or_else(|e| panic!("[{k}] complete_install: {e}"));
    assert_eq!(
        grant.external_id, fx.external_id,
        "[{k}] complete_install's external id"
    );
    let denied = InstallCallback {
        error: Some("access_denied".into()),
        ..InstallCallback::default()
    };
    match p.complete_install(&denied).await {
        Err(GitError::Unauthorized { .. }) => {}
        other => panic!("[{k}] a denied install must be Unauthorized, got {other:?}"),
    }

    let listed = p
        .list_repos(&fx.installation)
        .await
        .unwrap_or_else(|e| panic!("[{k}] list_repos: {e}"));
    let mut names: Vec<String> = listed.iter().map(|r| r.full_name.clone()).collect();
    names.sort();
    let mut want = fx.repos.clone();
    want.sort();
    assert_eq!(names, want, "[{k}] list_repos returns every repo of every page");
    for r in &listed {
        assert!(!r.id.is_empty(), "[{k}] every listed repo has the provider's id");
        assert!(
            r.clone_url.starts_with("http"),
            "[{k}] clone URLs are https: {}",
            r.clone_url
        );
        assert!(!r.clone_url.contains('@'), "[{k}] clone URLs carry no credentials");
    }

    let first = listed
        .first()
        .unwrap_or_else(|| panic!("[{k}] the fixture lists repos"));
    let hook = p
        .register_webhook(
            &fx.installation,
            first,
            &WebhookTarget {
                url: fx.hook_url.clone(),
                secret: Secret::new("contract-secret"),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("[{k}] register_webhook: {e}"));
    assert!(!hook.is_empty(), "[{k}] register_webhook returns the hook id");
    // The repair API: the hook as the host has it, then gone once deleted.
    match p.webhook_info(&fx.installation, first, &hook).await {
        Err(GitError::Unsupported { .. }) => {}
        Ok(Some(info)) => {
            assert_eq!(info.url, fx.hook_url, "[{k}] webhook_info reports the delivery URL");
            assert!(info.active, "[{k}] a new hook is active");
            p.delete_webhook(&fx.installation, first, &hook)
                .await
                .unwrap_or_else(|e| panic!("[{k}] delete_webhook: {e}"));
            assert_eq!(
                p.webhook_info(&fx.installation, first, &hook)
                    .await
                    .unwrap_or_else(|e| panic!("[{k}] webhook_info after delete: {e}")),
                None,
                "[{k}] a deleted hook is reported gone"
            );
            p.delete_webhook(&fx.installation, first, &hook)
                .await
                .unwrap_or_else(|e| panic!("[{k}] deleting a deleted hook is not an error: {e}"));
        }
        other => panic!("[{k}] webhook_info of a just-registered hook: {other:?}"),
    }

    let scheme = p
        .webhook_scheme()
        .unwrap_or_else(|| panic!("[{k}] a code host has a webhook scheme"));
    assert!(
        scheme.signature_header.chars().all(|c| !c.is_ascii_uppercase()),
        "[{k}] header names are lower case"
    );
    if let Some(ping_event) = events.ping {
        let ping = p
            .parse_webhook(ping_event, &fx.ping.0)
            .unwrap_or_else(|e| panic!("[{k}] parse ping: {e}"));
        assert_eq!(
            ping,
            WebhookEvent::Ping {
                provider_repo_id: fx.ping.1.clone()
            },
            "[{k}] ping"
        );
    }
    let push = p
        .parse_webhook(events.push, &fx.push.0)
        .unwrap_or_else(|e| panic!("[{k}] parse push: {e}"));
    assert_eq!(push, fx.push.1, "[{k}] push");
    match p.parse_webhook(events.push, b"{not json") {
        Err(GitError::MalformedPayload { .. }) => {}
        other => panic!("[{k}] a malformed push must be MalformedPayload, got {other:?}"),
    }
    match p.parse_webhook(events.push, br#"{"zen":"no ref"}"#) {
        Err(GitError::MalformedPayload { .. }) => {}
        other => panic!("[{k}] a push without its fields must be MalformedPayload, got {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lettuce_domain::{AccountId, UserId};
    use uuid::Uuid;

    #[tokio::test]
    async fn memory_provider_passes_the_contract() {
        let p = MemoryGitProvider::new(ProviderKind::GitHub, "github.example");
        let repos: Vec<RemoteRepo> = (0..3)
            .map(|i| RemoteRepo {
                id: format!("{}", 100 + i),
                full_name: format!("acme/r{i}"),
                clone_url: format!("https://github.example/acme/r{i}.git"),
                default_branch: Some("main".into()),
                private: i == 0,
            })
            .collect();
        p.set_repos(repos);
        let fx = GitProviderFixture {
            installation: Installation {
                account_id: AccountId(Uuid::now_v7()),
                provider: "github".into(),
                external_id: "1".into(),
                connected_by: UserId(Uuid::now_v7()),
                connected_at: chrono::Utc::now(),
                scopes: vec![],
                needs_reauth: false,
                sealed_credentials: None,
                credentials: None,
            },
            callback: InstallCallback {
                installation_id: Some("77".into()),
                setup_action: Some("install".into()),
                ..InstallCallback::default()
            },
            external_id: "77".into(),
            repos: vec!["acme/r0".into(), "acme/r1".into(), "acme/r2".into()],
            ping: (br#"{"zen":"hi","repository":{"id":100}}"#.to_vec(), Some("100".into())),
            push: (
                br#"{"ref":"refs/heads/main","after":"abc","repository":{"id":100,"full_name":"acme/r0"}}"#.to_vec(),
                WebhookEvent::Push {
                    provider_repo_id: "100".into(),
                    full_name: "acme/r0".into(),
                    branch: Some("main".into()),
                    head: "abc".into(),
                },
            ),
            hook_url: "https://lettuce.example/v1/github/webhook/x".into(),
        };
        git_provider_contract(&p, &fx).await;
        assert!(p.hooks().is_empty(), "the contract deleted its hook");
        let pasted = InstallCallback {
            token: Some(Secret::new("pasted")),
            ..InstallCallback::default()
        };
        assert!(!p.accepts_token());
        assert!(matches!(
            p.complete_install(&pasted).await,
            Err(GitError::Unauthorized { .. })
        ));
        p.set_accepts_token(true);
        let grant = p.complete_install(&pasted).await.expect("a pasted token connects");
        assert_eq!(grant.external_id, "token-user");
        assert_eq!(
            grant.credentials.map(|c| c.access_token.expose().to_owned()).as_deref(),
            Some("pasted")
        );
        p.set_configured(false);
        assert!(matches!(p.status(), ProviderStatus::NotConfigured { .. }));
        assert!(matches!(p.install_url("s"), Err(GitError::NotConfigured { .. })));
    }
}
