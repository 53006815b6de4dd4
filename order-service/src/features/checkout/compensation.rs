//! Undoing checkout steps. Every call is idempotent (catalog and the
//! provider are idempotent on the order id; the order moves only from the
//! state it is expected in), so the saga and the reconciler can both use
//! them, and a retry after a failure is harmless.

use uuid::Uuid;

use super::repository;
use crate::catalog::{SettleOutcome, StockLine};
use crate::features::orders::events::{self, Summary};
use crate::features::orders::repository as orders;
use crate::features::payments::PaymentState;
use crate::metrics;
use crate::state::AppState;
use service_kit::outbox::OutboxRow;

/// Releases a pending order's reservation and, once the stock is back,
/// deletes the order. When catalog cannot confirm the release, the order
/// stays for the reconciler, which releases it (the TTL bounds it anyway).
pub async fn release_then_delete(state: &AppState, order_id: Uuid) -> sqlx::Result<()> {
    if matches!(
        state.catalog.release(order_id).await,
        Ok(SettleOutcome::Done | SettleOutcome::NotFound)
    ) {
        repository::delete_pending(&state.pool, order_id).await?;
    }
    Ok(())
}

/// An order the provider never charged: its stock is released and the
/// order deleted; when catalog cannot be reached, the order moves to
/// `compensating` and the reconciler finishes.
pub async fn release_uncharged(state: &AppState, order_id: Uuid) -> sqlx::Result<()> {
    use super::models::SagaStep;
    let released = state.catalog.release(order_id).await;
    if matches!(released, Ok(SettleOutcome::Done | SettleOutcome::NotFound)) {
        repository::delete_pending(&state.pool, order_id).await?;
    } else {
        repository::move_step(
            &state.pool,
            order_id,
            SagaStep::Charging,
            SagaStep::Compensating,
        )
        .await?;
    }
    Ok(())
}

/// A declined payment: releases the stock, marks the order
/// `payment_failed` with its event. False when the order is no longer
/// pending.
pub async fn mark_declined(state: &AppState, order_id: Uuid) -> anyhow::Result<bool> {
    if let Err(err) = state.catalog.release(order_id).await {
        // The reservation's TTL returns the stock anyway.
        tracing::warn!(%order_id, error = %err, "releasing a declined order's stock failed");
    }
    let failed = repository::mark_payment_failed(&state.pool, order_id, |row| {
        OutboxRow::of(&events::payment_failed(Summary::from(row)))
    })
    .await?;
    Ok(failed.is_some())
}

/// Undoes a checkout at step `compensating`: refunds whatever was charged,
/// returns the stock (release, or restock if it was committed), and marks
/// the order `cancelled` (deletes it if nothing was charged). On error the
/// order stays `compensating` for the reconciler; the error keeps its
/// cause chain.
pub async fn compensate(state: &AppState, order_id: Uuid, reason: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    metrics::step("compensate", async {
        let order = repository::find(&state.pool, order_id)
            .await
            .context("reading the order")?
            .with_context(|| format!("order {order_id} vanished"))?;
        let refunded = match state.payments.status(order_id).await? {
            PaymentState::Succeeded { .. } => {
                state.payments.refund(order_id, order.total_cents).await?;
                true
            }
            PaymentState::Refunded { .. } => true,
            PaymentState::NotFound | PaymentState::Declined => false,
        };
        match state.catalog.release(order_id).await? {
            SettleOutcome::Done | SettleOutcome::NotFound => {}
            SettleOutcome::Conflict => {
                // Committed after all: put the units back.
                let lines: Vec<StockLine> = orders::items(&state.pool, &[order_id])
                    .await
                    .context("reading the order's lines")?
                    .into_iter()
                    .map(|row| StockLine {
                        product_id: row.item.product_id,
                        quantity: row.item.quantity,
                    })
                    .collect();
                if !lines.is_empty() {
                    state.catalog.restock(order_id, &lines).await?;
                }
            }
        }
        if refunded {
            repository::mark_compensated(&state.pool, order_id, true, reason).await?;
        } else {
            repository::delete_pending(&state.pool, order_id).await?;
        }
        Ok(())
    })
    .await
}
