//! The checkout saga with the real catalog-service: the happy path and
//! every compensation.

use crate::helpers::{Fleet, FleetOptions, checkout_body, problem, spawn_fleet, spawn_fleet_with};
use order_service::config::{FaultAction, SagaStep};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn a_checkout_reserves_charges_commits_confirms_and_notifies() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Desk lamp", 2_500, 10).await;
    let mug = fleet.product("Mug", 900, 10).await;
    let ada = fleet.customer();
    fleet.add_to_cart(&ada, &lamp, 2).await;
    fleet.add_to_cart(&ada, &mug, 3).await;

    let response = fleet.checkout(&ada, "tok_visa").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: Value = response.json().await.unwrap();
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["user_id"], ada.id.to_string());
    assert_eq!(order["subtotal_cents"], 7_700);
    assert_eq!(order["total_cents"], 7_700);
    assert_eq!(order["currency"], "EUR");
    assert_eq!(order["payment"]["status"], "succeeded");
    assert_eq!(order["payment"]["provider"], "fake");
    assert!(order["payment"]["provider_ref"].is_string());
    assert_eq!(order["shipping_address"]["city"], "London");
    assert_eq!(order["items"].as_array().unwrap().len(), 2);
    assert!(
        !order.to_string().contains("tok_visa"),
        "the card token is never echoed"
    );

    // Stock left the catalog for good; the cart is empty.
    let lamp_stock = fleet.inventory(&lamp).await;
    assert_eq!(
        (
            lamp_stock["on_hand"].as_i64(),
            lamp_stock["reserved"].as_i64()
        ),
        (Some(8), Some(0))
    );
    assert_eq!(fleet.inventory(&mug).await["available"], 7);
    assert_eq!(fleet.cart(&ada).await["items"], json!([]));
    assert_eq!(fleet.live_charges().await, 1);
    fleet.assert_ledger_matches_orders().await;

    // The event reaches notification-service with the agreed shape.
    let events = fleet.notifications.wait_for("order_confirmed", 1).await;
    let event = &events[0];
    assert_eq!(event["user_id"], ada.id.to_string());
    assert!(event["event_id"].is_string());
    let data = &event["data"];
    assert_eq!(data["order_id"], order["id"]);
    assert_eq!(data["total_cents"], 7_700);
    assert_eq!(data["currency"], "EUR");
    let lines = data["items"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    for line in lines {
        for field in ["name", "quantity", "unit_price_cents", "line_total_cents"] {
            assert!(!line[field].is_null(), "{field} in {line}");
        }
    }
}

#[tokio::test]
async fn checkout_requires_a_key_a_valid_body_and_a_non_empty_cart() {
    let fleet = spawn_fleet().await;
    let ada = fleet.customer();
    let body = checkout_body("tok_visa");

    let response = fleet
        .send(
            Method::POST,
            "/api/v1/checkout",
            Some(&ada.token),
            Some(&body),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        problem(response).await["type"],
        "/problems/idempotency-key-required"
    );

    let long = "k".repeat(256);
    let response = fleet
        .send(
            Method::POST,
            "/api/v1/checkout",
            Some(&ada.token),
            Some(&body),
            Some(&long),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let mut bad = body.clone();
    bad["shipping_address"]["country"] = json!("Germany");
    bad["payment"]["token"] = json!("");
    let response = fleet
        .send(
            Method::POST,
            "/api/v1/checkout",
            Some(&ada.token),
            Some(&bad),
            Some("k1"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<String> = problem(response).await["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        fields.contains(&"shipping_address.country".to_owned()),
        "{fields:?}"
    );
    assert!(fields.contains(&"payment.token".to_owned()), "{fields:?}");

    let response = fleet.checkout(&ada, "tok_visa").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["type"], "/problems/empty-cart");
    assert_eq!(fleet.count_all_orders().await, 0);
}

#[tokio::test]
async fn out_of_stock_is_409_listing_the_products_with_nothing_reserved_or_charged() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 2).await;
    let mug = fleet.product("Mug", 500, 10).await;
    let ada = fleet.customer();
    fleet.add_to_cart(&ada, &lamp, 3).await;
    fleet.add_to_cart(&ada, &mug, 1).await;
    let response = fleet.checkout(&ada, "tok_visa").await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body = problem(response).await;
    assert_eq!(body["product_ids"], json!([lamp]));
    assert_eq!(body["short_items"][0]["product_id"], lamp.as_str());
    assert_eq!(body["short_items"][0]["requested"], 3);
    assert_eq!(body["short_items"][0]["available"], 2);
    assert_eq!(fleet.inventory(&lamp).await["available"], 2);
    assert_eq!(fleet.inventory(&mug).await["available"], 10);
    assert_eq!(fleet.live_charges().await, 0);
    assert_eq!(fleet.count_all_orders().await, 0);
    assert_eq!(
        fleet.cart(&ada).await["items"].as_array().unwrap().len(),
        2,
        "the cart stays"
    );
}

