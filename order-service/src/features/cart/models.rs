//! Cart types.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::features::discounts::models::{DiscountCode, DiscountKind};

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

/// A cart as stored: its lines, oldest first, and the code applied to it
/// with whether the user already holds a redemption of it.
#[derive(Debug, Clone, Default)]
pub struct StoredCart {
    /// The lines.
    pub lines: Vec<CartLine>,
    /// The applied code.
    pub applied: Option<(DiscountCode, bool)>,
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

/// `GET /cart` query: price shipping and tax as checkout would.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CartQuery {
    /// The destination (ISO 3166-1 alpha-2): its tax rate applies.
    pub country: Option<String>,
    /// The shipping method to price (requires `country`).
    pub shipping_method_id: Option<Uuid>,
}

/// Body of `PUT /cart/discount`.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct ApplyDiscount {
    /// The code, in any case.
    #[garde(length(min = 1, max = 255))]
    pub code: String,
}

/// The discount code applied to the cart.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CartDiscount {
    /// The code (upper-case).
    pub code: String,
    /// `percent` or `fixed`.
    pub kind: DiscountKind,
    /// Percent, or minor units of `currency`.
    pub value: i64,
    /// A fixed code's currency.
    pub currency: Option<String>,
    /// Whether it applies to the cart as it is now (`discount_cents` is 0
    /// otherwise, and checkout refuses it).
    pub applicable: bool,
    /// Why it does not apply.
    pub reason: Option<String>,
}

impl CartDiscount {
    /// `code` as applied, with why it does not apply if it does not.
    pub fn of(code: &DiscountCode, reason: Option<String>) -> Self {
        Self {
            code: code.code.clone(),
            kind: code.kind,
            value: code.value,
            currency: code.currency.clone(),
            applicable: reason.is_none(),
            reason,
        }
    }
}

/// The cart as returned: its lines priced with the catalog's current
/// prices, and the totals checkout would charge for the quoted destination
/// and method (shipping and tax are 0 without them).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Cart {
    /// Sellable lines, oldest first.
    pub items: Vec<CartItem>,
    /// Sum of the line totals.
    pub subtotal_cents: i64,
    /// Taken off by the applied code (at most the subtotal).
    pub discount_cents: i64,
    /// Shipping with the quoted method (free over its threshold).
    pub shipping_cents: i64,
    /// Tax of the quoted country on `subtotal - discount + shipping`.
    pub tax_cents: i64,
    /// `subtotal - discount + shipping + tax`: what checkout charges for
    /// this destination and method.
    pub total_cents: i64,
    /// The cart's currency (`null` while it is empty).
    pub currency: Option<String>,
    /// The applied discount code, if any.
    pub discount: Option<CartDiscount>,
    /// The quoted shipping method (`?shipping_method_id=`).
    pub shipping_method_id: Option<Uuid>,
    /// The quoted destination (`?country=`).
    pub country: Option<String>,
    /// Whether checkout to `country` needs a `shipping_method_id` (an
    /// active method ships there).
    pub shipping_method_required: bool,
    /// Lines that can no longer be bought.
    pub unavailable_items: Vec<UnavailableItem>,
}
