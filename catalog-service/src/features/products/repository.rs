//! Product SQL (the listing and search are in `search/`).

use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::models::{NewProduct, Product, ProductPatch};

/// The columns of a [`Product`], as a literal so that statements stay
/// `&'static str`; its images come in order, as one JSON array.
macro_rules! product_columns {
    () => {
        concat!(
            "product_id, sku, name, slug, description, price_cents, currency, category_id, \
         attributes, active, on_hand - reserved as available, created_at, updated_at, version, ",
            images_column!("products")
        )
    };
}

/// The `images` column of a [`Product`] whose row is `$table`: its images
/// in gallery order, as one JSON array.
macro_rules! images_column {
    ($table:literal) => {
        concat!(
            "coalesce((select jsonb_agg(jsonb_build_object(\
                 'id', i.image_id, 'url', '/media/' || i.storage_key, \
                 'width', m.width, 'height', m.height, 'alt', i.alt, \
                 'position', i.position) order by i.position) \
             from product_images i join media_objects m using (storage_key) \
             where i.product_id = ",
            $table,
            ".product_id), '[]'::jsonb) as images"
        )
    };
}

#[tracing::instrument(skip_all)]
pub async fn insert(
    conn: &mut PgConnection,
    product: &NewProduct,
    slug: &str,
) -> sqlx::Result<Product> {
    sqlx::query_as(concat!(
        "insert into products (product_id, sku, name, slug, description, price_cents, currency,
                               category_id, attributes, active, on_hand)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         returning ",
        product_columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(&product.sku)
    .bind(&product.name)
    .bind(slug)
    .bind(&product.description)
    .bind(product.price_cents)
    .bind(&product.currency)
    .bind(product.category_id)
    .bind(&product.attributes)
    .bind(product.active)
    .bind(product.initial_stock)
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
    sqlx::query(
        "insert into inventory_adjustments
             (adjustment_id, product_id, delta, reason, actor_id, actor, on_hand_after)
         values ($1, $2, $3, 'initial stock', $4, 'admin', $3)",
    )
    .bind(Uuid::now_v7())
    .bind(product_id)
    .bind(quantity)
    .bind(actor_id)
    .execute(conn)
    .await
    .map(|_| ())
}

/// A product that is not deleted.
#[tracing::instrument(skip_all)]
pub async fn find(pool: &PgPool, product_id: Uuid) -> sqlx::Result<Option<Product>> {
    sqlx::query_as(concat!(
        "select ",
        product_columns!(),
        " from products where product_id = $1 and deleted_at is null"
    ))
    .bind(product_id)
    .fetch_optional(pool)
    .await
}

/// The products of `ids` that are not deleted (active or not).
#[tracing::instrument(skip_all)]
pub async fn find_many(pool: &PgPool, ids: &[Uuid]) -> sqlx::Result<Vec<Product>> {
    sqlx::query_as(concat!(
        "select ",
        product_columns!(),
        " from products where product_id = any($1) and deleted_at is null"
    ))
    .bind(ids)
    .fetch_all(pool)
    .await
}

/// A product that is not deleted, locked until the transaction ends.
#[tracing::instrument(skip_all)]
pub async fn find_for_update(
    conn: &mut PgConnection,
    product_id: Uuid,
) -> sqlx::Result<Option<Product>> {
    sqlx::query_as(concat!(
        "select ",
        product_columns!(),
        " from products where product_id = $1 and deleted_at is null for update"
    ))
    .bind(product_id)
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
        .push(concat!(" returning ", product_columns!()));
    query.build_query_as().fetch_one(conn).await
}

/// Soft delete: the row stays (orders and reservations refer to it) but is
/// no longer listed, readable or sellable. False when there was none.
#[tracing::instrument(skip_all)]
pub async fn soft_delete(pool: &PgPool, product_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query(
        "update products
         set deleted_at = now(), active = false, version = version + 1, updated_at = now()
         where product_id = $1 and deleted_at is null",
    )
    .bind(product_id)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() > 0)
}
