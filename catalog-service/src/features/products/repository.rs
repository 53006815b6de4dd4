//! Product SQL (the listing and search are in `search/`), checked at
//! compile time, except `update`: it stays runtime-built (`QueryBuilder`)
//! because its SET list holds only the fields present in the patch.

use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::models::{NewProduct, Product, ProductPatch};
use crate::features::images::ProductImage;

/// A [`Product`] from a row of the product statements below (every one
/// selects the same columns); `rank` is the listing's to set.
macro_rules! product {
    ($row:expr) => {{
        let row = $row;
        Product {
            id: row.id,
            sku: row.sku,
            name: row.name,
            slug: row.slug,
            description: row.description,
            price_cents: row.price_cents,
            currency: row.currency,
            category_id: row.category_id,
            attributes: row.attributes,
            active: row.active,
            available: row.available,
            images: row.images,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
            rank: None,
        }
    }};
}

/// The columns of a [`Product`] for `update`, whose statement is built at
/// run time; its images come in order, as one JSON array. The same columns
/// are spelt out in each statement checked at compile time.
const PRODUCT_COLUMNS: &str =
    "product_id, sku, name, slug, description, price_cents, currency, category_id,
         attributes, active, on_hand - reserved as available, created_at, updated_at, version,
         coalesce((select jsonb_agg(jsonb_build_object(
                 'id', i.image_id, 'url', '/media/' || i.storage_key,
                 'width', m.width, 'height', m.height, 'alt', i.alt,
                 'position', i.position) order by i.position)
             from product_images i join media_objects m using (storage_key)
             where i.product_id = products.product_id), '[]'::jsonb) as images";

#[tracing::instrument(skip_all)]
pub async fn insert(
    conn: &mut PgConnection,
    product: &NewProduct,
    slug: &str,
) -> sqlx::Result<Product> {
    sqlx::query!(
        r#"insert into products (product_id, sku, name, slug, description, price_cents, currency,
                               category_id, attributes, active, on_hand)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         returning product_id as id, sku, name, slug, description, price_cents, currency, category_id,
         attributes, active, on_hand - reserved as "available!", created_at, updated_at, version,
         coalesce((select jsonb_agg(jsonb_build_object(
                 'id', i.image_id, 'url', '/media/' || i.storage_key,
                 'width', m.width, 'height', m.height, 'alt', i.alt,
                 'position', i.position) order by i.position)
             from product_images i join media_objects m using (storage_key)
             where i.product_id = products.product_id), '[]'::jsonb)
           as "images!: sqlx::types::Json<Vec<ProductImage>>""#,
        Uuid::now_v7(),
        &product.sku,
        &product.name,
        slug,
        &product.description,
        product.price_cents,
        &product.currency,
        product.category_id,
        &product.attributes,
        product.active,
        product.initial_stock,
    )
    .map(|row| product!(row))
    .fetch_one(conn)
    .await
}

