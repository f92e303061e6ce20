//! Building an [`Engine`] from ports and settings.

use crate::error::EngineError;
use lettuce_domain::Secret;
use lettuce_ports::auth::{AuthVerifier, IdpSignIn, PasswordHasher, SessionIssuer};
use lettuce_ports::blob::BlobStore;
use lettuce_ports::clock::{Clock, SystemClock};
use lettuce_ports::git::{GitMirror, GitProvider};
use lettuce_ports::index::{CodeIndexer, CodeSearch};
use lettuce_ports::license::{LicenseOracle, Ungated};
use lettuce_ports::queue::JobQueue;
use lettuce_ports::secrets::SecretStore;
use lettuce_ports::store::MetadataStore;
use lettuce_ports::telemetry::TelemetrySink;
use lettuce_ports::tokens::{TokenCounter, WordCounter};
use lettuce_ports::trace::{NoPropagation, TracePropagation};
use std::sync::Arc;
use std::time::Duration;

/// Every port the engine talks through. Optional ones have defaults.
#[derive(Debug, Clone, Default)]
pub struct Ports {
    /// Metadata store (required).
    pub store: Option<Arc<dyn MetadataStore>>,
    /// Job queue (required).
    pub queue: Option<Arc<dyn JobQueue>>,
    /// Blob store (required).
    pub blobs: Option<Arc<dyn BlobStore>>,
    /// Secret store (required).
    pub secrets: Option<Arc<dyn SecretStore>>,
    /// Verifies Lettuce's own session tokens (required).
    pub session_verifier: Option<Arc<dyn AuthVerifier>>,
    /// Issues session tokens (required).
    pub sessions: Option<Arc<dyn SessionIssuer>>,
    /// Hashes passwords (required).
    pub passwords: Option<Arc<dyn PasswordHasher>>,
    /// An external IdP verifier (OIDC, Supabase, JWKS); optional.
    pub external_auth: Option<Arc<dyn AuthVerifier>>,
    /// Browser sign-in at the external IdP (OIDC); optional.
    pub idp_sign_in: Option<Arc<dyn IdpSignIn>>,
    /// Git mirror (required).
    pub mirror: Option<Arc<dyn GitMirror>>,
    /// Code-host providers, most specific first (the generic one last).
    pub providers: Vec<Arc<dyn GitProvider>>,
    /// Code indexer (required).
    pub indexer: Option<Arc<dyn CodeIndexer>>,
    /// Queries over the indexes the indexer builds; without it navigation
    /// answers `service_unavailable`.
    pub search: Option<Arc<dyn CodeSearch>>,
    /// Counts tokens for answer accounting (default: [`WordCounter`], a
    /// stand-in; production builds wire a BPE tokenizer).
    pub tokens: Option<Arc<dyn TokenCounter>>,
    /// License oracle (default: [`Ungated`]).
    pub license: Option<Arc<dyn LicenseOracle>>,
    /// Clock (default: [`SystemClock`]).
    pub clock: Option<Arc<dyn Clock>>,
    /// Where heartbeats go; optional (without one, telemetry is off).
    pub telemetry: Option<Arc<dyn TelemetrySink>>,
    /// Trace-context propagation (default: [`NoPropagation`]): carries the
    /// enqueuing request's trace into the job that runs later.
    pub propagation: Option<Arc<dyn TracePropagation>>,
}

/// Engine behaviour that is not a port.
#[derive(Clone)]
pub struct EngineSettings {
    /// `CODEWAZE_ADMIN_TOKEN`: bearer token for `/api/admin/*`.
    pub admin_token: Secret,
    /// When set, the admin token is read through this handle (from the
    /// secret store, reused for the handle's period) instead of the fixed
    /// `admin_token`, so a rotation in the store takes effect without a
    /// restart. A store outage then fails admin-token requests with
    /// `secret_store_unavailable` (503) once the reused value is stale;
    /// session tokens and API keys never need it.
    pub admin_token_handle: Option<lettuce_ports::secrets::SecretHandle>,
    /// 32-byte key that seals clone credentials at rest (AES-256-GCM),
    /// `LETTUCE_DATA_KEY`. Every sealed value records its id.
    pub data_key: [u8; 32],
    /// Earlier data keys (`LETTUCE_DATA_KEY_PREVIOUS`) still accepted for
    /// opening sealed values during a rotation; never used to seal.
    pub previous_data_keys: Vec<[u8; 32]>,
    /// Lifetime of session tokens.
    pub session_ttl: Duration,
    /// Lifetime of invites.
    pub invite_ttl: chrono::Duration,
    /// Public base URL of the web/API (`LETTUCE_WEB_URL`), for webhook URLs.
    pub web_url: Option<String>,
    /// Attempts per index job before it is dead-lettered.
    pub index_max_attempts: u32,
    /// Telemetry opt-outs, version and retry tuning.
    pub telemetry: crate::telemetry::TelemetrySettings,
    /// Webhook check interval and the per-host polling budget.
    pub freshness: crate::freshness::FreshnessSettings,
}

