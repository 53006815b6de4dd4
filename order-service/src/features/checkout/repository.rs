//! Checkout SQL. Every saga move is a conditional update from the step it
//! expects, so the saga and the reconciler never both move one order; on
//! the happy path each step is one statement (one round trip).

use service_kit::outbox::OutboxRow;
use sqlx::PgPool;
use uuid::Uuid;

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::models::SagaStep;
use crate::catalog::StockLine;
use crate::features::discounts::models::DiscountCode;
pub use crate::features::discounts::repository::{MAX_REDEMPTIONS_CHECK, ONCE_PER_CUSTOMER_KEY};
use crate::features::orders::models::{OrderItem, OrderRow};
use crate::features::pricing::totals::Totals;
use crate::features::shipping::models::ShippingMethod;

/// What a new order is opened with.
pub struct NewOrder<'a> {
    /// Its id (also the reservation id and the charge's idempotency key).
    pub order_id: Uuid,
    /// The customer.
    pub user_id: Uuid,
    /// Where to ship (JSON).
    pub shipping_address: &'a serde_json::Value,
    /// The destination country (its tax rate applies).
    pub country: &'a str,
    /// The shipping method asked for.
    pub shipping_method_id: Option<Uuid>,
    /// The payment provider's name.
    pub provider: &'a str,
    /// The request's idempotency key.
    pub idempotency_key: Option<&'a str>,
}

/// What opening an order read: the cart's lines (none: nothing was
/// written) and everything its price depends on.
#[derive(Debug)]
pub struct Opened {
    /// The cart's lines.
    pub lines: Vec<StockLine>,
    /// The code applied to the cart.
    pub code: Option<DiscountCode>,
    /// Whether the customer held a redemption of it before.
    pub used: bool,
    /// Whether the order now holds a redemption of it.
    pub redeemed: bool,
    /// The requested shipping method, unless unknown or deleted.
    pub method: Option<ShippingMethod>,
    /// Whether an active method ships to the destination.
    pub any_ships: bool,
    /// The destination's tax rate.
    pub rate_bps: i32,
    /// The database's clock when the code was judged.
    pub checked_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct OpenedRow {
    product_ids: Vec<Uuid>,
    quantities: Vec<i32>,
    code: Option<Json<DiscountCode>>,
    used: bool,
    redeemed: bool,
    method: Option<Json<ShippingMethod>>,
    any_ships: bool,
    rate_bps: i32,
    checked_at: DateTime<Utc>,
}

/// Reads the user's cart with its discount code, the shipping method and
/// the destination's tax rate and, if the cart has lines, writes the order
/// `pending` at step `reserving` (no lines yet) with what was applied, and
/// redeems the code if it is active and valid now: one statement. An empty
/// cart writes nothing.
///
/// The redemption's insert enforces the code's limits in the database: a
/// code at its `max_redemptions` fails the statement with
/// [`MAX_REDEMPTIONS_CHECK`], a once-per-customer code the customer holds
/// (or is redeeming concurrently) with [`ONCE_PER_CUSTOMER_KEY`]; then
/// nothing is written.
#[tracing::instrument(skip_all)]
pub async fn open(pool: &PgPool, order: &NewOrder<'_>) -> sqlx::Result<Opened> {
    let row = sqlx::query_as!(
        OpenedRow,
        r#"with cart as (
             select product_id, quantity from cart_items where user_id = $2
         ), applied as (
             select d.* from carts c
             join discount_codes d on d.discount_code_id = c.discount_code_id
             where c.user_id = $2
         ), used as (
             select exists (select 1 from discount_redemptions r join applied a using (discount_code_id)
                            where r.user_id = $2) as used
         ), method as (
             select shipping_method_id as id, name, price_cents, currency, free_over_cents,
                    min_days, max_days, countries, active, created_at, updated_at
             from shipping_methods where shipping_method_id = $7 and deleted_at is null
         ), rate as (
             select coalesce((select rate_bps from tax_rates where country = $8), 0) as rate_bps
         ), opened as (
             insert into orders (order_id, user_id, shipping_address, payment_provider,
                                 idempotency_key, saga_step, country, tax_rate_bps,
                                 discount_code_id, discount_code,
                                 shipping_method_id, shipping_method_name)
             select $1, $2, $3, $4, $5, $6, $8, (select rate_bps from rate),
                    (select discount_code_id from applied), (select code from applied),
                    (select id from method), (select name from method)
             where exists (select 1 from cart)
             returning order_id
         ), redeemed as (
             insert into discount_redemptions (order_id, discount_code_id, user_id, once_per_customer)
             select o.order_id, a.discount_code_id, $2, a.once_per_customer
             from opened o, applied a, used u
             where a.active and (a.starts_at is null or a.starts_at <= now())
               and (a.ends_at is null or a.ends_at > now())
               and not (a.once_per_customer and u.used)
             returning order_id
         )
         select
             array(select product_id from cart order by product_id) as "product_ids!",
             array(select quantity from cart order by product_id) as "quantities!",
             (select row_to_json(c) from (
                  select discount_code_id as id, code, kind, value, currency, min_subtotal_cents,
                         starts_at, ends_at, max_redemptions, once_per_customer, active,
                         redemptions, created_at, updated_at from applied) c)
                 as "code?: Json<DiscountCode>",
             (select used from used) as "used!",
             exists (select 1 from redeemed) as "redeemed!",
             (select row_to_json(m) from method m) as "method?: Json<ShippingMethod>",
             exists (select 1 from shipping_methods
                     where deleted_at is null and active and countries @> array[$8::text])
                 as "any_ships!",
             (select rate_bps from rate) as "rate_bps!",
             now() as "checked_at!""#,
        order.order_id,
        order.user_id,
        order.shipping_address,
        order.provider,
        order.idempotency_key,
        SagaStep::Reserving as SagaStep,
        order.shipping_method_id,
        order.country,
    )
    .fetch_one(pool)
    .await?;
    Ok(Opened {
        lines: row
            .product_ids
            .into_iter()
            .zip(row.quantities)
            .map(|(product_id, quantity)| StockLine {
                product_id,
                quantity,
            })
            .collect(),
        code: row.code.map(|Json(c)| c),
        used: row.used,
        redeemed: row.redeemed,
        method: row.method.map(|Json(m)| m),
        any_ships: row.any_ships,
        rate_bps: row.rate_bps,
        checked_at: row.checked_at,
    })
}

