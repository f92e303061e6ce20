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

/// A secret-bearing setting read lazily through a [`SecretStore`] by its
/// env-var name (`GITHUB_APP_PRIVATE_KEY`, `LETTUCE_OIDC_CLIENT_SECRET`, …).
///
/// Adapters hold one of these instead of the value, so every secret comes
/// from the configured store (env, Vault, AWS, GCP) and a rotation in the
/// store is picked up without a restart. A value read successfully is reused
/// for `ttl` (default 5 minutes); after that the next [`SecretHandle::get`]
/// reads the store again, and a store that is down then fails that call
/// (the caller maps it to a 503) until it answers again. `Debug` shows the
/// name and backend, never the value.
#[derive(Clone)]
pub struct SecretHandle {
    name: &'static str,
    store: std::sync::Arc<dyn SecretStore>,
    ttl: std::time::Duration,
    cached: std::sync::Arc<std::sync::Mutex<Option<(Secret, std::time::Instant)>>>,
}

impl std::fmt::Debug for SecretHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretHandle")
            .field("name", &self.name)
            .field("backend", &self.store.backend())
            .finish()
    }
}

impl SecretHandle {
    /// How long a value read from the store is reused by default.
    pub const DEFAULT_TTL: std::time::Duration = std::time::Duration::from_secs(300);

    /// A handle on `name` in `store`, reused for [`Self::DEFAULT_TTL`].
    pub fn new(store: std::sync::Arc<dyn SecretStore>, name: &'static str) -> Self {
        Self {
            name,
            store,
            ttl: Self::DEFAULT_TTL,
            cached: Default::default(),
        }
    }

    /// The same handle with another reuse period (`Duration::ZERO`: read the
    /// store at every call).
    pub fn with_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The env-var name of the secret.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The backend it is read from (`env`, `vault`, …).
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// The value: the one read within the last `ttl`, else a fresh read.
    pub async fn get(&self) -> Result<Secret, SecretError> {
        if let Some((value, at)) = self.cached.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        let value = self.store.get(self.name).await?;
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some((value.clone(), std::time::Instant::now()));
        Ok(value)
    }

    /// Like [`Self::get`], but `Ok(None)` when the store has no such secret.
    pub async fn get_optional(&self) -> Result<Option<Secret>, SecretError> {
        match self.get().await {
            Ok(v) => Ok(Some(v)),
            Err(SecretError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The value last read, however old (`None` before the first read).
    /// For decisions that must not wait on the store — e.g. "could this
    /// token be the secret at all?" during an outage — never as a substitute
    /// for [`Self::get`].
    pub fn last_known(&self) -> Option<Secret> {
        self.cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(v, _)| v.clone())
    }

    /// Forgets the reused value (after the backend rejected it, say).
    pub fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    #[derive(Debug, Default)]
    struct Counting {
        reads: AtomicUsize,
        down: AtomicBool,
    }

    #[async_trait]
    impl SecretStore for Counting {
        fn backend(&self) -> &'static str {
            "counting"
        }
        async fn get(&self, name: &str) -> Result<Secret, SecretError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(SecretError::Backend {
                    backend: "counting",
                    source: crate::box_msg("down"),
                    retryable: true,
                });
            }
            let n = self.reads.fetch_add(1, Ordering::SeqCst);
            if name == "MISSING" {
                return Err(SecretError::NotFound {
                    backend: "counting",
                    name: name.into(),
                });
            }
            Ok(Secret::new(format!("value-{n}")))
        }
    }

    #[tokio::test]
    async fn handle_reuses_within_ttl_and_recovers_after_outage() {
        let store = Arc::new(Counting::default());
        let h = SecretHandle::new(store.clone(), "CLIENT_SECRET");
        assert_eq!(h.get().await.unwrap().expose(), "value-0");
        assert_eq!(h.get().await.unwrap().expose(), "value-0");
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);
        assert!(!format!("{h:?}").contains("value-"));

        let fresh = SecretHandle::new(store.clone(), "CLIENT_SECRET").with_ttl(std::time::Duration::ZERO);
        store.down.store(true, Ordering::SeqCst);
        assert!(fresh.get().await.unwrap_err().is_retryable());
        store.down.store(false, Ordering::SeqCst);
        assert!(fresh.get().await.is_ok());

        let missing = SecretHandle::new(store, "MISSING");
        assert!(missing.get_optional().await.unwrap().is_none());
    }
}
