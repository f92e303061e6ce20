//! Code hosts (GitHub, GitLab, Bitbucket): installations, the signed install
//! `state`, webhook signatures, repo links and deliveries, the picker's
//! filter and paging, and host URL composition. Pure rules: time is passed in.

use crate::{AccountId, RepoId, Secret, UserId};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How long an install `state` stays valid.
pub const INSTALL_STATE_TTL: Duration = Duration::minutes(15);

/// The user-facing message for an install `state` that is expired, forged,
/// already used or for another provider (the Bitbucket guide's wording,
/// shared by every provider).
pub const INSTALL_STATE_MESSAGE: &str = "invalid or expired install state";

/// The user-facing message when the user (or their admin) refused the
/// install on the code host: "GitHub access was denied".
pub fn access_denied_message(provider_display: &str) -> String {
    format!("{provider_display} access was denied")
}

/// A code-host connection of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installation {
    /// The account.
    pub account_id: AccountId,
    /// Provider name (`github`, `gitlab`, `bitbucket` (Cloud or Data Center)).
    pub provider: String,
    /// The provider's id of the installation (GitHub App installation id)
    /// or of the connected user (OAuth providers).
    pub external_id: String,
    /// Who connected it.
    pub connected_by: UserId,
    /// When.
    pub connected_at: DateTime<Utc>,
    /// Granted scopes or permissions (`contents:read`, `api`, …).
    pub scopes: Vec<String>,
    /// The provider refused the stored credentials: the user must reconnect.
    pub needs_reauth: bool,
    /// The connection's tokens sealed with the data key (OAuth and
    /// access-token providers; `None` for GitHub Apps, whose tokens are
    /// minted from the App key). What the store keeps; never serialized.
    #[serde(skip)]
    pub sealed_credentials: Option<String>,
    /// The same tokens, opened by the engine just before it calls the
    /// provider. Never stored, never serialized.
    #[serde(skip)]
    pub credentials: Option<ProviderCredentials>,
}

/// Refresh an access token this long before it expires.
pub const CREDENTIALS_REFRESH_MARGIN: Duration = Duration::minutes(5);

/// The tokens of an OAuth or access-token connection (GitLab, Bitbucket
/// Cloud, Bitbucket Data Center). `Debug` shows no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderCredentials {
    /// Bearer token for API calls and clones.
    pub access_token: Secret,
    /// OAuth refresh token, when the host issues one.
    pub refresh_token: Option<Secret>,
    /// When `access_token` expires, when it does.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize)]
struct CredentialsWire {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
}

impl ProviderCredentials {
    /// A token that does not expire and cannot be refreshed (a pasted
    /// access token).
    pub fn bearer(token: Secret) -> Self {
        Self {
            access_token: token,
            refresh_token: None,
            expires_at: None,
        }
    }

    /// Whether the access token expires within [`CREDENTIALS_REFRESH_MARGIN`]
    /// of `now` (or has expired).
    pub fn needs_refresh(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at - now < CREDENTIALS_REFRESH_MARGIN)
    }

    /// The plaintext the engine seals (JSON). Handle as a secret.
    pub fn to_sealable(&self) -> Secret {
        let wire = CredentialsWire {
            access_token: self.access_token.expose().to_owned(),
            refresh_token: self.refresh_token.as_ref().map(|s| s.expose().to_owned()),
            expires_at: self.expires_at,
        };
        Secret::new(serde_json::to_string(&wire).unwrap_or_else(|_| unreachable!("plain struct serializes")))
    }

    /// Parses [`ProviderCredentials::to_sealable`]'s output.
    pub fn from_sealable(plaintext: &str) -> Option<Self> {
        let w: CredentialsWire = serde_json::from_str(plaintext).ok()?;
        Some(Self {
            access_token: Secret::new(w.access_token),
            refresh_token: w.refresh_token.map(Secret::new),
            expires_at: w.expires_at,
        })
    }
}

