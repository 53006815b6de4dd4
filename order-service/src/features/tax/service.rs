//! Tax rate rules.

use super::models::TaxRate;
use super::repository;
use crate::features::pricing;
use crate::state::AppState;

/// What can go wrong with tax rates. `routes.rs` decides what each means
/// over HTTP.
#[derive(Debug, thiserror::Error)]
pub enum TaxError {
    /// The path's country is not a country code.
    #[error("must be an ISO 3166-1 alpha-2 code (two upper-case letters)")]
    Country,
    /// Our database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// Sets `country`'s rate.
pub async fn set(state: &AppState, country: &str, rate_bps: i32) -> Result<TaxRate, TaxError> {
    if !pricing::is_country(country) {
        return Err(TaxError::Country);
    }
    Ok(repository::upsert(&state.pool, country, rate_bps).await?)
}

/// Every rate.
pub async fn list(state: &AppState) -> Result<Vec<TaxRate>, TaxError> {
    Ok(repository::list(&state.pool).await?)
}
