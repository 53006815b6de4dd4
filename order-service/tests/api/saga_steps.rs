//! Each saga step on its own (`features/checkout/saga.rs`), driven through
//! the step functions rather than `POST /checkout`: the steps before it
//! run, then the step, with what it answers and what it leaves behind in
//! the order row, the catalog (the fake, checked against catalog's pinned
//! document) and the payments ledger, on success and on each failure.

use crate::helpers::{Customer, Fleet, FleetOptions, checkout_body, spawn_fleet, spawn_fleet_with};
use order_service::catalog::StockLine;
use order_service::features::checkout::saga::{self, Priced, Saga};
use order_service::features::checkout::{CheckoutError, CheckoutOutcome, CheckoutRequest};
use order_service::state::AppState;
use serde_json::json;
use uuid::Uuid;

fn request(card: &str) -> CheckoutRequest {
    serde_json::from_value(checkout_body(card)).expect("a checkout body")
}

/// A customer whose cart holds `quantity` of a new product (price 2,500,
/// `stock` units); returns the customer and the product's id.
async fn shopper(fleet: &Fleet, quantity: i32, stock: i32) -> (Customer, String) {
    let lamp = fleet.product("Desk lamp", 2_500, stock).await;
    let ada = fleet.customer();
    assert!(
        fleet
            .add_to_cart(&ada, &lamp, quantity)
            .await
            .status()
            .is_success()
    );
    (ada, lamp)
}

async fn opened<'a>(state: &'a AppState, ada: &Customer) -> (Saga<'a>, Vec<StockLine>) {
    saga::open(state, ada.id, None, &request("tok_visa"))
        .await
        .expect("the order opens")
}

async fn reserved<'a>(state: &'a AppState, ada: &Customer) -> (Saga<'a>, Priced) {
    let (saga, lines) = opened(state, ada).await;
    let priced = saga.reserve(&lines).await.expect("the lines are reserved");
    (saga, priced)
}

async fn step_of(fleet: &Fleet, order_id: Uuid) -> (String, String) {
    fleet.order_step(&order_id.to_string()).await
}

fn available(fleet: &Fleet, product: &str) -> (i64, i64) {
    let stock = fleet.catalog.inventory(product);
    (
        stock["available"].as_i64().unwrap_or(-1),
        stock["reserved"].as_i64().unwrap_or(-1),
    )
}

// Step 1: open.

#[tokio::test]
async fn open_writes_the_order_pending_at_reserving_with_the_carts_lines() {
    let fleet = spawn_fleet().await;
    let state = fleet.state();
    let (ada, lamp) = shopper(&fleet, 2, 5).await;

    let (saga, lines) = opened(&state, &ada).await;
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (lines[0].product_id.to_string(), lines[0].quantity),
        (lamp.clone(), 2)
    );
    assert_eq!(
        step_of(&fleet, saga.order_id).await,
        ("pending".into(), "reserving".into())
    );
    // Nothing reserved or charged yet.
    assert_eq!(available(&fleet, &lamp), (5, 0));
    assert_eq!(fleet.live_charges().await, 0);
}

#[tokio::test]
async fn open_with_an_empty_cart_writes_nothing() {
    let fleet = spawn_fleet().await;
    let state = fleet.state();
    let ada = fleet.customer();
    let err = saga::open(&state, ada.id, None, &request("tok_visa"))
        .await
        .err()
        .expect("an empty cart is refused");
    assert!(matches!(err, CheckoutError::EmptyCart), "{err:?}");
    assert_eq!(fleet.count_all_orders().await, 0);
}

// Step 2: reserve.

#[tokio::test]
async fn reserve_holds_the_stock_prices_the_lines_and_moves_to_charging() {
    let fleet = spawn_fleet().await;
    let state = fleet.state();
    let (ada, lamp) = shopper(&fleet, 2, 5).await;

    let (saga, priced) = reserved(&state, &ada).await;
    assert_eq!(priced.totals.subtotal_cents, 5_000);
    assert_eq!(priced.totals.total_cents, 5_000);
    assert_eq!(priced.currency, "EUR");
    assert_eq!(priced.items[0].line_total_cents, 5_000);
    assert_eq!(available(&fleet, &lamp), (3, 2));
    assert_eq!(
        step_of(&fleet, saga.order_id).await,
        ("pending".into(), "charging".into())
    );
}

