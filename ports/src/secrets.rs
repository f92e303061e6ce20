//! Where secrets come from. Implementations: env, Vault, AWS, GCP, in-memory.

use crate::BoxError;
use async_trait::async_trait;
pub use lettuce_domain::Secret;

/// Reads secret values by their env-var-style name (`JWT_SIGNING_KEY`).
#[async_trait]
pub trait SecretStore: Send + Sync + std::fmt::Debug + 'static {
    /// Short backend name for messages (`env`, `vault`, …).
    fn backend(&self) -> &'static str;

    /// The value stored under `name`. MUST return [`SecretError::NotFound`]
    /// when the backend answers "no such secret", and
    /// [`SecretError::Backend`] for every other failure — never a default
    /// value. MUST NOT cache beyond what the backend documents. The value
    /// never appears in an error.
    async fn get(&self, name: &str) -> Result<Secret, SecretError>;
}

/// Failures of a [`SecretStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The backend has no secret of that name.
    #[error("secret {name} not found in {backend}")]
    NotFound {
        /// Backend name.
        backend: &'static str,
        /// Secret name.
        name: String,
    },
    /// The name is not acceptable to this backend.
    #[error("invalid secret name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Anything else (network, permission, throttling).
    #[error("{backend} secret store failed: {source}")]
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

impl SecretError {
    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SecretError::Backend { retryable: true, .. })
    }
}

/// Validates a secret name: `[A-Z0-9_]+`, starting with a letter, at most 128
/// characters. Shared by adapters so every backend agrees.
pub fn validate_secret_name(name: &str) -> Result<(), SecretError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(SecretError::InvalidName {
            name: name.chars().take(64).collect(),
            reason: "secret names are upper-case env-var names ([A-Z][A-Z0-9_]*, ≤128 chars)".into(),
        })
    }
}
