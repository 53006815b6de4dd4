//! Shipping method rules: countries stored distinct and sorted, a delivery
//! range that is a range, deleted methods never offered again.

use service_kit::pagination::Page;
use uuid::Uuid;

use super::models::{NewShippingMethod, ShippingMethod, ShippingMethodPatch, normalize_countries};
use super::repository;
use crate::features::pricing;
use crate::state::AppState;

/// What can go wrong with shipping methods. `routes.rs` decides what each
/// means over HTTP.
#[derive(Debug, thiserror::Error)]
pub enum ShippingError {
    /// No such method (or a deleted one).
    #[error("no such shipping method")]
    NotFound,
    /// `max_days` below `min_days`.
    #[error("must be at least min_days")]
    DayRange,
    /// The `?country=` filter is not a country code.
    #[error("must be an ISO 3166-1 alpha-2 code (two upper-case letters)")]
    Country,
    /// Our database failed.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for ShippingError {
    fn from(err: sqlx::Error) -> Self {
        // A patch of one bound can cross the stored other one: the database
        // checks the pair.
        match &err {
            sqlx::Error::Database(db) if db.constraint() == Some(repository::DAYS_CONSTRAINT) => {
                Self::DayRange
            }
            _ => Self::Database(err),
        }
    }
}

/// Creates a method.
pub async fn create(
    state: &AppState,
    mut method: NewShippingMethod,
) -> Result<ShippingMethod, ShippingError> {
    if method.max_days < method.min_days {
        return Err(ShippingError::DayRange);
    }
    method.countries = normalize_countries(std::mem::take(&mut method.countries));
    Ok(repository::insert(&state.pool, &method).await?)
}

/// Changes a method.
pub async fn update(
    state: &AppState,
    id: Uuid,
    mut patch: ShippingMethodPatch,
) -> Result<ShippingMethod, ShippingError> {
    if let (Some(min), Some(max)) = (patch.min_days, patch.max_days)
        && max < min
    {
        return Err(ShippingError::DayRange);
    }
    patch.countries = patch.countries.take().map(normalize_countries);
    repository::update(&state.pool, id, &patch)
        .await?
        .ok_or(ShippingError::NotFound)
}

/// Deletes a method: carts quoting it are asked for another one, orders
/// keep its name.
pub async fn delete(state: &AppState, id: Uuid) -> Result<(), ShippingError> {
    if repository::delete(&state.pool, id).await? {
        Ok(())
    } else {
        Err(ShippingError::NotFound)
    }
}

/// The methods customers may choose, for `country` if given.
pub async fn list_active(
    state: &AppState,
    country: Option<&str>,
) -> Result<Vec<ShippingMethod>, ShippingError> {
    if country.is_some_and(|c| !pricing::is_country(c)) {
        return Err(ShippingError::Country);
    }
    Ok(repository::list_active(&state.pool, country).await?)
}

/// A page of every method (admin), newest first.
pub async fn list_all(
    state: &AppState,
    limit: u32,
    before: Option<Uuid>,
) -> Result<Page<ShippingMethod>, ShippingError> {
    let rows = repository::list_all(&state.pool, before, i64::from(limit) + 1).await?;
    Ok(Page::from_rows(rows, limit, |m| m.id))
}
