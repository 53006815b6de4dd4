//! The notification events orders emit (through the outbox), with exactly
//! the `data` shapes notification-service validates.

use serde_json::json;
use service_kit::outbox::Notification;
use uuid::Uuid;

use super::models::{OrderItem, OrderRow};

/// What every order event says about its order.
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a> {
    /// The order.
    pub order_id: Uuid,
    /// Its customer (the notification's recipient).
    pub user_id: Uuid,
    /// Its total.
    pub total_cents: i64,
    /// ISO 4217.
    pub currency: &'a str,
}

impl<'a> From<&'a OrderRow> for Summary<'a> {
    fn from(row: &'a OrderRow) -> Self {
        Self {
            order_id: row.order_id,
            user_id: row.user_id,
            total_cents: row.total_cents,
            currency: &row.currency,
        }
    }
}

/// `order_confirmed`: `{order_id, total_cents, currency, items:[{name, quantity, unit_price_cents, line_total_cents}]}`.
pub fn order_confirmed(order: Summary<'_>, items: &[OrderItem]) -> Notification {
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
pub fn order_cancelled(order: Summary<'_>, refund_cents: i64) -> Notification {
    Notification::new(
        "order_cancelled",
        json!({"order_id": order.order_id, "refund_cents": refund_cents, "currency": order.currency}),
    )
    .for_user(order.user_id)
}

/// `payment_failed`: `{order_id, total_cents, currency}`.
pub fn payment_failed(order: Summary<'_>) -> Notification {
    Notification::new(
        "payment_failed",
        json!({"order_id": order.order_id, "total_cents": order.total_cents, "currency": order.currency}),
    )
    .for_user(order.user_id)
}
