//! The metadata store: accounts, users, invites, API keys, repos, usage
//! metering and instance settings. Implementations: SQLite and PostgreSQL
//! (sea-orm), in-memory.

use crate::BoxError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lettuce_domain::account::{Account, ExternalIdentity, User};
use lettuce_domain::api_key::ApiKey;
use lettuce_domain::codehost::{Installation, RepoLink, WebhookDelivery};
use lettuce_domain::eval::EvalRun;
use lettuce_domain::invite::Invite;
use lettuce_domain::repo::{IndexProgress, Repo, RepoStatus};
use lettuce_domain::{AccountId, ApiKeyId, InviteId, RepoId, UserId};

/// The account a first redemption creates.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Identifier to use.
    pub id: AccountId,
    /// Name.
    pub name: String,
    /// Webhook secret (hex).
    pub webhook_secret: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// The user a redemption creates. `account_id` and `role` are decided by the
/// store inside the redemption transaction.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Identifier to use.
    pub id: UserId,
    /// Normalised email.
    pub email: String,
    /// Argon2 PHC string (local accounts).
    pub password_hash: Option<String>,
    /// External identity (IdP users).
    pub identity: Option<ExternalIdentity>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A request to redeem an invite.
#[derive(Debug, Clone)]
pub struct Redemption {
    /// The invite being redeemed.
    pub invite_id: InviteId,
    /// The user to create.
    pub user: NewUser,
    /// The account to create if the invite is not yet bound to one.
    pub account_if_unbound: NewAccount,
}

/// Partial update of a repo; `None` fields are left unchanged.
#[derive(Debug, Clone, Default)]
pub struct RepoUpdate {
    /// New status.
    pub status: Option<RepoStatus>,
    /// New indexed commit (`Some(None)` clears it).
    pub indexed_commit: Option<Option<String>>,
    /// New error (`Some(None)` clears it).
    pub error: Option<Option<String>>,
    /// New progress.
    pub progress: Option<IndexProgress>,
    /// New last-indexed time.
    pub indexed_at: Option<DateTime<Utc>>,
    /// Time of this change (always set).
    pub updated_at: Option<DateTime<Utc>>,
}

/// Token usage counters (one hour of one account, or a sum).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageCounters {
    /// Queries answered.
    pub queries: u64,
    /// Tokens the answers contained.
    pub tokens_returned: u64,
    /// Tokens of the files the answers stand for.
    pub tokens_full: u64,
    /// `tokens_full - tokens_returned`, summed per answer.
    pub tokens_saved: u64,
}

impl UsageCounters {
    /// Field-wise sum, saturating at [`USAGE_COUNTER_MAX`].
    pub fn saturating_add(self, other: UsageCounters) -> UsageCounters {
        let add = |a: u64, b: u64| a.saturating_add(b).min(USAGE_COUNTER_MAX);
        UsageCounters {
            queries: add(self.queries, other.queries),
            tokens_returned: add(self.tokens_returned, other.tokens_returned),
            tokens_full: add(self.tokens_full, other.tokens_full),
            tokens_saved: add(self.tokens_saved, other.tokens_saved),
        }
    }

    /// Whether every counter is zero.
    pub fn is_zero(&self) -> bool {
        *self == UsageCounters::default()
    }
}

/// The largest value a usage counter holds (`i64::MAX`, the largest every
/// SQL backend stores in a `BIGINT`); additions saturate here instead of
/// failing.
pub const USAGE_COUNTER_MAX: u64 = i64::MAX as u64;

/// One tool's counters over a period (see [`MetadataStore::tool_usage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolUsage {
    /// The tool (`find_symbol`, `search_code`, …).
    pub tool: String,
    /// Its counters summed over the period.
    pub counters: UsageCounters,
}

