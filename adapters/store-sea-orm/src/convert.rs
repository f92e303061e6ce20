//! Conversions between entity rows and domain types.

use crate::entity::{account, api_key, invite, repo, user};
use crate::error::backend_msg;
use lettuce_domain::account::{Account, ExternalIdentity, Role, User};
use lettuce_domain::api_key::ApiKey;
use lettuce_domain::invite::Invite;
use lettuce_domain::repo::{IndexProgress, Repo, RepoStatus};
use lettuce_domain::{AccountId, ApiKeyId, InviteId, RepoId, UserId};
use lettuce_ports::store::{NewAccount, NewUser, StoreError};
use sea_orm::ActiveValue::Set;

/// `u64` → `BIGINT` (saturating; counts never get near `i64::MAX`).
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `BIGINT` → `u64` (negative values, which the store never writes, read as 0).
pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn account_from(m: account::Model) -> Account {
    Account {
        id: AccountId(m.id),
        name: m.name,
        webhook_secret: m.webhook_secret,
        created_at: m.created_at,
    }
}

pub(crate) fn account_active(a: &NewAccount) -> account::ActiveModel {
    account::ActiveModel {
        id: Set(a.id.0),
        name: Set(a.name.clone()),
        webhook_secret: Set(a.webhook_secret.clone()),
        created_at: Set(a.created_at),
    }
}

pub(crate) fn user_from(backend: &'static str, m: user::Model) -> Result<User, StoreError> {
    let role = Role::parse(&m.role)
        .ok_or_else(|| backend_msg(backend, format!("user {} has unknown role `{}`", m.id, m.role)))?;
    let identity = match (m.identity_issuer, m.identity_subject) {
        (Some(issuer), Some(subject)) => Some(ExternalIdentity { issuer, subject }),
        _ => None,
    };
    Ok(User {
        id: UserId(m.id),
        account_id: AccountId(m.account_id),
        email: m.email,
        password_hash: m.password_hash,
        identity,
        role,
        created_at: m.created_at,
    })
}

pub(crate) fn user_active(u: &NewUser, account: AccountId, role: Role) -> user::ActiveModel {
    user::ActiveModel {
        id: Set(u.id.0),
        account_id: Set(account.0),
        email: Set(u.email.clone()),
        password_hash: Set(u.password_hash.clone()),
        identity_issuer: Set(u.identity.as_ref().map(|i| i.issuer.clone())),
        identity_subject: Set(u.identity.as_ref().map(|i| i.subject.clone())),
        role: Set(role.as_str().to_owned()),
        created_at: Set(u.created_at),
    }
}

pub(crate) fn invite_from(m: invite::Model) -> Invite {
    Invite {
        id: InviteId(m.id),
        code_hash: m.code_hash,
        account_id: m.account_id.map(AccountId),
        account_name: m.account_name,
        email: m.email,
        created_by: m.created_by.map(UserId),
        expires_at: m.expires_at,
        redemptions: u32::try_from(m.redemptions.max(0)).unwrap_or(u32::MAX),
        created_at: m.created_at,
    }
}

pub(crate) fn invite_active(i: &Invite) -> invite::ActiveModel {
    invite::ActiveModel {
        id: Set(i.id.0),
        code_hash: Set(i.code_hash.clone()),
        account_id: Set(i.account_id.map(|a| a.0)),
        account_name: Set(i.account_name.clone()),
        email: Set(i.email.clone()),
        created_by: Set(i.created_by.map(|u| u.0)),
        expires_at: Set(i.expires_at),
        redemptions: Set(i64::from(i.redemptions)),
        created_at: Set(i.created_at),
    }
}

pub(crate) fn api_key_from(m: api_key::Model) -> ApiKey {
    ApiKey {
        id: ApiKeyId(m.id),
        account_id: AccountId(m.account_id),
        user_id: UserId(m.user_id),
        name: m.name,
        prefix: m.prefix,
        key_hash: m.key_hash,
        created_at: m.created_at,
        last_used_at: m.last_used_at,
        revoked_at: m.revoked_at,
    }
}

pub(crate) fn api_key_active(k: &ApiKey) -> api_key::ActiveModel {
    api_key::ActiveModel {
        id: Set(k.id.0),
        account_id: Set(k.account_id.0),
        user_id: Set(k.user_id.0),
        name: Set(k.name.clone()),
        prefix: Set(k.prefix.clone()),
        key_hash: Set(k.key_hash.clone()),
        created_at: Set(k.created_at),
        last_used_at: Set(k.last_used_at),
        revoked_at: Set(k.revoked_at),
    }
}

pub(crate) fn repo_from(backend: &'static str, m: repo::Model) -> Result<Repo, StoreError> {
    let status = RepoStatus::parse(&m.status)
        .ok_or_else(|| backend_msg(backend, format!("repo {} has unknown status `{}`", m.id, m.status)))?;
    Ok(Repo {
        id: RepoId(m.id),
        account_id: AccountId(m.account_id),
        url: m.url,
        name: m.name,
        branch: m.branch,
        status,
        indexed_commit: m.indexed_commit,
        error: m.error,
        progress: IndexProgress {
            files_done: to_u64(m.files_done),
            files_total: to_u64(m.files_total),
        },
        sealed_credentials: m.sealed_credentials,
        created_at: m.created_at,
        updated_at: m.updated_at,
        indexed_at: m.indexed_at,
    })
}

pub(crate) fn repo_active(r: &Repo) -> repo::ActiveModel {
    repo::ActiveModel {
        id: Set(r.id.0),
        account_id: Set(r.account_id.0),
        url: Set(r.url.clone()),
        name: Set(r.name.clone()),
        branch: Set(r.branch.clone()),
        branch_key: Set(branch_key(r.branch.as_deref())),
        status: Set(r.status.as_str().to_owned()),
        indexed_commit: Set(r.indexed_commit.clone()),
        error: Set(r.error.clone()),
        files_done: Set(to_i64(r.progress.files_done)),
        files_total: Set(to_i64(r.progress.files_total)),
        sealed_credentials: Set(r.sealed_credentials.clone()),
        created_at: Set(r.created_at),
        updated_at: Set(r.updated_at),
        indexed_at: Set(r.indexed_at),
    }
}

/// The non-null uniqueness key of a branch: the branch, or `""` for the
/// remote's default branch.
pub(crate) fn branch_key(branch: Option<&str>) -> String {
    branch.unwrap_or_default().to_owned()
}
