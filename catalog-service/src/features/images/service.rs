//! Image rules: an upload is checked and re-encoded before anything is
//! stored; a product has at most `media.max_images_per_product` images, at
//! positions 0, 1, 2... without gaps; every change drops the product's
//! cached representation on every replica (the product's version is
//! bumped in the same transaction, so its ETag changes too).

use bytes::Bytes;
use sqlx::PgPool;
use uuid::Uuid;

use super::models::{Image, ImagePatch};
use super::repository;
use crate::cache::Caches;
use crate::features::violated_constraint;
use crate::media::codec::{Format, Rejection};
use crate::media::{Media, MediaError};

/// What can go wrong with images.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No such product (or it was deleted).
    #[error("product not found")]
    ProductNotFound,
    /// The product has no image with this id.
    #[error("image not found")]
    ImageNotFound,
    /// The bytes are not an acceptable image.
    #[error(transparent)]
    Rejected(Rejection),
    /// The product has as many images as allowed.
    #[error("a product has at most {max} images")]
    TooManyImages {
        /// The limit.
        max: i64,
    },
    /// Storing or processing failed.
    #[error("media error")]
    Media(#[source] MediaError),
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl From<MediaError> for ImageError {
    fn from(err: MediaError) -> Self {
        match err {
            MediaError::Rejected(rejection) => Self::Rejected(rejection),
            other => Self::Media(other),
        }
    }
}

/// An uploaded file, as received.
#[derive(Debug)]
pub struct Upload {
    /// The bytes (at most the upload limit).
    pub data: Bytes,
    /// The declared format.
    pub format: Format,
    /// Alternative text.
    pub alt: String,
}

/// Checks, re-encodes and stores an image, and appends it to the product's
/// gallery.
pub async fn upload(
    pool: &PgPool,
    caches: &Caches,
    media: &Media,
    product_id: Uuid,
    upload: Upload,
    max_images: i64,
) -> Result<Image, ImageError> {
    // Before the expensive part: no decoding for a product that is not there.
    if !repository::product_exists(pool, product_id).await? {
        return Err(ImageError::ProductNotFound);
    }
    let processed = media.process(upload.data, upload.format).await?;
    let key = media.store(&processed).await?;
    let key_text = key.to_string();
    let size = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    // The object is recorded (or touched) before it is used: the sweep
    // leaves a touched object alone for its grace period.
    let touch = || {
        repository::touch_object(
            pool,
            &key_text,
            processed.format.content_type(),
            size(processed.bytes.len()),
            size(processed.width as usize),
            size(processed.height as usize),
        )
    };
    touch().await?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = pool.begin().await?;
        if !repository::lock_product(&mut tx, product_id).await? {
            return Err(ImageError::ProductNotFound);
        }
        let count = repository::images_of(&mut tx, product_id).await?.len();
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        if count >= max_images {
            return Err(ImageError::TooManyImages { max: max_images });
        }
        let inserted = repository::insert_image(
            &mut tx,
            product_id,
            &key_text,
            &upload.alt,
            i32::try_from(count).unwrap_or(i32::MAX),
        )
        .await;
        let image = match inserted {
            Ok(image) => image,
            // The sweep removed the object's row in between (only possible
            // with no grace period): record and store it again.
            Err(err)
                if attempt < 3
                    && violated_constraint(&err) == Some("product_images_storage_key_fkey") =>
            {
                drop(tx);
                media.store(&processed).await?;
                touch().await?;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        repository::bump_product(&mut tx, product_id).await?;
        tx.commit().await?;
        caches.invalidate_products([product_id]).await;
        return Ok(image);
    }
}

/// Sets an image's alt text and/or moves it in the gallery.
pub async fn update(
    pool: &PgPool,
    caches: &Caches,
    product_id: Uuid,
    image_id: Uuid,
    patch: ImagePatch,
) -> Result<Image, ImageError> {
    let mut tx = pool.begin().await?;
    if !repository::lock_product(&mut tx, product_id).await? {
        return Err(ImageError::ProductNotFound);
    }
    let images = repository::images_of(&mut tx, product_id).await?;
    let Some(current) = images.iter().position(|image| image.id == image_id) else {
        return Err(ImageError::ImageNotFound);
    };
    if patch.alt.is_none() && patch.position.is_none() {
        return Ok(images[current].clone());
    }
    if let Some(alt) = &patch.alt {
        repository::set_alt(&mut tx, image_id, alt).await?;
    }
    if let Some(position) = patch.position {
        let mut order: Vec<Uuid> = images.iter().map(|image| image.id).collect();
        let moved = order.remove(current);
        let to = usize::try_from(position).unwrap_or(0).min(order.len());
        order.insert(to, moved);
        repository::renumber(&mut tx, &order).await?;
    }
    repository::bump_product(&mut tx, product_id).await?;
    let updated = repository::images_of(&mut tx, product_id)
        .await?
        .into_iter()
        .find(|image| image.id == image_id)
        .ok_or(ImageError::ImageNotFound)?;
    tx.commit().await?;
    caches.invalidate_products([product_id]).await;
    Ok(updated)
}

/// Removes an image from its product at once; the stored object is left to
/// the sweep (another image may use it).
pub async fn delete(
    pool: &PgPool,
    caches: &Caches,
    product_id: Uuid,
    image_id: Uuid,
) -> Result<(), ImageError> {
    let mut tx = pool.begin().await?;
    if !repository::lock_product(&mut tx, product_id).await? {
        return Err(ImageError::ProductNotFound);
    }
    if !repository::delete_image(&mut tx, product_id, image_id).await? {
        return Err(ImageError::ImageNotFound);
    }
    let remaining: Vec<Uuid> = repository::images_of(&mut tx, product_id)
        .await?
        .iter()
        .map(|image| image.id)
        .collect();
    repository::renumber(&mut tx, &remaining).await?;
    repository::bump_product(&mut tx, product_id).await?;
    tx.commit().await?;
    caches.invalidate_products([product_id]).await;
    Ok(())
}
