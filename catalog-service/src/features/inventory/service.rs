//! Inventory rules: on hand never below reserved; every adjustment audited.
//! Stock is always read from the database.

use service_kit::pagination::Page;
use sqlx::PgPool;
use uuid::Uuid;

use super::models::{Adjustment, AdjustmentCursor, Inventory, NewAdjustment};
use super::repository;
use crate::cache::Caches;
use crate::features::violated_constraint;

/// What can go wrong with inventory.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// No such product (or it was deleted).
    #[error("product not found")]
    NotFound,
    /// The adjustment would take on hand below the reserved units (or 0).
    #[error("on_hand cannot go below the reserved units")]
    BelowReserved,
    /// The adjustment would exceed the largest storable stock.
    #[error("on_hand would exceed the largest storable stock")]
    Overflow,
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// A product's stock.
pub async fn get(pool: &PgPool, product_id: Uuid) -> Result<Inventory, InventoryError> {
    repository::find(pool, product_id)
        .await?
        .ok_or(InventoryError::NotFound)
}

/// Adjusts on hand by `delta` and records who did it and why, atomically.
pub async fn adjust(
    pool: &PgPool,
    caches: &Caches,
    product_id: Uuid,
    adjustment: NewAdjustment,
    actor_id: Uuid,
) -> Result<Inventory, InventoryError> {
    let mut tx = pool.begin().await?;
    let inventory = repository::adjust(&mut tx, product_id, adjustment.delta)
        .await
        .map_err(|err| match violated_constraint(&err) {
            Some("products_stock_check" | "products_on_hand_check") => {
                InventoryError::BelowReserved
            }
            // 22003: numeric_value_out_of_range.
            _ if matches!(&err, sqlx::Error::Database(db) if db.code().as_deref() == Some("22003")) => {
                InventoryError::Overflow
            }
            _ => InventoryError::Database(err),
        })?
        .ok_or(InventoryError::NotFound)?;
    repository::record(
        &mut tx,
        product_id,
        adjustment.delta,
        &adjustment.reason,
        actor_id,
        inventory.on_hand,
    )
    .await?;
    tx.commit().await?;
    // `available` is part of the product's representation.
    caches.invalidate_products([product_id]).await;
    Ok(inventory)
}

/// A page of a product's audit trail, newest first.
pub async fn adjustments(
    pool: &PgPool,
    product_id: Uuid,
    after: Option<AdjustmentCursor>,
    limit: u32,
) -> Result<Page<Adjustment>, InventoryError> {
    repository::find(pool, product_id)
        .await?
        .ok_or(InventoryError::NotFound)?;
    let rows = repository::list_adjustments(pool, product_id, after.as_ref(), i64::from(limit) + 1)
        .await?;
    Ok(Page::from_rows(rows, limit, |a| AdjustmentCursor {
        t: a.created_at.into(),
        id: a.id,
    }))
}
