//! Tracing for the binaries, and the trace context that travels with a job.
//!
//! Logs go to stderr (human-readable, or JSON lines with
//! `MUSICMETA_LOG_FORMAT=json`), filtered by `RUST_LOG`. A gRPC call
//! continues the caller's W3C `traceparent`, the job it publishes carries
//! the context in its AMQP headers, and the worker continues it, so one miss
//! is one trace. With `telemetry.otlp_endpoint` set, every span becomes an
//! OpenTelemetry span and is exported over OTLP/gRPC. Without it the
//! OpenTelemetry layer is not installed at all (it cost 4–6 % of the hit
//! path for nothing): the caller's context still travels, attached to the
//! task (`opentelemetry::Context`) instead of to each span.

use std::collections::HashMap;

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{FilterExt as _, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::TelemetryConfig;

/// Keeps the trace exporter running; flushes it when dropped (end of `main`).
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = &self.provider {
            let _ = provider.shutdown();
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP exporter: {0}")]
pub struct TelemetryError(String);

/// Installs the global subscriber; call once from `main`. `default_level`
/// applies when `RUST_LOG` is not set.
pub fn init(
    service: &'static str,
    default_level: &str,
    config: &TelemetryConfig,
) -> Result<Telemetry, TelemetryError> {
    let provider = match &config.otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .build()
                .map_err(|e| TelemetryError(e.to_string()))?;
            let processor =
                opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
                    exporter,
                    opentelemetry_sdk::runtime::Tokio,
                )
                .build();
            Some(
                SdkTracerProvider::builder()
                    .with_resource(
                        opentelemetry_sdk::Resource::builder_empty()
                            .with_service_name(service)
                            .build(),
                    )
                    .with_span_processor(processor)
                    .build(),
            )
        }
        None => None,
    };
    // Spans are traced at INFO whatever the log level: quieting the logs
    // (RUST_LOG=warn) must not cut the traces.
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(service))
            .with_filter(LevelFilter::INFO)
    });
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_level))
        .and(credential_cap());
    // Colours only on a terminal, so log files stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi);
    let registry = tracing_subscriber::registry().with(otel);
    if std::env::var("MUSICMETA_LOG_FORMAT").is_ok_and(|v| v == "json") {
        registry.with(fmt.json().with_filter(filter)).init();
    } else {
        registry.with(fmt.with_filter(filter)).init();
    }
    Ok(Telemetry { provider })
}

/// The crates whose trace output carries credentials: lapin and
/// amq-protocol dump every AMQP frame at TRACE, the login frame
/// (`Connection.StartOk`, whose response spells `\0user\0password` in
/// decimal bytes) included; tokio-postgres and postgres-protocol log at
/// TRACE what goes over the wire. Targets match as prefixes, so
/// `amq_protocol` covers `amq_protocol_tcp`, `_types` and `_uri`, and
/// `tokio_postgres` covers `tokio_postgres_rustls`.
const CREDENTIAL_BEARING: [&str; 4] = [
    "amq_protocol",
    "lapin",
    "postgres_protocol",
    "tokio_postgres",
];

/// The most those crates may log: DEBUG keeps their connection and query
/// messages.
const CREDENTIAL_CAP: LevelFilter = LevelFilter::DEBUG;

/// A second filter ANDed with `RUST_LOG`'s: an event passes only if both
/// let it. `RUST_LOG` can therefore lower these crates but never raise them
/// past their cap — not with `lapin=trace`, nor with a more specific
/// `lapin::io_loop=trace` that would win inside one `EnvFilter` — so the
/// documented promise that no password reaches the logs holds at any level.
fn credential_cap() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(CREDENTIAL_BEARING.map(|target| (target, CREDENTIAL_CAP)))
}

/// For test processes: spans get trace contexts (so propagation can be
/// checked), nothing is printed or exported. Idempotent.
pub fn init_for_tests() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let provider = SdkTracerProvider::builder().build();
        let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("musicmeta-tests"));
        let _ = tracing_subscriber::registry()
            .with(EnvFilter::new("info"))
            .with(otel)
            .try_init();
        // The provider must outlive every span; a test process ends with it.
        std::mem::forget(provider);
    });
}

