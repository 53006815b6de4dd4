//! Image SQL.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::models::Image;

/// Whether a product exists and is not deleted.
#[tracing::instrument(skip_all)]
pub async fn product_exists(pool: &PgPool, product_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from products where product_id = $1 and deleted_at is null) as "exists!""#,
        product_id,
    )
    .fetch_one(pool)
    .await
}

/// Records a stored object, or touches it (restarting the sweep's grace
/// period) when it is already recorded.
#[tracing::instrument(skip_all)]
pub async fn touch_object(
    pool: &PgPool,
    key: &str,
    content_type: &str,
    bytes: i32,
    width: i32,
    height: i32,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into media_objects (storage_key, content_type, bytes, width, height)
         values ($1, $2, $3, $4, $5)
         on conflict (storage_key) do update set updated_at = now()",
        key,
        content_type,
        bytes,
        width,
        height,
    )
    .execute(pool)
    .await
    .map(|_| ())
}

/// Locks a product that is not deleted until the transaction ends (image
/// writes of one product take turns); false when there is none.
#[tracing::instrument(skip_all)]
pub async fn lock_product(conn: &mut PgConnection, product_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        "select 1 from products where product_id = $1 and deleted_at is null for update",
        product_id,
    )
    .fetch_optional(conn)
    .await
    .map(|row| row.is_some())
}

/// The product's images, in order.
#[tracing::instrument(skip_all)]
pub async fn images_of(conn: &mut PgConnection, product_id: Uuid) -> sqlx::Result<Vec<Image>> {
    sqlx::query_as!(
        Image,
        r#"select i.image_id as id, '/media/' || i.storage_key as "url!", m.width, m.height,
                  m.content_type, m.bytes, i.alt, i.position
           from product_images i join media_objects m using (storage_key)
          where i.product_id = $1 order by i.position"#,
        product_id,
    )
    .fetch_all(conn)
    .await
}

/// Adds an image at `position`.
#[tracing::instrument(skip_all)]
pub async fn insert_image(
    conn: &mut PgConnection,
    product_id: Uuid,
    key: &str,
    alt: &str,
    position: i32,
) -> sqlx::Result<Image> {
    sqlx::query_as!(
        Image,
        r#"with i as (
             insert into product_images (image_id, product_id, storage_key, alt, position)
             values ($1, $2, $3, $4, $5)
             returning *)
         select i.image_id as id, '/media/' || i.storage_key as "url!", m.width, m.height,
                m.content_type, m.bytes, i.alt, i.position
           from i join media_objects m using (storage_key)"#,
        Uuid::now_v7(),
        product_id,
        key,
        alt,
        position,
    )
    .fetch_one(conn)
    .await
}

/// Sets an image's alt text.
#[tracing::instrument(skip_all)]
pub async fn set_alt(conn: &mut PgConnection, image_id: Uuid, alt: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update product_images set alt = $2, updated_at = now() where image_id = $1",
        image_id,
        alt,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Gives the images of `ids` the positions 0, 1, 2... in that order (the
/// unique constraint is checked at commit).
#[tracing::instrument(skip_all)]
pub async fn renumber(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query!(
        "update product_images i set position = o.n - 1, updated_at = now()
         from unnest($1::uuid[]) with ordinality as o(image_id, n)
         where i.image_id = o.image_id and i.position <> o.n - 1",
        ids,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Removes an image of a product; false when there was none.
#[tracing::instrument(skip_all)]
pub async fn delete_image(
    conn: &mut PgConnection,
    product_id: Uuid,
    image_id: Uuid,
) -> sqlx::Result<bool> {
    sqlx::query!(
        "delete from product_images where image_id = $1 and product_id = $2",
        image_id,
        product_id,
    )
    .execute(conn)
    .await
    .map(|done| done.rows_affected() > 0)
}

/// Marks the product changed: a new version (its ETag changes) and, through
/// the products trigger, a notification that drops it from every replica's
/// cache at commit.
#[tracing::instrument(skip_all)]
pub async fn bump_product(conn: &mut PgConnection, product_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "update products set version = version + 1, updated_at = now() where product_id = $1",
        product_id,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Stored objects no image uses, untouched for `grace_secs`, oldest first.
#[tracing::instrument(skip_all)]
pub async fn unused_objects(
    pool: &PgPool,
    grace_secs: i64,
    limit: i64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "select storage_key from media_objects m
         where updated_at < now() - make_interval(secs => $1)
           and not exists (select 1 from product_images i where i.storage_key = m.storage_key)
         order by updated_at
         limit $2",
        grace_secs as f64,
        limit,
    )
    .fetch_all(pool)
    .await
}

/// Deletes the row of a stored object if it is still unused and untouched
/// (it stays locked until the transaction ends); false otherwise.
#[tracing::instrument(skip_all)]
pub async fn delete_unused_object(
    conn: &mut PgConnection,
    key: &str,
    grace_secs: i64,
) -> sqlx::Result<bool> {
    sqlx::query!(
        "delete from media_objects m
         where storage_key = $1
           and updated_at < now() - make_interval(secs => $2)
           and not exists (select 1 from product_images i where i.storage_key = m.storage_key)",
        key,
        grace_secs as f64,
    )
    .execute(conn)
    .await
    .map(|done| done.rows_affected() > 0)
}
