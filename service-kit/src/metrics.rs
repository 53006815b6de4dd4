//! Prometheus metrics: one recorder per process, real histogram buckets, and
//! upkeep on a thread of its own so it outlives any one async runtime.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Latency buckets in seconds; 0.2 is the fleet's p95 objective.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's metrics handle, installing the recorder on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .expect("the bucket list is a non-empty constant");
        let handle = match builder.install_recorder() {
            Ok(handle) => handle,
            Err(err) => {
                // Another recorder owns the process (an embedding program):
                // keep serving our own, unregistered one rather than failing.
                tracing::warn!(error = %err, "metrics recorder already installed; /metrics will be empty");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        describe();
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            })
            .expect("spawning a thread at start-up");
        handle
    })
}

fn describe() {
    metrics::describe_counter!(
        "http_requests_total",
        "HTTP requests served, by method, matched route and status."
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to serve an HTTP request, by method, matched route and status."
    );
    metrics::describe_counter!(
        "http_client_requests_total",
        "Outbound HTTP calls, by target, method and status."
    );
    metrics::describe_histogram!(
        "http_client_request_duration_seconds",
        metrics::Unit::Seconds,
        "Outbound HTTP call latency, by target and method."
    );
    metrics::describe_gauge!(
        "db_pool_connections",
        "Database pool connections, by pool (main, or a second pool such as search) and state (idle, in_use)."
    );
    metrics::describe_gauge!(
        "db_pool_max_connections",
        "Upper bound of each database pool, by pool."
    );
}
