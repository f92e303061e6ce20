//! Wire types (JSON bodies), documented in the OpenAPI schema.

use chrono::{DateTime, Utc};
use lettuce_domain::account::{Account, User};
use lettuce_domain::api_key::ApiKey;
use lettuce_domain::invite::Invite;
use lettuce_domain::repo::Repo;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /api/admin/invites` body (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminInviteBody {
    /// Only this email may redeem the invite.
    pub email: Option<String>,
    /// Name of the account the first redemption creates.
    pub account_name: Option<String>,
}

/// `POST /v1/invites` body (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInviteBody {
    /// Only this email may redeem the invite.
    pub email: Option<String>,
}

/// A freshly minted invite (the code is shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteCreatedDto {
    /// Invite id.
    pub id: Uuid,
    /// The code to redeem at sign-up.
    pub code: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// An invite as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteDto {
    /// Invite id.
    pub id: Uuid,
    /// Restricted to this email.
    pub email: Option<String>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Users who joined through it.
    pub redemptions: u32,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<Invite> for InviteDto {
    fn from(i: Invite) -> Self {
        Self {
            id: i.id.0,
            email: i.email,
            expires_at: i.expires_at,
            redemptions: i.redemptions,
            created_at: i.created_at,
        }
    }
}

/// Invites of the account.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteList {
    /// Newest first.
    pub invites: Vec<InviteDto>,
}

/// `POST /v1/auth/signup` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    /// Invite code.
    pub invite_code: String,
    /// Email address.
    pub email: Option<String>,
    /// Password (at least 10 characters); omit when signing up with an IdP bearer token.
    pub password: Option<String>,
}

/// `POST /v1/auth/login` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Email address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A session token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenDto {
    /// Bearer token.
    pub token: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    /// Id.
    pub id: Uuid,
    /// Email.
    pub email: String,
    /// `owner` or `member`.
    pub role: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.0,
            email: u.email.clone(),
            role: u.role.as_str().into(),
            created_at: u.created_at,
        }
    }
}

/// An account, briefly.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountBrief {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
}

impl From<&Account> for AccountBrief {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id.0,
            name: a.name.clone(),
        }
    }
}

/// Result of a sign-up.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignupDto {
    /// Session token.
    pub token: String,
    /// Token expiry.
    pub expires_at: DateTime<Utc>,
    /// The new user.
    pub user: UserDto,
    /// Their account.
    pub account: AccountBrief,
}

/// Webhook URLs for the manual-webhook card.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookUrlsDto {
    /// GitHub.
    pub github: String,
    /// GitLab.
    pub gitlab: String,
    /// Bitbucket.
    pub bitbucket: String,
}

/// `GET /v1/account`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountDto {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// The caller's role.
    pub role: String,
    /// Users in the account.
    pub seats_used: u64,
    /// Repos in the account.
    pub repo_count: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Webhook signing secret (owners only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// Webhook URLs (owners only, when `LETTUCE_WEB_URL` is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_urls: Option<WebhookUrlsDto>,
}

/// `POST /v1/api-keys` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyBody {
    /// A name to recognise the key by.
    pub name: String,
}

/// An API key as listed (no secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyDto {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Start of the key, for recognition.
    pub prefix: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&ApiKey> for ApiKeyDto {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id.0,
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A new API key: `key` is shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreatedDto {
    /// Id.
    pub id: Uuid,
    /// The secret key (`lk_…`).
    pub key: String,
    /// Name.
    pub name: String,
    /// Start of the key.
    pub prefix: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// The user's API keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Newest first.
    pub api_keys: Vec<ApiKeyDto>,
}

/// `POST /v1/repos` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRepoBody {
    /// Clone URL (`https://…`, `http://…`, `git://…`); `https://<token>@host/…` for private repos.
    pub url: String,
    /// Branch to index; default: the remote's default branch.
    pub branch: Option<String>,
}

/// Indexing progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressDto {
    /// Files processed.
    pub files_done: u64,
    /// Files in this run.
    pub files_total: u64,
}

/// A repository.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepoDto {
    /// Id.
    pub id: Uuid,
    /// Clone URL (no credentials).
    pub url: String,
    /// `owner/name`.
    pub name: String,
    /// Branch, when not the default.
    pub branch: Option<String>,
    /// `pending`, `indexing`, `ready` or `failed`.
    pub status: String,
    /// Commit the index shows.
    pub indexed_commit: Option<String>,
    /// Why the last attempt failed and what to do.
    pub error: Option<String>,
    /// Progress of the running index.
    pub progress: ProgressDto,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last status change.
    pub updated_at: DateTime<Utc>,
    /// Last successful index.
    pub indexed_at: Option<DateTime<Utc>>,
    /// Webhook health, for repos added through a code host (`GET
    /// /v1/repos/{id}` and adding from the picker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<crate::routes::integrations::WebhookHealthDto>,
}

impl From<Repo> for RepoDto {
    fn from(r: Repo) -> Self {
        Self {
            id: r.id.0,
            url: r.url,
            name: r.name,
            branch: r.branch,
            status: r.status.as_str().into(),
            indexed_commit: r.indexed_commit,
            error: r.error,
            progress: ProgressDto {
                files_done: r.progress.files_done,
                files_total: r.progress.files_total,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
            indexed_at: r.indexed_at,
            webhook: None,
        }
    }
}

/// The account's repos.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepoList {
    /// Oldest first.
    pub repos: Vec<RepoDto>,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthDto {
    /// Always `ok`.
    pub status: &'static str,
    /// Server version.
    pub version: String,
}

/// One readiness check.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckDto {
    /// `ok` or `failed`.
    pub status: &'static str,
    /// What failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /readyz` when ready.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyDto {
    /// `ready`.
    pub status: &'static str,
    /// Checks by name.
    pub checks: std::collections::BTreeMap<String, CheckDto>,
}

/// `PUT /v1/admin/license` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenseKeyBody {
    /// The license key (a compact EdDSA JWT).
    pub key: String,
}

/// `GET /v1/license`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LicenseDto {
    /// Whether license gating is on.
    pub gated: bool,
    /// `valid`, `grace`, `read_only` or `locked`.
    pub state: String,
    /// Why the state is not `valid`.
    pub reason: Option<String>,
    /// The key's claims.
    #[schema(value_type = Option<Object>)]
    pub claims: Option<serde_json::Value>,
}
