//! Checkout SQL. Every saga move is a conditional update from the step it
//! expects, so the saga and the reconciler never both move one order; on
//! the happy path each step is one statement (one round trip).

use service_kit::outbox::OutboxRow;
use sqlx::PgPool;
use uuid::Uuid;

use super::models::SagaStep;
use crate::catalog::StockLine;
use crate::features::orders::models::{OrderItem, OrderRow};

/// The columns of an [`OrderRow`], as a literal for `concat!`.
macro_rules! columns {
    () => {
        "order_id, user_id, status, saga_step, subtotal_cents, total_cents, currency, \
         shipping_address, payment_provider, payment_status, payment_ref, refund_cents, \
         idempotency_key, failure_reason, created_at, updated_at"
    };
}

/// What a new order is opened with.
pub struct NewOrder<'a> {
    /// Its id (also the reservation id and the charge's idempotency key).
    pub order_id: Uuid,
    /// The customer.
    pub user_id: Uuid,
    /// Where to ship (JSON).
    pub shipping_address: &'a serde_json::Value,
    /// The payment provider's name.
    pub provider: &'a str,
    /// The request's idempotency key.
    pub idempotency_key: Option<&'a str>,
}

/// Reads the user's cart and, if it has lines, writes the order `pending`
/// at step `reserving` (no lines yet): one statement. Returns the cart's
/// lines; an empty cart writes nothing.
#[tracing::instrument(skip_all)]
pub async fn open(pool: &PgPool, order: &NewOrder<'_>) -> sqlx::Result<Vec<StockLine>> {
    let rows: Vec<(Uuid, i32)> = sqlx::query_as(
        "with cart as (
             select product_id, quantity from cart_items where user_id = $2
         ), opened as (
             insert into orders (order_id, user_id, shipping_address, payment_provider,
                                 idempotency_key, saga_step)
             select $1, $2, $3, $4, $5, $6 where exists (select 1 from cart)
             returning order_id
         )
         select product_id, quantity from cart order by product_id",
    )
    .bind(order.order_id)
    .bind(order.user_id)
    .bind(order.shipping_address)
    .bind(order.provider)
    .bind(order.idempotency_key)
    .bind(SagaStep::Reserving)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(product_id, quantity)| StockLine {
            product_id,
            quantity,
        })
        .collect())
}

/// Records the reserved lines with the catalog's prices and moves
/// `reserving` -> `charging` in one statement; false when the order is no
/// longer at `reserving`.
#[tracing::instrument(skip_all)]
pub async fn record_reservation(
    pool: &PgPool,
    order_id: Uuid,
    items: &[OrderItem],
    currency: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<bool> {
    let subtotal: i64 = items.iter().map(|i| i.line_total_cents).sum();
    let product_ids: Vec<Uuid> = items.iter().map(|i| i.product_id).collect();
    let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    let prices: Vec<i64> = items.iter().map(|i| i.unit_price_cents).collect();
    let quantities: Vec<i32> = items.iter().map(|i| i.quantity).collect();
    let moved: Option<(Uuid,)> = sqlx::query_as(
        "with moved as (
             update orders set saga_step = $7, subtotal_cents = $2, total_cents = $2,
                    currency = $3, reservation_expires_at = $4, updated_at = now()
             where order_id = $1 and status = 'pending' and saga_step = $8
             returning order_id
         ), lines as (
             insert into order_items
                 (order_id, product_id, name, unit_price_cents, quantity, line_total_cents)
             select m.order_id, p, n, u, q, u * q
             from moved m, unnest($5::uuid[], $6::text[], $9::bigint[], $10::int[]) as t(p, n, u, q)
         )
         select order_id from moved",
    )
    .bind(order_id)
    .bind(subtotal)
    .bind(currency)
    .bind(expires_at)
    .bind(&product_ids)
    .bind(&names)
    .bind(SagaStep::Charging)
    .bind(SagaStep::Reserving)
    .bind(&prices)
    .bind(&quantities)
    .fetch_optional(pool)
    .await?;
    Ok(moved.is_some())
}

/// Moves a pending order from step `from` to `to`; false when it is not there.
#[tracing::instrument(skip_all)]
pub async fn move_step(
    pool: &PgPool,
    order_id: Uuid,
    from: SagaStep,
    to: SagaStep,
) -> sqlx::Result<bool> {
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

/// What confirming an order writes besides the order itself.
pub struct Confirmation<'a> {
    /// The provider's charge reference.
    pub provider_ref: &'a str,
    /// The lines to take out of the cart (none: leave the cart alone).
    pub ordered: &'a [OrderItem],
    /// The `order_confirmed` event.
    pub event: &'a OutboxRow,
}

