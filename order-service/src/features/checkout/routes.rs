//! `POST /checkout`, and the one place where the saga's result becomes an
//! HTTP answer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use service_kit::auth::AuthUser;
use service_kit::idempotency::{
    HashedJson, IDEMPOTENT_REPLAYED, IdempotencyKey, Settle, Stale, StoredResponse,
};
use service_kit::{ApiError, FieldError, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::models::CheckoutRequest;
use super::repository;
use super::saga::{self, CheckoutError, CheckoutOutcome};
use crate::features::checkout_limits::{self, CheckoutLimits};
use crate::features::orders::models::{Order, OrderStatus};
use crate::features::orders::service as orders;
use crate::metrics;
use crate::state::AppState;

/// The checkout route.
pub fn router(checkout_limits: CheckoutLimits) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkout_cart))
        .route_layer(from_fn_with_state(
            checkout_limits,
            checkout_limits::enforce,
        ))
}

/// Checks out the cart: reserve stock, charge the quote's total (lines,
/// discount code, shipping, tax), commit, confirm (a saga; README
/// "Checkout"). `Idempotency-Key` is required (400 without it); a repeat
/// replays the first answer.
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
        (status = 422, description = "Empty cart, invalid body, the key reused with another body; `shipping_method_id` missing where a method ships to the country, unknown, deleted, inactive, not shipping there or in another currency; the cart's discount code no longer applies (`discount`, type `/problems/invalid-discount`): nothing reserved or charged", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address or user, or too many declined payments of this user (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Catalog, the payment provider or the database is unreachable, or the request timed out. Retry with the same `Idempotency-Key`: if the attempt left nothing behind (nothing reserved or charged, or the charge already refunded), the retry starts afresh; if its order is still being settled (a charge whose outcome is unknown, a refund or a release still due), the retry answers 409 until the reconciler has settled it. One key never leaves two charges standing", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn checkout_cart(
    State(state): State<AppState>,
    user: AuthUser,
    key: IdempotencyKey,
    HashedJson { body, hash }: HashedJson<CheckoutRequest>,
) -> Result<Response, ApiError> {
    let (work, user_id, stale_key) = (state.clone(), user.id, key.as_str().to_owned());
    let response = state
        .idempotency
        .run_admitted(
            user.id,
            key.clone(),
            &hash,
            state.checkout_limits.per_user(user.id),
            || stale(&state, user_id, stale_key),
            move || async move {
                let result = saga::checkout(&work, user_id, Some(key.as_str()), body).await;
                metrics::checkout(outcome(&result));
                answer(result)
            },
        )
        .await?;
    if response.headers().contains_key(IDEMPOTENT_REPLAYED) {
        metrics::checkout("replayed");
    }
    Ok(response)
}

fn outcome(result: &Result<CheckoutOutcome, CheckoutError>) -> &'static str {
    match result {
        Ok(CheckoutOutcome::Confirmed(_)) => "confirmed",
        Err(err) => err.outcome(),
    }
}

/// The saga's result as an HTTP answer and the fate of its key: final
/// answers are stored (and replayed); a dependency outage with nothing
/// left behind forgets the key; an unsettled order keeps it for the
/// reconciler.
pub fn answer(result: Result<CheckoutOutcome, CheckoutError>) -> Settle {
    let err = match result {
        Ok(confirmed) => return Settle::Store(confirmed_answer(&confirmed)),
        Err(err) => err,
    };
    match err {
        CheckoutError::OutOfStock(short) => Settle::Store(out_of_stock(&short)),
        CheckoutError::Unavailable(cause) => Settle::Forget(ApiError::unavailable(cause)),
        CheckoutError::Unsettled { .. } => Settle::Keep(ApiError::unavailable(err)),
        final_error => Settle::Store(StoredResponse::error(&problem(&final_error))),
    }
}

/// The 201 of a confirmed order.
pub fn confirmed_answer(outcome: &CheckoutOutcome) -> StoredResponse {
    let CheckoutOutcome::Confirmed(order) = outcome;
    StoredResponse::ok(StatusCode::CREATED, order)
}

/// The problem document of a final checkout error.
fn problem(err: &CheckoutError) -> ApiError {
    match err {
        CheckoutError::EmptyCart => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "The cart is empty.")
                .with_kind("empty-cart")
        }
        CheckoutError::MixedCurrencies => ApiError::validation(vec![FieldError::new(
            "cart",
            "holds products priced in different currencies",
        )]),
        CheckoutError::Shipping(problem) => {
            ApiError::invalid_field("shipping_method_id", problem.to_string())
        }
        CheckoutError::Discount(problem) => {
            ApiError::invalid_field("discount", problem.to_string()).with_kind("invalid-discount")
        }
        CheckoutError::Amounts(err) => ApiError::invalid_field("items", err.to_string()),
        CheckoutError::Declined => declined(),
        CheckoutError::ReservationExpired { refunded } => ApiError::conflict(if *refunded {
            "The stock reservation expired during payment; the payment was refunded."
        } else {
            "The stock reservation expired during payment; the payment will be refunded."
        })
        .with_kind("reservation-expired"),
        CheckoutError::OutOfStock(_)
        | CheckoutError::Unavailable(_)
        | CheckoutError::Unsettled { .. } => ApiError::internal(anyhow::anyhow!("{err}")),
    }
}

/// The 402 of a declined payment.
fn declined() -> ApiError {
    ApiError::new(StatusCode::PAYMENT_REQUIRED, "The payment was declined.")
        .with_kind("payment-declined")
}

