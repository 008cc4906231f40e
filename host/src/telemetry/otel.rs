//! OpenTelemetry over OTLP/HTTP (`--otel-endpoint`): core's own OTLP metric
//! exporter for the metrics, and traces that continue the workflow's.
//!
//! The Temporal SDKs' tracing interceptors put the scheduling workflow's W3C
//! trace context in the activity task's `_tracer-data` header (a JSON
//! payload of the propagator's carrier). The host opens `RunActivity:NAME`
//! as its child, as the Python SDK's activity interceptor does, with the same
//! attributes, and the library adds `instantiate` and `execute` below it.
//! Without the header, or without an endpoint, nothing is created.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use temporalio_common::telemetry::metrics::CoreMeter;
use temporalio_common::telemetry::{OtelCollectorOptions, OtlpProtocol, build_otlp_metric_exporter};

use crate::failure::Outcome;
use crate::payload::Payload;

/// The header the Temporal SDKs' OpenTelemetry interceptors use.
pub const TRACER_HEADER: &str = "_tracer-data";
/// `service.name` of what the host exports.
const SERVICE_NAME: &str = "activity-host";
/// The tracer's (instrumentation scope's) name.
const SCOPE: &str = "activity-host";

/// The exporters behind `--otel-endpoint`.
pub struct Otel {
    provider: SdkTracerProvider,
    tracing: Tracing,
}

impl Otel {
    /// Exports to `endpoint` (the collector's base URL, as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`): spans to `/v1/traces`, and returns
    /// the meter core and the host record metrics into (`/v1/metrics`).
    pub fn start(endpoint: &str) -> anyhow::Result<(Otel, Arc<dyn CoreMeter>)> {
        let base = endpoint.trim_end_matches('/');
        let url = |path: &str| -> anyhow::Result<temporalio_sdk_core::Url> {
            format!("{base}{path}").parse().with_context(|| format!("--otel-endpoint {endpoint}: not a URL"))
        };
        let meter = build_otlp_metric_exporter(
            OtelCollectorOptions::builder().url(url("/v1/metrics")?).protocol(OtlpProtocol::Http).build(),
        )
        .with_context(|| format!("--otel-endpoint {endpoint}: cannot export metrics"))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(url("/v1/traces")?.to_string())
            .build()
            .with_context(|| format!("--otel-endpoint {endpoint}: cannot export traces"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(SERVICE_NAME).build())
            .build();
        let tracing = Tracing { tracer: Some(Arc::new(provider.tracer(SCOPE))) };
        Ok((Otel { provider, tracing }, Arc::new(meter)))
    }

    pub fn tracing(&self) -> Tracing {
        self.tracing.clone()
    }

    /// Sends what is still batched; called once the worker has stopped.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown_with_timeout(Duration::from_secs(5)) {
            tracing::warn!("the last spans were not exported: {e}");
        }
    }
}

/// Starts spans for traced tasks; off (the default) it starts none.
#[derive(Clone, Default)]
pub struct Tracing {
    tracer: Option<Arc<opentelemetry_sdk::trace::SdkTracer>>,
}

impl std::fmt::Debug for Tracing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracing").field("on", &self.is_on()).finish()
    }
}

/// The attributes the Python SDK's activity interceptor sets.
pub struct TaskIds<'a> {
    pub activity_type: &'a str,
    pub activity_id: &'a str,
    pub workflow_id: Option<&'a str>,
    pub run_id: Option<&'a str>,
}

impl Tracing {
    pub fn is_on(&self) -> bool {
        self.tracer.is_some()
    }

    /// `RunActivity:NAME`, the child of the context in the `_tracer-data` header, if the
    /// task is traced and tracing is on.
    pub fn run_activity(&self, header: Option<&Payload>, ids: TaskIds<'_>) -> Option<ActivitySpan> {
        let tracer = self.tracer.as_ref()?;
        let parent = parent_context(header?)?;
        let mut attributes = vec![KeyValue::new("temporalActivityID", ids.activity_id.to_string())];
        if let Some(id) = ids.workflow_id {
            attributes.push(KeyValue::new("temporalWorkflowID", id.to_string()));
        }
        if let Some(id) = ids.run_id {
            attributes.push(KeyValue::new("temporalRunID", id.to_string()));
        }
        let span = tracer
            .span_builder(format!("RunActivity:{}", ids.activity_type))
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start_with_context(tracer.as_ref(), &parent);
        Some(ActivitySpan { context: parent.with_span(span), tracer: tracer.clone() })
    }
}

/// The W3C trace context a task's `_tracer-data` payload carries.
fn parent_context(payload: &Payload) -> Option<Context> {
    let carrier: HashMap<String, String> = serde_json::from_slice(&payload.data).ok()?;
    let context = TraceContextPropagator::new().extract(&carrier);
    context.span().span_context().is_valid().then_some(context)
}

/// An activity's span, and what the execution's own spans hang from.
#[derive(Clone)]
pub struct ActivitySpan {
    context: Context,
    tracer: Arc<opentelemetry_sdk::trace::SdkTracer>,
}

impl ActivitySpan {
    /// The trace id, 32 hex digits, as log lines carry it.
    pub fn trace_id(&self) -> String {
        self.context.span().span_context().trace_id().to_string()
    }

    /// A child span (`instantiate`, `execute`); it ends when dropped.
    pub fn child(&self, name: &'static str) -> opentelemetry_sdk::trace::Span {
        self.tracer.start_with_context(name, &self.context)
    }

    /// Ends the activity's span with the execution's outcome.
    pub fn end(self, outcome: &Outcome) {
        let span = self.context.span();
        match outcome {
            Outcome::Completed(_) => span.set_status(Status::Ok),
            Outcome::Failed(failure) => {
                span.set_attribute(KeyValue::new("temporalFailureType", failure.error_type.clone()));
                span.set_status(Status::error(format!("{}: {}", failure.error_type, failure.message)));
            }
            Outcome::Cancelled(reason) => span.set_status(Status::error(format!("cancelled: {reason}"))),
        }
        span.end();
    }
}

/// Ends a child span, marking it failed when the step failed.
pub fn end_child<T, E: std::fmt::Display>(mut span: opentelemetry_sdk::trace::Span, result: &Result<T, E>) {
    if let Err(e) = result {
        span.set_status(Status::error(e.to_string()));
    }
    span.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_python_sdks_header_gives_the_parent() {
        let carrier = r#"{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}"#;
        let payload = Payload { metadata: Vec::new(), data: carrier.as_bytes().to_vec() };
        let context = parent_context(&payload).unwrap();
        let span = context.span();
        assert_eq!(span.span_context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span.span_context().span_id().to_string(), "00f067aa0ba902b7");
        assert!(parent_context(&Payload { metadata: Vec::new(), data: b"{}".to_vec() }).is_none());
        assert!(parent_context(&Payload { metadata: Vec::new(), data: b"not json".to_vec() }).is_none());
    }
}