/// `charging` or `charged` -> `confirmed` with the charge recorded, what
/// was ordered taken out of the cart (a line raised meanwhile keeps the
/// difference, a line added meanwhile stays) and the event in the outbox:
/// one statement, so all of it or none. `None` when the order is no
/// longer at one of those steps.
#[tracing::instrument(skip_all)]
pub async fn confirm(
    pool: &PgPool,
    order_id: Uuid,
    confirmation: &Confirmation<'_>,
) -> sqlx::Result<Option<OrderRow>> {
    let (products, quantities): (Vec<Uuid>, Vec<i32>) = confirmation
        .ordered
        .iter()
        .map(|i| (i.product_id, i.quantity))
        .unzip();
    let event = confirmation.event;
    sqlx::query_as(concat!(
        "with confirmed as (
             update orders set status = 'confirmed', saga_step = $3, payment_status = 'succeeded',
                    payment_ref = $2, updated_at = now()
             where order_id = $1 and status = 'pending' and saga_step in ($4, $5)
             returning ",
        columns!(),
        "
         ), ordered as (
             select o.product_id, o.quantity, c.user_id
             from unnest($6::uuid[], $7::int[]) as o(product_id, quantity), confirmed c
         ), gone as (
             delete from cart_items c using ordered o
             where c.user_id = o.user_id and c.product_id = o.product_id
               and c.quantity <= o.quantity
         ), kept as (
             update cart_items c set quantity = c.quantity - o.quantity, updated_at = now()
             from ordered o
             where c.user_id = o.user_id and c.product_id = o.product_id
               and c.quantity > o.quantity
         ), event as (
             insert into outbox (event_id, payload, request_id)
             select $8, $9, $10 from confirmed
         )
         select ",
        columns!(),
        " from confirmed"
    ))
    .bind(order_id)
    .bind(confirmation.provider_ref)
    .bind(SagaStep::Completed)
    .bind(SagaStep::Charging)
    .bind(SagaStep::Charged)
    .bind(&products)
    .bind(&quantities)
    .bind(event.event_id)
    .bind(&event.payload)
    .bind(event.request_id.as_deref())
    .fetch_optional(pool)
    .await
}

/// Records a charge the provider reports for an order at `charging`
/// (the reconciler): `charging` -> `charged`.
#[tracing::instrument(skip_all)]
pub async fn record_charge(
    pool: &PgPool,
    order_id: Uuid,
    provider_ref: &str,
) -> sqlx::Result<bool> {
    sqlx::query(
        "update orders set saga_step = $3, payment_status = 'succeeded',
                payment_ref = $2, updated_at = now()
         where order_id = $1 and status = 'pending' and saga_step = $4",
    )
    .bind(order_id)
    .bind(provider_ref)
    .bind(SagaStep::Charged)
    .bind(SagaStep::Charging)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// A declined payment: `payment_failed`, and its event, in one statement.
#[tracing::instrument(skip_all)]
pub async fn mark_payment_failed(
    pool: &PgPool,
    order_id: Uuid,
    event: impl Fn(&OrderRow) -> Result<OutboxRow, serde_json::Error>,
) -> sqlx::Result<Option<OrderRow>> {
    // The event needs the row's totals: read them first, then move only
    // from what was read (a concurrent move makes the update miss).
    let Some(row) = find(pool, order_id).await? else {
        return Ok(None);
    };
    let event = event(&row).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query_as(concat!(
        "with failed as (
             update orders set status = 'payment_failed', saga_step = $2,
                    payment_status = 'declined', failure_reason = 'payment_declined',
                    updated_at = now()
             where order_id = $1 and status = 'pending'
             returning ",
        columns!(),
        "
         ), event as (
             insert into outbox (event_id, payload, request_id)
             select $3, $4, $5 from failed
         )
         select ",
        columns!(),
        " from failed"
    ))
    .bind(order_id)
    .bind(SagaStep::Failed)
    .bind(event.event_id)
    .bind(&event.payload)
    .bind(event.request_id.as_deref())
    .fetch_optional(pool)
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
        "update orders set status = 'cancelled', saga_step = $4, failure_reason = $3,
                payment_status = case when $2 then 'refunded' else payment_status end,
                refund_cents = case when $2 then total_cents else refund_cents end,
                updated_at = now()
         where order_id = $1 and status = 'pending'",
    )
    .bind(order_id)
    .bind(refunded)
    .bind(reason)
    .bind(SagaStep::Failed)
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

/// One order.
#[tracing::instrument(skip_all)]
pub async fn find(pool: &PgPool, order_id: Uuid) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from orders where order_id = $1"
    ))
    .bind(order_id)
    .fetch_optional(pool)
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
    stale_secs: f64,
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
    .bind(stale_secs)
    .bind(limit)
    .fetch_all(pool)
    .await
}
