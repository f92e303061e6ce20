//! # lettuce-secrets-env
//!
//! A [`SecretStore`] that reads secrets from environment variables (backend
//! name `env`). This is the one place in Lettuce that reads the process
//! environment for secret values; everything else asks a [`SecretStore`].
//!
//! * Names are checked with [`validate_secret_name`] (`[A-Z][A-Z0-9_]*`).
//! * An unset **or empty** variable is [`SecretError::NotFound`] — an empty
//!   signing key is a configuration mistake, never a usable secret.
//! * A value that is not UTF-8 is [`SecretError::Backend`]; the error names
//!   the variable, never the value.
//! * The process environment is read at every `get` (no caching), so a
//!   restart-free rotation through the environment is visible immediately.
//!
//! ```
//! # async fn demo() {
//! use lettuce_ports::secrets::SecretStore;
//! use lettuce_secrets_env::EnvSecretStore;
//!
//! let store = EnvSecretStore::from_map([("JWT_SIGNING_KEY".to_string(), "k".repeat(32))].into());
//! let key = store.get("JWT_SIGNING_KEY").await.unwrap();
//! assert_eq!(key.expose().len(), 32);
//! assert!(!format!("{store:?}").contains("kkkk"));
//!
//! let from_env = EnvSecretStore::from_process_env();
//! # let _ = from_env;
//! # }
//! ```
#![deny(missing_docs)]

use async_trait::async_trait;
use lettuce_ports::secrets::{Secret, SecretError, SecretStore, validate_secret_name};
use std::collections::HashMap;
use std::fmt;

const BACKEND: &str = "env";

enum Source {
    Process,
    Map(HashMap<String, String>),
}

/// Reads secrets from the process environment, or from a fixed map that
/// stands in for it.
///
/// `Debug` shows where values come from (and, for a map, the names), never
/// the values.
pub struct EnvSecretStore {
    source: Source,
}

impl fmt::Debug for EnvSecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("EnvSecretStore");
        match &self.source {
            Source::Process => d.field("source", &"process environment"),
            Source::Map(map) => {
                let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
                names.sort_unstable();
                d.field("source", &"map").field("names", &names)
            }
        };
        d.finish()
    }
}

impl EnvSecretStore {
    /// Reads `std::env` at each [`SecretStore::get`].
    pub fn from_process_env() -> Self {
        Self {
            source: Source::Process,
        }
    }

    /// Serves the given `NAME → value` map instead of the environment (tests,
    /// embedding). The same rules apply: an empty value is not found.
    pub fn from_map(values: HashMap<String, String>) -> Self {
        Self {
            source: Source::Map(values),
        }
    }
}

#[async_trait]
impl SecretStore for EnvSecretStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        validate_secret_name(name)?;
        let not_found = || SecretError::NotFound {
            backend: BACKEND,
            name: name.to_owned(),
        };
        let value = match &self.source {
            Source::Map(map) => map.get(name).cloned(),
            Source::Process => match std::env::var_os(name) {
                None => None,
                Some(raw) => Some(raw.into_string().map_err(|_| SecretError::Backend {
                    backend: BACKEND,
                    source: lettuce_ports::box_msg(format!("environment variable {name} is not valid UTF-8")),
                    retryable: false,
                })?),
            },
        };
        match value {
            Some(v) if !v.is_empty() => Ok(Secret::new(v)),
            _ => Err(not_found()),
        }
    }
}
