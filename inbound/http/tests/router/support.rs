//! The test harness: an [`Engine`] over the in-memory fakes, wrapped in the
//! real router and driven with `tower::ServiceExt::oneshot` (no sockets).
//!
//! Every response the harness sees is recorded, so secret-leak tests can
//! scan everything a flow returned.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use lettuce_domain::Secret;
use lettuce_engine::{Engine, EngineSettings, Worker};
use lettuce_http::AppState;
use lettuce_ports::BoxError;
use lettuce_ports::blob::{BlobError, BlobStore};
use lettuce_ports::license::LicenseStatus;
use lettuce_ports::queue::{
    ClaimedJob, EnqueueOutcome, FailOutcome, JobQueue, JobRecord, JobState, Lease, NewJob, QueueError,
};
use lettuce_ports::store::{
    MetadataStore, Redemption, RepoUpdate, SealedRef, SealedValue, StoreError, ToolUsage, UsageBucket, UsageCounters,
};
use lettuce_ports::testing::auth::FakeAuth;
use lettuce_ports::testing::blob::MemoryBlobStore;
use lettuce_ports::testing::clock::ManualClock;
use lettuce_ports::testing::git::MemoryGitMirror;
use lettuce_ports::testing::index::MemoryIndexer;
use lettuce_ports::testing::license::FakeLicenseOracle;
use lettuce_ports::testing::queue::MemoryQueue;
use lettuce_ports::testing::secrets::MemorySecretStore;
use lettuce_ports::testing::store::MemoryStore;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// The admin token of every test engine.
pub const ADMIN: &str = "admin-token-for-http-tests-0123456789";
/// The password every test user signs up with.
pub const PASSWORD: &str = "correct horse battery staple";
/// A repo URL the fake mirror knows after [`App::push`].
pub const REPO_URL: &str = "https://github.com/acme/widgets.git";
/// What the failing fakes put in their backend errors: it must never reach a
/// client (it names a host, a user and a password).
pub const INTERNAL_DETAIL: &str =
    "dial tcp 10.13.37.5:5432: password authentication failed for user lettuce_pg (pw=pg-Sup3rS3cret)";
/// Fragments of [`INTERNAL_DETAIL`] that must not leak either.
pub const INTERNAL_FRAGMENTS: &[&str] = &["10.13.37.5", "5432", "lettuce_pg", "pg-Sup3rS3cret", "dial tcp"];

// ── failure switch shared by the failing fakes ─────────────────────────────

/// How a failing fake behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Delegates to the in-memory fake.
    Up,
    /// Every call fails with a retryable backend error (→ 503).
    Unavailable,
    /// Every call fails with a permanent backend error (→ 500).
    Broken,
}

#[derive(Debug, Default)]
struct Switch(AtomicU8);

impl Switch {
    fn set(&self, h: Health) {
        let v = match h {
            Health::Up => 0,
            Health::Unavailable => 1,
            Health::Broken => 2,
        };
        self.0.store(v, Ordering::SeqCst);
    }
    /// `Some(retryable)` when down.
    fn down(&self) -> Option<bool> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            1 => Some(true),
            _ => Some(false),
        }
    }
}

fn internal() -> BoxError {
    lettuce_ports::box_msg(INTERNAL_DETAIL)
}

// ── a metadata store that can be switched off ─────────────────────────────

/// [`MemoryStore`] behind a switch: while down, every call (including
/// `ping`) fails with a backend error carrying [`INTERNAL_DETAIL`].
#[derive(Debug, Default)]
pub struct FlakyStore {
    inner: MemoryStore,
    switch: Switch,
}

impl FlakyStore {
    /// Sets the store's health.
    pub fn set(&self, h: Health) {
        self.switch.set(h);
    }
    fn check(&self) -> Result<(), StoreError> {
        match self.switch.down() {
            None => Ok(()),
            Some(retryable) => Err(StoreError::Backend {
                backend: "postgres",
                source: internal(),
                retryable,
            }),
        }
    }
}