/// Records the stock a product was created with in the audit trail.
#[tracing::instrument(skip_all)]
pub async fn record_initial_stock(
    conn: &mut PgConnection,
    product_id: Uuid,
    quantity: i32,
    actor_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into inventory_adjustments
             (adjustment_id, product_id, delta, reason, actor_id, actor, on_hand_after)
         values ($1, $2, $3, 'initial stock', $4, 'admin', $3)",
        Uuid::now_v7(),
        product_id,
        quantity,
        actor_id,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// A product that is not deleted.
#[tracing::instrument(skip_all)]
pub async fn find(pool: &PgPool, product_id: Uuid) -> sqlx::Result<Option<Product>> {
    sqlx::query!(
        r#"select product_id as id, sku, name, slug, description, price_cents, currency, category_id,
         attributes, active, on_hand - reserved as "available!", created_at, updated_at, version,
         coalesce((select jsonb_agg(jsonb_build_object(
                 'id', i.image_id, 'url', '/media/' || i.storage_key,
                 'width', m.width, 'height', m.height, 'alt', i.alt,
                 'position', i.position) order by i.position)
             from product_images i join media_objects m using (storage_key)
             where i.product_id = products.product_id), '[]'::jsonb)
           as "images!: sqlx::types::Json<Vec<ProductImage>>"
         from products where product_id = $1 and deleted_at is null"#,
        product_id,
    )
    .map(|row| product!(row))
    .fetch_optional(pool)
    .await
}

/// The products of `ids` that are not deleted (active or not).
#[tracing::instrument(skip_all)]
pub async fn find_many(pool: &PgPool, ids: &[Uuid]) -> sqlx::Result<Vec<Product>> {
    sqlx::query!(
        r#"select product_id as id, sku, name, slug, description, price_cents, currency, category_id,
         attributes, active, on_hand - reserved as "available!", created_at, updated_at, version,
         coalesce((select jsonb_agg(jsonb_build_object(
                 'id', i.image_id, 'url', '/media/' || i.storage_key,
                 'width', m.width, 'height', m.height, 'alt', i.alt,
                 'position', i.position) order by i.position)
             from product_images i join media_objects m using (storage_key)
             where i.product_id = products.product_id), '[]'::jsonb)
           as "images!: sqlx::types::Json<Vec<ProductImage>>"
         from products where product_id = any($1) and deleted_at is null"#,
        ids,
    )
    .map(|row| product!(row))
    .fetch_all(pool)
    .await
}

/// A product that is not deleted, locked until the transaction ends.
#[tracing::instrument(skip_all)]
pub async fn find_for_update(
    conn: &mut PgConnection,
    product_id: Uuid,
) -> sqlx::Result<Option<Product>> {
    sqlx::query!(
        r#"select product_id as id, sku, name, slug, description, price_cents, currency, category_id,
         attributes, active, on_hand - reserved as "available!", created_at, updated_at, version,
         coalesce((select jsonb_agg(jsonb_build_object(
                 'id', i.image_id, 'url', '/media/' || i.storage_key,
                 'width', m.width, 'height', m.height, 'alt', i.alt,
                 'position', i.position) order by i.position)
             from product_images i join media_objects m using (storage_key)
             where i.product_id = products.product_id), '[]'::jsonb)
           as "images!: sqlx::types::Json<Vec<ProductImage>>"
         from products where product_id = $1 and deleted_at is null for update"#,
        product_id,
    )
    .map(|row| product!(row))
    .fetch_optional(conn)
    .await
}

/// Applies the fields present in `patch` and bumps the version.
#[tracing::instrument(skip_all)]
pub async fn update(
    conn: &mut PgConnection,
    product_id: Uuid,
    patch: &ProductPatch,
) -> sqlx::Result<Product> {
    let mut query = QueryBuilder::<Postgres>::new(
        "update products set version = version + 1, updated_at = now()",
    );
    if let Some(sku) = &patch.sku {
        query.push(", sku = ").push_bind(sku);
    }
    if let Some(name) = &patch.name {
        query.push(", name = ").push_bind(name);
    }
    if let Some(description) = &patch.description {
        query.push(", description = ").push_bind(description);
    }
    if let Some(price_cents) = patch.price_cents {
        query.push(", price_cents = ").push_bind(price_cents);
    }
    if let Some(currency) = &patch.currency {
        query.push(", currency = ").push_bind(currency);
    }
    if let Some(category_id) = patch.category_id {
        query.push(", category_id = ").push_bind(category_id);
    }
    if let Some(attributes) = &patch.attributes {
        query.push(", attributes = ").push_bind(attributes);
    }
    if let Some(slug) = &patch.slug {
        query.push(", slug = ").push_bind(slug);
    }
    if let Some(active) = patch.active {
        query.push(", active = ").push_bind(active);
    }
    query
        .push(" where product_id = ")
        .push_bind(product_id)
        .push(" returning ")
        .push(PRODUCT_COLUMNS);
    query.build_query_as().fetch_one(conn).await
}

/// Soft delete: the row stays (orders and reservations refer to it) but is
/// no longer listed, readable or sellable. False when there was none.
#[tracing::instrument(skip_all)]
pub async fn soft_delete(pool: &PgPool, product_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query!(
        "update products
         set deleted_at = now(), active = false, version = version + 1, updated_at = now()
         where product_id = $1 and deleted_at is null",
        product_id,
    )
    .execute(pool)
    .await
    .map(|done| done.rows_affected() > 0)
}
