//! In-memory [`TelemetrySink`] and its contract suite.

use crate::telemetry::{TelemetryError, TelemetryReceipt, TelemetrySink};
use crate::testing::{lock, now_secs};
use async_trait::async_trait;
use lettuce_domain::telemetry::Heartbeat;
use std::collections::VecDeque;
use std::sync::Mutex;
use uuid::Uuid;

/// What the fake answers to one `send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeOutcome {
    /// Store it and answer with a receipt echoing the instance id.
    Accept,
    /// Refuse it (HTTP 4xx, not retryable).
    Reject(u16),
    /// Fail with HTTP 5xx.
    ServerError(u16),
    /// Be unreachable.
    Unreachable,
    /// Answer success without a valid acknowledgement.
    Unverified,
}

/// A [`TelemetrySink`] in memory: answers with scripted outcomes (then the
/// default one) and remembers every heartbeat it was given and every receipt
/// it issued.
#[derive(Debug)]
pub struct FakeTelemetrySink {
    endpoint: String,
    inner: Mutex<FakeInner>,
}

#[derive(Debug)]
struct FakeInner {
    default: FakeOutcome,
    script: VecDeque<FakeOutcome>,
    sent: Vec<Heartbeat>,
    stored: Vec<Heartbeat>,
}

impl FakeTelemetrySink {
    /// A sink whose receiver answers `default` to every heartbeat.
    pub fn new(default: FakeOutcome) -> Self {
        Self {
            endpoint: "memory://telemetry".into(),
            inner: Mutex::new(FakeInner {
                default,
                script: VecDeque::new(),
                sent: Vec::new(),
                stored: Vec::new(),
            }),
        }
    }

    /// A sink whose receiver accepts everything.
    pub fn accepting() -> Self {
        Self::new(FakeOutcome::Accept)
    }

    /// Answers the next sends with `outcomes`, in order, before falling back
    /// to the default.
    pub fn script(&self, outcomes: impl IntoIterator<Item = FakeOutcome>) {
        lock(&self.inner).script.extend(outcomes);
    }

    /// Changes the default answer.
    pub fn set_default(&self, outcome: FakeOutcome) {
        lock(&self.inner).default = outcome;
    }

    /// Every heartbeat `send` was called with, in order.
    pub fn sent(&self) -> Vec<Heartbeat> {
        lock(&self.inner).sent.clone()
    }

    /// The heartbeats the fake receiver accepted (a receipt was issued).
    pub fn stored(&self) -> Vec<Heartbeat> {
        lock(&self.inner).stored.clone()
    }
}

#[async_trait]
impl TelemetrySink for FakeTelemetrySink {
    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    async fn send(&self, heartbeat: &Heartbeat) -> Result<TelemetryReceipt, TelemetryError> {
        let mut inner = lock(&self.inner);
        inner.sent.push(heartbeat.clone());
        let outcome = inner.script.pop_front().unwrap_or_else(|| inner.default.clone());
        match outcome {
            FakeOutcome::Accept => {
                inner.stored.push(heartbeat.clone());
                Ok(TelemetryReceipt {
                    receipt_id: format!("rcpt_{}", Uuid::new_v4().simple()),
                    instance_id: heartbeat.instance_id,
                    received_at: now_secs(),
                    endpoint: self.endpoint.clone(),
                })
            }
            FakeOutcome::Reject(status) => Err(TelemetryError::Rejected {
                status,
                code: Some("out_of_range".into()),
                message: "the fake receiver refuses this heartbeat".into(),
            }),
            FakeOutcome::ServerError(status) => Err(TelemetryError::ServerError { status }),
            FakeOutcome::Unreachable => Err(TelemetryError::Unreachable {
                endpoint: self.endpoint.clone(),
                reason: "connection refused".into(),
            }),
            FakeOutcome::Unverified => Err(TelemetryError::Unverified {
                reason: "the answer did not echo this instance".into(),
            }),
        }
    }
}

// ── contract ──────────────────────────────────────────────────────────────

/// The sinks [`telemetry_sink_contract`] exercises: the same implementation
/// pointed at receivers that behave differently.
#[derive(Debug, Clone, Copy)]
pub struct SinkCases<'a> {
    /// A receiver that stores and acknowledges every heartbeat.
    pub accepting: &'a dyn TelemetrySink,
    /// A receiver that refuses every heartbeat as invalid (HTTP 422).
    pub rejecting: &'a dyn TelemetrySink,
    /// A receiver that fails (HTTP 5xx).
    pub failing: &'a dyn TelemetrySink,
    /// Something that answers success without acknowledging this instance
    /// (a proxy, a captive portal, a receiver echoing another instance).
    pub impostor: &'a dyn TelemetrySink,
    /// Nothing listening at the endpoint.
    pub unreachable: &'a dyn TelemetrySink,
}

