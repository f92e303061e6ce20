//! # lettuce-engine
//!
//! The embeddable Lettuce engine: every use case (invites, sign-up, login, API
//! keys, repos, indexing worker) written against the ports in
//! [`lettuce_ports`]. It never reads the environment or files and never names
//! an adapter: whoever embeds it hands it `Arc<dyn Port>`s.
//!
//! ```no_run
//! # async fn demo(ports: lettuce_engine::Ports) -> Result<(), lettuce_engine::EngineError> {
//! use lettuce_engine::{Engine, EngineSettings};
//! use lettuce_domain::Secret;
//!
//! let engine = Engine::builder()
//!     .ports(ports)
//!     .settings(EngineSettings::new(Secret::new("admin-token"), [7u8; 32]))
//!     .build()?;
//! let admin = engine.authenticate(&Secret::new("admin-token")).await?;
//! let invite = engine.create_admin_invite(&admin, Default::default()).await?;
//! let signed_up = engine
//!     .signup(lettuce_engine::SignupRequest {
//!         invite_code: invite.code.clone(),
//!         email: "ada@example.com".into(),
//!         password: Secret::new("correct horse battery"),
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Background work runs in [`Worker`]: `Worker::new(engine.clone()).run(cancel)`.
#![deny(missing_docs)]

mod accounts;
mod builder;
mod caller;
mod crypto;
mod error;
mod eval;
mod eval_runs;
mod freshness;
mod integrations;
mod keys;
mod license;
mod navigate;
mod observe;
mod ready;
mod repos;
mod session;
mod telemetry;
mod usage;
mod worker;

pub use accounts::{
    AccountView, AdminInviteRequest, ApiKeyCreated, InviteCreated, SignupRequest, SignupResult, WebhookUrls,
};
pub use builder::{Engine, EngineBuilder, EngineSettings, Ports};
pub use caller::{AuthMethod, Caller, UserCtx};
pub use crypto::key_id;
pub use error::{EngineError, ErrorKind};
pub use eval::{
    EvalCase, EvalPlan, EvalPorts, EvalProgress, EvalSource, GREP_MAX_FILE_BYTES, grep_matcher, grep_rank,
    matching_lines, run_eval, scratch_repo_id, select_cases,
};
pub use eval_runs::EVAL_REPO_JOB;
pub use freshness::{FreshnessReport, FreshnessSettings, WEBHOOK_CHECK_JOB};
pub use integrations::{
    AddProviderRepoRequest, IntegrationView, PICKER_PER_PAGE, RepoPickerPage, WEBHOOK_MAX_BODY, WebhookHealth,
    WebhookReply,
};
pub use keys::{RotationProgress, RotationReport};
pub use navigate::{
    Answer, FileRequest, FileSlice, LocateAnswer, LocateRequest, LocatedDefinition, LocatedFile, MAX_TASK_BYTES,
    MAX_TOKENS_CAP, MIN_TOKENS, NavRepo, NavState, Navigator, OutlineAnswer, ReadSymbolRequest, ReferencesAnswer,
    ReferencesRequest, RepoCommit, RepoFileMatch, RepoMapAnswer, RepoMapRequest, RepoReference, RepoSymbol,
    SearchAnswer, SearchRequest, SymbolCode, SymbolRequest, budgets,
};
pub use observe::TRACE_FIELD;
pub use ready::{ReadyCheck, ReadyReport};
pub use repos::AddRepoRequest;
pub use session::{ADMIN_SESSION_PREFIX, ADMIN_SESSION_TTL};
pub use telemetry::{
    FailureRecord, ReceiptRecord, TELEMETRY_JOB, TelemetryPreview, TelemetryRun, TelemetrySettings, TelemetryStatus,
};
pub use usage::{MAX_USAGE_DAYS, UsageDay, UsageReport};
pub use worker::{INDEX_REPO_JOB, Worker, WorkerSettings};

pub use lettuce_domain as domain;
pub use lettuce_ports as ports;
