//! The notification events orders emit (through the outbox), with exactly
//! the `data` shapes notification-service validates.

use serde_json::json;
use service_kit::outbox::Notification;

use super::models::{OrderItem, OrderRow};

/// `order_confirmed`: `{order_id, total_cents, currency, items:[{name, quantity, unit_price_cents, line_total_cents}]}`.
pub fn order_confirmed(order: &OrderRow, items: &[OrderItem]) -> Notification {
    let items: Vec<_> = items
        .iter()
        .map(|i| {
            json!({
                "name": i.name, "quantity": i.quantity,
                "unit_price_cents": i.unit_price_cents, "line_total_cents": i.line_total_cents,
            })
        })
        .collect();
    Notification::new(
        "order_confirmed",
        json!({
            "order_id": order.order_id, "total_cents": order.total_cents,
            "currency": order.currency, "items": items,
        }),
    )
    .for_user(order.user_id)
}

/// `order_cancelled`: `{order_id, refund_cents, currency}`.
pub fn order_cancelled(order: &OrderRow, refund_cents: i64) -> Notification {
    Notification::new(
        "order_cancelled",
        json!({"order_id": order.order_id, "refund_cents": refund_cents, "currency": order.currency}),
    )
    .for_user(order.user_id)
}

/// `payment_failed`: `{order_id, total_cents, currency}`.
pub fn payment_failed(order: &OrderRow) -> Notification {
    Notification::new(
        "payment_failed",
        json!({"order_id": order.order_id, "total_cents": order.total_cents, "currency": order.currency}),
    )
    .for_user(order.user_id)
}
