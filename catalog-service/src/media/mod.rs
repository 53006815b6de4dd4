//! Product media: checked, re-encoded images in object storage, addressed
//! by the hash of their bytes, and their resized WebP renditions.
//!
//! Storage is [`object_store`]'s `ObjectStore` trait, with two backends: the
//! local filesystem (`media.backend = "filesystem"`, the default for
//! development and tests) and S3-compatible object storage
//! (`media.backend = "s3"`). Objects are laid out as
//! `originals/<sha256>.<ext>` and `renditions/<sha256>-w<width>.webp`.
//!
//! Decoding and encoding are CPU-bound: they run on the blocking pool, at
//! most `media.decode_concurrency` at a time, each within
//! `media.max_decode_bytes` of memory.

pub mod codec;
pub mod routes;

use anyhow::Context;
use bytes::Bytes;
use moka::future::Cache;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::sync::Semaphore;

use crate::config::{MediaBackend, MediaSettings};
use codec::{Format, Processed, Rejection};

/// The widths renditions are made at (`?w=`).
pub const RENDITION_WIDTHS: [u32; 3] = [200, 400, 800];

/// A content-addressed media key: `<sha256 of the stored bytes>.<ext>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MediaKey {
    hash: String,
    format: Format,
}

impl MediaKey {
    /// The key of stored bytes.
    pub fn of(bytes: &[u8], format: Format) -> Self {
        Self {
            hash: hex::encode(Sha256::digest(bytes)),
            format,
        }
    }

    /// Parses a key as it appears in a URL; anything else is `None`.
    pub fn parse(key: &str) -> Option<Self> {
        let (hash, extension) = key.split_once('.')?;
        let hex_ok = hash.len() == 64
            && hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return None;
        }
        Some(Self {
            hash: hash.to_owned(),
            format: Format::from_extension(extension)?,
        })
    }

    /// The format of the stored bytes.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The hash of the stored bytes.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Where the original is stored.
    fn original(&self) -> ObjectPath {
        ObjectPath::from(format!("originals/{self}"))
    }

    /// Where the rendition `width` px wide is stored.
    fn rendition(&self, width: u32) -> ObjectPath {
        ObjectPath::from(format!("renditions/{}-w{width}.webp", self.hash))
    }
}

impl std::fmt::Display for MediaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.hash, self.format.extension())
    }
}

/// What can go wrong with media.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The bytes are not an acceptable image.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// No object under this key.
    #[error("no media with this key")]
    NotFound,
    /// The object store failed.
    #[error("object storage error")]
    Storage(#[from] object_store::Error),
    /// A blocking task failed (panicked or was cancelled).
    #[error("image processing failed")]
    Task(#[from] tokio::task::JoinError),
}

/// The media store, the bounded cache of served objects, and the bound on
/// concurrent decoding. Cheap to clone.
#[derive(Clone)]
pub struct Media {
    store: Arc<dyn ObjectStore>,
    served: Cache<ObjectPath, Bytes>,
    decoding: Arc<Semaphore>,
    max_decode_bytes: u64,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("store", &self.store.to_string())
            .finish()
    }
}

impl Media {
    /// Opens the configured backend (the filesystem directory is created
    /// if missing).
    pub fn open(settings: &MediaSettings) -> anyhow::Result<Self> {
        let store: Arc<dyn ObjectStore> = match settings.backend {
            MediaBackend::Filesystem => {
                std::fs::create_dir_all(&settings.path)
                    .with_context(|| format!("creating media.path {}", settings.path))?;
                Arc::new(
                    LocalFileSystem::new_with_prefix(&settings.path)
                        .with_context(|| format!("opening media.path {}", settings.path))?,
                )
            }
            MediaBackend::S3 => {
                let s3 = &settings.s3;
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_access_key_id(s3.access_key_id.expose_secret())
                    .with_secret_access_key(s3.secret_access_key.expose_secret())
                    .with_allow_http(s3.allow_http);
                if !s3.endpoint.is_empty() {
                    builder = builder.with_endpoint(&s3.endpoint);
                }
                Arc::new(builder.build().context("configuring media.s3")?)
            }
        };
        Ok(Self::with_store(store, settings))
    }

    /// Media over any object store.
    pub fn with_store(store: Arc<dyn ObjectStore>, settings: &MediaSettings) -> Self {
        let served = Cache::builder()
            .name("media")
            .max_capacity(settings.cache_bytes)
            .weigher(|_: &ObjectPath, bytes: &Bytes| u32::try_from(bytes.len()).unwrap_or(u32::MAX))
            .build();
        Self {
            store,
            served,
            decoding: Arc::new(Semaphore::new(settings.decode_concurrency.max(1))),
            max_decode_bytes: settings.max_decode_bytes,
        }
    }

