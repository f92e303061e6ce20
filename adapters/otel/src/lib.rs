//! # lettuce-otel
//!
//! OpenTelemetry tracing for Lettuce. When the standard `OTEL_*` variables
//! name an OTLP endpoint, [`OtelTracing::start`] builds a tracer provider
//! that exports spans over OTLP (HTTP/protobuf or gRPC) and
//! [`OtelTracing::layer`] turns every `tracing` span into an OpenTelemetry
//! span. With the variables unset nothing is built and nothing is exported.
//!
//! [`OtelPropagation`] implements the `TracePropagation` port with W3C trace
//! context (`traceparent`, `tracestate`): the HTTP layer continues a
//! caller's trace, and a job continues the trace of the request that
//! enqueued it.
//!
//! Variables (see `docs/observability.md`): `OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`,
//! `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`,
//! `OTEL_TRACES_SAMPLER_ARG`, `OTEL_TRACES_EXPORTER`, `OTEL_SDK_DISABLED`,
//! `OTEL_BSP_SCHEDULE_DELAY`. Headers (`OTEL_EXPORTER_OTLP_HEADERS`) and
//! timeouts are read by the OTLP exporter itself.
#![deny(missing_docs)]

use lettuce_ports::config::Settings;
use lettuce_ports::trace::{TraceCarrier, TracePropagation};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::{KeyValue, global};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, Sampler, SdkTracerProvider};
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf` (the OTLP default): POST to `<endpoint>/v1/traces`.
    HttpProtobuf,
    /// `grpc`: the `TraceService/Export` RPC at the endpoint.
    Grpc,
}

/// Which traces are kept (`OTEL_TRACES_SAMPLER` and its argument).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerChoice {
    /// `always_on`.
    AlwaysOn,
    /// `always_off`.
    AlwaysOff,
    /// `traceidratio` with the ratio.
    Ratio(f64),
    /// `parentbased_always_on` (the default): follow the caller's decision,
    /// sample roots.
    ParentBasedOn,
    /// `parentbased_always_off`.
    ParentBasedOff,
    /// `parentbased_traceidratio` with the ratio.
    ParentBasedRatio(f64),
}

impl SamplerChoice {
    fn sampler(self) -> Sampler {
        match self {
            Self::AlwaysOn => Sampler::AlwaysOn,
            Self::AlwaysOff => Sampler::AlwaysOff,
            Self::Ratio(r) => Sampler::TraceIdRatioBased(r),
            Self::ParentBasedOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            Self::ParentBasedOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            Self::ParentBasedRatio(r) => Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r))),
        }
    }
}

/// Tracing export settings, read from the standard `OTEL_*` variables.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OtelConfig {
    /// Where spans go: for HTTP the full `…/v1/traces` URL, for gRPC the
    /// collector's address.
    pub endpoint: String,
    /// Transport.
    pub protocol: Protocol,
    /// `service.name` (`OTEL_SERVICE_NAME`, default `lettuce`).
    pub service_name: String,
    /// Extra resource attributes (`OTEL_RESOURCE_ATTRIBUTES`).
    pub resource: Vec<(String, String)>,
    /// Sampler.
    pub sampler: SamplerChoice,
    /// How often finished spans are sent (`OTEL_BSP_SCHEDULE_DELAY`, ms;
    /// default 5000).
    pub schedule_delay: Duration,
}

const SAMPLERS: &[&str] = &[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

impl OtelConfig {
    /// Reads the variables. `None` when tracing is off: no endpoint is set,
    /// `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. Problems are
    /// recorded in `s`, each naming its variable and the fix.
    pub fn from_settings(s: &mut Settings<'_>) -> Option<OtelConfig> {
        if s.bool("OTEL_SDK_DISABLED", false) {
            return None;
        }
        match s.get("OTEL_TRACES_EXPORTER").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("otlp") => {}
            Some("none") => return None,
            Some(other) => {
                s.error(
                    "OTEL_TRACES_EXPORTER",
                    format!("exporter `{other}` is not supported"),
                    "use otlp (the default) or none",
                );
                return None;
            }
        }
        let protocol_var = if s.is_set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") {
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
        } else {
            "OTEL_EXPORTER_OTLP_PROTOCOL"
        };
        let protocol = match s.get(protocol_var).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("http/protobuf") => Protocol::HttpProtobuf,
            Some("grpc") => Protocol::Grpc,
            Some(other) => {
                s.error(
                    protocol_var,
                    format!("OTLP protocol `{other}` is not supported"),
                    "use http/protobuf (the default, port 4318) or grpc (port 4317)",
                );
                Protocol::HttpProtobuf
            }
        };
        let example = match protocol {
            Protocol::HttpProtobuf => "http://otel-collector:4318",
            Protocol::Grpc => "http://otel-collector:4317",
        };
        let endpoint = if s.is_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            // The signal-specific variable is used as is.
            s.http_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", example)
                .map(|u| u.to_string())
        } else if s.is_set("OTEL_EXPORTER_OTLP_ENDPOINT") {
            s.http_url("OTEL_EXPORTER_OTLP_ENDPOINT", example)
                .map(|u| match protocol {
                    Protocol::HttpProtobuf => format!("{}/v1/traces", u.as_str().trim_end_matches('/')),
                    Protocol::Grpc => u.to_string(),
                })
        } else {
            return None;
        };
        // Credentials belong in headers: a URL is logged and shown by
        // `config check`.
        let endpoint = endpoint.filter(|e| {
            let with_userinfo = url::Url::parse(e)
                .map(|u| !u.username().is_empty() || u.password().is_some())
                .unwrap_or(false);
            if with_userinfo {
                let var = if s.is_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
                } else {
                    "OTEL_EXPORTER_OTLP_ENDPOINT"
                };
                s.error(
                    var,
                    "the URL carries credentials",
                    "remove user:password from the URL and send them as a header: OTEL_EXPORTER_OTLP_HEADERS=authorization=Basic%20…",
                );
            }
            !with_userinfo
        });
        let service_name = s.get("OTEL_SERVICE_NAME").unwrap_or_else(|| "lettuce".to_owned());
        let resource = match s.get("OTEL_RESOURCE_ATTRIBUTES") {
            None => Vec::new(),
            Some(raw) => match parse_resource_attributes(&raw) {
                Ok(attrs) => attrs,
                Err(bad) => {
                    s.error(
                        "OTEL_RESOURCE_ATTRIBUTES",
                        format!("`{bad}` is not a key=value pair"),
                        "use comma-separated key=value pairs, e.g. deployment.environment=prod,service.namespace=code",
                    );
                    Vec::new()
                }
            },
        };
        let name = s.one_of("OTEL_TRACES_SAMPLER", "parentbased_always_on", SAMPLERS);
        let arg = match s.get("OTEL_TRACES_SAMPLER_ARG") {
            None => 1.0,
            Some(raw) => match raw.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => r,
                _ => {
                    s.error(
                        "OTEL_TRACES_SAMPLER_ARG",
                        format!("`{raw}` is not a ratio between 0 and 1"),
                        "set a number from 0.0 to 1.0, e.g. 0.1 to keep one trace in ten",
                    );
                    1.0
                }
            },
        };
        let sampler = match name.as_str() {
            "always_on" => SamplerChoice::AlwaysOn,
            "always_off" => SamplerChoice::AlwaysOff,
            "traceidratio" => SamplerChoice::Ratio(arg),
            "parentbased_always_off" => SamplerChoice::ParentBasedOff,
            "parentbased_traceidratio" => SamplerChoice::ParentBasedRatio(arg),
            _ => SamplerChoice::ParentBasedOn,
        };
        let schedule_delay = Duration::from_millis(s.num("OTEL_BSP_SCHEDULE_DELAY", 5000u64, 10, 600_000));
        Some(OtelConfig {
            endpoint: endpoint?,
            protocol,
            service_name,
            resource,
            sampler,
            schedule_delay,
        })
    }

    /// One line for `lettuce config check` and the start-up log.
    pub fn describe(&self) -> String {
        let protocol = match self.protocol {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        };
        format!(
            "OTLP {protocol} to {} as service {} (sampler {:?})",
            self.endpoint, self.service_name, self.sampler
        )
    }
}

