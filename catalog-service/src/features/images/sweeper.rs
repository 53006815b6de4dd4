//! The sweep: deletes stored objects no image uses any more, some time
//! after the last image using them was removed (never inline: an upload of
//! the same bytes may be about to use the object again).

use sqlx::PgPool;
use std::sync::Arc;

use super::repository;
use crate::config::MediaSettings;
use crate::media::{Media, MediaKey};

/// Objects looked at per sweep.
const BATCH: i64 = 100;

/// One sweep; returns how many objects were deleted. Each object is
/// deleted from storage while its row is locked, and its row only once
/// that succeeded (a failure leaves both for the next sweep).
pub async fn sweep_once(
    pool: &PgPool,
    media: &Media,
    settings: &MediaSettings,
) -> anyhow::Result<usize> {
    let grace = i64::try_from(settings.sweep_grace_secs).unwrap_or(i64::MAX);
    let mut deleted = 0;
    for key_text in repository::unused_objects(pool, grace, BATCH).await? {
        let Some(key) = MediaKey::parse(&key_text) else {
            tracing::warn!(key = %key_text, "a stored object has a malformed key; left alone");
            continue;
        };
        let mut tx = pool.begin().await?;
        match repository::delete_unused_object(&mut tx, &key_text, grace).await {
            Ok(true) => {}
            // Used or touched again meanwhile (or an image started to use it
            // while we waited for its row: the foreign key says so).
            Ok(false) | Err(_) => continue,
        }
        media.delete(&key).await?;
        tx.commit().await?;
        deleted += 1;
    }
    if deleted > 0 {
        metrics::counter!("catalog_media_swept_total").increment(deleted as u64);
        tracing::info!(deleted, "swept unused media objects");
    }
    Ok(deleted)
}

/// The periodic sweep's tick: logs its own failure.
pub async fn tick(pool: PgPool, media: Arc<Media>, settings: MediaSettings) {
    if let Err(err) = sweep_once(&pool, &media, &settings).await {
        tracing::warn!(
            error = format!("{err:#}"),
            "the media sweep failed; retrying at the next tick"
        );
    }
}
