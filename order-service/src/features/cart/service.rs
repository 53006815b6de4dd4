//! Cart rules: sellable products only, 1-99 per line, one currency, prices
//! from the catalog at every read.

use service_kit::{ApiError, FieldError};
use std::collections::HashMap;
use uuid::Uuid;

use super::models::{AddItem, Cart, CartItem, CartLine, MAX_LINES, UnavailableItem};
use super::repository;
use crate::catalog::CatalogProduct;
use crate::state::AppState;

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

async fn lookup(state: &AppState, ids: &[Uuid]) -> Result<HashMap<Uuid, CatalogProduct>, ApiError> {
    state
        .catalog
        .products(ids)
        .await
        .map_err(ApiError::unavailable)
}

/// The user's cart.
pub async fn get(state: &AppState, user_id: Uuid) -> Result<Cart, ApiError> {
    let lines = repository::list(&state.pool, user_id)
        .await
        .map_err(ApiError::internal)?;
    let ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    let products = lookup(state, &ids).await?;
    Ok(price(&lines, &products))
}

/// Adds units of a sellable product (one catalog call for the check and
/// the returned cart together).
pub async fn add(state: &AppState, user_id: Uuid, item: AddItem) -> Result<Cart, ApiError> {
    let lines = repository::list(&state.pool, user_id)
        .await
        .map_err(ApiError::internal)?;
    let is_new = !lines.iter().any(|l| l.product_id == item.product_id);
    if is_new && lines.len() >= MAX_LINES {
        return Err(ApiError::invalid_field(
            "product_id",
            format!("a cart holds at most {MAX_LINES} different products"),
        ));
    }
    let mut ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    if is_new {
        ids.push(item.product_id);
    }
    let products = lookup(state, &ids).await?;
    let Some(product) = products.get(&item.product_id) else {
        return Err(ApiError::invalid_field(
            "product_id",
            "is not a sellable product (unknown, deleted or inactive)",
        ));
    };
    let cart_currency = lines
        .iter()
        .filter(|l| l.product_id != item.product_id)
        .find_map(|l| products.get(&l.product_id).map(|p| p.currency.as_str()));
    if cart_currency.is_some_and(|c| c != product.currency) {
        return Err(ApiError::invalid_field(
            "product_id",
            "is priced in another currency than the cart",
        ));
    }
    let added = repository::add(&state.pool, user_id, item.product_id, item.quantity)
        .await
        .map_err(ApiError::internal)?;
    if added.is_none() {
        return Err(ApiError::validation(vec![FieldError::new(
            "quantity",
            "a cart line holds at most 99 units",
        )]));
    }
    let lines = repository::list(&state.pool, user_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(price(&lines, &products))
}

/// Sets a line's quantity (404 when the product is not in the cart).
pub async fn set_quantity(
    state: &AppState,
    user_id: Uuid,
    product_id: Uuid,
    quantity: i32,
) -> Result<Cart, ApiError> {
    let found = repository::set_quantity(&state.pool, user_id, product_id, quantity)
        .await
        .map_err(ApiError::internal)?;
    if !found {
        return Err(ApiError::not_found("This product is not in the cart."));
    }
    get(state, user_id).await
}

/// Removes a line (idempotent).
pub async fn remove(state: &AppState, user_id: Uuid, product_id: Uuid) -> Result<Cart, ApiError> {
    repository::remove(&state.pool, user_id, product_id)
        .await
        .map_err(ApiError::internal)?;
    get(state, user_id).await
}

/// Empties the cart.
pub async fn clear(state: &AppState, user_id: Uuid) -> Result<(), ApiError> {
    let mut conn = state.pool.acquire().await.map_err(ApiError::internal)?;
    repository::clear(&mut conn, user_id)
        .await
        .map_err(ApiError::internal)
}
