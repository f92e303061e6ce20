//! Telemetry use cases over the in-memory fakes and a manual clock: the
//! heartbeat's content, who may opt out, the hourly job, retries with
//! backoff, receipts and the 7-day warning; and the other use of the shared
//! instance settings: a license key uploaded to one process reaching all.

use chrono::{DateTime, Duration, Utc};
use lettuce_domain::Secret;
use lettuce_domain::license::LicenseState;
use lettuce_domain::telemetry::{HEARTBEAT_FIELDS, LicenseTerm, OptOut, heartbeat_slot};
use lettuce_engine::{
    Caller, Engine, EngineSettings, SignupRequest, TELEMETRY_JOB, TelemetryRun, TelemetrySettings, Worker,
};
use lettuce_ports::clock::Clock;
use lettuce_ports::license::LicenseStatus;
use lettuce_ports::queue::{JobQueue, JobState};
use lettuce_ports::store::{MetadataStore, UsageCounters};
use lettuce_ports::testing::auth::FakeAuth;
use lettuce_ports::testing::blob::MemoryBlobStore;
use lettuce_ports::testing::clock::ManualClock;
use lettuce_ports::testing::git::MemoryGitMirror;
use lettuce_ports::testing::index::MemoryIndexer;
use lettuce_ports::testing::license::{FakeLicenseOracle, sample_claims, valid_status};
use lettuce_ports::testing::queue::MemoryQueue;
use lettuce_ports::testing::secrets::MemorySecretStore;
use lettuce_ports::testing::store::MemoryStore;
use lettuce_ports::testing::telemetry::{FakeOutcome, FakeTelemetrySink};
use std::io::Write;
use std::sync::{Arc, Mutex};

const ADMIN: &str = "admin-token-for-tests-0123456789";

fn t0() -> DateTime<Utc> {
    "2026-03-02T09:30:00Z".parse().unwrap()
}

struct Harness {
    engine: Engine,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    sink: Arc<FakeTelemetrySink>,
    license: Arc<FakeLicenseOracle>,
    clock: Arc<ManualClock>,
}

fn licensed(telemetry_required: bool) -> LicenseStatus {
    let mut s = valid_status();
    if let Some(c) = s.claims.as_mut() {
        c.telemetry_required = telemetry_required;
    }
    s
}

impl Harness {
    fn new(license: LicenseStatus, opt_outs: Vec<OptOut>) -> Self {
        Self::with_store(Arc::new(MemoryStore::new()), license, opt_outs, true)
    }

    fn with_store(store: Arc<MemoryStore>, license: LicenseStatus, opt_outs: Vec<OptOut>, with_sink: bool) -> Self {
        Self::build(store, license, opt_outs, with_sink, [3u8; 32])
    }

    fn build(
        store: Arc<MemoryStore>,
        license: LicenseStatus,
        opt_outs: Vec<OptOut>,
        with_sink: bool,
        data_key: [u8; 32],
    ) -> Self {
        let auth = Arc::new(FakeAuth::new());
        let clock = Arc::new(ManualClock::new(t0()));
        let queue = Arc::new(MemoryQueue::with_clock(clock.clone()));
        let sink = Arc::new(FakeTelemetrySink::accepting());
        let license = Arc::new(FakeLicenseOracle::with_status(license));
        let mut settings = EngineSettings::new(Secret::new(ADMIN), data_key);
        settings.telemetry = TelemetrySettings {
            opt_outs,
            version: "9.8.7".into(),
            attempts: 3,
            retry_base: std::time::Duration::from_millis(20),
            job_max_attempts: 3,
        };
        let mut builder = Engine::builder()
            .store(store.clone())
            .queue(queue.clone())
            .blobs(Arc::new(MemoryBlobStore::new()))
            .secrets(Arc::new(MemorySecretStore::new()))
            .session_verifier(auth.clone())
            .sessions(auth.clone())
            .passwords(auth)
            .mirror(Arc::new(MemoryGitMirror::new(false)))
            .indexer(Arc::new(MemoryIndexer::new()))
            .license(license.clone())
            .clock(clock.clone())
            .settings(settings);
        if with_sink {
            builder = builder.telemetry(sink.clone());
        }
        Harness {
            engine: builder.build().unwrap(),
            store,
            queue,
            sink,
            license,
            clock,
        }
    }

    async fn admin(&self) -> Caller {
        self.engine.authenticate(&Secret::new(ADMIN)).await.unwrap()
    }

