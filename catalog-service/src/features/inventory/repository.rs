//! Inventory SQL.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::models::{Adjustment, AdjustmentCursor, Inventory};

/// The stock of a product that is not deleted.
#[tracing::instrument(skip_all)]
pub async fn find(pool: &PgPool, product_id: Uuid) -> sqlx::Result<Option<Inventory>> {
    sqlx::query_as!(
        Inventory,
        r#"select product_id, on_hand, reserved, on_hand - reserved as "available!"
         from products where product_id = $1 and deleted_at is null"#,
        product_id,
    )
    .fetch_optional(pool)
    .await
}

/// Adds `delta` to on hand; the table's checks refuse going below reserved.
#[tracing::instrument(skip_all)]
pub async fn adjust(
    conn: &mut PgConnection,
    product_id: Uuid,
    delta: i32,
) -> sqlx::Result<Option<Inventory>> {
    sqlx::query_as!(
        Inventory,
        r#"update products set on_hand = on_hand + $2
         where product_id = $1 and deleted_at is null
         returning product_id, on_hand, reserved, on_hand - reserved as "available!""#,
        product_id,
        delta,
    )
    .fetch_optional(conn)
    .await
}

/// Appends to the audit trail.
#[tracing::instrument(skip_all)]
pub async fn record(
    conn: &mut PgConnection,
    product_id: Uuid,
    delta: i32,
    reason: &str,
    actor_id: Uuid,
    on_hand_after: i32,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into inventory_adjustments
             (adjustment_id, product_id, delta, reason, actor_id, actor, on_hand_after)
         values ($1, $2, $3, $4, $5, 'admin', $6)",
        Uuid::now_v7(),
        product_id,
        delta,
        reason,
        actor_id,
        on_hand_after,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// The audit trail of a product, newest first. The cursor's absence is
/// the largest possible key rather than an `is null or`, so the generic
/// plan the service's pool uses (`lib.rs`) seeks every page in the index.
#[tracing::instrument(skip_all)]
pub async fn list_adjustments(
    pool: &PgPool,
    product_id: Uuid,
    after: Option<&AdjustmentCursor>,
    limit: i64,
) -> sqlx::Result<Vec<Adjustment>> {
    sqlx::query_as!(
        Adjustment,
        "select adjustment_id as id, product_id, delta, reason, actor_id, actor, on_hand_after, created_at
         from inventory_adjustments
         where product_id = $1
           and (created_at, adjustment_id)
               < (coalesce($2, 'infinity'::timestamptz),
                  coalesce($3, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid))
         order by created_at desc, adjustment_id desc
         limit $4",
        product_id,
        after.map(|c| c.t.get()),
        after.map(|c| c.id),
        limit,
    )
    .fetch_all(pool)
    .await
}
