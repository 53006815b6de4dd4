//! The notification events orders emit (through the outbox), with exactly
//! the `data` shapes notification-service validates.

use serde_json::{Value, json};
use service_kit::outbox::Notification;
use uuid::Uuid;

use super::models::{OrderItem, OrderRow};

/// What every order event says about its order: who, how much, and the
/// breakdown of what was charged.
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a> {
    /// The order.
    pub order_id: Uuid,
    /// Its customer (the notification's recipient).
    pub user_id: Uuid,
    /// Sum of the lines.
    pub subtotal_cents: i64,
    /// Taken off by the discount code.
    pub discount_cents: i64,
    /// Shipping.
    pub shipping_cents: i64,
    /// Tax.
    pub tax_cents: i64,
    /// Its total.
    pub total_cents: i64,
    /// ISO 4217.
    pub currency: &'a str,
    /// The discount code charged with.
    pub discount_code: Option<&'a str>,
    /// The shipping method's name.
    pub shipping_method: Option<&'a str>,
}

impl<'a> From<&'a OrderRow> for Summary<'a> {
    fn from(row: &'a OrderRow) -> Self {
        Self {
            order_id: row.order_id,
            user_id: row.user_id,
            subtotal_cents: row.subtotal_cents,
            discount_cents: row.discount_cents,
            shipping_cents: row.shipping_cents,
            tax_cents: row.tax_cents,
            total_cents: row.total_cents,
            currency: &row.currency,
            discount_code: row.discount_code.as_deref(),
            shipping_method: row.shipping_method_name.as_deref(),
        }
    }
}

impl Summary<'_> {
    /// The breakdown fields every order mail shows:
    /// `{subtotal_cents, discount_cents, shipping_cents, tax_cents, total_cents, discount_code, shipping_method}`.
    fn breakdown(&self) -> serde_json::Map<String, Value> {
        [
            ("subtotal_cents", json!(self.subtotal_cents)),
            ("discount_cents", json!(self.discount_cents)),
            ("shipping_cents", json!(self.shipping_cents)),
            ("tax_cents", json!(self.tax_cents)),
            ("total_cents", json!(self.total_cents)),
            ("discount_code", json!(self.discount_code)),
            ("shipping_method", json!(self.shipping_method)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// `order_confirmed`: `{order_id, currency, items:[{name, quantity, unit_price_cents, line_total_cents}]}`
/// and the breakdown.
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
    let mut data = order.breakdown();
    data.insert("order_id".into(), json!(order.order_id));
    data.insert("currency".into(), json!(order.currency));
    data.insert("items".into(), json!(items));
    Notification::new("order_confirmed", Value::Object(data)).for_user(order.user_id)
}

/// `order_cancelled`: `{order_id, refund_cents, currency}` and the breakdown.
pub fn order_cancelled(order: Summary<'_>, refund_cents: i64) -> Notification {
    let mut data = order.breakdown();
    data.insert("order_id".into(), json!(order.order_id));
    data.insert("refund_cents".into(), json!(refund_cents));
    data.insert("currency".into(), json!(order.currency));
    Notification::new("order_cancelled", Value::Object(data)).for_user(order.user_id)
}

/// `payment_failed`: `{order_id, total_cents, currency}`.
pub fn payment_failed(order: Summary<'_>) -> Notification {
    Notification::new(
        "payment_failed",
        json!({"order_id": order.order_id, "total_cents": order.total_cents, "currency": order.currency}),
    )
    .for_user(order.user_id)
}
