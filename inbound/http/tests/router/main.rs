//! Router-level tests of the inbound HTTP adapter: the real router over an
//! engine built from the in-memory fakes of `lettuce_ports::testing`, driven
//! with `tower::ServiceExt::oneshot` (no sockets).
//!
//! * `errors` — the stable error format for every failure class;
//! * `eval` — eval runs over the API (start, one at a time, read back);
//! * `flows` — happy paths (health, invites, sign-up, login, API keys, team,
//!   account, the repo lifecycle through the worker);
//! * `isolation` — accounts cannot see or touch each other's data;
//! * `tenancy` — the route table: every documented operation with another
//!   account's and a member's credentials (404 / 403);
//! * `license` — license states and limits;
//! * `unavailable` — failing dependencies give 503/500 without leaking internals;
//! * `secrets` — passwords, invite codes, API keys, tokens and URL credentials
//!   appear only where they must;
//! * `telemetry` — the admin telemetry state and opt-out toggle;
//! * `session` — the session cookie, CSRF tokens and operator sessions;
//! * `ratelimit` — sign-in limits per IP and per email (429 + Retry-After);
//! * `openapi` — the document matches the router.

mod errors;
mod eval;
mod flows;
mod integrations;
mod isolation;
mod license;
mod openapi;
mod ratelimit;
mod secrets;
mod session;
mod support;
mod telemetry;
mod tenancy;
mod unavailable;