/// Why an install `state` was refused (all show [`INSTALL_STATE_MESSAGE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InstallStateError {
    /// Not of the expected shape.
    #[error("{INSTALL_STATE_MESSAGE} (malformed)")]
    Malformed,
    /// Signature mismatch (forged, or the server secret changed).
    #[error("{INSTALL_STATE_MESSAGE} (bad signature)")]
    BadSignature,
    /// Signed for another provider.
    #[error("{INSTALL_STATE_MESSAGE} (other provider)")]
    WrongProvider,
    /// Older than [`INSTALL_STATE_TTL`] (or from the future).
    #[error("{INSTALL_STATE_MESSAGE} (expired)")]
    Expired,
}

/// What a verified install `state` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallState {
    /// The account that started the install.
    pub account_id: AccountId,
    /// The user that started it.
    pub user_id: UserId,
    /// The provider.
    pub provider: String,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// Single-use nonce (the caller records its use).
    pub nonce: String,
}

fn state_mac(secret: &[u8], payload: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"lettuce install state\n");
    mac.update(payload.as_bytes());
    mac
}

impl InstallState {
    fn payload(&self) -> String {
        format!(
            "{}.{}.{}.{}.{}",
            self.account_id,
            self.user_id,
            self.provider,
            self.issued_at.timestamp(),
            self.nonce
        )
    }

    /// The signed `state` string: `<account>.<user>.<provider>.<unix time>.<nonce>.<hex HMAC-SHA256>`.
    /// `nonce` must not contain `.`.
    pub fn sign(&self, secret: &[u8]) -> String {
        let payload = self.payload();
        let tag = hex::encode(state_mac(secret, &payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// Verifies `state` for `provider` at `now`: the signature (constant
    /// time), the provider and the age. The caller must then record the
    /// nonce as used (single use).
    pub fn verify(secret: &[u8], state: &str, provider: &str, now: DateTime<Utc>) -> Result<Self, InstallStateError> {
        let (payload, tag) = state.rsplit_once('.').ok_or(InstallStateError::Malformed)?;
        let tag = hex::decode(tag).map_err(|_| InstallStateError::Malformed)?;
        state_mac(secret, payload)
            .verify_slice(&tag)
            .map_err(|_| InstallStateError::BadSignature)?;
        let parts: Vec<&str> = payload.split('.').collect();
        let [account, user, prov, ts, nonce] = parts[..] else {
            return Err(InstallStateError::Malformed);
        };
        let account_id = account.parse().map_err(|_| InstallStateError::Malformed)?;
        let user_id = user.parse().map_err(|_| InstallStateError::Malformed)?;
        let ts: i64 = ts.parse().map_err(|_| InstallStateError::Malformed)?;
        let issued_at = DateTime::from_timestamp(ts, 0).ok_or(InstallStateError::Malformed)?;
        if prov != provider {
            return Err(InstallStateError::WrongProvider);
        }
        if now - issued_at > INSTALL_STATE_TTL || issued_at - now > Duration::minutes(1) {
            return Err(InstallStateError::Expired);
        }
        Ok(InstallState {
            account_id,
            user_id,
            provider: prov.to_owned(),
            issued_at,
            nonce: nonce.to_owned(),
        })
    }
}

/// Why a webhook delivery's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature header.
    #[error("unsigned delivery")]
    Missing,
    /// The header is not `sha256=<64 hex digits>`.
    #[error("malformed signature header")]
    Malformed,
    /// The signature does not match the body.
    #[error("signature does not match")]
    Mismatch,
}

/// Checks a `sha256=<hex>` HMAC-SHA256 signature of `body` (GitHub's
/// `X-Hub-Signature-256`, Bitbucket Cloud's `X-Hub-Signature`) in constant
/// time. Call it before parsing the body.
pub fn verify_hmac_sha256_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_sig = header.strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    let sig = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    if sig.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    mac.verify_slice(&sig).map_err(|_| SignatureError::Mismatch)
}

/// The `sha256=<hex>` signature of `body` (what a code host sends; tests
/// and fakes use it).
pub fn hmac_sha256_signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a shared-token header (GitLab's `X-Gitlab-Token`) in constant time.
pub fn verify_token_header(secret: &str, header: Option<&str>) -> Result<(), SignatureError> {
    use subtle::ConstantTimeEq;
    let header = header.ok_or(SignatureError::Missing)?;
    if bool::from(header.as_bytes().ct_eq(secret.as_bytes())) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// A repo added through a code host: the provider's id for it and the state
/// of its webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoLink {
    /// The Lettuce repo.
    pub repo_id: RepoId,
    /// Its account.
    pub account_id: AccountId,
    /// Provider name.
    pub provider: String,
    /// The provider's repo id.
    pub provider_repo_id: String,
    /// `owner/name` on the provider.
    pub full_name: String,
    /// The branch pushes are indexed from (the repo's branch, else the
    /// provider's default branch at add time).
    pub branch: String,
    /// The provider's id of the registered webhook, once registered.
    pub hook_id: Option<String>,
    /// Why the last webhook registration failed, with the fix.
    pub hook_error: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// How the repo is kept fresh: by its webhook, or by polling while the
    /// webhook cannot be relied on.
    #[serde(default)]
    pub mode: FreshnessMode,
    /// When the periodic check last looked at the hook and the remote head.
    #[serde(default)]
    pub checked_at: Option<DateTime<Utc>>,
    /// What the last check found or repaired ("re-registered the deleted
    /// webhook", "remote head moved without a delivery: polling").
    #[serde(default)]
    pub check_note: Option<String>,
    /// The remote head the last check saw.
    #[serde(default)]
    pub remote_head: Option<String>,
}

/// How a linked repo is kept fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreshnessMode {
    /// Pushes arrive as webhook deliveries.
    #[default]
    Webhook,
    /// The webhook is unreachable (the remote head moved without a
    /// delivery): the periodic check polls the remote head, within the
    /// per-host budget, until a delivery arrives again.
    Polling,
}

impl FreshnessMode {
    /// Stable string form (`webhook`, `polling`).
    pub fn as_str(self) -> &'static str {
        match self {
            FreshnessMode::Webhook => "webhook",
            FreshnessMode::Polling => "polling",
        }
    }

