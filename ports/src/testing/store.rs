//! In-memory [`MetadataStore`] and its contract suite.

use crate::store::{
    MetadataStore, NewAccount, NewUser, Redemption, RepoUpdate, SealedRef, SealedValue, StoreError, ToolUsage,
    USAGE_COUNTER_MAX, UsageBucket, UsageCounters, sealed_columns, sum_tool_usage, usage_hour,
};
use crate::testing::{lock, now_secs};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use lettuce_domain::account::{Account, ExternalIdentity, Role, User};
use lettuce_domain::api_key::ApiKey;
use lettuce_domain::codehost::{DeliveryOutcome, Installation, RepoLink, WebhookDelivery};
use lettuce_domain::eval::{EvalReport, EvalRun, EvalStatus, MethodScore};
use lettuce_domain::invite::Invite;
use lettuce_domain::repo::{IndexProgress, Repo, RepoStatus};
use lettuce_domain::token::hash_token;
use lettuce_domain::{AccountId, ApiKeyId, InviteId, RepoId, UserId};
use std::collections::BTreeMap;
use std::sync::Mutex;
use uuid::Uuid;

/// A complete [`MetadataStore`] in memory, behind one `std` mutex: every
/// method is one critical section, so redemptions are atomic like a database
/// transaction.
///
/// Records are kept in insertion order; "oldest first" / "newest first"
/// lists sort by `created_at` (ties keep insertion order, newest-first lists
/// reverse it).
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    accounts: Vec<Account>,
    users: Vec<User>,
    invites: Vec<Invite>,
    api_keys: Vec<ApiKey>,
    repos: Vec<Repo>,
    /// Usage by (hour, account): iteration order is the port's order.
    usage: BTreeMap<(DateTime<Utc>, AccountId), UsageCounters>,
    tool_usage: BTreeMap<(DateTime<Utc>, AccountId, String), UsageCounters>,
    settings: BTreeMap<String, String>,
    /// Installations by (account, provider).
    installations: BTreeMap<(AccountId, String), Installation>,
    /// Single-use keys by (scope, key) → expiry.
    used_once: BTreeMap<(String, String), DateTime<Utc>>,
    repo_links: BTreeMap<RepoId, RepoLink>,
    /// Deliveries in arrival order.
    deliveries: Vec<WebhookDelivery>,
    eval_runs: BTreeMap<RepoId, EvalRun>,
}

const fn not_found(entity: &'static str) -> StoreError {
    StoreError::NotFound { entity }
}

fn conflict(entity: &'static str, detail: &str) -> StoreError {
    StoreError::Conflict {
        entity,
        detail: detail.to_owned(),
    }
}

/// Oldest first by `created_at`, ties in insertion order.
fn oldest_first<T: Clone>(items: impl Iterator<Item = T>, at: impl Fn(&T) -> DateTime<Utc>) -> Vec<T> {
    let mut v: Vec<T> = items.collect();
    v.sort_by_key(|x| at(x));
    v
}

/// Newest first by `created_at`, ties in reverse insertion order.
fn newest_first<T: Clone>(items: impl Iterator<Item = T>, at: impl Fn(&T) -> DateTime<Utc>) -> Vec<T> {
    let mut v = oldest_first(items, at);
    v.reverse();
    v
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores an account directly (test setup; bypasses invites).
    /// `Conflict` if the id exists.
    pub fn insert_account(&self, account: Account) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        if inner.accounts.iter().any(|a| a.id == account.id) {
            return Err(conflict("account", "id"));
        }
        inner.accounts.push(account);
        Ok(())
    }

    /// Stores a user directly (test setup; bypasses invites). `Conflict` on a
    /// taken id, email or identity; `NotFound` if the account is missing.
    pub fn insert_user(&self, user: User) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        if !inner.accounts.iter().any(|a| a.id == user.account_id) {
            return Err(not_found("account"));
        }
        inner.check_new_user(user.id, &user.email, user.identity.as_ref())?;
        inner.users.push(user);
        Ok(())
    }
}

impl Inner {
    fn check_new_user(&self, id: UserId, email: &str, identity: Option<&ExternalIdentity>) -> Result<(), StoreError> {
        if self.users.iter().any(|u| u.email == email) {
            return Err(conflict("user", "email"));
        }
        if let Some(identity) = identity
            && self.users.iter().any(|u| u.identity.as_ref() == Some(identity))
        {
            return Err(conflict("user", "identity"));
        }
        if self.users.iter().any(|u| u.id == id) {
            return Err(conflict("user", "id"));
        }
        Ok(())
    }

    fn repo_mut(&mut self, id: RepoId) -> Result<&mut Repo, StoreError> {
        self.repos.iter_mut().find(|r| r.id == id).ok_or(not_found("repo"))
    }
}

