//! Product rules: unique SKUs and slugs, soft delete, optimistic
//! concurrency. Reads by id come from the cache; every write drops the
//! entry of the product it changed once committed (the other replicas hear
//! of it from the database).

use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

use super::models::{NewProduct, Product, ProductEntry, ProductPatch};
use super::repository;
use crate::cache::Caches;
use crate::features::{slugify, violated_constraint};

/// What can go wrong with products.
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    /// No such product (or it was deleted).
    #[error("product not found")]
    NotFound,
    /// Another product has the SKU.
    #[error("a product with this sku already exists")]
    DuplicateSku,
    /// Another product has the slug.
    #[error("a product with this slug already exists")]
    DuplicateSlug,
    /// The category does not exist.
    #[error("the category does not exist")]
    UnknownCategory,
    /// `If-Match` names a version that is no longer current.
    #[error("the product changed since it was read; fetch it again and retry")]
    PreconditionFailed,
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A product could not be serialized.
    #[error("cannot encode the product")]
    Encoding(#[from] serde_json::Error),
}

impl ProductError {
    fn from_write(err: sqlx::Error) -> Self {
        match violated_constraint(&err) {
            Some("products_sku_key") => Self::DuplicateSku,
            Some("products_slug_key") => Self::DuplicateSlug,
            Some("products_category_id_fkey") => Self::UnknownCategory,
            _ => Self::Database(err),
        }
    }
}

/// The entity tags of an `If-Match` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current representation.
    Any,
    /// Quoted strong tags.
    Tags(Vec<String>),
}

impl IfMatch {
    fn matches(&self, etag: &str) -> bool {
        match self {
            Self::Any => true,
            // If-Match uses the strong comparison: weak tags never match.
            Self::Tags(tags) => tags.iter().any(|tag| tag == etag),
        }
    }
}

/// Creates a product, recording its initial stock in the audit trail.
pub async fn create(
    pool: &PgPool,
    caches: &Caches,
    product: NewProduct,
    actor_id: Uuid,
) -> Result<Product, ProductError> {
    let slug = match &product.slug {
        Some(slug) => slug.clone(),
        None => default_slug(&product.name, &product.sku),
    };
    let mut tx = pool.begin().await?;
    let created = repository::insert(&mut tx, &product, &slug)
        .await
        .map_err(ProductError::from_write)?;
    if product.initial_stock > 0 {
        repository::record_initial_stock(&mut tx, created.id, product.initial_stock, actor_id)
            .await?;
    }
    tx.commit().await?;
    caches.invalidate_products([created.id]).await;
    Ok(created)
}

/// A product that is not deleted, as served (from the cache when it holds
/// it).
pub async fn get(
    pool: &PgPool,
    caches: &Caches,
    product_id: Uuid,
) -> Result<Arc<ProductEntry>, ProductError> {
    let cache = &caches.products;
    if let Some(entry) = cache.get(&product_id).await {
        return Ok(entry);
    }
    let ticket = cache.ticket(&product_id);
    let product = repository::find(pool, product_id)
        .await?
        .ok_or(ProductError::NotFound)?;
    let entry = Arc::new(ProductEntry::new(product)?);
    cache.insert(product_id, Arc::clone(&entry), ticket).await;
    Ok(entry)
}

/// The products of `ids` that are not deleted (active or not), in no
/// particular order: those the cache holds, and the others in one query.
pub async fn lookup(
    pool: &PgPool,
    caches: &Caches,
    ids: &[Uuid],
) -> Result<Vec<Arc<ProductEntry>>, ProductError> {
    let cache = &caches.products;
    let mut found = Vec::with_capacity(ids.len());
    let mut missing = HashMap::new();
    for id in ids {
        match cache.get(id).await {
            Some(entry) => found.push(entry),
            None => {
                missing.insert(*id, cache.ticket(id));
            }
        }
    }
    if missing.is_empty() {
        return Ok(found);
    }
    let missing_ids: Vec<Uuid> = missing.keys().copied().collect();
    for product in repository::find_many(pool, &missing_ids).await? {
        let id = product.id;
        let entry = Arc::new(ProductEntry::new(product)?);
        if let Some(ticket) = missing.get(&id) {
            cache.insert(id, Arc::clone(&entry), *ticket).await;
        }
        found.push(entry);
    }
    Ok(found)
}

/// Changes the fields present in `patch`, provided the product is still the
/// one `if_match` names.
pub async fn update(
    pool: &PgPool,
    caches: &Caches,
    product_id: Uuid,
    patch: ProductPatch,
    if_match: Option<IfMatch>,
) -> Result<Product, ProductError> {
    let mut tx = pool.begin().await?;
    let current = repository::find_for_update(&mut tx, product_id)
        .await?
        .ok_or(ProductError::NotFound)?;
    if if_match.is_some_and(|tags| !tags.matches(&current.etag())) {
        return Err(ProductError::PreconditionFailed);
    }
    if patch.is_empty() {
        return Ok(current);
    }
    let updated = repository::update(&mut tx, product_id, &patch)
        .await
        .map_err(ProductError::from_write)?;
    tx.commit().await?;
    caches.invalidate_products([product_id]).await;
    Ok(updated)
}

/// Soft-deletes a product.
pub async fn delete(pool: &PgPool, caches: &Caches, product_id: Uuid) -> Result<(), ProductError> {
    if repository::soft_delete(pool, product_id).await? {
        caches.invalidate_products([product_id]).await;
        Ok(())
    } else {
        Err(ProductError::NotFound)
    }
}

/// `brass-desk-lamp-lmp-001`: readable, and unique because the SKU is.
fn default_slug(name: &str, sku: &str) -> String {
    let name = slugify(name);
    let sku = slugify(sku);
    match (name.is_empty(), sku.is_empty()) {
        (false, false) => format!("{name}-{sku}"),
        (true, false) => sku,
        (false, true) => name,
        (true, true) => "product".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_slugs_join_name_and_sku() {
        assert_eq!(
            default_slug("Brass Desk Lamp", "LMP-001"),
            "brass-desk-lamp-lmp-001"
        );
        assert_eq!(default_slug("Ωμέγα", "X_1"), "x-1");
    }

    #[test]
    fn if_match_is_a_strong_comparison() {
        let tags = IfMatch::Tags(vec!["\"3.7\"".into()]);
        assert!(tags.matches("\"3.7\""));
        assert!(!tags.matches("\"3.8\""));
        assert!(IfMatch::Any.matches("\"1.0\""));
    }
}