macro_rules! flaky_store {
    ($( fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        #[async_trait::async_trait]
        impl MetadataStore for FlakyStore {
            fn backend(&self) -> &'static str {
                "flaky"
            }
            $(
                async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    self.check()?;
                    self.inner.$name($($arg),*).await
                }
            )*
        }
    };
}

use lettuce_domain::account::{Account, ExternalIdentity, User};
use lettuce_domain::api_key::ApiKey;
use lettuce_domain::codehost::{Installation, RepoLink, WebhookDelivery};
use lettuce_domain::invite::Invite;
use lettuce_domain::repo::Repo;
use lettuce_domain::{AccountId, ApiKeyId, InviteId, JobId, RepoId, UserId};

flaky_store! {
    fn ping(&self) -> ();
    fn get_account(&self, id: AccountId) -> Account;
    fn count_accounts(&self) -> u64;
    fn get_user(&self, id: UserId) -> User;
    fn find_user_by_email(&self, email: &str) -> Option<User>;
    fn find_user_by_identity(&self, identity: &ExternalIdentity) -> Option<User>;
    fn list_users(&self, account: AccountId) -> Vec<User>;
    fn count_users(&self) -> u64;
    fn create_invite(&self, invite: &Invite) -> ();
    fn find_invite(&self, code_hash: &str) -> Option<Invite>;
    fn list_invites(&self, account: AccountId) -> Vec<Invite>;
    fn revoke_invite(&self, account: AccountId, id: InviteId, at: chrono::DateTime<chrono::Utc>) -> ();
    fn redeem_invite(&self, redemption: Redemption) -> (Account, User);
    fn create_api_key(&self, key: &ApiKey) -> ();
    fn list_api_keys(&self, user: UserId) -> Vec<ApiKey>;
    fn find_api_key(&self, key_hash: &str) -> Option<ApiKey>;
    fn revoke_api_key(&self, user: UserId, id: ApiKeyId, at: chrono::DateTime<chrono::Utc>) -> ();
    fn touch_api_key(&self, id: ApiKeyId, at: chrono::DateTime<chrono::Utc>) -> ();
    fn create_repo(&self, repo: &Repo) -> ();
    fn get_repo(&self, account: AccountId, id: RepoId) -> Repo;
    fn get_repo_unscoped(&self, id: RepoId) -> Repo;
    fn list_repos(&self, account: AccountId) -> Vec<Repo>;
    fn count_repos(&self, account: Option<AccountId>) -> u64;
    fn delete_repo(&self, account: AccountId, id: RepoId) -> ();
    fn update_repo(&self, id: RepoId, update: RepoUpdate) -> Repo;
    fn add_usage(&self, account: AccountId, at: chrono::DateTime<chrono::Utc>, delta: UsageCounters) -> ();
    fn usage_buckets(&self, account: Option<AccountId>, from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>) -> Vec<UsageBucket>;
    fn add_tool_usage(&self, account: AccountId, at: chrono::DateTime<chrono::Utc>, tool: &str, delta: UsageCounters) -> ();
    fn tool_usage(&self, account: AccountId, from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>) -> Vec<ToolUsage>;
    fn get_setting(&self, key: &str) -> Option<String>;
    fn put_setting(&self, key: &str, value: &str) -> ();
    fn init_setting(&self, key: &str, value: &str) -> String;
    fn count_sealed(&self) -> u64;
    fn list_sealed(&self, after: Option<&SealedRef>, limit: usize) -> Vec<SealedValue>;
    fn reseal(&self, at: &SealedRef, old: &str, new: &str) -> bool;
    fn put_installation(&self, installation: &Installation) -> ();
    fn get_installation(&self, account: AccountId, provider: &str) -> Option<Installation>;
    fn list_installations(&self, account: AccountId) -> Vec<Installation>;
    fn delete_installation(&self, account: AccountId, provider: &str) -> bool;
    fn use_once(&self, scope: &str, key: &str, expires_at: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> bool;
    fn put_repo_link(&self, link: &RepoLink) -> ();
    fn get_repo_link(&self, repo: RepoId) -> Option<RepoLink>;
    fn list_repo_links(&self, account: AccountId, provider: &str) -> Vec<RepoLink>;
    fn list_all_repo_links(&self, after: Option<RepoId>, limit: usize) -> Vec<RepoLink>;
    fn record_webhook_delivery(&self, delivery: &WebhookDelivery) -> ();
    fn list_webhook_deliveries(&self, repo: RepoId, limit: usize) -> Vec<WebhookDelivery>;
    fn start_eval_run(&self, run: &lettuce_domain::eval::EvalRun) -> ();
    fn put_eval_run(&self, run: &lettuce_domain::eval::EvalRun) -> ();
    fn get_eval_run(&self, repo: RepoId) -> Option<lettuce_domain::eval::EvalRun>;
}

// ── a job queue whose enqueue can be switched off ─────────────────────────

/// [`MemoryQueue`] whose `enqueue` fails while down (the worker side keeps
/// working, so a test can recover).
#[derive(Debug)]
pub struct FlakyQueue {
    inner: MemoryQueue,
    switch: Switch,
}

impl FlakyQueue {
    /// A queue on `clock`.
    pub fn with_clock(clock: Arc<ManualClock>) -> Self {
        Self {
            inner: MemoryQueue::with_clock(clock),
            switch: Switch::default(),
        }
    }
}

impl FlakyQueue {
    /// Sets the health of `enqueue`.
    pub fn set(&self, h: Health) {
        self.switch.set(h);
    }
}

#[async_trait::async_trait]
impl JobQueue for FlakyQueue {
    fn backend(&self) -> &'static str {
        "flaky"
    }
    async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome, QueueError> {
        if let Some(retryable) = self.switch.down() {
            return Err(QueueError::Backend {
                backend: "postgres",
                source: internal(),
                retryable,
            });
        }
        self.inner.enqueue(job).await
    }
    async fn claim(
        &self,
        owner: &str,
        limit: usize,
        lease_for: std::time::Duration,
    ) -> Result<Vec<ClaimedJob>, QueueError> {
        self.inner.claim(owner, limit, lease_for).await
    }
    async fn heartbeat(&self, lease: &Lease, lease_for: std::time::Duration) -> Result<Lease, QueueError> {
        self.inner.heartbeat(lease, lease_for).await
    }
    async fn complete(&self, lease: &Lease) -> Result<(), QueueError> {
        self.inner.complete(lease).await
    }
    async fn fail(
        &self,
        lease: &Lease,
        error: &str,
        retry_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<FailOutcome, QueueError> {
        self.inner.fail(lease, error, retry_at).await
    }
    async fn release(&self, lease: &Lease) -> Result<(), QueueError> {
        self.inner.release(lease).await
    }
    async fn stats(&self) -> Result<lettuce_ports::queue::QueueStats, QueueError> {
        if let Some(retryable) = self.switch.down() {
            return Err(QueueError::Backend {
                backend: "postgres",
                source: internal(),
                retryable,
            });
        }
        self.inner.stats().await
    }
    async fn get(&self, id: JobId) -> Result<JobRecord, QueueError> {
        self.inner.get(id).await
    }
    async fn list(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, QueueError> {
        self.inner.list(state, limit).await
    }
    async fn enqueue_periodic(
        &self,
        name: &str,
        slot: chrono::DateTime<chrono::Utc>,
        job: NewJob,
    ) -> Result<Option<EnqueueOutcome>, QueueError> {
        if let Some(retryable) = self.switch.down() {
            return Err(QueueError::Backend {
                backend: "postgres",
                source: internal(),
                retryable,
            });
        }
        self.inner.enqueue_periodic(name, slot, job).await
    }
    async fn wait_for_work(&self, max: std::time::Duration) {
        self.inner.wait_for_work(max).await
    }
}

// ── a blob store whose ping can be switched off ───────────────────────────

/// [`MemoryBlobStore`] whose every call fails while down.
#[derive(Debug, Default)]
pub struct FlakyBlobs {
    inner: MemoryBlobStore,
    switch: Switch,
}

impl FlakyBlobs {
    /// Sets the blob store's health.
    pub fn set(&self, h: Health) {
        self.switch.set(h);
    }
    fn check(&self) -> Result<(), BlobError> {
        match self.switch.down() {
            None => Ok(()),
            Some(retryable) => Err(BlobError::Backend {
                backend: "s3",
                source: internal(),
                retryable,
            }),
        }
    }
}

#[async_trait::async_trait]
impl BlobStore for FlakyBlobs {
    fn backend(&self) -> &'static str {
        "flaky"
    }
    async fn put(&self, key: &str, data: bytes_alias::Bytes) -> Result<(), BlobError> {
        self.check()?;
        self.inner.put(key, data).await
    }
    async fn get(&self, key: &str) -> Result<bytes_alias::Bytes, BlobError> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.check()?;
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        self.check()?;
        self.inner.list(prefix).await
    }
    async fn ping(&self) -> Result<(), BlobError> {
        self.check()?;
        self.inner.ping().await
    }
}