/// The context to hand on: the current span's when spans are OpenTelemetry
/// spans, else the context attached to the task.
fn current_context() -> opentelemetry::Context {
    let cx = tracing::Span::current().context();
    if cx.span().span_context().is_valid() {
        cx
    } else {
        opentelemetry::Context::current()
    }
}

/// The W3C trace-context headers (`traceparent`, `tracestate`) of the
/// current span or task.
pub fn current_context_headers() -> HashMap<String, String> {
    let mut headers = HashMap::new();
    TraceContextPropagator::new().inject_context(&current_context(), &mut headers);
    headers
}

/// Makes `span` continue the trace described by W3C headers, if any, and
/// returns that context. Run the span's work `.with_context(cx)`
/// ([`opentelemetry::context::FutureExt`]) so the trace travels on even
/// where spans are not OpenTelemetry spans.
pub fn continue_trace(
    span: &tracing::Span,
    headers: &HashMap<String, String>,
) -> opentelemetry::Context {
    let cx = TraceContextPropagator::new().extract(headers);
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx.clone());
    }
    cx
}

/// The trace id of a context (32 hex digits), if it has one.
pub fn context_trace_id(cx: &opentelemetry::Context) -> Option<String> {
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// The trace id of `span` when it is an OpenTelemetry span.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    context_trace_id(&span.context())
}

/// The trace the current work belongs to, for log lines and error messages.
pub fn current_trace_id() -> Option<String> {
    context_trace_id(&current_context())
}

/// AMQP message headers carrying the current trace context.
pub fn amqp_headers() -> FieldTable {
    let mut table = FieldTable::default();
    for (k, v) in current_context_headers() {
        table.insert(
            ShortString::from(k),
            AMQPValue::LongString(LongString::from(v)),
        );
    }
    table
}

/// The trace-context headers of an AMQP message.
pub fn from_amqp_headers(table: Option<&FieldTable>) -> HashMap<String, String> {
    let mut headers = HashMap::new();
    if let Some(table) = table {
        for key in ["traceparent", "tracestate"] {
            if let Some(AMQPValue::LongString(v)) = table.inner().get(key) {
                headers.insert(
                    key.to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                );
            }
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::context::FutureExt as _;

    /// The frame dump of lapin (TRACE, in `lapin::io_loop`) stays out
    /// whatever RUST_LOG asks for; other crates keep their TRACE.
    #[test]
    fn credential_bearing_crates_are_capped_below_trace() {
        use tracing::Level;
        let cap = credential_cap();
        for target in [
            "lapin",
            "lapin::io_loop",
            "amq_protocol::frame",
            "amq_protocol_types",
            "amq_protocol_tcp",
            "tokio_postgres::connection",
            "tokio_postgres_rustls",
            "postgres_protocol::message::frontend",
        ] {
            assert!(!cap.would_enable(target, &Level::TRACE), "{target}");
            assert!(cap.would_enable(target, &Level::DEBUG), "{target}");
        }
        for target in ["musicmeta_shared::amqp", "h2", "tonic"] {
            assert!(cap.would_enable(target, &Level::TRACE), "{target}");
        }
    }

    /// With no OpenTelemetry layer (no exporter configured), a caller's
    /// trace still reaches the headers of what the task publishes.
    #[tokio::test]
    async fn context_travels_without_an_opentelemetry_layer() {
        let incoming = HashMap::from([(
            "traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        )]);
        let span = tracing::info_span!("rpc");
        let cx = continue_trace(&span, &incoming);
        assert_eq!(
            context_trace_id(&cx).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        let (headers, trace) = async { (current_context_headers(), current_trace_id()) }
            .with_context(cx)
            .await;
        assert_eq!(trace.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(
            headers
                .get("traceparent")
                .is_some_and(|t| t.contains("4bf92f3577b34da6a3ce929d0e0e4736")),
            "{headers:?}"
        );
        // Outside that task there is no trace to hand on.
        assert_eq!(current_trace_id(), None);
    }
}