#[tokio::test]
async fn a_declined_payment_is_402_releases_the_stock_and_notifies() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 5).await;
    let ada = fleet.customer();
    let response = fleet.buy(&ada, &lamp, 2, "tok_declined").await;
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        problem(response).await["type"],
        "/problems/payment-declined"
    );
    assert_eq!(fleet.inventory(&lamp).await["available"], 5);
    assert_eq!(fleet.inventory(&lamp).await["reserved"], 0);
    assert_eq!(fleet.count_orders("payment_failed").await, 1);
    assert_eq!(fleet.live_charges().await, 0);
    let events = fleet.notifications.wait_for("payment_failed", 1).await;
    assert_eq!(events[0]["data"]["total_cents"], 2_000);
    assert_eq!(events[0]["data"]["currency"], "EUR");
    assert!(events[0]["data"]["order_id"].is_string());
    // The cart is kept for another try.
    assert_eq!(fleet.cart(&ada).await["items"][0]["quantity"], 2);
}

#[tokio::test]
async fn a_provider_outage_is_503_with_nothing_charged_and_nothing_reserved() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 5).await;
    let ada = fleet.customer();
    assert_eq!(
        fleet.add_to_cart(&ada, &lamp, 2).await.status(),
        StatusCode::OK
    );
    let response = fleet
        .checkout_with_key(&ada, "tok_error", "outage-key")
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = problem(response).await;
    assert!(!body.to_string().contains("tok_error"));
    assert_eq!(fleet.inventory(&lamp).await["available"], 5);
    assert_eq!(fleet.inventory(&lamp).await["reserved"], 0);
    assert_eq!(fleet.live_charges().await, 0);
    assert_eq!(fleet.count_all_orders().await, 0);
    // Same key again: the outage left no stored answer, the retry runs.
    let response = fleet
        .checkout_with_key(&ada, "tok_error", "outage-key")
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fleet.count_all_orders().await, 0);
    let response = fleet.checkout(&ada, "tok_visa").await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn catalog_down_before_reserving_is_503_with_nothing_charged() {
    let fleet = spawn_fleet_with(
        FleetOptions {
            catalog_proxy: true,
            ..Default::default()
        },
        |_, _| {},
    )
    .await;
    let lamp = fleet.product("Lamp", 1_000, 5).await;
    let ada = fleet.customer();
    assert_eq!(
        fleet.add_to_cart(&ada, &lamp, 1).await.status(),
        StatusCode::OK
    );
    fleet.catalog_proxy.as_ref().unwrap().disable();
    let response = fleet.checkout(&ada, "tok_visa").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fleet.live_charges().await, 0);
    fleet.catalog_proxy.as_ref().unwrap().enable();
    // The reconciler settles anything left behind.
    fleet.reconcile().await;
    assert_eq!(fleet.inventory(&lamp).await["available"], 5);
    assert_eq!(fleet.count_all_orders().await, 0);
}

#[tokio::test]
async fn catalog_down_mid_saga_refunds_and_no_stock_is_left_reserved() {
    // Cut catalog off right after the charge, before the commit.
    let fleet = spawn_fleet_with(
        FleetOptions {
            catalog_proxy: true,
            ..Default::default()
        },
        |s, proxy| {
            let proxy = Arc::clone(proxy.unwrap());
            s.faults.after_step = Some(Arc::new(move |step| {
                if step == SagaStep::Charged {
                    proxy.disable();
                }
                FaultAction::Continue
            }));
        },
    )
    .await;
    let lamp = fleet.product("Lamp", 1_000, 5).await;
    let ada = fleet.customer();
    let response = fleet.buy(&ada, &lamp, 2, "tok_visa").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The charge was refunded at once; nothing is charged.
    assert_eq!(fleet.live_charges().await, 0);
    let refunded: i64 = sqlx::query_scalar("select refunded_cents from fake_payments")
        .fetch_one(&fleet.order.pool)
        .await
        .unwrap();
    assert_eq!(refunded, 2_000);
    assert_eq!(fleet.count_orders("confirmed").await, 0);

    // Catalog back: the reconciler releases the reservation the saga could not.
    fleet.catalog_proxy.as_ref().unwrap().enable();
    fleet.reconcile().await;
    let stock = fleet.inventory(&lamp).await;
    assert_eq!(
        (stock["available"].as_i64(), stock["reserved"].as_i64()),
        (Some(5), Some(0))
    );
    assert_eq!(fleet.count_orders("pending").await, 0);
    assert_eq!(fleet.count_orders("cancelled").await, 1);
    fleet.assert_ledger_matches_orders().await;
}

