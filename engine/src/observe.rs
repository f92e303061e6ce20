//! What the engine reports about itself: the trace context a job carries
//! from the request that enqueued it, and the metrics the `/metrics`
//! endpoint exposes (through the `metrics` facade; the app installs the
//! exporter, so an embedder without one pays nothing).
//!
//! Metric names follow Prometheus conventions; the full list with labels is
//! in `docs/observability.md`.

use crate::builder::Engine;
use lettuce_domain::license::LicenseState;
use lettuce_ports::queue::{EnqueueOutcome, NewJob, QueueError};
use lettuce_ports::trace::TraceCarrier;
use std::time::Instant;
use tracing::Instrument;

/// Payload field holding the enqueuing span's trace context.
pub const TRACE_FIELD: &str = "_trace";

impl Engine {
    /// Enqueues `job` inside a `queue.enqueue` span whose trace context rides
    /// in the payload ([`TRACE_FIELD`]), so the worker's `job.<kind>` span
    /// continues the request's trace and links to this span.
    pub(crate) async fn enqueue(&self, mut job: NewJob) -> Result<EnqueueOutcome, QueueError> {
        let span = tracing::info_span!(
            "queue.enqueue",
            otel.name = %format!("enqueue {}", job.kind),
            otel.kind = "producer",
            job.kind = %job.kind,
        );
        let carrier = self.inner.propagation.inject(&span);
        if !carrier.is_empty()
            && let Some(payload) = job.payload.as_object_mut()
        {
            payload.insert(TRACE_FIELD.into(), serde_json::json!(carrier));
        }
        let kind = job.kind.clone();
        let outcome = self.inner.queue.enqueue(job).instrument(span).await?;
        let label = match outcome {
            EnqueueOutcome::Enqueued(_) => "enqueued",
            EnqueueOutcome::Coalesced(_) => "coalesced",
        };
        metrics::counter!("lettuce_jobs_enqueued_total", "kind" => kind, "outcome" => label).increment(1);
        Ok(outcome)
    }

    /// Makes `span` (a job's span, not yet entered) continue the trace the
    /// job's payload carries.
    pub(crate) fn continue_trace(&self, span: &tracing::Span, payload: &serde_json::Value) {
        let Some(fields) = payload.get(TRACE_FIELD).and_then(|v| v.as_object()) else {
            return;
        };
        let carrier: TraceCarrier = fields
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect();
        self.inner.propagation.continue_from(span, &carrier);
    }

    /// Updates the gauges that are read, not counted: queue depth and the
    /// age of the oldest due job per kind, license state and days to expiry,
    /// the last telemetry receipt. `/metrics` calls this before rendering.
    /// Bounded by a 2-second timeout per source; a failing source leaves its
    /// gauges as they were and sets `lettuce_metrics_source_up{source}` to 0.
    pub async fn observe_gauges(&self) {
        let limit = std::time::Duration::from_secs(2);
        let now = self.inner.clock.now();
        match tokio::time::timeout(limit, self.inner.queue.stats()).await {
            Ok(Ok(stats)) => {
                metrics::gauge!("lettuce_metrics_source_up", "source" => "job_queue").set(1.0);
                for k in stats.kinds {
                    let age = k
                        .oldest_due
                        .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
                        .unwrap_or(0.0);
                    metrics::gauge!("lettuce_queue_jobs", "kind" => k.kind.clone(), "state" => "available")
                        .set(k.available as f64);
                    metrics::gauge!("lettuce_queue_jobs", "kind" => k.kind.clone(), "state" => "running")
                        .set(k.running as f64);
                    metrics::gauge!("lettuce_queue_jobs", "kind" => k.kind.clone(), "state" => "dead")
                        .set(k.discarded as f64);
                    metrics::gauge!("lettuce_queue_oldest_available_age_seconds", "kind" => k.kind).set(age);
                }
            }
            _ => metrics::gauge!("lettuce_metrics_source_up", "source" => "job_queue").set(0.0),
        }
        let license = self.inner.license.status().await;
        for state in [
            LicenseState::Valid,
            LicenseState::Grace,
            LicenseState::ReadOnly,
            LicenseState::Locked,
        ] {
            let on = if license.state == state { 1.0 } else { 0.0 };
            metrics::gauge!("lettuce_license_state", "state" => state.as_str()).set(on);
        }
        if let Some(claims) = &license.claims {
            let days = (claims.exp - now.timestamp()) as f64 / 86_400.0;
            metrics::gauge!("lettuce_license_days_to_expiry").set(days);
        }
        if let Ok(Ok(status)) = tokio::time::timeout(limit, self.status_now()).await {
            metrics::gauge!("lettuce_telemetry_sending").set(if status.sending { 1.0 } else { 0.0 });
            if let Some(r) = status.last_receipt {
                metrics::gauge!("lettuce_telemetry_last_receipt_timestamp_seconds")
                    .set(r.verified_at.timestamp() as f64);
            }
        }
    }
}

/// Times one piece of work for a histogram.
pub(crate) struct Timer(Instant);

impl Timer {
    pub(crate) fn start() -> Self {
        Self(Instant::now())
    }

    pub(crate) fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// The host of a repository URL as a metric label (`local` for `file://`).
pub(crate) fn host_label(url: &lettuce_domain::repo::RepoUrl) -> String {
    match url.host() {
        lettuce_domain::repo::UrlHost::Domain(d) => d.to_ascii_lowercase(),
        lettuce_domain::repo::UrlHost::Ip(ip) => ip.to_string(),
        lettuce_domain::repo::UrlHost::Local => "local".into(),
    }
}