    /// An owner and a member of one new account.
    async fn owner_and_member(&self) -> (Caller, Caller) {
        let code = self
            .engine
            .create_admin_invite(&self.admin().await, Default::default())
            .await
            .unwrap()
            .code;
        let mut callers = Vec::new();
        for who in ["owner", "member"] {
            let r = self
                .engine
                .signup(SignupRequest {
                    invite_code: code.clone(),
                    email: format!("{who}-{}@example.com", uuid::Uuid::new_v4().simple()),
                    password: Secret::new("a long password"),
                })
                .await
                .unwrap();
            callers.push(self.engine.authenticate(&r.token.token).await.unwrap());
        }
        let member = callers.pop().unwrap();
        (callers.pop().unwrap(), member)
    }

    async fn work(&self) -> usize {
        Worker::new(self.engine.clone()).run_until_idle().await.unwrap()
    }
}

/// Captures what `tracing` logs on this thread while the guard lives.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    fn count(&self, needle: &str) -> usize {
        self.text().lines().filter(|l| l.contains(needle)).count()
    }
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn heartbeat_carries_exactly_the_eight_fields_from_store_and_license() {
    let h = Harness::new(licensed(true), vec![]);
    let (owner, _) = h.owner_and_member().await;
    let account = owner.user().unwrap().account_id;
    h.engine
        .add_repo(
            &owner,
            lettuce_engine::AddRepoRequest {
                url: "https://github.com/acme/widgets.git".into(),
                branch: None,
            },
        )
        .await
        .unwrap();
    let now = h.clock.now();
    let saved = |n| UsageCounters {
        queries: 1,
        tokens_returned: 10,
        tokens_full: 10 + n,
        tokens_saved: n,
    };
    // Inside the last 24 hours: counted. Older: not.
    h.store
        .add_usage(account, now - Duration::hours(1), saved(1000))
        .await
        .unwrap();
    h.store
        .add_usage(account, now - Duration::hours(20), saved(234))
        .await
        .unwrap();
    h.store
        .add_usage(account, now - Duration::hours(30), saved(99_999))
        .await
        .unwrap();
    // Up for 50 hours.
    h.clock.set(now - Duration::hours(50));
    h.engine.telemetry_tick().await.unwrap();
    for _ in 0..50 {
        h.clock.advance(Duration::hours(1));
        h.engine.telemetry_tick().await.unwrap();
    }

    let hb = h.engine.next_heartbeat().await.unwrap();
    let v = serde_json::to_value(&hb).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = HEARTBEAT_FIELDS.to_vec();
    want.sort_unstable();
    let mut got = keys.clone();
    got.sort_unstable();
    assert_eq!(got, want, "exactly the eight fields");
    assert_eq!(hb.license_id.as_deref(), Some(sample_claims().sub.as_str()));
    assert_eq!(hb.seat_count, Some(u64::from(sample_claims().seats)));
    assert_eq!(hb.version, "9.8.7");
    assert_eq!(hb.repo_count, 1);
    assert_eq!(hb.user_count, 2);
    assert_eq!(hb.tokens_saved_24h, 1234);
    assert_eq!(hb.uptime_hours, 50);
    // No repo names, URLs or emails anywhere in the payload.
    let text = v.to_string();
    for secret in ["widgets", "github.com", "@example.com"] {
        assert!(!text.contains(secret), "{text}");
    }

    // The instance id is generated once and shared through the store.
    let id = h.engine.instance_id().await.unwrap();
    assert_eq!(hb.instance_id, id);
    let other = Harness::with_store(h.store.clone(), LicenseStatus::ungated(), vec![], true);
    assert_eq!(other.engine.instance_id().await.unwrap(), id);
    // Without a license the license fields are null.
    let hb2 = other.engine.next_heartbeat().await.unwrap();
    assert_eq!((hb2.license_id, hb2.seat_count), (None, None));
}

#[tokio::test]
async fn uptime_resets_after_a_gap_without_any_process() {
    let h = Harness::new(LicenseStatus::ungated(), vec![]);
    h.engine.telemetry_tick().await.unwrap();
    h.clock.advance(Duration::hours(5));
    h.engine.telemetry_tick().await.unwrap();
    assert_eq!(
        h.engine.next_heartbeat().await.unwrap().uptime_hours,
        0,
        "5 h silence resets"
    );
    h.clock.advance(Duration::minutes(150));
    h.engine.telemetry_tick().await.unwrap();
    assert_eq!(h.engine.next_heartbeat().await.unwrap().uptime_hours, 2);
}