/// Records the reserved lines with the catalog's prices and the order's
/// breakdown, and moves `reserving` -> `charging`, in one statement; false
/// when the order is no longer at `reserving`.
#[tracing::instrument(skip_all)]
pub async fn record_reservation(
    pool: &PgPool,
    order_id: Uuid,
    items: &[OrderItem],
    currency: &str,
    totals: &Totals,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<bool> {
    let product_ids: Vec<Uuid> = items.iter().map(|i| i.product_id).collect();
    let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    let prices: Vec<i64> = items.iter().map(|i| i.unit_price_cents).collect();
    let quantities: Vec<i32> = items.iter().map(|i| i.quantity).collect();
    let moved = sqlx::query_scalar!(
        "with moved as (
             update orders set saga_step = $7, subtotal_cents = $2, discount_cents = $11,
                    shipping_cents = $12, tax_cents = $13, total_cents = $14,
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
        order_id,
        totals.subtotal_cents,
        currency,
        expires_at,
        &product_ids,
        &names as &[&str],
        SagaStep::Charging as SagaStep,
        SagaStep::Reserving as SagaStep,
        &prices,
        &quantities,
        totals.discount_cents,
        totals.shipping_cents,
        totals.tax_cents,
        totals.total_cents,
    )
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
    sqlx::query!(
        "update orders set saga_step = $3, updated_at = now()
         where order_id = $1 and status = 'pending' and saga_step = $2",
        order_id,
        from as SagaStep,
        to as SagaStep,
    )
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// What confirming an order writes besides the order itself.
pub struct Confirmation<'a> {
    /// The provider's charge reference.
    pub provider_ref: &'a str,
    /// Whether to take the order's lines (`order_items`) out of the cart.
    pub take_from_cart: bool,
    /// The `order_confirmed` event.
    pub event: &'a OutboxRow,
}

/// `charging` or `charged` -> `confirmed` with the charge recorded, what
/// was ordered taken out of the cart (a line raised meanwhile keeps the
/// difference, a line added meanwhile stays; the redeemed code comes off)
/// and the event in the outbox:
/// one statement, so all of it or none. `None` when the order is no
/// longer at one of those steps.
///
/// What was ordered is read from `order_items` rather than sent as arrays:
/// Postgres estimates an array parameter at 100 elements, which made every
/// generic plan of this statement look dearer than a custom one, so it was
/// planned anew on each of its calls (0.41 ms of planning a checkout).
#[tracing::instrument(skip_all)]
pub async fn confirm(
    pool: &PgPool,
    order_id: Uuid,
    confirmation: &Confirmation<'_>,
) -> sqlx::Result<Option<OrderRow>> {
    let event = confirmation.event;
    sqlx::query_as!(
        OrderRow,
        r#"with confirmed as (
             update orders set status = 'confirmed', saga_step = $3, payment_status = 'succeeded',
                    payment_ref = $2, updated_at = now()
             where order_id = $1 and status = 'pending' and saga_step in ($4, $5)
             returning order_id, user_id, status, saga_step, subtotal_cents, discount_cents,
                    shipping_cents, tax_cents, tax_rate_bps, total_cents, currency,
                    shipping_address, payment_provider, payment_status, payment_ref,
                    refund_cents, idempotency_key, failure_reason, discount_code,
                    shipping_method_id, shipping_method_name, created_at, updated_at
         ), ordered as (
             select i.product_id, i.quantity, c.user_id
             from confirmed c join order_items i on i.order_id = c.order_id
             where $6
         ), gone as (
             delete from cart_items c using ordered o
             where c.user_id = o.user_id and c.product_id = o.product_id
               and c.quantity <= o.quantity
         ), kept as (
             update cart_items c set quantity = c.quantity - o.quantity, updated_at = now()
             from ordered o
             where c.user_id = o.user_id and c.product_id = o.product_id
               and c.quantity > o.quantity
         ), code as (
             delete from carts c using confirmed o, orders placed
             where $6 and placed.order_id = o.order_id
               and c.user_id = o.user_id and c.discount_code_id = placed.discount_code_id
         ), event as (
             insert into outbox (event_id, destination, path, payload, request_id)
             select $7, $10, $11, $8, $9 from confirmed
         )
         select order_id, user_id, status, saga_step as "saga_step: SagaStep", subtotal_cents,
                discount_cents, shipping_cents, tax_cents, tax_rate_bps, total_cents, currency,
                shipping_address, payment_provider, payment_status, payment_ref, refund_cents,
                idempotency_key, failure_reason, discount_code, shipping_method_id,
                shipping_method_name, created_at, updated_at
         from confirmed"#,
        order_id,
        confirmation.provider_ref,
        SagaStep::Completed as SagaStep,
        SagaStep::Charging as SagaStep,
        SagaStep::Charged as SagaStep,
        confirmation.take_from_cart,
        event.event_id,
        &event.payload,
        event.request_id.as_deref(),
        event.destination,
        event.path,
    )
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
    sqlx::query!(
        "update orders set saga_step = $3, payment_status = 'succeeded',
                payment_ref = $2, updated_at = now()
         where order_id = $1 and status = 'pending' and saga_step = $4",
        order_id,
        provider_ref,
        SagaStep::Charged as SagaStep,
        SagaStep::Charging as SagaStep,
    )
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// A declined payment: `payment_failed`, the discount code's redemption
/// given back, and its event, in one statement.
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
    sqlx::query_as!(
        OrderRow,
        r#"with failed as (
             update orders set status = 'payment_failed', saga_step = $2,
                    payment_status = 'declined', failure_reason = 'payment_declined',
                    updated_at = now()
             where order_id = $1 and status = 'pending'
             returning order_id, user_id, status, saga_step, subtotal_cents, discount_cents,
                    shipping_cents, tax_cents, tax_rate_bps, total_cents, currency,
                    shipping_address, payment_provider, payment_status, payment_ref,
                    refund_cents, idempotency_key, failure_reason, discount_code,
                    shipping_method_id, shipping_method_name, created_at, updated_at
         ), given_back as (
             delete from discount_redemptions r using failed f where r.order_id = f.order_id
         ), event as (
             insert into outbox (event_id, destination, path, payload, request_id)
             select $3, $6, $7, $4, $5 from failed
         )
         select order_id, user_id, status, saga_step as "saga_step: SagaStep", subtotal_cents,
                discount_cents, shipping_cents, tax_cents, tax_rate_bps, total_cents, currency,
                shipping_address, payment_provider, payment_status, payment_ref, refund_cents,
                idempotency_key, failure_reason, discount_code, shipping_method_id,
                shipping_method_name, created_at, updated_at
         from failed"#,
        order_id,
        SagaStep::Failed as SagaStep,
        event.event_id,
        &event.payload,
        event.request_id.as_deref(),
        event.destination,
        event.path,
    )
    .fetch_optional(pool)
    .await
}

