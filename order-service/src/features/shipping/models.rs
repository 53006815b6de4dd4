//! Shipping method types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::features::pricing::{self, MAX_AMOUNT_CENTS, present};

/// Longest delivery estimate, in days.
pub const MAX_DAYS: i32 = 365;
/// Most countries one method ships to.
pub const MAX_COUNTRIES: usize = 250;
/// Most methods the public listing returns (cheapest first).
pub const PUBLIC_LIST_LIMIT: i64 = 100;

/// A shipping method as stored and returned.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct ShippingMethod {
    /// Its id.
    #[sqlx(rename = "shipping_method_id")]
    pub id: Uuid,
    /// Shown to customers (`Standard`, `Express`).
    pub name: String,
    /// Flat price per order (minor units of `currency`).
    pub price_cents: i64,
    /// ISO 4217; only carts in this currency can use the method.
    pub currency: String,
    /// Shipping is free when the discounted subtotal reaches this.
    pub free_over_cents: Option<i64>,
    /// Fewest days to deliver.
    pub min_days: i32,
    /// Most days to deliver.
    pub max_days: i32,
    /// ISO 3166-1 alpha-2 codes it ships to, sorted.
    pub countries: Vec<String>,
    /// Offered to customers (inactive methods are kept but not offered).
    pub active: bool,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

impl ShippingMethod {
    /// Whether it ships to `country`.
    pub fn ships_to(&self, country: &str) -> bool {
        self.countries.iter().any(|c| c == country)
    }
}

/// Body of `POST /admin/shipping-methods`.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewShippingMethod {
    /// 1-100 characters.
    #[garde(length(chars, min = 1, max = 100), custom(pricing::not_blank))]
    pub name: String,
    /// 0 to 10^12 minor units.
    #[garde(range(min = 0, max = MAX_AMOUNT_CENTS))]
    pub price_cents: i64,
    /// ISO 4217.
    #[garde(custom(pricing::currency))]
    pub currency: String,
    /// Optional free-shipping threshold on the discounted subtotal.
    #[garde(inner(range(min = 0, max = MAX_AMOUNT_CENTS)))]
    #[serde(default)]
    pub free_over_cents: Option<i64>,
    /// 0-365.
    #[garde(range(min = 0, max = MAX_DAYS))]
    pub min_days: i32,
    /// 0-365, at least `min_days`.
    #[garde(range(min = 0, max = MAX_DAYS))]
    pub max_days: i32,
    /// 1-250 ISO 3166-1 alpha-2 codes (duplicates are merged).
    #[garde(length(min = 1, max = MAX_COUNTRIES), inner(custom(pricing::country)))]
    pub countries: Vec<String>,
    /// Offered to customers (default true).
    #[garde(skip)]
    #[serde(default)]
    pub active: Option<bool>,
}

/// Body of `PATCH /admin/shipping-methods/{id}`: the fields to change
/// (`free_over_cents: null` removes the threshold).
#[derive(Debug, Default, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct ShippingMethodPatch {
    /// 1-100 characters.
    #[garde(inner(length(chars, min = 1, max = 100), custom(pricing::not_blank)))]
    #[serde(default)]
    pub name: Option<String>,
    /// 0 to 10^12 minor units.
    #[garde(inner(range(min = 0, max = MAX_AMOUNT_CENTS)))]
    #[serde(default)]
    pub price_cents: Option<i64>,
    /// ISO 4217.
    #[garde(inner(custom(pricing::currency)))]
    #[serde(default)]
    pub currency: Option<String>,
    /// A threshold, or `null` for none.
    #[garde(inner(inner(range(min = 0, max = MAX_AMOUNT_CENTS))))]
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub free_over_cents: Option<Option<i64>>,
    /// 0-365.
    #[garde(inner(range(min = 0, max = MAX_DAYS)))]
    #[serde(default)]
    pub min_days: Option<i32>,
    /// 0-365, at least `min_days`.
    #[garde(inner(range(min = 0, max = MAX_DAYS)))]
    #[serde(default)]
    pub max_days: Option<i32>,
    /// 1-250 ISO 3166-1 alpha-2 codes (replaces the list).
    #[garde(inner(length(min = 1, max = MAX_COUNTRIES), inner(custom(pricing::country))))]
    #[serde(default)]
    pub countries: Option<Vec<String>>,
    /// Offered to customers.
    #[garde(skip)]
    #[serde(default)]
    pub active: Option<bool>,
}

/// `GET /shipping-methods` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MethodQuery {
    /// Only methods that ship to this ISO 3166-1 alpha-2 country.
    pub country: Option<String>,
}

/// The public listing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MethodList {
    /// Active methods, cheapest first (at most 100).
    pub items: Vec<ShippingMethod>,
}

/// A page of the admin listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct MethodPage {
    /// Newest first.
    pub items: Vec<ShippingMethod>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Country codes as stored: distinct and sorted.
pub fn normalize_countries(mut countries: Vec<String>) -> Vec<String> {
    countries.sort_unstable();
    countries.dedup();
    countries
}

#[cfg(test)]
mod tests {
    use super::*;
    use garde::Validate;

    #[test]
    fn countries_are_stored_distinct_and_sorted() {
        let countries = ["FR", "DE", "FR"].map(String::from).to_vec();
        assert_eq!(normalize_countries(countries), vec!["DE", "FR"]);
    }

    #[test]
    fn a_new_method_is_validated_field_by_field() {
        let method: NewShippingMethod = serde_json::from_value(serde_json::json!({
            "name": " ", "price_cents": -1, "currency": "eur", "min_days": 0, "max_days": 400,
            "countries": ["de"]
        }))
        .unwrap();
        let report = method.validate().unwrap_err().to_string();
        for field in [
            "name",
            "price_cents",
            "currency",
            "max_days",
            "countries[0]",
        ] {
            assert!(report.contains(field), "{field} in {report}");
        }
    }
}