#[tokio::test]
async fn opt_out_is_honoured_only_when_the_license_allows_it() {
    let ungated = LicenseStatus::ungated();
    let mut locked = valid_status();
    locked.state = LicenseState::Locked;
    locked.claims = None;
    for (license, opt_outs, sending, term) in [
        (licensed(true), vec![], true, LicenseTerm::Required),
        (licensed(true), vec![OptOut::EnabledFalse], true, LicenseTerm::Required),
        (licensed(true), vec![OptOut::DoNotTrack], true, LicenseTerm::Required),
        (licensed(false), vec![], true, LicenseTerm::Optional),
        (
            licensed(false),
            vec![OptOut::EnabledFalse],
            false,
            LicenseTerm::Optional,
        ),
        (
            licensed(false),
            vec![OptOut::LegacyDisabled],
            false,
            LicenseTerm::Optional,
        ),
        (licensed(false), vec![OptOut::DoNotTrack], false, LicenseTerm::Optional),
        (ungated.clone(), vec![OptOut::DoNotTrack], false, LicenseTerm::Ungated),
        (ungated, vec![], true, LicenseTerm::Ungated),
        (
            locked.clone(),
            vec![OptOut::EnabledFalse],
            true,
            LicenseTerm::Unverified,
        ),
    ] {
        let h = Harness::new(license, opt_outs.clone());
        let (logs, _guard) = Logs::capture();
        let status = h.engine.telemetry_status(&h.admin().await).await.unwrap();
        assert_eq!(status.sending, sending, "{opt_outs:?} × {term:?}: {}", status.reason);
        assert_eq!(status.decision.license, term);
        h.engine.telemetry_tick().await.unwrap();
        let ran = h.work().await;
        assert_eq!(ran, 1, "one hourly job");
        assert_eq!(
            h.sink.sent().len(),
            usize::from(sending),
            "{opt_outs:?} × {term:?}: heartbeats sent"
        );
        let contradiction = sending && !opt_outs.is_empty();
        assert_eq!(
            logs.count("heartbeats continue") > 0,
            contradiction,
            "{opt_outs:?} × {term:?}: the contradiction is logged iff an opt-out is overridden:\n{}",
            logs.text()
        );
    }
}

#[tokio::test]
async fn admin_toggle_is_refused_when_the_license_requires_telemetry() {
    let h = Harness::new(licensed(true), vec![]);
    let (owner, member) = h.owner_and_member().await;
    let err = h.engine.set_telemetry_enabled(&owner, false).await.unwrap_err();
    assert_eq!(err.code(), "telemetry_required");
    assert!(err.to_string().contains("telemetry_required"), "{err}");
    assert_eq!(
        h.engine.telemetry_status(&member).await.unwrap_err().code(),
        "forbidden",
        "members may not see or change telemetry"
    );
    assert_eq!(
        h.engine.set_telemetry_enabled(&member, true).await.unwrap_err().code(),
        "forbidden"
    );

    // A license that allows opting out: the toggle works and is shared.
    h.license.set_status(licensed(false));
    let status = h.engine.set_telemetry_enabled(&owner, false).await.unwrap();
    assert!(!status.sending && status.admin_opted_out && status.opt_out_allowed);
    assert!(
        status.reason.contains("the admin telemetry toggle"),
        "{}",
        status.reason
    );
    h.engine.telemetry_tick().await.unwrap();
    h.work().await;
    assert!(h.sink.sent().is_empty(), "an honoured opt-out sends nothing");
    let status = h.engine.set_telemetry_enabled(&h.admin().await, true).await.unwrap();
    assert!(status.sending && !status.admin_opted_out);

    // If the license later requires telemetry, a stored opt-out is overridden.
    h.engine.set_telemetry_enabled(&owner, false).await.unwrap();
    h.license.set_status(licensed(true));
    let status = h.engine.telemetry_status(&owner).await.unwrap();
    assert!(status.sending, "{}", status.reason);
    assert!(status.decision.contradiction().is_some());
}