/// `k=v,k2=v2` with percent-encoded values (the OpenTelemetry format).
fn parse_resource_attributes(raw: &str) -> Result<Vec<(String, String)>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), percent_decode(v.trim()))),
            _ => Err(pair.to_owned()),
        })
        .collect()
}

fn percent_decode(v: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", v.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| v.to_owned())
}

/// The exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot start OpenTelemetry export to {endpoint}: {message}")]
pub struct OtelError {
    endpoint: String,
    message: String,
}

/// A running OTLP export pipeline.
#[derive(Debug)]
pub struct OtelTracing {
    provider: SdkTracerProvider,
}

impl OtelTracing {
    /// Builds the exporter and the tracer provider and installs the W3C
    /// trace-context propagator globally (outbound HTTP clients inject it).
    /// Must be called inside a Tokio runtime context: spans are batched and
    /// exported by a task on that runtime.
    pub fn start(config: &OtelConfig) -> Result<Self, OtelError> {
        let fail = |e: &dyn std::fmt::Display| OtelError {
            endpoint: config.endpoint.clone(),
            message: e.to_string(),
        };
        let exporter = match config.protocol {
            Protocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_http_client(
                    lettuce_http_client::builder(&lettuce_http_client::ClientOptions::new("lettuce-otel"))
                        .build()
                        .map_err(|e| fail(&e))?,
                )
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(config.endpoint.clone())
                .build(),
            Protocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(config.endpoint.clone())
                .build(),
        }
        .map_err(|e| fail(&e))?;
        let batch = BatchConfigBuilder::default()
            .with_scheduled_delay(config.schedule_delay)
            .build();
        let processor = opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .with_batch_config(batch)
        .build();
        let resource = Resource::builder_empty()
            .with_service_name(config.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .with_attributes(
                config
                    .resource
                    .iter()
                    .filter(|(k, _)| k != "service.name")
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(config.sampler.sampler())
            .with_resource(resource)
            .build();
        global::set_text_map_propagator(TraceContextPropagator::new());
        global::set_tracer_provider(provider.clone());
        Ok(Self { provider })
    }

    /// The `tracing` layer that records spans into this pipeline.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("lettuce"))
            .with_error_records_to_exceptions(true)
    }

    /// Exports what is buffered and stops. Call it from outside the runtime's
    /// worker threads (e.g. after `block_on` returned), before the runtime
    /// shuts down.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.force_flush() {
            eprintln!("warning: flushing traces failed: {e}");
        }
        if let Err(e) = self.provider.shutdown() {
            eprintln!("warning: stopping trace export failed: {e}");
        }
    }
}

