//! The HTTP API: every feature's router under `/api/v1`, and the OpenAPI
//! document they describe.

use service_kit::openapi::BearerAuth;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "notification-service", description = "notification-service of the e-commerce fleet."),
    modifiers(&BearerAuth),
    tags((name = "ops", description = "Operations endpoints"))
)]
struct ApiDoc;

/// The service's routes with their OpenAPI document.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).with_state(state)
}
