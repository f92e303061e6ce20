//! Accounts (tenants) and their users.

use crate::ids::{AccountId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A tenant: a team that owns repos, users, API keys and usage. Every query is
/// scoped to exactly one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Identifier.
    pub id: AccountId,
    /// Display name.
    pub name: String,
    /// Per-account secret that signs code-host webhooks (hex, 32 bytes).
    /// Shown only to owners.
    pub webhook_secret: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// What a user may do inside their account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages the account: invites, integrations, license and telemetry.
    Owner,
    /// Uses the account: repos, search, API keys.
    Member,
}

impl Role {
    /// Stable string form (`owner`, `member`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Member => "member",
        }
    }
    /// Parses the stable string form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

/// An identity asserted by an external identity provider (OIDC, Supabase,
/// JWKS): the pair `(issuer, subject)` is stable for one human.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExternalIdentity {
    /// The `iss` claim.
    pub issuer: String,
    /// The `sub` claim.
    pub subject: String,
}

/// A person who signs in to Lettuce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Identifier.
    pub id: UserId,
    /// The account the user belongs to.
    pub account_id: AccountId,
    /// Normalised (lower-case) email address; unique across the instance.
    pub email: String,
    /// Argon2 PHC string for local accounts; `None` for IdP-only users.
    #[serde(skip_serializing)]
    pub password_hash: Option<String>,
    /// External identity for IdP users.
    pub identity: Option<ExternalIdentity>,
    /// Role inside the account.
    pub role: Role,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}
