//! Order SQL. Every saga step is a conditional update on the step it
//! expects, so the saga and the reconciler never both move one order.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::models::{OrderItem, OrderItemRow, OrderRow};

/// The columns of an [`OrderRow`], as a literal for `concat!`.
macro_rules! columns {
    () => {
        "order_id, user_id, status, saga_step, subtotal_cents, total_cents, currency, \
         shipping_address, payment_provider, payment_status, payment_ref, refund_cents, \
         idempotency_key, failure_reason, created_at, updated_at"
    };
}

/// A new `pending` order at step `reserving` (no lines yet).
#[tracing::instrument(skip_all)]
pub async fn insert_pending(
    pool: &PgPool,
    order_id: Uuid,
    user_id: Uuid,
    shipping_address: &serde_json::Value,
    provider: &str,
    idempotency_key: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into orders (order_id, user_id, shipping_address, payment_provider, idempotency_key)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(order_id)
    .bind(user_id)
    .bind(shipping_address)
    .bind(provider)
    .bind(idempotency_key)
    .execute(pool)
    .await
    .map(|_| ())
}

/// Records the reserved lines with the catalog's prices and moves
/// `reserving` -> `reserved`; false when the order is no longer there.
#[tracing::instrument(skip_all)]
pub async fn record_reservation(
    conn: &mut PgConnection,
    order_id: Uuid,
    items: &[OrderItem],
    currency: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<bool> {
    let subtotal: i64 = items.iter().map(|i| i.line_total_cents).sum();
    let moved = sqlx::query(
        "update orders set saga_step = 'reserved', subtotal_cents = $2, total_cents = $2,
                currency = $3, reservation_expires_at = $4, updated_at = now()
         where order_id = $1 and status = 'pending' and saga_step = 'reserving'",
    )
    .bind(order_id)
    .bind(subtotal)
    .bind(currency)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !moved {
        return Ok(false);
    }
    let product_ids: Vec<Uuid> = items.iter().map(|i| i.product_id).collect();
    let names: Vec<String> = items.iter().map(|i| i.name.clone()).collect();
    let prices: Vec<i64> = items.iter().map(|i| i.unit_price_cents).collect();
    let quantities: Vec<i32> = items.iter().map(|i| i.quantity).collect();
    sqlx::query(
        "insert into order_items (order_id, product_id, name, unit_price_cents, quantity, line_total_cents)
         select $1, p, n, u, q, u * q
         from unnest($2::uuid[], $3::text[], $4::bigint[], $5::int[]) as t(p, n, u, q)",
    )
    .bind(order_id)
    .bind(&product_ids)
    .bind(&names)
    .bind(&prices)
    .bind(&quantities)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Moves a pending order from step `from` to `to`; false when it is not there.
#[tracing::instrument(skip_all)]
pub async fn move_step(pool: &PgPool, order_id: Uuid, from: &str, to: &str) -> sqlx::Result<bool> {
    sqlx::query(
        "update orders set saga_step = $3, updated_at = now()
         where order_id = $1 and status = 'pending' and saga_step = $2",
    )
    .bind(order_id)
    .bind(from)
    .bind(to)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Records a successful charge: `charging` -> `charged`.
#[tracing::instrument(skip_all)]
pub async fn record_charge(
    pool: &PgPool,
    order_id: Uuid,
    provider_ref: &str,
) -> sqlx::Result<bool> {
    sqlx::query(
        "update orders set saga_step = 'charged', payment_status = 'succeeded',
                payment_ref = $2, updated_at = now()
         where order_id = $1 and status = 'pending' and saga_step = 'charging'",
    )
    .bind(order_id)
    .bind(provider_ref)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// `charged` -> `confirmed` (inside the confirmation transaction).
#[tracing::instrument(skip_all)]
pub async fn confirm(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as(concat!(
        "update orders set status = 'confirmed', saga_step = 'completed', updated_at = now()
         where order_id = $1 and status = 'pending' and saga_step = 'charged'
         returning ",
        columns!(),
        ""
    ))
    .bind(order_id)
    .fetch_optional(conn)
    .await
}

/// A declined payment: `payment_failed` (inside a transaction with its event).
#[tracing::instrument(skip_all)]
pub async fn mark_payment_failed(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as(concat!(
        "update orders set status = 'payment_failed', saga_step = 'failed',
                payment_status = 'declined', failure_reason = 'payment_declined', updated_at = now()
         where order_id = $1 and status = 'pending'
         returning ",
        columns!(),
        ""
    ))
    .bind(order_id)
    .fetch_optional(conn)
    .await
}

/// A compensated checkout that had charged: `cancelled`, refunded.
#[tracing::instrument(skip_all)]
pub async fn mark_compensated(
    pool: &PgPool,
    order_id: Uuid,
    refunded: bool,
    reason: &str,
) -> sqlx::Result<bool> {
    sqlx::query(
        "update orders set status = 'cancelled', saga_step = 'failed', failure_reason = $3,
                payment_status = case when $2 then 'refunded' else payment_status end,
                refund_cents = case when $2 then total_cents else refund_cents end,
                updated_at = now()
         where order_id = $1 and status = 'pending'",
    )
    .bind(order_id)
    .bind(refunded)
    .bind(reason)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Deletes a pending order that never charged (nothing happened).
#[tracing::instrument(skip_all)]
pub async fn delete_pending(pool: &PgPool, order_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query("delete from orders where order_id = $1 and status = 'pending'")
        .bind(order_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1)
}

/// One order, optionally only if it belongs to `user_id`.
#[tracing::instrument(skip_all)]
pub async fn find(
    pool: &PgPool,
    order_id: Uuid,
    user_id: Option<Uuid>,
) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from orders where order_id = $1 and ($2::uuid is null or user_id = $2)"
    ))
    .bind(order_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await
}

/// One order, locked for a status change.
#[tracing::instrument(skip_all)]
pub async fn lock(
    conn: &mut PgConnection,
    order_id: Uuid,
    user_id: Option<Uuid>,
) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from orders where order_id = $1 and ($2::uuid is null or user_id = $2)
         for update"
    ))
    .bind(order_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await
}

/// Sets a locked order's status (cancel with refund, or fulfilment).
#[tracing::instrument(skip_all)]
pub async fn set_status(
    conn: &mut PgConnection,
    order_id: Uuid,
    status: &str,
    refund_cents: Option<i64>,
) -> sqlx::Result<OrderRow> {
    sqlx::query_as(concat!(
        "update orders set status = $2,
                refund_cents = coalesce($3, refund_cents),
                payment_status = case when $3 is not null then 'refunded' else payment_status end,
                updated_at = now()
         where order_id = $1
         returning ",
        columns!(),
        ""
    ))
    .bind(order_id)
    .bind(status)
    .bind(refund_cents)
    .fetch_one(conn)
    .await
}

/// The lines of `order_ids`.
#[tracing::instrument(skip_all)]
pub async fn items(pool: &PgPool, order_ids: &[Uuid]) -> sqlx::Result<Vec<OrderItemRow>> {
    sqlx::query_as(
        "select order_id, product_id, name, unit_price_cents, quantity, line_total_cents
         from order_items where order_id = any($1) order by order_id, product_id",
    )
    .bind(order_ids)
    .fetch_all(pool)
    .await
}

/// A page of orders, newest first (ids are UUIDv7: their order is creation order).
#[tracing::instrument(skip_all)]
pub async fn list(
    pool: &PgPool,
    user_id: Option<Uuid>,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<OrderRow>> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from orders
         where ($1::uuid is null or user_id = $1)
           and ($2::text is null or status = $2)
           and ($3::uuid is null or order_id < $3)
         order by order_id desc limit $4"
    ))
    .bind(user_id)
    .bind(status)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The newest order checked out with the user's idempotency key.
#[tracing::instrument(skip_all)]
pub async fn find_by_key(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from orders where user_id = $1 and idempotency_key = $2
         order by order_id desc limit 1"
    ))
    .bind(user_id)
    .bind(key)
    .fetch_optional(pool)
    .await
}

/// Claims up to `limit` pending orders untouched for `stale_secs` (bumping
/// `updated_at`, a lease: other replicas skip them meanwhile).
#[tracing::instrument(skip_all)]
pub async fn claim_stale(
    pool: &PgPool,
    stale_secs: i64,
    limit: i64,
) -> sqlx::Result<Vec<OrderRow>> {
    sqlx::query_as(concat!(
        "update orders set updated_at = now()
         where order_id in (
             select order_id from orders
             where status = 'pending' and updated_at <= now() - make_interval(secs => $1)
             order by updated_at limit $2
             for update skip locked)
         returning ",
        columns!(),
        ""
    ))
    .bind(stale_secs as f64)
    .bind(limit)
    .fetch_all(pool)
    .await
}
