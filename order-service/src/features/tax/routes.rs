//! Tax rate endpoints (admin).

use axum::extract::State;
use service_kit::auth::AdminUser;
use service_kit::{ApiError, Json, Path, Problem, ValidJson};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::models::{SetTaxRate, TaxRate, TaxRateList};
use super::service::{self, TaxError};
use crate::state::AppState;

/// The HTTP meaning of each [`TaxError`], in one place.
impl From<TaxError> for ApiError {
    fn from(err: TaxError) -> Self {
        match err {
            TaxError::Country => ApiError::invalid_field("country", err.to_string()),
            TaxError::Database(source) => ApiError::database(source),
        }
    }
}

/// Tax rate routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rates))
        .routes(routes!(set_rate))
}

/// Every country's tax rate (admin); a country not listed is taxed at 0.
#[utoipa::path(
    get, path = "/admin/tax-rates", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, body = TaxRateList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_rates(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<TaxRateList>, ApiError> {
    Ok(Json(TaxRateList {
        items: service::list(&state).await?,
    }))
}

/// Sets a country's tax rate (admin); orders already placed keep theirs.
#[utoipa::path(
    put, path = "/admin/tax-rates/{country}", tag = "admin", request_body = SetTaxRate,
    params(("country" = String, Path, description = "ISO 3166-1 alpha-2")), security(("bearer" = [])),
    responses(
        (status = 200, body = TaxRate),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a country code, or a rate outside 0-10000", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn set_rate(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(country): Path<String>,
    ValidJson(body): ValidJson<SetTaxRate>,
) -> Result<Json<TaxRate>, ApiError> {
    Ok(Json(service::set(&state, &country, body.rate_bps).await?))
}
