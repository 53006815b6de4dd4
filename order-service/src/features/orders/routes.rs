//! Order endpoints: users see their own orders, admins all.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use service_kit::auth::{AdminUser, AuthUser};
use service_kit::idempotency::{IdempotencyKey, RequestHash, Settle, Stale, StoredResponse};
use service_kit::pagination::{Page, decode_cursor};
use service_kit::{ApiError, FieldError, Json, Path, Problem, Query};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::models::{AdminOrderQuery, Order, OrderPage, OrderQuery, StatusChange};
use super::service::{self, OrderError};
use crate::state::AppState;

/// Order and admin order routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
        .routes(routes!(admin_list_orders))
        .routes(routes!(admin_set_status))
}

fn page(page: Page<Order>) -> OrderPage {
    OrderPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }
}

/// The HTTP meaning of each [`OrderError`], in one place.
impl From<OrderError> for ApiError {
    fn from(err: OrderError) -> Self {
        match err {
            OrderError::NotFound => ApiError::not_found("No such order."),
            OrderError::IllegalTransition {
                from,
                to: "cancelled",
            } => ApiError::conflict(format!(
                "Only confirmed orders can be cancelled; this one is {from}."
            ))
            .with_kind("illegal-transition"),
            OrderError::IllegalTransition { from, to } => {
                ApiError::conflict(format!("An order that is {from} cannot become {to}."))
                    .with_kind("illegal-transition")
            }
            OrderError::Unavailable(cause) => ApiError::unavailable(cause),
            OrderError::Database(source) => ApiError::database(source),
        }
    }
}

/// `?limit=` (1-100, default 20) and `?cursor=` as the service takes them.
fn paging(limit: Option<u32>, cursor: Option<&str>) -> Result<(u32, Option<Uuid>), ApiError> {
    let limit = match limit {
        None => service_kit::pagination::DEFAULT_LIMIT,
        Some(n) if (1..=service_kit::pagination::MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::validation(vec![FieldError::new(
                "limit",
                "must be between 1 and 100",
            )]));
        }
    };
    Ok((limit, cursor.map(decode_cursor).transpose()?))
}

/// The user's own orders, newest first.
#[utoipa::path(
    get, path = "/orders", tag = "orders", params(OrderQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = OrderPage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_orders(
    State(state): State<AppState>,
    user: AuthUser,
    Query(query): Query<OrderQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let (limit, before) = paging(query.limit, query.cursor.as_deref())?;
    let orders = service::list(&state, Some(user.id), query.status, limit, before).await?;
    Ok(Json(page(orders)))
}

/// One of the user's orders (another user's is 404).
#[utoipa::path(
    get, path = "/orders/{id}", tag = "orders", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 200, body = Order),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_order(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Order>, ApiError> {
    Ok(Json(service::get(&state, id, Some(user.id)).await?))
}

/// Cancels a confirmed order: refund, restock, `order_cancelled` event.
/// An optional `Idempotency-Key` replays the first answer.
#[utoipa::path(
    post, path = "/orders/{id}/cancel", tag = "orders",
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "optional")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Order),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not confirmed", body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn cancel_order(
    State(state): State<AppState>,
    user: AuthUser,
    key: Option<IdempotencyKey>,
    hash: RequestHash,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let (work, user_id) = (state.clone(), user.id);
    // A cancel is idempotent by itself: a key whose request died runs again.
    let rerun = || async { Ok(Stale::Rerun) };
    state
        .idempotency
        .run(user.id, key, &hash, rerun, move || async move {
            match service::cancel(&work, id, user_id)
                .await
                .map_err(ApiError::from)
            {
                Ok(order) => Settle::Store(StoredResponse::ok(StatusCode::OK, &order)),
                Err(err) if err.status().is_server_error() => Settle::Forget(err),
                Err(err) => Settle::Store(StoredResponse::error(&err)),
            }
        })
        .await
}

/// Every order, newest first (admin); `?status=`, `?user_id=`.
#[utoipa::path(
    get, path = "/admin/orders", tag = "admin", params(AdminOrderQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = OrderPage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn admin_list_orders(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(query): Query<AdminOrderQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let (limit, before) = paging(query.limit, query.cursor.as_deref())?;
    let orders = service::list(&state, query.user_id, query.status, limit, before).await?;
    Ok(Json(page(orders)))
}

/// Moves an order along fulfilment (admin): `confirmed` -> `shipped` ->
/// `delivered`; anything else is 409.
#[utoipa::path(
    post, path = "/admin/orders/{id}/status", tag = "admin", request_body = StatusChange,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 200, body = Order),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Illegal transition", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn admin_set_status(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
    Json(change): Json<StatusChange>,
) -> Result<Json<Order>, ApiError> {
    Ok(Json(
        service::set_fulfilment(&state, id, change.status).await?,
    ))
}