    /// Parses [`FreshnessMode::as_str`] (anything else is `Webhook`).
    pub fn parse(s: &str) -> Self {
        if s == "polling" {
            FreshnessMode::Polling
        } else {
            FreshnessMode::Webhook
        }
    }
}

/// What became of a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// A ping, answered.
    Ping,
    /// A push to the indexed branch: re-index queued.
    Queued,
    /// A push to another branch, or an event Lettuce does not use.
    Ignored,
}

impl DeliveryOutcome {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Ping => "ping",
            DeliveryOutcome::Queued => "queued",
            DeliveryOutcome::Ignored => "ignored",
        }
    }

    /// Parses [`DeliveryOutcome::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ping" => DeliveryOutcome::Ping,
            "queued" => DeliveryOutcome::Queued,
            "ignored" => DeliveryOutcome::Ignored,
            _ => return None,
        })
    }
}

/// One accepted webhook delivery for a repo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// The repo.
    pub repo_id: RepoId,
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// The provider's event name (`push`, `ping`).
    pub event: String,
    /// The provider's delivery id, if it sends one.
    pub delivery_id: Option<String>,
    /// What Lettuce did.
    pub outcome: DeliveryOutcome,
    /// Detail (branch and head of a push).
    pub detail: String,
}

/// One page of the picker: items whose `name` contains `filter`
/// (case-insensitive), page `page` (1-based) of `per_page`, and whether more
/// follow.
pub fn filter_page<T: Clone>(
    items: &[T],
    name: impl Fn(&T) -> &str,
    filter: Option<&str>,
    page: u32,
    per_page: u32,
) -> (Vec<T>, bool) {
    let needle = filter.map(str::trim).filter(|f| !f.is_empty()).map(str::to_lowercase);
    let matching: Vec<&T> = items
        .iter()
        .filter(|i| {
            needle
                .as_ref()
                .is_none_or(|n| name(i).to_lowercase().contains(n.as_str()))
        })
        .collect();
    let per = per_page.max(1) as usize;
    let start = (page.max(1) as usize - 1).saturating_mul(per);
    let out: Vec<T> = matching.iter().skip(start).take(per).map(|i| (*i).clone()).collect();
    let more = matching.len() > start.saturating_add(per);
    (out, more)
}