/// `bytes::Bytes`, reached through axum (no extra dev-dependency).
mod bytes_alias {
    pub use axum::body::Bytes;
}

// ── responses ─────────────────────────────────────────────────────────────

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct Resp {
    /// What was asked (`POST /v1/repos`), for assertion messages.
    pub what: String,
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as text.
    pub text: String,
    /// Body as JSON (`Value::Null` when empty or not JSON).
    pub json: Value,
}

impl Resp {
    /// Asserts the status, naming the request and body on failure.
    #[track_caller]
    pub fn expect(&self, status: StatusCode) -> &Self {
        assert_eq!(
            self.status, status,
            "{}: unexpected status; body: {}",
            self.what, self.text
        );
        self
    }

    /// A string field of the JSON body.
    #[track_caller]
    pub fn str(&self, pointer: &str) -> String {
        self.json
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{}: no string at {pointer} in {}", self.what, self.text))
            .to_owned()
    }

    /// Asserts this is an error in the stable format with `status` and
    /// `code`, and returns the message. The body must be exactly
    /// `{"error":{"code","message"[,"field"]}}`; a 401 must carry
    /// `WWW-Authenticate: Bearer`.
    #[track_caller]
    pub fn error(&self, status: StatusCode, code: &str) -> String {
        assert_error_shape(self);
        assert_eq!(self.status, status, "{}: status; body: {}", self.what, self.text);
        assert_eq!(
            self.str("/error/code"),
            code,
            "{}: code; body: {}",
            self.what,
            self.text
        );
        self.str("/error/message")
    }

