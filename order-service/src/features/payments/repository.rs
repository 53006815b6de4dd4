//! Payment SQL: the fake provider's ledger and webhook events.

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// A row of the fake provider's ledger.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FakePayment {
    /// The charge id (the provider reference).
    pub payment_id: Uuid,
    /// `succeeded` or `declined`.
    pub status: String,
    /// Refunded so far.
    pub refunded_cents: i64,
}

/// Records a charge for `order_id` once; a repeat returns the first outcome.
#[tracing::instrument(skip_all)]
pub async fn fake_charge(
    pool: &PgPool,
    order_id: Uuid,
    amount_cents: i64,
    currency: &str,
    status: &str,
) -> sqlx::Result<FakePayment> {
    let inserted = sqlx::query_as!(
        FakePayment,
        "insert into fake_payments (payment_id, order_id, amount_cents, currency, status)
         values ($1, $2, $3, $4, $5)
         on conflict (order_id) do nothing
         returning payment_id, status, refunded_cents",
        Uuid::now_v7(),
        order_id,
        amount_cents,
        currency,
        status,
    )
    .fetch_optional(pool)
    .await?;
    match inserted {
        Some(row) => Ok(row),
        None => fake_find(pool, order_id)
            .await?
            .ok_or(sqlx::Error::RowNotFound),
    }
}

/// The ledger row of `order_id`.
#[tracing::instrument(skip_all)]
pub async fn fake_find(pool: &PgPool, order_id: Uuid) -> sqlx::Result<Option<FakePayment>> {
    sqlx::query_as!(
        FakePayment,
        "select payment_id, status, refunded_cents from fake_payments where order_id = $1",
        order_id,
    )
    .fetch_optional(pool)
    .await
}

/// Refunds up to `amount_cents` of a successful charge (idempotent: the
/// refunded amount is set, not added).
#[tracing::instrument(skip_all)]
pub async fn fake_refund(pool: &PgPool, order_id: Uuid, amount_cents: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "update fake_payments set refunded_cents = least($2, amount_cents), updated_at = now()
         where order_id = $1 and status = 'succeeded'",
        order_id,
        amount_cents,
    )
    .execute(pool)
    .await
    .map(|_| ())
}

/// Records a webhook event; false when it was already processed.
#[tracing::instrument(skip_all)]
pub async fn insert_event(
    tx: &mut Transaction<'_, Postgres>,
    event_id: &str,
    event_type: &str,
    order_id: Option<Uuid>,
    payload: &serde_json::Value,
) -> sqlx::Result<bool> {
    let result = sqlx::query!(
        "insert into payment_events (event_id, event_type, order_id, payload)
         values ($1, $2, $3, $4) on conflict (event_id) do nothing",
        event_id,
        event_type,
        order_id,
        payload,
    )
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Applies a provider's payment state to an order (from a webhook).
#[tracing::instrument(skip_all)]
pub async fn apply_payment_state(
    tx: &mut Transaction<'_, Postgres>,
    order_id: Uuid,
    payment_status: &str,
    provider_ref: Option<&str>,
) -> sqlx::Result<()> {
    // Only forward moves: pending -> succeeded | declined, succeeded -> refunded.
    sqlx::query!(
        "update orders set payment_status = $2,
                payment_ref = coalesce(payment_ref, $3),
                refund_cents = case when $2 = 'refunded' then total_cents else refund_cents end,
                updated_at = now()
         where order_id = $1
           and ((payment_status = 'pending' and $2 in ('succeeded', 'declined'))
             or (payment_status = 'succeeded' and $2 = 'refunded'))",
        order_id,
        payment_status,
        provider_ref,
    )
    .execute(&mut **tx)
    .await
    .map(|_| ())
}
