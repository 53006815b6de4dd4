//! The HTTP API: the public routers under `/api/v1`, the internal ones
//! (service tokens) under `/internal/v1`, and the OpenAPI document they
//! describe.

use service_kit::auth::AllowedCallers;
use service_kit::openapi::BearerAuth;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::features;
use crate::media;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "catalog-service", description = "catalog-service of the e-commerce fleet: categories, products and their images, search, inventory and stock reservations."),
    modifiers(&BearerAuth),
    tags(
        (name = "categories", description = "The category tree"),
        (name = "products", description = "Products, listing and search"),
        (name = "inventory", description = "Stock and its audit trail"),
        (name = "internal", description = "Stock reservations for order-service (service tokens only)"),
        (name = "media", description = "Product images and their renditions (content-addressed, immutable)"),
        (name = "ops", description = "Operations endpoints")
    )
)]
struct ApiDoc;

/// The service's routes with their OpenAPI document.
pub fn router(state: AppState) -> OpenApiRouter {
    let public = OpenApiRouter::new()
        .merge(features::categories::router())
        .merge(features::products::router())
        .merge(features::images::router())
        .merge(features::inventory::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", public)
        .merge(media::routes::router())
        .nest(
            "/internal/v1",
            // Stock reservations and restocks: order-service's checkout and cancel.
            features::reservations::router().route_layer(AllowedCallers::only(&["order-service"])),
        )
        .with_state(state)
}
