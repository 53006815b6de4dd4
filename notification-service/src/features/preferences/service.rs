//! Preference rules: defaults until the user sets theirs.

use service_kit::ApiError;
use sqlx::PgPool;
use uuid::Uuid;

use super::models::{NewPushSubscription, Preferences, PushSubscription};
use super::repository;

/// The user's preferences, or the defaults.
pub async fn preferences(pool: &PgPool, user_id: Uuid) -> Result<Preferences, ApiError> {
    Ok(repository::get(pool, user_id)
        .await
        .map_err(ApiError::internal)?
        .unwrap_or_default())
}

/// Replaces the user's preferences.
pub async fn set_preferences(
    pool: &PgPool,
    user_id: Uuid,
    preferences: Preferences,
) -> Result<Preferences, ApiError> {
    repository::put(pool, user_id, preferences)
        .await
        .map_err(ApiError::internal)
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
) -> Result<PushSubscription, ApiError> {
    repository::subscribe(
        pool,
        Uuid::now_v7(),
        user_id,
        request.platform,
        &request.token,
        MAX_PUSH_SUBSCRIPTIONS,
    )
    .await
    .map_err(ApiError::internal)
}

/// The user's devices, newest first.
pub async fn subscriptions(
    pool: &PgPool,
    user_id: Uuid,
) -> Result<Vec<PushSubscription>, ApiError> {
    repository::subscriptions(pool, user_id, MAX_PUSH_SUBSCRIPTIONS)
        .await
        .map_err(ApiError::internal)
}

/// Removes one of the user's devices; another user's is 404.
pub async fn unsubscribe(pool: &PgPool, user_id: Uuid, id: Uuid) -> Result<(), ApiError> {
    if repository::unsubscribe(pool, id, user_id)
        .await
        .map_err(ApiError::internal)?
    {
        Ok(())
    } else {
        Err(ApiError::not_found("No push subscription with this id."))
    }
}
