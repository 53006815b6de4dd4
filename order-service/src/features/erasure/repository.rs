//! Erasure SQL: the erased accounts, and the personal data of a user in
//! the cart, the orders and the stored checkout answers.

use chrono::{DateTime, Utc};
use service_kit::outbox::UserDeleted;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Records the event; false when it (or another event for the same
/// account) was recorded before: a redelivery.
#[tracing::instrument(skip_all)]
pub async fn record(conn: &mut PgConnection, event: &UserDeleted) -> sqlx::Result<bool> {
    sqlx::query!(
        "insert into erased_users (user_id, event_id, deleted_at) values ($1, $2, $3)
         on conflict do nothing",
        event.user_id,
        event.event_id,
        event.deleted_at,
    )
    .execute(conn)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// The accounts erased since `since`.
#[tracing::instrument(skip_all)]
pub async fn erased_since(pool: &PgPool, since: DateTime<Utc>) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select user_id from erased_users where erased_at >= $1 order by erased_at",
        since,
    )
    .fetch_all(pool)
    .await
}

/// Deletes the user's cart (its lines and its applied discount code);
/// returns the lines deleted.
#[tracing::instrument(skip_all)]
pub async fn delete_cart(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<u64> {
    sqlx::query!(
        "with code as (delete from carts where user_id = $1)
         delete from cart_items where user_id = $1",
        user_id,
    )
    .execute(conn)
    .await
    .map(|done| done.rows_affected())
}

/// Replaces the shipping address of each of the user's orders by an
/// erased one: every field empty but the country (which the accounts of
/// a sale need); returns the orders changed (those not erased already).
#[tracing::instrument(skip_all)]
pub async fn scrub_orders(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<u64> {
    sqlx::query!(
        r#"update orders
         set shipping_address = jsonb_build_object(
                 'name', '', 'line1', '', 'city', '', 'postal_code', '',
                 'country', coalesce(shipping_address->>'country', '')),
             updated_at = now()
         where user_id = $1
           and shipping_address - 'country'
               <> '{"name": "", "line1": "", "city": "", "postal_code": ""}'::jsonb"#,
        user_id,
    )
    .execute(conn)
    .await
    .map(|done| done.rows_affected())
}

/// Deletes the user's idempotency keys (a stored checkout answer repeats
/// the shipping address); returns how many.
#[tracing::instrument(skip_all)]
pub async fn delete_idempotency_keys(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<u64> {
    sqlx::query!("delete from idempotency_keys where user_id = $1", user_id)
        .execute(conn)
        .await
        .map(|done| done.rows_affected())
}
