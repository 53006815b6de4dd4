//! Cart SQL.

use sqlx::{PgConnection, PgPool};
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

/// Adds `quantity` to the line (creating it); `None` when the line would
/// exceed 99 units.
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

/// Empties the cart (inside the caller's transaction, e.g. the checkout's
/// confirmation).
#[tracing::instrument(skip_all)]
/// Takes what an order bought out of the cart: a line ordered in full goes,
/// a line raised while the checkout ran keeps the difference, and a line
/// added meanwhile stays.
#[tracing::instrument(skip_all)]
pub async fn remove_ordered(
    conn: &mut PgConnection,
    user_id: Uuid,
    product_ids: &[Uuid],
    quantities: &[i32],
) -> sqlx::Result<()> {
    sqlx::query(
        "with ordered as (
             select * from unnest($2::uuid[], $3::int[]) as o(product_id, quantity)
         ), gone as (
             delete from cart_items c using ordered o
             where c.user_id = $1 and c.product_id = o.product_id and c.quantity <= o.quantity
         )
         update cart_items c set quantity = c.quantity - o.quantity, updated_at = now()
         from ordered o
         where c.user_id = $1 and c.product_id = o.product_id and c.quantity > o.quantity",
    )
    .bind(user_id)
    .bind(product_ids)
    .bind(quantities)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn clear(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("delete from cart_items where user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ())
}
