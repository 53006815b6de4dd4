//! Erasure SQL: the erased accounts, and a user's preferences, devices,
//! notifications and deliveries.

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

/// Takes the account's erasure lock, held until the transaction ends: an
/// erasure waits for every intake that holds it, and an intake that comes
/// later waits for the erasure and then sees it.
#[tracing::instrument(skip_all)]
pub async fn lock_for_erasure(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('notification-erasure:' || $1::uuid::text, 0))",
        user_id,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Takes the account's erasure lock shared (intakes do not wait for each
/// other), held until the transaction ends; see [`lock_for_erasure`].
#[tracing::instrument(skip_all)]
pub async fn lock_for_intake(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "select pg_advisory_xact_lock_shared(hashtextextended('notification-erasure:' || $1::uuid::text, 0))",
        user_id,
    )
    .execute(conn)
    .await
    .map(|_| ())
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

/// Deletes the user's preferences; returns how many rows (0 or 1).
#[tracing::instrument(skip_all)]
pub async fn delete_preferences(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<u64> {
    sqlx::query!("delete from preferences where user_id = $1", user_id)
        .execute(conn)
        .await
        .map(|done| done.rows_affected())
}

/// Deletes the user's push subscriptions; returns how many.
#[tracing::instrument(skip_all)]
pub async fn delete_push_subscriptions(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> sqlx::Result<u64> {
    sqlx::query!("delete from push_subscriptions where user_id = $1", user_id)
        .execute(conn)
        .await
        .map(|done| done.rows_affected())
}

/// Empties the event data of the user's notifications; returns how many
/// still had some.
#[tracing::instrument(skip_all)]
pub async fn scrub_notifications(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<u64> {
    sqlx::query!(
        "update notifications set data = '{}'::jsonb
         where user_id = $1 and data <> '{}'::jsonb",
        user_id,
    )
    .execute(conn)
    .await
    .map(|done| done.rows_affected())
}

/// Scrubs the user's deliveries: the target (address, number, device
/// token) becomes `erased-<delivery id>`, subject, bodies and the last
/// error are emptied, and a pending one fails (`reason`) instead
/// of being sent; returns how many were not scrubbed yet.
#[tracing::instrument(skip_all)]
pub async fn scrub_deliveries(
    conn: &mut PgConnection,
    user_id: Uuid,
    reason: &str,
) -> sqlx::Result<u64> {
    sqlx::query!(
        "update deliveries
         set target = 'erased-' || delivery_id,
             subject = '', body_text = '',
             body_html = case when body_html is null then null else '' end,
             status = case when status = 'pending' then 'failed' else status end,
             failed_at = case when status = 'pending' then now() else failed_at end,
             last_error = case when status = 'pending' or last_error is not null
                               then $2 end,
             claimed_until = null,
             updated_at = now()
         where user_id = $1
           and (status = 'pending' or target <> 'erased-' || delivery_id or subject <> ''
                or body_text <> '' or coalesce(body_html, '') <> ''
                or coalesce(last_error, $2) <> $2)",
        user_id,
        reason,
    )
    .execute(conn)
    .await
    .map(|done| done.rows_affected())
}
