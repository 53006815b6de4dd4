//! Cart rules: sellable products only, 1-99 per line, one currency, prices
//! from the catalog at every read.

use std::collections::HashMap;
use uuid::Uuid;

use super::models::{AddItem, Cart, CartItem, CartLine, MAX_LINES, UnavailableItem};
use super::repository;
use crate::catalog::CatalogProduct;
use crate::state::AppState;

/// What can go wrong with a cart. `routes.rs` decides what each means
/// over HTTP.
#[derive(Debug, thiserror::Error)]
pub enum CartError {
    /// The product is unknown, deleted or inactive.
    #[error("is not a sellable product (unknown, deleted or inactive)")]
    NotSellable,
    /// A new line would exceed the cart's line limit.
    #[error("a cart holds at most {MAX_LINES} different products")]
    TooManyLines,
    /// The product is priced in another currency than the cart.
    #[error("is priced in another currency than the cart")]
    OtherCurrency,
    /// The line would exceed 99 units.
    #[error("a cart line holds at most 99 units")]
    TooManyUnits,
    /// The product is not in the cart.
    #[error("this product is not in the cart")]
    NotInCart,
    /// catalog-service is down.
    #[error("catalog-service is unavailable")]
    CatalogUnavailable(#[from] crate::catalog::CatalogUnavailable),
    /// Our database failed.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for CartError {
    fn from(err: sqlx::Error) -> Self {
        // The database enforces the line limit atomically (migration 0004).
        match &err {
            sqlx::Error::Database(db)
                if db.constraint() == Some(repository::MAX_LINES_CONSTRAINT) =>
            {
                Self::TooManyLines
            }
            _ => Self::Database(err),
        }
    }
}

/// Prices `lines` with `products` (the catalog's current data).
pub fn price(lines: &[CartLine], products: &HashMap<Uuid, CatalogProduct>) -> Cart {
    let mut items = Vec::with_capacity(lines.len());
    let mut unavailable_items = Vec::new();
    for line in lines {
        match products.get(&line.product_id) {
            Some(product) => items.push(CartItem {
                product_id: line.product_id,
                name: product.name.clone(),
                unit_price_cents: product.price_cents,
                currency: product.currency.clone(),
                quantity: line.quantity,
                line_total_cents: product.price_cents.saturating_mul(i64::from(line.quantity)),
            }),
            None => unavailable_items.push(UnavailableItem {
                product_id: line.product_id,
                quantity: line.quantity,
            }),
        }
    }
    let subtotal_cents = items.iter().map(|i| i.line_total_cents).sum();
    let currency = items.first().map(|i| i.currency.clone());
    Cart {
        items,
        subtotal_cents,
        currency,
        unavailable_items,
    }
}

async fn lookup(
    state: &AppState,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, CatalogProduct>, CartError> {
    Ok(state.catalog.products(ids).await?)
}

/// The user's cart.
pub async fn get(state: &AppState, user_id: Uuid) -> Result<Cart, CartError> {
    let lines = repository::list(&state.pool, user_id).await?;
    let ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    let products = lookup(state, &ids).await?;
    Ok(price(&lines, &products))
}

/// Adds units of a sellable product (one catalog call for the check and
/// the returned cart together).
pub async fn add(state: &AppState, user_id: Uuid, item: AddItem) -> Result<Cart, CartError> {
    let lines = repository::list(&state.pool, user_id).await?;
    let is_new = !lines.iter().any(|l| l.product_id == item.product_id);
    if is_new && lines.len() >= MAX_LINES {
        return Err(CartError::TooManyLines);
    }
    let mut ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    if is_new {
        ids.push(item.product_id);
    }
    let products = lookup(state, &ids).await?;
    let Some(product) = products.get(&item.product_id) else {
        return Err(CartError::NotSellable);
    };
    let cart_currency = lines
        .iter()
        .filter(|l| l.product_id != item.product_id)
        .find_map(|l| products.get(&l.product_id).map(|p| p.currency.as_str()));
    if cart_currency.is_some_and(|c| c != product.currency) {
        return Err(CartError::OtherCurrency);
    }
    let added = repository::add(&state.pool, user_id, item.product_id, item.quantity).await?;
    let Some(quantity) = added else {
        return Err(CartError::TooManyUnits);
    };
    // The cart as read, with this request's change (no second read).
    let mut lines = lines;
    match lines.iter_mut().find(|l| l.product_id == item.product_id) {
        Some(line) => line.quantity = quantity,
        None => lines.push(CartLine {
            product_id: item.product_id,
            quantity,
        }),
    }
    Ok(price(&lines, &products))
}

/// Sets a line's quantity (404 when the product is not in the cart).
pub async fn set_quantity(
    state: &AppState,
    user_id: Uuid,
    product_id: Uuid,
    quantity: i32,
) -> Result<Cart, CartError> {
    let found = repository::set_quantity(&state.pool, user_id, product_id, quantity).await?;
    if !found {
        return Err(CartError::NotInCart);
    }
    get(state, user_id).await
}

/// Removes a line (idempotent).
pub async fn remove(state: &AppState, user_id: Uuid, product_id: Uuid) -> Result<Cart, CartError> {
    repository::remove(&state.pool, user_id, product_id).await?;
    get(state, user_id).await
}

/// Empties the cart.
pub async fn clear(state: &AppState, user_id: Uuid) -> Result<(), CartError> {
    Ok(repository::clear(&state.pool, user_id).await?)
}
