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
use lettuce_ports::store::{ToolUsage, UsageCounters, usage_hour};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Longest time a count waits in memory before it is written.
pub const FLUSH_AFTER: Duration = Duration::from_secs(2);
/// Most days `usage` reports.
pub const MAX_USAGE_DAYS: u32 = 366;

/// Counts not yet written, per key.
#[derive(Debug)]
struct Pending<K>(Mutex<HashMap<K, UsageCounters>>);

impl<K> Default for Pending<K> {
    fn default() -> Self {
        Pending(Mutex::default())
    }
}

impl<K: std::hash::Hash + Eq> Pending<K> {
    fn add(&self, key: K, c: UsageCounters) {
        let mut p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let slot = p.entry(key).or_default();
        *slot = slot.saturating_add(c);
    }

    fn take(&self) -> HashMap<K, UsageCounters> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Counts not yet written: per account and hour, and per account, hour and
/// tool (two tables, flushed independently so a failed write of one never
/// counts the other twice).
#[derive(Debug, Default)]
pub(crate) struct UsageMeter {
    hourly: Pending<(AccountId, DateTime<Utc>)>,
    per_tool: Pending<(AccountId, DateTime<Utc>, &'static str)>,
    flush_scheduled: AtomicBool,
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
    /// Sum over the period per tool, most queries first.
    pub tools: Vec<ToolUsage>,
}

impl Engine {
    /// Adds one answer of `tool` to the account's counters (not waiting
    /// for the store).
    pub(crate) fn meter(&self, account: AccountId, tool: &'static str, tokens: TokenAccount) {
        let counters = UsageCounters {
            queries: 1,
            tokens_returned: tokens.returned,
            tokens_full: tokens.full,
            tokens_saved: tokens.saved(),
        };
        let meter = &self.inner.meter;
        let hour = usage_hour(self.inner.clock.now());
        meter.hourly.add((account, hour), counters);
        meter.per_tool.add((account, hour, tool), counters);
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
        let meter = &self.inner.meter;
        let store = &self.inner.store;
        let mut first_error = None;
        // A write that fails is kept for the next flush, except when the
        // account is gone (nothing to bill).
        let mut keep = |e: lettuce_ports::store::StoreError| match e {
            lettuce_ports::store::StoreError::NotFound { .. } => false,
            e => {
                first_error.get_or_insert(e);
                true
            }
        };
        for ((account, hour), counters) in meter.hourly.take() {
            if let Err(e) = store.add_usage(account, hour, counters).await
                && keep(e)
            {
                meter.hourly.add((account, hour), counters);
            }
        }
        for ((account, hour, tool), counters) in meter.per_tool.take() {
            if let Err(e) = store.add_tool_usage(account, hour, tool, counters).await
                && keep(e)
            {
                meter.per_tool.add((account, hour, tool), counters);
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
        let end = now + chrono::Duration::hours(1);
        let buckets = self.inner.store.usage_buckets(Some(u.account_id), start, end).await?;
        let tools = self.inner.store.tool_usage(u.account_id, start, end).await?;
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
            tools,
        })
    }
}