/// Whether `url` points at the code host whose web base is `web`
/// (`https://gitlab.acme.com`, `http://127.0.0.1:8080`): same host (case-
/// insensitive) and same port. What every host adapter's `owns` answers.
pub fn url_on_web_host(url: &crate::repo::RepoUrl, web: &str) -> bool {
    use crate::repo::UrlHost;
    let Ok(web) = url::Url::parse(web) else {
        return false;
    };
    let Some(host) = web.host_str() else { return false };
    let host_matches = match url.host() {
        UrlHost::Domain(d) => d.eq_ignore_ascii_case(host),
        UrlHost::Ip(ip) => ip.to_string() == host.trim_start_matches('[').trim_end_matches(']'),
        UrlHost::Local => false,
    };
    host_matches && web.port_or_known_default() == Some(url.port())
}

/// API and web base URLs of a GitHub host: `github.com` →
/// `https://api.github.com` and `https://github.com`; any other host (GitHub
/// Enterprise Server) → `https://<host>/api/v3` and `https://<host>`. A
/// scheme given with the host is kept (`http://` for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubUrls {
    /// REST API base, without trailing slash.
    pub api: String,
    /// Web base, without trailing slash.
    pub web: String,
}

impl GitHubUrls {
    /// Composes the URLs for `host` (`github.com`, `ghes.example.com`,
    /// `https://ghes.example.com/`).
    pub fn for_host(host: &str) -> Self {
        let host = host.trim().trim_end_matches('/');
        let (scheme, bare) = match host.split_once("://") {
            Some((s, rest)) => (s.to_ascii_lowercase(), rest),
            None => ("https".to_owned(), host),
        };
        let bare_lc = bare.to_ascii_lowercase();
        if bare_lc == "github.com" || bare_lc == "www.github.com" || bare_lc.is_empty() {
            return GitHubUrls {
                api: "https://api.github.com".into(),
                web: "https://github.com".into(),
            };
        }
        let web = format!("{scheme}://{bare}");
        GitHubUrls {
            api: format!("{web}/api/v3"),
            web,
        }
    }

    /// Where a user installs the App named `slug`.
    pub fn install_url(&self, slug: &str) -> String {
        format!("{}/apps/{slug}/installations/new", self.web)
    }
}

/// The scopes Lettuce asks GitLab for: `api` (projects, hooks),
/// `read_repository` (clone), `write_repository` (what the seeds' runbook
/// asks for, so project hooks can be managed by Maintainers).
pub const GITLAB_SCOPES: [&str; 3] = ["api", "read_repository", "write_repository"];

/// API and web base URLs of a GitLab host: `gitlab.com` or a self-managed
/// host → `https://<host>/api/v4` and `https://<host>` (GitLab serves its
/// API on the web host). A scheme given with the host is kept (`http://`
/// for tests), and so is a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitLabUrls {
    /// REST API base (`…/api/v4`), without trailing slash.
    pub api: String,
    /// Web base (OAuth endpoints, clone URLs), without trailing slash.
    pub web: String,
}

impl GitLabUrls {
    /// Composes the URLs for `host` (`gitlab.com`, `gitlab.acme.com:8443`,
    /// `https://gitlab.acme.com/`). Empty means `gitlab.com`.
    pub fn for_host(host: &str) -> Self {
        let host = host.trim().trim_end_matches('/');
        let (scheme, bare) = match host.split_once("://") {
            Some((s, rest)) => (s.to_ascii_lowercase(), rest),
            None => ("https".to_owned(), host),
        };
        let bare = if bare.is_empty() { "gitlab.com" } else { bare };
        let web = format!("{scheme}://{}", bare.to_ascii_lowercase());
        GitLabUrls {
            api: format!("{web}/api/v4"),
            web,
        }
    }

