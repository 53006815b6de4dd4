//! The checkout saga, its state persisted on the order at every step:
//!
//! 1. the order is written `pending` (step `reserving`), its id doubling as
//!    the reservation id and the charge's idempotency key;
//! 2. catalog reserves the cart's lines (all or nothing, with a TTL) and
//!    returns its authoritative prices, recorded on the order (`reserved`);
//! 3. the provider charges the total (`charging` -> `charged`);
//! 4. catalog commits the reservation;
//! 5. one transaction marks the order `confirmed`, takes what was ordered
//!    out of the cart and
//!    writes the `order_confirmed` outbox event.
//!
//! Every failure compensates (see [`run`]); what a crash interrupts, the
//! reconciler settles.

use axum::http::StatusCode;
use service_kit::outbox;
use service_kit::{ApiError, FieldError};
use std::collections::BTreeSet;
use uuid::Uuid;

use super::events;
use super::models::{CheckoutRequest, Order, OrderItem, OrderRow};
use super::repository;
use crate::catalog::{ReserveOutcome, SettleOutcome, StockLine};
use crate::config::{FaultAction, SagaStep};
use crate::features::cart;
use crate::features::idempotency::StoredResponse;
use crate::features::payments::PaymentState;
use crate::features::payments::provider::{ChargeOutcome, ChargeRequest};
use crate::metrics;
use crate::state::AppState;

/// What becomes of the request's idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFate {
    /// Store the response: a repeat replays it.
    Store,
    /// Forget the key: nothing happened that a retry could duplicate.
    Forget,
    /// Leave it running: an order is unsettled; the reconciler settles the
    /// key with the order.
    Keep,
}

/// The saga's answer.
#[derive(Debug)]
pub struct Outcome {
    /// The response.
    pub response: StoredResponse,
    /// The key's fate.
    pub key: KeyFate,
    /// The error, for responses not stored (logged as a response).
    pub error: Option<ApiError>,
}

impl Outcome {
    fn stored(response: StoredResponse) -> Self {
        Self {
            response,
            key: KeyFate::Store,
            error: None,
        }
    }

    fn stored_error(err: ApiError) -> Self {
        Self::stored(StoredResponse::error(&err))
    }

    fn transient(err: ApiError, key: KeyFate) -> Self {
        Self {
            response: StoredResponse::error(&err),
            key,
            error: Some(err),
        }
    }
}

fn unavailable(cause: impl Into<anyhow::Error>) -> ApiError {
    ApiError::unavailable(cause)
}

/// The database failing mid-saga is a dependency outage (503, retry with
/// the same key), not a bug: the order stays as it stands for the
/// reconciler.
fn db_down(err: impl Into<anyhow::Error>) -> ApiError {
    ApiError::unavailable(err)
}

/// Runs the checkout for `user_id`'s cart.
pub async fn run(
    state: &AppState,
    user_id: Uuid,
    idempotency_key: Option<&str>,
    request: CheckoutRequest,
) -> Outcome {
    match saga(state, user_id, idempotency_key, request).await {
        Ok(outcome) => outcome,
        Err(err) => {
            // A database error mid-saga: the order (if any) is left as it
            // stands for the reconciler, so the key stays with it.
            metrics::checkout("error");
            Outcome::transient(err, KeyFate::Keep)
        }
    }
}