    /// Like [`Resp::error`], and the error names `field`.
    #[track_caller]
    pub fn error_with_field(&self, status: StatusCode, code: &str, field: &str) -> String {
        let msg = self.error(status, code);
        assert_eq!(
            self.json.pointer("/error/field").and_then(Value::as_str),
            Some(field),
            "{}: field; body: {}",
            self.what,
            self.text
        );
        msg
    }
}

/// Checks the stable error format (any code).
#[track_caller]
pub fn assert_error_shape(r: &Resp) {
    let what = &r.what;
    assert!(
        r.status.is_client_error() || r.status.is_server_error(),
        "{what}: not an error status: {} {}",
        r.status,
        r.text
    );
    let ct = r
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "{what}: error Content-Type is {ct:?}, body: {}",
        r.text
    );
    let top = r
        .json
        .as_object()
        .unwrap_or_else(|| panic!("{what}: error body is not a JSON object: {:?}", r.text));
    assert_eq!(
        top.keys().collect::<Vec<_>>(),
        vec!["error"],
        "{what}: error body must have exactly the key `error`: {}",
        r.text
    );
    let inner = top["error"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: `error` is not an object: {}", r.text));
    for k in inner.keys() {
        assert!(
            ["code", "message", "field"].contains(&k.as_str()),
            "{what}: unexpected key `{k}` in the error: {}",
            r.text
        );
    }
    let code = inner
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{what}: error.code is not a string: {}", r.text));
    assert!(
        !code.is_empty()
            && code.starts_with(|c: char| c.is_ascii_lowercase())
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "{what}: code {code:?} is not snake_case"
    );
    let message = inner
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{what}: error.message is not a string: {}", r.text));
    assert!(!message.trim().is_empty(), "{what}: empty error message");
    if let Some(f) = inner.get("field") {
        assert!(
            f.as_str().is_some_and(|f| !f.is_empty()),
            "{what}: error.field must be a non-empty string: {}",
            r.text
        );
    }
    if r.status == StatusCode::UNAUTHORIZED {
        assert_eq!(
            r.headers.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()),
            Some("Bearer"),
            "{what}: a 401 must carry `WWW-Authenticate: Bearer`"
        );
    }
}

