//! The reconciler: settles orders left `pending` by a crash or an outage,
//! so no stock and no money stays in limbo. An order untouched for
//! `reconciler_stale_after_secs` is claimed (a lease on `updated_at`, so
//! replicas do not collide) and resolved by its saga step:
//!
//! | step | resolution |
//! |---|---|
//! | `reserving`, `reserved` | never charged: release the reservation, delete the order |
//! | `charging` | ask the provider: charged -> as `charged`; declined -> `payment_failed`; not charged -> release, delete |
//! | `charged` | commit the reservation -> `confirmed` (+ event); reservation gone -> compensate |
//! | `compensating` | refund, release (or restock if committed), `cancelled` |
//!
//! A dependency that is still down leaves the order for the next pass.

use axum::http::StatusCode;
use service_kit::CancellationToken;
use std::time::Duration;

use super::checkout;
use super::models::OrderRow;
use super::repository;
use crate::catalog::SettleOutcome;
use crate::features::idempotency::{StoredResponse, service as idempotency};
use crate::features::payments::PaymentState;
use crate::metrics;
use crate::state::AppState;

/// Orders settled per pass.
const BATCH: i64 = 50;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Orders confirmed.
    pub confirmed: usize,
    /// Orders released and deleted (never charged).
    pub released: usize,
    /// Orders marked `payment_failed`.
    pub payment_failed: usize,
    /// Orders refunded and cancelled.
    pub cancelled: usize,
    /// Orders left for the next pass (a dependency is down).
    pub deferred: usize,
}

/// One pass over the stale pending orders (tests call it directly).
pub async fn reconcile_once(state: &AppState) -> anyhow::Result<Report> {
    let stale =
        i64::try_from(state.settings.checkout.reconciler_stale_after_secs).unwrap_or(i64::MAX);
    let orders = repository::claim_stale(&state.pool, stale, BATCH).await?;
    let mut report = Report::default();
    for order in orders {
        let order_id = order.order_id;
        match settle(state, &order).await {
            Ok(resolution) => {
                metrics::reconciled(resolution);
                match resolution {
                    "confirmed" => report.confirmed += 1,
                    "released" => report.released += 1,
                    "payment_failed" => report.payment_failed += 1,
                    "cancelled" => report.cancelled += 1,
                    _ => report.deferred += 1,
                }
            }
            Err(err) => {
                metrics::reconciled("deferred");
                report.deferred += 1;
                tracing::warn!(%order_id, step = %order.saga_step, error = format!("{err:#}"), "reconciling an order failed; retrying later");
            }
        }
    }
    if report != Report::default() {
        tracing::info!(?report, "reconciler pass");
    }
    Ok(report)
}

async fn settle(state: &AppState, order: &OrderRow) -> anyhow::Result<&'static str> {
    let order_id = order.order_id;
    match order.saga_step.as_str() {
        "reserving" | "reserved" => release_and_forget(state, order).await,
        "charging" => match state.payments.status(order_id).await? {
            PaymentState::Succeeded { provider_ref } => {
                repository::record_charge(&state.pool, order_id, &provider_ref).await?;
                commit_or_compensate(state, order).await
            }
            PaymentState::Declined => {
                checkout::mark_declined(state, order_id)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                forget_key(state, order).await;
                Ok("payment_failed")
            }
            PaymentState::NotFound | PaymentState::Refunded { .. } => {
                release_and_forget(state, order).await
            }
        },
        "charged" => commit_or_compensate(state, order).await,
        "compensating" => {
            checkout::compensate(state, order_id, "dependency_unavailable").await?;
            forget_key(state, order).await;
            Ok("cancelled")
        }
        _ => Ok("deferred"),
    }
}

async fn release_and_forget(state: &AppState, order: &OrderRow) -> anyhow::Result<&'static str> {
    match state.catalog.release(order.order_id).await? {
        SettleOutcome::Done | SettleOutcome::NotFound => {}
        SettleOutcome::Conflict => {
            // Committed without a charge cannot happen in this saga; be safe.
            repository::move_step(
                &state.pool,
                order.order_id,
                &order.saga_step,
                "compensating",
            )
            .await?;
            checkout::compensate(state, order.order_id, "abandoned").await?;
            forget_key(state, order).await;
            return Ok("cancelled");
        }
    }
    repository::delete_pending(&state.pool, order.order_id).await?;
    forget_key(state, order).await;
    Ok("released")
}

async fn commit_or_compensate(state: &AppState, order: &OrderRow) -> anyhow::Result<&'static str> {
    let order_id = order.order_id;
    match state.catalog.commit(order_id).await? {
        SettleOutcome::Done => {
            let confirmed = checkout::confirm(state, order_id, order.user_id, false)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if let (Some(confirmed), Some(key)) = (confirmed, &order.idempotency_key) {
                let response = StoredResponse::ok(StatusCode::CREATED, &confirmed);
                idempotency::complete_stale(
                    &state.pool,
                    order.user_id,
                    key,
                    lease(state),
                    &response,
                )
                .await?;
            }
            Ok("confirmed")
        }
        SettleOutcome::NotFound | SettleOutcome::Conflict => {
            repository::move_step(&state.pool, order_id, "charged", "compensating").await?;
            checkout::compensate(state, order_id, "reservation_expired").await?;
            forget_key(state, order).await;
            Ok("cancelled")
        }
    }
}

/// The lease of a checkout's key: a key that has not moved for that long
/// belongs to a request that died.
fn lease(state: &AppState) -> Duration {
    Duration::from_secs(state.settings.checkout.reconciler_stale_after_secs)
}

/// Forgets the checkout's key (if its request died with it) so the client
/// may retry. A key a retry took over meanwhile is the retry's.
async fn forget_key(state: &AppState, order: &OrderRow) {
    if let Some(key) = &order.idempotency_key
        && let Err(err) =
            idempotency::release_stale(&state.pool, order.user_id, key, lease(state)).await
    {
        tracing::warn!(error = %err, "forgetting an idempotency key failed");
    }
}

/// Runs a pass every `reconciler_interval_secs` until `shutdown`.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let interval = Duration::from_secs(state.settings.checkout.reconciler_interval_secs.max(1));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(err) = reconcile_once(&state).await {
            tracing::warn!(error = format!("{err:#}"), "reconciler pass failed");
        }
    }
}