async fn saga(
    state: &AppState,
    user_id: Uuid,
    idempotency_key: Option<&str>,
    request: CheckoutRequest,
) -> Result<Outcome, ApiError> {
    let pool = &state.pool;
    // Until the order exists, a failure leaves nothing to settle: the key
    // is forgotten and a retry runs again.
    let lines = match cart::repository::list(pool, user_id).await {
        Ok(lines) => lines,
        Err(err) => return Ok(Outcome::transient(db_down(err), KeyFate::Forget)),
    };
    if lines.is_empty() {
        metrics::checkout("empty_cart");
        return Ok(Outcome::stored_error(
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "The cart is empty.")
                .with_kind("empty-cart"),
        ));
    }
    let stock: Vec<StockLine> = lines
        .iter()
        .map(|l| StockLine {
            product_id: l.product_id,
            quantity: l.quantity,
        })
        .collect();

    // 1. The order, pending, before anything happens elsewhere.
    let order_id = Uuid::now_v7();
    let address = serde_json::to_value(&request.shipping_address).map_err(db_down)?;
    if let Err(err) = repository::insert_pending(
        pool,
        order_id,
        user_id,
        &address,
        state.payments.name(),
        idempotency_key,
    )
    .await
    {
        return Ok(Outcome::transient(db_down(err), KeyFate::Forget));
    }

    // 2. Reserve.
    let ttl = state.settings.checkout.reservation_ttl_secs;
    let reserved = metrics::step("reserve", state.catalog.reserve(order_id, &stock, ttl)).await;
    let reservation = match reserved {
        Ok(ReserveOutcome::Reserved(reservation)) => reservation,
        Ok(ReserveOutcome::Short(short)) => {
            repository::delete_pending(pool, order_id)
                .await
                .map_err(db_down)?;
            metrics::checkout("out_of_stock");
            return Ok(Outcome::stored(out_of_stock(&short)));
        }
        Err(err) => {
            // The reservation may exist with its answer lost: release it.
            metrics::checkout("unavailable");
            release_then_delete(state, order_id).await?;
            return Ok(Outcome::transient(unavailable(err), KeyFate::Forget));
        }
    };
    let currencies: BTreeSet<&str> = reservation
        .items
        .iter()
        .map(|i| i.currency.as_str())
        .collect();
    let currency = match (currencies.len(), currencies.first()) {
        (1, Some(currency)) => (*currency).to_owned(),
        _ => {
            release_then_delete(state, order_id).await?;
            metrics::checkout("invalid");
            return Ok(Outcome::stored_error(ApiError::validation(vec![
                FieldError::new("cart", "holds products priced in different currencies"),
            ])));
        }
    };
    let items: Vec<OrderItem> = reservation
        .items
        .iter()
        .map(|i| OrderItem {
            product_id: i.product_id,
            name: i.name.clone(),
            unit_price_cents: i.unit_price_cents,
            quantity: i.quantity,
            line_total_cents: i.unit_price_cents.saturating_mul(i64::from(i.quantity)),
        })
        .collect();
    let total: i64 = items.iter().map(|i| i.line_total_cents).sum();
    {
        let mut tx = pool.begin().await.map_err(db_down)?;
        if !repository::record_reservation(
            &mut tx,
            order_id,
            &items,
            &currency,
            reservation.expires_at,
        )
        .await
        .map_err(db_down)?
        {
            return Ok(lost(order_id));
        }
        tx.commit().await.map_err(db_down)?;
    }
    if state.settings.faults.after(SagaStep::Reserved) == FaultAction::Halt {
        return Ok(halted());
    }

    // 3. Charge.
    if !repository::move_step(pool, order_id, "reserved", "charging")
        .await
        .map_err(db_down)?
    {
        return Ok(lost(order_id));
    }
    let charge = ChargeRequest {
        order_id,
        amount_cents: total,
        currency: currency.clone(),
        token: request.payment.token.clone(),
    };
    let charged = metrics::step("charge", state.payments.charge(charge)).await;
    let provider_ref = match charged {
        Ok(ChargeOutcome::Succeeded { provider_ref }) => provider_ref,
        Ok(ChargeOutcome::Declined { reason }) => {
            tracing::info!(%order_id, %reason, "payment declined");
            return declined(state, order_id).await;
        }
        Err(err) => {
            tracing::warn!(%order_id, error = %err, "charge failed; asking the provider");
            match state.payments.status(order_id).await {
                Ok(PaymentState::Succeeded { provider_ref }) => provider_ref,
                Ok(PaymentState::Declined) => return declined(state, order_id).await,
                Ok(PaymentState::NotFound | PaymentState::Refunded { .. }) => {
                    // Nothing charged: give the stock back, forget the order.
                    metrics::checkout("unavailable");
                    let released = state.catalog.release(order_id).await;
                    if matches!(released, Ok(SettleOutcome::Done | SettleOutcome::NotFound)) {
                        repository::delete_pending(pool, order_id)
                            .await
                            .map_err(db_down)?;
                    } else {
                        repository::move_step(pool, order_id, "charging", "compensating")
                            .await
                            .map_err(db_down)?;
                    }
                    return Ok(Outcome::transient(unavailable(err), KeyFate::Forget));
                }
                Err(status_err) => {
                    // Unknown: release the stock now; the reconciler asks
                    // the provider again and refunds if it did charge.
                    metrics::checkout("unavailable");
                    tracing::warn!(%order_id, error = %status_err, "payment state unknown");
                    let _ = state.catalog.release(order_id).await;
                    return Ok(Outcome::transient(unavailable(err), KeyFate::Keep));
                }
            }
        }
    };
    if !repository::record_charge(pool, order_id, &provider_ref)
        .await
        .map_err(db_down)?
    {
        return Ok(lost(order_id));
    }
    if state.settings.faults.after(SagaStep::Charged) == FaultAction::Halt {
        return Ok(halted());
    }

    // 4. Commit the reservation.
    match metrics::step("commit", state.catalog.commit(order_id)).await {
        Ok(SettleOutcome::Done) => {}
        Ok(SettleOutcome::NotFound | SettleOutcome::Conflict) => {
            // The reservation expired (or was released) while paying.
            repository::move_step(pool, order_id, "charged", "compensating")
                .await
                .map_err(db_down)?;
            // The stored answer is replayed for this key: it says only what
            // is true. An incomplete compensation stays `compensating`, and
            // the reconciler finishes the refund.
            let detail = match compensate(state, order_id, "reservation_expired").await {
                Ok(()) => "The stock reservation expired during payment; the payment was refunded.",
                Err(err) => {
                    tracing::warn!(%order_id, error = %err, "compensation incomplete; the reconciler retries");
                    "The stock reservation expired during payment; the payment will be refunded."
                }
            };
            metrics::checkout("reservation_expired");
            return Ok(Outcome::stored_error(
                ApiError::conflict(detail).with_kind("reservation-expired"),
            ));
        }
        Err(err) => {
            metrics::checkout("unavailable");
            repository::move_step(pool, order_id, "charged", "compensating")
                .await
                .map_err(db_down)?;
            if let Err(comp) = compensate(state, order_id, "dependency_unavailable").await {
                tracing::warn!(%order_id, error = %comp, "compensation incomplete; the reconciler retries");
            }
            return Ok(Outcome::transient(unavailable(err), KeyFate::Forget));
        }
    }

    // 5. Confirm, clear the cart, emit the event: one transaction.
    let order = metrics::step("confirm", confirm(state, order_id, user_id, true)).await?;
    match order {
        Some(order) => {
            metrics::checkout("confirmed");
            Ok(Outcome::stored(StoredResponse::ok(
                StatusCode::CREATED,
                &order,
            )))
        }
        None => Ok(lost(order_id)),
    }
}