#[tokio::test]
async fn reserve_short_of_stock_names_the_product_and_deletes_the_order() {
    let fleet = spawn_fleet().await;
    let state = fleet.state();
    // Carts take more than is in stock; the reservation decides.
    let (ada, lamp) = shopper(&fleet, 3, 2).await;

    let (saga, lines) = opened(&state, &ada).await;
    let err = saga.reserve(&lines).await.expect_err("short of stock");
    let CheckoutError::OutOfStock(short) = err else {
        panic!("not out of stock: {err:?}");
    };
    assert_eq!(short.len(), 1);
    assert_eq!(short[0].product_id.to_string(), lamp);
    assert_eq!(fleet.count_all_orders().await, 0);
    assert_eq!(available(&fleet, &lamp), (2, 0), "nothing held");
}

#[tokio::test]
async fn reserve_with_catalog_unreachable_is_unavailable_and_leaves_the_order_to_the_reconciler() {
    let fleet = spawn_fleet_with(
        FleetOptions {
            catalog_proxy: true,
            ..Default::default()
        },
        |_, _| {},
    )
    .await;
    let state = fleet.state();
    let (ada, lamp) = shopper(&fleet, 1, 5).await;
    let (saga, lines) = opened(&state, &ada).await;
    let proxy = fleet.catalog_proxy.as_ref().expect("a proxy");
    proxy.disable();

    let err = saga.reserve(&lines).await.expect_err("catalog is down");
    assert!(matches!(err, CheckoutError::Unavailable(_)), "{err:?}");
    // The reservation may exist with its answer lost: the order stays, at
    // `reserving`, until someone can release it.
    assert_eq!(
        step_of(&fleet, saga.order_id).await,
        ("pending".into(), "reserving".into())
    );
    proxy.enable();
    fleet.reconcile().await;
    assert_eq!(fleet.count_all_orders().await, 0);
    assert_eq!(available(&fleet, &lamp), (5, 0));
}

// Step 3: charge.

#[tokio::test]
async fn charge_takes_the_total_and_returns_the_providers_reference() {
    let fleet = spawn_fleet().await;
    let state = fleet.state();
    let (ada, _) = shopper(&fleet, 2, 5).await;
    let (saga, priced) = reserved(&state, &ada).await;

    let provider_ref = saga
        .charge(&priced, request("tok_visa"))
        .await
        .expect("charged");
    assert!(!provider_ref.is_empty());
    let charged: i64 =
        sqlx::query_scalar("select amount_cents from fake_payments where order_id = $1")
            .bind(saga.order_id)
            .fetch_one(&fleet.order.pool)
            .await
            .unwrap();
    assert_eq!(charged, 5_000);
    // Still `charging` until the commit and the confirmation.
    assert_eq!(
        step_of(&fleet, saga.order_id).await,
        ("pending".into(), "charging".into())
    );
}

#[tokio::test]
async fn a_declined_charge_releases_the_stock_and_fails_the_order() {
    let fleet = spawn_fleet().await;
    let state = fleet.state();
    let (ada, lamp) = shopper(&fleet, 2, 5).await;
    let (saga, priced) = reserved(&state, &ada).await;

    let err = saga
        .charge(&priced, request("tok_declined"))
        .await
        .expect_err("declined");
    assert!(matches!(err, CheckoutError::Declined), "{err:?}");
    assert_eq!(step_of(&fleet, saga.order_id).await.0, "payment_failed");
    assert_eq!(available(&fleet, &lamp), (5, 0));
    assert_eq!(fleet.live_charges().await, 0);
}

#[tokio::test]
async fn a_provider_error_with_nothing_charged_releases_and_forgets_the_order() {
    let fleet = spawn_fleet().await;
    let state = fleet.state();
    let (ada, lamp) = shopper(&fleet, 1, 5).await;
    let (saga, priced) = reserved(&state, &ada).await;

    let err = saga
        .charge(&priced, request("tok_error"))
        .await
        .expect_err("the provider failed");
    assert!(matches!(err, CheckoutError::Unavailable(_)), "{err:?}");
    assert_eq!(fleet.count_all_orders().await, 0);
    assert_eq!(available(&fleet, &lamp), (5, 0));
    assert_eq!(fleet.live_charges().await, 0);
}

// Step 4: commit.

#[tokio::test]
async fn commit_ships_the_held_stock() {
    let fleet = spawn_fleet().await;
    let state = fleet.state();
    let (ada, lamp) = shopper(&fleet, 2, 5).await;
    let (saga, priced) = reserved(&state, &ada).await;
    saga.charge(&priced, request("tok_visa")).await.unwrap();

    saga.commit().await.expect("committed");
    let stock = fleet.catalog.inventory(&lamp);
    assert_eq!(
        (stock["on_hand"].as_i64(), stock["reserved"].as_i64()),
        (Some(3), Some(0))
    );
}

