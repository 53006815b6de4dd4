//! `/internal/v1/notifications` (services), `/api/v1/notifications` (a
//! user's own) and `/api/v1/admin/notifications` (administrators).

use axum::extract::State;
use axum::http::StatusCode;
use service_kit::auth::{AdminUser, AuthUser, ServiceCaller};
use service_kit::pagination::{Page, PageParams};
use service_kit::{ApiError, Json, Path, Problem, Query};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::models::{Accepted, AdminDelivery, AdminFilter, HistoryItem, NewNotification};
use super::service::{self, NotificationError};
use crate::state::AppState;

/// The HTTP meaning of each [`NotificationError`], in one place.
impl From<NotificationError> for ApiError {
    fn from(err: NotificationError) -> Self {
        match err {
            NotificationError::Invalid(errors) => ApiError::validation(errors),
            NotificationError::UnknownUser => ApiError::invalid_field("user_id", err.to_string()),
            NotificationError::Unrenderable => ApiError::invalid_field("data", err.to_string()),
            NotificationError::ContactsUnavailable(cause) => ApiError::unavailable(cause),
            NotificationError::DeliveryNotFound => ApiError::not_found("No delivery with this id."),
            NotificationError::NotResendable => ApiError::conflict(
                "A failed password-reset mail is not sent again; the user can ask for a new reset.",
            )
            .with_kind("delivery-not-resendable"),
            NotificationError::RecipientErased => ApiError::conflict(
                "The recipient's account was deleted; its message is not sent again.",
            )
            .with_kind("delivery-not-resendable"),
            NotificationError::NotFailed(status) => ApiError::conflict(format!(
                "Only failed deliveries can be retried; this one is {status}."
            ))
            .with_kind("delivery-state"),
            NotificationError::Database(source) => ApiError::database(source),
            NotificationError::Vanished => ApiError::internal(err),
        }
    }
}

/// Internal routes (mounted under `/internal/v1`): service tokens only.
pub fn internal_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(accept))
}

/// Public routes (mounted under `/api/v1`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(history))
        .routes(routes!(admin_list))
        .routes(routes!(admin_retry))
}

/// Accepts a notification event: renders it, picks the channels and queues
/// one delivery per channel and target. Idempotent on `event_id`.
#[utoipa::path(
    post, path = "/notifications", tag = "internal", request_body = NewNotification,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued (or the replay of an event already queued)", body = Accepted),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a service token, or not order- or user-service's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown template, missing data or recipient, unknown user", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "user-service is unavailable; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn accept(
    State(state): State<AppState>,
    caller: ServiceCaller,
    Json(request): Json<NewNotification>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let accepted = service::intake(&state, &caller.client_id, request).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// The caller's notifications (one item per delivery), newest first.
#[utoipa::path(
    get, path = "/notifications", tag = "notifications", params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<HistoryItem>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn history(
    State(state): State<AppState>,
    user: AuthUser,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<HistoryItem>>, ApiError> {
    let (limit, before) = (page.limit()?, page.position()?);
    Ok(Json(
        service::history(&state.pool, user.id, limit, before).await?,
    ))
}

/// Every delivery, newest first; `?status=failed` lists the failures.
#[utoipa::path(
    get, path = "/admin/notifications", tag = "admin", params(AdminFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<AdminDelivery>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn admin_list(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(filter): Query<AdminFilter>,
) -> Result<Json<Page<AdminDelivery>>, ApiError> {
    let page = PageParams {
        limit: filter.limit,
        cursor: filter.cursor.clone(),
    };
    let (limit, before) = (page.limit()?, page.position()?);
    Ok(Json(
        service::admin_list(&state.pool, &filter, limit, before).await?,
    ))
}

/// Queues a failed delivery again, with a fresh attempt budget.
#[utoipa::path(
    post, path = "/admin/notifications/{id}/retry", tag = "admin",
    params(("id" = Uuid, Path, description = "A delivery id (from the admin list)")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued again", body = AdminDelivery),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The delivery is not failed (`delivery-state`), or is a password-reset mail or to a deleted account, neither of which is ever sent again (`delivery-not-resendable`)", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn admin_retry(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<AdminDelivery>), ApiError> {
    let delivery = service::retry(&state.pool, id).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}
