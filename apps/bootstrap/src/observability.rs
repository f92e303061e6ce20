//! Logs, traces and metrics of a Lettuce process: the `tracing` subscriber
//! (pretty or JSON logs, plus the OpenTelemetry layer when `OTEL_*` names an
//! endpoint), and the Prometheus recorder behind `/metrics`.
//!
//! Log levels come from `LETTUCE_LOG` or `RUST_LOG`; the OpenTelemetry layer
//! has its own filter (`info` for Lettuce, the HTTP/gRPC stack of the
//! exporter itself silenced) so a quiet log level does not empty the traces.

use crate::config::{ConfigError, EnvMap, LogFormat};
use lettuce_ports::config::Settings;
use lettuce_ports::trace::{NoPropagation, TracePropagation};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Default log filter (`LETTUCE_LOG` / `RUST_LOG` override it).
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,tower_http=info,rmcp=warn,\
vaultrs=off,rustify=warn,aws_config=warn,aws_smithy_runtime=warn,opentelemetry=warn";

/// What the OpenTelemetry layer records: Lettuce's spans and the libraries'
/// `info` spans, never the exporter's own transport (which would trace
/// itself) or per-row driver chatter.
#[cfg(feature = "otel")]
const TRACE_FILTER: &str =
    "info,h2=off,hyper=off,hyper_util=off,tonic=off,tower=off,opentelemetry=off,sqlx=off,sea_orm=off,rmcp=warn";

/// `OTEL_*` and `LETTUCE_METRICS_BIND`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ObservabilityConfig {
    /// OTLP trace export (None: off).
    #[cfg(feature = "otel")]
    pub otel: Option<lettuce_otel::OtelConfig>,
    /// Serve `/metrics` (and the probes) on this address instead of the
    /// main port (`LETTUCE_METRICS_BIND`).
    pub metrics_bind: Option<SocketAddr>,
}

impl ObservabilityConfig {
    /// Whether spans are exported.
    pub fn tracing_on(&self) -> bool {
        #[cfg(feature = "otel")]
        return self.otel.is_some();
        #[cfg(not(feature = "otel"))]
        false
    }

    /// Rows for `lettuce config check`.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        #[cfg(feature = "otel")]
        let traces = match &self.otel {
            Some(c) => c.describe(),
            None => "off (OTEL_EXPORTER_OTLP_ENDPOINT unset)".to_owned(),
        };
        #[cfg(not(feature = "otel"))]
        let traces = "not in this build (feature `otel`)".to_owned();
        vec![
            ("(traces)", traces),
            (
                "LETTUCE_METRICS_BIND",
                match self.metrics_bind {
                    Some(a) => format!("{a} (/metrics, /healthz, /readyz)"),
                    None => "unset (/metrics on the main port)".to_owned(),
                },
            ),
        ]
    }

    /// The propagation the engine carries trace context with.
    pub fn propagation(&self) -> Arc<dyn TracePropagation> {
        #[cfg(feature = "otel")]
        if self.otel.is_some() {
            return Arc::new(lettuce_otel::OtelPropagation);
        }
        Arc::new(NoPropagation)
    }
}

/// Reads the observability variables, recording problems in `errs`.
pub(crate) fn read(env: &EnvMap, errs: &mut Vec<ConfigError>) -> ObservabilityConfig {
    let mut s = Settings::new(env);
    #[cfg(feature = "otel")]
    let otel = lettuce_otel::OtelConfig::from_settings(&mut s);
    #[cfg(not(feature = "otel"))]
    if s.is_set("OTEL_EXPORTER_OTLP_ENDPOINT") || s.is_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        s.push(lettuce_ports::config::missing_feature(
            "otel",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "(an OTLP endpoint)",
        ));
    }
    let metrics_bind = match s.get("LETTUCE_METRICS_BIND") {
        None => None,
        Some(raw) => match raw.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                s.error(
                    "LETTUCE_METRICS_BIND",
                    format!("`{raw}` is not an address:port"),
                    "set it to an address such as 127.0.0.1:9464 (or 0.0.0.0:9464 inside a pod), or unset it to serve /metrics on the main port",
                );
                None
            }
        },
    };
    errs.extend(s.into_errors());
    ObservabilityConfig {
        #[cfg(feature = "otel")]
        otel,
        metrics_bind,
    }
}

/// The installed logging/tracing pipeline; [`Observability::shutdown`]
/// flushes the spans still buffered.
#[derive(Debug)]
pub struct Observability {
    #[cfg(feature = "otel")]
    otel: Option<lettuce_otel::OtelTracing>,
}

