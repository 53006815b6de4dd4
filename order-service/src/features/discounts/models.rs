//! Discount code types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::features::pricing::totals::{Discount, DiscountValue};
use crate::features::pricing::{self, MAX_AMOUNT_CENTS, present};

/// Longest code.
pub const MAX_CODE_CHARS: usize = 64;

/// How a code discounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum DiscountKind {
    /// `value` percent of the subtotal (1-100).
    Percent,
    /// `value` minor units of `currency`, at most the subtotal.
    Fixed,
}

/// A discount code as stored and returned.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct DiscountCode {
    /// Its id.
    #[sqlx(rename = "discount_code_id")]
    pub id: Uuid,
    /// The code, upper-case (customers may type it in any case).
    pub code: String,
    /// `percent` or `fixed`.
    pub kind: DiscountKind,
    /// Percent (1-100) or minor units of `currency`.
    pub value: i64,
    /// A fixed code's currency (`null` for percent codes).
    pub currency: Option<String>,
    /// The subtotal a cart must reach.
    pub min_subtotal_cents: Option<i64>,
    /// Valid from (UTC).
    pub starts_at: Option<DateTime<Utc>>,
    /// Valid until, exclusive (UTC).
    pub ends_at: Option<DateTime<Utc>>,
    /// Most orders that may hold it at once (failed and compensated
    /// checkouts give theirs back).
    pub max_redemptions: Option<i32>,
    /// One order per customer.
    pub once_per_customer: bool,
    /// Usable at all.
    pub active: bool,
    /// Orders holding it now.
    pub redemptions: i32,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

impl DiscountCode {
    /// The code's terms as the totals function takes them.
    pub fn terms(&self) -> Discount<'_> {
        Discount {
            value: match self.kind {
                DiscountKind::Percent => DiscountValue::Percent(self.value),
                DiscountKind::Fixed => DiscountValue::Fixed(self.value),
            },
            currency: self.currency.as_deref(),
            min_subtotal_cents: self.min_subtotal_cents,
        }
    }
}

/// Body of `POST /admin/discount-codes`.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewDiscountCode {
    /// 1-64 letters, digits, `_` or `-`; stored upper-case, matched
    /// case-insensitively.
    #[garde(custom(valid_code))]
    pub code: String,
    /// `percent` or `fixed`.
    #[garde(skip)]
    pub kind: DiscountKind,
    /// Percent 1-100, or 1 to 10^12 minor units for a fixed code.
    #[garde(range(min = 1, max = MAX_AMOUNT_CENTS))]
    pub value: i64,
    /// ISO 4217; required for fixed codes, absent for percent codes.
    #[garde(inner(custom(pricing::currency)))]
    #[serde(default)]
    pub currency: Option<String>,
    /// The subtotal a cart must reach (minor units of the cart's currency).
    #[garde(inner(range(min = 0, max = MAX_AMOUNT_CENTS)))]
    #[serde(default)]
    pub min_subtotal_cents: Option<i64>,
    /// Valid from.
    #[garde(skip)]
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// Valid until (exclusive), after `starts_at`.
    #[garde(skip)]
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// At least 1.
    #[garde(inner(range(min = 1)))]
    #[serde(default)]
    pub max_redemptions: Option<i32>,
    /// One order per customer (default false).
    #[garde(skip)]
    #[serde(default)]
    pub once_per_customer: bool,
    /// Usable (default true).
    #[garde(skip)]
    #[serde(default)]
    pub active: Option<bool>,
}

/// Body of `PATCH /admin/discount-codes/{id}`: the fields to change
/// (`null` clears an optional one). Orders already placed keep what they
/// were charged.
#[derive(Debug, Default, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct DiscountCodePatch {
    /// A new code (409 when taken).
    #[garde(inner(custom(valid_code)))]
    #[serde(default)]
    pub code: Option<String>,
    /// `percent` or `fixed` (with a matching `value` and `currency`).
    #[garde(skip)]
    #[serde(default)]
    pub kind: Option<DiscountKind>,
    /// Percent 1-100, or minor units.
    #[garde(inner(range(min = 1, max = MAX_AMOUNT_CENTS)))]
    #[serde(default)]
    pub value: Option<i64>,
    /// ISO 4217 (fixed codes) or `null`.
    #[garde(inner(inner(custom(pricing::currency))))]
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub currency: Option<Option<String>>,
    /// A minimum or `null`.
    #[garde(inner(inner(range(min = 0, max = MAX_AMOUNT_CENTS))))]
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub min_subtotal_cents: Option<Option<i64>>,
    /// A start or `null`.
    #[garde(skip)]
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub starts_at: Option<Option<DateTime<Utc>>>,
    /// An end or `null`.
    #[garde(skip)]
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    /// A maximum (not below the current redemptions) or `null`.
    #[garde(inner(inner(range(min = 1))))]
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>)]
    pub max_redemptions: Option<Option<i32>>,
    /// One order per customer.
    #[garde(skip)]
    #[serde(default)]
    pub once_per_customer: Option<bool>,
    /// Usable.
    #[garde(skip)]
    #[serde(default)]
    pub active: Option<bool>,
}

/// A page of codes.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiscountCodePage {
    /// Newest first.
    pub items: Vec<DiscountCode>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Whether `value` can be a code (any case; stored upper-case).
pub fn is_code(value: &str) -> bool {
    (1..=MAX_CODE_CHARS).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn valid_code(value: &str, _ctx: &()) -> garde::Result {
    if is_code(value) {
        Ok(())
    } else {
        Err(garde::Error::new(
            "must be 1-64 letters, digits, `_` or `-`",
        ))
    }
}
