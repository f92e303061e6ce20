//! In-memory [`SecretStore`] and its contract suite.

use crate::secrets::{Secret, SecretError, SecretStore, validate_secret_name};
use crate::testing::{assert_not_leaked, lock};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A [`SecretStore`] backed by a map. Values are [`Secret`]s, so the derived
/// `Debug` shows names only.
///
/// ```
/// use lettuce_ports::testing::secrets::MemorySecretStore;
/// let store = MemorySecretStore::new().with("JWT_SIGNING_KEY", "k3y-material");
/// store.insert("OTHER", "value");
/// assert!(!format!("{store:?}").contains("k3y-material"));
/// ```
#[derive(Debug, Default)]
pub struct MemorySecretStore {
    values: Mutex<BTreeMap<String, Secret>>,
    unavailable: Mutex<bool>,
}

impl MemorySecretStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder form of [`MemorySecretStore::insert`].
    pub fn with(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    /// Stores (or replaces) `name`. Names are not validated here, so a test
    /// can seed a name that `get` then rejects.
    pub fn insert(&self, name: impl Into<String>, value: impl Into<String>) {
        lock(&self.values).insert(name.into(), Secret::new(value.into()));
    }

    /// Removes `name`; later reads answer `NotFound`.
    pub fn remove(&self, name: &str) {
        lock(&self.values).remove(name);
    }

    /// While `true`, every `get` fails with a retryable
    /// [`SecretError::Backend`] (simulates an unreachable vault).
    pub fn set_unavailable(&self, unavailable: bool) {
        *lock(&self.unavailable) = unavailable;
    }
}

#[async_trait]
impl SecretStore for MemorySecretStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        validate_secret_name(name)?;
        if *lock(&self.unavailable) {
            return Err(SecretError::Backend {
                backend: "memory",
                source: crate::box_msg("the in-memory secret store is marked unavailable"),
                retryable: true,
            });
        }
        lock(&self.values)
            .get(name)
            .cloned()
            .ok_or_else(|| SecretError::NotFound {
                backend: "memory",
                name: name.to_owned(),
            })
    }
}

/// Checks the [`SecretStore`] contract.
///
/// * every `(name, value)` in `seeded` (which the caller stored beforehand)
///   reads back as `value`;
/// * `missing` (a valid name the backend does not have) answers
///   [`SecretError::NotFound`];
/// * invalid names (`lower`, empty, `A-B`, `../X`) answer
///   [`SecretError::InvalidName`];
/// * neither the `Display` nor the `Debug` form of any error or returned
///   [`Secret`] contains a seeded value (checked for values of 6 characters
///   or more; seed distinctive values).
///
/// # Panics
///
/// On the first broken rule, with a message naming it.
pub async fn secret_store_contract(store: &dyn SecretStore, seeded: &[(&str, &str)], missing: &str) {
    let backend = store.backend();
    assert!(!backend.is_empty(), "SecretStore::backend must name the backend");
    assert!(
        !seeded.iter().any(|(n, _)| *n == missing),
        "contract misuse: `missing` ({missing}) is one of the seeded names"
    );
    let check_no_leak = |what: &str, rendered: &dyn LeakCheck| {
        for (_, value) in seeded {
            rendered.check(value, what);
        }
    };

    for (name, value) in seeded {
        let got = store
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("[{backend}] get of seeded secret {name} must succeed, got error: {e}"));
        assert_eq!(
            got.expose(),
            *value,
            "[{backend}] get({name}) must return the seeded value"
        );
        check_no_leak("a returned Secret", &got);
        // A second read answers the same (no one-shot values).
        let again = store
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("[{backend}] second get({name}) failed: {e}"));
        assert_eq!(
            again.expose(),
            *value,
            "[{backend}] a second get({name}) must return the same value"
        );
    }

    match store.get(missing).await {
        Err(e @ SecretError::NotFound { .. }) => check_no_leak("the NotFound error", &e),
        Err(e) => panic!("[{backend}] get({missing}) of a missing secret must be SecretError::NotFound, got: {e:?}"),
        Ok(_) => panic!("[{backend}] get({missing}) of a missing secret must be NotFound, not a (default) value"),
    }

    for bad in ["lower", "", "A-B", "../X"] {
        match store.get(bad).await {
            Err(e @ SecretError::InvalidName { .. }) => check_no_leak("the InvalidName error", &e),
            Err(e) => panic!("[{backend}] get({bad:?}) must be SecretError::InvalidName, got: {e:?}"),
            Ok(_) => panic!("[{backend}] get({bad:?}) must be rejected as SecretError::InvalidName"),
        }
    }
}

/// Something whose `Display`/`Debug` must not contain a seeded value.
trait LeakCheck {
    fn check(&self, value: &str, what: &str);
}

impl<T: std::fmt::Display + std::fmt::Debug> LeakCheck for T {
    fn check(&self, value: &str, what: &str) {
        assert_not_leaked(self, value, 6, &format!("{what} must never contain a secret value"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_passes_contract() {
        let store = MemorySecretStore::new()
            .with("JWT_SIGNING_KEY", "signing-key-0123456789")
            .with("DB_PASSWORD", "hunter2hunter2");
        secret_store_contract(
            &store,
            &[
                ("JWT_SIGNING_KEY", "signing-key-0123456789"),
                ("DB_PASSWORD", "hunter2hunter2"),
            ],
            "NOT_THERE",
        )
        .await;
    }

    #[tokio::test]
    async fn unavailable_is_retryable_backend_error() {
        let store = MemorySecretStore::new().with("A", "value-a");
        store.set_unavailable(true);
        let err = store.get("A").await.unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        store.set_unavailable(false);
        assert_eq!(store.get("A").await.unwrap().expose(), "value-a");
        store.remove("A");
        assert!(matches!(store.get("A").await, Err(SecretError::NotFound { .. })));
    }

    #[tokio::test]
    #[should_panic(expected = "must be NotFound")]
    async fn contract_catches_default_values() {
        #[derive(Debug)]
        struct Defaulting;
        #[async_trait]
        impl SecretStore for Defaulting {
            fn backend(&self) -> &'static str {
                "defaulting"
            }
            async fn get(&self, name: &str) -> Result<Secret, SecretError> {
                validate_secret_name(name)?;
                Ok(Secret::new(""))
            }
        }
        secret_store_contract(&Defaulting, &[], "MISSING").await;
    }
}
