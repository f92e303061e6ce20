//! In-memory fakes and contract suites for every port (crate feature
//! `testing`).
//!
//! Each submodule holds, for one port:
//!
//! * an **in-memory fake** (`Memory*`, `Fake*`, [`clock::ManualClock`]) that
//!   engine unit tests use instead of a real adapter, and
//! * a **contract suite**, an `async fn *_contract(..)` that exercises every
//!   rule of the port's documentation and panics (with a message naming the
//!   broken rule) on the first violation. The fake and every real adapter run
//!   the same suite, so they agree on the semantics the engine relies on.
//!
//! | port | fake | contract |
//! |---|---|---|
//! | [`crate::clock::Clock`] | [`clock::ManualClock`] | — |
//! | [`crate::secrets::SecretStore`] | [`secrets::MemorySecretStore`] | [`secrets::secret_store_contract`] |
//! | [`crate::blob::BlobStore`] | [`blob::MemoryBlobStore`] | [`blob::blob_store_contract`] |
//! | [`crate::store::MetadataStore`] | [`store::MemoryStore`] | [`store::metadata_store_contract`] |
//! | [`crate::queue::JobQueue`] | [`queue::MemoryQueue`] | [`queue::job_queue_contract`] |
//! | [`crate::auth::AuthVerifier`] & co. | [`auth::FakeAuth`] | [`auth::auth_verifier_contract`], [`auth::session_issuer_contract`], [`auth::password_hasher_contract`] |
//! | [`crate::git::GitMirror`] | [`git::MemoryGitMirror`], [`git::MemorySnapshot`] | [`git::git_mirror_contract`] |
//! | [`crate::index::CodeIndexer`] | [`index::MemoryIndexer`] | [`index::code_indexer_contract`] |
//! | [`crate::license::LicenseOracle`] | [`license::FakeLicenseOracle`] | [`license::license_oracle_contract`] |
//! | [`crate::telemetry::TelemetrySink`] | [`telemetry::FakeTelemetrySink`] | [`telemetry::telemetry_sink_contract`] |
//!
//! # Quick start
//!
//! In an adapter crate (dev-dependency `lettuce-ports` with
//! `features = ["testing"]`):
//!
//! ```
//! use lettuce_ports::testing::blob::{blob_store_contract, MemoryBlobStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Replace the fake by your adapter: the suite is the same.
//! let store = MemoryBlobStore::new();
//! blob_store_contract(&store).await;
//! # }
//! ```
//!
//! Contract suites use unique names (UUID v4) for everything they create, so
//! most can run against a shared backend; each function's documentation
//! states what it needs (e.g. the job-queue suite needs a fresh, empty queue).

pub mod auth;
pub mod blob;
pub mod clock;
pub mod git;
pub mod index;
pub mod license;
pub mod provider;
pub mod queue;
pub mod search;
pub mod secrets;
pub mod store;
pub mod telemetry;

use chrono::{DateTime, Utc};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex, ignoring poisoning (a panicking test must not cascade into
/// every later call on a shared fake).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Now, truncated to whole seconds (databases may truncate sub-second
/// precision; contract suites only store whole-second timestamps).
pub(crate) fn now_secs() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
}

/// Lower-case hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// Deterministic SHA-256 (hex) of arbitrary bytes, via the domain's token
/// hash over the hex encoding (injective, so equal hashes mean equal bytes).
pub(crate) fn content_hash(bytes: &[u8]) -> String {
    lettuce_domain::token::hash_token(&to_hex(bytes))
}

/// Asserts that neither the `Display` nor the `Debug` form of `value`
/// contains `needle` (skipped for needles shorter than `min_len`, which could
/// match innocently).
pub(crate) fn assert_not_leaked<T: std::fmt::Display + std::fmt::Debug>(
    value: &T,
    needle: &str,
    min_len: usize,
    rule: &str,
) {
    if needle.len() < min_len {
        return;
    }
    let display = value.to_string();
    let debug = format!("{value:?}");
    assert!(
        !display.contains(needle),
        "{rule}: the Display form leaks a secret value: {display}"
    );
    assert!(
        !debug.contains(needle),
        "{rule}: the Debug form leaks a secret value: {debug}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_hash() {
        assert_eq!(to_hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(content_hash(b"x"), content_hash(b"x"));
        assert_ne!(content_hash(b"x"), content_hash(b"y"));
        assert_eq!(content_hash(b"x").len(), 64);
        assert_eq!(now_secs().timestamp_subsec_nanos(), 0);
    }
}