#[tokio::test]
async fn commit_of_a_reservation_gone_meanwhile_refunds_and_cancels() {
    let fleet = spawn_fleet().await;
    let state = fleet.state();
    let (ada, lamp) = shopper(&fleet, 2, 5).await;
    let (saga, priced) = reserved(&state, &ada).await;
    saga.charge(&priced, request("tok_visa")).await.unwrap();
    // What catalog's sweeper does to a reservation past its TTL.
    state.catalog.release(saga.order_id).await.unwrap();

    let err = saga.commit().await.expect_err("the reservation is gone");
    assert!(
        matches!(err, CheckoutError::ReservationExpired { refunded: true }),
        "{err:?}"
    );
    assert_eq!(step_of(&fleet, saga.order_id).await.0, "cancelled");
    assert_eq!(fleet.live_charges().await, 0, "the charge is refunded");
    assert_eq!(available(&fleet, &lamp), (5, 0));
    fleet.assert_ledger_matches_orders().await;
}

#[tokio::test]
async fn commit_with_catalog_down_leaves_the_order_and_its_key_to_the_reconciler() {
    let fleet = spawn_fleet().await;
    let state = fleet.state();
    let (ada, _) = shopper(&fleet, 2, 5).await;
    let (saga, priced) = reserved(&state, &ada).await;
    saga.charge(&priced, request("tok_visa")).await.unwrap();
    fleet.catalog.stop();

    // Neither the commit nor the release reaches catalog: the compensation
    // is incomplete, so the error keeps the key (a retry must not open a
    // second order and charge again before the reconciler settles this one).
    let err = saga.commit().await.expect_err("catalog is down");
    assert!(
        matches!(err, CheckoutError::Unsettled { order_id, .. } if order_id == saga.order_id),
        "{err:?}"
    );
    assert_eq!(
        step_of(&fleet, saga.order_id).await,
        ("pending".into(), "compensating".into())
    );
}

// Step 5: confirm.

#[tokio::test]
async fn confirm_marks_the_order_confirmed_empties_the_cart_and_writes_the_event() {
    let fleet = spawn_fleet().await;
    let state = fleet.state();
    let (ada, _) = shopper(&fleet, 2, 5).await;
    let (saga, priced) = reserved(&state, &ada).await;
    let provider_ref = saga.charge(&priced, request("tok_visa")).await.unwrap();
    saga.commit().await.unwrap();

    let CheckoutOutcome::Confirmed(order) = saga
        .confirm(&priced, &provider_ref)
        .await
        .expect("confirmed");
    assert_eq!(order.id, saga.order_id);
    assert_eq!(order.total_cents, 5_000);
    assert_eq!(
        step_of(&fleet, saga.order_id).await,
        ("confirmed".into(), "completed".into())
    );
    assert_eq!(fleet.cart(&ada).await["items"], json!([]));
    let events: i64 =
        sqlx::query_scalar("select count(*) from outbox where payload::text like '%' || $1 || '%'")
            .bind(saga.order_id.to_string())
            .fetch_one(&fleet.order.pool)
            .await
            .unwrap();
    assert_eq!(events, 1, "one order_confirmed event in the outbox");
    fleet.assert_ledger_matches_orders().await;
}

#[tokio::test]
async fn confirm_of_an_order_the_reconciler_took_over_is_unsettled_and_changes_nothing() {
    let fleet = spawn_fleet().await;
    let state = fleet.state();
    let (ada, _) = shopper(&fleet, 1, 5).await;
    let (saga, priced) = reserved(&state, &ada).await;
    let provider_ref = saga.charge(&priced, request("tok_visa")).await.unwrap();
    saga.commit().await.unwrap();
    // The reconciler moved the order on while this saga was stalled.
    sqlx::query("update orders set saga_step = 'compensating' where order_id = $1")
        .bind(saga.order_id)
        .execute(&fleet.order.pool)
        .await
        .unwrap();

    let err = saga
        .confirm(&priced, &provider_ref)
        .await
        .expect_err("taken over");
    assert!(
        matches!(err, CheckoutError::Unsettled { order_id, .. } if order_id == saga.order_id),
        "{err:?}"
    );
    assert_eq!(
        step_of(&fleet, saga.order_id).await,
        ("pending".into(), "compensating".into())
    );
    assert_eq!(
        fleet.cart(&ada).await["items"].as_array().map(Vec::len),
        Some(1)
    );
}
