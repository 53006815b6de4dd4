//! Category endpoints: anyone reads, admins write.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use service_kit::auth::AdminUser;
use service_kit::{ApiError, FieldError, Json, Path, Problem, ValidJson};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::models::{Category, CategoryList, CategoryPatch, NewCategory};
use super::service::{self, CategoryError};
use crate::state::AppState;

impl From<CategoryError> for ApiError {
    fn from(err: CategoryError) -> Self {
        match err {
            CategoryError::Database(source) => ApiError::database(source),
            CategoryError::Encoding(_) => ApiError::internal(err),
            CategoryError::NotFound => ApiError::not_found(err.to_string()),
            CategoryError::UnknownParent | CategoryError::Cycle => {
                ApiError::validation(vec![FieldError::new("parent_id", err.to_string())])
            }
            CategoryError::DuplicateSlug => {
                ApiError::conflict(err.to_string()).with_kind("duplicate-slug")
            }
            CategoryError::HasProducts | CategoryError::HasChildren => {
                ApiError::conflict(err.to_string())
            }
        }
    }
}

/// `/categories` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_categories, create_category))
        .routes(routes!(get_category, update_category, delete_category))
}

/// Every category, as a flat list whose `parent_id`s form the tree.
#[utoipa::path(
    get, path = "/categories", tag = "categories",
    responses((status = 200, body = CategoryList))
)]
async fn list_categories(State(state): State<AppState>) -> Result<Response, ApiError> {
    let tree = service::tree(&state.pool, &state.caches).await?;
    // The body was serialized once, when the tree was read.
    let json = HeaderValue::from_static("application/json");
    Ok(([(header::CONTENT_TYPE, json)], tree.body.clone()).into_response())
}

/// Creates a category (admin).
#[utoipa::path(
    post, path = "/categories", tag = "categories", request_body = NewCategory,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Category),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Duplicate slug", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_category(
    State(state): State<AppState>,
    _admin: AdminUser,
    ValidJson(category): ValidJson<NewCategory>,
) -> Result<(StatusCode, Json<Category>), ApiError> {
    let category = service::create(&state.pool, &state.caches, category).await?;
    Ok((StatusCode::CREATED, Json(category)))
}

/// One category.
#[utoipa::path(
    get, path = "/categories/{id}", tag = "categories", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Category),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_category(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<Category>, ApiError> {
    Ok(Json(service::get(&state.pool, &state.caches, id).await?))
}

/// Changes a category (admin); moving it under itself or a descendant is 422.
#[utoipa::path(
    patch, path = "/categories/{id}", tag = "categories", params(("id" = Uuid, Path)),
    request_body = CategoryPatch, security(("bearer" = [])),
    responses(
        (status = 200, body = Category),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Duplicate slug", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_category(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
    ValidJson(patch): ValidJson<CategoryPatch>,
) -> Result<Json<Category>, ApiError> {
    Ok(Json(
        service::update(&state.pool, &state.caches, id, patch).await?,
    ))
}

/// Deletes a category (admin); 409 while it still has products or subcategories.
#[utoipa::path(
    delete, path = "/categories/{id}", tag = "categories", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 204),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_category(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    service::delete(&state.pool, &state.caches, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
