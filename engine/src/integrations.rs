//! Code-host integrations: connect (signed install `state`), the repo
//! picker, adding a picked repo (link, webhook, first index), webhook
//! intake, webhook health, retry and disconnect. Provider-neutral: every
//! host-specific call goes through the `GitProvider` port.

use crate::builder::Engine;
use crate::caller::Caller;
use crate::error::{EngineError, ErrorKind};
use lettuce_domain::codehost::{
    DeliveryOutcome, INSTALL_STATE_MESSAGE, InstallState, Installation, ProviderCredentials, RepoLink, WebhookDelivery,
    access_denied_message, filter_page, verify_hmac_sha256_signature, verify_token_header,
};
use lettuce_domain::license::LicensedAction;
use lettuce_domain::repo::{Repo, RepoStatus};
use lettuce_domain::{AccountId, RepoId, Secret};
use lettuce_ports::git::{
    GitError, GitProvider, InstallCallback, InstallGrant, ProviderKind, ProviderStatus, RemoteRepo, WebhookEvent,
};
use lettuce_ports::store::{RepoUpdate, StoreError};
use std::sync::Arc;

/// Largest webhook body accepted (GitHub caps payloads at 25 MB; pushes
/// Lettuce needs are far smaller). Larger deliveries are refused unread.
pub const WEBHOOK_MAX_BODY: usize = 5 * 1024 * 1024;

/// How long a delivery id is remembered to refuse replays.
const DELIVERY_ID_TTL: chrono::Duration = chrono::Duration::days(7);

/// Default page size of the picker.
pub const PICKER_PER_PAGE: u32 = 30;

/// Deliveries shown as webhook health.
const HEALTH_DELIVERIES: usize = 10;

/// A code host as the account sees it.
#[derive(Debug, Clone)]
pub struct IntegrationView {
    /// `github`, `gitlab`, …
    pub provider: String,
    /// `GitHub`, …
    pub display_name: String,
    /// Whether the instance has it configured.
    pub configured: bool,
    /// Why not, when not (names the missing settings).
    pub reason: Option<String>,
    /// Users connect by pasting an access token (not an install redirect).
    pub accepts_token: bool,
    /// The account's installation, when connected.
    pub installation: Option<Installation>,
}

/// One page of the picker.
#[derive(Debug, Clone)]
pub struct RepoPickerPage {
    /// The repos of this page.
    pub repos: Vec<RemoteRepo>,
    /// 1-based page number.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
    /// Whether another page follows.
    pub has_more: bool,
}

/// `POST /v1/integrations/{provider}/repos`: add a repo from the picker.
#[derive(Debug, Clone, Default)]
pub struct AddProviderRepoRequest {
    /// `owner/name` (case-insensitive) or the provider's repo id.
    pub repo: String,
    /// Branch to index; default: the repo's default branch.
    pub branch: Option<String>,
}

/// Webhook state of a repo added through a code host.
#[derive(Debug, Clone)]
pub struct WebhookHealth {
    /// The link (provider, provider repo id, hook id, last registration error).
    pub link: RepoLink,
    /// The latest accepted deliveries, newest first.
    pub deliveries: Vec<WebhookDelivery>,
}

/// What the webhook intake did with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReply {
    /// The outcome.
    pub outcome: DeliveryOutcome,
    /// The repo it concerned, if known.
    pub repo_id: Option<RepoId>,
    /// Why (for the sender's delivery log).
    pub detail: String,
}

