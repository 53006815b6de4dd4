//! Category rules: unique slugs, a tree without cycles, no deletion while
//! products remain. The tree is read from the cache; every write drops it
//! once committed (the other replicas hear of it from the database).

use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

use super::models::{Category, CategoryPatch, CategoryTree, NewCategory};
use super::repository;
use crate::cache::Caches;
use crate::features::violated_constraint;

/// What can go wrong with categories.
#[derive(Debug, thiserror::Error)]
pub enum CategoryError {
    /// No such category.
    #[error("category not found")]
    NotFound,
    /// Another category has the slug.
    #[error("a category with this slug already exists")]
    DuplicateSlug,
    /// The parent does not exist.
    #[error("the parent category does not exist")]
    UnknownParent,
    /// The new parent is the category or one of its descendants.
    #[error("a category cannot be moved under itself or one of its descendants")]
    Cycle,
    /// Products (not deleted) are still in the category.
    #[error("the category still has products; move or delete them first")]
    HasProducts,
    /// Subcategories are still under the category.
    #[error("the category still has subcategories; move or delete them first")]
    HasChildren,
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The tree could not be serialized.
    #[error("cannot encode the categories")]
    Encoding(#[from] serde_json::Error),
}

impl CategoryError {
    /// Maps the constraints a write can violate to their meaning.
    fn from_write(err: sqlx::Error) -> Self {
        match violated_constraint(&err) {
            Some("categories_slug_key") => Self::DuplicateSlug,
            Some("categories_parent_id_fkey") => Self::UnknownParent,
            Some("categories_not_own_parent") => Self::Cycle,
            _ => Self::Database(err),
        }
    }
}

/// Every category (from the cache when it holds the tree).
pub async fn tree(pool: &PgPool, caches: &Caches) -> Result<Arc<CategoryTree>, CategoryError> {
    let cache = &caches.categories;
    if let Some(tree) = cache.get(&()).await {
        return Ok(tree);
    }
    let ticket = cache.ticket(&());
    let tree = Arc::new(CategoryTree::new(repository::list(pool).await?)?);
    cache.insert((), Arc::clone(&tree), ticket).await;
    Ok(tree)
}

/// One category (from the cached tree).
pub async fn get(
    pool: &PgPool,
    caches: &Caches,
    category_id: Uuid,
) -> Result<Category, CategoryError> {
    tree(pool, caches)
        .await?
        .items
        .iter()
        .find(|category| category.id == category_id)
        .cloned()
        .ok_or(CategoryError::NotFound)
}

/// Creates a category (under an existing parent, if any).
pub async fn create(
    pool: &PgPool,
    caches: &Caches,
    category: NewCategory,
) -> Result<Category, CategoryError> {
    let created = repository::insert(pool, &category)
        .await
        .map_err(CategoryError::from_write)?;
    caches.invalidate_categories().await;
    Ok(created)
}

/// Changes the fields present in `patch`; a move never creates a cycle.
pub async fn update(
    pool: &PgPool,
    caches: &Caches,
    category_id: Uuid,
    patch: CategoryPatch,
) -> Result<Category, CategoryError> {
    let mut tx = pool.begin().await?;
    if let Some(Some(parent_id)) = patch.parent_id {
        repository::lock_tree(&mut tx).await?;
        if repository::is_self_or_descendant(&mut tx, category_id, parent_id).await? {
            return Err(CategoryError::Cycle);
        }
    }
    let category = repository::update(&mut tx, category_id, &patch)
        .await
        .map_err(CategoryError::from_write)?
        .ok_or(CategoryError::NotFound)?;
    tx.commit().await?;
    caches.invalidate_categories().await;
    Ok(category)
}

/// Deletes a category that has neither products nor subcategories.
pub async fn delete(
    pool: &PgPool,
    caches: &Caches,
    category_id: Uuid,
) -> Result<(), CategoryError> {
    let mut tx = pool.begin().await?;
    if repository::has_live_products(&mut tx, category_id).await? {
        return Err(CategoryError::HasProducts);
    }
    let deleted = repository::delete(&mut tx, category_id)
        .await
        .map_err(|err| match violated_constraint(&err) {
            Some("categories_parent_id_fkey") => CategoryError::HasChildren,
            // A product was created in the category meanwhile.
            Some("products_live_have_category") => CategoryError::HasProducts,
            _ => CategoryError::Database(err),
        })?;
    if !deleted {
        return Err(CategoryError::NotFound);
    }
    tx.commit().await?;
    caches.invalidate_categories().await;
    Ok(())
}
