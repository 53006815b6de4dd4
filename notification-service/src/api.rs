//! The HTTP API: the public routers under `/api/v1`, the internal intake
//! and erasure endpoints (service tokens) under `/internal/v1`, and the
//! OpenAPI document they describe.

use service_kit::auth::AllowedCallers;
use service_kit::openapi::BearerAuth;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::features;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "notification-service", description = "notification-service of the e-commerce fleet: email, SMS and push notifications with preferences and reliable delivery."),
    modifiers(&BearerAuth),
    tags(
        (name = "internal", description = "Notification intake and account erasure for the other services (service tokens only)"),
        (name = "notifications", description = "A user's notification history"),
        (name = "preferences", description = "A user's channels and push subscriptions"),
        (name = "admin", description = "Deliveries and their failures (administrators)"),
        (name = "ops", description = "Operations endpoints")
    )
)]
struct ApiDoc;

/// The service's routes with their OpenAPI document.
pub fn router(state: AppState) -> OpenApiRouter {
    let public = OpenApiRouter::new()
        .merge(features::notifications::router())
        .merge(features::preferences::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", public)
        .nest(
            "/internal/v1",
            // Intake: the outboxes of order-service and user-service;
            // erasure: user-service's `user_deleted`.
            features::notifications::internal_router()
                .route_layer(AllowedCallers::only(&["order-service", "user-service"]))
                .merge(
                    features::erasure::internal_router()
                        .route_layer(AllowedCallers::only(&["user-service"])),
                ),
        )
        .with_state(state)
}
