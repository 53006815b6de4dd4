//! Cart rules: sellable products only, 1-99 per line, one currency, prices
//! from the catalog at every read, and the quote: the applied discount
//! code, the shipping method and the destination's tax, priced by
//! [`pricing::rules::price`] exactly as checkout charges them.

use chrono::Utc;
use std::collections::HashMap;
use uuid::Uuid;

use super::models::{
    AddItem, Cart, CartDiscount, CartItem, CartLine, CartQuery, MAX_LINES, StoredCart,
    UnavailableItem,
};
use super::repository;
use crate::catalog::CatalogProduct;
use crate::features::discounts::models::{DiscountCode, is_code};
use crate::features::discounts::repository as discounts;
use crate::features::pricing;
use crate::features::pricing::repository as pricing_repository;
use crate::features::pricing::rules::{
    self, DiscountProblem, PriceError, ShippingChoice, ShippingProblem,
};
use crate::features::pricing::totals::{Line, TotalsError};
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
    /// The quoted country is not a country code.
    #[error("must be an ISO 3166-1 alpha-2 code (two upper-case letters)")]
    Country,
    /// The quoted shipping method cannot be used.
    #[error("{0}")]
    Shipping(ShippingProblem),
    /// The code cannot be applied.
    #[error("{0}")]
    Discount(DiscountProblem),
    /// The amounts cannot be charged (too large).
    #[error("{0}")]
    Amounts(TotalsError),
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

impl From<PriceError> for CartError {
    fn from(err: PriceError) -> Self {
        match err {
            PriceError::Shipping(problem) => Self::Shipping(problem),
            PriceError::Discount(problem) => Self::Discount(problem),
            PriceError::Amounts(err) => Self::Amounts(err),
        }
    }
}

/// Prices `lines` with `products` (the catalog's current data); no
/// discount, shipping or tax yet ([`quote`] adds them).
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
    let currency = items.first().map(|i| i.currency.clone());
    Cart {
        items,
        currency,
        unavailable_items,
        ..Cart::default()
    }
}

/// Completes a priced cart with its totals: the applied code (shown with
/// why it does not apply, if it does not), the quoted method and the
/// destination's tax, all through [`rules::price`].
pub async fn quote(
    state: &AppState,
    mut cart: Cart,
    applied: Option<(DiscountCode, bool)>,
    query: &CartQuery,
) -> Result<Cart, CartError> {
    let country = query.country.as_deref();
    if country.is_some_and(|c| !pricing::is_country(c)) {
        return Err(CartError::Country);
    }
    let destination = match country {
        Some(country) => {
            pricing_repository::destination(&state.pool, country, query.shipping_method_id).await?
        }
        None => Default::default(),
    };
    let choice = ShippingChoice {
        country,
        requested: query.shipping_method_id,
        method: destination.method.as_ref(),
        any_ships: destination.any_ships,
    };
    let method = rules::shipping_method(&choice, false).map_err(CartError::Shipping)?;
    cart.country = query.country.clone();
    cart.shipping_method_id = method.map(|m| m.id);
    cart.shipping_method_required = destination.any_ships;
    let code = match &applied {
        Some((code, used)) => match rules::discount_status(code, Utc::now(), *used) {
            Ok(()) => Some(code),
            Err(problem) => {
                cart.discount = Some(CartDiscount::of(code, Some(problem.to_string())));
                None
            }
        },
        None => None,
    };
    let Some(currency) = cart.currency.clone() else {
        // Nothing to price: an empty cart costs nothing.
        if let Some(code) = code {
            cart.discount = Some(CartDiscount::of(code, None));
        }
        return Ok(cart);
    };
    let lines: Vec<Line> = cart
        .items
        .iter()
        .map(|i| Line {
            unit_price_cents: i.unit_price_cents,
            quantity: i.quantity,
        })
        .collect();
    let rate = i64::from(destination.rate_bps);
    let totals = match rules::price(&currency, &lines, code, method, rate) {
        Err(PriceError::Discount(problem)) => {
            // Shown on the cart, priced without it; checkout refuses it.
            if let Some(code) = code {
                cart.discount = Some(CartDiscount::of(code, Some(problem.to_string())));
            }
            rules::price(&currency, &lines, None, method, rate)?
        }
        other => {
            if let Some(code) = code {
                cart.discount = Some(CartDiscount::of(code, None));
            }
            other?
        }
    };
    for (item, line_total) in cart.items.iter_mut().zip(&totals.line_totals) {
        item.line_total_cents = *line_total;
    }
    cart.subtotal_cents = totals.subtotal_cents;
    cart.discount_cents = totals.discount_cents;
    cart.shipping_cents = totals.shipping_cents;
    cart.tax_cents = totals.tax_cents;
    cart.total_cents = totals.total_cents;
    Ok(cart)
}

