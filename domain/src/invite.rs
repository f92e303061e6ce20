//! Invites: how accounts get created and how teammates join.
//!
//! * An **admin invite** (minted with `CODEWAZE_ADMIN_TOKEN`) starts unbound:
//!   its first redemption creates a new account and makes the redeemer its
//!   owner; every later redemption joins that account as a member.
//! * A **team invite** (minted by an owner) is bound to the owner's account
//!   from the start; redeemers join as members.

use crate::ids::{AccountId, InviteId, UserId};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Default lifetime of an invite.
pub const DEFAULT_INVITE_TTL: Duration = Duration::days(7);

/// A stored invite. The code itself is stored only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// Identifier.
    pub id: InviteId,
    /// SHA-256 of the invite code (see [`crate::token::hash_token`]).
    pub code_hash: String,
    /// The account redeemers join; `None` until an admin invite is first used.
    pub account_id: Option<AccountId>,
    /// Name given to the account the first redemption creates.
    pub account_name: Option<String>,
    /// When set, only this (normalised) email may redeem the invite.
    pub email: Option<String>,
    /// Who minted it (`None` for the admin token).
    pub created_by: Option<UserId>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// How many users joined through it.
    pub redemptions: u32,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Why an invite cannot be redeemed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteRejection {
    /// The code is past its expiry.
    #[error("this invite expired at {0}; ask for a new one")]
    Expired(DateTime<Utc>),
    /// The invite names another email address.
    #[error("this invite was issued for a different email address")]
    WrongEmail,
}

impl Invite {
    /// Checks whether `email` (normalised) may redeem this invite at `now`.
    pub fn check_redeemable(&self, email: &str, now: DateTime<Utc>) -> Result<(), InviteRejection> {
        if now >= self.expires_at {
            return Err(InviteRejection::Expired(self.expires_at));
        }
        if let Some(required) = &self.email
            && required != email
        {
            return Err(InviteRejection::WrongEmail);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn invite(email: Option<&str>) -> Invite {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Invite {
            id: InviteId(Uuid::nil()),
            code_hash: "h".into(),
            account_id: None,
            account_name: None,
            email: email.map(str::to_owned),
            created_by: None,
            expires_at: now + DEFAULT_INVITE_TTL,
            redemptions: 0,
            created_at: now,
        }
    }

    #[test]
    fn expiry_and_email() {
        let i = invite(Some("a@b.io"));
        let ok = i.created_at + Duration::days(1);
        assert!(i.check_redeemable("a@b.io", ok).is_ok());
        assert_eq!(i.check_redeemable("c@b.io", ok), Err(InviteRejection::WrongEmail));
        assert!(matches!(
            i.check_redeemable("a@b.io", i.expires_at),
            Err(InviteRejection::Expired(_))
        ));
        assert!(invite(None).check_redeemable("anyone@x.io", ok).is_ok());
    }
}