    /// The host part of a legacy `GITLAB_BASE_URL`: a full URL
    /// (`https://gitlab.acme.com`, `https://gitlab.acme.com/api/v4`) keeps
    /// its scheme, host and port and drops the path; a bare host
    /// (`gitlab.acme.com`) is returned as is. `None` when it names no host
    /// or a scheme other than `http`/`https`.
    pub fn host_of_base_url(value: &str) -> Option<String> {
        let value = value.trim();
        if value.is_empty() || value.contains(char::is_whitespace) {
            return None;
        }
        if !value.contains("://") {
            let host = value.split('/').next().unwrap_or_default();
            return (!host.is_empty() && url::Url::parse(&format!("https://{host}")).is_ok())
                .then(|| host.to_ascii_lowercase());
        }
        let u = url::Url::parse(value).ok()?;
        if u.scheme() != "https" && u.scheme() != "http" {
            return None;
        }
        let host = u.host_str().filter(|h| !h.is_empty())?;
        Some(match u.port() {
            Some(port) => format!("{}://{host}:{port}", u.scheme()),
            None => format!("{}://{host}", u.scheme()),
        })
    }

    /// Where the user authorizes Lettuce (`/oauth/authorize`, authorization
    /// code grant, [`GITLAB_SCOPES`]).
    pub fn authorize_url(&self, client_id: &str, redirect_uri: &str, state: &str) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("state", state)
            .append_pair("scope", &GITLAB_SCOPES.join(" "))
            .finish();
        format!("{}/oauth/authorize?{query}", self.web)
    }

    /// The token endpoint (`/oauth/token`): code exchange and refresh.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.web)
    }
}

/// Which Bitbucket an instance talks to (`BITBUCKET_FLAVOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BitbucketFlavor {
    /// Bitbucket Cloud (bitbucket.org, REST 2.0, OAuth consumers).
    Cloud,
    /// Bitbucket Data Center (self-managed, REST 1.0, HTTP access tokens and
    /// OAuth 2 incoming links).
    Dc,
}

impl BitbucketFlavor {
    /// Parses `cloud` or `dc` (case-insensitive); anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cloud" => Some(BitbucketFlavor::Cloud),
            "dc" => Some(BitbucketFlavor::Dc),
            _ => None,
        }
    }

    /// Stable string form (`cloud`, `dc`).
    pub fn as_str(self) -> &'static str {
        match self {
            BitbucketFlavor::Cloud => "cloud",
            BitbucketFlavor::Dc => "dc",
        }
    }
}

/// Base URLs of a Bitbucket host. Cloud: `bitbucket.org` → API
/// `https://api.bitbucket.org/2.0`, web `https://bitbucket.org`, OAuth
/// `https://bitbucket.org/site/oauth2/{authorize,access_token}`; another
/// Cloud host (a test double) keeps its origin with the API under `/2.0`.
/// Data Center: `<host>[/<context path>]` → REST `https://<host>/rest/api/1.0`,
/// web `https://<host>`, OAuth `https://<host>/rest/oauth2/latest/{authorize,token}`.
/// A scheme given with the host is kept (`http://` for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitbucketUrls {
    /// REST API base, without trailing slash.
    pub api: String,
    /// Web base (clone host), without trailing slash.
    pub web: String,
    /// OAuth authorization endpoint (where the user grants access).
    pub authorize: String,
    /// OAuth token endpoint (code exchange and refresh).
    pub token: String,
}