/// The 409 of a reservation that cannot be met: a problem naming the short
/// products (`product_ids`, `short_items`, and `errors` per line).
fn out_of_stock(short: &[crate::catalog::ShortLine]) -> StoredResponse {
    let errors: Vec<FieldError> = short
        .iter()
        .map(|s| {
            FieldError::new(
                format!("items[{}]", s.product_id),
                format!("{} requested, {} available", s.requested, s.available),
            )
        })
        .collect();
    let err = ApiError::conflict("Some products are not available in the requested quantity.")
        .with_kind("out-of-stock");
    let mut response = StoredResponse::error(&err);
    if let Some(body) = response.body.as_object_mut() {
        let short_items: Vec<_> = short
            .iter()
            .map(|s| serde_json::json!({"product_id": s.product_id, "requested": s.requested, "available": s.available}))
            .collect();
        let product_ids: Vec<Uuid> = short.iter().map(|s| s.product_id).collect();
        body.insert("product_ids".into(), serde_json::json!(product_ids));
        body.insert("short_items".into(), serde_json::json!(short_items));
        body.insert(
            "errors".into(),
            serde_json::to_value(errors).unwrap_or_default(),
        );
    }
    response
}

/// What a checkout key whose request died stands for, judged by the order
/// it created: still pending -> in progress (the reconciler settles it);
/// confirmed (or later) -> its 201; declined -> the 402; none, or a
/// compensated failure -> the key may run again.
async fn stale(state: &AppState, user_id: Uuid, key: String) -> Result<Stale, ApiError> {
    let row = repository::find_by_key(&state.pool, user_id, &key)
        .await
        .map_err(ApiError::database)?;
    let Some(row) = row else {
        return Ok(Stale::Rerun);
    };
    Ok(match OrderStatus::parse(&row.status) {
        Some(OrderStatus::Pending) => Stale::InProgress,
        Some(OrderStatus::PaymentFailed) => Stale::Replay(StoredResponse::error(&declined())),
        Some(OrderStatus::Cancelled) if row.failure_reason.is_some() => Stale::Rerun,
        None => Stale::Rerun,
        Some(_) => {
            let order = orders::with_items(state, row)
                .await
                .map_err(ApiError::database)?;
            Stale::Replay(confirmed_answer(&CheckoutOutcome::Confirmed(order)))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ShortLine;

    fn stored(settle: Settle) -> StoredResponse {
        match settle {
            Settle::Store(stored) => stored,
            other => panic!("expected a stored answer, got {other:?}"),
        }
    }

    fn kind(stored: &StoredResponse) -> &str {
        stored.body["type"].as_str().unwrap_or_default()
    }

    #[test]
    fn final_outcomes_are_stored_with_their_status_and_kind() {
        let cases = [
            (
                CheckoutError::EmptyCart,
                StatusCode::UNPROCESSABLE_ENTITY,
                "/problems/empty-cart",
            ),
            (
                CheckoutError::MixedCurrencies,
                StatusCode::UNPROCESSABLE_ENTITY,
                "/problems/validation-error",
            ),
            (
                CheckoutError::Declined,
                StatusCode::PAYMENT_REQUIRED,
                "/problems/payment-declined",
            ),
            (
                CheckoutError::ReservationExpired { refunded: true },
                StatusCode::CONFLICT,
                "/problems/reservation-expired",
            ),
        ];
        for (err, status, problem_type) in cases {
            let stored = stored(answer(Err(err)));
            assert_eq!(stored.status, status);
            assert_eq!(kind(&stored), problem_type);
        }
    }

    #[test]
    fn an_expired_reservation_says_whether_the_refund_is_done() {
        let done = stored(answer(Err(CheckoutError::ReservationExpired {
            refunded: true,
        })));
        let pending = stored(answer(Err(CheckoutError::ReservationExpired {
            refunded: false,
        })));
        assert!(
            done.body["detail"]
                .as_str()
                .unwrap()
                .contains("was refunded")
        );
        assert!(
            pending.body["detail"]
                .as_str()
                .unwrap()
                .contains("will be refunded")
        );
    }

    #[test]
    fn out_of_stock_names_the_short_products() {
        let product_id = Uuid::now_v7();
        let short = vec![ShortLine {
            product_id,
            requested: 3,
            available: 1,
        }];
        let stored = stored(answer(Err(CheckoutError::OutOfStock(short))));
        assert_eq!(stored.status, StatusCode::CONFLICT);
        assert_eq!(kind(&stored), "/problems/out-of-stock");
        assert_eq!(stored.body["product_ids"][0], product_id.to_string());
        assert_eq!(stored.body["short_items"][0]["available"], 1);
        assert_eq!(
            stored.body["errors"][0]["message"],
            "3 requested, 1 available"
        );
    }

    #[test]
    fn an_outage_with_nothing_left_forgets_the_key_and_an_unsettled_order_keeps_it() {
        match answer(Err(CheckoutError::Unavailable(anyhow::anyhow!(
            "catalog down"
        )))) {
            Settle::Forget(err) => assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE),
            other => panic!("{other:?}"),
        }
        let unsettled = CheckoutError::Unsettled {
            order_id: Uuid::now_v7(),
            source: anyhow::anyhow!("provider down"),
        };
        match answer(Err(unsettled)) {
            Settle::Keep(err) => assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE),
            other => panic!("{other:?}"),
        }
    }
}
