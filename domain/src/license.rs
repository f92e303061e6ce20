//! License states and what each permits (PRODUCT P-6).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Grace period after `exp` during which everything still works, with warnings.
pub const GRACE_DAYS: i64 = 14;

/// The four license states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenseState {
    /// Signed, unexpired (or gating is off).
    Valid,
    /// Past `exp` by at most 14 days: everything works, loudly warned.
    Grace,
    /// Past grace: existing indexes stay queryable; no new repos, indexing, users or invites.
    ReadOnly,
    /// Missing key or bad signature: only health, license status and license upload.
    Locked,
}

impl LicenseState {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseState::Valid => "valid",
            LicenseState::Grace => "grace",
            LicenseState::ReadOnly => "read_only",
            LicenseState::Locked => "locked",
        }
    }

    /// Whether this state permits `action`.
    pub fn permits(self, action: LicensedAction) -> bool {
        match self {
            LicenseState::Valid | LicenseState::Grace => true,
            LicenseState::ReadOnly => matches!(action, LicensedAction::Query),
            LicenseState::Locked => false,
        }
    }
}

/// Things the license gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicensedAction {
    /// Search, symbols, MCP reads, repo listing.
    Query,
    /// Adding a repository.
    AddRepo,
    /// Cloning and indexing.
    Index,
    /// Minting invites and creating users.
    AddUser,
}

/// The claims of a license key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseClaims {
    /// Issuer.
    pub iss: String,
    /// License id (`lic_…`).
    pub sub: String,
    /// Customer id.
    pub customer_id: String,
    /// Tier name.
    pub tier: String,
    /// Seat limit.
    pub seats: u32,
    /// Repository limit.
    pub repo_cap: u32,
    /// Expiry (seconds since epoch).
    pub exp: i64,
    /// Issue time (seconds since epoch).
    pub iat: i64,
    /// Enabled features.
    #[serde(default)]
    pub features: Vec<String>,
    /// Whether telemetry may be disabled (absent = required).
    #[serde(default = "default_true")]
    pub telemetry_required: bool,
}

fn default_true() -> bool {
    true
}

/// The state a signature-valid license with expiry `exp` is in at `now`.
pub fn state_at(exp: DateTime<Utc>, now: DateTime<Utc>) -> LicenseState {
    if now < exp {
        LicenseState::Valid
    } else if now < exp + chrono::Duration::days(GRACE_DAYS) {
        LicenseState::Grace
    } else {
        LicenseState::ReadOnly
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn states_around_expiry() {
        let exp = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(state_at(exp, exp - Duration::seconds(1)), LicenseState::Valid);
        assert_eq!(state_at(exp, exp), LicenseState::Grace);
        assert_eq!(state_at(exp, exp + Duration::days(3)), LicenseState::Grace);
        assert_eq!(state_at(exp, exp + Duration::days(14)), LicenseState::ReadOnly);
        assert!(LicenseState::ReadOnly.permits(LicensedAction::Query));
        assert!(!LicenseState::ReadOnly.permits(LicensedAction::AddRepo));
        assert!(!LicenseState::Locked.permits(LicensedAction::Query));
    }
}
