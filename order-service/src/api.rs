//! The HTTP API: every feature's router under `/api/v1`, the internal
//! endpoints under `/internal/v1`, and the OpenAPI document they describe.

use service_kit::auth::AllowedCallers;
use service_kit::openapi::BearerAuth;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::features;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "order-service", description = "order-service of the e-commerce fleet: cart, checkout saga, payments, order history."),
    modifiers(&BearerAuth),
    tags(
        (name = "cart", description = "The user's cart, priced from the catalog, with its discount code, shipping and tax"),
        (name = "shipping", description = "Shipping methods customers choose from"),
        (name = "checkout", description = "Checkout (Idempotency-Key required)"),
        (name = "orders", description = "The user's orders"),
        (name = "admin", description = "Order administration; shipping methods, tax rates and discount codes"),
        (name = "payments", description = "Payment provider webhook"),
        (name = "internal", description = "Events from the other services (service tokens only)"),
        (name = "ops", description = "Operations endpoints")
    )
)]
struct ApiDoc;

/// The service's routes with their OpenAPI document: the public API under
/// `/api/v1`, the internal endpoints (service tokens) under `/internal/v1`.
pub fn router(state: AppState) -> OpenApiRouter {
    let public = OpenApiRouter::new()
        .merge(features::cart::router())
        .merge(features::checkout::router(state.checkout_limits.clone()))
        .merge(features::orders::router())
        .merge(features::shipping::router())
        .merge(features::tax::router())
        .merge(features::discounts::router())
        .merge(features::payments::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", public)
        .nest(
            "/internal/v1",
            // user-service's `user_deleted` only.
            features::erasure::internal_router()
                .route_layer(AllowedCallers::only(&["user-service"])),
        )
        .with_state(state)
}
