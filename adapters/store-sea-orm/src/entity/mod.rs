//! sea-orm entities, one module per table. Private to the crate: the port's
//! domain types are the public surface.
//!
//! Column conventions (portable across SQLite and PostgreSQL):
//! ids are UUIDs, timestamps are `DateTime<Utc>` (timestamptz on PostgreSQL,
//! RFC 3339 text on SQLite), counters are `BIGINT`, enums are strings.

pub(crate) mod account;
pub(crate) mod api_key;
pub(crate) mod eval_run;
pub(crate) mod instance_setting;
pub(crate) mod invite;
pub(crate) mod provider_installation;
pub(crate) mod repo;
pub(crate) mod repo_link;
pub(crate) mod usage_hourly;
pub(crate) mod usage_tool_hourly;
pub(crate) mod used_once;
pub(crate) mod user;
pub(crate) mod webhook_delivery;