/// `charged` -> `confirmed` with the cart cleared (when `clear_cart`) and
/// the `order_confirmed` event, in one transaction.
pub async fn confirm(
    state: &AppState,
    order_id: Uuid,
    user_id: Uuid,
    clear_cart: bool,
) -> Result<Option<Order>, ApiError> {
    let items: Vec<OrderItem> = repository::items(&state.pool, &[order_id])
        .await
        .map_err(db_down)?
        .into_iter()
        .map(|row| row.item)
        .collect();
    let mut tx = state.pool.begin().await.map_err(db_down)?;
    let Some(row) = repository::confirm(&mut tx, order_id)
        .await
        .map_err(db_down)?
    else {
        return Ok(None);
    };
    if clear_cart {
        let (products, quantities): (Vec<Uuid>, Vec<i32>) =
            items.iter().map(|i| (i.product_id, i.quantity)).unzip();
        cart::repository::remove_ordered(&mut tx, user_id, &products, &quantities)
            .await
            .map_err(db_down)?;
    }
    outbox::enqueue(&mut tx, &events::order_confirmed(&row, &items))
        .await
        .map_err(db_down)?;
    tx.commit().await.map_err(db_down)?;
    Ok(Some(row.into_order(items)))
}

/// A declined payment: release the stock, `payment_failed` with its event.
async fn declined(state: &AppState, order_id: Uuid) -> Result<Outcome, ApiError> {
    metrics::checkout("declined");
    let order = mark_declined(state, order_id).await?;
    let mut err = declined_error();
    if order.is_none() {
        err = ApiError::conflict("The order changed while paying.");
    }
    Ok(Outcome::stored_error(err))
}

