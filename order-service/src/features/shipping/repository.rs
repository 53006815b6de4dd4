//! Shipping method SQL. Deleted methods stay as rows (orders name them)
//! with `deleted_at` set; nothing here returns them.

use sqlx::PgPool;
use uuid::Uuid;

use super::models::{NewShippingMethod, PUBLIC_LIST_LIMIT, ShippingMethod, ShippingMethodPatch};

/// The check that a method's `min_days <= max_days`.
pub const DAYS_CONSTRAINT: &str = "shipping_methods_days_check";

/// Creates a method (`countries` already normalized).
#[tracing::instrument(skip_all)]
pub async fn insert(pool: &PgPool, method: &NewShippingMethod) -> sqlx::Result<ShippingMethod> {
    sqlx::query_as!(
        ShippingMethod,
        "insert into shipping_methods (shipping_method_id, name, price_cents, currency,
                                       free_over_cents, min_days, max_days, countries, active)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         returning shipping_method_id as id, name, price_cents, currency, free_over_cents, min_days,
                max_days, countries, active, created_at, updated_at",
        Uuid::now_v7(),
        &method.name,
        method.price_cents,
        &method.currency,
        method.free_over_cents,
        method.min_days,
        method.max_days,
        &method.countries,
        method.active.unwrap_or(true),
    )
    .fetch_one(pool)
    .await
}

/// Changes the fields `patch` names; `None` when there is no such method.
#[tracing::instrument(skip_all)]
pub async fn update(
    pool: &PgPool,
    id: Uuid,
    patch: &ShippingMethodPatch,
) -> sqlx::Result<Option<ShippingMethod>> {
    let (set_free_over, free_over) = match patch.free_over_cents {
        None => (false, None),
        Some(value) => (true, value),
    };
    sqlx::query_as!(
        ShippingMethod,
        "update shipping_methods set
             name = coalesce($2, name),
             price_cents = coalesce($3, price_cents),
             currency = coalesce($4, currency),
             free_over_cents = case when $5 then $6 else free_over_cents end,
             min_days = coalesce($7, min_days),
             max_days = coalesce($8, max_days),
             countries = coalesce($9, countries),
             active = coalesce($10, active),
             updated_at = now()
         where shipping_method_id = $1 and deleted_at is null
         returning shipping_method_id as id, name, price_cents, currency, free_over_cents, min_days,
                max_days, countries, active, created_at, updated_at",
        id,
        patch.name.as_deref(),
        patch.price_cents,
        patch.currency.as_deref(),
        set_free_over,
        free_over,
        patch.min_days,
        patch.max_days,
        patch.countries.as_deref(),
        patch.active,
    )
    .fetch_optional(pool)
    .await
}

/// Deletes a method (it is kept for the orders that name it, never offered
/// again); false when there is no such method.
#[tracing::instrument(skip_all)]
pub async fn delete(pool: &PgPool, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query!(
        "update shipping_methods set deleted_at = now(), active = false, updated_at = now()
         where shipping_method_id = $1 and deleted_at is null",
        id,
    )
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Active methods, optionally only those shipping to `country`, cheapest
/// first.
#[tracing::instrument(skip_all)]
pub async fn list_active(
    pool: &PgPool,
    country: Option<&str>,
) -> sqlx::Result<Vec<ShippingMethod>> {
    sqlx::query_as!(
        ShippingMethod,
        "select shipping_method_id as id, name, price_cents, currency, free_over_cents, min_days,
                max_days, countries, active, created_at, updated_at
         from shipping_methods
         where deleted_at is null and active
           and ($1::text is null or countries @> array[$1::text])
         order by price_cents, name, shipping_method_id
         limit $2",
        country,
        PUBLIC_LIST_LIMIT,
    )
    .fetch_all(pool)
    .await
}

/// A page of every method that is not deleted, newest first.
#[tracing::instrument(skip_all)]
pub async fn list_all(
    pool: &PgPool,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<ShippingMethod>> {
    sqlx::query_as!(
        ShippingMethod,
        "select shipping_method_id as id, name, price_cents, currency, free_over_cents, min_days,
                max_days, countries, active, created_at, updated_at
         from shipping_methods
         where deleted_at is null and ($1::uuid is null or shipping_method_id < $1)
         order by shipping_method_id desc limit $2",
        before,
        limit,
    )
    .fetch_all(pool)
    .await
}
