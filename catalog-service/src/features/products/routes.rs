//! Product endpoints: anyone reads and lists, admins write.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use service_kit::auth::AdminUser;
use service_kit::pagination::Page;
use service_kit::{ApiError, FieldError, Json, Path, Problem, Query, ValidJson};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::models::{NewProduct, Product, ProductPatch, ProductQuery};
use super::search::{self, Catalog, SearchError};
use super::service::{self, IfMatch, ProductError};
use crate::state::AppState;

impl From<ProductError> for ApiError {
    fn from(err: ProductError) -> Self {
        match err {
            ProductError::Database(source) => ApiError::database(source),
            ProductError::Encoding(_) => ApiError::internal(err),
            ProductError::NotFound => ApiError::not_found(err.to_string()),
            ProductError::UnknownCategory => {
                ApiError::validation(vec![FieldError::new("category_id", err.to_string())])
            }
            ProductError::DuplicateSku => {
                ApiError::conflict(err.to_string()).with_kind("duplicate-sku")
            }
            ProductError::DuplicateSlug => {
                ApiError::conflict(err.to_string()).with_kind("duplicate-slug")
            }
            ProductError::PreconditionFailed => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, err.to_string())
            }
        }
    }
}

impl From<SearchError> for ApiError {
    fn from(err: SearchError) -> Self {
        match err {
            SearchError::Lookup(err) => err.into(),
            SearchError::Database(source) => ApiError::database(source),
        }
    }
}

/// `/products` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product, delete_product))
}

/// Active products: filters, sorts, keyset pages, full-text and typo-tolerant search.
#[utoipa::path(
    get, path = "/products", tag = "products", params(ProductQuery),
    responses(
        (status = 200, body = Page<Product>),
        (status = 422, description = "A bad filter, sort, limit or cursor, named in `errors`", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_products(
    State(state): State<AppState>,
    Query(query): Query<ProductQuery>,
) -> Result<Json<Page<Product>>, ApiError> {
    let (filter, limit) = query.parse().map_err(ApiError::validation)?;
    let catalog = Catalog {
        pool: &state.search_pool,
        lookup_pool: &state.pool,
        caches: &state.caches,
        memory: &state.search_memory,
        settings: &state.settings.search,
    };
    Ok(Json(search::list(catalog, filter, limit).await?))
}

/// Creates a product (admin), with its initial stock.
#[utoipa::path(
    post, path = "/products", tag = "products", request_body = NewProduct,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Product, headers(("ETag" = String), ("Location" = String))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Duplicate SKU or slug", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_product(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ValidJson(product): ValidJson<NewProduct>,
) -> Result<Response, ApiError> {
    let product = service::create(&state.pool, &state.caches, product, admin.id).await?;
    let location = HeaderValue::from_str(&format!("/api/v1/products/{}", product.id))
        .map_err(ApiError::internal)?;
    let etag = etag_header(&product);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location), (header::ETAG, etag)],
        Json(product),
    )
        .into_response())
}

/// One product, with its `ETag`; `If-None-Match` naming it gives 304.
#[utoipa::path(
    get, path = "/products/{id}", tag = "products", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Product, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the `If-None-Match` ETag"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_product(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let entry = service::get(&state.pool, &state.caches, id).await?;
    let etag = HeaderValue::from_str(&entry.etag).map_err(ApiError::internal)?;
    if if_none_match(&headers, &entry.etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    // The body was serialized once, when the representation was read.
    let json = HeaderValue::from_static("application/json");
    Ok((
        [(header::CONTENT_TYPE, json), (header::ETAG, etag)],
        entry.body.clone(),
    )
        .into_response())
}

/// Changes a product (admin); `If-Match` with a stale ETag gives 412.
#[utoipa::path(
    patch, path = "/products/{id}", tag = "products", params(("id" = Uuid, Path)),
    request_body = ProductPatch, security(("bearer" = [])),
    responses(
        (status = 200, body = Product, headers(("ETag" = String))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Duplicate SKU or slug", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale `If-Match`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_product(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    ValidJson(patch): ValidJson<ProductPatch>,
) -> Result<Response, ApiError> {
    let product =
        service::update(&state.pool, &state.caches, id, patch, if_match(&headers)).await?;
    let etag = etag_header(&product);
    Ok(([(header::ETAG, etag)], Json(product)).into_response())
}

/// Soft-deletes a product (admin): no longer listed, readable or sellable.
#[utoipa::path(
    delete, path = "/products/{id}", tag = "products", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 204),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_product(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    service::delete(&state.pool, &state.caches, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `ETag` header of `product` (digits and quotes: always a valid value).
fn etag_header(product: &Product) -> HeaderValue {
    HeaderValue::from_str(&product.etag()).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// The entity tags listed in the (possibly repeated) `name` headers.
fn entity_tags(headers: &HeaderMap, name: header::HeaderName) -> Option<Vec<String>> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return None;
    }
    Some(
        values
            .iter()
            .flat_map(|v| v.split(','))
            .map(|tag| tag.trim().to_owned())
            .filter(|tag| !tag.is_empty())
            .collect(),
    )
}

/// `If-None-Match` uses the weak comparison (RFC 9110 13.1.2).
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    entity_tags(headers, header::IF_NONE_MATCH).is_some_and(|tags| {
        tags.iter()
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
    })
}

fn if_match(headers: &HeaderMap) -> Option<IfMatch> {
    entity_tags(headers, header::IF_MATCH).map(|tags| {
        if tags.iter().any(|tag| tag == "*") {
            IfMatch::Any
        } else {
            IfMatch::Tags(tags)
        }
    })
}
