//! # lettuce-ports
//!
//! The traits the Lettuce engine talks through, their error enums and value
//! types. Every port is an `#[async_trait]` trait that is
//! `Send + Sync + Debug + 'static`, so the engine holds `Arc<dyn Port>` and
//! adapters are chosen at run time by `apps/bootstrap`.
//!
//! | port | what it abstracts | embedded adapter |
//! |---|---|---|
//! | [`store::MetadataStore`] | accounts, users, invites, API keys, repos, usage, instance settings | `store-sea-orm` (SQLite) |
//! | [`queue::JobQueue`] | durable background jobs with leases | `queue-sqlite` |
//! | [`blob::BlobStore`] | index artifacts | `blob-object-store` (fs) |
//! | [`secrets::SecretStore`] | secret values by env-var name | `secrets-env`, `secrets-vault`, `secrets-aws`, `secrets-gcp` |
//! | [`auth::AuthVerifier`], [`auth::SessionIssuer`], [`auth::PasswordHasher`] | tokens and passwords | `auth-local` |
//! | [`git::GitMirror`], [`git::GitProvider`] | cloning and code hosts | `git-generic` |
//! | [`index::CodeIndexer`], [`index::CodeSearch`] | building and querying code indexes | `index-tantivy` |
//! | [`tokens::TokenCounter`] | counting tokens for accounting | `tokens-bpe` |
//! | [`license::LicenseOracle`] | license state | [`license::Ungated`] |
//! | [`telemetry::TelemetrySink`] | sending the daily heartbeat | `telemetry-http` |
//! | [`clock::Clock`] | time | [`clock::SystemClock`] |
//!
//! With the `testing` feature every port also has an in-memory fake and a
//! contract-suite function (`*_contract`) that the fake and every adapter run.
//!
//! Ports name no vendor types: adapters convert their own errors into the
//! port's error enum with the `Backend` variant.
#![deny(missing_docs)]

pub mod auth;
pub mod blob;
pub mod clock;
pub mod config;
pub mod git;
pub mod index;
pub mod license;
pub mod queue;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod trace;

#[cfg(feature = "testing")]
pub mod testing;

/// A boxed error from an adapter's backend, carried as the `source` of a
/// port's `Backend` variant.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Converts anything displayable into a [`BoxError`] (for messages without a
/// typed source).
pub fn box_msg(msg: impl Into<String>) -> BoxError {
    msg.into().into()
}

/// `e` followed by its sources, joined with `: ` (a cause already contained
/// in the text so far is not repeated). For adapter error messages.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}

pub use lettuce_domain as domain;
