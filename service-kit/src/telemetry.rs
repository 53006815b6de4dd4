//! Logs and traces: JSON lines on stdout (`LOG_FORMAT=pretty` for humans),
//! filtered by `RUST_LOG`; OpenTelemetry spans exported over OTLP/HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set. W3C `traceparent` is extracted from
//! requests and injected into outbound calls either way, so a trace stays
//! connected across the fleet even where nothing is exported.

use anyhow::Context;
use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::io::{BufWriter, Stdout, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt};

/// Flushes and shuts down the trace exporter, and writes out the log lines
/// still buffered, when dropped (end of `main`).
#[must_use = "dropping the guard shuts tracing down"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
    logs: BufferedStdout,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.logs.flush();
        if let Err(err) = self.provider.shutdown() {
            eprintln!("trace exporter did not shut down cleanly: {err}");
        }
    }
}

/// How long a JSON log line may wait in the buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Stdout for JSON log lines, through one buffer: written out when it
/// fills, every [`FLUSH_EVERY`] (a thread of its own) and when the
/// [`TelemetryGuard`] drops. A line per request then no longer costs a
/// `write` system call each (about 5% of catalog-service's CPU serving a
/// cached product); a process that dies abruptly loses at most the last
/// [`FLUSH_EVERY`] of lines. The formatter hands each line over in one
/// `write_all`, under the lock, so lines never interleave.
#[derive(Clone)]
struct BufferedStdout(Arc<Mutex<BufWriter<Stdout>>>);

impl BufferedStdout {
    fn new() -> Self {
        let logs = Self(Arc::new(Mutex::new(BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ))));
        let flusher = logs.clone();
        let spawned = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(FLUSH_EVERY);
                    let _ = flusher.clone().flush();
                }
            });
        if let Err(err) = spawned {
            // Lines are still written, when the buffer fills and at exit.
            eprintln!("log flusher did not start: {err}");
        }
        logs
    }
}

impl Write for BufferedStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush()
    }
}

/// Installs the global subscriber for `service_name`. Call once, first thing
/// in `main`.
pub fn init(service_name: &'static str) -> anyhow::Result<TelemetryGuard> {
    global::set_text_map_propagator(TraceContextPropagator::new());

    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service_name).build());
    // Empty means unset (the OpenTelemetry spec), so compose can disable
    // export with `OTEL_EXPORTER_OTLP_ENDPOINT=`.
    if std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_ok_and(|v| !v.trim().is_empty()) {
        // The exporter reads the endpoint (and headers, timeout) from the
        // standard OTEL_EXPORTER_OTLP_* variables itself.
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .context("building the OTLP span exporter")?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer(service_name));

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let pretty = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("pretty"));
    let logs = BufferedStdout::new();
    let writer = logs.clone();
    if pretty {
        registry.with(fmt::layer().compact()).try_init()
    } else {
        // Every line carries the spans it happened in, so the request span's
        // `request_id` is on every line of that request.
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true)
                    .with_writer(move || writer.clone()),
            )
            .try_init()
    }
    .context("installing the tracing subscriber")?;
    Ok(TelemetryGuard { provider, logs })
}
