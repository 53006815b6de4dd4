//! Crashes mid-saga (simulated by the test-only fault hook) are settled by
//! the reconciler: no stock and no money left in limbo.

use crate::helpers::{FleetOptions, halt_after, spawn_fleet_with};
use order_service::config::SagaStep;
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn a_saga_interrupted_after_the_reservation_is_released_by_the_reconciler() {
    let fleet = spawn_fleet_with(FleetOptions::default(), |s, _| {
        s.faults.after_step = Some(halt_after(SagaStep::Reserved));
    })
    .await;
    let lamp = fleet.product("Lamp", 1_000, 5).await;
    let ada = fleet.customer();
    assert_eq!(
        fleet.add_to_cart(&ada, &lamp, 2).await.status(),
        StatusCode::OK
    );
    let response = fleet.checkout_with_key(&ada, "tok_visa", "crash-1").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The crash left stock reserved and the order pending.
    assert_eq!(fleet.inventory(&lamp).await["reserved"], 2);
    assert_eq!(fleet.count_orders("pending").await, 1);

    // Not stale yet: the periodic reconciler leaves it alone.
    let young = order_service::features::checkout::reconciler::reconcile_once(&{
        let mut settings = fleet.settings.clone();
        settings.faults = Default::default();
        order_service::AppState::new(settings, fleet.order.pool.clone()).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(young, Default::default());

    let report = fleet.reconcile().await;
    assert_eq!(report.released, 1, "{report:?}");
    let stock = fleet.inventory(&lamp).await;
    assert_eq!(
        (stock["available"].as_i64(), stock["reserved"].as_i64()),
        (Some(5), Some(0))
    );
    assert_eq!(fleet.count_all_orders().await, 0);
    assert_eq!(fleet.live_charges().await, 0);
    // The key is free again: the client's retry runs (and halts again here).
    let retry = fleet.checkout_with_key(&ada, "tok_visa", "crash-1").await;
    assert_eq!(retry.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fleet.count_orders("pending").await, 1);
}

#[tokio::test]
async fn a_saga_interrupted_after_the_charge_is_completed_by_the_reconciler() {
    let fleet = spawn_fleet_with(FleetOptions::default(), |s, _| {
        s.faults.after_step = Some(halt_after(SagaStep::Charged));
        s.checkout.idempotency_wait_ms = 300;
    })
    .await;
    let lamp = fleet.product("Lamp", 1_000, 5).await;
    let ada = fleet.customer();
    assert_eq!(
        fleet.add_to_cart(&ada, &lamp, 2).await.status(),
        StatusCode::OK
    );
    let response = fleet.checkout_with_key(&ada, "tok_visa", "crash-2").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fleet.live_charges().await, 1);
    assert_eq!(fleet.inventory(&lamp).await["reserved"], 2);

    // While unsettled, the key reports the request in progress.
    let busy = fleet.checkout_with_key(&ada, "tok_visa", "crash-2").await;
    assert_eq!(busy.status(), StatusCode::CONFLICT);

    let report = fleet.reconcile().await;
    assert_eq!(report.confirmed, 1, "{report:?}");
    let stock = fleet.inventory(&lamp).await;
    assert_eq!(
        (stock["on_hand"].as_i64(), stock["reserved"].as_i64()),
        (Some(3), Some(0))
    );
    assert_eq!(fleet.count_orders("confirmed").await, 1);
    fleet.assert_ledger_matches_orders().await;
    fleet.notifications.wait_for("order_confirmed", 1).await;

    // The key now replays the confirmed order.
    let replay = fleet.checkout_with_key(&ada, "tok_visa", "crash-2").await;
    assert_eq!(replay.status(), StatusCode::CREATED);
    let order: Value = replay.json().await.unwrap();
    assert_eq!(order["status"], "confirmed");
    let listed: Value = fleet
        .send(Method::GET, "/api/v1/orders", Some(&ada.token), None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["id"], order["id"]);
}

#[tokio::test]
async fn a_saga_interrupted_before_the_reservation_is_deleted_by_the_reconciler() {
    let fleet = spawn_fleet_with(FleetOptions::default(), |s, _| {
        s.faults.after_step = Some(halt_after(SagaStep::Reserving));
        s.checkout.idempotency_wait_ms = 200;
    })
    .await;
    let lamp = fleet.product("Lamp", 1_000, 5).await;
    let ada = fleet.customer();
    assert_eq!(
        fleet.add_to_cart(&ada, &lamp, 2).await.status(),
        StatusCode::OK
    );
    let response = fleet.checkout_with_key(&ada, "tok_visa", "crash-0").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The order exists, nothing is reserved yet.
    assert_eq!(fleet.count_orders("pending").await, 1);
    assert_eq!(fleet.inventory(&lamp).await["reserved"], 0);
    // Its key stays running until the reconciler settles the order.
    let again = fleet.checkout_with_key(&ada, "tok_visa", "crash-0").await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    let report = fleet.reconcile().await;
    assert_eq!(report.released, 1, "{report:?}");
    assert_eq!(fleet.count_all_orders().await, 0);
    assert_eq!(fleet.inventory(&lamp).await["available"], 5);
    assert_eq!(fleet.live_charges().await, 0);
}
