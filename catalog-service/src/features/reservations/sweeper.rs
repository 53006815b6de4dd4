//! The background task that releases expired reservations, so that a
//! checkout that crashed half-way leaks no stock.

use service_kit::CancellationToken;
use sqlx::PgPool;
use std::time::Duration;

use super::service;
use crate::cache::Caches;
use crate::config::ReservationSettings;

/// Sweeps every `sweep_interval_ms` until `shutdown` is cancelled. Several
/// replicas may sweep at once: each skips the reservations another holds.
pub async fn run(
    pool: PgPool,
    caches: Caches,
    settings: ReservationSettings,
    shutdown: CancellationToken,
) {
    let interval = Duration::from_millis(settings.sweep_interval_ms.max(10));
    tracing::info!(
        interval_ms = interval.as_millis() as u64,
        "reservation sweeper started"
    );
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
        // Drain the backlog batch by batch, stopping early on shutdown.
        loop {
            match service::release_expired(&pool, &caches, settings.sweep_batch_size).await {
                Ok(released) => {
                    if released > 0 {
                        tracing::info!(released, "expired reservations released");
                    }
                    if released < settings.sweep_batch_size as usize || shutdown.is_cancelled() {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, cause = ?err, "reservation sweep failed; retrying next interval");
                    break;
                }
            }
        }
    }
    tracing::info!("reservation sweeper stopped");
}