/// Sums per-hour `(tool, counters)` rows per tool, most queries first (ties
/// by tool name): the shape [`MetadataStore::tool_usage`] answers with.
pub fn sum_tool_usage<'a>(rows: impl IntoIterator<Item = (&'a str, UsageCounters)>) -> Vec<ToolUsage> {
    let mut by_tool: std::collections::BTreeMap<&str, UsageCounters> = Default::default();
    for (tool, c) in rows {
        let slot = by_tool.entry(tool).or_default();
        *slot = slot.saturating_add(c);
    }
    let mut out: Vec<ToolUsage> = by_tool
        .into_iter()
        .map(|(tool, counters)| ToolUsage {
            tool: tool.to_owned(),
            counters,
        })
        .collect();
    // Stable sort: equal query counts keep the BTreeMap's name order.
    out.sort_by_key(|t| std::cmp::Reverse(t.counters.queries));
    out
}

/// The counters of one account for the hour starting at `hour`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageBucket {
    /// The account.
    pub account_id: AccountId,
    /// Start of the hour (UTC, minutes and seconds zero).
    pub hour: DateTime<Utc>,
    /// The counters of that hour.
    pub counters: UsageCounters,
}

/// The start of the UTC hour containing `at` (how [`MetadataStore::add_usage`]
/// buckets usage).
pub fn usage_hour(at: DateTime<Utc>) -> DateTime<Utc> {
    crate::queue::period_slot(at, std::time::Duration::from_secs(3600))
}

