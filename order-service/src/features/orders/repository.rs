//! Order SQL: history, cancellation and fulfilment. (The checkout saga's
//! own statements are in `checkout/repository.rs`.)

use service_kit::outbox::OutboxRow;
use sqlx::PgPool;
use uuid::Uuid;

use super::models::{OrderItem, OrderItemRow, OrderRow, OrderStatus};
use crate::features::checkout::SagaStep;

/// One order, optionally only if it belongs to `user_id`.
#[tracing::instrument(skip_all)]
pub async fn find(
    pool: &PgPool,
    order_id: Uuid,
    user_id: Option<Uuid>,
) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as!(
        OrderRow,
        r#"select order_id, user_id, status, saga_step as "saga_step: SagaStep", subtotal_cents,
                discount_cents, shipping_cents, tax_cents, tax_rate_bps, total_cents, currency,
                shipping_address, payment_provider, payment_status, payment_ref, refund_cents,
                idempotency_key, failure_reason, discount_code, shipping_method_id,
                shipping_method_name, created_at, updated_at
         from orders where order_id = $1 and ($2::uuid is null or user_id = $2)"#,
        order_id,
        user_id,
    )
    .fetch_optional(pool)
    .await
}

/// Marks the user's confirmed order `cancelling`: the mark, not a lock,
/// keeps a shipment or a second cancel from starting while catalog and
/// the provider are called. A mark older than `lease_secs` belongs to a
/// cancel whose process died, and is taken over. `None` when the order is
/// not the user's, not confirmed, or being cancelled.
#[tracing::instrument(skip_all)]
pub async fn begin_cancel(
    pool: &PgPool,
    order_id: Uuid,
    user_id: Uuid,
    lease_secs: f64,
) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as!(
        OrderRow,
        r#"update orders set saga_step = $3, updated_at = now()
         where order_id = $1 and user_id = $2 and status = 'confirmed'
           and (saga_step = $4
                or (saga_step = $3 and updated_at < now() - make_interval(secs => $5)))
         returning order_id, user_id, status, saga_step as "saga_step: SagaStep", subtotal_cents,
                discount_cents, shipping_cents, tax_cents, tax_rate_bps, total_cents, currency,
                shipping_address, payment_provider, payment_status, payment_ref, refund_cents,
                idempotency_key, failure_reason, discount_code, shipping_method_id,
                shipping_method_name, created_at, updated_at"#,
        order_id,
        user_id,
        SagaStep::Cancelling as SagaStep,
        SagaStep::Completed as SagaStep,
        lease_secs,
    )
    .fetch_optional(pool)
    .await
}

/// Takes the `cancelling` mark off again (the cancel failed and can be
/// retried).
#[tracing::instrument(skip_all)]
pub async fn abandon_cancel(pool: &PgPool, order_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "update orders set saga_step = $3, updated_at = now()
         where order_id = $1 and status = 'confirmed' and saga_step = $2",
        order_id,
        SagaStep::Cancelling as SagaStep,
        SagaStep::Completed as SagaStep,
    )
    .execute(pool)
    .await
    .map(|_| ())
}

/// `cancelling` -> `cancelled`, refunded in full, with the event: one
/// statement. `None` when a concurrent cancel finished first.
#[tracing::instrument(skip_all)]
pub async fn finish_cancel(
    pool: &PgPool,
    order_id: Uuid,
    event: &OutboxRow,
) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as!(
        OrderRow,
        r#"with cancelled as (
             update orders set status = 'cancelled', saga_step = $2, refund_cents = total_cents,
                    payment_status = 'refunded', updated_at = now()
             where order_id = $1 and status = 'confirmed' and saga_step = $3
             returning order_id, user_id, status, saga_step, subtotal_cents, discount_cents,
                    shipping_cents, tax_cents, tax_rate_bps, total_cents, currency,
                    shipping_address, payment_provider, payment_status, payment_ref,
                    refund_cents, idempotency_key, failure_reason, discount_code,
                    shipping_method_id, shipping_method_name, created_at, updated_at
         ), event as (
             insert into outbox (event_id, destination, path, payload, request_id)
             select $4, $7, $8, $5, $6 from cancelled
         )
         select order_id, user_id, status, saga_step as "saga_step: SagaStep", subtotal_cents,
                discount_cents, shipping_cents, tax_cents, tax_rate_bps, total_cents, currency,
                shipping_address, payment_provider, payment_status, payment_ref, refund_cents,
                idempotency_key, failure_reason, discount_code, shipping_method_id,
                shipping_method_name, created_at, updated_at
         from cancelled"#,
        order_id,
        SagaStep::Completed as SagaStep,
        SagaStep::Cancelling as SagaStep,
        event.event_id,
        &event.payload,
        event.request_id.as_deref(),
        event.destination,
        event.path,
    )
    .fetch_optional(pool)
    .await
}

/// Moves an order `from` -> `to` along fulfilment, unless it is being
/// cancelled; `None` when it is not at `from`.
#[tracing::instrument(skip_all)]
pub async fn set_fulfilment(
    pool: &PgPool,
    order_id: Uuid,
    from: OrderStatus,
    to: OrderStatus,
) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as!(
        OrderRow,
        r#"update orders set status = $3, updated_at = now()
         where order_id = $1 and status = $2 and saga_step = $4
         returning order_id, user_id, status, saga_step as "saga_step: SagaStep", subtotal_cents,
                discount_cents, shipping_cents, tax_cents, tax_rate_bps, total_cents, currency,
                shipping_address, payment_provider, payment_status, payment_ref, refund_cents,
                idempotency_key, failure_reason, discount_code, shipping_method_id,
                shipping_method_name, created_at, updated_at"#,
        order_id,
        from.as_str(),
        to.as_str(),
        SagaStep::Completed as SagaStep,
    )
    .fetch_optional(pool)
    .await
}

/// The lines of `order_ids`.
#[tracing::instrument(skip_all)]
pub async fn items(pool: &PgPool, order_ids: &[Uuid]) -> sqlx::Result<Vec<OrderItemRow>> {
    sqlx::query!(
        "select order_id, product_id, name, unit_price_cents, quantity, line_total_cents
         from order_items where order_id = any($1) order by order_id, product_id",
        order_ids,
    )
    .map(|row| OrderItemRow {
        order_id: row.order_id,
        item: OrderItem {
            product_id: row.product_id,
            name: row.name,
            unit_price_cents: row.unit_price_cents,
            quantity: row.quantity,
            line_total_cents: row.line_total_cents,
        },
    })
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
    sqlx::query_as!(
        OrderRow,
        r#"select order_id, user_id, status, saga_step as "saga_step: SagaStep", subtotal_cents,
                discount_cents, shipping_cents, tax_cents, tax_rate_bps, total_cents, currency,
                shipping_address, payment_provider, payment_status, payment_ref, refund_cents,
                idempotency_key, failure_reason, discount_code, shipping_method_id,
                shipping_method_name, created_at, updated_at
         from orders
         where ($1::uuid is null or user_id = $1)
           and ($2::text is null or status = $2)
           and ($3::uuid is null or order_id < $3)
         order by order_id desc limit $4"#,
        user_id,
        status,
        before,
        limit,
    )
    .fetch_all(pool)
    .await
}
