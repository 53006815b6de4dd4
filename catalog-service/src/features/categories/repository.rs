//! Category SQL, checked at compile time, except `update`: it stays
//! runtime-built (`QueryBuilder`) because its SET list holds only the
//! fields present in the patch.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::models::{Category, CategoryPatch, NewCategory};

const COLUMNS: &str = "category_id, name, slug, parent_id, description, created_at, updated_at";

#[tracing::instrument(skip_all)]
pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<Category>> {
    sqlx::query_as!(
        Category,
        "select category_id as id, name, slug, parent_id, description, created_at, updated_at
         from categories order by name, category_id"
    )
    .fetch_all(pool)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn insert(pool: &PgPool, category: &NewCategory) -> sqlx::Result<Category> {
    sqlx::query_as!(
        Category,
        "insert into categories (category_id, name, slug, parent_id, description)
         values ($1, $2, $3, $4, $5)
         returning category_id as id, name, slug, parent_id, description, created_at, updated_at",
        Uuid::now_v7(),
        &category.name,
        &category.slug,
        category.parent_id,
        &category.description,
    )
    .fetch_one(pool)
    .await
}

/// Serializes every move within the tree, so two concurrent moves cannot
/// build a cycle between them (held until the transaction ends).
#[tracing::instrument(skip_all)]
pub async fn lock_tree(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query!("select pg_advisory_xact_lock(hashtext('catalog.categories.tree'))")
        .fetch_one(conn)
        .await
        .map(|_| ())
}

/// Whether `candidate` is `category_id` itself or one of its descendants.
#[tracing::instrument(skip_all)]
pub async fn is_self_or_descendant(
    conn: &mut PgConnection,
    category_id: Uuid,
    candidate: Uuid,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"with recursive subtree as (
             select category_id from categories where category_id = $1
             union
             select c.category_id from categories c join subtree s on c.parent_id = s.category_id
         )
         select exists (select 1 from subtree where category_id = $2) as "exists!""#,
        category_id,
        candidate,
    )
    .fetch_one(conn)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn update(
    conn: &mut PgConnection,
    category_id: Uuid,
    patch: &CategoryPatch,
) -> sqlx::Result<Option<Category>> {
    let mut query = sqlx::QueryBuilder::new("update categories set updated_at = now()");
    if let Some(name) = &patch.name {
        query.push(", name = ").push_bind(name);
    }
    if let Some(slug) = &patch.slug {
        query.push(", slug = ").push_bind(slug);
    }
    if let Some(parent_id) = patch.parent_id {
        query.push(", parent_id = ").push_bind(parent_id);
    }
    if let Some(description) = &patch.description {
        query.push(", description = ").push_bind(description);
    }
    query
        .push(" where category_id = ")
        .push_bind(category_id)
        .push(" returning ")
        .push(COLUMNS);
    query.build_query_as().fetch_optional(conn).await
}

/// Whether any sellable or unlisted (not deleted) product is in the category.
#[tracing::instrument(skip_all)]
pub async fn has_live_products(conn: &mut PgConnection, category_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from products where category_id = $1 and deleted_at is null) as "exists!""#,
        category_id,
    )
    .fetch_one(conn)
    .await
}

/// Deletes the category (deleted products lose their category); false when
/// there was none.
#[tracing::instrument(skip_all)]
pub async fn delete(conn: &mut PgConnection, category_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query!("delete from categories where category_id = $1", category_id)
        .execute(conn)
        .await
        .map(|done| done.rows_affected() > 0)
}
