//! Reservation types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use service_kit::FieldError;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// Most lines in one reservation or restock.
pub const MAX_ITEMS: usize = 100;
/// Largest quantity of one line.
pub const MAX_QUANTITY: i32 = 10_000;

/// One requested line: a product and a quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    /// The product.
    #[garde(skip)]
    pub product_id: Uuid,
    /// Units, 1-10,000.
    #[garde(range(min = 1, max = MAX_QUANTITY))]
    pub quantity: i32,
}

/// Body of `POST /internal/v1/reservations`.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewReservation {
    /// Chosen by the caller; repeating a request with the same id replays it.
    #[garde(skip)]
    pub reservation_id: Uuid,
    /// 1-100 lines, each product at most once.
    #[garde(length(min = 1, max = MAX_ITEMS), dive, custom(distinct_products))]
    pub items: Vec<ItemRequest>,
    /// Seconds until the stock returns by itself unless committed (default from the settings).
    #[garde(inner(range(min = 1)))]
    #[serde(default)]
    pub ttl_seconds: Option<u32>,
}

/// Body of `POST /internal/v1/restock`.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewRestock {
    /// The cancelled order (or other reference); repeating it restocks once.
    #[garde(skip)]
    pub reference_id: Uuid,
    /// 1-100 lines, each product at most once.
    #[garde(length(min = 1, max = MAX_ITEMS), dive, custom(distinct_products))]
    pub items: Vec<ItemRequest>,
}

fn distinct_products(items: &[ItemRequest], _ctx: &()) -> garde::Result {
    let mut seen = std::collections::HashSet::new();
    if items.iter().all(|item| seen.insert(item.product_id)) {
        Ok(())
    } else {
        Err(garde::Error::new("must name each product at most once"))
    }
}

/// Where a reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ReservationStatus {
    /// Stock held until `expires_at`.
    Active,
    /// Stock left on hand for good.
    Committed,
    /// Stock returned by a release call.
    Released,
    /// Stock returned by the sweeper after `expires_at`.
    Expired,
}

/// A reserved line with the authoritative price and name.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ReservedItem {
    /// The product.
    pub product_id: Uuid,
    /// Units held.
    pub quantity: i32,
    /// Unit price at reservation time, in minor units of `currency`.
    pub unit_price_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Product name at reservation time.
    pub name: String,
}

/// A reservation header row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReservationRow {
    /// Its id.
    pub reservation_id: Uuid,
    /// Where it stands.
    pub status: ReservationStatus,
    /// When the sweeper releases it unless committed.
    pub expires_at: DateTime<Utc>,
}

/// A reservation as returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reservation {
    /// Its id.
    pub reservation_id: Uuid,
    /// `active`, `committed`, `released` or `expired`.
    pub status: ReservationStatus,
    /// When the stock returns by itself unless committed.
    pub expires_at: DateTime<Utc>,
    /// The lines, by product id.
    pub items: Vec<ReservedItem>,
}

impl Reservation {
    /// Whether the reservation holds exactly the requested lines.
    pub fn same_items(&self, requested: &[ItemRequest]) -> bool {
        let held: BTreeMap<Uuid, i32> = self
            .items
            .iter()
            .map(|i| (i.product_id, i.quantity))
            .collect();
        same_lines(&held, requested)
    }
}

/// Whether `held` (product -> quantity) is exactly `requested`.
pub fn same_lines(held: &BTreeMap<Uuid, i32>, requested: &[ItemRequest]) -> bool {
    let requested: BTreeMap<Uuid, i32> = requested
        .iter()
        .map(|i| (i.product_id, i.quantity))
        .collect();
    *held == requested
}

/// A product row locked for a stock change.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StockRow {
    /// The product.
    pub product_id: Uuid,
    /// Current name.
    pub name: String,
    /// Current price.
    pub price_cents: i64,
    /// Its currency.
    pub currency: String,
    /// Listed and sellable.
    pub active: bool,
    /// `on_hand - reserved`.
    pub available: i32,
}

/// Why a line cannot be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShortReason {
    /// Fewer units available than requested.
    InsufficientStock,
    /// No such product, or deleted or inactive: not sellable.
    NotSellable,
}

/// A line that cannot be reserved, in a 409.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShortItem {
    /// The product.
    pub product_id: Uuid,
    /// Units requested.
    pub requested: i32,
    /// Units available now (0 when not sellable).
    pub available: i32,
    /// Why.
    pub reason: ShortReason,
    /// Index of the line in the request.
    #[serde(skip)]
    pub line: usize,
}

impl ShortItem {
    /// The line as a field error (`items[2].quantity`).
    pub fn field_error(&self) -> FieldError {
        match self.reason {
            ShortReason::InsufficientStock => FieldError::new(
                format!("items[{}].quantity", self.line),
                format!("{} requested, {} available", self.requested, self.available),
            ),
            ShortReason::NotSellable => FieldError::new(
                format!("items[{}].product_id", self.line),
                "is not a sellable product",
            ),
        }
    }
}

/// A restock as returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Restock {
    /// The reference it was made for.
    pub reference_id: Uuid,
    /// The lines put back on hand.
    pub items: Vec<ItemRequest>,
}