impl BitbucketUrls {
    /// Composes the URLs of `host` for `flavor`.
    pub fn for_host(flavor: BitbucketFlavor, host: &str) -> Self {
        let host = host.trim().trim_end_matches('/');
        let (scheme, bare) = match host.split_once("://") {
            Some((s, rest)) => (s.to_ascii_lowercase(), rest),
            None => ("https".to_owned(), host),
        };
        let web = format!("{scheme}://{bare}");
        match flavor {
            BitbucketFlavor::Cloud => {
                let lc = bare.to_ascii_lowercase();
                if lc.is_empty() || lc == "bitbucket.org" || lc == "www.bitbucket.org" || lc == "api.bitbucket.org" {
                    return BitbucketUrls {
                        api: "https://api.bitbucket.org/2.0".into(),
                        web: "https://bitbucket.org".into(),
                        authorize: "https://bitbucket.org/site/oauth2/authorize".into(),
                        token: "https://bitbucket.org/site/oauth2/access_token".into(),
                    };
                }
                BitbucketUrls {
                    api: format!("{web}/2.0"),
                    authorize: format!("{web}/site/oauth2/authorize"),
                    token: format!("{web}/site/oauth2/access_token"),
                    web,
                }
            }
            BitbucketFlavor::Dc => BitbucketUrls {
                api: format!("{web}/rest/api/1.0"),
                authorize: format!("{web}/rest/oauth2/latest/authorize"),
                token: format!("{web}/rest/oauth2/latest/token"),
                web,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn state(at: DateTime<Utc>) -> InstallState {
        InstallState {
            account_id: AccountId(Uuid::now_v7()),
            user_id: UserId(Uuid::now_v7()),
            provider: "github".into(),
            issued_at: DateTime::from_timestamp(at.timestamp(), 0).unwrap(),
            nonce: "n0nce".into(),
        }
    }

    #[test]
    fn install_state_round_trip_and_refusals() {
        let now = Utc::now();
        let s = state(now);
        let signed = s.sign(b"server secret");
        assert_eq!(
            InstallState::verify(b"server secret", &signed, "github", now),
            Ok(s.clone())
        );
        let cases: Vec<(&str, String, &str, DateTime<Utc>, InstallStateError)> = vec![
            (
                "other secret",
                signed.clone(),
                "github",
                now,
                InstallStateError::BadSignature,
            ),
            (
                "server secret",
                signed.clone(),
                "gitlab",
                now,
                InstallStateError::WrongProvider,
            ),
            (
                "server secret",
                signed.clone(),
                "github",
                now + Duration::minutes(16),
                InstallStateError::Expired,
            ),
            (
                "server secret",
                signed.clone(),
                "github",
                now - Duration::minutes(5),
                InstallStateError::Expired,
            ),
            (
                "server secret",
                "garbage".into(),
                "github",
                now,
                InstallStateError::Malformed,
            ),
            (
                "server secret",
                signed.replacen("github", "gitlab", 1),
                "gitlab",
                now,
                InstallStateError::BadSignature,
            ),
        ];
        for (secret, st, prov, at, want) in cases {
            assert_eq!(
                InstallState::verify(secret.as_bytes(), &st, prov, at),
                Err(want),
                "{st} {prov}"
            );
            assert!(want.to_string().starts_with(INSTALL_STATE_MESSAGE));
        }
        assert!(InstallState::verify(b"server secret", &signed, "github", now + Duration::minutes(14)).is_ok());
    }

    #[test]
    fn hmac_signatures() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let sig = hmac_sha256_signature(b"s3cret", body);
        assert_eq!(verify_hmac_sha256_signature(b"s3cret", body, Some(&sig)), Ok(()));
        assert_eq!(
            verify_hmac_sha256_signature(b"other", body, Some(&sig)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_hmac_sha256_signature(b"s3cret", b"{\"ref\":\"refs/heads/mair\"}", Some(&sig)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_hmac_sha256_signature(b"s3cret", body, None),
            Err(SignatureError::Missing)
        );
        for bad in ["sha1=abc", "sha256=zz", "sha256=abcd", ""] {
            assert_eq!(
                verify_hmac_sha256_signature(b"s3cret", body, Some(bad)),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        // Known answer (RFC 4231-style check against GitHub's documented example).
        assert_eq!(
            hmac_sha256_signature(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        assert_eq!(verify_token_header("tok", Some("tok")), Ok(()));
        assert_eq!(verify_token_header("tok", Some("tok2")), Err(SignatureError::Mismatch));
        assert_eq!(verify_token_header("tok", None), Err(SignatureError::Missing));
    }

    #[test]
    fn urls_on_a_web_host() {
        let u = |s: &str| crate::repo::RepoUrl::parse(s).expect("url");
        let cases = [
            ("https://GitLab.acme.com/a/b.git", "https://gitlab.acme.com", true),
            ("https://gitlab.acme.com:8443/a/b.git", "https://gitlab.acme.com", false),
            (
                "https://gitlab.acme.com:8443/a/b.git",
                "https://gitlab.acme.com:8443",
                true,
            ),
            ("http://127.0.0.1:8080/a/b.git", "http://127.0.0.1:8080", true),
            ("https://evil.example/a/b.git", "https://gitlab.acme.com", false),
            (
                "https://gitlab.acme.com.evil.example/a/b.git",
                "https://gitlab.acme.com",
                false,
            ),
        ];
        for (url, web, want) in cases {
            assert_eq!(url_on_web_host(&u(url), web), want, "{url} on {web}");
        }
        assert!(!url_on_web_host(&u("https://gitlab.acme.com/a"), "not a url"));
    }

    #[test]
    fn github_urls_table() {
        let cases = [
            ("github.com", "https://api.github.com", "https://github.com"),
            ("GitHub.com", "https://api.github.com", "https://github.com"),
            ("https://github.com/", "https://api.github.com", "https://github.com"),
            (
                "ghe.corp.example",
                "https://ghe.corp.example/api/v3",
                "https://ghe.corp.example",
            ),
            (
                "https://ghe.corp.example/",
                "https://ghe.corp.example/api/v3",
                "https://ghe.corp.example",
            ),
            (
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080/api/v3",
                "http://127.0.0.1:8080",
            ),
        ];
        for (host, api, web) in cases {
            let u = GitHubUrls::for_host(host);
            assert_eq!((u.api.as_str(), u.web.as_str()), (api, web), "{host}");
        }
        assert_eq!(
            GitHubUrls::for_host("ghe.corp.example").install_url("lettuce-app"),
            "https://ghe.corp.example/apps/lettuce-app/installations/new"
        );
    }

    #[test]
    fn gitlab_urls_table() {
        let cases = [
            ("gitlab.com", "https://gitlab.com/api/v4", "https://gitlab.com"),
            ("", "https://gitlab.com/api/v4", "https://gitlab.com"),
            (
                "GitLab.Acme.com",
                "https://gitlab.acme.com/api/v4",
                "https://gitlab.acme.com",
            ),
            (
                "https://gitlab.acme.com/",
                "https://gitlab.acme.com/api/v4",
                "https://gitlab.acme.com",
            ),
            (
                "gitlab.acme.com:8443",
                "https://gitlab.acme.com:8443/api/v4",
                "https://gitlab.acme.com:8443",
            ),
            (
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080/api/v4",
                "http://127.0.0.1:8080",
            ),
        ];
        for (host, api, web) in cases {
            let u = GitLabUrls::for_host(host);
            assert_eq!((u.api.as_str(), u.web.as_str()), (api, web), "{host}");
        }
        let u = GitLabUrls::for_host("gitlab.acme.com");
        assert_eq!(u.token_url(), "https://gitlab.acme.com/oauth/token");
        assert_eq!(
            u.authorize_url("app id", "https://l.example/v1/integrations/gitlab/callback", "a.b"),
            "https://gitlab.acme.com/oauth/authorize?client_id=app+id&redirect_uri=https%3A%2F%2Fl.example%2Fv1%2Fintegrations%2Fgitlab%2Fcallback&response_type=code&state=a.b&scope=api+read_repository+write_repository"
        );
        let base = [
            ("https://gitlab.acme.com", Some("https://gitlab.acme.com")),
            ("https://gitlab.acme.com/", Some("https://gitlab.acme.com")),
            ("https://GitLab.acme.com/api/v4", Some("https://gitlab.acme.com")),
            ("http://127.0.0.1:9000/x", Some("http://127.0.0.1:9000")),
            ("gitlab.acme.com", Some("gitlab.acme.com")),
            ("gitlab.acme.com/", Some("gitlab.acme.com")),
            ("ftp://gitlab.acme.com", None),
            ("https://", None),
            ("", None),
            ("a b", None),
        ];
        for (value, want) in base {
            assert_eq!(GitLabUrls::host_of_base_url(value).as_deref(), want, "{value}");
        }
    }

    #[test]
    fn picker_filter_and_pages() {
        let items: Vec<String> = ["acme/Api", "acme/web", "other/API-docs", "x/y"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (page, more) = filter_page(&items, |s| s.as_str(), Some("api"), 1, 1);
        assert_eq!((page, more), (vec!["acme/Api".to_string()], true));
        let (page, more) = filter_page(&items, |s| s.as_str(), Some(" API "), 2, 1);
        assert_eq!((page, more), (vec!["other/API-docs".to_string()], false));
        let (page, more) = filter_page(&items, |s| s.as_str(), None, 1, 10);
        assert_eq!((page.len(), more), (4, false));
        let (page, more) = filter_page(&items, |s| s.as_str(), Some("zzz"), 1, 10);
        assert!(page.is_empty() && !more);
    }

    #[test]
    fn bitbucket_urls_table() {
        use BitbucketFlavor::{Cloud, Dc};
        let cases = [
            (
                Cloud,
                "bitbucket.org",
                "https://api.bitbucket.org/2.0",
                "https://bitbucket.org",
                "https://bitbucket.org/site/oauth2/authorize",
                "https://bitbucket.org/site/oauth2/access_token",
            ),
            (
                Cloud,
                "https://Bitbucket.org/",
                "https://api.bitbucket.org/2.0",
                "https://bitbucket.org",
                "https://bitbucket.org/site/oauth2/authorize",
                "https://bitbucket.org/site/oauth2/access_token",
            ),
            (
                Cloud,
                "http://127.0.0.1:9000",
                "http://127.0.0.1:9000/2.0",
                "http://127.0.0.1:9000",
                "http://127.0.0.1:9000/site/oauth2/authorize",
                "http://127.0.0.1:9000/site/oauth2/access_token",
            ),
            (
                Dc,
                "bitbucket.acme.com",
                "https://bitbucket.acme.com/rest/api/1.0",
                "https://bitbucket.acme.com",
                "https://bitbucket.acme.com/rest/oauth2/latest/authorize",
                "https://bitbucket.acme.com/rest/oauth2/latest/token",
            ),
            (
                Dc,
                "https://git.acme.com/bitbucket/",
                "https://git.acme.com/bitbucket/rest/api/1.0",
                "https://git.acme.com/bitbucket",
                "https://git.acme.com/bitbucket/rest/oauth2/latest/authorize",
                "https://git.acme.com/bitbucket/rest/oauth2/latest/token",
            ),
            (
                Dc,
                "http://127.0.0.1:7990",
                "http://127.0.0.1:7990/rest/api/1.0",
                "http://127.0.0.1:7990",
                "http://127.0.0.1:7990/rest/oauth2/latest/authorize",
                "http://127.0.0.1:7990/rest/oauth2/latest/token",
            ),
        ];
        for (flavor, host, api, web, authorize, token) in cases {
            let u = BitbucketUrls::for_host(flavor, host);
            assert_eq!(
                (u.api.as_str(), u.web.as_str(), u.authorize.as_str(), u.token.as_str()),
                (api, web, authorize, token),
                "{flavor:?} {host}"
            );
        }
        assert_eq!(BitbucketFlavor::parse(" DC "), Some(Dc));
        assert_eq!(BitbucketFlavor::parse("cloud"), Some(Cloud));
        assert_eq!(BitbucketFlavor::parse("server"), None);
        assert_eq!(Dc.as_str(), "dc");
    }
}