#[tokio::test]
async fn the_hourly_job_sends_once_per_daily_slot_and_records_the_receipt() {
    let h = Harness::new(licensed(true), vec![]);
    h.engine.telemetry_tick().await.unwrap();
    h.engine.telemetry_tick().await.unwrap();
    assert_eq!(h.work().await, 1, "two ticks in one hour enqueue one job");
    assert_eq!(h.sink.sent().len(), 1, "the first run sends at once");
    let status = h.engine.telemetry_status(&h.admin().await).await.unwrap();
    let receipt = status.last_receipt.clone().expect("receipt recorded");
    assert_eq!(receipt.verified_at, t0());
    assert_eq!(receipt.endpoint, "memory://telemetry");
    assert!(status.last_failure.is_none());

    // The rest of the day: hourly jobs run but send nothing.
    let id = status.instance_id;
    let next_slot = heartbeat_slot(t0(), id) + Duration::days(1);
    let mut sent_at = vec![];
    let mut now = t0();
    while now < next_slot + Duration::hours(2) {
        now += Duration::hours(1);
        h.clock.set(now);
        h.engine.telemetry_tick().await.unwrap();
        h.work().await;
        if h.sink.sent().len() > 1 + sent_at.len() {
            sent_at.push(now);
        }
    }
    assert_eq!(
        sent_at.len(),
        1,
        "exactly one more heartbeat in the next daily slot: {sent_at:?}"
    );
    assert!(sent_at[0] >= next_slot && sent_at[0] < next_slot + Duration::hours(1));
    assert_eq!(h.engine.run_telemetry_job(1, 3).await.unwrap(), TelemetryRun::NotDue);
    let done = h.queue.list(JobState::Completed, 100).await.unwrap();
    assert!(done.iter().all(|j| j.kind == TELEMETRY_JOB));
}