#[async_trait]
impl MetadataStore for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn get_account(&self, id: AccountId) -> Result<Account, StoreError> {
        lock(&self.inner)
            .accounts
            .iter()
            .find(|a| a.id == id)
            .cloned()
            .ok_or(not_found("account"))
    }

    async fn count_accounts(&self) -> Result<u64, StoreError> {
        Ok(lock(&self.inner).accounts.len() as u64)
    }

    async fn get_user(&self, id: UserId) -> Result<User, StoreError> {
        lock(&self.inner)
            .users
            .iter()
            .find(|u| u.id == id)
            .cloned()
            .ok_or(not_found("user"))
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.inner).users.iter().find(|u| u.email == email).cloned())
    }

    async fn find_user_by_identity(&self, identity: &ExternalIdentity) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.inner)
            .users
            .iter()
            .find(|u| u.identity.as_ref() == Some(identity))
            .cloned())
    }

    async fn list_users(&self, account: AccountId) -> Result<Vec<User>, StoreError> {
        let inner = lock(&self.inner);
        Ok(oldest_first(
            inner.users.iter().filter(|u| u.account_id == account).cloned(),
            |u| u.created_at,
        ))
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        Ok(lock(&self.inner).users.len() as u64)
    }

    async fn create_invite(&self, invite: &Invite) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        if inner.invites.iter().any(|i| i.code_hash == invite.code_hash) {
            return Err(conflict("invite", "code_hash"));
        }
        if inner.invites.iter().any(|i| i.id == invite.id) {
            return Err(conflict("invite", "id"));
        }
        inner.invites.push(invite.clone());
        Ok(())
    }

    async fn find_invite(&self, code_hash: &str) -> Result<Option<Invite>, StoreError> {
        Ok(lock(&self.inner)
            .invites
            .iter()
            .find(|i| i.code_hash == code_hash)
            .cloned())
    }

    async fn revoke_invite(&self, account: AccountId, id: InviteId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        let invite = inner
            .invites
            .iter_mut()
            .find(|i| i.id == id && i.account_id == Some(account))
            .ok_or(StoreError::NotFound { entity: "invite" })?;
        if invite.expires_at > at {
            invite.expires_at = at;
        }
        Ok(())
    }

    async fn list_invites(&self, account: AccountId) -> Result<Vec<Invite>, StoreError> {
        let inner = lock(&self.inner);
        Ok(newest_first(
            inner.invites.iter().filter(|i| i.account_id == Some(account)).cloned(),
            |i| i.created_at,
        ))
    }

    async fn redeem_invite(&self, redemption: Redemption) -> Result<(Account, User), StoreError> {
        let Redemption {
            invite_id,
            user,
            account_if_unbound,
        } = redemption;
        let mut inner = lock(&self.inner);
        let idx = inner
            .invites
            .iter()
            .position(|i| i.id == invite_id)
            .ok_or(not_found("invite"))?;
        inner.check_new_user(user.id, &user.email, user.identity.as_ref())?;
        let (account, role) = match inner.invites[idx].account_id {
            Some(account_id) => {
                let account = inner
                    .accounts
                    .iter()
                    .find(|a| a.id == account_id)
                    .cloned()
                    .ok_or(not_found("account"))?;
                (account, Role::Member)
            }
            None => {
                if inner.accounts.iter().any(|a| a.id == account_if_unbound.id) {
                    return Err(conflict("account", "id"));
                }
                let NewAccount {
                    id,
                    name,
                    webhook_secret,
                    created_at,
                } = account_if_unbound;
                let account = Account {
                    id,
                    name,
                    webhook_secret,
                    created_at,
                };
                inner.accounts.push(account.clone());
                inner.invites[idx].account_id = Some(id);
                (account, Role::Owner)
            }
        };
        let NewUser {
            id,
            email,
            password_hash,
            identity,
            created_at,
        } = user;
        let user = User {
            id,
            account_id: account.id,
            email,
            password_hash,
            identity,
            role,
            created_at,
        };
        inner.users.push(user.clone());
        inner.invites[idx].redemptions += 1;
        Ok((account, user))
    }

    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        if inner.api_keys.iter().any(|k| k.key_hash == key.key_hash) {
            return Err(conflict("api_key", "key_hash"));
        }
        if inner.api_keys.iter().any(|k| k.id == key.id) {
            return Err(conflict("api_key", "id"));
        }
        inner.api_keys.push(key.clone());
        Ok(())
    }

    async fn list_api_keys(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError> {
        let inner = lock(&self.inner);
        Ok(newest_first(
            inner.api_keys.iter().filter(|k| k.user_id == user).cloned(),
            |k| k.created_at,
        ))
    }

    async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        Ok(lock(&self.inner)
            .api_keys
            .iter()
            .find(|k| k.key_hash == key_hash)
            .cloned())
    }

    async fn revoke_api_key(&self, user: UserId, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        let key = inner
            .api_keys
            .iter_mut()
            .find(|k| k.id == id && k.user_id == user)
            .ok_or(not_found("api_key"))?;
        key.revoked_at.get_or_insert(at);
        Ok(())
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        let key = inner
            .api_keys
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or(not_found("api_key"))?;
        key.last_used_at = Some(at);
        Ok(())
    }

    async fn create_repo(&self, repo: &Repo) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        if inner
            .repos
            .iter()
            .any(|r| r.account_id == repo.account_id && r.url == repo.url && r.branch == repo.branch)
        {
            return Err(conflict("repo", "url"));
        }
        if inner.repos.iter().any(|r| r.id == repo.id) {
            return Err(conflict("repo", "id"));
        }
        inner.repos.push(repo.clone());
        Ok(())
    }

    async fn get_repo(&self, account: AccountId, id: RepoId) -> Result<Repo, StoreError> {
        lock(&self.inner)
            .repos
            .iter()
            .find(|r| r.id == id && r.account_id == account)
            .cloned()
            .ok_or(not_found("repo"))
    }

    async fn get_repo_unscoped(&self, id: RepoId) -> Result<Repo, StoreError> {
        lock(&self.inner)
            .repos
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or(not_found("repo"))
    }

    async fn list_repos(&self, account: AccountId) -> Result<Vec<Repo>, StoreError> {
        let inner = lock(&self.inner);
        Ok(oldest_first(
            inner.repos.iter().filter(|r| r.account_id == account).cloned(),
            |r| r.created_at,
        ))
    }

    async fn count_repos(&self, account: Option<AccountId>) -> Result<u64, StoreError> {
        let inner = lock(&self.inner);
        Ok(inner
            .repos
            .iter()
            .filter(|r| account.is_none_or(|a| r.account_id == a))
            .count() as u64)
    }

    async fn delete_repo(&self, account: AccountId, id: RepoId) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        let idx = inner
            .repos
            .iter()
            .position(|r| r.id == id && r.account_id == account)
            .ok_or(not_found("repo"))?;
        inner.repos.remove(idx);
        inner.repo_links.remove(&id);
        inner.deliveries.retain(|d| d.repo_id != id);
        inner.eval_runs.remove(&id);
        Ok(())
    }

    async fn update_repo(&self, id: RepoId, update: RepoUpdate) -> Result<Repo, StoreError> {
        let mut inner = lock(&self.inner);
        let repo = inner.repo_mut(id)?;
        let RepoUpdate {
            status,
            indexed_commit,
            error,
            progress,
            indexed_at,
            updated_at,
        } = update;
        if let Some(s) = status {
            repo.status = s;
        }
        if let Some(c) = indexed_commit {
            repo.indexed_commit = c;
        }
        if let Some(e) = error {
            repo.error = e;
        }
        if let Some(p) = progress {
            repo.progress = p;
        }
        if let Some(t) = indexed_at {
            repo.indexed_at = Some(t);
        }
        if let Some(t) = updated_at {
            repo.updated_at = t;
        }
        Ok(repo.clone())
    }

    async fn add_usage(&self, account: AccountId, at: DateTime<Utc>, delta: UsageCounters) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        if !inner.accounts.iter().any(|a| a.id == account) {
            return Err(not_found("account"));
        }
        let bucket = inner.usage.entry((usage_hour(at), account)).or_default();
        *bucket = bucket.saturating_add(delta);
        Ok(())
    }

    async fn usage_buckets(
        &self,
        account: Option<AccountId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageBucket>, StoreError> {
        let inner = lock(&self.inner);
        Ok(inner
            .usage
            .iter()
            .filter(|((hour, a), _)| *hour >= from && *hour < to && account.is_none_or(|want| *a == want))
            .map(|(&(hour, account_id), &counters)| UsageBucket {
                account_id,
                hour,
                counters,
            })
            .collect())
    }

    async fn add_tool_usage(
        &self,
        account: AccountId,
        at: DateTime<Utc>,
        tool: &str,
        delta: UsageCounters,
    ) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        if !inner.accounts.iter().any(|a| a.id == account) {
            return Err(not_found("account"));
        }
        let bucket = inner
            .tool_usage
            .entry((usage_hour(at), account, tool.to_owned()))
            .or_default();
        *bucket = bucket.saturating_add(delta);
        Ok(())
    }

    async fn tool_usage(
        &self,
        account: AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ToolUsage>, StoreError> {
        let inner = lock(&self.inner);
        let rows = inner
            .tool_usage
            .iter()
            .filter(|((hour, a, _), _)| *hour >= from && *hour < to && *a == account)
            .map(|((_, _, tool), c)| (tool.as_str(), *c));
        Ok(sum_tool_usage(rows))
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(lock(&self.inner).settings.get(key).cloned())
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        lock(&self.inner).settings.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    async fn init_setting(&self, key: &str, value: &str) -> Result<String, StoreError> {
        Ok(lock(&self.inner)
            .settings
            .entry(key.to_owned())
            .or_insert_with(|| value.to_owned())
            .clone())
    }

    async fn put_installation(&self, installation: &Installation) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        if !inner.accounts.iter().any(|a| a.id == installation.account_id) {
            return Err(not_found("account"));
        }
        let mut stored = installation.clone();
        stored.credentials = None;
        inner
            .installations
            .insert((installation.account_id, installation.provider.clone()), stored);
        Ok(())
    }

    async fn get_installation(&self, account: AccountId, provider: &str) -> Result<Option<Installation>, StoreError> {
        Ok(lock(&self.inner)
            .installations
            .get(&(account, provider.to_owned()))
            .cloned())
    }

    async fn list_installations(&self, account: AccountId) -> Result<Vec<Installation>, StoreError> {
        Ok(lock(&self.inner)
            .installations
            .values()
            .filter(|i| i.account_id == account)
            .cloned()
            .collect())
    }

    async fn delete_installation(&self, account: AccountId, provider: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.inner)
            .installations
            .remove(&(account, provider.to_owned()))
            .is_some())
    }

    async fn use_once(
        &self,
        scope: &str,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut inner = lock(&self.inner);
        inner.used_once.retain(|_, exp| *exp >= now);
        Ok(inner
            .used_once
            .insert((scope.to_owned(), key.to_owned()), expires_at)
            .is_none())
    }

    async fn put_repo_link(&self, link: &RepoLink) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        inner.repo_mut(link.repo_id)?;
        inner.repo_links.insert(link.repo_id, link.clone());
        Ok(())
    }

    async fn start_eval_run(&self, run: &EvalRun) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        inner.repo_mut(run.repo_id)?;
        if inner.eval_runs.get(&run.repo_id).is_some_and(|r| r.status.is_active()) {
            return Err(conflict("eval_run", "an eval of this repo is queued or running"));
        }
        inner.eval_runs.insert(run.repo_id, run.clone());
        Ok(())
    }

    async fn put_eval_run(&self, run: &EvalRun) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        inner.repo_mut(run.repo_id)?;
        inner.eval_runs.insert(run.repo_id, run.clone());
        Ok(())
    }

    async fn get_eval_run(&self, repo: RepoId) -> Result<Option<EvalRun>, StoreError> {
        Ok(lock(&self.inner).eval_runs.get(&repo).cloned())
    }

    async fn get_repo_link(&self, repo: RepoId) -> Result<Option<RepoLink>, StoreError> {
        Ok(lock(&self.inner).repo_links.get(&repo).cloned())
    }

    async fn list_repo_links(&self, account: AccountId, provider: &str) -> Result<Vec<RepoLink>, StoreError> {
        Ok(lock(&self.inner)
            .repo_links
            .values()
            .filter(|l| l.account_id == account && l.provider == provider)
            .cloned()
            .collect())
    }

    async fn list_all_repo_links(&self, after: Option<RepoId>, limit: usize) -> Result<Vec<RepoLink>, StoreError> {
        Ok(lock(&self.inner)
            .repo_links
            .values()
            .filter(|l| after.is_none_or(|a| l.repo_id > a))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn record_webhook_delivery(&self, delivery: &WebhookDelivery) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        inner.repo_mut(delivery.repo_id)?;
        inner.deliveries.push(delivery.clone());
        Ok(())
    }

    async fn list_webhook_deliveries(&self, repo: RepoId, limit: usize) -> Result<Vec<WebhookDelivery>, StoreError> {
        let inner = lock(&self.inner);
        Ok(
            newest_first(inner.deliveries.iter().filter(|d| d.repo_id == repo).cloned(), |d| d.at)
                .into_iter()
                .take(limit)
                .collect(),
        )
    }

    async fn count_sealed(&self) -> Result<u64, StoreError> {
        Ok(lock(&self.inner).sealed().len() as u64)
    }

    async fn list_sealed(&self, after: Option<&SealedRef>, limit: usize) -> Result<Vec<SealedValue>, StoreError> {
        let mut all = lock(&self.inner).sealed();
        all.sort_by(|a, b| a.at.cmp(&b.at));
        Ok(all
            .into_iter()
            .filter(|v| after.is_none_or(|a| &v.at > a))
            .take(limit)
            .collect())
    }

    async fn reseal(&self, at: &SealedRef, old: &str, new: &str) -> Result<bool, StoreError> {
        let mut inner = lock(&self.inner);
        match at.column.as_str() {
            sealed_columns::INSTALLATION_CREDENTIALS => {
                let Some(inst) = inner
                    .installations
                    .values_mut()
                    .find(|i| sealed_columns::installation_row(i.account_id, &i.provider) == at.row)
                else {
                    return Ok(false);
                };
                if inst.sealed_credentials.as_deref() != Some(old) {
                    return Ok(false);
                }
                inst.sealed_credentials = Some(new.to_owned());
                Ok(true)
            }
            sealed_columns::REPO_CREDENTIALS => {
                let Some(repo) = inner.repos.iter_mut().find(|r| r.id.to_string() == at.row) else {
                    return Ok(false);
                };
                if repo.sealed_credentials.as_deref() != Some(old) {
                    return Ok(false);
                }
                repo.sealed_credentials = Some(new.to_owned());
                Ok(true)
            }
            sealed_columns::LICENSE_UPLOAD if sealed_columns::SEALED_SETTING_KEYS.contains(&at.row.as_str()) => {
                let Some(json) = inner.settings.get_mut(&at.row) else {
                    return Ok(false);
                };
                match sealed_columns::replace_setting_field(json, old, new) {
                    Some(updated) => {
                        *json = updated;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            }
            _ => Ok(false),
        }
    }
}

impl Inner {
    /// Every sealed value, in registry order (unsorted within).
    fn sealed(&self) -> Vec<SealedValue> {
        let mut out: Vec<SealedValue> = self
            .repos
            .iter()
            .filter_map(|r| {
                r.sealed_credentials.as_ref().map(|s| SealedValue {
                    at: SealedRef {
                        column: sealed_columns::REPO_CREDENTIALS.to_owned(),
                        row: r.id.to_string(),
                    },
                    sealed: s.clone(),
                })
            })
            .collect();
        out.extend(self.installations.values().filter_map(|i| {
            i.sealed_credentials.as_ref().map(|s| SealedValue {
                at: SealedRef {
                    column: sealed_columns::INSTALLATION_CREDENTIALS.to_owned(),
                    row: sealed_columns::installation_row(i.account_id, &i.provider),
                },
                sealed: s.clone(),
            })
        }));
        for key in sealed_columns::SEALED_SETTING_KEYS {
            if let Some(sealed) = self.settings.get(*key).and_then(|j| sealed_columns::setting_field(j)) {
                out.push(SealedValue {
                    at: SealedRef {
                        column: sealed_columns::LICENSE_UPLOAD.to_owned(),
                        row: (*key).to_owned(),
                    },
                    sealed,
                });
            }
        }
        out
    }
}

// ── contract ──────────────────────────────────────────────────────────────

fn expect_not_found<T: std::fmt::Debug>(b: &str, res: Result<T, StoreError>, rule: &str) {
    match res {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("[{b}] {rule}: expected StoreError::NotFound, got {other:?}"),
    }
}

fn expect_conflict<T: std::fmt::Debug>(b: &str, res: Result<T, StoreError>, rule: &str) {
    match res {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("[{b}] {rule}: expected StoreError::Conflict, got {other:?}"),
    }
}

fn ok<T>(b: &str, res: Result<T, StoreError>, what: &str) -> T {
    res.unwrap_or_else(|e| panic!("[{b}] {what} must succeed, got error: {e:?}"))
}

struct Names {
    tag: String,
}

impl Names {
    fn email(&self, who: &str) -> String {
        format!("{who}-{}@contract.example.com", self.tag)
    }
    fn invite(&self, t: DateTime<Utc>, account_id: Option<AccountId>, created_by: Option<UserId>) -> Invite {
        Invite {
            id: InviteId(Uuid::new_v4()),
            code_hash: hash_token(&format!("inv_{}", Uuid::new_v4())),
            account_id,
            account_name: Some(format!("Contract {}", self.tag)),
            email: None,
            created_by,
            expires_at: t + Duration::days(7),
            redemptions: 0,
            created_at: t,
        }
    }
    fn new_user(&self, who: &str, t: DateTime<Utc>) -> NewUser {
        NewUser {
            id: UserId(Uuid::new_v4()),
            email: self.email(who),
            password_hash: Some(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${who}")),
            identity: None,
            created_at: t,
        }
    }
    fn new_account(&self, t: DateTime<Utc>) -> NewAccount {
        NewAccount {
            id: AccountId(Uuid::new_v4()),
            name: format!("Contract account {}", self.tag),
            webhook_secret: hash_token(&Uuid::new_v4().to_string()),
            created_at: t,
        }
    }
    fn repo(&self, account_id: AccountId, branch: Option<&str>, t: DateTime<Utc>) -> Repo {
        Repo {
            id: RepoId(Uuid::new_v4()),
            account_id,
            url: format!("https://git.example.com/contract/{}.git", self.tag),
            name: format!("contract/{}", self.tag),
            branch: branch.map(str::to_owned),
            status: RepoStatus::Pending,
            indexed_commit: None,
            error: None,
            progress: IndexProgress::default(),
            sealed_credentials: None,
            created_at: t,
            updated_at: t,
            indexed_at: None,
        }
    }
}

fn redemption(invite_id: InviteId, user: NewUser, account: NewAccount) -> Redemption {
    Redemption {
        invite_id,
        user,
        account_if_unbound: account,
    }
}

fn expected_user(u: &NewUser, account_id: AccountId, role: Role) -> User {
    User {
        id: u.id,
        account_id,
        email: u.email.clone(),
        password_hash: u.password_hash.clone(),
        identity: u.identity.clone(),
        role,
        created_at: u.created_at,
    }
}

fn expected_account(a: &NewAccount) -> Account {
    Account {
        id: a.id,
        name: a.name.clone(),
        webhook_secret: a.webhook_secret.clone(),
        created_at: a.created_at,
    }
}

/// Checks the [`MetadataStore`] contract. Works on a store that already
/// holds data (all emails, ids, URLs and hashes are unique per run; counts
/// are checked as deltas), but no other writer may create accounts, users or
/// repos concurrently. Leaves the records it created in place (the port has
/// no account deletion).
///
/// Covers: ping; invites (create, duplicate code hash, find by hash, list
/// newest first); atomic redemption (first creates the account and an owner,
/// later ones join as members, the redemption count, email and identity
/// conflicts that create nothing, two concurrent first redemptions creating
/// exactly one account, unknown invite); team invites; user lookups by id,
/// email and identity; user listing and counts; API keys (create, duplicate
/// hash, find, list newest first, revoke scoped to the user, touch); repos
/// (create, uniqueness of account + URL + branch including the default
/// branch, scoping to the account, list oldest first, counts, partial
/// updates, unscoped reads, delete); usage metering (truncation to the UTC
/// hour, increments adding up, account scoping, half-open ranges, the order
/// of all-account listings, concurrent adds losing nothing, saturation);
/// instance settings (get/put/overwrite, `init_setting` keeping the first
/// value, concurrent `init_setting` agreeing on one value).
///
/// # Panics
///
/// On the first broken rule, with a message naming it.
pub async fn metadata_store_contract(store: &dyn MetadataStore) {
    let b = store.backend();
    let n = Names {
        tag: Uuid::new_v4().simple().to_string(),
    };
    let t0 = now_secs();
    let at = |secs: i64| t0 + Duration::seconds(secs);

    ok(b, store.ping().await, "ping");
    let accounts0 = ok(b, store.count_accounts().await, "count_accounts");
    let users0 = ok(b, store.count_users().await, "count_users");
    let repos0 = ok(b, store.count_repos(None).await, "count_repos(None)");

    // ── admin invite ──────────────────────────────────────────────────────
    let admin = n.invite(t0, None, None);
    ok(b, store.create_invite(&admin).await, "create_invite");
    let mut dup = n.invite(t0, None, None);
    dup.code_hash = admin.code_hash.clone();
    expect_conflict(
        b,
        store.create_invite(&dup).await,
        "create_invite with an existing code hash",
    );
    let found = ok(b, store.find_invite(&admin.code_hash).await, "find_invite");
    assert_eq!(
        found.as_ref(),
        Some(&admin),
        "[{b}] find_invite(code_hash) must return the stored invite unchanged"
    );
    let none = ok(
        b,
        store.find_invite(&hash_token("no such code")).await,
        "find_invite(unknown)",
    );
    assert!(
        none.is_none(),
        "[{b}] find_invite of an unknown hash must be None, got {none:?}"
    );

    // ── first redemption creates the account and its owner ────────────────
    let owner_new = n.new_user("owner", at(0));
    let acct_new = n.new_account(t0);
    let (account, owner) = ok(
        b,
        store
            .redeem_invite(redemption(admin.id, owner_new.clone(), acct_new.clone()))
            .await,
        "first redemption of an admin invite",
    );
    let a1 = acct_new.id;
    assert_eq!(
        account,
        expected_account(&acct_new),
        "[{b}] the first redemption must create account_if_unbound as given"
    );
    assert_eq!(
        owner,
        expected_user(&owner_new, a1, Role::Owner),
        "[{b}] the first redeemer must become the account's owner"
    );
    assert_eq!(
        ok(b, store.count_accounts().await, "count_accounts"),
        accounts0 + 1,
        "[{b}] the first redemption creates one account"
    );
    assert_eq!(
        ok(b, store.count_users().await, "count_users"),
        users0 + 1,
        "[{b}] a redemption creates one user"
    );
    let inv =
        ok(b, store.find_invite(&admin.code_hash).await, "find_invite").expect("invite vanished after redemption");
    assert_eq!(
        inv.account_id,
        Some(a1),
        "[{b}] the first redemption must bind the invite to the new account"
    );
    assert_eq!(
        inv.redemptions, 1,
        "[{b}] a redemption must increment the invite's redemption count"
    );

    // ── second redemption joins the same account as member ────────────────
    let member_new = n.new_user("member", at(1));
    let unused = n.new_account(t0);
    let (account2, member) = ok(
        b,
        store
            .redeem_invite(redemption(admin.id, member_new.clone(), unused.clone()))
            .await,
        "second redemption of an admin invite",
    );
    assert_eq!(
        account2, account,
        "[{b}] a later redemption must join the invite's existing account"
    );
    assert_eq!(
        member,
        expected_user(&member_new, a1, Role::Member),
        "[{b}] a later redeemer must become a member"
    );
    expect_not_found(
        b,
        store.get_account(unused.id).await,
        "a bound invite must not create account_if_unbound",
    );
    assert_eq!(
        ok(b, store.count_accounts().await, "count_accounts"),
        accounts0 + 1,
        "[{b}] joining creates no account"
    );
    let inv = ok(b, store.find_invite(&admin.code_hash).await, "find_invite").expect("invite vanished");
    assert_eq!(
        inv.redemptions, 2,
        "[{b}] the redemption count must be 2 after two redemptions"
    );

    // ── conflicts create nothing ──────────────────────────────────────────
    let fresh = n.invite(t0, None, None);
    ok(b, store.create_invite(&fresh).await, "create_invite");
    let mut taken = n.new_user("x", at(2));
    taken.email = owner_new.email.clone();
    let ghost_account = n.new_account(t0);
    let users_before = ok(b, store.count_users().await, "count_users");
    expect_conflict(
        b,
        store
            .redeem_invite(redemption(fresh.id, taken.clone(), ghost_account.clone()))
            .await,
        "redeeming with an already registered email",
    );
    expect_not_found(
        b,
        store.get_account(ghost_account.id).await,
        "a conflicting redemption must not create its account",
    );
    expect_not_found(
        b,
        store.get_user(taken.id).await,
        "a conflicting redemption must not create its user",
    );
    assert_eq!(
        ok(b, store.count_accounts().await, "count_accounts"),
        accounts0 + 1,
        "[{b}] a failed redemption creates no account"
    );
    assert_eq!(
        ok(b, store.count_users().await, "count_users"),
        users_before,
        "[{b}] a failed redemption creates no user"
    );
    let fresh_now = ok(b, store.find_invite(&fresh.code_hash).await, "find_invite").expect("invite vanished");
    assert_eq!(
        fresh_now, fresh,
        "[{b}] a failed redemption must leave the invite unbound and uncounted"
    );
    taken.id = UserId(Uuid::new_v4());
    expect_conflict(
        b,
        store
            .redeem_invite(redemption(admin.id, taken.clone(), n.new_account(t0)))
            .await,
        "joining a bound invite with an already registered email",
    );
    expect_not_found(
        b,
        store.get_user(taken.id).await,
        "a conflicting join must not create its user",
    );

    // ── identity users ────────────────────────────────────────────────────
    let identity = ExternalIdentity {
        issuer: format!("https://idp.example.com/{}", n.tag),
        subject: "sub-1".into(),
    };
    let mut idp_new = n.new_user("idp", at(3));
    idp_new.password_hash = None;
    idp_new.identity = Some(identity.clone());
    let idp_account = n.new_account(t0);
    let (acc3, idp_user) = ok(
        b,
        store
            .redeem_invite(redemption(fresh.id, idp_new.clone(), idp_account.clone()))
            .await,
        "first redemption by an IdP user",
    );
    let a3 = idp_account.id;
    assert_eq!(
        acc3,
        expected_account(&idp_account),
        "[{b}] redemption must create the account"
    );
    assert_eq!(
        idp_user,
        expected_user(&idp_new, a3, Role::Owner),
        "[{b}] the IdP user must be stored with its identity"
    );
    let by_identity = ok(b, store.find_user_by_identity(&identity).await, "find_user_by_identity");
    assert_eq!(
        by_identity.as_ref(),
        Some(&idp_user),
        "[{b}] find_user_by_identity must find the linked user"
    );
    let other_identity = ExternalIdentity {
        issuer: identity.issuer.clone(),
        subject: "sub-2".into(),
    };
    let none = ok(
        b,
        store.find_user_by_identity(&other_identity).await,
        "find_user_by_identity(unknown)",
    );
    assert!(
        none.is_none(),
        "[{b}] find_user_by_identity must match issuer AND subject, got {none:?}"
    );
    let mut same_identity = n.new_user("idp-again", at(3));
    same_identity.identity = Some(identity.clone());
    expect_conflict(
        b,
        store
            .redeem_invite(redemption(fresh.id, same_identity.clone(), n.new_account(t0)))
            .await,
        "redeeming with an already linked identity",
    );
    expect_not_found(
        b,
        store.get_user(same_identity.id).await,
        "a conflicting redemption must not create its user",
    );

    // ── concurrent first redemptions create exactly one account ───────────
    let race = n.invite(t0, None, None);
    ok(b, store.create_invite(&race).await, "create_invite");
    let (ua, ub) = (n.new_user("race-a", at(4)), n.new_user("race-b", at(4)));
    let (aa, ab) = (n.new_account(t0), n.new_account(t0));
    let accounts_before = ok(b, store.count_accounts().await, "count_accounts");
    let (ra, rb) = tokio::join!(
        store.redeem_invite(redemption(race.id, ua.clone(), aa.clone())),
        store.redeem_invite(redemption(race.id, ub.clone(), ab.clone())),
    );
    let (acc_a, user_a) = ok(b, ra, "concurrent first redemption A");
    let (acc_b, user_b) = ok(b, rb, "concurrent first redemption B");
    assert_eq!(
        acc_a.id, acc_b.id,
        "[{b}] two concurrent first redemptions must end up in ONE account"
    );
    assert!(
        acc_a.id == aa.id || acc_a.id == ab.id,
        "[{b}] the account must be one of the two account_if_unbound"
    );
    let loser = if acc_a.id == aa.id { ab.id } else { aa.id };
    expect_not_found(
        b,
        store.get_account(loser).await,
        "the losing concurrent redemption must not create an account",
    );
    let mut roles = [user_a.role, user_b.role];
    roles.sort_by_key(|r| r.as_str());
    assert_eq!(
        roles,
        [Role::Member, Role::Owner],
        "[{b}] concurrent first redemptions: exactly one owner and one member"
    );
    assert_eq!(
        ok(b, store.count_accounts().await, "count_accounts"),
        accounts_before + 1,
        "[{b}] two concurrent first redemptions must create exactly one account"
    );
    let race_now = ok(b, store.find_invite(&race.code_hash).await, "find_invite").expect("invite vanished");
    assert_eq!(
        race_now.redemptions, 2,
        "[{b}] both concurrent redemptions must be counted"
    );
    assert_eq!(
        race_now.account_id,
        Some(acc_a.id),
        "[{b}] the invite must be bound to the single account"
    );
    let race_users = ok(b, store.list_users(acc_a.id).await, "list_users");
    assert_eq!(
        race_users.len(),
        2,
        "[{b}] both concurrent redeemers must be in the account, got {race_users:?}"
    );

    // ── unknown invite ────────────────────────────────────────────────────
    let lost = n.new_user("lost", at(5));
    expect_not_found(
        b,
        store
            .redeem_invite(redemption(InviteId(Uuid::new_v4()), lost.clone(), n.new_account(t0)))
            .await,
        "redeeming an unknown invite",
    );
    expect_not_found(
        b,
        store.get_user(lost.id).await,
        "redeeming an unknown invite must not create the user",
    );

    // ── team invite ───────────────────────────────────────────────────────
    let mut team = n.invite(at(60), Some(a1), Some(owner.id));
    team.email = Some(n.email("teammate"));
    team.account_name = None;
    ok(b, store.create_invite(&team).await, "create_invite (team)");
    let mate_new = n.new_user("teammate", at(6));
    let mate_unused = n.new_account(t0);
    let (acc_team, mate) = ok(
        b,
        store
            .redeem_invite(redemption(team.id, mate_new.clone(), mate_unused.clone()))
            .await,
        "redeeming a team invite",
    );
    assert_eq!(acc_team.id, a1, "[{b}] a team invite joins its account");
    assert_eq!(
        mate,
        expected_user(&mate_new, a1, Role::Member),
        "[{b}] a team invite makes the redeemer a member"
    );
    expect_not_found(
        b,
        store.get_account(mate_unused.id).await,
        "a team invite must not create account_if_unbound",
    );

    // ── lookups, lists and counts ─────────────────────────────────────────
    assert_eq!(
        ok(b, store.get_account(a1).await, "get_account"),
        account,
        "[{b}] get_account must return the account"
    );
    expect_not_found(
        b,
        store.get_account(AccountId(Uuid::new_v4())).await,
        "get_account(unknown)",
    );
    assert_eq!(
        ok(b, store.get_user(owner.id).await, "get_user"),
        owner,
        "[{b}] get_user must return the user"
    );
    expect_not_found(b, store.get_user(UserId(Uuid::new_v4())).await, "get_user(unknown)");
    let by_email = ok(b, store.find_user_by_email(&owner.email).await, "find_user_by_email");
    assert_eq!(
        by_email.as_ref(),
        Some(&owner),
        "[{b}] find_user_by_email must find the user"
    );
    let none = ok(
        b,
        store.find_user_by_email(&n.email("nobody")).await,
        "find_user_by_email(unknown)",
    );
    assert!(
        none.is_none(),
        "[{b}] find_user_by_email of an unknown email must be None"
    );
    let users = ok(b, store.list_users(a1).await, "list_users");
    assert_eq!(
        users,
        vec![owner.clone(), member.clone(), mate.clone()],
        "[{b}] list_users(account) must be that account's users, oldest first"
    );
    assert_eq!(
        ok(b, store.list_users(a3).await, "list_users"),
        vec![idp_user.clone()],
        "[{b}] list_users is scoped to the account"
    );
    // Users created: owner, member, idp, race a + b, teammate.
    assert_eq!(
        ok(b, store.count_users().await, "count_users"),
        users0 + 6,
        "[{b}] count_users must count every created user"
    );
    // Accounts created: a1, a3, the race account.
    assert_eq!(
        ok(b, store.count_accounts().await, "count_accounts"),
        accounts0 + 3,
        "[{b}] count_accounts must count every created account"
    );
    let invites = ok(b, store.list_invites(a1).await, "list_invites");
    let invite_ids: Vec<InviteId> = invites.iter().map(|i| i.id).collect();
    assert_eq!(
        invite_ids,
        vec![team.id, admin.id],
        "[{b}] list_invites(account) must list the account's invites (including the admin invite it was bound to), newest first"
    );
    let mut team_now = team.clone();
    team_now.redemptions = 1;
    assert_eq!(
        invites[0], team_now,
        "[{b}] list_invites must return the stored team invite with its redemption count"
    );
    // Revoking shortens the expiry to `at`, only in its own account, never lengthens it.
    let revoked_at = team.expires_at - Duration::seconds(30);
    assert!(
        matches!(
            store.revoke_invite(a3, team.id, revoked_at).await,
            Err(StoreError::NotFound { .. })
        ),
        "[{b}] revoke_invite of another account's invite must be NotFound"
    );
    ok(b, store.revoke_invite(a1, team.id, revoked_at).await, "revoke_invite");
    ok(
        b,
        store
            .revoke_invite(a1, team.id, revoked_at + Duration::seconds(10))
            .await,
        "revoke_invite again",
    );
    let stored = ok(b, store.find_invite(&team.code_hash).await, "find_invite").expect("team invite");
    assert_eq!(
        stored.expires_at, revoked_at,
        "[{b}] revoke_invite must move the expiry to the revocation time (and keep the first one)"
    );
    assert!(
        matches!(
            store.revoke_invite(a1, InviteId(Uuid::new_v4()), revoked_at).await,
            Err(StoreError::NotFound { .. })
        ),
        "[{b}] revoke_invite of an unknown invite must be NotFound"
    );

    // ── API keys ──────────────────────────────────────────────────────────
    let api_key = |name: &str, t: DateTime<Utc>| {
        let secret = format!("lk_{}", Uuid::new_v4().simple());
        ApiKey {
            id: ApiKeyId(Uuid::new_v4()),
            account_id: a1,
            user_id: owner.id,
            name: name.to_owned(),
            prefix: lettuce_domain::token::display_prefix(&secret),
            key_hash: hash_token(&secret),
            created_at: t,
            last_used_at: None,
            revoked_at: None,
        }
    };
    let k1 = api_key("laptop", at(0));
    let k2 = api_key("ci", at(1));
    ok(b, store.create_api_key(&k1).await, "create_api_key");
    ok(b, store.create_api_key(&k2).await, "create_api_key");
    let mut k_dup = api_key("dup", at(2));
    k_dup.key_hash = k1.key_hash.clone();
    expect_conflict(
        b,
        store.create_api_key(&k_dup).await,
        "create_api_key with an existing hash",
    );
    let found = ok(b, store.find_api_key(&k1.key_hash).await, "find_api_key");
    assert_eq!(
        found.as_ref(),
        Some(&k1),
        "[{b}] find_api_key(hash) must return the stored key"
    );
    assert!(
        ok(b, store.find_api_key(&hash_token("nope")).await, "find_api_key").is_none(),
        "[{b}] unknown key hash must be None"
    );
    let listed = ok(b, store.list_api_keys(owner.id).await, "list_api_keys");
    assert_eq!(
        listed,
        vec![k2.clone(), k1.clone()],
        "[{b}] list_api_keys(user) must be the user's keys, newest first"
    );
    assert!(
        ok(b, store.list_api_keys(member.id).await, "list_api_keys").is_empty(),
        "[{b}] list_api_keys is scoped to the user"
    );
    expect_not_found(
        b,
        store.revoke_api_key(member.id, k1.id, at(5)).await,
        "revoking another user's key",
    );
    let still = ok(b, store.find_api_key(&k1.key_hash).await, "find_api_key").expect("key vanished");
    assert_eq!(still.revoked_at, None, "[{b}] a refused revoke must not revoke the key");
    expect_not_found(
        b,
        store.revoke_api_key(owner.id, ApiKeyId(Uuid::new_v4()), at(5)).await,
        "revoking an unknown key",
    );
    ok(b, store.revoke_api_key(owner.id, k1.id, at(5)).await, "revoke_api_key");
    let revoked =
        ok(b, store.find_api_key(&k1.key_hash).await, "find_api_key").expect("a revoked key must still be findable");
    assert_eq!(revoked.revoked_at, Some(at(5)), "[{b}] revoke must set revoked_at");
    ok(b, store.touch_api_key(k2.id, at(10)).await, "touch_api_key");
    let touched = ok(b, store.find_api_key(&k2.key_hash).await, "find_api_key").expect("key vanished");
    assert_eq!(
        touched.last_used_at,
        Some(at(10)),
        "[{b}] touch_api_key must set last_used_at"
    );
    assert_eq!(touched.revoked_at, None, "[{b}] touch must not revoke");
    let listed = ok(b, store.list_api_keys(owner.id).await, "list_api_keys");
    assert_eq!(listed.len(), 2, "[{b}] list_api_keys must include revoked keys");
    assert_eq!(
        listed[1].revoked_at,
        Some(at(5)),
        "[{b}] list_api_keys must show revoked_at"
    );

    // ── repos ─────────────────────────────────────────────────────────────
    let mut r_main = n.repo(a1, Some("main"), at(0));
    r_main.sealed_credentials = Some("sealed:v1:abcdef".into());
    let r_dev = n.repo(a1, Some("dev"), at(1));
    let r_default = n.repo(a1, None, at(2));
    let r_other = n.repo(a3, Some("main"), at(3));
    for r in [&r_main, &r_dev, &r_default, &r_other] {
        ok(
            b,
            store.create_repo(r).await,
            "create_repo (same URL: other branch, default branch or other account)",
        );
    }
    expect_conflict(
        b,
        store.create_repo(&n.repo(a1, Some("main"), at(4))).await,
        "create_repo with the same account, URL and branch",
    );
    expect_conflict(
        b,
        store.create_repo(&n.repo(a1, None, at(4))).await,
        "create_repo with the same account and URL on the default branch (branch None twice)",
    );
    assert_eq!(
        ok(b, store.get_repo(a1, r_main.id).await, "get_repo"),
        r_main,
        "[{b}] get_repo must return the stored repo (sealed credentials included)"
    );
    expect_not_found(
        b,
        store.get_repo(a3, r_main.id).await,
        "get_repo scoped to another account",
    );
    expect_not_found(b, store.get_repo(a1, RepoId(Uuid::new_v4())).await, "get_repo(unknown)");
    let ids: Vec<RepoId> = ok(b, store.list_repos(a1).await, "list_repos")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        ids,
        vec![r_main.id, r_dev.id, r_default.id],
        "[{b}] list_repos(account) must be the account's repos, oldest first"
    );
    assert_eq!(
        ok(b, store.count_repos(Some(a1)).await, "count_repos"),
        3,
        "[{b}] count_repos(Some(account)) counts that account's repos"
    );
    assert_eq!(
        ok(b, store.count_repos(Some(a3)).await, "count_repos"),
        1,
        "[{b}] count_repos(Some(account)) counts that account's repos"
    );
    assert_eq!(
        ok(b, store.count_repos(None).await, "count_repos"),
        repos0 + 4,
        "[{b}] count_repos(None) counts the whole instance"
    );
    assert_eq!(
        ok(b, store.get_repo_unscoped(r_other.id).await, "get_repo_unscoped"),
        r_other,
        "[{b}] get_repo_unscoped returns any repo"
    );
    expect_not_found(
        b,
        store.get_repo_unscoped(RepoId(Uuid::new_v4())).await,
        "get_repo_unscoped(unknown)",
    );

    // Partial updates.
    let commit = "0123456789abcdef0123456789abcdef01234567".to_owned();
    let mut want = r_main.clone();
    let steps: Vec<(RepoUpdate, &str)> = vec![
        (
            RepoUpdate {
                status: Some(RepoStatus::Indexing),
                progress: Some(IndexProgress {
                    files_done: 3,
                    files_total: 10,
                }),
                updated_at: Some(at(20)),
                ..Default::default()
            },
            "status + progress",
        ),
        (
            RepoUpdate {
                status: Some(RepoStatus::Ready),
                indexed_commit: Some(Some(commit.clone())),
                error: Some(None),
                indexed_at: Some(at(30)),
                updated_at: Some(at(30)),
                ..Default::default()
            },
            "indexed_commit Some(Some) + indexed_at",
        ),
        (
            RepoUpdate {
                status: Some(RepoStatus::Failed),
                error: Some(Some("could not reach git.example.com".into())),
                updated_at: Some(at(40)),
                ..Default::default()
            },
            "error Some(Some)",
        ),
        (
            RepoUpdate {
                indexed_commit: Some(None),
                error: Some(None),
                ..Default::default()
            },
            "Some(None) clears",
        ),
        (RepoUpdate::default(), "an empty update changes nothing"),
    ];
    for (update, what) in steps {
        if let Some(s) = update.status {
            want.status = s;
        }
        if let Some(c) = &update.indexed_commit {
            want.indexed_commit.clone_from(c);
        }
        if let Some(e) = &update.error {
            want.error.clone_from(e);
        }
        if let Some(p) = update.progress {
            want.progress = p;
        }
        if let Some(t) = update.indexed_at {
            want.indexed_at = Some(t);
        }
        if let Some(t) = update.updated_at {
            want.updated_at = t;
        }
        let got = ok(b, store.update_repo(r_main.id, update).await, "update_repo");
        assert_eq!(
            got, want,
            "[{b}] update_repo ({what}) must change exactly the given fields and return the new repo"
        );
        assert_eq!(
            ok(b, store.get_repo(a1, r_main.id).await, "get_repo"),
            want,
            "[{b}] update_repo ({what}) must be persisted"
        );
    }
    assert_eq!(
        ok(b, store.get_repo(a1, r_dev.id).await, "get_repo"),
        r_dev,
        "[{b}] update_repo must not touch other repos"
    );

    // Delete.
    expect_not_found(
        b,
        store.delete_repo(a3, r_main.id).await,
        "delete_repo of another account's repo",
    );
    ok(
        b,
        store.get_repo(a1, r_main.id).await,
        "get_repo after a refused delete",
    );
    ok(b, store.delete_repo(a1, r_main.id).await, "delete_repo");
    expect_not_found(b, store.get_repo(a1, r_main.id).await, "get_repo after delete");
    expect_not_found(
        b,
        store.get_repo_unscoped(r_main.id).await,
        "get_repo_unscoped after delete",
    );
    expect_not_found(b, store.delete_repo(a1, r_main.id).await, "deleting a deleted repo");
    expect_not_found(
        b,
        store
            .update_repo(
                r_main.id,
                RepoUpdate {
                    status: Some(RepoStatus::Pending),
                    ..Default::default()
                },
            )
            .await,
        "update_repo of a missing repo",
    );
    assert_eq!(
        ok(b, store.count_repos(Some(a1)).await, "count_repos"),
        2,
        "[{b}] delete must lower the account's repo count"
    );
    assert_eq!(
        ok(b, store.count_repos(None).await, "count_repos"),
        repos0 + 3,
        "[{b}] delete must lower the instance repo count"
    );
    // The freed (account, URL, branch) can be used again.
    ok(
        b,
        store.create_repo(&n.repo(a1, Some("main"), at(50))).await,
        "create_repo after deleting the previous one",
    );

    usage_contract(store, a1, a3).await;
    settings_contract(store, &n.tag).await;
    sealed_contract(store, &n, a1, at(9)).await;
    codehost_contract(store, &n, a1, a3, owner.id, at(60)).await;
    eval_run_contract(store, &n, a1, at(70)).await;
}

/// Eval runs: one latest run per repo, a new one refused while the last is
/// queued or running, the report kept whole, removed with the repo.
async fn eval_run_contract(store: &dyn MetadataStore, n: &Names, a1: AccountId, t: DateTime<Utc>) {
    let b = store.backend();
    let repo = n.repo(a1, Some("eval"), t);
    ok(b, store.create_repo(&repo).await, "create_repo");
    assert_eq!(
        ok(b, store.get_eval_run(repo.id).await, "get_eval_run"),
        None,
        "[{b}] no run before one is started"
    );
    let queued = EvalRun {
        repo_id: repo.id,
        account_id: a1,
        status: EvalStatus::Queued,
        commits: 50,
        done: 0,
        total: 0,
        queued_at: t,
        started_at: None,
        finished_at: None,
        error: None,
        report: None,
    };
    ok(b, store.start_eval_run(&queued).await, "start_eval_run");
    assert_eq!(
        ok(b, store.get_eval_run(repo.id).await, "get_eval_run"),
        Some(queued.clone())
    );
    expect_conflict(
        b,
        store.start_eval_run(&queued).await,
        "start_eval_run while one is queued",
    );
    let mut running = queued.clone();
    running.status = EvalStatus::Running;
    running.started_at = Some(t + Duration::seconds(1));
    running.total = 40;
    running.done = 3;
    ok(b, store.put_eval_run(&running).await, "put_eval_run");
    assert_eq!(
        ok(b, store.get_eval_run(repo.id).await, "get_eval_run"),
        Some(running.clone()),
        "[{b}] put_eval_run overwrites progress"
    );
    expect_conflict(
        b,
        store.start_eval_run(&queued).await,
        "start_eval_run while one is running",
    );
    let mut done = running.clone();
    done.status = EvalStatus::Done;
    done.done = 40;
    done.finished_at = Some(t + Duration::seconds(90));
    let score = |a: f64| MethodScore {
        questions: 40,
        acc_at_1: a,
        acc_at_3: a + 10.0,
        acc_at_5: a + 20.0,
        mrr: 0.5,
        tokens_per_question: 1234.5,
        empty_answers: 2,
    };
    let mut report = EvalReport {
        repo: "acme/eval".into(),
        head: "a".repeat(40),
        questions: 40,
        ..Default::default()
    };
    report.methods.search_code = score(10.0);
    report.methods.locate = score(40.0);
    report.methods.grep = score(20.0);
    report.locate_vs_grep.acc_at_3_ratio = Some(1.5);
    done.report = Some(report);
    ok(b, store.put_eval_run(&done).await, "put_eval_run (done)");
    assert_eq!(
        ok(b, store.get_eval_run(repo.id).await, "get_eval_run"),
        Some(done.clone()),
        "[{b}] the report is kept whole"
    );
    // A finished run is replaced by a new one.
    let mut again = queued.clone();
    again.commits = 10;
    again.queued_at = t + Duration::seconds(100);
    ok(
        b,
        store.start_eval_run(&again).await,
        "start_eval_run after a finished run",
    );
    assert_eq!(
        ok(b, store.get_eval_run(repo.id).await, "get_eval_run"),
        Some(again.clone())
    );
    let mut failed = again.clone();
    failed.status = EvalStatus::Failed;
    failed.error = Some("no usable commits".into());
    ok(b, store.put_eval_run(&failed).await, "put_eval_run (failed)");
    ok(
        b,
        store.start_eval_run(&queued).await,
        "start_eval_run after a failed run",
    );

    let mut orphan = queued.clone();
    orphan.repo_id = RepoId(Uuid::new_v4());
    expect_not_found(
        b,
        store.start_eval_run(&orphan).await,
        "start_eval_run for a missing repo",
    );
    expect_not_found(b, store.put_eval_run(&orphan).await, "put_eval_run for a missing repo");
    ok(b, store.delete_repo(a1, repo.id).await, "delete_repo");
    assert_eq!(
        ok(b, store.get_eval_run(repo.id).await, "get_eval_run"),
        None,
        "[{b}] deleting the repo deletes its run"
    );
}

/// Installations, single-use keys, repo links and webhook deliveries.
async fn codehost_contract(
    store: &dyn MetadataStore,
    n: &Names,
    a1: AccountId,
    a3: AccountId,
    user: UserId,
    t: DateTime<Utc>,
) {
    let b = store.backend();
    // ── installations ─────────────────────────────────────────────────────
    let inst = Installation {
        account_id: a1,
        provider: "github".into(),
        external_id: "4242".into(),
        connected_by: user,
        connected_at: t,
        scopes: vec!["contents:read".into(), "metadata:read".into()],
        needs_reauth: false,
        sealed_credentials: None,
        credentials: None,
    };
    assert_eq!(
        ok(b, store.get_installation(a1, "github").await, "get_installation"),
        None,
        "[{b}] no installation before one is stored"
    );
    ok(b, store.put_installation(&inst).await, "put_installation");
    assert_eq!(
        ok(b, store.get_installation(a1, "github").await, "get_installation"),
        Some(inst.clone()),
        "[{b}] get_installation must return what was stored"
    );
    assert_eq!(
        ok(b, store.get_installation(a3, "github").await, "get_installation"),
        None,
        "[{b}] installations are per account"
    );
    let mut reconnect = inst.clone();
    reconnect.external_id = "4343".into();
    reconnect.needs_reauth = true;
    reconnect.scopes = vec![];
    ok(
        b,
        store.put_installation(&reconnect).await,
        "put_installation (replace)",
    );
    let mut gitlab = inst.clone();
    gitlab.provider = "gitlab".into();
    gitlab.sealed_credentials = Some(format!("v1.sealed-{}", n.tag));
    let mut with_open = gitlab.clone();
    with_open.credentials = Some(lettuce_domain::codehost::ProviderCredentials::bearer(
        lettuce_domain::Secret::new("glpat-must-not-be-stored"),
    ));
    ok(
        b,
        store.put_installation(&with_open).await,
        "put_installation (second provider)",
    );
    assert_eq!(
        ok(b, store.list_installations(a1).await, "list_installations"),
        vec![reconnect.clone(), gitlab.clone()],
        "[{b}] list_installations: one per provider, by provider name, the replacement kept, sealed credentials kept, open ones never stored"
    );
    let mut orphan = inst.clone();
    orphan.account_id = AccountId(Uuid::new_v4());
    expect_not_found(
        b,
        store.put_installation(&orphan).await,
        "put_installation for a missing account",
    );
    assert!(ok(
        b,
        store.delete_installation(a1, "gitlab").await,
        "delete_installation"
    ));
    assert!(
        !ok(b, store.delete_installation(a1, "gitlab").await, "delete_installation"),
        "[{b}] deleting a deleted installation answers false"
    );
    assert_eq!(ok(b, store.list_installations(a1).await, "list_installations").len(), 1);

    // ── single use ────────────────────────────────────────────────────────
    let key = format!("nonce-{}", n.tag);
    let exp = t + Duration::minutes(15);
    assert!(ok(b, store.use_once("install_state", &key, exp, t).await, "use_once"));
    assert!(
        !ok(b, store.use_once("install_state", &key, exp, t).await, "use_once"),
        "[{b}] a key is usable once"
    );
    assert!(
        ok(b, store.use_once("github_delivery", &key, exp, t).await, "use_once"),
        "[{b}] scopes are separate"
    );

    // ── repo links and deliveries ─────────────────────────────────────────
    let repo = n.repo(a1, Some("codehost"), t);
    ok(b, store.create_repo(&repo).await, "create_repo");
    let link = RepoLink {
        repo_id: repo.id,
        account_id: a1,
        provider: "github".into(),
        provider_repo_id: "1296269".into(),
        full_name: "octocat/Hello-World".into(),
        branch: "codehost".into(),
        hook_id: None,
        hook_error: Some("re-grant the permission, then retry webhook setup".into()),
        updated_at: t,
        mode: Default::default(),
        checked_at: None,
        check_note: None,
        remote_head: None,
    };
    assert_eq!(ok(b, store.get_repo_link(repo.id).await, "get_repo_link"), None);
    ok(b, store.put_repo_link(&link).await, "put_repo_link");
    assert_eq!(
        ok(b, store.get_repo_link(repo.id).await, "get_repo_link"),
        Some(link.clone())
    );
    let mut hooked = link.clone();
    hooked.hook_id = Some("12345678".into());
    hooked.hook_error = None;
    hooked.mode = lettuce_domain::codehost::FreshnessMode::Polling;
    hooked.checked_at = Some(t + Duration::seconds(5));
    hooked.check_note = Some("remote head moved without a delivery: polling".into());
    hooked.remote_head = Some("a".repeat(40));
    ok(b, store.put_repo_link(&hooked).await, "put_repo_link (replace)");
    assert_eq!(
        ok(b, store.list_repo_links(a1, "github").await, "list_repo_links"),
        vec![hooked.clone()],
        "[{b}] list_repo_links: the account's links of the provider"
    );
    assert!(ok(b, store.list_repo_links(a1, "gitlab").await, "list_repo_links").is_empty());
    {
        // Other tests share the store: page through everything and find ours.
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = ok(b, store.list_all_repo_links(after, 2).await, "list_all_repo_links");
            assert!(page.len() <= 2, "[{b}] list_all_repo_links honours its limit");
            let Some(last) = page.last() else { break };
            assert!(after.is_none_or(|a| last.repo_id > a), "[{b}] pages move forward");
            after = Some(last.repo_id);
            all.extend(page);
        }
        assert!(
            all.windows(2).all(|w| w[0].repo_id < w[1].repo_id),
            "[{b}] list_all_repo_links is ordered by repo id"
        );
        assert!(
            all.contains(&hooked),
            "[{b}] list_all_repo_links includes every account's links"
        );
    }
    assert!(ok(b, store.list_repo_links(a3, "github").await, "list_repo_links").is_empty());
    let mut missing = link.clone();
    missing.repo_id = RepoId(Uuid::new_v4());
    expect_not_found(
        b,
        store.put_repo_link(&missing).await,
        "put_repo_link for a missing repo",
    );

    let delivery = |secs: i64, outcome: DeliveryOutcome| WebhookDelivery {
        repo_id: repo.id,
        at: t + Duration::seconds(secs),
        event: "push".into(),
        delivery_id: Some(format!("d-{secs}")),
        outcome,
        detail: format!("refs/heads/codehost at {secs}"),
    };
    let d1 = delivery(1, DeliveryOutcome::Ping);
    let d2 = delivery(2, DeliveryOutcome::Queued);
    let d3 = delivery(3, DeliveryOutcome::Ignored);
    for d in [&d1, &d2, &d3] {
        ok(b, store.record_webhook_delivery(d).await, "record_webhook_delivery");
    }
    assert_eq!(
        ok(
            b,
            store.list_webhook_deliveries(repo.id, 2).await,
            "list_webhook_deliveries"
        ),
        vec![d3.clone(), d2.clone()],
        "[{b}] deliveries newest first, limited"
    );
    let mut orphan_delivery = d1.clone();
    orphan_delivery.repo_id = RepoId(Uuid::new_v4());
    expect_not_found(
        b,
        store.record_webhook_delivery(&orphan_delivery).await,
        "record_webhook_delivery for a missing repo",
    );
    // Deleting the repo removes its link and deliveries; the installation stays.
    ok(b, store.delete_repo(a1, repo.id).await, "delete_repo");
    assert_eq!(ok(b, store.get_repo_link(repo.id).await, "get_repo_link"), None);
    assert!(
        ok(
            b,
            store.list_webhook_deliveries(repo.id, 10).await,
            "list_webhook_deliveries"
        )
        .is_empty()
    );
    assert!(ok(b, store.get_installation(a1, "github").await, "get_installation").is_some());
}

/// The sealed-values part of the contract: every sealed column is listed in
/// order, paged, and `reseal` is a compare-and-swap.
async fn sealed_contract(store: &dyn MetadataStore, n: &Names, account: AccountId, t: DateTime<Utc>) {
    let b = store.backend();
    let before = ok(b, store.count_sealed().await, "count_sealed");
    let mut r1 = n.repo(account, Some("sealed-1"), t);
    r1.sealed_credentials = Some(format!("v2.contract.{}-one", n.tag));
    let mut r2 = n.repo(account, Some("sealed-2"), t);
    r2.sealed_credentials = Some(format!("v2.contract.{}-two", n.tag));
    let r3 = n.repo(account, Some("sealed-none"), t);
    for r in [&r1, &r2, &r3] {
        ok(b, store.create_repo(r).await, "create_repo");
    }
    // A sealed instance setting (JSON with a `sealed_key` field), when this
    // store has none yet (the key is instance-wide).
    let setting = sealed_columns::SEALED_SETTING_KEYS[0];
    let license_json = format!(
        r#"{{"sealed_key":"v2.contract.{}-lic","license_id":"lic-1","exp":1}}"#,
        n.tag
    );
    let with_setting = ok(b, store.init_setting(setting, &license_json).await, "init_setting") == license_json;
    let inst = Installation {
        account_id: account,
        provider: "gitlab".into(),
        external_id: "sealed".into(),
        connected_by: UserId(Uuid::new_v4()),
        connected_at: t,
        scopes: vec![],
        needs_reauth: false,
        sealed_credentials: Some(format!("v2.contract.{}-inst", n.tag)),
        credentials: None,
    };
    ok(b, store.put_installation(&inst).await, "put_installation");
    let after = ok(b, store.count_sealed().await, "count_sealed");
    assert!(
        after >= before + 3 + u64::from(with_setting),
        "[{b}] count_sealed must count every sealed value ({before} before, {after} after adding 2-3)"
    );

    let mut seen: Vec<SealedValue> = Vec::new();
    let mut cursor: Option<SealedRef> = None;
    loop {
        let page = ok(b, store.list_sealed(cursor.as_ref(), 2).await, "list_sealed");
        assert!(page.len() <= 2, "[{b}] list_sealed must honour the limit");
        let Some(last) = page.last() else { break };
        cursor = Some(last.at.clone());
        seen.extend(page);
        assert!(
            seen.len() < 100_000,
            "[{b}] list_sealed does not advance past its cursor"
        );
    }
    for w in seen.windows(2) {
        assert!(
            w[0].at < w[1].at,
            "[{b}] list_sealed must be strictly ordered by (column, row): {:?} then {:?}",
            w[0].at,
            w[1].at
        );
    }
    let find = |row: &str| seen.iter().filter(|v| v.at.row == row).cloned().collect::<Vec<_>>();
    let one = find(&r1.id.to_string());
    assert_eq!(one.len(), 1, "[{b}] a sealed repo credential is listed exactly once");
    assert_eq!(one[0].at.column, sealed_columns::REPO_CREDENTIALS);
    assert_eq!(Some(one[0].sealed.clone()), r1.sealed_credentials);
    assert_eq!(find(&r2.id.to_string()).len(), 1, "[{b}] every sealed repo is listed");
    assert!(
        find(&r3.id.to_string()).is_empty(),
        "[{b}] rows without a sealed value are not listed"
    );
    let inst_row = sealed_columns::installation_row(account, "gitlab");
    let listed = find(&inst_row);
    assert_eq!(listed.len(), 1, "[{b}] sealed installation credentials are listed once");
    assert_eq!(listed[0].at.column, sealed_columns::INSTALLATION_CREDENTIALS);
    assert_eq!(Some(listed[0].sealed.clone()), inst.sealed_credentials);
    let inst_new = format!("v2.contract.{}-inst-resealed", n.tag);
    assert!(
        !ok(b, store.reseal(&listed[0].at, "v2.stale", &inst_new).await, "reseal"),
        "[{b}] reseal of installation credentials is a compare-and-swap"
    );
    assert!(ok(
        b,
        store
            .reseal(
                &listed[0].at,
                inst.sealed_credentials.as_deref().unwrap_or_default(),
                &inst_new
            )
            .await,
        "reseal"
    ));
    assert_eq!(
        ok(b, store.get_installation(account, "gitlab").await, "get_installation").and_then(|i| i.sealed_credentials),
        Some(inst_new),
        "[{b}] reseal stores the installation's new sealed credentials"
    );
    if with_setting {
        let lic = find(setting);
        assert_eq!(lic.len(), 1, "[{b}] the sealed field of {setting} is listed");
        assert_eq!(lic[0].at.column, sealed_columns::LICENSE_UPLOAD);
        assert_eq!(lic[0].sealed, format!("v2.contract.{}-lic", n.tag));
    }

    let old = r1.sealed_credentials.clone().unwrap();
    let new = format!("v2.contract.{}-one-resealed", n.tag);
    assert!(
        !ok(
            b,
            store.reseal(&one[0].at, "v2.not-the-current-value", &new).await,
            "reseal"
        ),
        "[{b}] reseal with a stale `old` must refuse"
    );
    assert_eq!(
        ok(b, store.get_repo(account, r1.id).await, "get_repo").sealed_credentials,
        Some(old.clone())
    );
    assert!(
        ok(b, store.reseal(&one[0].at, &old, &new).await, "reseal"),
        "[{b}] reseal with the current value must succeed"
    );
    assert_eq!(
        ok(b, store.get_repo(account, r1.id).await, "get_repo").sealed_credentials,
        Some(new.clone()),
        "[{b}] reseal must store the new value"
    );
    assert!(
        !ok(b, store.reseal(&one[0].at, &old, "v2.x").await, "reseal"),
        "[{b}] reseal is a compare-and-swap"
    );
    let gone = SealedRef {
        column: sealed_columns::REPO_CREDENTIALS.to_owned(),
        row: RepoId(Uuid::new_v4()).to_string(),
    };
    assert!(
        !ok(b, store.reseal(&gone, &old, "v2.x").await, "reseal"),
        "[{b}] reseal of a missing row is false"
    );
    let untouched = ok(b, store.get_repo(account, r2.id).await, "get_repo");
    assert_eq!(
        untouched.sealed_credentials, r2.sealed_credentials,
        "[{b}] reseal touches one row"
    );
    if with_setting {
        let at = SealedRef {
            column: sealed_columns::LICENSE_UPLOAD.to_owned(),
            row: setting.to_owned(),
        };
        let lic_new = format!("v2.contract.{}-lic-resealed", n.tag);
        assert!(ok(
            b,
            store.reseal(&at, &format!("v2.contract.{}-lic", n.tag), &lic_new).await,
            "reseal"
        ));
        let json = ok(b, store.get_setting(setting).await, "get_setting").unwrap_or_default();
        assert_eq!(
            sealed_columns::setting_field(&json),
            Some(lic_new),
            "[{b}] reseal of a setting field"
        );
        assert!(
            json.contains("lic-1"),
            "[{b}] reseal keeps the setting's other fields: {json}"
        );
    }
}

/// The instance-settings part of the contract (keys unique to this run).
async fn settings_contract(store: &dyn MetadataStore, tag: &str) {
    let b = store.backend();
    let key = |name: &str| format!("contract.{tag}.{name}");
    let k = key("plain");
    assert_eq!(
        ok(b, store.get_setting(&k).await, "get_setting"),
        None,
        "[{b}] an unset setting must be None"
    );
    ok(b, store.put_setting(&k, "one").await, "put_setting");
    assert_eq!(
        ok(b, store.get_setting(&k).await, "get_setting").as_deref(),
        Some("one"),
        "[{b}] get_setting must return what put_setting stored"
    );
    let json = r#"{"receipt_id":"rcpt_1","note":"ünïcødé ✓","n":[1,2]}"#;
    ok(b, store.put_setting(&k, json).await, "put_setting (overwrite)");
    assert_eq!(
        ok(b, store.get_setting(&k).await, "get_setting").as_deref(),
        Some(json),
        "[{b}] put_setting must replace the value (unicode and JSON kept verbatim)"
    );
    assert_eq!(
        ok(b, store.get_setting(&key("other")).await, "get_setting"),
        None,
        "[{b}] settings are per key"
    );

    let init = key("init");
    assert_eq!(
        ok(b, store.init_setting(&init, "first").await, "init_setting"),
        "first",
        "[{b}] init_setting on an unset key stores and returns the value"
    );
    assert_eq!(
        ok(b, store.init_setting(&init, "second").await, "init_setting"),
        "first",
        "[{b}] init_setting on a set key must return the existing value"
    );
    assert_eq!(
        ok(b, store.get_setting(&init).await, "get_setting").as_deref(),
        Some("first"),
        "[{b}] init_setting must not overwrite"
    );
    assert_eq!(
        ok(b, store.init_setting(&k, "ignored").await, "init_setting"),
        json,
        "[{b}] init_setting must see values stored by put_setting"
    );

    let race = key("race");
    let candidates: Vec<String> = (0..16).map(|i| format!("candidate-{i}")).collect();
    let inits = candidates.iter().map(|c| store.init_setting(&race, c));
    let winners: Vec<String> = futures::future::join_all(inits)
        .await
        .into_iter()
        .map(|r| ok(b, r, "concurrent init_setting"))
        .collect();
    assert!(
        candidates.contains(&winners[0]) && winners.iter().all(|w| w == &winners[0]),
        "[{b}] concurrent init_setting calls must all return the one stored value, got {winners:?}"
    );
    assert_eq!(
        ok(b, store.get_setting(&race).await, "get_setting").as_ref(),
        Some(&winners[0]),
        "[{b}] the value every concurrent init_setting returned must be the stored one"
    );
}

/// Concurrent `add_usage` calls from many tasks through two handles on one
/// database (two connection pools, as if two processes metered the same
/// account) all land in one hourly bucket. `account` must exist and have no
/// usage in the hour of `at`. Needs a multi-threaded Tokio runtime.
///
/// # Panics
///
/// When a count is lost, with a message naming the rule.
pub async fn usage_across_handles_contract(
    a: std::sync::Arc<dyn MetadataStore>,
    b: std::sync::Arc<dyn MetadataStore>,
    account: AccountId,
    at: DateTime<Utc>,
) {
    const N: u64 = 40;
    let hour = usage_hour(at);
    let mut tasks = Vec::new();
    for i in 0..N {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let at = hour + Duration::seconds(i64::try_from(i).unwrap_or(0) * 60);
        let delta = UsageCounters {
            queries: 1,
            tokens_returned: 10,
            tokens_full: 110,
            tokens_saved: 100,
        };
        tasks.push(tokio::spawn(async move { store.add_usage(account, at, delta).await }));
    }
    for task in tasks {
        let res = task.await.unwrap_or_else(|e| panic!("add_usage task panicked: {e}"));
        ok(a.backend(), res, "add_usage from another handle");
    }
    let buckets = ok(
        b.backend(),
        b.usage_buckets(Some(account), hour, hour + Duration::hours(1)).await,
        "usage_buckets",
    );
    assert_eq!(
        buckets,
        vec![UsageBucket {
            account_id: account,
            hour,
            counters: UsageCounters {
                queries: N,
                tokens_returned: 10 * N,
                tokens_full: 110 * N,
                tokens_saved: 100 * N,
            },
        }],
        "[{}] {N} concurrent add_usage calls through two handles must all be counted",
        b.backend()
    );
}

/// Per-tool usage: hour truncation, sums per tool over a half-open range,
/// most queries first, scoped to one account, unknown account `NotFound`,
/// concurrent adds all counted.
async fn tool_usage_contract(store: &dyn MetadataStore, a1: AccountId, a3: AccountId, h0: DateTime<Utc>) {
    let b = store.backend();
    let c = |queries: u64, tokens_returned: u64, tokens_saved: u64| UsageCounters {
        queries,
        tokens_returned,
        tokens_full: tokens_returned + tokens_saved,
        tokens_saved,
    };
    let hour = |n: i64| h0 + Duration::hours(n);
    expect_not_found(
        b,
        store
            .add_tool_usage(AccountId(Uuid::new_v4()), h0, "find_symbol", c(1, 1, 1))
            .await,
        "add_tool_usage for an unknown account",
    );
    for (at, tool, delta) in [
        (h0 + Duration::minutes(5), "search_code", c(1, 10, 90)),
        (h0 + Duration::minutes(50), "find_symbol", c(1, 5, 95)),
        (hour(1), "find_symbol", c(2, 10, 190)),
        (hour(2), "read_symbol", c(1, 100, 0)),
        (hour(-1) + Duration::minutes(59), "repo_map", c(9, 9, 9)),
    ] {
        ok(b, store.add_tool_usage(a1, at, tool, delta).await, "add_tool_usage");
    }
    ok(
        b,
        store.add_tool_usage(a3, h0, "find_symbol", c(4, 4, 4)).await,
        "add_tool_usage",
    );
    let tools = |v: &[ToolUsage]| v.iter().map(|t| (t.tool.clone(), t.counters)).collect::<Vec<_>>();
    assert_eq!(
        tools(&ok(b, store.tool_usage(a1, h0, hour(2)).await, "tool_usage")),
        vec![
            ("find_symbol".to_owned(), c(3, 15, 285)),
            ("search_code".to_owned(), c(1, 10, 90)),
        ],
        "[{b}] tool_usage sums each tool over from <= hour < to (hour-truncated), most queries first"
    );
    assert_eq!(
        tools(&ok(b, store.tool_usage(a1, hour(-1), hour(3)).await, "tool_usage")),
        vec![
            ("repo_map".to_owned(), c(9, 9, 9)),
            ("find_symbol".to_owned(), c(3, 15, 285)),
            ("read_symbol".to_owned(), c(1, 100, 0)),
            ("search_code".to_owned(), c(1, 10, 90)),
        ],
        "[{b}] equal query counts are ordered by tool name"
    );
    assert_eq!(
        tools(&ok(b, store.tool_usage(a3, hour(-5), hour(5)).await, "tool_usage")),
        vec![("find_symbol".to_owned(), c(4, 4, 4))],
        "[{b}] tool_usage is scoped to the account"
    );
    assert!(
        ok(b, store.tool_usage(a1, hour(3), hour(1)).await, "tool_usage").is_empty(),
        "[{b}] a reversed range has no tools"
    );
    const WRITERS: u64 = 24;
    let adds = (0..WRITERS).map(|i| {
        let at = hour(6) + Duration::seconds(i64::try_from(i).unwrap_or(0));
        store.add_tool_usage(a3, at, "list_repos", c(1, 2, 3))
    });
    for res in futures::future::join_all(adds).await {
        ok(b, res, "concurrent add_tool_usage");
    }
    assert_eq!(
        tools(&ok(b, store.tool_usage(a3, hour(6), hour(7)).await, "tool_usage")),
        vec![("list_repos".to_owned(), c(WRITERS, 2 * WRITERS, 3 * WRITERS))],
        "[{b}] {WRITERS} concurrent add_tool_usage calls on one bucket must all be counted"
    );
}

/// The usage-metering part of the contract, on two accounts that exist and
/// have no usage yet.
async fn usage_contract(store: &dyn MetadataStore, a1: AccountId, a3: AccountId) {
    let b = store.backend();
    let c = |queries: u64, tokens_returned: u64, tokens_full: u64, tokens_saved: u64| UsageCounters {
        queries,
        tokens_returned,
        tokens_full,
        tokens_saved,
    };
    let bucket = |account_id: AccountId, hour: DateTime<Utc>, counters: UsageCounters| UsageBucket {
        account_id,
        hour,
        counters,
    };
    // A whole hour two days back, so that every bucket below is in the past.
    let h0 = usage_hour(now_secs()) - Duration::hours(48);
    let hour = |n: i64| h0 + Duration::hours(n);

    expect_not_found(
        b,
        store.add_usage(AccountId(Uuid::new_v4()), h0, c(1, 1, 1, 0)).await,
        "add_usage for an unknown account",
    );

    // Two adds inside one hour (one with sub-second precision) land in one
    // bucket that starts on the hour; the next hour starts a new bucket.
    let early = h0 + Duration::minutes(10) + Duration::nanoseconds(123_456_789);
    let late = h0 + Duration::minutes(59) + Duration::seconds(59);
    ok(b, store.add_usage(a1, early, c(1, 100, 1000, 900)).await, "add_usage");
    ok(b, store.add_usage(a1, late, c(1, 50, 500, 450)).await, "add_usage");
    ok(b, store.add_usage(a1, hour(1), c(3, 30, 300, 270)).await, "add_usage");
    ok(
        b,
        store.add_usage(a1, h0 - Duration::nanoseconds(1), c(7, 0, 0, 0)).await,
        "add_usage",
    );
    ok(
        b,
        store.add_usage(a3, h0 + Duration::minutes(30), c(2, 2, 2, 0)).await,
        "add_usage",
    );

    let a1_all = vec![
        bucket(a1, hour(-1), c(7, 0, 0, 0)),
        bucket(a1, h0, c(2, 150, 1500, 1350)),
        bucket(a1, hour(1), c(3, 30, 300, 270)),
    ];
    assert_eq!(
        ok(
            b,
            store.usage_buckets(Some(a1), hour(-5), hour(5)).await,
            "usage_buckets"
        ),
        a1_all,
        "[{b}] add_usage must truncate to the UTC hour and add up increments within an hour; usage_buckets lists \
         the account's buckets oldest first"
    );
    assert_eq!(
        ok(b, store.usage_buckets(Some(a1), h0, hour(1)).await, "usage_buckets"),
        vec![a1_all[1].clone()],
        "[{b}] usage_buckets(from, to) must include hour == from and exclude hour == to"
    );
    assert_eq!(
        ok(
            b,
            store.usage_buckets(Some(a1), h0 + Duration::minutes(1), hour(2)).await,
            "usage_buckets"
        ),
        vec![a1_all[2].clone()],
        "[{b}] usage_buckets compares the bucket's hour (its start) with `from`"
    );
    assert!(
        ok(
            b,
            store.usage_buckets(Some(a1), hour(1), hour(1)).await,
            "usage_buckets"
        )
        .is_empty(),
        "[{b}] an empty range has no buckets"
    );
    assert!(
        ok(
            b,
            store.usage_buckets(Some(a1), hour(2), hour(1)).await,
            "usage_buckets"
        )
        .is_empty(),
        "[{b}] a reversed range has no buckets"
    );
    assert_eq!(
        ok(
            b,
            store.usage_buckets(Some(a3), hour(-5), hour(5)).await,
            "usage_buckets"
        ),
        vec![bucket(a3, h0, c(2, 2, 2, 0))],
        "[{b}] usage_buckets(Some(account)) is scoped to that account"
    );

    // Every account: one bucket per (account, hour), by hour then account.
    let everyone = ok(
        b,
        store.usage_buckets(None, hour(-1), hour(2)).await,
        "usage_buckets(None)",
    );
    assert!(
        everyone
            .windows(2)
            .all(|w| (w[0].hour, w[0].account_id) < (w[1].hour, w[1].account_id)),
        "[{b}] usage_buckets(None) must be ordered by hour, then account id, one bucket per (account, hour): \
         {everyone:?}"
    );
    assert!(
        everyone.iter().all(|x| x.hour >= hour(-1) && x.hour < hour(2)),
        "[{b}] usage_buckets(None) must respect the range"
    );
    let ours: Vec<UsageBucket> = everyone
        .into_iter()
        .filter(|x| x.account_id == a1 || x.account_id == a3)
        .collect();
    let mut want = vec![
        a1_all[0].clone(),
        a1_all[1].clone(),
        bucket(a3, h0, c(2, 2, 2, 0)),
        a1_all[2].clone(),
    ];
    want.sort_by_key(|x| (x.hour, x.account_id));
    assert_eq!(
        ours, want,
        "[{b}] usage_buckets(None) must list every account's buckets"
    );

    tool_usage_contract(store, a1, a3, h0).await;

    // Concurrent adds lose nothing.
    const WRITERS: u64 = 48;
    let adds = (0..WRITERS).map(|i| {
        let at = hour(3) + Duration::seconds(i64::try_from(i).unwrap_or(0));
        store.add_usage(a3, at, c(1, 2, 5, 3))
    });
    for res in futures::future::join_all(adds).await {
        ok(b, res, "concurrent add_usage");
    }
    assert_eq!(
        ok(
            b,
            store.usage_buckets(Some(a3), hour(3), hour(4)).await,
            "usage_buckets"
        ),
        vec![bucket(a3, hour(3), c(WRITERS, 2 * WRITERS, 5 * WRITERS, 3 * WRITERS))],
        "[{b}] {WRITERS} concurrent add_usage calls on one bucket must all be counted"
    );

    // Saturation instead of overflow errors.
    ok(
        b,
        store
            .add_usage(a1, hour(4), c(USAGE_COUNTER_MAX - 1, u64::MAX, 10, 0))
            .await,
        "add_usage with huge values",
    );
    ok(
        b,
        store.add_usage(a1, hour(4), c(5, 5, 5, u64::MAX)).await,
        "add_usage that overflows",
    );
    assert_eq!(
        ok(
            b,
            store.usage_buckets(Some(a1), hour(4), hour(5)).await,
            "usage_buckets"
        ),
        vec![bucket(
            a1,
            hour(4),
            c(USAGE_COUNTER_MAX, USAGE_COUNTER_MAX, 15, USAGE_COUNTER_MAX)
        )],
        "[{b}] usage counters must saturate at USAGE_COUNTER_MAX (i64::MAX) instead of failing or wrapping"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_passes_contract() {
        let store = MemoryStore::new();
        metadata_store_contract(&store).await;
        // Runs again on a store that already holds data.
        metadata_store_contract(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_store_passes_contract_multithreaded() {
        let store = std::sync::Arc::new(MemoryStore::new());
        let s2 = store.clone();
        let other = tokio::spawn(async move { s2.count_users().await.unwrap() });
        metadata_store_contract(store.as_ref()).await;
        other.await.unwrap();
    }

    #[tokio::test]
    async fn direct_inserts() {
        let store = MemoryStore::new();
        let t = now_secs();
        let account = Account {
            id: AccountId(Uuid::new_v4()),
            name: "a".into(),
            webhook_secret: "s".into(),
            created_at: t,
        };
        store.insert_account(account.clone()).unwrap();
        assert!(matches!(
            store.insert_account(account.clone()),
            Err(StoreError::Conflict { .. })
        ));
        let user = User {
            id: UserId(Uuid::new_v4()),
            account_id: account.id,
            email: "a@b.io".into(),
            password_hash: None,
            identity: None,
            role: Role::Owner,
            created_at: t,
        };
        store.insert_user(user.clone()).unwrap();
        assert!(matches!(
            store.insert_user(user.clone()),
            Err(StoreError::Conflict { .. })
        ));
        let mut orphan = user.clone();
        orphan.id = UserId(Uuid::new_v4());
        orphan.email = "c@d.io".into();
        orphan.account_id = AccountId(Uuid::new_v4());
        assert!(matches!(store.insert_user(orphan), Err(StoreError::NotFound { .. })));
        assert_eq!(store.list_users(account.id).await.unwrap(), vec![user]);
    }
}
