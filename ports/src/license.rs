//! License gating (PRODUCT P-6). Implementations: `license-ed25519`
//! (self-hosted), [`Ungated`] (gating off), in-memory fake.

use crate::BoxError;
use async_trait::async_trait;
use lettuce_domain::Secret;
use lettuce_domain::license::{LicenseClaims, LicenseState};

/// The license as the instance currently sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseStatus {
    /// Whether license gating is on (`LETTUCE_SELF_HOSTED`).
    pub gated: bool,
    /// State.
    pub state: LicenseState,
    /// Claims of the current key, if one verified.
    pub claims: Option<LicenseClaims>,
    /// Why the state is not `valid` (what the operator should do).
    pub reason: Option<String>,
}

impl LicenseStatus {
    /// The status of an instance with gating off.
    pub fn ungated() -> Self {
        Self {
            gated: false,
            state: LicenseState::Valid,
            claims: None,
            reason: None,
        }
    }
}

/// Answers "what may this instance do?".
#[async_trait]
pub trait LicenseOracle: Send + Sync + std::fmt::Debug + 'static {
    /// The current status (cheap: served from memory).
    async fn status(&self) -> LicenseStatus;

    /// Verifies and installs a new key; on success it takes effect at once
    /// (no restart). On error the previous status is kept.
    async fn install(&self, key: &Secret) -> Result<LicenseStatus, LicenseError>;

    /// Re-verifies the current key (hourly job) and returns the new status.
    async fn refresh(&self) -> Result<LicenseStatus, LicenseError>;
}

/// Failures of a [`LicenseOracle`]; variant names match the operator-facing
/// error names (`LicenseMissing`, `LicenseExpired`, …).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LicenseError {
    /// No key configured.
    #[error("LETTUCE_LICENSE_KEY is required when LETTUCE_SELF_HOSTED=1")]
    Missing,
    /// The key expired beyond grace.
    #[error("license expired on {expired_on}; contact sales for a renewal")]
    Expired {
        /// Expiry date (RFC 3339).
        expired_on: String,
    },
    /// Signature did not verify.
    #[error("license signature is invalid: {reason}")]
    SignatureInvalid {
        /// Why.
        reason: String,
    },
    /// Not a compact EdDSA JWT with the expected claims.
    #[error("license is malformed: {reason}")]
    Malformed {
        /// Why.
        reason: String,
    },
    /// Gating is off; there is nothing to install.
    #[error("license gating is off on this instance (LETTUCE_SELF_HOSTED is not set)")]
    NotGated,
    /// Anything else (cache file unwritable, …).
    #[error("{backend} license check failed: {source}")]
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

impl LicenseError {
    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, LicenseError::Backend { retryable: true, .. })
    }
}

/// The oracle of an instance without license gating (SaaS, development):
/// always `valid`, no claims, and `install` answers [`LicenseError::NotGated`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Ungated;

#[async_trait]
impl LicenseOracle for Ungated {
    async fn status(&self) -> LicenseStatus {
        LicenseStatus::ungated()
    }
    async fn install(&self, _key: &Secret) -> Result<LicenseStatus, LicenseError> {
        Err(LicenseError::NotGated)
    }
    async fn refresh(&self) -> Result<LicenseStatus, LicenseError> {
        Ok(LicenseStatus::ungated())
    }
}