#[tokio::test]
async fn failed_sends_retry_with_backoff_then_the_queue_retries() {
    let h = Harness::new(LicenseStatus::ungated(), vec![]);
    // A receiver that fails first: 503, then unreachable, then accepts.
    h.sink.script([FakeOutcome::ServerError(503), FakeOutcome::Unreachable]);
    let started = std::time::Instant::now();
    let run = h.engine.run_telemetry_job(1, 3).await.unwrap();
    let elapsed = started.elapsed();
    assert!(matches!(run, TelemetryRun::Sent(_)), "{run:?}");
    assert_eq!(h.sink.sent().len(), 3);
    assert!(
        elapsed >= std::time::Duration::from_millis(20 + 80),
        "backoff 20 ms then 80 ms, took {elapsed:?}"
    );

    // Every try fails: the run fails and asks the queue to retry, except on
    // the last queue attempt; a refusal is not retried at all.
    h.clock.advance(Duration::days(1));
    h.sink.set_default(FakeOutcome::Unreachable);
    let before = h.sink.sent().len();
    match h.engine.run_telemetry_job(1, 3).await.unwrap() {
        TelemetryRun::Failed { error, retry } => {
            assert!(retry);
            assert_eq!(error.kind, "unreachable");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.sink.sent().len() - before, 3, "three tries per run");
    assert!(matches!(
        h.engine.run_telemetry_job(3, 3).await.unwrap(),
        TelemetryRun::Failed { retry: false, .. }
    ));
    h.sink.set_default(FakeOutcome::Reject(422));
    let before = h.sink.sent().len();
    assert!(matches!(
        h.engine.run_telemetry_job(1, 3).await.unwrap(),
        TelemetryRun::Failed { retry: false, .. }
    ));
    assert_eq!(h.sink.sent().len() - before, 1, "a refusal is not retried");
    let status = h.engine.telemetry_status(&h.admin().await).await.unwrap();
    assert_eq!(status.last_failure.unwrap().kind, "rejected");

    // Through the worker: the failing job goes back to the queue with a delay.
    h.sink.set_default(FakeOutcome::ServerError(502));
    h.clock.advance(Duration::hours(1));
    h.engine.telemetry_tick().await.unwrap();
    h.work().await;
    let retrying = h.queue.list(JobState::Available, 10).await.unwrap();
    assert_eq!(retrying.len(), 1, "the failed job waits for its retry");
    assert_eq!(retrying[0].attempt, 1);
    assert!(retrying[0].run_at > h.clock.now());
    h.sink.set_default(FakeOutcome::Accept);
    h.clock.advance(Duration::minutes(5));
    h.work().await;
    assert!(h.queue.list(JobState::Available, 10).await.unwrap().is_empty());
    let status = h.engine.telemetry_status(&h.admin().await).await.unwrap();
    assert_eq!(status.last_receipt.unwrap().verified_at, h.clock.now());
}

#[tokio::test]
async fn warns_once_a_day_when_no_receipt_was_verified_for_seven_days() {
    let h = Harness::new(licensed(true), vec![]);
    h.sink.set_default(FakeOutcome::Unreachable);
    let (logs, _guard) = Logs::capture();
    const WARN: &str = "no telemetry receipt verified in 7 days";

    let mut warned_on = vec![];
    for hour in (0..(9 * 24)).step_by(6) {
        h.clock.set(t0() + Duration::hours(hour));
        h.engine.run_telemetry_job(3, 3).await.unwrap();
        let n = logs.count(WARN);
        if n > warned_on.len() {
            warned_on.push(hour);
        }
    }
    assert!(
        !warned_on.is_empty() && warned_on[0] == 7 * 24,
        "the first WARN comes exactly 7 days after the first try: {warned_on:?}"
    );
    assert!(warned_on.len() <= 3, "at most once per daily slot: {warned_on:?}");
    assert!(logs.text().contains("WARN"), "{}", logs.text());
    let status = h.engine.telemetry_status(&h.admin().await).await.unwrap();
    assert_eq!(status.receipt_overdue_days, Some(8));

    // A verified receipt ends it.
    h.sink.set_default(FakeOutcome::Accept);
    h.clock.advance(Duration::days(1));
    logs.clear();
    assert!(matches!(
        h.engine.run_telemetry_job(1, 3).await.unwrap(),
        TelemetryRun::Sent(_)
    ));
    assert_eq!(logs.count(WARN), 0);
    assert_eq!(
        h.engine
            .telemetry_status(&h.admin().await)
            .await
            .unwrap()
            .receipt_overdue_days,
        None
    );

    // Seven days after that receipt the warning comes back.
    h.sink.set_default(FakeOutcome::ServerError(500));
    h.clock.advance(Duration::days(7));
    h.engine.run_telemetry_job(3, 3).await.unwrap();
    assert_eq!(logs.count(WARN), 1, "{}", logs.text());
}

#[tokio::test]
async fn no_warning_while_telemetry_is_off_and_no_sender_means_off() {
    let h = Harness::new(licensed(false), vec![OptOut::EnabledFalse]);
    let (logs, _guard) = Logs::capture();
    for day in 0..10 {
        h.clock.set(t0() + Duration::days(day));
        assert!(matches!(
            h.engine.run_telemetry_job(1, 1).await.unwrap(),
            TelemetryRun::Off(_)
        ));
    }
    assert_eq!(logs.count("no telemetry receipt"), 0);
    assert!(h.sink.sent().is_empty());

    let no_sink = Harness::with_store(Arc::new(MemoryStore::new()), licensed(true), vec![], false);
    let status = no_sink.engine.telemetry_status(&no_sink.admin().await).await.unwrap();
    assert!(!status.sending && status.endpoint.is_none());
    assert!(status.reason.contains("telemetry-http"), "{}", status.reason);
    no_sink.engine.telemetry_tick().await.unwrap();
    assert_eq!(no_sink.work().await, 0, "no sender, no job");
    assert!(no_sink.engine.send_heartbeat(1).await.is_err());
}

// ── a license key uploaded to one process reaches the others ────────────────

#[tokio::test]
async fn an_uploaded_license_key_reaches_every_process_of_the_install() {
    use lettuce_ports::license::LicenseOracle;
    use lettuce_ports::testing::license::VALID_TEST_KEY;
    let store = Arc::new(MemoryStore::new());
    let locked = FakeLicenseOracle::new().status().await;
    let api = Harness::with_store(store.clone(), locked.clone(), vec![], true);
    let worker = Harness::with_store(store.clone(), locked.clone(), vec![], true);
    let elsewhere = Harness::build(store.clone(), locked.clone(), vec![], true, [4u8; 32]);

    let status = api
        .engine
        .install_license(&api.admin().await, Secret::new(VALID_TEST_KEY))
        .await
        .unwrap();
    assert_eq!(status.state, LicenseState::Valid);
    // The key is stored sealed, never in clear.
    let stored = store.get_setting("license.uploaded").await.unwrap().expect("shared");
    assert!(!stored.contains(VALID_TEST_KEY), "{stored}");

    assert_eq!(worker.license.status().await.state, LicenseState::Locked);
    let refreshed = worker.engine.refresh_license().await;
    assert_eq!(
        refreshed.state,
        LicenseState::Valid,
        "the hourly refresh adopts the uploaded key"
    );
    assert_eq!(worker.license.status().await.claims, Some(sample_claims()));

    // A process with another LETTUCE_DATA_KEY cannot read it and says so.
    let (logs, _guard) = Logs::capture();
    assert_eq!(elsewhere.engine.refresh_license().await.state, LicenseState::Locked);
    assert!(logs.text().contains("LETTUCE_DATA_KEY"), "{}", logs.text());

    // A process whose own key expires later keeps it.
    let mut newer = valid_status();
    if let Some(c) = newer.claims.as_mut() {
        c.sub = "lic_newer".into();
        c.exp += 86_400 * 365;
    }
    let renewed = Harness::with_store(store.clone(), newer.clone(), vec![], true);
    assert_eq!(renewed.engine.refresh_license().await, newer);
}