impl EngineSettings {
    /// Settings with defaults: 7-day sessions and invites, 5 index attempts.
    pub fn new(admin_token: Secret, data_key: [u8; 32]) -> Self {
        Self {
            admin_token,
            admin_token_handle: None,
            data_key,
            previous_data_keys: Vec::new(),
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            invite_ttl: lettuce_domain::invite::DEFAULT_INVITE_TTL,
            web_url: None,
            index_max_attempts: 5,
            telemetry: crate::telemetry::TelemetrySettings::default(),
            freshness: crate::freshness::FreshnessSettings::default(),
        }
    }
}

impl std::fmt::Debug for EngineSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineSettings")
            .field("admin_token", &self.admin_token)
            .field("admin_token_handle", &self.admin_token_handle)
            .field("data_key", &crate::crypto::key_id(&self.data_key))
            .field(
                "previous_data_keys",
                &self
                    .previous_data_keys
                    .iter()
                    .map(crate::crypto::key_id)
                    .collect::<Vec<_>>(),
            )
            .field("session_ttl", &self.session_ttl)
            .field("invite_ttl", &self.invite_ttl)
            .field("web_url", &self.web_url)
            .field("index_max_attempts", &self.index_max_attempts)
            .field("telemetry", &self.telemetry)
            .field("freshness", &self.freshness)
            .finish()
    }
}

pub(crate) struct Inner {
    pub store: Arc<dyn MetadataStore>,
    pub queue: Arc<dyn JobQueue>,
    pub blobs: Arc<dyn BlobStore>,
    #[allow(dead_code)] // read by later capabilities (integrations); kept in the engine's port set
    pub secrets: Arc<dyn SecretStore>,
    pub session_verifier: Arc<dyn AuthVerifier>,
    pub sessions: Arc<dyn SessionIssuer>,
    pub passwords: Arc<dyn PasswordHasher>,
    pub external_auth: Option<Arc<dyn AuthVerifier>>,
    pub idp_sign_in: Option<Arc<dyn IdpSignIn>>,
    pub mirror: Arc<dyn GitMirror>,
    pub providers: Vec<Arc<dyn GitProvider>>,
    pub indexer: Arc<dyn CodeIndexer>,
    pub search: Option<Arc<dyn CodeSearch>>,
    pub tokens: Arc<dyn TokenCounter>,
    pub nav: Arc<crate::navigate::NavState>,
    pub meter: crate::usage::UsageMeter,
    pub license: Arc<dyn LicenseOracle>,
    pub clock: Arc<dyn Clock>,
    pub telemetry: Option<Arc<dyn TelemetrySink>>,
    pub propagation: Arc<dyn TracePropagation>,
    pub settings: EngineSettings,
    /// The data keys (current + previous) derived from the settings.
    pub keys: crate::crypto::DataKeys,
    pub dummy_hash: tokio::sync::OnceCell<String>,
    /// Remote-head checks spent per host this hour.
    pub freshness_budget: crate::freshness::PollBudget,
}

