//! Category rules: unique slugs, a tree without cycles, no deletion while
//! products remain.

use axum::http::StatusCode;
use service_kit::{ApiError, FieldError};
use sqlx::PgPool;
use uuid::Uuid;

use super::models::{Category, CategoryPatch, NewCategory};
use super::repository;
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
}

impl CategoryError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::DuplicateSlug | Self::HasProducts | Self::HasChildren => StatusCode::CONFLICT,
            Self::UnknownParent | Self::Cycle => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

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

impl From<CategoryError> for ApiError {
    fn from(err: CategoryError) -> Self {
        match err.status_code() {
            StatusCode::INTERNAL_SERVER_ERROR => ApiError::internal(err),
            StatusCode::UNPROCESSABLE_ENTITY => {
                ApiError::validation(vec![FieldError::new("parent_id", err.to_string())])
            }
            StatusCode::CONFLICT if matches!(err, CategoryError::DuplicateSlug) => {
                ApiError::conflict(err.to_string()).with_kind("duplicate-slug")
            }
            status => ApiError::new(status, err.to_string()),
        }
    }
}

/// Every category.
pub async fn list(pool: &PgPool) -> Result<Vec<Category>, CategoryError> {
    Ok(repository::list(pool).await?)
}

/// One category.
pub async fn get(pool: &PgPool, category_id: Uuid) -> Result<Category, CategoryError> {
    repository::find(pool, category_id)
        .await?
        .ok_or(CategoryError::NotFound)
}

/// Creates a category (under an existing parent, if any).
pub async fn create(pool: &PgPool, category: NewCategory) -> Result<Category, CategoryError> {
    repository::insert(pool, &category)
        .await
        .map_err(CategoryError::from_write)
}

/// Changes the fields present in `patch`; a move never creates a cycle.
pub async fn update(
    pool: &PgPool,
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
    Ok(category)
}

/// Deletes a category that has neither products nor subcategories.
pub async fn delete(pool: &PgPool, category_id: Uuid) -> Result<(), CategoryError> {
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
    Ok(())
}