fn integration(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> EngineError {
    EngineError::Integration {
        kind,
        code,
        message: message.into(),
    }
}

fn rejected(reason: &str, provider: &str, account: &str) -> EngineError {
    tracing::warn!(provider, account, reason, "webhook delivery rejected");
    metrics::counter!("lettuce_webhook_rejected_total", "provider" => provider.to_owned()).increment(1);
    integration(
        ErrorKind::Unauthenticated,
        "webhook_rejected",
        format!("webhook delivery rejected: {reason}"),
    )
}

impl Engine {
    /// The provider named `name` (a code host, not the generic one).
    fn code_host(&self, name: &str) -> Result<&Arc<dyn GitProvider>, EngineError> {
        self.inner
            .providers
            .iter()
            .find(|p| p.kind() != ProviderKind::Generic && p.kind().as_str() == name)
            .ok_or_else(|| {
                integration(
                    ErrorKind::NotFound,
                    "provider_unknown",
                    format!("`{name}` is not a code host this Lettuce build supports"),
                )
            })
    }

    /// The provider, or 503 `provider_not_configured` naming what is missing.
    fn ready_host(&self, name: &str) -> Result<&Arc<dyn GitProvider>, EngineError> {
        let p = self.code_host(name)?;
        match p.status() {
            ProviderStatus::Ready => Ok(p),
            ProviderStatus::NotConfigured { message } => {
                Err(integration(ErrorKind::Unavailable, "provider_not_configured", message))
            }
        }
    }

    /// The key that signs install states: derived from the data key, so every
    /// process of the install agrees and a key rotation invalidates pending
    /// installs (the user restarts the install).
    fn state_key(&self) -> Vec<u8> {
        lettuce_domain::codehost::hmac_sha256_signature(&self.inner.settings.data_key, b"lettuce install state key")
            .into_bytes()
    }

    /// The account's installation of `provider`, its credentials opened (and
    /// refreshed when they are about to expire), ready for a provider call.
    async fn installation_of(&self, account: AccountId, provider: &str) -> Result<Installation, EngineError> {
        let p = self.code_host(provider)?.clone();
        let inst = self.stored_installation(account, provider).await?;
        match self.open_installation(p.as_ref(), inst).await {
            Ok(i) => Ok(i),
            Err(crate::repos::CredentialError::Engine(e)) => Err(e),
            Err(crate::repos::CredentialError::Git(GitError::Unauthorized { message })) => Err(integration(
                ErrorKind::Forbidden,
                "provider_unauthorized",
                format!("{message}; reconnect the code host"),
            )),
            Err(crate::repos::CredentialError::Git(e)) => Err(e.into()),
        }
    }

    /// Opens `inst`'s sealed credentials into [`Installation::credentials`]
    /// and, when the access token expires within the refresh margin and a
    /// refresh token exists, asks the provider for new tokens and stores
    /// them sealed. A refused refresh marks the installation `needs_reauth`.
    pub(crate) async fn open_installation(
        &self,
        p: &dyn GitProvider,
        mut inst: Installation,
    ) -> Result<Installation, crate::repos::CredentialError> {
        use crate::repos::CredentialError;
        let Some(sealed) = inst.sealed_credentials.clone() else {
            return Ok(inst);
        };
        let internal = |m: String| CredentialError::Engine(EngineError::Internal(m));
        let raw = self.inner.keys.open(&sealed).map_err(internal)?;
        let text = String::from_utf8(raw).map_err(|_| internal("stored code-host credentials are not UTF-8".into()))?;
        let creds = ProviderCredentials::from_sealable(&text)
            .ok_or_else(|| internal("stored code-host credentials are unreadable".into()))?;
        let now = self.inner.clock.now();
        let refresh = creds.refresh_token.is_some() && creds.needs_refresh(now);
        inst.credentials = Some(creds);
        if !refresh {
            return Ok(inst);
        }
        match p.refresh_credentials(&inst).await {
            Ok(fresh) => {
                inst.sealed_credentials = Some(self.seal_credentials(&fresh).map_err(CredentialError::Engine)?);
                inst.credentials = Some(fresh);
                inst.needs_reauth = false;
                self.inner
                    .store
                    .put_installation(&inst)
                    .await
                    .map_err(|e| CredentialError::Engine(e.into()))?;
                tracing::info!(provider = %inst.provider, account = %inst.account_id, "code-host token refreshed");
                Ok(inst)
            }
            Err(GitError::Unauthorized { message }) => {
                self.flag_needs_reauth(inst.account_id, &inst).await;
                Err(CredentialError::Git(GitError::Unauthorized {
                    message: format!("{message} (the refresh token was refused)"),
                }))
            }
            Err(e) => Err(CredentialError::Git(e)),
        }
    }

    fn seal_credentials(&self, creds: &ProviderCredentials) -> Result<String, EngineError> {
        self.inner
            .keys
            .seal(creds.to_sealable().expose().as_bytes())
            .map_err(EngineError::Internal)
    }

    async fn stored_installation(&self, account: AccountId, provider: &str) -> Result<Installation, EngineError> {
        self.inner
            .store
            .get_installation(account, provider)
            .await?
            .ok_or_else(|| {
                let name = self
                    .inner
                    .providers
                    .iter()
                    .find(|p| p.kind().as_str() == provider)
                    .map_or(provider, |p| p.kind().display_name());
                integration(
                    ErrorKind::Conflict,
                    "not_connected",
                    format!("{name} is not connected to this account: connect it first"),
                )
            })
    }

    /// Code hosts of this build: configured or not, connected or not.
    pub async fn list_integrations(&self, caller: &Caller) -> Result<Vec<IntegrationView>, EngineError> {
        let u = caller.user()?;
        let installs = self.inner.store.list_installations(u.account_id).await?;
        Ok(self
            .inner
            .providers
            .iter()
            .filter(|p| p.kind() != ProviderKind::Generic)
            .map(|p| {
                let name = p.kind().as_str();
                let (configured, reason) = match p.status() {
                    ProviderStatus::Ready => (true, None),
                    ProviderStatus::NotConfigured { message } => (false, Some(message)),
                };
                IntegrationView {
                    provider: name.to_owned(),
                    display_name: p.kind().display_name().to_owned(),
                    configured,
                    reason,
                    accepts_token: p.accepts_token(),
                    installation: installs.iter().find(|i| i.provider == name).cloned(),
                }
            })
            .collect())
    }

    /// Where to send the user to connect `provider`: the host's install URL
    /// with a signed, single-use `state` valid for 15 minutes.
    pub async fn start_install(&self, caller: &Caller, provider: &str) -> Result<String, EngineError> {
        let u = caller.user()?;
        self.require_license_for(LicensedAction::AddRepo).await?;
        let p = self.ready_host(provider)?;
        let state = InstallState {
            account_id: u.account_id,
            user_id: u.user_id,
            provider: provider.to_owned(),
            issued_at: chrono::DateTime::from_timestamp(self.inner.clock.now().timestamp(), 0)
                .unwrap_or_else(|| self.inner.clock.now()),
            nonce: crate::crypto::random_hex32(),
        };
        Ok(p.install_url(&state.sign(&self.state_key()))?)
    }

    /// The install callback: verifies the `state` (signature, provider, 15
    /// minutes, single use), then completes the install with the host and
    /// stores the installation. Needs no session: the state names the
    /// account and user that started the install.
    pub async fn complete_install(
        &self,
        provider: &str,
        state: Option<&str>,
        callback: &InstallCallback,
    ) -> Result<Installation, EngineError> {
        let p = self.ready_host(provider)?;
        let invalid = |why: &str| {
            tracing::warn!(provider, reason = why, "install callback refused");
            integration(ErrorKind::Invalid, "install_state_invalid", INSTALL_STATE_MESSAGE)
        };
        let now = self.inner.clock.now();
        let state = state.ok_or_else(|| invalid("no state"))?;
        let verified =
            InstallState::verify(&self.state_key(), state, provider, now).map_err(|e| invalid(&e.to_string()))?;
        let expires = verified.issued_at + lettuce_domain::codehost::INSTALL_STATE_TTL;
        if !self
            .inner
            .store
            .use_once("install_state", &verified.nonce, expires, now)
            .await?
        {
            return Err(invalid("state already used"));
        }
        let display = p.kind().display_name();
        if callback.error.is_some() {
            tracing::info!(provider, error = ?callback.error, "install denied on the code host");
            return Err(integration(
                ErrorKind::Forbidden,
                "provider_access_denied",
                access_denied_message(display),
            ));
        }
        let grant = p.complete_install(callback).await.map_err(|e| match e {
            GitError::Unauthorized { message } => {
                tracing::info!(provider, %message, "install refused by the code host");
                integration(
                    ErrorKind::Forbidden,
                    "provider_access_denied",
                    access_denied_message(display),
                )
            }
            other => other.into(),
        })?;
        self.store_grant(provider, verified.account_id, verified.user_id, grant)
            .await
    }

    async fn store_grant(
        &self,
        provider: &str,
        account_id: AccountId,
        user_id: lettuce_domain::UserId,
        grant: InstallGrant,
    ) -> Result<Installation, EngineError> {
        let sealed_credentials = grant
            .credentials
            .as_ref()
            .map(|c| self.seal_credentials(c))
            .transpose()?;
        let installation = Installation {
            account_id,
            provider: provider.to_owned(),
            external_id: grant.external_id,
            connected_by: user_id,
            connected_at: self.inner.clock.now(),
            scopes: grant.scopes,
            needs_reauth: false,
            sealed_credentials,
            credentials: None,
        };
        self.inner.store.put_installation(&installation).await?;
        tracing::info!(provider, account = %installation.account_id, "code host connected");
        Ok(installation)
    }

    /// Connects `provider` with an access token the user pasted (Bitbucket
    /// Data Center HTTP access tokens): the provider checks it against the
    /// host, then it is stored sealed.
    pub async fn connect_with_token(
        &self,
        caller: &Caller,
        provider: &str,
        token: Secret,
    ) -> Result<Installation, EngineError> {
        let u = caller.user()?.clone();
        self.require_license_for(LicensedAction::AddRepo).await?;
        let p = self.ready_host(provider)?.clone();
        let display = p.kind().display_name();
        if !p.accepts_token() {
            return Err(integration(
                ErrorKind::Invalid,
                "token_not_accepted",
                format!("{display} is connected through its install page, not with a pasted token"),
            ));
        }
        if token.expose().trim().is_empty() {
            return Err(integration(
                ErrorKind::Invalid,
                "token_missing",
                "paste an access token: `token` is empty",
            ));
        }
        let callback = InstallCallback {
            token: Some(Secret::new(token.expose().trim())),
            ..InstallCallback::default()
        };
        let grant = p.complete_install(&callback).await.map_err(|e| match e {
            GitError::Unauthorized { message } => {
                tracing::info!(provider, %message, "pasted token refused by the code host");
                integration(
                    ErrorKind::Forbidden,
                    "provider_token_refused",
                    format!("{display} refused the token: {message}"),
                )
            }
            other => other.into(),
        })?;
        self.store_grant(provider, u.account_id, u.user_id, grant).await
    }

    /// Disconnects `provider`: removes the installation (and its tokens);
    /// repos stay (public ones keep working; private ones fail their next
    /// fetch asking to reconnect). Owners only.
    pub async fn disconnect(&self, caller: &Caller, provider: &str) -> Result<(), EngineError> {
        let u = caller.owner()?;
        self.code_host(provider)?;
        if !self.inner.store.delete_installation(u.account_id, provider).await? {
            return Err(EngineError::NotFound("installation"));
        }
        tracing::info!(provider, account = %u.account_id, "code host disconnected");
        Ok(())
    }

    /// The picker: repos the installation can add whose `owner/name`
    /// contains `filter` (case-insensitive), one page at a time.
    pub async fn list_provider_repos(
        &self,
        caller: &Caller,
        provider: &str,
        filter: Option<&str>,
        page: Option<u32>,
        per_page: Option<u32>,
    ) -> Result<RepoPickerPage, EngineError> {
        let u = caller.user()?;
        self.require_license_for(LicensedAction::Query).await?;
        let p = self.ready_host(provider)?;
        let inst = self.installation_of(u.account_id, provider).await?;
        let all = self
            .provider_call(u.account_id, &inst, p.list_repos(&inst).await)
            .await?;
        let page = page.unwrap_or(1).max(1);
        let per_page = per_page.unwrap_or(PICKER_PER_PAGE).clamp(1, 100);
        let (repos, has_more) = filter_page(&all, |r| r.full_name.as_str(), filter, page, per_page);
        Ok(RepoPickerPage {
            repos,
            page,
            per_page,
            has_more,
        })
    }

    /// Marks the installation `needs_reauth` (the API and the web app then
    /// offer "reconnect"). Best effort: a store failure is logged.
    pub(crate) async fn flag_needs_reauth(&self, account: AccountId, inst: &Installation) {
        let mut flagged = inst.clone();
        flagged.needs_reauth = true;
        if let Err(e) = self.inner.store.put_installation(&flagged).await {
            tracing::warn!(error = %e, "could not mark the installation needs_reauth");
        }
        tracing::info!(account = %account, provider = %inst.provider, "installation needs re-authorisation");
    }

    /// Turns a provider error into the engine's; an `Unauthorized` marks the
    /// installation `needs_reauth`.
    async fn provider_call<T>(
        &self,
        account: AccountId,
        inst: &Installation,
        res: Result<T, GitError>,
    ) -> Result<T, EngineError> {
        match res {
            Ok(v) => Ok(v),
            Err(GitError::Unauthorized { message }) => {
                self.flag_needs_reauth(account, inst).await;
                Err(integration(
                    ErrorKind::Forbidden,
                    "provider_unauthorized",
                    format!("{message}; reconnect the code host"),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Adds a repo picked from `provider`: registers the repo, records the
    /// provider's repo id, registers its push webhook (a failure is
    /// recorded on the repo with the fix; the repo is still added) and
    /// queues the first index.
    pub async fn add_provider_repo(
        &self,
        caller: &Caller,
        provider: &str,
        req: AddProviderRepoRequest,
    ) -> Result<(Repo, WebhookHealth), EngineError> {
        let u = caller.user()?.clone();
        let p = self.ready_host(provider)?.clone();
        let inst = self.installation_of(u.account_id, provider).await?;
        let all = self
            .provider_call(u.account_id, &inst, p.list_repos(&inst).await)
            .await?;
        let wanted = req.repo.trim();
        let remote = all
            .iter()
            .find(|r| r.id == wanted || r.full_name.eq_ignore_ascii_case(wanted))
            .cloned()
            .ok_or_else(|| {
                integration(
                    ErrorKind::NotFound,
                    "provider_repo_not_found",
                    format!(
                        "{wanted} is not among the repositories the {} connection can see: check the name, or grant the installation access to it",
                        p.kind().display_name()
                    ),
                )
            })?;
        let repo = self
            .insert_repo(
                caller,
                crate::repos::AddRepoRequest {
                    url: remote.clone_url.clone(),
                    branch: req.branch.clone(),
                },
            )
            .await?;
        let branch = repo
            .branch
            .clone()
            .or_else(|| remote.default_branch.clone())
            .unwrap_or_else(|| "main".into());
        let mut link = RepoLink {
            repo_id: repo.id,
            account_id: u.account_id,
            provider: provider.to_owned(),
            provider_repo_id: remote.id.clone(),
            full_name: remote.full_name.clone(),
            branch,
            hook_id: None,
            hook_error: None,
            updated_at: self.inner.clock.now(),
            mode: Default::default(),
            checked_at: None,
            check_note: None,
            remote_head: None,
        };
        if let Err(e) = self.inner.store.put_repo_link(&link).await {
            self.undo_repo(u.account_id, repo.id).await;
            return Err(e.into());
        }
        self.register_hook(p.as_ref(), &inst, &remote, &mut link).await?;
        if let Err(e) = self.enqueue_index(repo.id).await {
            self.undo_repo(u.account_id, repo.id).await;
            return Err(e);
        }
        tracing::info!(repo = %repo.id, provider, full_name = %remote.full_name, "repo added from code host");
        let health = WebhookHealth {
            link,
            deliveries: Vec::new(),
        };
        Ok((repo, health))
    }

    async fn undo_repo(&self, account: AccountId, repo: RepoId) {
        if let Err(undo) = self.inner.store.delete_repo(account, repo).await {
            tracing::error!(repo = %repo, error = %undo, "could not undo a half-added repo");
        }
    }

    /// Registers the webhook of `link`'s repo and records the result on the link.
    async fn register_hook(
        &self,
        p: &dyn GitProvider,
        inst: &Installation,
        remote: &RemoteRepo,
        link: &mut RepoLink,
    ) -> Result<(), EngineError> {
        let result = match self.webhook_target(link).await? {
            None => Err(
                "LETTUCE_WEB_URL is not set, so the code host has no address to deliver pushes to: set it, then retry webhook setup"
                    .to_owned(),
            ),
            Some(target) => match p.register_webhook(inst, remote, &target).await {
                Ok(id) => Ok(id),
                Err(GitError::PermissionDenied { message }) => Err(format!(
                    "webhook not registered: {message}; re-grant the permission, then retry webhook setup"
                )),
                Err(e) => Err(format!("webhook not registered: {e}; retry webhook setup")),
            },
        };
        match result {
            Ok(id) => {
                link.hook_id = Some(id);
                link.hook_error = None;
            }
            Err(why) => {
                tracing::warn!(repo = %link.repo_id, reason = %why, "webhook registration failed");
                link.hook_error = Some(why);
            }
        }
        link.updated_at = self.inner.clock.now();
        self.inner.store.put_repo_link(link).await?;
        Ok(())
    }

    /// Retries the webhook registration of one of the caller's repos.
    pub async fn retry_webhook(&self, caller: &Caller, id: RepoId) -> Result<WebhookHealth, EngineError> {
        let u = caller.user()?;
        self.inner.store.get_repo(u.account_id, id).await?;
        let mut link = self.inner.store.get_repo_link(id).await?.ok_or_else(|| {
            integration(
                ErrorKind::Conflict,
                "repo_not_linked",
                "this repo was added by URL, not through a code host, so Lettuce manages no webhook for it",
            )
        })?;
        let p = self.ready_host(&link.provider)?.clone();
        let inst = self.installation_of(u.account_id, &link.provider).await?;
        let all = self
            .provider_call(u.account_id, &inst, p.list_repos(&inst).await)
            .await?;
        let remote = all.into_iter().find(|r| r.id == link.provider_repo_id).ok_or_else(|| {
            integration(
                ErrorKind::NotFound,
                "provider_repo_not_found",
                format!("{} is no longer visible to the code-host connection", link.full_name),
            )
        })?;
        self.register_hook(p.as_ref(), &inst, &remote, &mut link).await?;
        let deliveries = self.inner.store.list_webhook_deliveries(id, HEALTH_DELIVERIES).await?;
        Ok(WebhookHealth { link, deliveries })
    }

    /// Webhook health of one of the caller's repos (`None` for repos added
    /// by URL).
    pub async fn webhook_health(&self, caller: &Caller, id: RepoId) -> Result<Option<WebhookHealth>, EngineError> {
        let u = caller.user()?;
        self.inner.store.get_repo(u.account_id, id).await?;
        let Some(link) = self.inner.store.get_repo_link(id).await? else {
            return Ok(None);
        };
        let deliveries = self.inner.store.list_webhook_deliveries(id, HEALTH_DELIVERIES).await?;
        Ok(Some(WebhookHealth { link, deliveries }))
    }

    /// Webhook intake for `provider` and the account in the URL. The
    /// signature (or token) is checked in constant time against the
    /// account's secret **before** the body is parsed; unsigned, forged,
    /// malformed and replayed deliveries are refused (`webhook_rejected`,
    /// 401) with the reason logged, and nothing is queued. `header` looks a
    /// request header up by lower-case name. The caller enforces
    /// [`WEBHOOK_MAX_BODY`] before reading the body.
    pub async fn receive_webhook(
        &self,
        provider: &str,
        account: &str,
        header: &(dyn Fn(&str) -> Option<String> + Send + Sync),
        body: &[u8],
    ) -> Result<WebhookReply, EngineError> {
        let p = self.ready_host(provider)?;
        let scheme = p.webhook_scheme().ok_or_else(|| {
            integration(
                ErrorKind::NotFound,
                "provider_unsupported",
                "this code host has no webhooks",
            )
        })?;
        if body.len() > WEBHOOK_MAX_BODY {
            return Err(rejected("body too large", provider, account));
        }
        let account_id: AccountId = account
            .parse()
            .map_err(|_| rejected("malformed account id", provider, account))?;
        let acct = match self.inner.store.get_account(account_id).await {
            Ok(a) => a,
            Err(StoreError::NotFound { .. }) => return Err(rejected("unknown account", provider, account)),
            Err(e) => return Err(e.into()),
        };
        let sig = header(scheme.signature_header);
        let checked = if scheme.token {
            verify_token_header(&acct.webhook_secret, sig.as_deref())
        } else {
            verify_hmac_sha256_signature(acct.webhook_secret.as_bytes(), body, sig.as_deref())
        };
        if let Err(e) = checked {
            return Err(rejected(&e.to_string(), provider, account));
        }
        let event = header(scheme.event_header).ok_or_else(|| rejected("no event header", provider, account))?;
        let now = self.inner.clock.now();
        let delivery_id = match scheme.delivery_header {
            Some(h) => {
                let id = header(h).ok_or_else(|| rejected("no delivery id", provider, account))?;
                let scope = format!("{provider}_delivery");
                if !self
                    .inner
                    .store
                    .use_once(&scope, &format!("{account_id}:{id}"), now + DELIVERY_ID_TTL, now)
                    .await?
                {
                    return Err(rejected("replayed delivery id", provider, account));
                }
                Some(id)
            }
            None => None,
        };
        let parsed = p.parse_webhook(&event, body).map_err(|e| {
            let why = e.to_string();
            rejected(&why, provider, account)
        })?;
        let links = self.inner.store.list_repo_links(account_id, provider).await?;
        let find = |id: &str| links.iter().find(|l| l.provider_repo_id == id);
        let (link, outcome, detail) = match parsed {
            WebhookEvent::Ping { provider_repo_id } => (
                provider_repo_id.as_deref().and_then(find),
                DeliveryOutcome::Ping,
                "pong".to_owned(),
            ),
            WebhookEvent::Push {
                provider_repo_id,
                full_name,
                branch,
                head,
            } => {
                let Some(link) = find(&provider_repo_id)
                    .or_else(|| links.iter().find(|l| l.full_name.eq_ignore_ascii_case(&full_name)))
                else {
                    return Ok(WebhookReply {
                        outcome: DeliveryOutcome::Ignored,
                        repo_id: None,
                        detail: format!("{full_name} is not added to this account"),
                    });
                };
                let deleted = head.bytes().all(|b| b == b'0');
                match branch {
                    Some(b) if b == link.branch && !deleted => {
                        self.queue_push_reindex(link.repo_id).await?;
                        (
                            Some(link),
                            DeliveryOutcome::Queued,
                            format!("push to {b} at {head}: re-index queued"),
                        )
                    }
                    Some(b) if b == link.branch => {
                        (Some(link), DeliveryOutcome::Ignored, format!("branch {b} was deleted"))
                    }
                    Some(b) => (
                        Some(link),
                        DeliveryOutcome::Ignored,
                        format!("push to {b}, not the indexed branch {}", link.branch),
                    ),
                    None => (Some(link), DeliveryOutcome::Ignored, "push of a tag".to_owned()),
                }
            }
            WebhookEvent::Other { event } => (None, DeliveryOutcome::Ignored, format!("event {event} is not used")),
        };
        metrics::counter!("lettuce_webhook_deliveries_total", "provider" => provider.to_owned(), "outcome" => outcome.as_str())
            .increment(1);
        if let Some(l) = link {
            self.note_delivery(l).await?;
        }
        let repo_id = link.map(|l| l.repo_id);
        if let Some(repo_id) = repo_id {
            let d = WebhookDelivery {
                repo_id,
                at: now,
                event: event.clone(),
                delivery_id,
                outcome,
                detail: detail.clone(),
            };
            match self.inner.store.record_webhook_delivery(&d).await {
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        tracing::info!(provider, account = %account_id, event = %event, outcome = outcome.as_str(), %detail, "webhook delivery");
        Ok(WebhookReply {
            outcome,
            repo_id,
            detail,
        })
    }

    /// Queues the de-duplicated incremental re-index a push asks for.
    pub(crate) async fn queue_push_reindex(&self, repo_id: RepoId) -> Result<(), EngineError> {
        self.enqueue_index(repo_id).await?;
        let repo = match self.inner.store.get_repo_unscoped(repo_id).await {
            Ok(r) => r,
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if repo.status != RepoStatus::Indexing {
            let update = RepoUpdate {
                status: Some(RepoStatus::Pending),
                updated_at: Some(self.inner.clock.now()),
                ..Default::default()
            };
            match self.inner.store.update_repo(repo_id, update).await {
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
