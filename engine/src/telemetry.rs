//! The telemetry heartbeat (PRODUCT P-7): what is sent, whether it may be
//! sent, when, and what happened last time.
//!
//! * **What**: [`Engine::next_heartbeat`] builds the eight-field
//!   [`Heartbeat`] from the metadata store (instance id, counts, tokens saved
//!   over 24 h from the usage buckets, instance uptime) and the license.
//! * **Whether**: [`lettuce_domain::telemetry::decide`] over the operator's
//!   opt-out requests ([`TelemetrySettings::opt_outs`], from the
//!   environment), the admin toggle (stored) and the license's
//!   `telemetry_required`.
//! * **When**: [`Engine::telemetry_tick`] (hourly, every process) records
//!   that the instance is up and enqueues the hour's [`TELEMETRY_JOB`]
//!   through [`JobQueue::enqueue_periodic`](lettuce_ports::queue::JobQueue::enqueue_periodic),
//!   so one job per hour runs however many workers there are. The job sends
//!   a heartbeat when none was verified in the instance's current daily slot
//!   ([`heartbeat_slot`]): once a day, and hourly catch-up while the
//!   receiver is unreachable.
//! * **Retries**: inside a run, [`TelemetrySettings::attempts`] tries with
//!   exponential backoff ([`heartbeat_retry_delay`]); a failed run is retried
//!   by the queue with its backoff; then the next hour's run tries again.
//! * **Receipts**: the last verified receipt and the last failure are kept in
//!   the instance settings; after 7 days without a verified receipt an
//!   instance that should be sending logs `no telemetry receipt verified in 7
//!   days` at WARN, once a day.

use crate::builder::Engine;
use crate::caller::Caller;
use crate::error::EngineError;
use chrono::{DateTime, Duration, Utc};
use lettuce_domain::telemetry::{
    Heartbeat, LicenseTerm, OptOut, TelemetryDecision, decide, heartbeat_retry_delay, heartbeat_slot, next_up_since,
    receipt_overdue, uptime_hours,
};
use lettuce_ports::license::LicenseStatus;
use lettuce_ports::queue::{NewJob, period_slot};
use lettuce_ports::store::UsageCounters;
use lettuce_ports::telemetry::{TelemetryError, TelemetryReceipt};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Kind of the hourly job that sends the daily heartbeat when it is due.
pub const TELEMETRY_JOB: &str = "telemetry_heartbeat";

/// Instance-setting keys.
mod keys {
    pub const INSTANCE_ID: &str = "instance_id";
    pub const UP_SINCE: &str = "instance.up_since";
    pub const ALIVE_AT: &str = "instance.alive_at";
    pub const ADMIN_OPT_OUT: &str = "telemetry.admin_opt_out";
    pub const LAST_RECEIPT: &str = "telemetry.last_receipt";
    pub const LAST_FAILURE: &str = "telemetry.last_failure";
    pub const TRYING_SINCE: &str = "telemetry.trying_since";
    pub const OVERDUE_WARNED: &str = "telemetry.overdue_warned_slot";
}

/// Telemetry behaviour that comes from configuration.
#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    /// Opt-outs the operator requested through the environment
    /// (`LETTUCE_TELEMETRY_ENABLED=false`, the legacy
    /// `LETTUCE_TELEMETRY_DISABLED=1`, `DO_NOT_TRACK=1`).
    pub opt_outs: Vec<OptOut>,
    /// The version reported in heartbeats.
    pub version: String,
    /// Tries per run before the run fails (≥ 1).
    pub attempts: u32,
    /// Delay before the second try; later ones grow ×4 (at most 10 min).
    pub retry_base: std::time::Duration,
    /// Queue attempts of one hourly job.
    pub job_max_attempts: u32,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            opt_outs: Vec::new(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            attempts: 3,
            retry_base: std::time::Duration::from_secs(5),
            job_max_attempts: 4,
        }
    }
}