/// W3C trace-context propagation over `tracing` spans bridged to
/// OpenTelemetry. Spans that are not recorded (tracing off, not sampled)
/// inject nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct OtelPropagation;

impl TracePropagation for OtelPropagation {
    fn inject(&self, span: &tracing::Span) -> TraceCarrier {
        let cx = span.context();
        let mut carrier = std::collections::HashMap::new();
        if cx.span().span_context().is_valid() {
            TraceContextPropagator::new().inject_context(&cx, &mut carrier);
        }
        carrier.into_iter().collect()
    }

    fn continue_from(&self, span: &tracing::Span, carrier: &TraceCarrier) {
        let map: std::collections::HashMap<String, String> =
            carrier.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let cx = TraceContextPropagator::new().extract(&map);
        let parent = cx.span().span_context().clone();
        if !parent.is_valid() {
            return;
        }
        let _ = span.set_parent(cx);
        span.add_link(parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<Option<OtelConfig>, Vec<&'static str>> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut s = Settings::new(&map);
        let c = OtelConfig::from_settings(&mut s);
        let errors = s.into_errors();
        if errors.is_empty() {
            Ok(c)
        } else {
            Err(errors.into_iter().map(|e| e.var).collect())
        }
    }

    #[test]
    fn off_unless_an_endpoint_is_set() {
        assert_eq!(read(&[]), Ok(None));
        assert_eq!(read(&[("OTEL_SERVICE_NAME", "x")]), Ok(None));
        assert_eq!(
            read(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_SDK_DISABLED", "true")
            ]),
            Ok(None)
        );
        assert_eq!(
            read(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_TRACES_EXPORTER", "none")
            ]),
            Ok(None)
        );
    }

    #[test]
    fn endpoints_protocols_and_resource() {
        let c = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod, team=code%20nav",
            ),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.service_name, "lettuce");
        assert_eq!(
            c.resource,
            vec![
                ("deployment.environment".into(), "prod".into()),
                ("team".into(), "code nav".into())
            ]
        );
        assert_eq!(c.sampler, SamplerChoice::ParentBasedRatio(0.25));

        let c = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", "lettuce-eu"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (c.endpoint.as_str(), c.protocol),
            ("http://collector:4317/", Protocol::Grpc)
        );
        assert_eq!(c.service_name, "lettuce-eu");
        assert_eq!(c.sampler, SamplerChoice::ParentBasedOn);

        // The signal-specific endpoint is used as is.
        let c = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces.example.com/otlp/v1/traces",
            ),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "https://traces.example.com/otlp/v1/traces");
    }

    #[test]
    fn errors_name_the_variable() {
        assert_eq!(
            read(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                ("OTEL_RESOURCE_ATTRIBUTES", "novalue"),
                ("OTEL_TRACES_SAMPLER", "sometimes"),
                ("OTEL_TRACES_SAMPLER_ARG", "2"),
            ]),
            Err(vec![
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "OTEL_RESOURCE_ATTRIBUTES",
                "OTEL_TRACES_SAMPLER",
                "OTEL_TRACES_SAMPLER_ARG"
            ])
        );
        assert_eq!(
            read(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
                ("OTEL_TRACES_EXPORTER", "zipkin")
            ]),
            Err(vec!["OTEL_TRACES_EXPORTER"])
        );
        assert_eq!(
            read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:secret@collector:4318")]),
            Err(vec!["OTEL_EXPORTER_OTLP_ENDPOINT"])
        );
    }

    #[test]
    fn propagation_without_a_pipeline_injects_nothing() {
        let span = tracing::info_span!("x");
        assert!(OtelPropagation.inject(&span).is_empty());
        // A malformed carrier leaves the span alone.
        let mut carrier = TraceCarrier::new();
        carrier.insert("traceparent".into(), "garbage".into());
        OtelPropagation.continue_from(&span, &carrier);
    }
}