/// A compensated checkout that had charged: `cancelled`, refunded, its
/// discount code's redemption given back (one statement).
#[tracing::instrument(skip_all)]
pub async fn mark_compensated(
    pool: &PgPool,
    order_id: Uuid,
    refunded: bool,
    reason: &str,
) -> sqlx::Result<bool> {
    let cancelled = sqlx::query_scalar!(
        "with cancelled as (
             update orders set status = 'cancelled', saga_step = $4, failure_reason = $3,
                    payment_status = case when $2 then 'refunded' else payment_status end,
                    refund_cents = case when $2 then total_cents else refund_cents end,
                    updated_at = now()
             where order_id = $1 and status = 'pending'
             returning order_id
         ), given_back as (
             delete from discount_redemptions r using cancelled c where r.order_id = c.order_id
         )
         select order_id from cancelled",
        order_id,
        refunded,
        reason,
        SagaStep::Failed as SagaStep,
    )
    .fetch_optional(pool)
    .await?;
    Ok(cancelled.is_some())
}

/// Deletes a pending order that never charged (nothing happened); its
/// discount code's redemption goes with it (cascade, and the trigger
/// lowers the count).
#[tracing::instrument(skip_all)]
pub async fn delete_pending(pool: &PgPool, order_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query!(
        "delete from orders where order_id = $1 and status = 'pending'",
        order_id,
    )
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// One order.
#[tracing::instrument(skip_all)]
pub async fn find(pool: &PgPool, order_id: Uuid) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as!(
        OrderRow,
        r#"select order_id, user_id, status, saga_step as "saga_step: SagaStep", subtotal_cents,
                discount_cents, shipping_cents, tax_cents, tax_rate_bps, total_cents, currency,
                shipping_address, payment_provider, payment_status, payment_ref, refund_cents,
                idempotency_key, failure_reason, discount_code, shipping_method_id,
                shipping_method_name, created_at, updated_at
         from orders where order_id = $1"#,
        order_id,
    )
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
    sqlx::query_as!(
        OrderRow,
        r#"select order_id, user_id, status, saga_step as "saga_step: SagaStep", subtotal_cents,
                discount_cents, shipping_cents, tax_cents, tax_rate_bps, total_cents, currency,
                shipping_address, payment_provider, payment_status, payment_ref, refund_cents,
                idempotency_key, failure_reason, discount_code, shipping_method_id,
                shipping_method_name, created_at, updated_at
         from orders where user_id = $1 and idempotency_key = $2
         order by order_id desc limit 1"#,
        user_id,
        key,
    )
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
    sqlx::query_as!(
        OrderRow,
        r#"update orders set updated_at = now()
         where order_id in (
             select order_id from orders
             where status = 'pending' and updated_at <= now() - make_interval(secs => $1)
             order by updated_at limit $2
             for update skip locked)
         returning order_id, user_id, status, saga_step as "saga_step: SagaStep", subtotal_cents,
                discount_cents, shipping_cents, tax_cents, tax_rate_bps, total_cents, currency,
                shipping_address, payment_provider, payment_status, payment_ref, refund_cents,
                idempotency_key, failure_reason, discount_code, shipping_method_id,
                shipping_method_name, created_at, updated_at"#,
        stale_secs,
        limit,
    )
    .fetch_all(pool)
    .await
}
