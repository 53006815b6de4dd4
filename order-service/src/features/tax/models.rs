//! Tax rate types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::features::pricing::totals::MAX_RATE_BPS;

/// A country's rate.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct TaxRate {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Basis points, 0-10000 (2000 = 20%).
    pub rate_bps: i32,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

/// Body of `PUT /admin/tax-rates/{country}`.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct SetTaxRate {
    /// Basis points, 0-10000 (2000 = 20%).
    #[garde(range(min = 0, max = MAX_RATE_BPS as i32))]
    pub rate_bps: i32,
}

/// Every rate.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaxRateList {
    /// By country.
    pub items: Vec<TaxRate>,
}
