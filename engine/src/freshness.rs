//! Webhooks that repair themselves (issue 13, PRODUCT P-9 "freshness
//! survives lost webhooks").
//!
//! * **When**: [`Engine::freshness_tick`] (every process, every
//!   [`FreshnessSettings::check_interval`]) enqueues one
//!   [`WEBHOOK_CHECK_JOB`] per interval slot through
//!   [`JobQueue::enqueue_periodic`](lettuce_ports::queue::JobQueue::enqueue_periodic),
//!   so one check runs per interval however many workers there are.
//! * **Hooks**: for every repo added through a code host, the check asks the
//!   provider for the registered hook ([`GitProvider::webhook_info`]) and
//!   re-registers it when it is missing (deleted on the host), points at
//!   another URL (`LETTUCE_WEB_URL` changed) or is inactive.
//! * **Heads**: within a per-host budget
//!   ([`FreshnessSettings::poll_budget_per_host`] checks per hour), it reads
//!   the remote head of the indexed branch (`ls-remote`,
//!   [`GitMirror::remote_head`](lettuce_ports::git::GitMirror::remote_head)).
//!   A head that moved past the indexed commit with no delivery since the
//!   last check means the webhook is unreachable: the repo switches to
//!   [`FreshnessMode::Polling`] and is re-indexed; while polling, every check
//!   re-indexes a moved head. The next accepted delivery switches the repo
//!   back to webhooks ([`Engine::note_delivery`]). Repos in polling mode are
//!   checked first, then the longest-unchecked.
//! * **Health**: each check records `checked_at`, what it found or repaired
//!   (`check_note`), the remote head and the mode on the repo's link; the
//!   API shows them as the repo's webhook health.

use crate::builder::Engine;
use crate::error::EngineError;
use chrono::{DateTime, Utc};
use lettuce_domain::codehost::{DeliveryOutcome, FreshnessMode, RepoLink};
use lettuce_domain::repo::{RepoStatus, RepoUrl};
use lettuce_domain::{RepoId, Secret};
use lettuce_ports::config::Settings;
use lettuce_ports::git::{GitError, GitProvider, ProviderStatus, RemoteRepo, SyncRequest, WebhookTarget};
use lettuce_ports::queue::{NewJob, period_slot};
use lettuce_ports::store::StoreError;
use std::collections::HashMap;
use std::time::Duration;

/// Job kind of the periodic webhook check.
pub const WEBHOOK_CHECK_JOB: &str = "check_webhooks";

/// Links read per store page.
const PAGE: usize = 200;

/// How often hooks are verified and heads compared, and how many remote-head
/// checks each host may take per hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreshnessSettings {
    /// `LETTUCE_WEBHOOK_CHECK_INTERVAL` (seconds, default 900 = 15 minutes,
    /// at least 10).
    pub check_interval: Duration,
    /// `LETTUCE_POLL_BUDGET_PER_HOST` (default 60 remote-head checks per host
    /// per hour; 0 turns head checks and polling off).
    pub poll_budget_per_host: u32,
}

impl Default for FreshnessSettings {
    fn default() -> Self {
        Self {
            check_interval: Duration::from_secs(900),
            poll_budget_per_host: 60,
        }
    }
}

impl FreshnessSettings {
    /// Reads `LETTUCE_WEBHOOK_CHECK_INTERVAL` and
    /// `LETTUCE_POLL_BUDGET_PER_HOST`; bad values are errors naming the
    /// variable and the fix.
    pub fn from_settings(s: &mut Settings<'_>) -> Self {
        let mut out = Self::default();
        if let Some(v) = s.get("LETTUCE_WEBHOOK_CHECK_INTERVAL") {
            match v.trim().parse::<u64>() {
                Ok(secs) if secs >= 10 => out.check_interval = Duration::from_secs(secs),
                _ => s.error(
                    "LETTUCE_WEBHOOK_CHECK_INTERVAL",
                    format!("`{v}` is not a number of seconds of at least 10"),
                    "set LETTUCE_WEBHOOK_CHECK_INTERVAL to the seconds between webhook checks, e.g. 900",
                ),
            }
        }
        if let Some(v) = s.get("LETTUCE_POLL_BUDGET_PER_HOST") {
            match v.trim().parse::<u32>() {
                Ok(n) => out.poll_budget_per_host = n,
                Err(_) => s.error(
                    "LETTUCE_POLL_BUDGET_PER_HOST",
                    format!("`{v}` is not a whole number"),
                    "set LETTUCE_POLL_BUDGET_PER_HOST to the remote-head checks allowed per host per hour, e.g. 60 (0 turns polling off)",
                ),
            }
        }
        out
    }
}

