//! Token metering: every navigation answer's accounting is added to the
//! account's hourly counters in the metadata store (`GET /v1/usage`, the
//! telemetry field `tokens_saved_24h`, billing).
//!
//! Answers never wait for the store: counts collect in memory and a
//! background task writes them within [`FLUSH_AFTER`]; `usage()` and
//! shutdown flush first. A process that dies loses at most that window.

use crate::builder::Engine;
use crate::caller::Caller;
use crate::error::EngineError;
use chrono::{DateTime, NaiveDate, Utc};
use lettuce_domain::AccountId;
use lettuce_domain::code::TokenAccount;
use lettuce_ports::store::{UsageCounters, usage_hour};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Longest time a count waits in memory before it is written.
pub const FLUSH_AFTER: Duration = Duration::from_secs(2);
/// Most days `usage` reports.
pub const MAX_USAGE_DAYS: u32 = 366;

/// Counts not yet written, per account and hour.
#[derive(Debug, Default)]
pub(crate) struct UsageMeter {
    pending: Mutex<HashMap<(AccountId, DateTime<Utc>), UsageCounters>>,
    flush_scheduled: AtomicBool,
}

impl UsageMeter {
    fn add(&self, account: AccountId, hour: DateTime<Utc>, c: UsageCounters) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let slot = p.entry((account, hour)).or_default();
        *slot = slot.saturating_add(c);
    }

    fn take(&self) -> HashMap<(AccountId, DateTime<Utc>), UsageCounters> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One day of an account's usage (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageDay {
    /// The day.
    pub date: NaiveDate,
    /// Its counters.
    pub counters: UsageCounters,
}

/// An account's usage over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageReport {
    /// The token encoding the counts use (`o200k_base`, …).
    pub encoding: &'static str,
    /// First day of the period.
    pub from: NaiveDate,
    /// Last day of the period (today).
    pub to: NaiveDate,
    /// Days with any usage, oldest first.
    pub days: Vec<UsageDay>,
    /// Sum over the period.
    pub total: UsageCounters,
}

impl Engine {
    /// Adds one answer's accounting to the account's counters (not
    /// waiting for the store).
    pub(crate) fn meter(&self, account: AccountId, tokens: TokenAccount) {
        let counters = UsageCounters {
            queries: 1,
            tokens_returned: tokens.returned,
            tokens_full: tokens.full,
            tokens_saved: tokens.saved(),
        };
        let meter = &self.inner.meter;
        meter.add(account, usage_hour(self.inner.clock.now()), counters);
        if !meter.flush_scheduled.swap(true, Ordering::AcqRel)
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let engine = self.clone();
            rt.spawn(async move {
                tokio::time::sleep(FLUSH_AFTER).await;
                engine.inner.meter.flush_scheduled.store(false, Ordering::Release);
                if let Err(e) = engine.flush_usage().await {
                    tracing::warn!(error = %e, "writing usage counters failed; they are kept for the next attempt");
                }
            });
        }
    }

    /// Writes every pending count to the metadata store. Counts that fail
    /// to write are kept for the next flush. Call it at shutdown.
    pub async fn flush_usage(&self) -> Result<(), EngineError> {
        let pending = self.inner.meter.take();
        let mut first_error = None;
        for ((account, hour), counters) in pending {
            if let Err(e) = self.inner.store.add_usage(account, hour, counters).await {
                match e {
                    // The account is gone: nothing to bill.
                    lettuce_ports::store::StoreError::NotFound { .. } => {}
                    e => {
                        self.inner.meter.add(account, hour, counters);
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// The caller's account usage per day for the last `days` days
    /// (1–366, today included).
    pub async fn usage(&self, caller: &Caller, days: u32) -> Result<UsageReport, EngineError> {
        let u = caller.user()?;
        if days == 0 || days > MAX_USAGE_DAYS {
            return Err(lettuce_domain::ValidationError::new(
                "days",
                format!("days must be between 1 and {MAX_USAGE_DAYS}"),
            )
            .into());
        }
        if let Err(e) = self.flush_usage().await {
            tracing::warn!(error = %e, "flushing usage before a report failed; the report may lag");
        }
        let now = self.inner.clock.now();
        let to = now.date_naive();
        let from = to - chrono::Duration::days(i64::from(days) - 1);
        let start = from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let buckets = self
            .inner
            .store
            .usage_buckets(Some(u.account_id), start, now + chrono::Duration::hours(1))
            .await?;
        let mut by_day: std::collections::BTreeMap<NaiveDate, UsageCounters> = Default::default();
        let mut total = UsageCounters::default();
        for b in buckets {
            let slot = by_day.entry(b.hour.date_naive()).or_default();
            *slot = slot.saturating_add(b.counters);
            total = total.saturating_add(b.counters);
        }
        Ok(UsageReport {
            encoding: self.inner.tokens.encoding(),
            from,
            to,
            days: by_day
                .into_iter()
                .map(|(date, counters)| UsageDay { date, counters })
                .collect(),
            total,
        })
    }
}
