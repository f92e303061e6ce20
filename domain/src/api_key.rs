//! API keys (personal access tokens) for agents, scripts and MCP clients.

use crate::ids::{AccountId, ApiKeyId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A stored API key. The key itself is shown once at creation and stored only
/// as a SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Identifier.
    pub id: ApiKeyId,
    /// Account the key acts in.
    pub account_id: AccountId,
    /// User the key acts as.
    pub user_id: UserId,
    /// Name given by the user ("claude-code laptop").
    pub name: String,
    /// Displayable start of the key (`lk_3f9a01…`).
    pub prefix: String,
    /// SHA-256 of the key.
    #[serde(skip_serializing)]
    pub key_hash: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last successful use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revocation time; a revoked key never authenticates again.
    pub revoked_at: Option<DateTime<Utc>>,
}