/// Remote-head checks spent per host in the current hour (per process; the
/// check job runs once per interval across processes).
#[derive(Debug, Default)]
pub(crate) struct PollBudget {
    spent: std::sync::Mutex<HashMap<String, (DateTime<Utc>, u32)>>,
}

impl PollBudget {
    /// Takes one check for `host` in the hour of `now`, if the budget allows.
    fn take(&self, host: &str, now: DateTime<Utc>, budget: u32) -> bool {
        let hour = period_slot(now, Duration::from_secs(3600));
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        let entry = spent.entry(host.to_owned()).or_insert((hour, 0));
        if entry.0 != hour {
            *entry = (hour, 0);
        }
        if entry.1 >= budget {
            return false;
        }
        entry.1 += 1;
        true
    }
}

/// What one run of the check did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreshnessReport {
    /// Linked repos looked at.
    pub checked: usize,
    /// Hooks re-registered.
    pub repaired: usize,
    /// Repos that switched to polling in this run.
    pub now_polling: usize,
    /// Re-indexes queued because the remote head moved.
    pub reindexed: usize,
    /// Head checks skipped because the host's budget was spent.
    pub over_budget: usize,
}

impl Engine {
    /// Enqueues this interval's [`WEBHOOK_CHECK_JOB`] (once per interval
    /// across all processes). Call it every
    /// [`FreshnessSettings::check_interval`].
    pub async fn freshness_tick(&self) -> Result<(), EngineError> {
        let e = &self.inner;
        let slot = period_slot(e.clock.now(), e.settings.freshness.check_interval);
        let job = NewJob::new(WEBHOOK_CHECK_JOB, serde_json::json!({})).max_attempts(1);
        e.queue.enqueue_periodic(WEBHOOK_CHECK_JOB, slot, job).await?;
        Ok(())
    }

    /// One webhook check over every linked repo (see the module docs).
    /// Per-repo failures are recorded on the repo and do not stop the run.
    pub async fn check_webhooks(&self) -> Result<FreshnessReport, EngineError> {
        let mut links = Vec::new();
        let mut after = None;
        loop {
            let page = self.inner.store.list_all_repo_links(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.repo_id);
            links.extend(page);
        }
        // Polling repos first, then the longest-unchecked, so a tight budget
        // goes where it matters.
        links.sort_by_key(|l| (l.mode != FreshnessMode::Polling, l.checked_at));
        let mut report = FreshnessReport::default();
        for link in links {
            report.checked += 1;
            if let Err(e) = self.check_one(link, &mut report).await {
                tracing::warn!(error = %e, "webhook check of a repo failed");
            }
        }
        tracing::info!(
            checked = report.checked,
            repaired = report.repaired,
            now_polling = report.now_polling,
            reindexed = report.reindexed,
            over_budget = report.over_budget,
            "webhook check done"
        );
        metrics::counter!("lettuce_webhook_repairs_total").increment(report.repaired as u64);
        Ok(report)
    }