/// The 402 of a declined payment.
pub fn declined_error() -> ApiError {
    ApiError::new(StatusCode::PAYMENT_REQUIRED, "The payment was declined.")
        .with_kind("payment-declined")
}

/// Releases the stock and marks the order `payment_failed` with its event.
pub async fn mark_declined(state: &AppState, order_id: Uuid) -> Result<Option<OrderRow>, ApiError> {
    if let Err(err) = state.catalog.release(order_id).await {
        // The reservation's TTL returns the stock anyway.
        tracing::warn!(%order_id, error = %err, "releasing a declined order's stock failed");
    }
    let mut tx = state.pool.begin().await.map_err(db_down)?;
    let order = repository::mark_payment_failed(&mut tx, order_id)
        .await
        .map_err(db_down)?;
    if let Some(order) = &order {
        outbox::enqueue(&mut tx, &events::payment_failed(order))
            .await
            .map_err(db_down)?;
    }
    tx.commit().await.map_err(db_down)?;
    Ok(order)
}

/// Releases a pending order's reservation and, once the stock is back,
/// deletes the order. When catalog cannot confirm the release, the order
/// stays for the reconciler, which releases it (the TTL bounds it anyway).
async fn release_then_delete(state: &AppState, order_id: Uuid) -> Result<(), ApiError> {
    if matches!(
        state.catalog.release(order_id).await,
        Ok(SettleOutcome::Done | SettleOutcome::NotFound)
    ) {
        repository::delete_pending(&state.pool, order_id)
            .await
            .map_err(db_down)?;
    }
    Ok(())
}

/// Undoes a checkout at step `compensating`: refunds whatever was charged,
/// returns the stock (release, or restock if it was committed), and marks
/// the order `cancelled`. Every call is idempotent; on error the order stays
/// `compensating` for the reconciler.
pub async fn compensate(state: &AppState, order_id: Uuid, reason: &str) -> anyhow::Result<()> {
    metrics::step("compensate", async {
        let order = repository::find(&state.pool, order_id, None)
            .await?
            .ok_or_else(|| anyhow::anyhow!("order {order_id} vanished"))?;
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
                let lines: Vec<StockLine> = repository::items(&state.pool, &[order_id])
                    .await?
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

/// The 409 of a reservation that cannot be met: a problem naming the short
/// products (`product_ids`, and `errors` per line).
fn out_of_stock(short: &[crate::catalog::ShortLine]) -> StoredResponse {
    let err = ApiError::conflict("Some products are not available in the requested quantity.")
        .with_kind("out-of-stock");
    let mut response = StoredResponse::error(&err);
    let errors: Vec<FieldError> = short
        .iter()
        .map(|s| {
            FieldError::new(
                format!("items[{}]", s.product_id),
                format!("{} requested, {} available", s.requested, s.available),
            )
        })
        .collect();
    if let Some(body) = response.body.as_object_mut() {
        body.insert(
            "product_ids".into(),
            serde_json::json!(short.iter().map(|s| s.product_id).collect::<Vec<_>>()),
        );
        body.insert(
            "short_items".into(),
            serde_json::json!(
                short
                    .iter()
                    .map(|s| serde_json::json!({
                        "product_id": s.product_id, "requested": s.requested, "available": s.available,
                    }))
                    .collect::<Vec<_>>()
            ),
        );
        body.insert(
            "errors".into(),
            serde_json::to_value(errors).unwrap_or_default(),
        );
    }
    response
}

/// The order moved under the saga (the reconciler took it): its outcome is
/// the reconciler's; the key stays with the order.
fn lost(order_id: Uuid) -> Outcome {
    metrics::checkout("interrupted");
    Outcome::transient(
        unavailable(anyhow::anyhow!(
            "order {order_id} was taken over by the reconciler"
        )),
        KeyFate::Keep,
    )
}

/// The test-only fault injection stopped the saga, as a crash would.
fn halted() -> Outcome {
    metrics::checkout("interrupted");
    Outcome::transient(
        unavailable(anyhow::anyhow!("saga halted by fault injection")),
        KeyFate::Keep,
    )
}
