//! Strongly typed identifiers. All are UUIDs (v7 where the engine mints them,
//! so they sort by creation time).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self { Self(id) }
            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid { self.0 }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { self.0.fmt(f) }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }
        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> { Uuid::parse_str(s).map(Self) }
        }
        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self { Self(id) }
        }
    };
}

id_type!(/// Identifies an account (a tenant: a team that owns repos).
    AccountId);
id_type!(/// Identifies a user.
    UserId);
id_type!(/// Identifies an invite.
    InviteId);
id_type!(/// Identifies an API key.
    ApiKeyId);
id_type!(/// Identifies a repository registered with Lettuce.
    RepoId);
id_type!(/// Identifies a background job.
    JobId);
