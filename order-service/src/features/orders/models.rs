//! Order types: orders as stored and returned, list queries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// The checkout saga is running (or was interrupted; the reconciler settles it).
    Pending,
    /// Paid, stock committed.
    Confirmed,
    /// The payment was declined; nothing charged, stock released.
    PaymentFailed,
    /// Cancelled (refunded and restocked).
    Cancelled,
    /// Handed to the carrier.
    Shipped,
    /// Received.
    Delivered,
}

impl OrderStatus {
    /// The database value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::PaymentFailed => "payment_failed",
            Self::Cancelled => "cancelled",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
        }
    }

    /// Parses the database value.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "pending" => Self::Pending,
            "confirmed" => Self::Confirmed,
            "payment_failed" => Self::PaymentFailed,
            "cancelled" => Self::Cancelled,
            "shipped" => Self::Shipped,
            "delivered" => Self::Delivered,
            _ => return None,
        })
    }
}

/// A shipping address.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct ShippingAddress {
    /// Recipient, 1-200 characters.
    #[garde(length(chars, min = 1, max = 200), custom(not_blank))]
    pub name: String,
    /// Street line, 1-200 characters.
    #[garde(length(chars, min = 1, max = 200), custom(not_blank))]
    pub line1: String,
    /// Second line, at most 200 characters.
    #[garde(inner(length(chars, max = 200)))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    /// City, 1-100 characters.
    #[garde(length(chars, min = 1, max = 100), custom(not_blank))]
    pub city: String,
    /// Postal code, 1-20 characters.
    #[garde(length(chars, min = 1, max = 20), custom(not_blank))]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code (`DE`).
    #[garde(custom(country_code))]
    pub country: String,
}

fn not_blank(value: &str, _ctx: &()) -> garde::Result {
    if value.trim().is_empty() {
        Err(garde::Error::new("must not be blank"))
    } else {
        Ok(())
    }
}

fn country_code(value: &str, _ctx: &()) -> garde::Result {
    if value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(garde::Error::new(
            "must be an ISO 3166-1 alpha-2 code (two upper-case letters)",
        ))
    }
}

/// A line of an order, priced at checkout with the catalog's prices.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct OrderItem {
    /// The product.
    pub product_id: Uuid,
    /// Its name at checkout.
    pub name: String,
    /// Its unit price at checkout.
    pub unit_price_cents: i64,
    /// Units.
    pub quantity: i32,
    /// `unit_price_cents * quantity`.
    pub line_total_cents: i64,
}

/// An order item with its order (batch loading).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderItemRow {
    /// The order.
    pub order_id: Uuid,
    /// The line.
    #[sqlx(flatten)]
    pub item: OrderItem,
}

/// The payment of an order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Payment {
    /// `pending`, `succeeded`, `declined` or `refunded`.
    pub status: String,
    /// `fake` or `http`.
    pub provider: String,
    /// The provider's charge id.
    pub provider_ref: Option<String>,
}

/// The discount code an order was charged with (as it was spelled then).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AppliedDiscount {
    /// The code.
    pub code: String,
}

/// The shipping method an order was charged with (its name then).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AppliedShippingMethod {
    /// The method's id.
    pub id: Uuid,
    /// Its name when the order was placed.
    pub name: String,
}

/// An order as returned.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Order {
    /// The order's id (also the stock reservation's and the charge's idempotency key).
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// Where it stands.
    pub status: OrderStatus,
    /// The lines.
    pub items: Vec<OrderItem>,
    /// Sum of the lines.
    pub subtotal_cents: i64,
    /// Taken off by the discount code (at most the subtotal).
    pub discount_cents: i64,
    /// Shipping.
    pub shipping_cents: i64,
    /// Tax on `subtotal - discount + shipping`.
    pub tax_cents: i64,
    /// The destination's rate (basis points) the tax was computed with.
    pub tax_rate_bps: i32,
    /// Amount charged: `subtotal - discount + shipping + tax`.
    pub total_cents: i64,
    /// ISO 4217.
    pub currency: String,
    /// The discount code charged with, if any.
    pub discount: Option<AppliedDiscount>,
    /// The shipping method charged with, if any (none ships to the
    /// destination: shipping was free).
    pub shipping_method: Option<AppliedShippingMethod>,
    /// Where to ship.
    pub shipping_address: ShippingAddress,
    /// The payment.
    pub payment: Payment,
    /// Refunded amount (cancelled orders).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_cents: Option<i64>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

/// An order row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    /// Id.
    pub order_id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Status.
    pub status: String,
    /// Saga step.
    pub saga_step: crate::features::checkout::SagaStep,
    /// Subtotal.
    pub subtotal_cents: i64,
    /// Discount.
    pub discount_cents: i64,
    /// Shipping.
    pub shipping_cents: i64,
    /// Tax.
    pub tax_cents: i64,
    /// The tax rate applied.
    pub tax_rate_bps: i32,
    /// Total.
    pub total_cents: i64,
    /// Currency.
    pub currency: String,
    /// Address.
    pub shipping_address: serde_json::Value,
    /// Provider name.
    pub payment_provider: String,
    /// Payment status.
    pub payment_status: String,
    /// Provider reference.
    pub payment_ref: Option<String>,
    /// Refunded amount.
    pub refund_cents: Option<i64>,
    /// The checkout's idempotency key.
    pub idempotency_key: Option<String>,
    /// Why a checkout failed (compensated orders).
    pub failure_reason: Option<String>,
    /// The applied discount code, as spelled at checkout.
    pub discount_code: Option<String>,
    /// The shipping method charged.
    pub shipping_method_id: Option<Uuid>,
    /// Its name at checkout.
    pub shipping_method_name: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

impl OrderRow {
    /// The API representation.
    pub fn into_order(self, items: Vec<OrderItem>) -> Order {
        let shipping_address =
            serde_json::from_value(self.shipping_address).unwrap_or(ShippingAddress {
                name: String::new(),
                line1: String::new(),
                line2: None,
                city: String::new(),
                postal_code: String::new(),
                country: String::new(),
            });
        Order {
            id: self.order_id,
            user_id: self.user_id,
            status: OrderStatus::parse(&self.status).unwrap_or(OrderStatus::Pending),
            items,
            subtotal_cents: self.subtotal_cents,
            discount_cents: self.discount_cents,
            shipping_cents: self.shipping_cents,
            tax_cents: self.tax_cents,
            tax_rate_bps: self.tax_rate_bps,
            total_cents: self.total_cents,
            currency: self.currency,
            discount: self.discount_code.map(|code| AppliedDiscount { code }),
            shipping_method: self
                .shipping_method_id
                .zip(self.shipping_method_name)
                .map(|(id, name)| AppliedShippingMethod { id, name }),
            shipping_address,
            payment: Payment {
                status: self.payment_status,
                provider: self.payment_provider,
                provider_ref: self.payment_ref,
            },
            refund_cents: self.refund_cents,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// `GET /orders` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
    /// Page size, 1-100 (default 20).
    pub limit: Option<u32>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// `GET /admin/orders` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminOrderQuery {
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
    /// Only this user's orders.
    pub user_id: Option<Uuid>,
    /// Page size, 1-100 (default 20).
    pub limit: Option<u32>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A page of orders.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    /// Newest first.
    pub items: Vec<Order>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Statuses an admin may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FulfilmentStatus {
    /// From `confirmed`.
    Shipped,
    /// From `shipped`.
    Delivered,
}

/// Body of `POST /admin/orders/{id}/status`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// `shipped` or `delivered`.
    pub status: FulfilmentStatus,
}