async fn lookup(
    state: &AppState,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, CatalogProduct>, CartError> {
    Ok(state.catalog.products(ids).await?)
}

/// The user's cart, quoted for `query`'s destination and method.
pub async fn get(state: &AppState, user_id: Uuid, query: &CartQuery) -> Result<Cart, CartError> {
    let StoredCart { lines, applied } = repository::read(&state.pool, user_id).await?;
    let ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    let products = lookup(state, &ids).await?;
    quote(state, price(&lines, &products), applied, query).await
}

/// Adds units of a sellable product (one catalog call for the check and
/// the returned cart together).
pub async fn add(state: &AppState, user_id: Uuid, item: AddItem) -> Result<Cart, CartError> {
    let StoredCart { lines, applied } = repository::read(&state.pool, user_id).await?;
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
    quote(
        state,
        price(&lines, &products),
        applied,
        &CartQuery::default(),
    )
    .await
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
    get(state, user_id, &CartQuery::default()).await
}

/// Removes a line (idempotent).
pub async fn remove(state: &AppState, user_id: Uuid, product_id: Uuid) -> Result<Cart, CartError> {
    repository::remove(&state.pool, user_id, product_id).await?;
    get(state, user_id, &CartQuery::default()).await
}

/// Empties the cart (and takes its code off).
pub async fn clear(state: &AppState, user_id: Uuid) -> Result<(), CartError> {
    Ok(repository::clear(&state.pool, user_id).await?)
}

/// Applies a discount code: unknown, inactive, not yet valid, expired,
/// exhausted, already used by this customer (once-per-customer codes),
/// below its minimum subtotal or in another currency than the cart are
/// refused, naming why. Checkout checks it again.
pub async fn apply_discount(
    state: &AppState,
    user_id: Uuid,
    code: &str,
) -> Result<Cart, CartError> {
    if !is_code(code) {
        return Err(CartError::Discount(DiscountProblem::Unknown));
    }
    let found = discounts::find_for_user(&state.pool, &code.to_ascii_uppercase(), user_id).await?;
    let Some((code, used)) = found else {
        return Err(CartError::Discount(DiscountProblem::Unknown));
    };
    rules::discount_status(&code, Utc::now(), used).map_err(CartError::Discount)?;
    let lines = repository::list(&state.pool, user_id).await?;
    let ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    let products = lookup(state, &ids).await?;
    let cart = price(&lines, &products);
    let priced: Vec<Line> = cart
        .items
        .iter()
        .map(|i| Line {
            unit_price_cents: i.unit_price_cents,
            quantity: i.quantity,
        })
        .collect();
    let currency = cart.currency.clone().or_else(|| code.currency.clone());
    if let Some(currency) = currency {
        rules::price(&currency, &priced, Some(&code), None, 0)?;
    } else if let Some(minimum) = code.min_subtotal_cents.filter(|m| *m > 0) {
        return Err(CartError::Discount(DiscountProblem::BelowMinimum {
            minimum,
        }));
    }
    repository::set_discount(&state.pool, user_id, code.id).await?;
    quote(state, cart, Some((code, used)), &CartQuery::default()).await
}

/// Takes the code off the cart (idempotent).
pub async fn remove_discount(state: &AppState, user_id: Uuid) -> Result<Cart, CartError> {
    repository::clear_discount(&state.pool, user_id).await?;
    get(state, user_id, &CartQuery::default()).await
}
