//! Trace-context propagation: how a unit of work started in one place (an
//! HTTP request) is continued in another (the job it enqueued, an outbound
//! call), whatever tracing backend the app wires.
//!
//! The engine stores the [`TraceCarrier`] of the span that enqueues a job in
//! the job's payload and asks the propagation to continue it when a worker
//! runs the job; the HTTP layer continues the `traceparent` a caller sent.
//! Without a tracing backend the [`NoPropagation`] default does nothing and
//! costs nothing.

use std::collections::BTreeMap;

/// W3C trace-context fields (`traceparent`, `tracestate`) by name.
pub type TraceCarrier = BTreeMap<String, String>;

/// Injects and continues trace context. Implemented by the OpenTelemetry
/// adapter; [`NoPropagation`] otherwise.
pub trait TracePropagation: Send + Sync + std::fmt::Debug {
    /// The context of `span` as carrier fields; empty when tracing is off or
    /// the span is not sampled.
    fn inject(&self, span: &tracing::Span) -> TraceCarrier;

    /// Makes `span` (not yet entered) a child of the context in `carrier`
    /// and records a link to it (the enqueuing span of a job). An empty or
    /// malformed carrier leaves `span` a root.
    fn continue_from(&self, span: &tracing::Span, carrier: &TraceCarrier);
}

/// Propagation when no tracing backend is wired: injects nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPropagation;

impl TracePropagation for NoPropagation {
    fn inject(&self, _span: &tracing::Span) -> TraceCarrier {
        TraceCarrier::new()
    }

    fn continue_from(&self, _span: &tracing::Span, _carrier: &TraceCarrier) {}
}
