//! What a quote reads besides the cart: the chosen shipping method, whether
//! any method ships to the destination, and its tax rate (one statement).

use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use crate::features::shipping::models::ShippingMethod;

/// The destination's shipping and tax facts.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    /// The requested method, unless unknown or deleted.
    pub method: Option<ShippingMethod>,
    /// Whether an active method ships to the country.
    pub any_ships: bool,
    /// The country's tax rate (0 without one).
    pub rate_bps: i32,
}

/// Reads [`Destination`] for `country` and the requested method.
#[tracing::instrument(skip_all)]
pub async fn destination(
    pool: &PgPool,
    country: &str,
    method_id: Option<Uuid>,
) -> sqlx::Result<Destination> {
    let row = sqlx::query!(
        r#"select
             (select row_to_json(m) from (
                  select shipping_method_id as id, name, price_cents, currency, free_over_cents,
                         min_days, max_days, countries, active, created_at, updated_at
                  from shipping_methods where shipping_method_id = $2 and deleted_at is null) m)
                 as "method?: Json<ShippingMethod>",
             exists (select 1 from shipping_methods
                     where deleted_at is null and active and countries @> array[$1::text])
                 as "any_ships!",
             coalesce((select rate_bps from tax_rates where country = $1), 0) as "rate_bps!""#,
        country,
        method_id,
    )
    .fetch_one(pool)
    .await?;
    Ok(Destination {
        method: row.method.map(|Json(m)| m),
        any_ships: row.any_ships,
        rate_bps: row.rate_bps,
    })
}