    async fn check_one(&self, mut link: RepoLink, report: &mut FreshnessReport) -> Result<(), EngineError> {
        let repo = match self.inner.store.get_repo_unscoped(link.repo_id).await {
            Ok(r) => r,
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let now = self.inner.clock.now();
        let mut notes: Vec<String> = Vec::new();
        let provider = self
            .inner
            .providers
            .iter()
            .find(|p| p.kind().as_str() == link.provider)
            .cloned();
        let installation = match &provider {
            Some(p) if p.status() == ProviderStatus::Ready => {
                match self
                    .inner
                    .store
                    .get_installation(link.account_id, &link.provider)
                    .await?
                {
                    Some(i) if !i.needs_reauth => match self.open_installation(p.as_ref(), i).await {
                        Ok(i) => Some(i),
                        Err(e) => {
                            notes.push(format!("could not use the code-host connection: {e}"));
                            None
                        }
                    },
                    Some(_) => {
                        notes.push("the code-host connection needs reconnecting".into());
                        None
                    }
                    None => {
                        notes.push("the code host is disconnected".into());
                        None
                    }
                }
            }
            _ => {
                notes.push(format!("{} is not configured on this instance", link.provider));
                None
            }
        };
        // ── the hook ───────────────────────────────────────────────────────
        if let (Some(p), Some(inst)) = (&provider, &installation) {
            let remote = RemoteRepo {
                id: link.provider_repo_id.clone(),
                full_name: link.full_name.clone(),
                clone_url: repo.url.clone(),
                default_branch: Some(link.branch.clone()),
                private: repo.sealed_credentials.is_some(),
            };
            if let Some((note, repaired)) = self.repair_hook(p.as_ref(), inst, &remote, &mut link).await? {
                report.repaired += usize::from(repaired);
                notes.push(note);
            }
        }
        // ── the remote head ───────────────────────────────────────────────
        let budget = self.inner.settings.freshness.poll_budget_per_host;
        let url = RepoUrl::parse(&repo.url).ok();
        let host = url.as_ref().map(crate::observe::host_label).unwrap_or_default();
        if budget == 0 || url.is_none() {
            // Polling is off (or the URL is unreadable): hooks only.
        } else if !self.inner.freshness_budget.take(&host, now, budget) {
            report.over_budget += 1;
            notes.push(format!(
                "head check skipped: {host}'s budget of {budget} checks per hour is spent"
            ));
        } else if let Some(url) = url {
            let head = match self.clone_credentials(&repo, &url).await {
                Ok(creds) => {
                    let req = SyncRequest {
                        key: repo.id.to_string(),
                        url: url.with_credentials(creds),
                        branch: Some(link.branch.clone()),
                    };
                    self.inner.mirror.remote_head(&req).await.map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            match head {
                Ok(head) => {
                    let since = link.checked_at.or(repo.indexed_at);
                    self.compare_head(
                        repo.id,
                        repo.status,
                        repo.indexed_commit.as_deref(),
                        since,
                        &head,
                        &mut link,
                        &mut notes,
                        report,
                    )
                    .await?;
                    link.remote_head = Some(head);
                }
                Err(e) => notes.push(format!("could not read the remote head: {e}")),
            }
        }
        if notes.is_empty() {
            notes.push(match link.mode {
                FreshnessMode::Webhook => "webhook registered and active; index up to date".into(),
                FreshnessMode::Polling => "polling: index up to date".into(),
            });
        }
        link.checked_at = Some(now);
        link.check_note = Some(notes.join("; "));
        link.updated_at = now;
        match self.inner.store.put_repo_link(&link).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Verifies the hook of `link` and re-registers it when it is missing,
    /// points elsewhere or is inactive. Returns what it did or found, if
    /// anything, and whether a hook was registered.
    async fn repair_hook(
        &self,
        p: &dyn GitProvider,
        inst: &lettuce_domain::codehost::Installation,
        remote: &RemoteRepo,
        link: &mut RepoLink,
    ) -> Result<Option<(String, bool)>, EngineError> {
        let Some(target) = self.webhook_target(link).await? else {
            return Ok(Some((
                "LETTUCE_WEB_URL is not set: no webhook can be registered".into(),
                false,
            )));
        };
        let why = match &link.hook_id {
            None => "registered the missing webhook".to_owned(),
            Some(id) => match p.webhook_info(inst, remote, id).await {
                Ok(None) => "re-registered the webhook, which had been deleted on the code host".to_owned(),
                Ok(Some(info)) if info.url != target.url => {
                    let _ = p.delete_webhook(inst, remote, id).await;
                    format!("re-registered the webhook, which pointed at {}", info.url)
                }
                Ok(Some(info)) if !info.active => {
                    let _ = p.delete_webhook(inst, remote, id).await;
                    "re-registered the webhook, which the code host had deactivated".to_owned()
                }
                Ok(Some(_)) => return Ok(None),
                Err(GitError::Unsupported { .. }) => return Ok(None),
                Err(e) => return Ok(Some((format!("could not check the webhook: {e}"), false))),
            },
        };
        match p.register_webhook(inst, remote, &target).await {
            Ok(id) => {
                tracing::info!(repo = %link.repo_id, provider = %link.provider, reason = %why, "webhook repaired");
                link.hook_id = Some(id);
                link.hook_error = None;
                Ok(Some((why, true)))
            }
            Err(e) => {
                let msg = match e {
                    GitError::PermissionDenied { message } => {
                        format!("webhook not registered: {message}; re-grant the permission, then retry webhook setup")
                    }
                    other => format!("webhook not registered: {other}; retry webhook setup"),
                };
                link.hook_error = Some(msg.clone());
                Ok(Some((msg, false)))
            }
        }
    }

    /// The delivery URL and secret for `link`'s account, or `None` without
    /// `LETTUCE_WEB_URL`.
    pub(crate) async fn webhook_target(&self, link: &RepoLink) -> Result<Option<WebhookTarget>, EngineError> {
        let Some(base) = &self.inner.settings.web_url else {
            return Ok(None);
        };
        let account = self.inner.store.get_account(link.account_id).await?;
        Ok(Some(WebhookTarget {
            url: format!(
                "{}/v1/{}/webhook/{}",
                base.trim_end_matches('/'),
                link.provider,
                link.account_id
            ),
            secret: Secret::new(account.webhook_secret),
        }))
    }

    /// Compares the remote head with the index: a head that moved with no
    /// delivery since `since` (the last check, else the last index) switches
    /// the repo to polling; while polling, a moved head is re-indexed.
    #[allow(clippy::too_many_arguments)]
    async fn compare_head(
        &self,
        repo_id: RepoId,
        status: RepoStatus,
        indexed: Option<&str>,
        since: Option<DateTime<Utc>>,
        head: &str,
        link: &mut RepoLink,
        notes: &mut Vec<String>,
        report: &mut FreshnessReport,
    ) -> Result<(), EngineError> {
        let busy = matches!(status, RepoStatus::Pending | RepoStatus::Indexing);
        if indexed == Some(head) || busy {
            return Ok(());
        }
        let short = &head[..head.len().min(12)];
        match link.mode {
            FreshnessMode::Polling => {
                notes.push(format!("polling: the remote head moved to {short}, re-index queued"));
            }
            FreshnessMode::Webhook => {
                let delivered = self
                    .inner
                    .store
                    .list_webhook_deliveries(repo_id, 5)
                    .await?
                    .iter()
                    .any(|d| d.outcome != DeliveryOutcome::Ping && since.is_none_or(|s| d.at >= s));
                if delivered {
                    // The hook works; this head's delivery may be in flight.
                    notes.push(format!("the remote head is at {short}; a delivery arrived recently"));
                    return Ok(());
                }
                link.mode = FreshnessMode::Polling;
                report.now_polling += 1;
                tracing::warn!(repo = %repo_id, provider = %link.provider, "remote head moved without a webhook delivery: polling");
                notes.push(format!(
                    "webhook unreachable: the remote head moved to {short} without a delivery; polling until one arrives, re-index queued"
                ));
            }
        }
        self.queue_push_reindex(repo_id).await?;
        report.reindexed += 1;
        Ok(())
    }

    /// An accepted delivery for `link`: a repo that was polling goes back to
    /// webhooks.
    pub(crate) async fn note_delivery(&self, link: &RepoLink) -> Result<(), EngineError> {
        if link.mode != FreshnessMode::Polling {
            return Ok(());
        }
        let mut back = link.clone();
        back.mode = FreshnessMode::Webhook;
        back.check_note = Some("a webhook delivery arrived: back to webhooks".into());
        back.updated_at = self.inner.clock.now();
        tracing::info!(repo = %link.repo_id, "webhook delivery arrived: leaving polling");
        match self.inner.store.put_repo_link(&back).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_resets_each_hour_and_is_per_host() {
        let b = PollBudget::default();
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert!(b.take("a", t, 2));
        assert!(b.take("a", t, 2));
        assert!(!b.take("a", t, 2));
        assert!(b.take("b", t, 2), "hosts have separate budgets");
        assert!(b.take("a", t + chrono::Duration::hours(1), 2), "a new hour resets it");
    }

    #[test]
    fn settings_parse_and_refuse() {
        let env: HashMap<String, String> = [
            ("LETTUCE_WEBHOOK_CHECK_INTERVAL".to_owned(), "60".to_owned()),
            ("LETTUCE_POLL_BUDGET_PER_HOST".to_owned(), "0".to_owned()),
        ]
        .into();
        let mut s = Settings::new(&env);
        let f = FreshnessSettings::from_settings(&mut s);
        assert_eq!(f.check_interval, Duration::from_secs(60));
        assert_eq!(f.poll_budget_per_host, 0);
        assert!(s.into_errors().is_empty());
        let env: HashMap<String, String> = [
            ("LETTUCE_WEBHOOK_CHECK_INTERVAL".to_owned(), "5".to_owned()),
            ("LETTUCE_POLL_BUDGET_PER_HOST".to_owned(), "-1".to_owned()),
        ]
        .into();
        let mut s = Settings::new(&env);
        let _ = FreshnessSettings::from_settings(&mut s);
        let errs = s.into_errors();
        assert_eq!(errs.len(), 2);
        let text = format!("{errs:?}");
        assert!(text.contains("LETTUCE_WEBHOOK_CHECK_INTERVAL") && text.contains("LETTUCE_POLL_BUDGET_PER_HOST"));
    }
}
