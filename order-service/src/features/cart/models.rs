//! Cart types.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Largest quantity of one line.
pub const MAX_QUANTITY: i32 = 99;
/// Most lines in one cart (catalog reserves at most 100 lines at once).
pub const MAX_LINES: usize = 100;

/// Body of `POST /cart/items`.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    /// An active catalog product.
    #[garde(skip)]
    pub product_id: Uuid,
    /// Units to add to the line, 1-99 (the line may hold at most 99).
    #[garde(range(min = 1, max = MAX_QUANTITY))]
    pub quantity: i32,
}

/// Body of `PATCH /cart/items/{product_id}`.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct SetQuantity {
    /// The line's new quantity, 1-99.
    #[garde(range(min = 1, max = MAX_QUANTITY))]
    pub quantity: i32,
}

/// A stored cart line.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CartLine {
    /// The product.
    pub product_id: Uuid,
    /// Units.
    pub quantity: i32,
}

/// A cart line priced with the catalog's current data.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CartItem {
    /// The product.
    pub product_id: Uuid,
    /// Its current name.
    pub name: String,
    /// Its current unit price (minor units).
    pub unit_price_cents: i64,
    /// ISO 4217.
    pub currency: String,
    /// Units.
    pub quantity: i32,
    /// `unit_price_cents * quantity`.
    pub line_total_cents: i64,
}

/// A line whose product is no longer sellable (deleted or inactive): kept
/// so the user sees it, excluded from the subtotal; checkout refuses it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UnavailableItem {
    /// The product.
    pub product_id: Uuid,
    /// Units.
    pub quantity: i32,
}

/// The cart as returned.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Cart {
    /// Sellable lines, oldest first.
    pub items: Vec<CartItem>,
    /// Sum of the line totals.
    pub subtotal_cents: i64,
    /// The cart's currency (`null` while it is empty).
    pub currency: Option<String>,
    /// Lines that can no longer be bought.
    pub unavailable_items: Vec<UnavailableItem>,
}
