//! Discount code rules for admins: upper-case codes, a value that fits the
//! kind, a currency exactly for fixed codes, a window that is a window.
//! (Whether a code applies to a cart is `pricing::rules`.)

use service_kit::pagination::Page;
use uuid::Uuid;

use super::models::{DiscountCode, DiscountCodePatch, DiscountKind, NewDiscountCode};
use super::repository;
use crate::state::AppState;

/// What can go wrong with discount codes. `routes.rs` decides what each
/// means over HTTP.
#[derive(Debug, thiserror::Error)]
pub enum DiscountError {
    /// No such code.
    #[error("no such discount code")]
    NotFound,
    /// The code is taken.
    #[error("this code exists already")]
    Duplicate,
    /// A field does not fit the others (`field`, why).
    #[error("{message}")]
    Invalid {
        /// The field to name.
        field: &'static str,
        /// Why.
        message: &'static str,
    },
    /// Our database failed.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

const PERCENT_RANGE: &str = "a percent code takes 1-100";
const FIXED_CURRENCY: &str = "a fixed code needs a currency, a percent code has none";
const WINDOW: &str = "must be after starts_at";
const BELOW_REDEMPTIONS: &str = "is below the redemptions already made";

impl From<sqlx::Error> for DiscountError {
    fn from(err: sqlx::Error) -> Self {
        let invalid = |field, message| Self::Invalid { field, message };
        match &err {
            sqlx::Error::Database(db) => match db.constraint() {
                Some(repository::CODE_KEY) => Self::Duplicate,
                Some(repository::VALUE_CHECK) => invalid(
                    "value",
                    "does not fit the kind and currency (percent: 1-100 and no currency; fixed: a currency)",
                ),
                Some(repository::WINDOW_CHECK) => invalid("ends_at", WINDOW),
                Some(repository::MAX_REDEMPTIONS_CHECK) => {
                    invalid("max_redemptions", BELOW_REDEMPTIONS)
                }
                _ => Self::Database(err),
            },
            _ => Self::Database(err),
        }
    }
}

/// Creates a code.
pub async fn create(
    state: &AppState,
    mut code: NewDiscountCode,
) -> Result<DiscountCode, DiscountError> {
    let invalid = |field, message| Err(DiscountError::Invalid { field, message });
    match code.kind {
        DiscountKind::Percent if code.value > 100 => return invalid("value", PERCENT_RANGE),
        DiscountKind::Percent if code.currency.is_some() => {
            return invalid("currency", FIXED_CURRENCY);
        }
        DiscountKind::Fixed if code.currency.is_none() => {
            return invalid("currency", FIXED_CURRENCY);
        }
        _ => {}
    }
    if let (Some(starts), Some(ends)) = (code.starts_at, code.ends_at)
        && ends <= starts
    {
        return invalid("ends_at", WINDOW);
    }
    code.code = code.code.to_ascii_uppercase();
    Ok(repository::insert(&state.pool, &code).await?)
}

/// Changes a code.
pub async fn update(
    state: &AppState,
    id: Uuid,
    mut patch: DiscountCodePatch,
) -> Result<DiscountCode, DiscountError> {
    patch.code = patch.code.map(|c| c.to_ascii_uppercase());
    repository::update(&state.pool, id, &patch)
        .await?
        .ok_or(DiscountError::NotFound)
}

/// A page of codes, newest first.
pub async fn list(
    state: &AppState,
    limit: u32,
    before: Option<Uuid>,
) -> Result<Page<DiscountCode>, DiscountError> {
    let rows = repository::list(&state.pool, before, i64::from(limit) + 1).await?;
    Ok(Page::from_rows(rows, limit, |c| c.id))
}
