//! Inventory endpoints: anyone reads the stock; admins adjust it.

use axum::extract::State;
use service_kit::auth::AdminUser;
use service_kit::pagination::{Page, PageParams};
use service_kit::{ApiError, Json, Path, Problem, Query, ValidJson};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::models::{Adjustment, Inventory, NewAdjustment};
use super::service::{self, InventoryError};
use crate::state::AppState;

impl From<InventoryError> for ApiError {
    fn from(err: InventoryError) -> Self {
        match err {
            InventoryError::Database(source) => ApiError::database(source),
            InventoryError::NotFound => ApiError::not_found(err.to_string()),
            InventoryError::BelowReserved | InventoryError::Overflow => {
                ApiError::conflict(err.to_string()).with_kind("insufficient-stock")
            }
        }
    }
}

/// `/products/{id}/inventory` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_inventory))
        .routes(routes!(adjust_inventory, list_adjustments))
}

/// A product's stock: on hand, reserved, available.
#[utoipa::path(
    get, path = "/products/{id}/inventory", tag = "inventory", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Inventory),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_inventory(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<Inventory>, ApiError> {
    Ok(Json(service::get(&state.pool, id).await?))
}

/// Adjusts on hand (admin) with a reason kept in the audit trail; 409 when on hand would fall below reserved.
#[utoipa::path(
    post, path = "/products/{id}/inventory/adjustments", tag = "inventory",
    params(("id" = Uuid, Path)), request_body = NewAdjustment, security(("bearer" = [])),
    responses(
        (status = 200, body = Inventory),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn adjust_inventory(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<Uuid>,
    ValidJson(adjustment): ValidJson<NewAdjustment>,
) -> Result<Json<Inventory>, ApiError> {
    Ok(Json(
        service::adjust(&state.pool, &state.caches, id, adjustment, admin.id).await?,
    ))
}

/// The product's stock audit trail (admin), newest first.
#[utoipa::path(
    get, path = "/products/{id}/inventory/adjustments", tag = "inventory",
    params(("id" = Uuid, Path), PageParams), security(("bearer" = [])),
    responses(
        (status = 200, body = Page<Adjustment>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_adjustments(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Adjustment>>, ApiError> {
    let limit = page.limit()?;
    Ok(Json(
        service::adjustments(&state.pool, id, page.position()?, limit).await?,
    ))
}
