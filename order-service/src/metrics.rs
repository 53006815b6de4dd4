//! order-service's own metrics: `checkouts_total{outcome}` and
//! `checkout_step_duration_seconds{step}` (the kit's relay exports the
//! outbox metrics).

use std::future::Future;
use std::time::Instant;

/// Registers the help texts (after the recorder is installed).
pub fn describe() {
    metrics::describe_counter!(
        "checkouts_total",
        "Checkouts by outcome: confirmed, out_of_stock, declined, unavailable, empty_cart, invalid, reservation_expired, interrupted, replayed, in_progress."
    );
    metrics::describe_histogram!(
        "checkout_step_duration_seconds",
        metrics::Unit::Seconds,
        "Latency of each checkout saga step: reserve, charge, commit, confirm, compensate."
    );
    metrics::describe_counter!(
        "orders_reconciled_total",
        "Stuck pending orders settled by the reconciler, by resolution."
    );
    for outcome in ["confirmed", "out_of_stock", "declined", "unavailable"] {
        metrics::counter!("checkouts_total", "outcome" => outcome).increment(0);
    }
}

/// Counts a checkout outcome.
pub fn checkout(outcome: &'static str) {
    metrics::counter!("checkouts_total", "outcome" => outcome).increment(1);
}

/// Runs `fut` and records its latency as saga step `step`.
pub async fn step<T>(step: &'static str, fut: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = fut.await;
    metrics::histogram!("checkout_step_duration_seconds", "step" => step)
        .record(started.elapsed().as_secs_f64());
    out
}

/// Counts an order settled by the reconciler.
pub fn reconciled(resolution: &'static str) {
    metrics::counter!("orders_reconciled_total", "resolution" => resolution).increment(1);
}
