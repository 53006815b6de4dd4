//! The retention sweep: finished deliveries (sent or failed) hold an
//! address, rendered bodies and, for a failed message, everything it was
//! about; they are deleted `retention.days` after they finished, and a
//! notification with its last delivery (or, with none, as old).

use chrono::Utc;
use service_kit::CancellationToken;
use sqlx::PgPool;
use std::time::Duration;

use super::repository;
use crate::config::RetentionSettings;

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Deliveries deleted.
    pub deliveries: u64,
    /// Notifications deleted.
    pub notifications: u64,
}

/// Deletes what finished more than `days` ago.
pub async fn purge_once(pool: &PgPool, days: u32) -> Result<Purged, sqlx::Error> {
    let before = Utc::now() - chrono::Duration::days(i64::from(days));
    let (deliveries, notifications) = repository::purge_finished(pool, before).await?;
    Ok(Purged {
        deliveries,
        notifications,
    })
}

/// Runs [`purge_once`] every `sweep_interval_secs` until `shutdown`.
pub async fn sweep(pool: PgPool, settings: RetentionSettings, shutdown: CancellationToken) {
    let interval = Duration::from_secs(settings.sweep_interval_secs.max(1));
    loop {
        match purge_once(&pool, settings.days).await {
            Ok(Purged {
                deliveries: 0,
                notifications: 0,
            }) => {}
            Ok(purged) => tracing::info!(
                deliveries = purged.deliveries,
                notifications = purged.notifications,
                days = settings.days,
                "notifications past their retention deleted"
            ),
            Err(err) => tracing::warn!(error = %err, "retention sweep failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