impl Observability {
    /// Installs the global subscriber: logs in `format` on stderr and, when
    /// `config` enables it, OTLP trace export. With tracing on, every JSON
    /// log line inside a span carries `openTelemetry.traceId` / `spanId`.
    ///
    /// Must run inside a Tokio runtime context when tracing is on (the
    /// exporter's batch task runs there). A failing exporter is reported and
    /// the process goes on with logs only.
    pub fn init(format: LogFormat, config: &ObservabilityConfig) -> Self {
        let log_filter = || {
            EnvFilter::try_from_env("LETTUCE_LOG")
                .or_else(|_| EnvFilter::try_from_default_env())
                .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER))
        };
        #[cfg(feature = "otel")]
        {
            let (otel, error) = match config.otel.as_ref().map(lettuce_otel::OtelTracing::start) {
                Some(Ok(t)) => (Some(t), None),
                Some(Err(e)) => (None, Some(e)),
                None => (None, None),
            };
            let trace_layer = otel
                .as_ref()
                .map(|t| t.layer().with_filter(EnvFilter::new(TRACE_FILTER)));
            let registry = tracing_subscriber::registry().with(trace_layer);
            let installed = match format {
                LogFormat::Json => registry
                    .with(
                        json_subscriber::layer()
                            .with_current_span(true)
                            .with_span_list(false)
                            .with_opentelemetry_ids(otel.is_some())
                            .with_writer(std::io::stderr)
                            .with_filter(log_filter()),
                    )
                    .try_init(),
                LogFormat::Pretty => registry
                    .with(
                        tracing_subscriber::fmt::layer()
                            .with_writer(std::io::stderr)
                            .with_filter(log_filter()),
                    )
                    .try_init(),
            };
            if installed.is_ok() {
                if let Some(e) = error {
                    tracing::error!(error = %e, "traces are not exported; check OTEL_EXPORTER_OTLP_ENDPOINT");
                } else if let Some(c) = &config.otel {
                    tracing::info!(export = %c.describe(), "OpenTelemetry tracing on");
                }
            }
            Self { otel }
        }
        #[cfg(not(feature = "otel"))]
        {
            let _ = config;
            let registry = tracing_subscriber::registry();
            let _ = match format {
                LogFormat::Json => registry
                    .with(
                        tracing_subscriber::fmt::layer()
                            .json()
                            .with_writer(std::io::stderr)
                            .with_filter(log_filter()),
                    )
                    .try_init(),
                LogFormat::Pretty => registry
                    .with(
                        tracing_subscriber::fmt::layer()
                            .with_writer(std::io::stderr)
                            .with_filter(log_filter()),
                    )
                    .try_init(),
            };
            Self {}
        }
    }

    /// Exports the buffered spans and stops the exporter. Call it from
    /// outside the runtime's worker threads, before the runtime shuts down.
    pub fn shutdown(self) {
        #[cfg(feature = "otel")]
        if let Some(t) = self.otel {
            t.shutdown();
        }
    }
}

/// Installs the Prometheus recorder (once per process) and returns the
/// renderer `/metrics` serves. Durations (`*_seconds`) are histograms with
/// buckets from 1 ms to 5 min.
pub fn install_metrics() -> Arc<dyn Fn() -> String + Send + Sync> {
    static HANDLE: OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> = OnceLock::new();
    let handle = HANDLE.get_or_init(|| {
        let builder = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                &[
                    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
                ],
            )
            .ok()?;
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).ok()?;
        describe_metrics();
        Some(handle)
    });
    match handle.clone() {
        Some(h) => Arc::new(move || {
            h.run_upkeep();
            h.render()
        }),
        None => Arc::new(|| "# another metrics recorder is installed in this process\n".to_owned()),
    }
}

/// Help texts (the `# HELP` lines).
fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        "lettuce_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by method, route template and status"
    );
    describe_counter!(
        "lettuce_jobs_enqueued_total",
        "Jobs enqueued by kind and outcome (enqueued, coalesced)"
    );
    describe_counter!("lettuce_jobs_claimed_total", "Job attempts started by kind");
    describe_counter!("lettuce_jobs_completed_total", "Jobs completed by kind");
    describe_counter!(
        "lettuce_jobs_retried_total",
        "Job attempts that failed and were scheduled again, by kind"
    );
    describe_counter!(
        "lettuce_jobs_dead_lettered_total",
        "Jobs moved to the dead-letter list after their last attempt"
    );
    describe_counter!("lettuce_jobs_released_total", "Jobs handed back at shutdown");
    describe_counter!("lettuce_jobs_lost_total", "Job attempts that lost their lease");
    describe_histogram!(
        "lettuce_job_duration_seconds",
        Unit::Seconds,
        "Job attempt duration by kind and outcome"
    );
    describe_gauge!(
        "lettuce_queue_jobs",
        "Unfinished jobs by kind and state (available, running, dead)"
    );
    describe_gauge!(
        "lettuce_queue_oldest_available_age_seconds",
        Unit::Seconds,
        "How long the oldest due available job has waited, by kind"
    );
    describe_histogram!(
        "lettuce_index_duration_seconds",
        Unit::Seconds,
        "Index run duration by outcome"
    );
    describe_counter!(
        "lettuce_index_files_total",
        "Files indexed (parsed) or reused unchanged"
    );
    describe_counter!(
        "lettuce_index_bytes_total",
        Unit::Bytes,
        "Bytes of files parsed by the indexer"
    );
    describe_histogram!(
        "lettuce_git_fetch_duration_seconds",
        Unit::Seconds,
        "git clone/fetch duration by host"
    );
    describe_counter!("lettuce_git_fetch_failures_total", "Failed git clones/fetches by host");
    describe_histogram!(
        "lettuce_db_query_duration_seconds",
        Unit::Seconds,
        "Metadata store statement duration by operation and table"
    );
    describe_counter!("lettuce_mcp_calls_total", "MCP tool calls by tool and outcome");
    describe_counter!("lettuce_mcp_tokens_returned_total", "Tokens returned to agents by tool");
    describe_counter!(
        "lettuce_mcp_tokens_saved_total",
        "Tokens saved against reading whole files, by tool"
    );
    describe_gauge!(
        "lettuce_license_state",
        "1 for the license state this process sees, 0 for the others"
    );
    describe_gauge!(
        "lettuce_license_days_to_expiry",
        "Days until the license expires (negative: expired)"
    );
    describe_gauge!(
        "lettuce_telemetry_sending",
        "1 when the telemetry heartbeat is being sent"
    );
    describe_gauge!(
        "lettuce_telemetry_last_receipt_timestamp_seconds",
        Unit::Seconds,
        "Unix time of the last verified telemetry receipt"
    );
    describe_gauge!(
        "lettuce_metrics_source_up",
        "1 when a gauge source answered the last scrape"
    );
    describe_counter!("lettuce_process_starts_total", "Process starts by role");
}
