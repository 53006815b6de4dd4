//! Cart SQL.

use sqlx::PgPool;
use uuid::Uuid;

use super::models::{CartLine, StoredCart};
use crate::features::discounts::models::{DiscountCode, DiscountKind};

/// The user's lines, oldest first.
#[tracing::instrument(skip_all)]
pub async fn list(pool: &PgPool, user_id: Uuid) -> sqlx::Result<Vec<CartLine>> {
    sqlx::query_as!(
        CartLine,
        "select product_id, quantity from cart_items where user_id = $1
         order by created_at, product_id",
        user_id,
    )
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
    sqlx::query_scalar!(
        "insert into cart_items (user_id, product_id, quantity) values ($1, $2, $3)
         on conflict (user_id, product_id) do update
            set quantity = cart_items.quantity + excluded.quantity, updated_at = now()
            where cart_items.quantity + excluded.quantity <= 99
         returning quantity",
        user_id,
        product_id,
        quantity,
    )
    .fetch_optional(pool)
    .await
}

/// Sets a line's quantity; false when the line does not exist.
#[tracing::instrument(skip_all)]
pub async fn set_quantity(
    pool: &PgPool,
    user_id: Uuid,
    product_id: Uuid,
    quantity: i32,
) -> sqlx::Result<bool> {
    sqlx::query!(
        "update cart_items set quantity = $3, updated_at = now()
         where user_id = $1 and product_id = $2",
        user_id,
        product_id,
        quantity,
    )
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Removes a line (no-op when absent).
#[tracing::instrument(skip_all)]
pub async fn remove(pool: &PgPool, user_id: Uuid, product_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from cart_items where user_id = $1 and product_id = $2",
        user_id,
        product_id,
    )
    .execute(pool)
    .await
    .map(|_| ())
}

/// Empties the cart, its discount code included.
#[tracing::instrument(skip_all)]
pub async fn clear(pool: &PgPool, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "with code as (delete from carts where user_id = $1)
         delete from cart_items where user_id = $1",
        user_id,
    )
    .execute(pool)
    .await
    .map(|_| ())
}

/// The user's lines (oldest first) and the code applied to the cart with
/// whether the user already holds a redemption of it: one round trip for
/// what every cart answer starts from.
#[tracing::instrument(skip_all)]
pub async fn read(pool: &PgPool, user_id: Uuid) -> sqlx::Result<StoredCart> {
    let row = sqlx::query!(
        r#"select l.product_ids as "product_ids!", l.quantities as "quantities!",
                d.discount_code_id as "id?", d.code as "code?", d.kind as "kind?: DiscountKind",
                d.value as "value?", d.currency, d.min_subtotal_cents, d.starts_at, d.ends_at,
                d.max_redemptions, d.once_per_customer as "once_per_customer?",
                d.active as "active?", d.redemptions as "redemptions?",
                d.created_at as "created_at?", d.updated_at as "updated_at?",
                exists (select 1 from discount_redemptions r
                        where r.discount_code_id = d.discount_code_id and r.user_id = $1)
                    as "used!"
         from (select coalesce(array_agg(product_id order by created_at, product_id),
                               '{}') as product_ids,
                      coalesce(array_agg(quantity order by created_at, product_id),
                               '{}') as quantities
                 from cart_items where user_id = $1) l
         left join carts c on c.user_id = $1
         left join discount_codes d on d.discount_code_id = c.discount_code_id"#,
        user_id,
    )
    .fetch_one(pool)
    .await?;
    let lines = row
        .product_ids
        .into_iter()
        .zip(row.quantities)
        .map(|(product_id, quantity)| CartLine {
            product_id,
            quantity,
        })
        .collect();
    let code = match (
        row.id,
        row.code,
        row.kind,
        row.value,
        row.once_per_customer,
        row.active,
        row.redemptions,
        row.created_at,
        row.updated_at,
    ) {
        (
            Some(id),
            Some(code),
            Some(kind),
            Some(value),
            Some(once_per_customer),
            Some(active),
            Some(redemptions),
            Some(created_at),
            Some(updated_at),
        ) => Some(DiscountCode {
            id,
            code,
            kind,
            value,
            currency: row.currency,
            min_subtotal_cents: row.min_subtotal_cents,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            max_redemptions: row.max_redemptions,
            once_per_customer,
            active,
            redemptions,
            created_at,
            updated_at,
        }),
        _ => None,
    };
    Ok(StoredCart {
        lines,
        applied: code.map(|code| (code, row.used)),
    })
}

/// Applies a code to the user's cart (replacing any other).
#[tracing::instrument(skip_all)]
pub async fn set_discount(pool: &PgPool, user_id: Uuid, code_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into carts (user_id, discount_code_id) values ($1, $2)
         on conflict (user_id) do update
            set discount_code_id = excluded.discount_code_id, updated_at = now()",
        user_id,
        code_id,
    )
    .execute(pool)
    .await
    .map(|_| ())
}

/// Takes the code off the user's cart (no-op without one).
#[tracing::instrument(skip_all)]
pub async fn clear_discount(pool: &PgPool, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("delete from carts where user_id = $1", user_id)
        .execute(pool)
        .await
        .map(|_| ())
}
