//! Checkout and order endpoints: users see their own orders, admins all.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use garde::Validate;
use service_kit::auth::{AdminUser, AuthUser};
use service_kit::extract::{parse_json, report_errors};
use service_kit::pagination::Page;
use service_kit::request_id::{self, RequestId};
use service_kit::{ApiError, Json, Path, Problem, Query};
use tracing::Instrument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::checkout::{self, KeyFate};
use super::models::{AdminOrderQuery, CheckoutRequest, Order, OrderPage, OrderQuery, StatusChange};
use super::service;
use crate::features::checkout_limits::{self, CheckoutLimits};
use crate::features::idempotency::service::{self as idempotency, request_hash};
use crate::features::idempotency::{Begin, IdempotencyKey, StoredResponse};
use crate::metrics;
use crate::state::AppState;

/// Checkout, order and admin order routes; `checkout_limits` guard the
/// checkout route (card testing, mail flooding).
pub fn router(checkout_limits: CheckoutLimits) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkout_cart))
        // A route layer covers the routes above it only.
        .route_layer(from_fn_with_state(
            checkout_limits,
            checkout_limits::enforce,
        ))
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

/// Spawns `fut` (so it runs to its end even if the client goes away) in
/// the request's span and with its request id, which every log line,
/// outbound call and outbox event of the task then carries.
fn spawn_in_request<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let span = tracing::Span::current();
    let id = request_id::current().and_then(|id| RequestId::parse(&id));
    tokio::spawn(async move {
        match id {
            Some(id) => request_id::scope(id, fut.instrument(span)).await,
            None => fut.instrument(span).await,
        }
    })
}

/// Claims the key or replays; `None` means this request runs.
async fn begin(
    state: &AppState,
    key: &IdempotencyKey,
    hash: &str,
) -> Result<Option<Response>, ApiError> {
    let settings = &state.settings.checkout;
    let lease = std::time::Duration::from_secs(settings.reconciler_stale_after_secs);
    match idempotency::begin(
        &state.pool,
        key,
        hash,
        std::time::Duration::from_secs(settings.idempotency_ttl_secs),
        std::time::Duration::from_millis(settings.idempotency_wait_ms),
        lease,
    )
    .await?
    {
        Begin::Owner => Ok(None),
        Begin::Replay(stored) => Ok(Some(stored.into_response(true))),
        Begin::Stale => match service::resolve_stale_key(state, key.user_id, &key.key).await? {
            Some(stored) => {
                idempotency::complete_stale(&state.pool, key.user_id, &key.key, lease, &stored)
                    .await
                    .map_err(ApiError::unavailable)?;
                Ok(Some(stored.into_response(true)))
            }
            None if idempotency::take_over(&state.pool, key, lease).await? => Ok(None),
            None => Err(idempotency::in_progress()),
        },
    }
}

async fn settle_key(
    state: &AppState,
    key: &IdempotencyKey,
    fate: KeyFate,
    response: &StoredResponse,
) {
    let result = match fate {
        KeyFate::Store => idempotency::complete(&state.pool, key, response).await,
        KeyFate::Forget => idempotency::release(&state.pool, key).await,
        KeyFate::Keep => Ok(()),
    };
    if let Err(err) = result {
        tracing::warn!(error = %err, "settling an idempotency key failed");
    }
}

/// Checks out the cart: reserve stock, charge, commit, confirm (a saga;
/// README "Checkout"). `Idempotency-Key` is required (400 without it);
/// a repeat replays the first answer.
#[utoipa::path(
    post, path = "/checkout", tag = "checkout", request_body = CheckoutRequest,
    params(("Idempotency-Key" = String, Header, description = "1-255 printable ASCII characters; required")),
    security(("bearer" = [])),
    responses(
        (status = 201, body = Order),
        (status = 400, description = "Missing or malformed Idempotency-Key, malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "Payment declined (stock released, order payment_failed)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Out of stock (`product_ids` listed, nothing reserved), or the same key still in progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty cart, invalid body, or the key reused with another body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address or user, or too many declined payments of this user (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "catalog or payment provider down (nothing charged, nothing reserved)", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn checkout_cart(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    Json(raw): Json<serde_json::Value>,
) -> Result<Response, ApiError> {
    let key = IdempotencyKey::required(&headers, user.id)?;
    let bytes = serde_json::to_vec(&raw).map_err(ApiError::internal)?;
    let request: CheckoutRequest = parse_json(&bytes)?;
    request
        .validate()
        .map_err(|report| ApiError::validation(report_errors(&report)))?;
    let hash = request_hash("POST", "/api/v1/checkout", &raw);
    if let Some(replay) = begin(&state, &key, &hash).await? {
        metrics::checkout("replayed");
        return Ok(replay);
    }
    // The saga runs to its end even if the client goes away.
    let user_id = user.id;
    let task = spawn_in_request(async move {
        let outcome = checkout::run(&state, user_id, Some(&key.key), request).await;
        settle_key(&state, &key, outcome.key, &outcome.response).await;
        outcome
    });
    let outcome = task.await.map_err(ApiError::internal)?;
    match outcome.error {
        Some(err) => Err(err),
        None => Ok(outcome.response.into_response(false)),
    }
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
    let orders = service::list(
        &state,
        Some(user.id),
        query.status,
        query.limit,
        query.cursor.as_deref(),
    )
    .await?;
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
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let key = IdempotencyKey::from_headers(&headers, user.id)?;
    let Some(key) = key else {
        let order = service::cancel(&state, id, user.id).await?;
        return Ok(StoredResponse::ok(StatusCode::OK, &order).into_response(false));
    };
    let hash = request_hash(
        "POST",
        &format!("/api/v1/orders/{id}/cancel"),
        &serde_json::Value::Null,
    );
    if let Some(replay) = begin(&state, &key, &hash).await? {
        return Ok(replay);
    }
    let user_id = user.id;
    let task = spawn_in_request(async move {
        let result = service::cancel(&state, id, user_id).await;
        let (fate, response) = match &result {
            Ok(order) => (KeyFate::Store, StoredResponse::ok(StatusCode::OK, order)),
            Err(err) if err.status().is_server_error() => {
                (KeyFate::Forget, StoredResponse::error(err))
            }
            Err(err) => (KeyFate::Store, StoredResponse::error(err)),
        };
        settle_key(&state, &key, fate, &response).await;
        result.map(|_| response)
    });
    let response = task.await.map_err(ApiError::internal)??;
    Ok(response.into_response(false))
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
    let orders = service::list(
        &state,
        query.user_id,
        query.status,
        query.limit,
        query.cursor.as_deref(),
    )
    .await?;
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