/// A heartbeat for contract runs (fresh instance id).
pub fn sample_heartbeat(licensed: bool) -> Heartbeat {
    Heartbeat {
        instance_id: Uuid::new_v4(),
        license_id: licensed.then(|| "lic_contract".to_owned()),
        version: "0.1.0".into(),
        repo_count: 3,
        user_count: 2,
        seat_count: licensed.then_some(25),
        tokens_saved_24h: 1234,
        uptime_hours: 5,
    }
}

/// Checks the [`TelemetrySink`] contract:
///
/// * an accepting receiver yields a receipt for each heartbeat (licensed or
///   not) whose `instance_id` echoes the heartbeat's, with a non-empty
///   receipt id and the sink's endpoint;
/// * refusals are `Rejected` and not retryable; server errors are retryable;
///   a success answer that does not acknowledge this instance is **never** a
///   receipt (`Unverified`, retryable); an unreachable receiver is
///   `Unreachable` and retryable;
/// * error messages and endpoints show no credentials or query strings.
///
/// # Panics
///
/// On the first broken rule, with a message naming it.
pub async fn telemetry_sink_contract(cases: SinkCases<'_>) {
    for licensed in [true, false] {
        let hb = sample_heartbeat(licensed);
        let receipt =
            cases.accepting.send(&hb).await.unwrap_or_else(|e| {
                panic!("an accepting receiver must yield a receipt (licensed: {licensed}), got {e:?}")
            });
        assert_eq!(
            receipt.instance_id, hb.instance_id,
            "a receipt must echo the heartbeat's instance_id"
        );
        assert!(!receipt.receipt_id.is_empty(), "a receipt must carry a receipt id");
        assert_eq!(
            receipt.endpoint,
            cases.accepting.endpoint(),
            "a receipt must name the sink's endpoint"
        );
        let again = cases
            .accepting
            .send(&hb)
            .await
            .unwrap_or_else(|e| panic!("sending the same heartbeat twice must work, got {e:?}"));
        assert_ne!(
            again.receipt_id, receipt.receipt_id,
            "every stored heartbeat gets its own receipt id"
        );
    }

    let hb = sample_heartbeat(true);
    match cases.rejecting.send(&hb).await {
        Err(e @ TelemetryError::Rejected { .. }) => {
            assert!(!e.is_retryable(), "a refused heartbeat must not be retryable");
        }
        other => panic!("a refusing receiver must give TelemetryError::Rejected, got {other:?}"),
    }
    match cases.failing.send(&hb).await {
        Err(e @ TelemetryError::ServerError { .. }) => assert!(e.is_retryable(), "server errors are retryable"),
        other => panic!("a failing receiver must give TelemetryError::ServerError, got {other:?}"),
    }
    match cases.impostor.send(&hb).await {
        Err(e @ TelemetryError::Unverified { .. }) => assert!(e.is_retryable(), "unverified answers are retryable"),
        other => panic!(
            "an answer that does not acknowledge this instance must give Unverified, never a receipt; got {other:?}"
        ),
    }
    match cases.unreachable.send(&hb).await {
        Err(e @ TelemetryError::Unreachable { .. }) => {
            assert!(e.is_retryable(), "an unreachable receiver is retryable");
        }
        other => panic!("an unreachable receiver must give TelemetryError::Unreachable, got {other:?}"),
    }

    for sink in [
        cases.accepting,
        cases.rejecting,
        cases.failing,
        cases.impostor,
        cases.unreachable,
    ] {
        let endpoint = sink.endpoint();
        assert!(
            !endpoint.contains('@') && !endpoint.contains('?'),
            "endpoint() must show no credentials or query string: {endpoint}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fake_passes_contract() {
        let accepting = FakeTelemetrySink::accepting();
        let rejecting = FakeTelemetrySink::new(FakeOutcome::Reject(422));
        let failing = FakeTelemetrySink::new(FakeOutcome::ServerError(503));
        let impostor = FakeTelemetrySink::new(FakeOutcome::Unverified);
        let unreachable = FakeTelemetrySink::new(FakeOutcome::Unreachable);
        telemetry_sink_contract(SinkCases {
            accepting: &accepting,
            rejecting: &rejecting,
            failing: &failing,
            impostor: &impostor,
            unreachable: &unreachable,
        })
        .await;
        assert_eq!(accepting.stored().len(), 4);
        assert_eq!(rejecting.stored().len(), 0);
    }

    #[tokio::test]
    async fn scripts_run_before_the_default() {
        let sink = FakeTelemetrySink::accepting();
        sink.script([FakeOutcome::ServerError(502), FakeOutcome::Unreachable]);
        let hb = sample_heartbeat(false);
        assert!(matches!(
            sink.send(&hb).await,
            Err(TelemetryError::ServerError { status: 502 })
        ));
        assert!(matches!(sink.send(&hb).await, Err(TelemetryError::Unreachable { .. })));
        assert!(sink.send(&hb).await.is_ok());
        assert_eq!(sink.sent().len(), 3);
        assert_eq!(sink.stored().len(), 1);
    }
}
