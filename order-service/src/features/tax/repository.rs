//! Tax rate SQL.

use sqlx::PgPool;

use super::models::TaxRate;

/// Sets a country's rate (creating it).
#[tracing::instrument(skip_all)]
pub async fn upsert(pool: &PgPool, country: &str, rate_bps: i32) -> sqlx::Result<TaxRate> {
    sqlx::query_as!(
        TaxRate,
        "insert into tax_rates (country, rate_bps) values ($1, $2)
         on conflict (country) do update set rate_bps = excluded.rate_bps, updated_at = now()
         returning country, rate_bps, updated_at",
        country,
        rate_bps,
    )
    .fetch_one(pool)
    .await
}

/// Every rate, by country (at most 26 x 26 rows: the codes are two letters).
#[tracing::instrument(skip_all)]
pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<TaxRate>> {
    sqlx::query_as!(
        TaxRate,
        "select country, rate_bps, updated_at from tax_rates order by country"
    )
    .fetch_all(pool)
    .await
}
