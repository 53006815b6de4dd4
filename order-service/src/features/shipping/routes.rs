//! Shipping method endpoints: the public listing customers choose from,
//! and the admin's management.

use axum::extract::State;
use axum::http::StatusCode;
use service_kit::auth::AdminUser;
use service_kit::pagination::PageParams;
use service_kit::{ApiError, Json, Path, Problem, Query, ValidJson};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::models::{
    MethodList, MethodPage, MethodQuery, NewShippingMethod, ShippingMethod, ShippingMethodPatch,
};
use super::service::{self, ShippingError};
use crate::state::AppState;

/// The HTTP meaning of each [`ShippingError`], in one place.
impl From<ShippingError> for ApiError {
    fn from(err: ShippingError) -> Self {
        match err {
            ShippingError::NotFound => ApiError::not_found("No such shipping method."),
            ShippingError::DayRange => ApiError::invalid_field("max_days", err.to_string()),
            ShippingError::Country => ApiError::invalid_field("country", err.to_string()),
            ShippingError::Database(source) => ApiError::database(source),
        }
    }
}

/// Shipping method routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_methods))
        .routes(routes!(admin_list_methods, create_method))
        .routes(routes!(update_method, delete_method))
}

/// The active shipping methods, cheapest first; `?country=` keeps those
/// that ship there.
#[utoipa::path(
    get, path = "/shipping-methods", tag = "shipping", params(MethodQuery),
    responses(
        (status = 200, body = MethodList),
        (status = 422, description = "`country` is not an ISO 3166-1 alpha-2 code", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_methods(
    State(state): State<AppState>,
    Query(query): Query<MethodQuery>,
) -> Result<Json<MethodList>, ApiError> {
    let items = service::list_active(&state, query.country.as_deref()).await?;
    Ok(Json(MethodList { items }))
}

/// Every shipping method, newest first (admin).
#[utoipa::path(
    get, path = "/admin/shipping-methods", tag = "admin", params(PageParams), security(("bearer" = [])),
    responses(
        (status = 200, body = MethodPage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn admin_list_methods(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(page): Query<PageParams>,
) -> Result<Json<MethodPage>, ApiError> {
    let page = service::list_all(&state, page.limit()?, page.position()?).await?;
    Ok(Json(MethodPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Creates a shipping method (admin).
#[utoipa::path(
    post, path = "/admin/shipping-methods", tag = "admin", request_body = NewShippingMethod,
    security(("bearer" = [])),
    responses(
        (status = 201, body = ShippingMethod),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_method(
    State(state): State<AppState>,
    _admin: AdminUser,
    ValidJson(body): ValidJson<NewShippingMethod>,
) -> Result<(StatusCode, Json<ShippingMethod>), ApiError> {
    let method = service::create(&state, body).await?;
    Ok((StatusCode::CREATED, Json(method)))
}

/// Changes a shipping method (admin); orders already placed keep what they
/// were charged.
#[utoipa::path(
    patch, path = "/admin/shipping-methods/{id}", tag = "admin", request_body = ShippingMethodPatch,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 200, body = ShippingMethod),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_method(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
    ValidJson(body): ValidJson<ShippingMethodPatch>,
) -> Result<Json<ShippingMethod>, ApiError> {
    Ok(Json(service::update(&state, id, body).await?))
}

/// Deletes a shipping method (admin): no longer offered; a cart quoting it
/// is asked for another one; orders keep its name.
#[utoipa::path(
    delete, path = "/admin/shipping-methods/{id}", tag = "admin",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_method(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    service::delete(&state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
