//! Discount code endpoints (admin). Customers apply codes through the
//! cart (`PUT /cart/discount`).

use axum::extract::State;
use axum::http::StatusCode;
use service_kit::auth::AdminUser;
use service_kit::pagination::PageParams;
use service_kit::{ApiError, Json, Path, Problem, Query, ValidJson};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::models::{DiscountCode, DiscountCodePage, DiscountCodePatch, NewDiscountCode};
use super::service::{self, DiscountError};
use crate::state::AppState;

/// The HTTP meaning of each [`DiscountError`], in one place.
impl From<DiscountError> for ApiError {
    fn from(err: DiscountError) -> Self {
        match err {
            DiscountError::NotFound => ApiError::not_found("No such discount code."),
            DiscountError::Duplicate => {
                ApiError::conflict("A discount code with this code exists already.")
                    .with_kind("duplicate-code")
            }
            DiscountError::Invalid { field, message } => ApiError::invalid_field(field, message),
            DiscountError::Database(source) => ApiError::database(source),
        }
    }
}

/// Discount code routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_codes, create_code))
        .routes(routes!(update_code))
}

/// Every discount code with its redemptions, newest first (admin).
#[utoipa::path(
    get, path = "/admin/discount-codes", tag = "admin", params(PageParams), security(("bearer" = [])),
    responses(
        (status = 200, body = DiscountCodePage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_codes(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(page): Query<PageParams>,
) -> Result<Json<DiscountCodePage>, ApiError> {
    let page = service::list(&state, page.limit()?, page.position()?).await?;
    Ok(Json(DiscountCodePage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Creates a discount code (admin).
#[utoipa::path(
    post, path = "/admin/discount-codes", tag = "admin", request_body = NewDiscountCode,
    security(("bearer" = [])),
    responses(
        (status = 201, body = DiscountCode),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The code exists already (in any case)", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_code(
    State(state): State<AppState>,
    _admin: AdminUser,
    ValidJson(body): ValidJson<NewDiscountCode>,
) -> Result<(StatusCode, Json<DiscountCode>), ApiError> {
    let code = service::create(&state, body).await?;
    Ok((StatusCode::CREATED, Json(code)))
}

/// Changes a discount code (admin); orders already placed keep what they
/// were charged.
#[utoipa::path(
    patch, path = "/admin/discount-codes/{id}", tag = "admin", request_body = DiscountCodePatch,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 200, body = DiscountCode),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The new code exists already", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_code(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
    ValidJson(body): ValidJson<DiscountCodePatch>,
) -> Result<Json<DiscountCode>, ApiError> {
    Ok(Json(service::update(&state, id, body).await?))
}
