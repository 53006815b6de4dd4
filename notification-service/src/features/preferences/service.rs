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

/// Registers a device (idempotent on the token).
pub async fn subscribe(
    pool: &PgPool,
    user_id: Uuid,
    request: NewPushSubscription,
) -> Result<PushSubscription, PreferenceError> {
    let id = Uuid::now_v7();
    Ok(repository::subscribe(pool, id, user_id, request.platform, &request.token).await?)
}

/// Removes one of the user's devices; another user's is not found.
pub async fn unsubscribe(pool: &PgPool, user_id: Uuid, id: Uuid) -> Result<(), PreferenceError> {
    if repository::unsubscribe(pool, id, user_id).await? {
        Ok(())
    } else {
        Err(PreferenceError::SubscriptionNotFound)
    }
}
