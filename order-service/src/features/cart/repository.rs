//! Cart SQL.

use sqlx::PgPool;
use uuid::Uuid;

use super::models::CartLine;

/// The user's lines, oldest first.
#[tracing::instrument(skip_all)]
pub async fn list(pool: &PgPool, user_id: Uuid) -> sqlx::Result<Vec<CartLine>> {
    sqlx::query_as(
        "select product_id, quantity from cart_items where user_id = $1
         order by created_at, product_id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}

/// The trigger that keeps a cart at 100 lines at most (migration 0004).
pub const MAX_LINES_CONSTRAINT: &str = "cart_items_max_lines";

/// Adds `quantity` to the line (creating it); `None` when the line would
/// exceed 99 units. A new line beyond the 100th fails with
/// [`MAX_LINES_CONSTRAINT`], atomically even under concurrent adds.
#[tracing::instrument(skip_all)]
pub async fn add(
    pool: &PgPool,
    user_id: Uuid,
    product_id: Uuid,
    quantity: i32,
) -> sqlx::Result<Option<i32>> {
    let row: Option<(i32,)> = sqlx::query_as(
        "insert into cart_items (user_id, product_id, quantity) values ($1, $2, $3)
         on conflict (user_id, product_id) do update
            set quantity = cart_items.quantity + excluded.quantity, updated_at = now()
            where cart_items.quantity + excluded.quantity <= 99
         returning quantity",
    )
    .bind(user_id)
    .bind(product_id)
    .bind(quantity)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(q,)| q))
}

/// Sets a line's quantity; false when the line does not exist.
#[tracing::instrument(skip_all)]
pub async fn set_quantity(
    pool: &PgPool,
    user_id: Uuid,
    product_id: Uuid,
    quantity: i32,
) -> sqlx::Result<bool> {
    sqlx::query(
        "update cart_items set quantity = $3, updated_at = now()
         where user_id = $1 and product_id = $2",
    )
    .bind(user_id)
    .bind(product_id)
    .bind(quantity)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Removes a line (no-op when absent).
#[tracing::instrument(skip_all)]
pub async fn remove(pool: &PgPool, user_id: Uuid, product_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("delete from cart_items where user_id = $1 and product_id = $2")
        .bind(user_id)
        .bind(product_id)
        .execute(pool)
        .await
        .map(|_| ())
}

/// Empties the cart.
#[tracing::instrument(skip_all)]
pub async fn clear(pool: &PgPool, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("delete from cart_items where user_id = $1")
        .bind(user_id)
        .execute(pool)
        .await
        .map(|_| ())
}