#[tokio::test]
async fn with_notification_service_down_the_order_confirms_and_the_event_arrives_later_once() {
    let fleet = spawn_fleet().await;
    fleet.notifications.set_down(true);
    let lamp = fleet.product("Lamp", 1_000, 5).await;
    let ada = fleet.customer();
    let response = fleet.buy(&ada, &lamp, 1, "tok_visa").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: Value = response.json().await.unwrap();

    // Refused deliveries are retried.
    for _ in 0..100 {
        if fleet.notifications.attempts() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(fleet.notifications.attempts() >= 2);
    assert!(fleet.notifications.events("order_confirmed").is_empty());

    fleet.notifications.set_down(false);
    let events = fleet.notifications.wait_for("order_confirmed", 1).await;
    assert_eq!(events[0]["data"]["order_id"], order["id"]);
    // Delivered: no more attempts, exactly one event.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let delivered: i64 =
        sqlx::query_scalar("select count(*) from outbox where delivered_at is not null")
            .fetch_one(&fleet.order.pool)
            .await
            .unwrap();
    assert_eq!(delivered, 1);
    assert_eq!(fleet.notifications.events("order_confirmed").len(), 1);
}

#[tokio::test]
async fn metrics_count_checkouts_by_outcome_and_time_the_steps() {
    let fleet: Fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 5).await;
    let ada = fleet.customer();
    assert_eq!(
        fleet.buy(&ada, &lamp, 1, "tok_visa").await.status(),
        StatusCode::CREATED
    );
    let metrics = fleet.order.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("checkouts_total{outcome=\"confirmed\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("checkout_step_duration_seconds_bucket{step=\"reserve\""));
    assert!(metrics.contains("checkout_step_duration_seconds_bucket{step=\"charge\""));
    assert!(metrics.contains("checkout_step_duration_seconds_bucket{step=\"commit\""));
    assert!(metrics.contains("outbox_lag_seconds"));
}

#[tokio::test]
async fn the_request_id_reaches_the_outbox_event_written_by_the_saga() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 5).await;
    let ada = fleet.customer();
    assert_eq!(
        fleet.add_to_cart(&ada, &lamp, 1).await.status(),
        StatusCode::OK
    );
    let response = fleet
        .order
        .http
        .post(fleet.order.url("/api/v1/checkout"))
        .bearer_auth(&ada.token)
        .header("Idempotency-Key", "rid-1")
        .header("X-Request-ID", "checkout-req-42")
        .json(&checkout_body("tok_visa"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-request-id"], "checkout-req-42");
    let stored: Option<String> = sqlx::query_scalar("select request_id from outbox")
        .fetch_one(&fleet.order.pool)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some("checkout-req-42"));
}

#[tokio::test]
async fn with_its_own_database_down_checkout_is_503_and_the_same_key_works_afterwards() {
    let fleet = spawn_fleet_with(
        FleetOptions {
            database_proxy: true,
            ..Default::default()
        },
        |_, _| {},
    )
    .await;
    let lamp = fleet.product("Lamp", 1_000, 5).await;
    let ada = fleet.customer();
    assert_eq!(
        fleet.add_to_cart(&ada, &lamp, 1).await.status(),
        StatusCode::OK
    );
    let proxy = fleet.database_proxy.as_ref().unwrap();
    proxy.disable();
    let response = fleet.checkout_with_key(&ada, "tok_visa", "db-down").await;
    let status = response.status();
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        response.text().await
    );
    proxy.enable();
    let (mut last, mut body) = (status, String::new());
    for _ in 0..20 {
        let response = fleet.checkout_with_key(&ada, "tok_visa", "db-down").await;
        last = response.status();
        body = response.text().await.unwrap_or_default();
        if last != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(last, StatusCode::CREATED, "{body}");
    assert_eq!(fleet.inventory(&lamp).await["available"], 4);
}
