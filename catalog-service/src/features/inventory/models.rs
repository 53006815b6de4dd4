//! Inventory types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use service_kit::pagination::CursorTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Largest single adjustment, either way.
pub const MAX_DELTA: i32 = 1_000_000;

/// A product's stock.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Inventory {
    /// The product.
    pub product_id: Uuid,
    /// Units in the warehouse.
    pub on_hand: i32,
    /// Units held by reservations not yet committed or released.
    pub reserved: i32,
    /// `on_hand - reserved`: what can be reserved now.
    pub available: i32,
}

/// Body of `POST /products/{id}/inventory/adjustments`.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewAdjustment {
    /// Units added (positive) or removed (negative); never 0, at most 1,000,000 either way.
    #[garde(range(min = -MAX_DELTA, max = MAX_DELTA), custom(non_zero))]
    pub delta: i32,
    /// Why (kept in the audit trail), 1-500 characters.
    #[garde(length(chars, min = 1, max = 500), custom(not_blank))]
    pub reason: String,
}

/// One entry of the audit trail.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Adjustment {
    /// The entry's id.
    #[sqlx(rename = "adjustment_id")]
    pub id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// Units added or removed.
    pub delta: i32,
    /// Why.
    pub reason: String,
    /// The admin who made it; `null` for a service (restock).
    pub actor_id: Option<Uuid>,
    /// `admin`, or the service's client id.
    pub actor: String,
    /// Units on hand right after.
    pub on_hand_after: i32,
    /// When (UTC).
    pub created_at: DateTime<Utc>,
}

/// Keyset position of the newest-first audit trail.
#[derive(Debug, Serialize, Deserialize)]
pub struct AdjustmentCursor {
    /// `created_at` of the last entry of the previous page.
    pub t: CursorTime,
    /// Its id.
    pub id: Uuid,
}

fn non_zero(delta: &i32, _ctx: &()) -> garde::Result {
    if *delta == 0 {
        Err(garde::Error::new("must not be 0"))
    } else {
        Ok(())
    }
}

fn not_blank(text: &str, _ctx: &()) -> garde::Result {
    if text.trim().is_empty() {
        Err(garde::Error::new("must not be blank"))
    } else {
        Ok(())
    }
}
