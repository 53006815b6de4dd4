//! Erasure rules: one `user_deleted` event erases once; a redelivery
//! changes nothing; recent erasures are re-applied by a sweep.

use chrono::Utc;
use service_kit::CancellationToken;
use service_kit::outbox::UserDeleted;
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use uuid::Uuid;

use super::repository;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// The `last_error` of a delivery an erasure scrubbed.
pub const ERASED: &str = "recipient erased";

/// What one erasure changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    /// Preferences deleted (0 or 1).
    pub preferences: u64,
    /// Push subscriptions deleted.
    pub push_subscriptions: u64,
    /// Notifications whose event data was emptied.
    pub notifications: u64,
    /// Deliveries scrubbed (pending ones failed).
    pub deliveries: u64,
}

impl Erased {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Applies a `user_deleted` event: records it and erases the user's data,
/// in one transaction. `None` for a redelivery (the event, or another for
/// the same account, was applied already).
pub async fn user_deleted(
    pool: &PgPool,
    event: &UserDeleted,
) -> Result<Option<Erased>, ErasureError> {
    let mut tx = pool.begin().await?;
    if !repository::record(&mut tx, event).await? {
        tx.rollback().await?;
        tracing::info!(event_id = %event.event_id, user_id = %event.user_id, "user_deleted already applied");
        return Ok(None);
    }
    let erased = erase(&mut tx, event.user_id).await?;
    tx.commit().await?;
    tracing::info!(
        event_id = %event.event_id,
        user_id = %event.user_id,
        preferences = erased.preferences,
        push_subscriptions = erased.push_subscriptions,
        notifications = erased.notifications,
        deliveries = erased.deliveries,
        "deleted account erased"
    );
    Ok(Some(erased))
}

/// Holds off any erasure of `user_id` until the caller's transaction ends,
/// after waiting for one under way: a statement the caller runs next sees
/// every erasure committed so far, and none can commit until the caller
/// does (the erasure then sees, and scrubs, what the caller wrote). The
/// caller's transaction must be READ COMMITTED (the default): a statement
/// then takes its snapshot when it starts, after this wait; a REPEATABLE
/// READ snapshot could predate it.
pub async fn hold_off(conn: &mut PgConnection, user_id: Uuid) -> Result<(), ErasureError> {
    Ok(repository::lock_for_intake(conn, user_id).await?)
}

/// Erases what this service holds about `user_id` (idempotent), once every
/// intake for the account under way has committed (see [`hold_off`]).
async fn erase(conn: &mut PgConnection, user_id: Uuid) -> Result<Erased, sqlx::Error> {
    repository::lock_for_erasure(conn, user_id).await?;
    let preferences = repository::delete_preferences(conn, user_id).await?;
    let push_subscriptions = repository::delete_push_subscriptions(conn, user_id).await?;
    // Deliveries before notifications: the order in which the delivery
    // worker locks them when it finishes a security mail, so the two cannot
    // deadlock.
    let deliveries = repository::scrub_deliveries(conn, user_id, ERASED).await?;
    let notifications = repository::scrub_notifications(conn, user_id).await?;
    Ok(Erased {
        preferences,
        push_subscriptions,
        notifications,
        deliveries,
    })
}

/// Erases again every account erased within `window`: what an access
/// token that outlived the account (preferences, a device) wrote after the
/// erasure goes too. (Intake cannot write after an erasure: see
/// [`hold_off`].) Returns the accounts where
/// something was left.
pub async fn reapply_recent(pool: &PgPool, window: Duration) -> Result<usize, ErasureError> {
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::hours(1));
    let mut touched = 0;
    for user_id in repository::erased_since(pool, Utc::now() - window).await? {
        let mut tx = pool.begin().await?;
        let erased = erase(&mut tx, user_id).await?;
        tx.commit().await?;
        if !erased.is_empty() {
            touched += 1;
            tracing::info!(
                user_id = %user_id,
                preferences = erased.preferences,
                push_subscriptions = erased.push_subscriptions,
                notifications = erased.notifications,
                deliveries = erased.deliveries,
                "data written after an erasure erased"
            );
        }
    }
    Ok(touched)
}

/// Runs [`reapply_recent`] every `interval` until `shutdown`.
pub async fn sweep(
    pool: PgPool,
    interval: Duration,
    window: Duration,
    shutdown: CancellationToken,
) {
    loop {
        if let Err(err) = reapply_recent(&pool, window).await {
            tracing::warn!(
                error = format!("{:#}", anyhow::Error::from(err)),
                "erasure sweep failed"
            );
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