/// The last verified receipt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRecord {
    /// The receiver's id for the heartbeat.
    pub receipt_id: String,
    /// When the receiver stored it (its clock).
    pub received_at: DateTime<Utc>,
    /// When this instance verified the acknowledgement (its clock).
    pub verified_at: DateTime<Utc>,
    /// Where it was sent.
    pub endpoint: String,
}

/// The last failed attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// When.
    pub at: DateTime<Utc>,
    /// `unreachable`, `rejected`, `rate_limited`, `server_error`, `unverified`, `backend`.
    pub kind: String,
    /// What happened.
    pub message: String,
}

/// Telemetry as the admin page and `GET /v1/admin/telemetry` show it.
#[derive(Debug, Clone, Serialize)]
pub struct TelemetryStatus {
    /// The install's instance id (also in every heartbeat).
    pub instance_id: Uuid,
    /// Whether heartbeats are sent (a sender is configured and the decision
    /// says send).
    pub sending: bool,
    /// Why (one sentence).
    pub reason: String,
    /// The decision: opt-outs requested and the license term.
    pub decision: TelemetryDecision,
    /// Whether the license allows opting out.
    pub opt_out_allowed: bool,
    /// Whether the admin toggle is off.
    pub admin_opted_out: bool,
    /// Where heartbeats go, when this build/configuration has a sender.
    pub endpoint: Option<String>,
    /// The last verified receipt.
    pub last_receipt: Option<ReceiptRecord>,
    /// The last failed attempt.
    pub last_failure: Option<FailureRecord>,
    /// Whole days without a verified receipt, once that reaches 7 while
    /// sending.
    pub receipt_overdue_days: Option<i64>,
}

/// What `lettuce telemetry preview` shows: the exact next payload and
/// whether it would be sent.
#[derive(Debug, Clone)]
pub struct TelemetryPreview {
    /// The payload.
    pub heartbeat: Heartbeat,
    /// The state.
    pub status: TelemetryStatus,
}

/// What one run of the hourly job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TelemetryRun {
    /// Telemetry is off (opt-out honoured, or no sender): nothing sent.
    Off(String),
    /// A heartbeat was already verified in the current daily slot.
    NotDue,
    /// Sent and verified.
    Sent(ReceiptRecord),
    /// Every try failed; the last error.
    Failed {
        /// The error (kind and message).
        error: FailureRecord,
        /// Whether the queue should run the job again.
        retry: bool,
    },
}

