//! The reconciler: settles orders left `pending` by a crash or an outage,
//! so no stock and no money stays in limbo. An order untouched for
//! `reconciler_stale_after_secs` is claimed (a lease on `updated_at`, so
//! replicas do not collide) and resolved by its [`SagaStep`]:
//!
//! | step | resolution |
//! |---|---|
//! | `reserving`, `reserved` | never charged: release the reservation, delete the order |
//! | `charging` | ask the provider: charged -> as `charged`; declined -> `payment_failed`; not charged -> release, delete |
//! | `charged` | commit the reservation -> `confirmed` (+ event); reservation gone -> compensate |
//! | `compensating` | refund, release (or restock if committed), `cancelled` |
//!
//! A dependency that is still down leaves the order for the next pass.
//! The request that created the order died with its idempotency key still
//! running; the resolution settles the key too (the confirmed order's 201
//! is stored, anything else forgets the key so a retry runs again).

use anyhow::Context;
use service_kit::outbox::OutboxRow;

use super::compensation;
use super::models::SagaStep;
use super::repository::{self, Confirmation};
use super::routes;
use super::saga::CheckoutOutcome;
use crate::catalog::SettleOutcome;
use crate::features::orders::events::{self, Summary};
use crate::features::orders::models::{OrderItem, OrderRow};
use crate::features::orders::repository as orders;
use crate::features::payments::PaymentState;
use crate::metrics;
use crate::state::AppState;

/// Orders settled per pass.
const BATCH: i64 = 50;

/// How the reconciler settled one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Committed and confirmed.
    Confirmed,
    /// Never charged: released and deleted.
    Released,
    /// Declined: `payment_failed`.
    PaymentFailed,
    /// Refunded and cancelled.
    Cancelled,
    /// Left for the next pass.
    Deferred,
}

impl Resolution {
    /// The `orders_reconciled_total{resolution}` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Released => "released",
            Self::PaymentFailed => "payment_failed",
            Self::Cancelled => "cancelled",
            Self::Deferred => "deferred",
        }
    }
}

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

impl Report {
    fn count(&mut self, resolution: Resolution) {
        let counter = match resolution {
            Resolution::Confirmed => &mut self.confirmed,
            Resolution::Released => &mut self.released,
            Resolution::PaymentFailed => &mut self.payment_failed,
            Resolution::Cancelled => &mut self.cancelled,
            Resolution::Deferred => &mut self.deferred,
        };
        *counter += 1;
    }
}

/// One pass over the stale pending orders (tests call it directly).
pub async fn reconcile_once(state: &AppState) -> anyhow::Result<Report> {
    let stale = state.settings.checkout.reconciler_stale_after_secs as f64;
    let orders = repository::claim_stale(&state.pool, stale, BATCH)
        .await
        .context("claiming stale pending orders")?;
    let mut report = Report::default();
    for order in orders {
        let resolution = match settle(state, &order).await {
            Ok(resolution) => resolution,
            Err(err) => {
                tracing::warn!(order_id = %order.order_id, step = %order.saga_step, error = format!("{err:#}"), "reconciling an order failed; retrying later");
                Resolution::Deferred
            }
        };
        metrics::reconciled(resolution.as_str());
        report.count(resolution);
    }
    if report != Report::default() {
        tracing::info!(?report, "reconciler pass");
    }
    Ok(report)
}

/// One pass, for the periodic task: failures are logged.
pub async fn pass(state: AppState) {
    if let Err(err) = reconcile_once(&state).await {
        tracing::warn!(error = format!("{err:#}"), "reconciler pass failed");
    }
}

async fn settle(state: &AppState, order: &OrderRow) -> anyhow::Result<Resolution> {
    let order_id = order.order_id;
    match order.saga_step {
        SagaStep::Reserving | SagaStep::Reserved => release_and_forget(state, order).await,
        SagaStep::Charging => match state.payments.status(order_id).await? {
            PaymentState::Succeeded { provider_ref } => {
                repository::record_charge(&state.pool, order_id, &provider_ref).await?;
                commit_or_compensate(state, order, SagaStep::Charged, &provider_ref).await
            }
            PaymentState::Declined => {
                compensation::mark_declined(state, order_id).await?;
                forget_key(state, order).await;
                Ok(Resolution::PaymentFailed)
            }
            PaymentState::NotFound | PaymentState::Refunded { .. } => {
                release_and_forget(state, order).await
            }
        },
        SagaStep::Charged => {
            let provider_ref = order.payment_ref.clone().unwrap_or_default();
            commit_or_compensate(state, order, SagaStep::Charged, &provider_ref).await
        }
        SagaStep::Compensating => {
            compensation::compensate(state, order_id, "dependency_unavailable").await?;
            forget_key(state, order).await;
            Ok(Resolution::Cancelled)
        }
        SagaStep::Completed | SagaStep::Failed | SagaStep::Cancelling => Ok(Resolution::Deferred),
    }
}

async fn release_and_forget(state: &AppState, order: &OrderRow) -> anyhow::Result<Resolution> {
    match state.catalog.release(order.order_id).await? {
        SettleOutcome::Done | SettleOutcome::NotFound => {}
        SettleOutcome::Conflict => {
            // Committed without a charge cannot happen in this saga; be safe.
            repository::move_step(
                &state.pool,
                order.order_id,
                order.saga_step,
                SagaStep::Compensating,
            )
            .await?;
            compensation::compensate(state, order.order_id, "abandoned").await?;
            forget_key(state, order).await;
            return Ok(Resolution::Cancelled);
        }
    }
    repository::delete_pending(&state.pool, order.order_id).await?;
    forget_key(state, order).await;
    Ok(Resolution::Released)
}

async fn commit_or_compensate(
    state: &AppState,
    order: &OrderRow,
    step: SagaStep,
    provider_ref: &str,
) -> anyhow::Result<Resolution> {
    let order_id = order.order_id;
    match state.catalog.commit(order_id).await? {
        SettleOutcome::Done => {
            let items: Vec<OrderItem> = orders::items(&state.pool, &[order_id])
                .await
                .context("reading the order's lines")?
                .into_iter()
                .map(|row| row.item)
                .collect();
            let event = OutboxRow::of(&events::order_confirmed(Summary::from(order), &items))?;
            // The cart is left alone: the user may have changed it since.
            let confirmation = Confirmation {
                provider_ref,
                take_from_cart: false,
                event: &event,
            };
            let confirmed = repository::confirm(&state.pool, order_id, &confirmation)
                .await
                .context("confirming the order")?;
            if let (Some(row), Some(key)) = (confirmed, &order.idempotency_key) {
                let confirmed = CheckoutOutcome::Confirmed(row.into_order(items));
                let response = routes::confirmed_answer(&confirmed);
                state
                    .idempotency
                    .complete_stale(order.user_id, key, &response)
                    .await
                    .context("storing the checkout's answer with its key")?;
            }
            Ok(Resolution::Confirmed)
        }
        SettleOutcome::NotFound | SettleOutcome::Conflict => {
            repository::move_step(&state.pool, order_id, step, SagaStep::Compensating).await?;
            compensation::compensate(state, order_id, "reservation_expired").await?;
            forget_key(state, order).await;
            Ok(Resolution::Cancelled)
        }
    }
}

/// Forgets the checkout's key (if its request died with it) so the client
/// may retry. A key a retry took over meanwhile is the retry's.
async fn forget_key(state: &AppState, order: &OrderRow) {
    if let Some(key) = &order.idempotency_key
        && let Err(err) = state.idempotency.release_stale(order.user_id, key).await
    {
        tracing::warn!(error = %err, "forgetting an idempotency key failed");
    }
}