/// The metadata store. Every read that serves a user is scoped to an
/// account; the unscoped reads exist for workers.
#[async_trait]
pub trait MetadataStore: Send + Sync + std::fmt::Debug + 'static {
    /// Short backend name (`sqlite`, `postgres`, `memory`).
    fn backend(&self) -> &'static str;

    /// Answers when the store is reachable (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    // ── accounts and users ────────────────────────────────────────────────

    /// The account, or `NotFound`.
    async fn get_account(&self, id: AccountId) -> Result<Account, StoreError>;
    /// Number of accounts on the instance.
    async fn count_accounts(&self) -> Result<u64, StoreError>;
    /// The user, or `NotFound`.
    async fn get_user(&self, id: UserId) -> Result<User, StoreError>;
    /// The user with this normalised email, if any.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// The user linked to this IdP identity, if any.
    async fn find_user_by_identity(&self, identity: &ExternalIdentity) -> Result<Option<User>, StoreError>;
    /// Users of an account, oldest first.
    async fn list_users(&self, account: AccountId) -> Result<Vec<User>, StoreError>;
    /// Users on the whole instance (for seats and telemetry).
    async fn count_users(&self) -> Result<u64, StoreError>;

    // ── invites ───────────────────────────────────────────────────────────

    /// Stores a new invite. `Conflict` if the code hash exists.
    async fn create_invite(&self, invite: &Invite) -> Result<(), StoreError>;
    /// The invite with this code hash, if any.
    async fn find_invite(&self, code_hash: &str) -> Result<Option<Invite>, StoreError>;
    /// Invites bound to an account, newest first.
    async fn list_invites(&self, account: AccountId) -> Result<Vec<Invite>, StoreError>;
    /// Revokes an invite of `account` by moving its expiry to `at` (it can
    /// no longer be redeemed; an invite that already expired keeps its
    /// expiry). `NotFound` when the account has no such invite.
    async fn revoke_invite(&self, account: AccountId, id: InviteId, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Redeems an invite **atomically**: if the invite has no account yet,
    /// creates `account_if_unbound`, binds the invite to it and creates the
    /// user as `owner`; otherwise creates the user as `member` of the invite's
    /// account. Increments the invite's redemption count. Two concurrent first
    /// redemptions create exactly one account. `Conflict` when the email (or
    /// identity) is already registered; `NotFound` when the invite is gone.
    async fn redeem_invite(&self, redemption: Redemption) -> Result<(Account, User), StoreError>;

    // ── API keys ──────────────────────────────────────────────────────────

    /// Stores a new API key. `Conflict` if the hash exists.
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    /// A user's keys (revoked ones included), newest first.
    async fn list_api_keys(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError>;
    /// The key with this hash (revoked ones included), if any.
    async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError>;
    /// Marks a user's key revoked. `NotFound` if the key is not that user's.
    async fn revoke_api_key(&self, user: UserId, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Records a use of the key.
    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError>;

    // ── repos ─────────────────────────────────────────────────────────────

    /// Stores a new repo. `Conflict` if the account already has this URL on
    /// this branch.
    async fn create_repo(&self, repo: &Repo) -> Result<(), StoreError>;
    /// The account's repo, or `NotFound` (also when it belongs to another account).
    async fn get_repo(&self, account: AccountId, id: RepoId) -> Result<Repo, StoreError>;
    /// Any repo by id (workers only), or `NotFound`.
    async fn get_repo_unscoped(&self, id: RepoId) -> Result<Repo, StoreError>;
    /// The account's repos, oldest first.
    async fn list_repos(&self, account: AccountId) -> Result<Vec<Repo>, StoreError>;
    /// Number of repos: of one account, or of the instance when `None`.
    async fn count_repos(&self, account: Option<AccountId>) -> Result<u64, StoreError>;
    /// Deletes the account's repo. `NotFound` if it is not the account's.
    async fn delete_repo(&self, account: AccountId, id: RepoId) -> Result<(), StoreError>;
    /// Applies `update` and returns the repo after it. `NotFound` if gone.
    async fn update_repo(&self, id: RepoId, update: RepoUpdate) -> Result<Repo, StoreError>;

    // ── usage metering ────────────────────────────────────────────────────

    /// Adds `delta` to the account's counters of the hour containing `at`
    /// (the store truncates `at` to the hour, UTC, see [`usage_hour`]).
    /// Atomic across processes (an upsert that increments), so concurrent
    /// writers never lose counts. Counters saturate at
    /// [`USAGE_COUNTER_MAX`] instead of failing. `NotFound { entity:
    /// "account" }` when the account does not exist.
    async fn add_usage(&self, account: AccountId, at: DateTime<Utc>, delta: UsageCounters) -> Result<(), StoreError>;

    /// Hourly buckets with `from <= hour < to`, oldest first: of one
    /// account, or of every account when `None` (then one bucket per
    /// (account, hour), ordered by hour, then account id). Hours without
    /// usage have no bucket.
    async fn usage_buckets(
        &self,
        account: Option<AccountId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageBucket>, StoreError>;

    /// The per-tool breakdown of [`MetadataStore::add_usage`]: adds `delta`
    /// to the account's counters for `tool` in the hour containing `at`.
    /// Same atomicity, saturation and `NotFound` rules as `add_usage`.
    async fn add_tool_usage(
        &self,
        account: AccountId,
        at: DateTime<Utc>,
        tool: &str,
        delta: UsageCounters,
    ) -> Result<(), StoreError>;

    /// The account's counters per tool, summed over the hours with
    /// `from <= hour < to`; most queries first, ties by tool name. Tools
    /// without usage in the period are absent.
    async fn tool_usage(
        &self,
        account: AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ToolUsage>, StoreError>;

    // ── instance settings ─────────────────────────────────────────────────

    /// The instance-wide setting `key` (shared by every process of the
    /// install: instance id, telemetry state, …), if set.
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Sets `key` to `value`, replacing any previous value.
    async fn put_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;

    /// Sets `key` to `value` only if it has no value yet, and returns the
    /// value stored afterwards: the existing one, or `value`. Atomic across
    /// processes — concurrent callers all get the same value — which is how
    /// a value is generated once per install (the instance id).
    async fn init_setting(&self, key: &str, value: &str) -> Result<String, StoreError>;

    // ── code hosts ────────────────────────────────────────────────────────

    /// Stores the account's installation of `installation.provider`,
    /// replacing the previous one (a reconnect). `NotFound { entity:
    /// "account" }` when the account does not exist.
    async fn put_installation(&self, installation: &Installation) -> Result<(), StoreError>;
    /// The account's installation of `provider`, if any.
    async fn get_installation(&self, account: AccountId, provider: &str) -> Result<Option<Installation>, StoreError>;
    /// The account's installations, ordered by provider name.
    async fn list_installations(&self, account: AccountId) -> Result<Vec<Installation>, StoreError>;
    /// Deletes the account's installation of `provider` (and with it any
    /// credentials); `Ok(false)` when there was none. Repos and their links
    /// stay.
    async fn delete_installation(&self, account: AccountId, provider: &str) -> Result<bool, StoreError>;

    /// Records the single use of `key` under `scope` (an install-state
    /// nonce, a webhook delivery id): `Ok(true)` the first time, `Ok(false)`
    /// on every later call. Atomic across processes (two concurrent calls:
    /// exactly one `true`). Entries whose `expires_at` is before `now` may be
    /// forgotten (pruned) by any call.
    async fn use_once(
        &self,
        scope: &str,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Stores or replaces the code-host link of `link.repo_id`. `NotFound {
    /// entity: "repo" }` when the repo does not exist. Deleting the repo
    /// deletes its link and deliveries.
    async fn put_repo_link(&self, link: &RepoLink) -> Result<(), StoreError>;
    /// The repo's code-host link, if it was added through a code host.
    async fn get_repo_link(&self, repo: RepoId) -> Result<Option<RepoLink>, StoreError>;
    /// The account's links to repos of `provider`, ordered by repo id.
    async fn list_repo_links(&self, account: AccountId, provider: &str) -> Result<Vec<RepoLink>, StoreError>;
    /// Every account's links, ordered by repo id, the first `limit` after
    /// `after`: what the periodic webhook check walks through.
    async fn list_all_repo_links(&self, after: Option<RepoId>, limit: usize) -> Result<Vec<RepoLink>, StoreError>;

    /// Records an accepted webhook delivery for its repo. `NotFound {
    /// entity: "repo" }` when the repo does not exist.
    async fn record_webhook_delivery(&self, delivery: &WebhookDelivery) -> Result<(), StoreError>;
    /// The repo's latest deliveries, newest first, at most `limit`.
    async fn list_webhook_deliveries(&self, repo: RepoId, limit: usize) -> Result<Vec<WebhookDelivery>, StoreError>;

    // ── eval runs (`lettuce eval` over the API) ───────────────────────────

    /// Records a new eval run of `run.repo_id`, replacing the repo's
    /// previous run, unless that one is still queued or running (checked
    /// and written atomically): `Conflict { entity: "eval_run" }` then.
    /// `NotFound { entity: "repo" }` when the repo does not exist.
    async fn start_eval_run(&self, run: &EvalRun) -> Result<(), StoreError>;
    /// Overwrites the repo's run (progress, outcome). `NotFound { entity:
    /// "repo" }` when the repo does not exist. Deleting the repo deletes
    /// its run.
    async fn put_eval_run(&self, run: &EvalRun) -> Result<(), StoreError>;
    /// The repo's latest eval run, if one was ever started.
    async fn get_eval_run(&self, repo: RepoId) -> Result<Option<EvalRun>, StoreError>;

    // ── sealed values (data-key rotation) ─────────────────────────────────

    /// How many sealed values the store holds, over every table with sealed
    /// data (for a progress bar; may be stale by the time it is used).
    async fn count_sealed(&self) -> Result<u64, StoreError>;

    /// Sealed values (credentials encrypted with the data key) across
    /// **every** table that holds any, ordered by [`SealedRef`] (column, then
    /// row), starting strictly after `after`, at most `limit`. Rows without a
    /// sealed value are skipped. A store that adds a sealed column must list
    /// it here (the store adapter keeps one registry of sealed columns), or
    /// data-key rotation would miss it.
    async fn list_sealed(&self, after: Option<&SealedRef>, limit: usize) -> Result<Vec<SealedValue>, StoreError>;

    /// Replaces the sealed value at `at` with `new` **only if** it is still
    /// `old` (compare-and-swap). `Ok(false)` when it changed meanwhile or is
    /// gone (the caller re-reads it later); nothing else is modified.
    async fn reseal(&self, at: &SealedRef, old: &str, new: &str) -> Result<bool, StoreError>;
}

/// Where a sealed value is stored: a registered sealed column
/// (`repos.sealed_credentials`, `instance_settings[license.uploaded].sealed_key`, …)
/// and the key of its row in that table. Orders by column, then row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SealedRef {
    /// The registered sealed column.
    pub column: String,
    /// The row's key, as text (an id, a settings key).
    pub row: String,
}

impl std::fmt::Display for SealedRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {}", self.column, self.row)
    }
}

/// A sealed value (ciphertext: safe to log) and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    /// Where.
    pub at: SealedRef,
    /// The sealed text (`v2.<key id>.<…>`, or legacy `v1.<…>`).
    pub sealed: String,
}

/// Sealed columns known to every store: the registry both the in-memory store
/// and the SQL store implement. Append a new sealed column here **and** in
/// the store adapters.
pub mod sealed_columns {
    /// `repos.sealed_credentials`: clone credentials pasted in a repo URL
    /// (row: the repo id).
    pub const REPO_CREDENTIALS: &str = "repos.sealed_credentials";
    /// `provider_installations.sealed_credentials`: a code-host connection's
    /// OAuth or access tokens (row: `<account id>/<provider>`).
    pub const INSTALLATION_CREDENTIALS: &str = "provider_installations.sealed_credentials";

    /// The row key of an installation's sealed credentials.
    pub fn installation_row(account: lettuce_domain::AccountId, provider: &str) -> String {
        format!("{account}/{provider}")
    }
    /// The `sealed_key` field of the JSON instance setting `license.uploaded`
    /// (row: the settings key): a license key uploaded through the admin API.
    pub const LICENSE_UPLOAD: &str = "instance_settings.sealed_key";
    /// Instance settings whose JSON value carries a sealed `sealed_key` field.
    pub const SEALED_SETTING_KEYS: &[&str] = &["license.uploaded"];

    /// The sealed `sealed_key` field of a JSON setting value, if any.
    pub fn setting_field(json: &str) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(json).ok()?;
        v.get("sealed_key")?.as_str().map(str::to_owned)
    }

    /// `json` with its `sealed_key` field set to `new`, if the field is
    /// currently `old` (the compare half of a compare-and-swap).
    pub fn replace_setting_field(json: &str, old: &str, new: &str) -> Option<String> {
        let mut v: serde_json::Value = serde_json::from_str(json).ok()?;
        let field = v.get_mut("sealed_key")?;
        if field.as_str() != Some(old) {
            return None;
        }
        *field = serde_json::Value::String(new.to_owned());
        serde_json::to_string(&v).ok()
    }
}

/// Failures of a [`MetadataStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The entity does not exist (or is not visible to the caller's account).
    #[error("{entity} not found")]
    NotFound {
        /// What was looked up (`repo`, `user`, …).
        entity: &'static str,
    },
    /// A uniqueness rule was violated.
    #[error("{entity} already exists: {detail}")]
    Conflict {
        /// What kind of entity.
        entity: &'static str,
        /// Which rule (`email`, `url`, …).
        detail: String,
    },
    /// Anything else (connection, SQL, migration).
    #[error("{backend} metadata store failed: {source}")]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// Cause.
        #[source]
        source: BoxError,
        /// Whether retrying may help.
        retryable: bool,
    },
}

impl StoreError {
    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Backend { retryable: true, .. })
    }
}
