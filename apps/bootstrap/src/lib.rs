//! # lettuce-bootstrap
//!
//! The one place that reads the process environment. [`Config::from_env`]
//! turns it into a typed, validated configuration (every error names the
//! variable and the fix); [`wire`] picks the adapters compiled into this
//! build (cargo features mirror adapter crates) and builds the
//! [`lettuce_engine::Engine`].
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let config = lettuce_bootstrap::Config::from_env(&lettuce_bootstrap::EnvMap::from_process())?;
//! let runtime = lettuce_bootstrap::wire(&config).await?;
//! println!("admin token: {}", runtime.admin_token_source);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod auth;
pub mod code_hosts;
mod config;
mod features;
#[cfg(all(feature = "index-tantivy", feature = "source-local", feature = "blob-fs"))]
pub mod local;
mod observability;
mod secret_store;
mod secrets;
mod wire;

pub use config::{
    BlobBackend, Config, ConfigError, ConfigErrors, DEFAULT_TELEMETRY_URL, EnvMap, LogFormat, StoreBackend,
    TelemetryConfig,
};
pub use features::{ADAPTER_FEATURES, enabled_features};
pub use observability::{DEFAULT_LOG_FILTER, Observability, ObservabilityConfig, install_metrics};
pub use secret_store::{SecretBackend, SecretsConfig};
pub use secrets::{SECRET_VARIABLES, SecretSource, SecretVar, secret_report};
#[cfg(feature = "index-tantivy")]
pub use wire::code_index;
pub use wire::{Runtime, migrate, token_counter, wire};