    /// Checks and re-encodes uploaded bytes (on the blocking pool, within
    /// the concurrency bound).
    pub async fn process(&self, data: Bytes, declared: Format) -> Result<Processed, MediaError> {
        let max = self.max_decode_bytes;
        let processed = self
            .blocking(move || codec::process(&data, declared, max))
            .await??;
        Ok(processed)
    }

    /// Stores processed bytes under their key, unless already there (the
    /// same image uploaded twice is stored once).
    pub async fn store(&self, processed: &Processed) -> Result<MediaKey, MediaError> {
        let key = MediaKey::of(&processed.bytes, processed.format);
        let path = key.original();
        match self.store.head(&path).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => {
                self.store
                    .put(&path, PutPayload::from(processed.bytes.clone()))
                    .await?;
            }
            Err(err) => return Err(err.into()),
        }
        Ok(key)
    }

    /// The original's bytes.
    pub async fn original(&self, key: &MediaKey) -> Result<Bytes, MediaError> {
        let path = key.original();
        let store = Arc::clone(&self.store);
        self.served
            .try_get_with(path.clone(), async move { read(&*store, &path).await })
            .await
            .map_err(unshare)
    }

    /// The WebP rendition `width` px wide, made from the original (once:
    /// concurrent first requests wait for one making) and stored beside
    /// it on first request.
    pub async fn rendition(&self, key: &MediaKey, width: u32) -> Result<Bytes, MediaError> {
        let path = key.rendition(width);
        let this = self.clone();
        let key = key.clone();
        self.served
            .try_get_with(path.clone(), async move {
                match read(&*this.store, &path).await {
                    Err(MediaError::NotFound) => {}
                    found => return found,
                }
                let original = read(&*this.store, &key.original()).await?;
                let (format, max) = (key.format(), this.max_decode_bytes);
                let made = this
                    .blocking(move || codec::rendition(&original, format, width, max))
                    .await??;
                let made = Bytes::from(made);
                this.store
                    .put(&path, PutPayload::from(made.clone()))
                    .await?;
                Ok(made)
            })
            .await
            .map_err(unshare)
    }

    /// Deletes an original and its renditions (absent ones are no error).
    pub async fn delete(&self, key: &MediaKey) -> Result<(), MediaError> {
        let paths = std::iter::once(key.original())
            .chain(RENDITION_WIDTHS.iter().map(|w| key.rendition(*w)));
        for path in paths {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(err) => return Err(err.into()),
            }
            self.served.invalidate(&path).await;
        }
        Ok(())
    }

    /// Whether the original of `key` is stored.
    pub async fn exists(&self, key: &MediaKey) -> Result<bool, MediaError> {
        match self.store.head(&key.original()).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// Runs CPU-bound work on the blocking pool, at most
    /// `decode_concurrency` at a time.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        // The semaphore is never closed.
        let _permit = self.decoding.acquire().await;
        tokio::task::spawn_blocking(work).await
    }
}

async fn read(store: &dyn ObjectStore, path: &ObjectPath) -> Result<Bytes, MediaError> {
    match store.get(path).await {
        Ok(found) => Ok(found.bytes().await?),
        Err(object_store::Error::NotFound { .. }) => Err(MediaError::NotFound),
        Err(err) => Err(err.into()),
    }
}

/// The error of a shared (coalesced) load, for the one caller.
fn unshare(err: Arc<MediaError>) -> MediaError {
    match &*err {
        MediaError::NotFound => MediaError::NotFound,
        MediaError::Rejected(rejection) => MediaError::Rejected(rejection.clone()),
        _ => Arc::try_unwrap(err).unwrap_or_else(|shared| {
            MediaError::Storage(object_store::Error::Generic {
                store: "media",
                source: shared.to_string().into(),
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_lower_case_sha256_with_a_known_extension() {
        let key = MediaKey::of(b"bytes", Format::Png);
        let text = key.to_string();
        assert!(text.ends_with(".png") && text.len() == 68, "{text}");
        assert_eq!(MediaKey::parse(&text), Some(key));
        assert_eq!(MediaKey::parse(&text.to_uppercase()), None);
        assert_eq!(MediaKey::parse(&text.replace(".png", ".gif")), None);
        assert_eq!(MediaKey::parse("../../etc/passwd"), None);
        assert_eq!(MediaKey::parse(""), None);
    }
}
