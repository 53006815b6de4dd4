//! The HTTP API: the features' routers under `/api/v1`, the internal ones
//! under `/internal/v1`, the JWKS, and the OpenAPI document they describe.

use service_kit::auth::AllowedCallers;
use service_kit::openapi::BearerAuth;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::features;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "user-service", description = "user-service of the e-commerce fleet: identity, tokens, profiles."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts, tokens and passwords"),
        (name = "users", description = "The caller's profile and preferences"),
        (name = "admin", description = "User administration"),
        (name = "internal", description = "For the fleet's services (service tokens)"),
        (name = "ops", description = "Operations endpoints"),
    )
)]
struct ApiDoc;

/// The service's routes with their OpenAPI document.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(
            "/api/v1",
            features::auth::router().merge(features::users::router()),
        )
        .nest(
            "/internal/v1",
            // Contact details: notification-service addresses its messages.
            features::users::internal_router()
                .route_layer(AllowedCallers::only(&["notification-service"])),
        )
        .merge(features::auth::jwks_router())
        .with_state(state)
}
