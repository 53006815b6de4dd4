//! Order history, cancellation and fulfilment rules.

use service_kit::outbox::OutboxRow;
use service_kit::pagination::Page;
use std::collections::HashMap;
use uuid::Uuid;

use super::events::{self, Summary};
use super::models::{FulfilmentStatus, Order, OrderItem, OrderRow, OrderStatus};
use super::repository;
use crate::catalog::StockLine;
use crate::features::checkout::SagaStep;
use crate::state::AppState;

/// What can go wrong with orders. `routes.rs` decides what each means
/// over HTTP.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// No such order (or another user's).
    #[error("no such order")]
    NotFound,
    /// The order is not where the move starts from.
    #[error("an order that is {from} cannot become {to}")]
    IllegalTransition {
        /// Where it stands (`being cancelled` while a cancel runs).
        from: String,
        /// Where it was to go.
        to: &'static str,
    },
    /// catalog or the payment provider is down; nothing is lost and the
    /// request can be retried.
    #[error("a dependency is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Our database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// Attaches their lines to `rows` (one query).
async fn with_items_all(state: &AppState, rows: Vec<OrderRow>) -> sqlx::Result<Vec<Order>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.order_id).collect();
    let mut items: HashMap<Uuid, Vec<OrderItem>> = HashMap::new();
    for row in repository::items(&state.pool, &ids).await? {
        items.entry(row.order_id).or_default().push(row.item);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let lines = items.remove(&row.order_id).unwrap_or_default();
            row.into_order(lines)
        })
        .collect())
}

/// One order with its lines.
pub async fn with_items(state: &AppState, row: OrderRow) -> sqlx::Result<Order> {
    let items = repository::items(&state.pool, &[row.order_id]).await?;
    Ok(row.into_order(items.into_iter().map(|r| r.item).collect()))
}

/// A page of orders, newest first, before the cursor's order.
pub async fn list(
    state: &AppState,
    user_id: Option<Uuid>,
    status: Option<OrderStatus>,
    limit: u32,
    before: Option<Uuid>,
) -> Result<Page<Order>, OrderError> {
    let rows = repository::list(
        &state.pool,
        user_id,
        status.map(OrderStatus::as_str),
        before,
        i64::from(limit) + 1,
    )
    .await?;
    let page = Page::from_rows(rows, limit, |row| row.order_id);
    Ok(Page {
        items: with_items_all(state, page.items).await?,
        next_cursor: page.next_cursor,
    })
}

/// One order (another user's is not found).
pub async fn get(
    state: &AppState,
    order_id: Uuid,
    user_id: Option<Uuid>,
) -> Result<Order, OrderError> {
    let row = repository::find(&state.pool, order_id, user_id)
        .await?
        .ok_or(OrderError::NotFound)?;
    Ok(with_items(state, row).await?)
}

/// Cancels a confirmed order: restock through catalog, refund, `cancelled`
/// with the `order_cancelled` event. The order is marked `cancelling`
/// first; no lock is held while catalog and the provider are called (the
/// mark keeps a shipment or a second cancel from starting). Both calls are
/// idempotent on the order id: a cancel that fails takes the mark off and
/// can be retried; one whose process died leaves the mark for the
/// reconciler's lease, after which a retry takes it over.
pub async fn cancel(state: &AppState, order_id: Uuid, user_id: Uuid) -> Result<Order, OrderError> {
    let lease = state.settings.checkout.reconciler_stale_after_secs as f64;
    let Some(row) = repository::begin_cancel(&state.pool, order_id, user_id, lease).await? else {
        return Err(refusal(state, order_id, Some(user_id), "cancelled").await);
    };
    if let Err(err) = refund_and_restock(state, &row).await {
        if let Err(undo) = repository::abandon_cancel(&state.pool, order_id).await {
            tracing::warn!(%order_id, error = %undo, "taking the cancelling mark off failed; the lease frees it");
        }
        return Err(err);
    }
    let event = OutboxRow::of(&events::order_cancelled(
        Summary::from(&row),
        row.total_cents,
    ))
    .map_err(|e| OrderError::Database(sqlx::Error::Encode(Box::new(e))))?;
    repository::finish_cancel(&state.pool, order_id, &event).await?;
    get(state, order_id, None).await
}

/// Puts a cancelled order's units back and refunds its payment.
async fn refund_and_restock(state: &AppState, row: &OrderRow) -> Result<(), OrderError> {
    let order_id = row.order_id;
    let lines: Vec<StockLine> = repository::items(&state.pool, &[order_id])
        .await?
        .into_iter()
        .map(|r| StockLine {
            product_id: r.item.product_id,
            quantity: r.item.quantity,
        })
        .collect();
    if !lines.is_empty() {
        state
            .catalog
            .restock(order_id, &lines)
            .await
            .map_err(|e| OrderError::Unavailable(e.into()))?;
    }
    state
        .payments
        .refund(order_id, row.total_cents)
        .await
        .map_err(|e| OrderError::Unavailable(e.into()))
}

/// Moves an order along fulfilment: `confirmed` -> `shipped` -> `delivered`.
pub async fn set_fulfilment(
    state: &AppState,
    order_id: Uuid,
    status: FulfilmentStatus,
) -> Result<Order, OrderError> {
    let (from, to) = match status {
        FulfilmentStatus::Shipped => (OrderStatus::Confirmed, OrderStatus::Shipped),
        FulfilmentStatus::Delivered => (OrderStatus::Shipped, OrderStatus::Delivered),
    };
    match repository::set_fulfilment(&state.pool, order_id, from, to).await? {
        Some(row) => Ok(with_items(state, row).await?),
        None => Err(refusal(state, order_id, None, to.as_str()).await),
    }
}

/// Why a conditional move found nothing to move: no such order, or one
/// that is elsewhere.
async fn refusal(
    state: &AppState,
    order_id: Uuid,
    user_id: Option<Uuid>,
    to: &'static str,
) -> OrderError {
    match repository::find(&state.pool, order_id, user_id).await {
        Err(err) => OrderError::Database(err),
        Ok(None) => OrderError::NotFound,
        Ok(Some(row)) if row.saga_step == SagaStep::Cancelling => OrderError::IllegalTransition {
            from: "being cancelled".to_owned(),
            to,
        },
        Ok(Some(row)) => OrderError::IllegalTransition {
            from: row.status,
            to,
        },
    }
}
