//! `/notification-preferences` and `/push-subscriptions` (the user's own).

use axum::extract::State;
use axum::http::StatusCode;
use service_kit::auth::AuthUser;
use service_kit::{ApiError, Json, Path, Problem, ValidJson};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::models::{NewPushSubscription, Preferences, PushSubscription, PushSubscriptions};
use super::service::{self, PreferenceError};
use crate::state::AppState;

/// The HTTP meaning of each [`PreferenceError`], in one place.
impl From<PreferenceError> for ApiError {
    fn from(err: PreferenceError) -> Self {
        match err {
            PreferenceError::SubscriptionNotFound => {
                ApiError::not_found("No push subscription with this id.")
            }
            PreferenceError::Database(source) => ApiError::database(source),
        }
    }
}

/// The routes (mounted under `/api/v1`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_preferences, put_preferences))
        .routes(routes!(list_subscriptions, subscribe))
        .routes(routes!(unsubscribe))
}

/// The caller's notification preferences (defaults until set).
#[utoipa::path(
    get, path = "/notification-preferences", tag = "preferences",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Preferences),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_preferences(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Preferences>, ApiError> {
    Ok(Json(service::preferences(&state.pool, user.id).await?))
}

/// Replaces the caller's preferences (all four booleans). Password-reset
/// mail is sent whatever they say.
#[utoipa::path(
    put, path = "/notification-preferences", tag = "preferences", request_body = Preferences,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Preferences),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn put_preferences(
    State(state): State<AppState>,
    user: AuthUser,
    Json(preferences): Json<Preferences>,
) -> Result<Json<Preferences>, ApiError> {
    Ok(Json(
        service::set_preferences(&state.pool, user.id, preferences).await?,
    ))
}

/// The caller's push subscriptions, newest first (tokens are not shown).
#[utoipa::path(
    get, path = "/push-subscriptions", tag = "preferences",
    security(("bearer" = [])),
    responses(
        (status = 200, body = PushSubscriptions),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_subscriptions(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<PushSubscriptions>, ApiError> {
    let items = service::subscriptions(&state.pool, user.id).await?;
    Ok(Json(PushSubscriptions { items }))
}

/// Subscribes a device of the caller to push notifications; the same token
/// again returns the same subscription. A user has at most 20 devices: one
/// more replaces the oldest.
#[utoipa::path(
    post, path = "/push-subscriptions", tag = "preferences", request_body = NewPushSubscription,
    security(("bearer" = [])),
    responses(
        (status = 201, body = PushSubscription),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn subscribe(
    State(state): State<AppState>,
    user: AuthUser,
    ValidJson(request): ValidJson<NewPushSubscription>,
) -> Result<(StatusCode, Json<PushSubscription>), ApiError> {
    let subscription = service::subscribe(&state.pool, user.id, request).await?;
    Ok((StatusCode::CREATED, Json(subscription)))
}

/// Removes one of the caller's push subscriptions.
#[utoipa::path(
    delete, path = "/push-subscriptions/{id}", tag = "preferences", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription of the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn unsubscribe(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    service::unsubscribe(&state.pool, user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
