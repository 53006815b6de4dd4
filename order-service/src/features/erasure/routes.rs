//! `POST /internal/v1/user-deletions` (user-service's outbox).

use axum::extract::State;
use axum::http::StatusCode;
use service_kit::auth::ServiceCaller;
use service_kit::outbox::{USER_SERVICE, UserDeleted};
use service_kit::{ApiError, Json, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service::{self, ErasureError};
use crate::state::AppState;

/// Internal routes (mounted under `/internal/v1`): service tokens only.
pub fn internal_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(user_deleted))
}

impl From<ErasureError> for ApiError {
    fn from(err: ErasureError) -> Self {
        match err {
            ErasureError::Database(source) => ApiError::database(source),
        }
    }
}

/// The `user_deleted` event: erases the account's cart, the shipping
/// addresses of its orders (the orders are kept), its stored checkout
/// answers and its undelivered notification events. Idempotent on
/// `event_id`: a redelivery answers 204 and changes nothing.
#[utoipa::path(
    post, path = "/user-deletions", tag = "internal", request_body = UserDeleted,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Erased (or a redelivery of an event already applied)"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not user-service's service token", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn user_deleted(
    State(state): State<AppState>,
    caller: ServiceCaller,
    Json(event): Json<UserDeleted>,
) -> Result<StatusCode, ApiError> {
    // Only user-service deletes accounts. (When the kit's ServiceCaller
    // takes the allowed client ids of a route, declare user-service there.)
    if caller.client_id != USER_SERVICE {
        return Err(ApiError::forbidden(
            "Only user-service reports deleted accounts.",
        ));
    }
    service::user_deleted(&state.pool, &event).await?;
    Ok(StatusCode::NO_CONTENT)
}
