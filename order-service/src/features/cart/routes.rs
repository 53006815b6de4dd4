//! Cart endpoints: the signed-in user's own cart.

use axum::extract::State;
use axum::http::StatusCode;
use service_kit::auth::AuthUser;
use service_kit::{ApiError, FieldError, Json, Path, Problem, Query, ValidJson};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::models::{AddItem, ApplyDiscount, Cart, CartQuery, SetQuantity};
use super::service::{self, CartError};
use crate::features::pricing::rules::ShippingProblem;
use crate::state::AppState;

/// The HTTP meaning of each [`CartError`], in one place: what the client
/// sent wrong is a 422 naming the field.
impl From<CartError> for ApiError {
    fn from(err: CartError) -> Self {
        match err {
            CartError::NotSellable | CartError::TooManyLines | CartError::OtherCurrency => {
                ApiError::invalid_field("product_id", err.to_string())
            }
            CartError::TooManyUnits => {
                ApiError::validation(vec![FieldError::new("quantity", err.to_string())])
            }
            CartError::NotInCart => ApiError::not_found("This product is not in the cart."),
            CartError::Country | CartError::Shipping(ShippingProblem::CountryRequired) => {
                ApiError::invalid_field("country", err.to_string())
            }
            CartError::Shipping(_) => {
                ApiError::invalid_field("shipping_method_id", err.to_string())
            }
            CartError::Discount(_) => ApiError::invalid_field("code", err.to_string()),
            CartError::Amounts(_) => ApiError::invalid_field("items", err.to_string()),
            CartError::CatalogUnavailable(cause) => ApiError::unavailable(cause),
            CartError::Database(source) => ApiError::database(source),
        }
    }
}

/// `/cart` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart, clear_cart))
        .routes(routes!(add_item))
        .routes(routes!(update_item, remove_item))
        .routes(routes!(apply_discount, remove_discount))
}

/// The cart, priced with the catalog's current data; `?country=` and
/// `?shipping_method_id=` price shipping and tax as checkout would.
#[utoipa::path(
    get, path = "/cart", tag = "cart", params(CartQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = Cart),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`country` is not a country code (or missing with a method); the method is unknown, deleted, inactive, does not ship there or charges another currency (`shipping_method_id`: choose another)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "catalog-service unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_cart(
    State(state): State<AppState>,
    user: AuthUser,
    Query(query): Query<CartQuery>,
) -> Result<Json<Cart>, ApiError> {
    Ok(Json(service::get(&state, user.id, &query).await?))
}

/// Applies a discount code to the cart (case-insensitive); checkout checks
/// it again.
#[utoipa::path(
    put, path = "/cart/discount", tag = "cart", request_body = ApplyDiscount, security(("bearer" = [])),
    responses(
        (status = 200, body = Cart),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown, inactive, not yet valid, expired, exhausted, already used by this customer, below its minimum subtotal or in another currency: `code` says which", body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn apply_discount(
    State(state): State<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<ApplyDiscount>,
) -> Result<Json<Cart>, ApiError> {
    Ok(Json(
        service::apply_discount(&state, user.id, &body.code).await?,
    ))
}

/// Takes the discount code off the cart (idempotent).
#[utoipa::path(
    delete, path = "/cart/discount", tag = "cart", security(("bearer" = [])),
    responses(
        (status = 200, body = Cart),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn remove_discount(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Cart>, ApiError> {
    Ok(Json(service::remove_discount(&state, user.id).await?))
}

/// Adds units of a product to its line.
#[utoipa::path(
    post, path = "/cart/items", tag = "cart", request_body = AddItem, security(("bearer" = [])),
    responses(
        (status = 200, body = Cart),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown or inactive product, quantity outside 1-99", body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn add_item(
    State(state): State<AppState>,
    user: AuthUser,
    ValidJson(item): ValidJson<AddItem>,
) -> Result<Json<Cart>, ApiError> {
    Ok(Json(service::add(&state, user.id, item).await?))
}

/// Sets a line's quantity.
#[utoipa::path(
    patch, path = "/cart/items/{product_id}", tag = "cart", request_body = SetQuantity,
    params(("product_id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 200, body = Cart),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not in the cart", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_item(
    State(state): State<AppState>,
    user: AuthUser,
    Path(product_id): Path<Uuid>,
    ValidJson(body): ValidJson<SetQuantity>,
) -> Result<Json<Cart>, ApiError> {
    Ok(Json(
        service::set_quantity(&state, user.id, product_id, body.quantity).await?,
    ))
}

/// Removes a line (idempotent).
#[utoipa::path(
    delete, path = "/cart/items/{product_id}", tag = "cart",
    params(("product_id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 200, body = Cart),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn remove_item(
    State(state): State<AppState>,
    user: AuthUser,
    Path(product_id): Path<Uuid>,
) -> Result<Json<Cart>, ApiError> {
    Ok(Json(service::remove(&state, user.id, product_id).await?))
}

/// Empties the cart.
#[utoipa::path(
    delete, path = "/cart", tag = "cart", security(("bearer" = [])),
    responses(
        (status = 204, description = "Emptied"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn clear_cart(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    service::clear(&state, user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