// ── requests ──────────────────────────────────────────────────────────────

/// A request under construction.
#[derive(Debug)]
pub struct Req {
    method: Method,
    path: String,
    headers: Vec<(header::HeaderName, Vec<u8>)>,
    body: Vec<u8>,
}

impl Req {
    /// `method path`, no headers, empty body.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }
    /// `POST path`.
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }
    /// `PUT path`.
    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::PUT, path)
    }
    /// `DELETE path`.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path)
    }
    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header(header::AUTHORIZATION, format!("Bearer {token}"))
    }
    /// Any header (raw bytes, so invalid values can be sent).
    pub fn header(mut self, name: header::HeaderName, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    /// A JSON body with `Content-Type: application/json`.
    pub fn json(self, v: &Value) -> Self {
        self.raw_json(v.to_string())
    }
    /// Raw bytes with `Content-Type: application/json`.
    pub fn raw_json(self, body: impl Into<Vec<u8>>) -> Self {
        self.header(header::CONTENT_TYPE, "application/json").body(body)
    }
    /// Raw bytes, no Content-Type added.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

// ── the app ───────────────────────────────────────────────────────────────

/// A signed-up user.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// Session token.
    pub token: String,
    /// Email.
    pub email: String,
    /// Account id.
    pub account_id: String,
}

/// One engine over fakes and the router around it.
pub struct App {
    /// The router under test.
    pub router: Router,
    /// The engine behind it.
    pub engine: Engine,
    /// Fake git remotes.
    pub mirror: Arc<MemoryGitMirror>,
    /// Fake GitHub (host `github.example`).
    pub github: Arc<lettuce_ports::testing::provider::MemoryGitProvider>,
    /// Fake license state.
    pub license: Arc<FakeLicenseOracle>,
    /// Switchable metadata store.
    pub store: Arc<FlakyStore>,
    /// Switchable queue.
    pub queue: Arc<FlakyQueue>,
    /// Switchable blob store.
    pub blobs: Arc<FlakyBlobs>,
    /// Secret store (not on any HTTP path today).
    pub secrets: Arc<MemorySecretStore>,
    /// The engine's and queue's clock.
    pub clock: Arc<ManualClock>,
    /// Fake telemetry receiver.
    pub telemetry: Arc<lettuce_ports::testing::telemetry::FakeTelemetrySink>,
    /// Every response so far.
    log: Mutex<Vec<Resp>>,
}

impl App {
    /// A fresh instance: ungated license, nothing stored.
    pub fn new() -> Self {
        Self::with_settings(|_| {})
    }

    /// A fresh instance with adjusted engine settings.
    pub fn with_settings(adjust: impl FnOnce(&mut EngineSettings)) -> Self {
        let auth = Arc::new(FakeAuth::new());
        let mirror = Arc::new(MemoryGitMirror::new(false));
        let github = Arc::new(lettuce_ports::testing::provider::MemoryGitProvider::new(
            lettuce_ports::git::ProviderKind::GitHub,
            "github.example",
        ));
        let license = Arc::new(FakeLicenseOracle::with_status(LicenseStatus::ungated()));
        let store = Arc::new(FlakyStore::default());
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let queue = Arc::new(FlakyQueue::with_clock(clock.clone()));
        let blobs = Arc::new(FlakyBlobs::default());
        let secrets = Arc::new(MemorySecretStore::new());
        let mut settings = EngineSettings::new(Secret::new(ADMIN), [9u8; 32]);
        adjust(&mut settings);
        let telemetry = Arc::new(lettuce_ports::testing::telemetry::FakeTelemetrySink::accepting());
        let engine = Engine::builder()
            .telemetry(telemetry.clone())
            .store(store.clone())
            .queue(queue.clone())
            .blobs(blobs.clone())
            .secrets(secrets.clone())
            .session_verifier(auth.clone())
            .sessions(auth.clone())
            .passwords(auth)
            .mirror(mirror.clone())
            .provider(github.clone())
            .indexer(Arc::new(MemoryIndexer::new()))
            .license(license.clone())
            .clock(clock.clone())
            .settings(settings)
            .build()
            .expect("engine builds over the fakes");
        Self {
            router: lettuce_http::router(AppState::new(engine.clone())),
            engine,
            mirror,
            github,
            license,
            store,
            queue,
            blobs,
            secrets,
            log: Mutex::new(Vec::new()),
            clock,
            telemetry,
        }
    }