/// The Lettuce engine. Cheap to clone (an `Arc` inside); share one per process.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.inner.store.backend())
            .field("queue", &self.inner.queue.backend())
            .field("blobs", &self.inner.blobs.backend())
            .field("indexer", &self.inner.indexer.name())
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Engine`]; see [`Engine::builder`].
#[derive(Debug, Default)]
pub struct EngineBuilder {
    ports: Ports,
    settings: Option<EngineSettings>,
}

impl Engine {
    /// Starts building an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The metadata store (for adapters that need direct reads, e.g. readiness).
    pub fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.inner.store
    }

    /// The job queue.
    pub fn queue(&self) -> &Arc<dyn JobQueue> {
        &self.inner.queue
    }

    /// The settings the engine runs with.
    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    /// The license oracle.
    pub fn license(&self) -> &Arc<dyn LicenseOracle> {
        &self.inner.license
    }

    /// Trace-context propagation (inbound adapters continue a caller's
    /// `traceparent` with it).
    pub fn propagation(&self) -> &Arc<dyn TracePropagation> {
        &self.inner.propagation
    }
}

macro_rules! setter {
    ($name:ident, $field:ident, $ty:ty, $doc:literal) => {
        #[doc = $doc]
        pub fn $name(mut self, port: Arc<$ty>) -> Self {
            self.ports.$field = Some(port);
            self
        }
    };
}

impl EngineBuilder {
    /// Sets every port at once.
    pub fn ports(mut self, ports: Ports) -> Self {
        self.ports = ports;
        self
    }
    setter!(store, store, dyn MetadataStore, "Sets the metadata store.");
    setter!(queue, queue, dyn JobQueue, "Sets the job queue.");
    setter!(blobs, blobs, dyn BlobStore, "Sets the blob store.");
    setter!(secrets, secrets, dyn SecretStore, "Sets the secret store.");
    setter!(
        session_verifier,
        session_verifier,
        dyn AuthVerifier,
        "Sets the session-token verifier."
    );
    setter!(sessions, sessions, dyn SessionIssuer, "Sets the session-token issuer.");
    setter!(passwords, passwords, dyn PasswordHasher, "Sets the password hasher.");
    setter!(
        external_auth,
        external_auth,
        dyn AuthVerifier,
        "Sets an external IdP verifier."
    );
    setter!(
        idp_sign_in,
        idp_sign_in,
        dyn IdpSignIn,
        "Sets the browser sign-in at the external IdP."
    );
    setter!(mirror, mirror, dyn GitMirror, "Sets the git mirror.");
    setter!(indexer, indexer, dyn CodeIndexer, "Sets the code indexer.");
    setter!(
        search,
        search,
        dyn CodeSearch,
        "Sets the code search over the indexer's indexes."
    );
    setter!(tokens, tokens, dyn TokenCounter, "Sets the token counter.");
    setter!(license, license, dyn LicenseOracle, "Sets the license oracle.");
    setter!(clock, clock, dyn Clock, "Sets the clock.");
    setter!(
        telemetry,
        telemetry,
        dyn TelemetrySink,
        "Sets where telemetry heartbeats go."
    );
    setter!(
        propagation,
        propagation,
        dyn TracePropagation,
        "Sets trace-context propagation (OpenTelemetry)."
    );

    /// Adds a code-host provider (checked in the order added).
    pub fn provider(mut self, provider: Arc<dyn GitProvider>) -> Self {
        self.ports.providers.push(provider);
        self
    }

    /// Sets the settings.
    pub fn settings(mut self, settings: EngineSettings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Builds the engine, or names every missing port.
    pub fn build(self) -> Result<Engine, EngineError> {
        let p = self.ports;
        let missing: Vec<&str> = [
            ("store", p.store.is_none()),
            ("queue", p.queue.is_none()),
            ("blobs", p.blobs.is_none()),
            ("secrets", p.secrets.is_none()),
            ("session_verifier", p.session_verifier.is_none()),
            ("sessions", p.sessions.is_none()),
            ("passwords", p.passwords.is_none()),
            ("mirror", p.mirror.is_none()),
            ("indexer", p.indexer.is_none()),
            ("settings", self.settings.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect();
        let (
            Some(store),
            Some(queue),
            Some(blobs),
            Some(secrets),
            Some(session_verifier),
            Some(sessions),
            Some(passwords),
            Some(mirror),
            Some(indexer),
            Some(settings),
        ) = (
            p.store,
            p.queue,
            p.blobs,
            p.secrets,
            p.session_verifier,
            p.sessions,
            p.passwords,
            p.mirror,
            p.indexer,
            self.settings,
        )
        else {
            return Err(EngineError::Internal(format!(
                "engine is missing: {}",
                missing.join(", ")
            )));
        };
        if settings.admin_token.expose().len() < 16 {
            return Err(EngineError::validation(
                "admin_token",
                "the admin token must be at least 16 characters (CODEWAZE_ADMIN_TOKEN)",
            ));
        }
        Ok(Engine {
            inner: Arc::new(Inner {
                store,
                queue,
                blobs,
                secrets,
                session_verifier,
                sessions,
                passwords,
                external_auth: p.external_auth,
                idp_sign_in: p.idp_sign_in,
                mirror,
                providers: p.providers,
                indexer,
                search: p.search,
                tokens: p.tokens.unwrap_or_else(|| Arc::new(WordCounter)),
                nav: Arc::new(crate::navigate::NavState::default()),
                meter: crate::usage::UsageMeter::default(),
                license: p.license.unwrap_or_else(|| Arc::new(Ungated)),
                clock: p.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                telemetry: p.telemetry,
                propagation: p.propagation.unwrap_or_else(|| Arc::new(NoPropagation)),
                keys: crate::crypto::DataKeys::new(settings.data_key, &settings.previous_data_keys),
                settings,
                dummy_hash: tokio::sync::OnceCell::new(),
                freshness_budget: Default::default(),
            }),
        })
    }
}