fn parse_json<T: for<'de> Deserialize<'de>>(key: &str, raw: Option<String>) -> Option<T> {
    let raw = raw?;
    match serde_json::from_str(&raw) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(key, error = %e, "ignoring an unreadable telemetry setting");
            None
        }
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl Engine {
    /// The install's instance id: generated once (UUID v4) and kept in the
    /// metadata store, so every process of the install shares it.
    pub async fn instance_id(&self) -> Result<Uuid, EngineError> {
        let store = &self.inner.store;
        let stored = store
            .init_setting(keys::INSTANCE_ID, &Uuid::new_v4().to_string())
            .await?;
        Uuid::parse_str(stored.trim()).map_err(|_| {
            EngineError::Internal(format!(
                "the stored instance id `{stored}` is not a UUID; fix or delete the `instance_id` row of instance_settings"
            ))
        })
    }

    async fn setting_time(&self, key: &str) -> Result<Option<DateTime<Utc>>, EngineError> {
        Ok(self
            .inner
            .store
            .get_setting(key)
            .await?
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    async fn admin_opted_out(&self) -> Result<bool, EngineError> {
        Ok(self.inner.store.get_setting(keys::ADMIN_OPT_OUT).await?.as_deref() == Some("true"))
    }

    fn license_term(status: &LicenseStatus) -> LicenseTerm {
        LicenseTerm::from_license(status.gated, status.claims.as_ref().map(|c| c.telemetry_required))
    }

    /// Whether heartbeats may be sent now, and why.
    pub async fn telemetry_decision(&self) -> Result<TelemetryDecision, EngineError> {
        let license = self.inner.license.status().await;
        let mut opt_outs = self.inner.settings.telemetry.opt_outs.clone();
        if self.admin_opted_out().await? {
            opt_outs.push(OptOut::Admin);
        }
        Ok(decide(&opt_outs, Self::license_term(&license)))
    }

    /// The exact heartbeat the next run would send.
    pub async fn next_heartbeat(&self) -> Result<Heartbeat, EngineError> {
        let e = &self.inner;
        let now = e.clock.now();
        let license = e.license.status().await;
        let claims = license.claims.as_ref();
        let saved = e
            .store
            .usage_buckets(None, now - Duration::hours(24), now)
            .await?
            .into_iter()
            .fold(UsageCounters::default(), |sum, b| sum.saturating_add(b.counters));
        Ok(Heartbeat {
            instance_id: self.instance_id().await?,
            license_id: claims.map(|c| c.sub.clone()),
            version: e.settings.telemetry.version.clone(),
            repo_count: e.store.count_repos(None).await?,
            user_count: e.store.count_users().await?,
            seat_count: claims.map(|c| u64::from(c.seats)),
            tokens_saved_24h: saved.tokens_saved,
            uptime_hours: uptime_hours(self.setting_time(keys::UP_SINCE).await?, now),
        }
        .clamped())
    }

    pub(crate) async fn status_now(&self) -> Result<TelemetryStatus, EngineError> {
        let e = &self.inner;
        let instance_id = self.instance_id().await?;
        let decision = self.telemetry_decision().await?;
        let endpoint = e.telemetry.as_ref().map(|t| t.endpoint());
        let sending = endpoint.is_some() && decision.send;
        let reason = if endpoint.is_none() {
            "telemetry is off: this build or configuration has no telemetry sender (feature `telemetry-http`)".into()
        } else {
            decision.reason()
        };
        let last_receipt: Option<ReceiptRecord> =
            parse_json(keys::LAST_RECEIPT, e.store.get_setting(keys::LAST_RECEIPT).await?);
        let last_failure = parse_json(keys::LAST_FAILURE, e.store.get_setting(keys::LAST_FAILURE).await?);
        let overdue = match (sending, self.setting_time(keys::TRYING_SINCE).await?) {
            (true, Some(since)) => receipt_overdue(last_receipt.as_ref().map(|r| r.verified_at), since, e.clock.now()),
            _ => None,
        };
        Ok(TelemetryStatus {
            instance_id,
            sending,
            reason,
            opt_out_allowed: decision.license.allows_opt_out(),
            decision,
            admin_opted_out: self.admin_opted_out().await?,
            endpoint,
            last_receipt,
            last_failure,
            receipt_overdue_days: overdue.map(|d| d.num_days()),
        })
    }

    /// Telemetry state for the admin page: account owners, or the admin token.
    pub async fn telemetry_status(&self, caller: &Caller) -> Result<TelemetryStatus, EngineError> {
        if !matches!(caller, Caller::Admin) {
            caller.owner()?;
        }
        self.status_now().await
    }

    /// Turns the admin toggle on or off. Turning telemetry off is refused with
    /// `telemetry_required` when the license requires telemetry.
    pub async fn set_telemetry_enabled(&self, caller: &Caller, enabled: bool) -> Result<TelemetryStatus, EngineError> {
        if !matches!(caller, Caller::Admin) {
            caller.owner()?;
        }
        let term = Self::license_term(&self.inner.license.status().await);
        if !enabled && !term.allows_opt_out() {
            return Err(EngineError::License {
                code: "telemetry_required",
                message: match term {
                    LicenseTerm::Unverified => "telemetry cannot be turned off before a license has verified: \
                        license gating is on and an unverified license counts as telemetry_required"
                        .into(),
                    _ => "the license requires telemetry (its telemetry_required claim is true or absent); \
                        ask for a license issued with telemetry_required=false to opt out"
                        .into(),
                },
            });
        }
        self.inner
            .store
            .put_setting(keys::ADMIN_OPT_OUT, if enabled { "false" } else { "true" })
            .await?;
        tracing::info!(enabled, "telemetry admin toggle changed");
        self.status_now().await
    }

    /// The next heartbeat and whether it would be sent (`lettuce telemetry
    /// preview`). Creates the instance id if the install has none yet.
    pub async fn telemetry_preview(&self) -> Result<TelemetryPreview, EngineError> {
        Ok(TelemetryPreview {
            heartbeat: self.next_heartbeat().await?,
            status: self.status_now().await?,
        })
    }

    /// Logs, once at start-up, whether telemetry is on, and — at WARN — an
    /// opt-out that the license overrides.
    pub async fn log_telemetry_state(&self) {
        match self.status_now().await {
            Ok(s) if s.decision.contradiction().is_some() => tracing::warn!(endpoint = ?s.endpoint, "{}", s.reason),
            Ok(s) => {
                tracing::info!(sending = s.sending, endpoint = ?s.endpoint, instance_id = %s.instance_id, "{}", s.reason)
            }
            Err(e) => tracing::warn!(error = %e, "cannot determine the telemetry state"),
        }
    }

    /// Hourly housekeeping, run by every process: records that the instance
    /// is up (for `uptime_hours`) and enqueues this hour's [`TELEMETRY_JOB`]
    /// (once per hour across all processes).
    pub async fn telemetry_tick(&self) -> Result<(), EngineError> {
        let e = &self.inner;
        let now = e.clock.now();
        let up_since = next_up_since(
            self.setting_time(keys::UP_SINCE).await?,
            self.setting_time(keys::ALIVE_AT).await?,
            now,
        );
        e.store.put_setting(keys::UP_SINCE, &up_since.to_rfc3339()).await?;
        e.store.put_setting(keys::ALIVE_AT, &now.to_rfc3339()).await?;
        if e.telemetry.is_none() {
            return Ok(());
        }
        let hour = period_slot(now, std::time::Duration::from_secs(3600));
        let job = NewJob::new(TELEMETRY_JOB, serde_json::json!({})).max_attempts(e.settings.telemetry.job_max_attempts);
        e.queue.enqueue_periodic(TELEMETRY_JOB, hour, job).await?;
        Ok(())
    }

    /// Sends one heartbeat now with up to `attempts` tries (exponential
    /// backoff between them) and records the outcome. Ignores whether
    /// telemetry is on: callers decide (`lettuce telemetry send`, the job).
    /// The outer error is a store failure; the inner one the last send error.
    pub async fn send_heartbeat(&self, attempts: u32) -> Result<Result<ReceiptRecord, TelemetryError>, EngineError> {
        let e = &self.inner;
        let Some(sink) = e.telemetry.clone() else {
            return Err(EngineError::Unavailable(
                "this build or configuration has no telemetry sender (feature `telemetry-http`)".into(),
            ));
        };
        let heartbeat = self.next_heartbeat().await?;
        let now = e.clock.now();
        e.store.init_setting(keys::TRYING_SINCE, &now.to_rfc3339()).await?;
        let attempts = attempts.max(1);
        let mut tried = 0;
        let result = loop {
            tried += 1;
            match sink.send(&heartbeat).await {
                Ok(receipt) => break Ok(receipt),
                Err(err) if err.is_retryable() && tried < attempts => {
                    let mut delay = heartbeat_retry_delay(tried, e.settings.telemetry.retry_base);
                    if let TelemetryError::RateLimited {
                        retry_after: Some(after),
                        ..
                    } = &err
                    {
                        delay = delay.max(*after).min(std::time::Duration::from_secs(600));
                    }
                    tracing::info!(attempt = tried, of = attempts, error = %err, retry_in = ?delay, "telemetry heartbeat not verified; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(err) => break Err(err),
            }
        };
        match result {
            Ok(receipt) => {
                let record = self.record_receipt(receipt).await?;
                tracing::info!(receipt = %record.receipt_id, endpoint = %record.endpoint, "telemetry heartbeat sent and verified");
                Ok(Ok(record))
            }
            Err(err) => {
                let failure = FailureRecord {
                    at: e.clock.now(),
                    kind: err.kind().to_owned(),
                    message: err.to_string(),
                };
                e.store.put_setting(keys::LAST_FAILURE, &json(&failure)).await?;
                Ok(Err(err))
            }
        }
    }

    async fn record_receipt(&self, receipt: TelemetryReceipt) -> Result<ReceiptRecord, EngineError> {
        let record = ReceiptRecord {
            receipt_id: receipt.receipt_id,
            received_at: receipt.received_at,
            verified_at: self.inner.clock.now(),
            endpoint: receipt.endpoint,
        };
        self.inner.store.put_setting(keys::LAST_RECEIPT, &json(&record)).await?;
        Ok(record)
    }

    /// One run of the hourly [`TELEMETRY_JOB`] (queue attempt `attempt` of
    /// `max_attempts`): sends the heartbeat when telemetry is on and none was
    /// verified in the current daily slot, logs opt-out contradictions, and
    /// warns (once a day) when no receipt was verified for 7 days.
    pub async fn run_telemetry_job(&self, attempt: u32, max_attempts: u32) -> Result<TelemetryRun, EngineError> {
        let status = self.status_now().await?;
        if !status.sending {
            tracing::debug!("{}", status.reason);
            return Ok(TelemetryRun::Off(status.reason));
        }
        if let Some(contradiction) = status.decision.contradiction() {
            tracing::warn!("{contradiction}");
        }
        let now = self.inner.clock.now();
        let slot = heartbeat_slot(now, status.instance_id);
        let run = match &status.last_receipt {
            Some(r) if r.verified_at >= slot => TelemetryRun::NotDue,
            _ => match self.send_heartbeat(self.inner.settings.telemetry.attempts).await? {
                Ok(record) => TelemetryRun::Sent(record),
                Err(err) => {
                    let retry = err.is_retryable() && attempt < max_attempts;
                    tracing::warn!(error = %err, attempt, max_attempts, will_retry = retry, "telemetry heartbeat failed");
                    TelemetryRun::Failed {
                        error: FailureRecord {
                            at: self.inner.clock.now(),
                            kind: err.kind().into(),
                            message: err.to_string(),
                        },
                        retry,
                    }
                }
            },
        };
        self.warn_if_overdue(slot).await?;
        Ok(run)
    }

    /// Logs `no telemetry receipt verified in 7 days` at WARN, at most once
    /// per daily slot.
    async fn warn_if_overdue(&self, slot: DateTime<Utc>) -> Result<(), EngineError> {
        let status = self.status_now().await?;
        let Some(days) = status.receipt_overdue_days else {
            return Ok(());
        };
        let slot_key = slot.to_rfc3339();
        if self.inner.store.get_setting(keys::OVERDUE_WARNED).await?.as_deref() == Some(slot_key.as_str()) {
            return Ok(());
        }
        self.inner.store.put_setting(keys::OVERDUE_WARNED, &slot_key).await?;
        let last = status
            .last_receipt
            .as_ref()
            .map_or_else(|| "never".to_owned(), |r| r.verified_at.to_rfc3339());
        let failure = status
            .last_failure
            .as_ref()
            .map_or_else(String::new, |f| format!("; last error: {}", f.message));
        tracing::warn!(
            days,
            last_receipt = %last,
            endpoint = ?status.endpoint,
            "no telemetry receipt verified in 7 days (none for {days} days; last verified: {last}{failure}). \
             Check outbound HTTPS to the telemetry endpoint (LETTUCE_TELEMETRY_URL, HTTPS_PROXY); see docs/telemetry.md"
        );
        Ok(())
    }
}
