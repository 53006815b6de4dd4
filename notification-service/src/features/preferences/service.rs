//! Preference rules: defaults until the user sets theirs.

use sqlx::PgPool;
use uuid::Uuid;

use super::models::{NewPushSubscription, Preferences, PushSubscription};
use super::repository;

/// What can go wrong with preferences and devices. `routes.rs` decides
/// what each means over HTTP.
#[derive(Debug, thiserror::Error)]
pub enum PreferenceError {
    /// No such push subscription (or another user's).
    #[error("no push subscription with this id")]
    SubscriptionNotFound,
    /// Our database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// The user's preferences, or the defaults.
pub async fn preferences(pool: &PgPool, user_id: Uuid) -> Result<Preferences, PreferenceError> {
    Ok(repository::get(pool, user_id).await?.unwrap_or_default())
}

/// Replaces the user's preferences.
pub async fn set_preferences(
    pool: &PgPool,
    user_id: Uuid,
    preferences: Preferences,
) -> Result<Preferences, PreferenceError> {
    Ok(repository::put(pool, user_id, preferences).await?)
}

/// Devices a user may have subscribed at once: registering one more
/// replaces the oldest (one event never fans out to more pushes).
pub const MAX_PUSH_SUBSCRIPTIONS: i64 = 20;

/// Registers a device (idempotent on the token); beyond
/// [`MAX_PUSH_SUBSCRIPTIONS`], the user's oldest device is removed.
pub async fn subscribe(
    pool: &PgPool,
    user_id: Uuid,
    request: NewPushSubscription,
) -> Result<PushSubscription, PreferenceError> {
    Ok(repository::subscribe(
        pool,
        Uuid::now_v7(),
        user_id,
        request.platform,
        &request.token,
        MAX_PUSH_SUBSCRIPTIONS,
    )
    .await?)
}

/// The user's devices, newest first.
pub async fn subscriptions(
    pool: &PgPool,
    user_id: Uuid,
) -> Result<Vec<PushSubscription>, PreferenceError> {
    Ok(repository::subscriptions(pool, user_id, MAX_PUSH_SUBSCRIPTIONS).await?)
}

/// Removes one of the user's devices; another user's is not found.
pub async fn unsubscribe(pool: &PgPool, user_id: Uuid, id: Uuid) -> Result<(), PreferenceError> {
    if repository::unsubscribe(pool, id, user_id).await? {
        Ok(())
    } else {
        Err(PreferenceError::SubscriptionNotFound)
    }
}
