//! # lettuce-domain
//!
//! The pure core of Lettuce: entities, value objects and rules. This crate does
//! **no I/O**, has **no async**, and never reads the environment or the clock —
//! time is always passed in. Everything here can be unit-tested with plain
//! values.
//!
//! ```
//! use lettuce_domain::repo::{RepoUrl, RepoStatus};
//! let url = RepoUrl::parse("https://user:tok@github.com/acme/widgets.git").unwrap();
//! assert_eq!(url.redacted(), "https://github.com/acme/widgets.git");
//! assert!(url.credentials().is_some());
//! assert_eq!(RepoStatus::Pending.as_str(), "pending");
//! ```
#![deny(missing_docs)]

pub mod account;
pub mod api_key;
pub mod backoff;
pub mod code;
pub mod codehost;
pub mod error;
pub mod eval;
pub mod ids;
pub mod invite;
pub mod license;
pub mod net;
pub mod rank;
pub mod repo;
pub mod secret;
pub mod telemetry;
pub mod token;

pub use error::ValidationError;
pub use ids::{AccountId, ApiKeyId, InviteId, JobId, RepoId, UserId};
pub use secret::Secret;