    /// Sends a request through the router (no sockets) and reads the response.
    pub async fn send(&self, req: Req) -> Resp {
        let what = format!("{} {}", req.method, req.path);
        let mut b = Request::builder().method(req.method).uri(req.path.as_str());
        for (name, value) in req.headers {
            b = b.header(name, value);
        }
        let request = b.body(Body::from(req.body)).expect("valid request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body reads");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let resp = Resp {
            what,
            status: parts.status,
            headers: parts.headers,
            text,
            json,
        };
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(resp.clone());
        // Whatever a test expects, every failure must use the error format.
        if resp.status.is_client_error() || resp.status.is_server_error() {
            assert_error_shape(&resp);
        }
        resp
    }

    /// Every response so far.
    pub fn responses(&self) -> Vec<Resp> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Lets delayed jobs (repo cleanup, retries) come due, then runs them.
    pub async fn work_later(&self) -> usize {
        self.clock.advance(chrono::Duration::hours(2));
        self.work().await
    }

    /// Runs background jobs until none is due.
    pub async fn work(&self) -> usize {
        Worker::new(self.engine.clone())
            .run_until_idle()
            .await
            .expect("worker runs")
    }

    /// Pushes a commit to `url` on the fake remote; returns its id.
    pub fn push(&self, url: &str, files: &[(&str, &str)]) -> String {
        self.mirror.add_remote(
            url,
            "main",
            files
                .iter()
                .map(|(p, c)| ((*p).to_owned(), c.as_bytes().to_vec()))
                .collect(),
        )
    }

    /// Mints an admin invite; returns the code.
    pub async fn admin_invite(&self) -> String {
        self.send(Req::post("/api/admin/invites").bearer(ADMIN))
            .await
            .expect(StatusCode::CREATED)
            .str("/code")
    }

    /// Redeems `code` for `email` with [`PASSWORD`].
    pub async fn signup(&self, code: &str, email: &str) -> TestUser {
        let r = self
            .send(Req::post("/v1/auth/signup").json(&json!({
                "invite_code": code, "email": email, "password": PASSWORD,
            })))
            .await;
        r.expect(StatusCode::CREATED);
        TestUser {
            token: r.str("/token"),
            email: r.str("/user/email"),
            account_id: r.str("/account/id"),
        }
    }

    /// A new owner of a new account.
    pub async fn owner(&self, email: &str) -> TestUser {
        let code = self.admin_invite().await;
        self.signup(&code, email).await
    }

    /// A new member of `owner`'s account.
    pub async fn member(&self, owner: &TestUser, email: &str) -> TestUser {
        let code = self
            .send(Req::post("/v1/invites").bearer(&owner.token))
            .await
            .expect(StatusCode::CREATED)
            .str("/code");
        self.signup(&code, email).await
    }

    /// Adds a repo for `user`; returns its id (expects 202).
    pub async fn add_repo(&self, user: &TestUser, url: &str) -> String {
        self.send(Req::post("/v1/repos").bearer(&user.token).json(&json!({ "url": url })))
            .await
            .expect(StatusCode::ACCEPTED)
            .str("/id")
    }
}

/// A gated license status in `state` with the sample claims.
pub fn gated(state: lettuce_domain::license::LicenseState) -> LicenseStatus {
    LicenseStatus {
        gated: true,
        state,
        claims: Some(lettuce_ports::testing::license::sample_claims()),
        reason: None,
    }
}
