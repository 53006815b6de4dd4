//! Erasure rules: one `user_deleted` event erases once; a redelivery
//! changes nothing; recent erasures are re-applied by a sweep.

use chrono::Utc;
use service_kit::CancellationToken;
use service_kit::outbox::{self, UserDeleted};
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

/// What one erasure changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    /// Cart lines deleted.
    pub cart_lines: u64,
    /// Orders whose shipping address was scrubbed.
    pub orders: u64,
    /// Stored checkout answers (idempotency keys) deleted.
    pub idempotency_keys: u64,
    /// Notification events about the user deleted from the outbox.
    pub events: u64,
}

impl Erased {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Applies a `user_deleted` event: records it and erases the user's
/// personal data, in one transaction. `None` for a redelivery (the event,
/// or another for the same account, was applied already).
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
        cart_lines = erased.cart_lines,
        orders = erased.orders,
        idempotency_keys = erased.idempotency_keys,
        events = erased.events,
        "deleted account erased"
    );
    Ok(Some(erased))
}

/// Erases what this service holds about `user_id` (idempotent).
async fn erase(conn: &mut PgConnection, user_id: Uuid) -> Result<Erased, sqlx::Error> {
    Ok(Erased {
        cart_lines: repository::delete_cart(conn, user_id).await?,
        orders: repository::scrub_orders(conn, user_id).await?,
        idempotency_keys: repository::delete_idempotency_keys(conn, user_id).await?,
        events: outbox::purge_notifications_about(conn, user_id, None).await?,
    })
}

/// Erases again every account erased within `window`: what a checkout in
/// flight, or an access token that outlived the account, wrote after the
/// erasure goes too. Returns the accounts where something was left.
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
                cart_lines = erased.cart_lines,
                orders = erased.orders,
                idempotency_keys = erased.idempotency_keys,
                events = erased.events,
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
