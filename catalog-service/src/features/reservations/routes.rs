//! Internal reservation endpoints: service tokens only.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use service_kit::auth::ServiceCaller;
use service_kit::error::PROBLEM_JSON;
use service_kit::{ApiError, Json, Path, Problem, ValidJson};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::models::{NewReservation, NewRestock, Reservation, Restock, ShortItem};
use super::service::{self, ReservationError};
use crate::state::AppState;

impl From<ReservationError> for ApiError {
    fn from(err: ReservationError) -> Self {
        match err {
            ReservationError::NotFound => ApiError::not_found(err.to_string()),
            // The route renders this one itself, listing the short items.
            ReservationError::Short(_) => {
                ApiError::conflict(err.to_string()).with_kind("insufficient-stock")
            }
            ReservationError::IdReused(field) => ApiError::invalid_field(field, err.to_string()),
            ReservationError::TtlTooLong(_) => {
                ApiError::invalid_field("ttl_seconds", err.to_string())
            }
            ReservationError::WrongState(_) => {
                ApiError::conflict(err.to_string()).with_kind("reservation-state")
            }
            ReservationError::UnknownProduct(line) => {
                ApiError::invalid_field(format!("items[{line}].product_id"), err.to_string())
            }
            ReservationError::Database(source) => ApiError::database(source),
        }
    }
}

/// `/reservations` and `/restock` routes (mounted under `/internal/v1`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reserve))
        .routes(routes!(commit_reservation))
        .routes(routes!(release_reservation))
        .routes(routes!(restock))
}

/// The 409 of a reservation that cannot be met: a problem document whose
/// `errors` name the short lines and whose `short_items` member gives the
/// quantities.
#[derive(Debug, Serialize, ToSchema)]
pub struct InsufficientStock {
    /// The problem document.
    #[serde(flatten)]
    pub problem: Problem,
    /// Each line that cannot be reserved.
    pub short_items: Vec<ShortItem>,
}

/// Reserves all lines or none for `ttl_seconds`; idempotent on `reservation_id`.
#[utoipa::path(
    post, path = "/reservations", tag = "internal", request_body = NewReservation,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Reservation),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Short items (nothing reserved), or the id's reservation was released or expired", body = InsufficientStock, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn reserve(
    State(state): State<AppState>,
    caller: ServiceCaller,
    ValidJson(request): ValidJson<NewReservation>,
) -> Result<Response, ApiError> {
    match service::reserve(
        &state.pool,
        &state.caches,
        &state.settings.reservations,
        request,
        &caller.client_id,
    )
    .await
    {
        Ok((reservation, _)) => Ok((StatusCode::CREATED, Json(reservation)).into_response()),
        Err(ReservationError::Short(short)) => Ok(insufficient_stock(short)),
        Err(err) => Err(err.into()),
    }
}

/// Commits a reservation: its stock leaves on hand for good. Idempotent.
#[utoipa::path(
    post, path = "/reservations/{id}/commit", tag = "internal", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Reservation),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Released or expired", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn commit_reservation(
    State(state): State<AppState>,
    _caller: ServiceCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<Reservation>, ApiError> {
    Ok(Json(service::commit(&state.pool, &state.caches, id).await?))
}

/// Releases a reservation: its stock returns to available. Idempotent.
#[utoipa::path(
    post, path = "/reservations/{id}/release", tag = "internal", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Reservation),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already committed", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn release_reservation(
    State(state): State<AppState>,
    _caller: ServiceCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<Reservation>, ApiError> {
    Ok(Json(
        service::release(&state.pool, &state.caches, id).await?,
    ))
}

/// Puts the units of a cancelled order back on hand; idempotent on `reference_id`.
#[utoipa::path(
    post, path = "/restock", tag = "internal", request_body = NewRestock,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Restock),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn restock(
    State(state): State<AppState>,
    caller: ServiceCaller,
    ValidJson(request): ValidJson<NewRestock>,
) -> Result<Json<Restock>, ApiError> {
    Ok(Json(
        service::restock(&state.pool, &state.caches, request, &caller.client_id).await?,
    ))
}

fn insufficient_stock(short: Vec<ShortItem>) -> Response {
    let mut problem = ApiError::from(ReservationError::Short(Vec::new())).problem();
    problem.errors = short.iter().map(ShortItem::field_error).collect();
    let body = InsufficientStock {
        problem,
        short_items: short,
    };
    match serde_json::to_vec(&body) {
        Ok(bytes) => (
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
            bytes,
        )
            .into_response(),
        Err(err) => ApiError::internal(err).into_response(),
    }
}
