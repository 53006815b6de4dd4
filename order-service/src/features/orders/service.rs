//! Order history, cancellation and fulfilment rules.

use service_kit::outbox;
use service_kit::pagination::{Page, decode_cursor};
use service_kit::{ApiError, FieldError};
use std::collections::HashMap;
use uuid::Uuid;

use super::checkout;
use super::events;
use super::models::{FulfilmentStatus, Order, OrderItem, OrderRow, OrderStatus};
use super::repository;
use crate::catalog::StockLine;
use crate::features::idempotency::StoredResponse;
use crate::features::idempotency::service::in_progress;
use crate::state::AppState;

/// Attaches their lines to `rows` (one query).
async fn with_items(state: &AppState, rows: Vec<OrderRow>) -> Result<Vec<Order>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.order_id).collect();
    let mut items: HashMap<Uuid, Vec<OrderItem>> = HashMap::new();
    for row in repository::items(&state.pool, &ids)
        .await
        .map_err(ApiError::internal)?
    {
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

/// A page of orders, newest first.
pub async fn list(
    state: &AppState,
    user_id: Option<Uuid>,
    status: Option<OrderStatus>,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<Page<Order>, ApiError> {
    let limit = match limit {
        None => service_kit::pagination::DEFAULT_LIMIT,
        Some(n) if (1..=service_kit::pagination::MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::validation(vec![FieldError::new(
                "limit",
                "must be between 1 and 100",
            )]));
        }
    };
    let before: Option<Uuid> = cursor.map(decode_cursor).transpose()?;
    let rows = repository::list(
        &state.pool,
        user_id,
        status.map(OrderStatus::as_str),
        before,
        i64::from(limit) + 1,
    )
    .await
    .map_err(ApiError::internal)?;
    let page = Page::from_rows(rows, limit, |row| row.order_id);
    Ok(Page {
        items: with_items(state, page.items).await?,
        next_cursor: page.next_cursor,
    })
}

/// One order (another user's is 404).
pub async fn get(
    state: &AppState,
    order_id: Uuid,
    user_id: Option<Uuid>,
) -> Result<Order, ApiError> {
    let row = repository::find(&state.pool, order_id, user_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("No such order."))?;
    with_items(state, vec![row])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("No such order."))
}

/// Cancels a confirmed order: restock through catalog, refund, `cancelled`
/// with the `order_cancelled` event. The row stays locked meanwhile, so a
/// concurrent cancel or shipment waits and then sees the new status.
pub async fn cancel(state: &AppState, order_id: Uuid, user_id: Uuid) -> Result<Order, ApiError> {
    let mut tx = state.pool.begin().await.map_err(ApiError::internal)?;
    let row = repository::lock(&mut tx, order_id, Some(user_id))
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("No such order."))?;
    if row.status != OrderStatus::Confirmed.as_str() {
        return Err(ApiError::conflict(format!(
            "Only confirmed orders can be cancelled; this one is {}.",
            row.status
        ))
        .with_kind("illegal-transition"));
    }
    let lines: Vec<StockLine> = repository::items(&state.pool, &[order_id])
        .await
        .map_err(ApiError::internal)?
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
            .map_err(ApiError::unavailable)?;
    }
    state
        .payments
        .refund(order_id, row.total_cents)
        .await
        .map_err(ApiError::unavailable)?;
    let updated = repository::set_status(
        &mut tx,
        order_id,
        OrderStatus::Cancelled.as_str(),
        Some(row.total_cents),
    )
    .await
    .map_err(ApiError::internal)?;
    outbox::enqueue(&mut tx, &events::order_cancelled(&updated, row.total_cents))
        .await
        .map_err(ApiError::internal)?;
    tx.commit().await.map_err(ApiError::internal)?;
    get(state, order_id, None).await
}

/// Moves an order along fulfilment: `confirmed` -> `shipped` -> `delivered`.
pub async fn set_fulfilment(
    state: &AppState,
    order_id: Uuid,
    status: FulfilmentStatus,
) -> Result<Order, ApiError> {
    let (from, to) = match status {
        FulfilmentStatus::Shipped => (OrderStatus::Confirmed, OrderStatus::Shipped),
        FulfilmentStatus::Delivered => (OrderStatus::Shipped, OrderStatus::Delivered),
    };
    let mut tx = state.pool.begin().await.map_err(ApiError::internal)?;
    let row = repository::lock(&mut tx, order_id, None)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("No such order."))?;
    if row.status != from.as_str() {
        return Err(ApiError::conflict(format!(
            "An order that is {} cannot become {}.",
            row.status,
            to.as_str()
        ))
        .with_kind("illegal-transition"));
    }
    repository::set_status(&mut tx, order_id, to.as_str(), None)
        .await
        .map_err(ApiError::internal)?;
    tx.commit().await.map_err(ApiError::internal)?;
    get(state, order_id, None).await
}

/// What a checkout key whose request died (a stale `running` key) stands
/// for, judged by the order it created: still pending -> 409 (the
/// reconciler settles it); confirmed (or later) -> its 201; declined -> the
/// 402; none, or a compensated failure -> `None`, the key may run again.
pub async fn resolve_stale_key(
    state: &AppState,
    user_id: Uuid,
    key: &str,
) -> Result<Option<StoredResponse>, ApiError> {
    let Some(row) = repository::find_by_key(&state.pool, user_id, key)
        .await
        .map_err(ApiError::internal)?
    else {
        return Ok(None);
    };
    match OrderStatus::parse(&row.status) {
        Some(OrderStatus::Pending) => Err(in_progress()),
        Some(OrderStatus::PaymentFailed) => {
            Ok(Some(StoredResponse::error(&checkout::declined_error())))
        }
        Some(OrderStatus::Cancelled) if row.failure_reason.is_some() => Ok(None),
        None => Ok(None),
        Some(_) => {
            let order = get(state, row.order_id, None).await?;
            Ok(Some(StoredResponse::ok(
                axum::http::StatusCode::CREATED,
                &order,
            )))
        }
    }
}
