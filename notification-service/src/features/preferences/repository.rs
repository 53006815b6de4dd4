//! Preference and push-subscription SQL.

use sqlx::PgPool;
use uuid::Uuid;

use super::models::{Platform, Preferences, PushSubscription};

/// A user's stored preferences, if they ever set them.
#[tracing::instrument(skip_all)]
pub async fn get(pool: &PgPool, user_id: Uuid) -> sqlx::Result<Option<Preferences>> {
    sqlx::query_as!(
        Preferences,
        "select email, sms, push, marketing from preferences where user_id = $1",
        user_id,
    )
    .fetch_optional(pool)
    .await
}

/// Stores a user's preferences.
#[tracing::instrument(skip_all)]
pub async fn put(pool: &PgPool, user_id: Uuid, p: Preferences) -> sqlx::Result<Preferences> {
    sqlx::query_as!(
        Preferences,
        "insert into preferences (user_id, email, sms, push, marketing) values ($1, $2, $3, $4, $5)
         on conflict (user_id) do update
         set email = excluded.email, sms = excluded.sms, push = excluded.push,
             marketing = excluded.marketing, updated_at = now()
         returning email, sms, push, marketing",
        user_id,
        p.email,
        p.sms,
        p.push,
        p.marketing,
    )
    .fetch_one(pool)
    .await
}

/// Registers a device token for a user, keeping at most `max_per_user`
/// devices: beyond it, the user's oldest are removed. Registering a token
/// again updates the platform and returns the same subscription. A token
/// registered by another user moves to this one (the device changed hands
/// or accounts), as a new registration.
///
/// One registration per user at a time (an advisory lock on the user, held
/// to the end of the transaction), and registration times taken once the
/// lock is held: concurrent registrations are ordered, and the cap holds
/// whatever their number.
#[tracing::instrument(skip_all)]
pub async fn subscribe(
    pool: &PgPool,
    id: Uuid,
    user_id: Uuid,
    platform: Platform,
    token: &str,
    max_per_user: i64,
) -> sqlx::Result<PushSubscription> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtext('push_subscriptions'), hashtext($1::uuid::text))",
        user_id,
    )
    .execute(&mut *tx)
    .await?;
    let subscription: PushSubscription = sqlx::query_as!(
        PushSubscription,
        r#"insert into push_subscriptions (subscription_id, user_id, platform, token, created_at)
         values ($1, $2, $3, $4, clock_timestamp())
         on conflict on constraint push_subscriptions_token_key
         do update set platform = excluded.platform, user_id = excluded.user_id,
             created_at = case when push_subscriptions.user_id = excluded.user_id
                               then push_subscriptions.created_at else excluded.created_at end
         returning subscription_id as id, platform as "platform: Platform", created_at"#,
        id,
        user_id,
        platform as Platform,
        token,
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "delete from push_subscriptions
         where user_id = $1 and subscription_id <> $2
           and subscription_id not in (
               select subscription_id from push_subscriptions
               where user_id = $1 and subscription_id <> $2
               order by created_at desc, subscription_id desc
               limit $3)",
        user_id,
        subscription.id,
        max_per_user - 1,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(subscription)
}

/// The user's devices, newest first (at most `limit`).
#[tracing::instrument(skip_all)]
pub async fn subscriptions(
    pool: &PgPool,
    user_id: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<PushSubscription>> {
    sqlx::query_as!(
        PushSubscription,
        r#"select subscription_id as id, platform as "platform: Platform", created_at from push_subscriptions
         where user_id = $1
         order by created_at desc, subscription_id desc
         limit $2"#,
        user_id,
        limit,
    )
    .fetch_all(pool)
    .await
}

/// Removes one of the user's subscriptions; false when they have none by
/// that id.
#[tracing::instrument(skip_all)]
pub async fn unsubscribe(pool: &PgPool, id: Uuid, user_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query!(
        "delete from push_subscriptions where subscription_id = $1 and user_id = $2",
        id,
        user_id,
    )
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
}
