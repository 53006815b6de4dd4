//! Discount code SQL. Redemptions are written by the checkout saga's own
//! statements (`checkout/repository.rs`); a trigger keeps each code's
//! `redemptions` equal to its redemption rows.

use sqlx::PgPool;
use uuid::Uuid;

use super::models::{DiscountCode, DiscountCodePatch, DiscountKind, NewDiscountCode};

/// Codes are unique (upper-case).
pub const CODE_KEY: &str = "discount_codes_code_key";
/// `kind`, `value` and `currency` agree.
pub const VALUE_CHECK: &str = "discount_codes_value_check";
/// `starts_at < ends_at`.
pub const WINDOW_CHECK: &str = "discount_codes_window_check";
/// `redemptions <= max_redemptions`.
pub const MAX_REDEMPTIONS_CHECK: &str = "discount_codes_redemptions_within_max";
/// One redemption per customer of a once-per-customer code.
pub const ONCE_PER_CUSTOMER_KEY: &str = "discount_redemptions_once_per_customer_key";

/// Creates a code (`code` already upper-case).
#[tracing::instrument(skip_all)]
pub async fn insert(pool: &PgPool, code: &NewDiscountCode) -> sqlx::Result<DiscountCode> {
    sqlx::query_as!(
        DiscountCode,
        r#"insert into discount_codes (discount_code_id, code, kind, value, currency,
             min_subtotal_cents, starts_at, ends_at, max_redemptions, once_per_customer, active)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         returning discount_code_id as id, code, kind as "kind: DiscountKind", value, currency,
                min_subtotal_cents, starts_at, ends_at, max_redemptions, once_per_customer,
                active, redemptions, created_at, updated_at"#,
        Uuid::now_v7(),
        &code.code,
        code.kind as DiscountKind,
        code.value,
        code.currency.as_deref(),
        code.min_subtotal_cents,
        code.starts_at,
        code.ends_at,
        code.max_redemptions,
        code.once_per_customer,
        code.active.unwrap_or(true),
    )
    .fetch_one(pool)
    .await
}

/// Splits a PATCH field into "set it?" and the new value.
fn clearable<T: Clone>(field: &Option<Option<T>>) -> (bool, Option<T>) {
    match field {
        None => (false, None),
        Some(value) => (true, value.clone()),
    }
}

/// Changes the fields `patch` names (`code` already upper-case); `None`
/// when there is no such code. The table's checks judge the result.
#[tracing::instrument(skip_all)]
pub async fn update(
    pool: &PgPool,
    id: Uuid,
    patch: &DiscountCodePatch,
) -> sqlx::Result<Option<DiscountCode>> {
    let currency = clearable(&patch.currency);
    let minimum = clearable(&patch.min_subtotal_cents);
    let starts = clearable(&patch.starts_at);
    let ends = clearable(&patch.ends_at);
    let max = clearable(&patch.max_redemptions);
    sqlx::query_as!(
        DiscountCode,
        r#"update discount_codes set
             code = coalesce($2, code),
             kind = coalesce($3, kind),
             value = coalesce($4, value),
             currency = case when $5 then $6 else currency end,
             min_subtotal_cents = case when $7 then $8 else min_subtotal_cents end,
             starts_at = case when $9 then $10 else starts_at end,
             ends_at = case when $11 then $12 else ends_at end,
             max_redemptions = case when $13 then $14 else max_redemptions end,
             once_per_customer = coalesce($15, once_per_customer),
             active = coalesce($16, active),
             updated_at = now()
         where discount_code_id = $1
         returning discount_code_id as id, code, kind as "kind: DiscountKind", value, currency,
                min_subtotal_cents, starts_at, ends_at, max_redemptions, once_per_customer,
                active, redemptions, created_at, updated_at"#,
        id,
        patch.code.as_deref(),
        patch.kind as Option<DiscountKind>,
        patch.value,
        currency.0,
        currency.1,
        minimum.0,
        minimum.1,
        starts.0,
        starts.1,
        ends.0,
        ends.1,
        max.0,
        max.1,
        patch.once_per_customer,
        patch.active,
    )
    .fetch_optional(pool)
    .await
}

/// A page of codes, newest first.
#[tracing::instrument(skip_all)]
pub async fn list(
    pool: &PgPool,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<DiscountCode>> {
    sqlx::query_as!(
        DiscountCode,
        r#"select discount_code_id as id, code, kind as "kind: DiscountKind", value, currency,
                min_subtotal_cents, starts_at, ends_at, max_redemptions, once_per_customer,
                active, redemptions, created_at, updated_at
         from discount_codes where ($1::uuid is null or discount_code_id < $1)
         order by discount_code_id desc limit $2"#,
        before,
        limit,
    )
    .fetch_all(pool)
    .await
}

/// The code spelled `code` (upper-case), and whether `user_id` already
/// holds a redemption of it.
#[tracing::instrument(skip_all)]
pub async fn find_for_user(
    pool: &PgPool,
    code: &str,
    user_id: Uuid,
) -> sqlx::Result<Option<(DiscountCode, bool)>> {
    sqlx::query!(
        r#"select discount_code_id as id, code, kind as "kind: DiscountKind", value, currency,
                min_subtotal_cents, starts_at, ends_at, max_redemptions, once_per_customer,
                active, redemptions, created_at, updated_at,
                exists (select 1 from discount_redemptions r
                        where r.discount_code_id = c.discount_code_id and r.user_id = $2) as "used!"
         from discount_codes c where code = $1"#,
        code,
        user_id,
    )
    .map(|row| {
        let code = DiscountCode {
            id: row.id,
            code: row.code,
            kind: row.kind,
            value: row.value,
            currency: row.currency,
            min_subtotal_cents: row.min_subtotal_cents,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            max_redemptions: row.max_redemptions,
            once_per_customer: row.once_per_customer,
            active: row.active,
            redemptions: row.redemptions,
            created_at: row.created_at,
            updated_at: row.updated_at,
        };
        (code, row.used)
    })
    .fetch_optional(pool)
    .await
}
