//! Order history, detail, cancellation and admin fulfilment.

use crate::helpers::{Customer, Fleet, FleetOptions, problem, spawn_fleet, spawn_fleet_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn confirmed_order(
    fleet: &Fleet,
    customer: &Customer,
    product: &str,
    quantity: i32,
) -> Value {
    let response = fleet.buy(customer, product, quantity, "tok_visa").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

#[tokio::test]
async fn history_is_newest_first_filterable_and_paginated() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 50).await;
    let ada = fleet.customer();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(confirmed_order(&fleet, &ada, &lamp, 1).await["id"].clone());
    }
    assert_eq!(
        fleet.buy(&ada, &lamp, 1, "tok_declined").await.status(),
        StatusCode::PAYMENT_REQUIRED
    );
    // Someone else's orders are not listed.
    let bob = fleet.customer();
    confirmed_order(&fleet, &bob, &lamp, 1).await;

    let page: Value = fleet
        .send(
            Method::GET,
            "/api/v1/orders?limit=2",
            Some(&ada.token),
            None,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["status"], "payment_failed");
    assert_eq!(page["items"][1]["id"], ids[2]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = fleet
        .send(
            Method::GET,
            &format!("/api/v1/orders?limit=2&cursor={cursor}"),
            Some(&ada.token),
            None,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["items"][0]["id"], ids[1]);
    assert_eq!(next["items"][1]["id"], ids[0]);
    assert_eq!(next["next_cursor"], Value::Null);
    assert_eq!(next["items"][0]["items"][0]["quantity"], 1);

    let confirmed: Value = fleet
        .send(
            Method::GET,
            "/api/v1/orders?status=confirmed",
            Some(&ada.token),
            None,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(confirmed["items"].as_array().unwrap().len(), 3);

    for bad in ["status=lost", "limit=0", "limit=101", "cursor=%%%"] {
        let response = fleet
            .send(
                Method::GET,
                &format!("/api/v1/orders?{bad}"),
                Some(&ada.token),
                None,
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

#[tokio::test]
async fn an_order_is_visible_to_its_owner_only() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 50).await;
    let ada = fleet.customer();
    let order = confirmed_order(&fleet, &ada, &lamp, 2).await;
    let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
    let response = fleet
        .send(Method::GET, &path, Some(&ada.token), None, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let fetched: Value = response.json().await.unwrap();
    assert_eq!(fetched, order);
    let bob = fleet.customer();
    let response = fleet
        .send(Method::GET, &path, Some(&bob.token), None, None)
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = fleet
        .send(
            Method::GET,
            "/api/v1/orders/not-a-uuid",
            Some(&ada.token),
            None,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cancelling_a_confirmed_order_refunds_restocks_and_notifies() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let ada = fleet.customer();
    let order = confirmed_order(&fleet, &ada, &lamp, 3).await;
    assert_eq!(fleet.inventory(&lamp).await["on_hand"], 7);
    let path = format!("/api/v1/orders/{}/cancel", order["id"].as_str().unwrap());

    let bob = fleet.customer();
    let response = fleet
        .send(Method::POST, &path, Some(&bob.token), None, None)
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let response = fleet
        .send(
            Method::POST,
            &path,
            Some(&ada.token),
            None,
            Some("cancel-1"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["payment"]["status"], "refunded");
    assert_eq!(cancelled["refund_cents"], 3_000);
    assert_eq!(fleet.inventory(&lamp).await["on_hand"], 10);
    assert_eq!(fleet.live_charges().await, 0);
    let events = fleet.notifications.wait_for("order_cancelled", 1).await;
    assert_eq!(
        events[0]["data"],
        json!({"order_id": order["id"], "refund_cents": 3_000, "currency": "EUR",
               "subtotal_cents": 3_000, "discount_cents": 0, "shipping_cents": 0,
               "tax_cents": 0, "total_cents": 3_000, "discount_code": null,
               "shipping_method": null})
    );

    // The same key replays; a new attempt is 409.
    let replay = fleet
        .send(
            Method::POST,
            &path,
            Some(&ada.token),
            None,
            Some("cancel-1"),
        )
        .await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.json::<Value>().await.unwrap(), cancelled);
    let again = fleet
        .send(Method::POST, &path, Some(&ada.token), None, None)
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(
        fleet.inventory(&lamp).await["on_hand"],
        10,
        "restocked once"
    );
}

#[tokio::test]
async fn admins_list_all_orders_and_move_them_along_fulfilment() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let ada = fleet.customer();
    let order = confirmed_order(&fleet, &ada, &lamp, 1).await;
    let bob = fleet.customer();
    confirmed_order(&fleet, &bob, &lamp, 1).await;
    let admin = fleet.admin();
    let status_path = format!(
        "/api/v1/admin/orders/{}/status",
        order["id"].as_str().unwrap()
    );

    let response = fleet
        .send(
            Method::GET,
            "/api/v1/admin/orders",
            Some(&ada.token),
            None,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = fleet
        .send(
            Method::POST,
            &status_path,
            Some(&ada.token),
            Some(&json!({"status": "shipped"})),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let all: Value = fleet
        .send(
            Method::GET,
            "/api/v1/admin/orders",
            Some(&admin),
            None,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let adas: Value = fleet
        .send(
            Method::GET,
            &format!("/api/v1/admin/orders?user_id={}", ada.id),
            Some(&admin),
            None,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(adas["items"].as_array().unwrap().len(), 1);

    let response = fleet
        .send(
            Method::POST,
            &status_path,
            Some(&admin),
            Some(&json!({"status": "delivered"})),
            None,
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CONFLICT,
        "confirmed cannot be delivered"
    );
    let response = fleet
        .send(
            Method::POST,
            &status_path,
            Some(&admin),
            Some(&json!({"status": "shipped"})),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "shipped");
    let response = fleet
        .send(
            Method::POST,
            &status_path,
            Some(&admin),
            Some(&json!({"status": "shipped"})),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    // A shipped order can no longer be cancelled.
    let cancel = format!("/api/v1/orders/{}/cancel", order["id"].as_str().unwrap());
    assert_eq!(
        fleet
            .send(Method::POST, &cancel, Some(&ada.token), None, None)
            .await
            .status(),
        StatusCode::CONFLICT
    );
    let response = fleet
        .send(
            Method::POST,
            &status_path,
            Some(&admin),
            Some(&json!({"status": "delivered"})),
            None,
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "delivered"
    );
    let response = fleet
        .send(
            Method::POST,
            &status_path,
            Some(&admin),
            Some(&json!({"status": "cancelled"})),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let missing = format!("/api/v1/admin/orders/{}/status", uuid::Uuid::new_v4());
    let response = fleet
        .send(
            Method::POST,
            &missing,
            Some(&admin),
            Some(&json!({"status": "shipped"})),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let _ = problem(response).await;
}

#[tokio::test]
async fn a_cancel_cut_off_from_catalog_is_503_and_a_retry_finishes_it() {
    let fleet = spawn_fleet_with(
        FleetOptions {
            catalog_proxy: true,
            ..FleetOptions::default()
        },
        |_, _| {},
    )
    .await;
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let ada = fleet.customer();
    let order = confirmed_order(&fleet, &ada, &lamp, 2).await;
    let id = order["id"].as_str().unwrap();
    let cancel = format!("/api/v1/orders/{id}/cancel");
    let proxy = fleet.catalog_proxy.as_ref().unwrap();

    proxy.disable();
    let response = fleet
        .send(Method::POST, &cancel, Some(&ada.token), None, None)
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let stored = fleet.order_step(id).await;
    assert_eq!(stored, ("confirmed".to_owned(), "completed".to_owned()));

    proxy.enable();
    let response = fleet
        .send(Method::POST, &cancel, Some(&ada.token), None, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "cancelled"
    );
    assert_eq!(fleet.inventory(&lamp).await["on_hand"], 10);
    assert_eq!(fleet.live_charges().await, 0);
    fleet.notifications.wait_for("order_cancelled", 1).await;
}

#[tokio::test]
async fn an_order_being_cancelled_cannot_ship_and_a_dead_cancel_is_taken_over_after_its_lease() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let ada = fleet.customer();
    let order = confirmed_order(&fleet, &ada, &lamp, 2).await;
    let id = order["id"].as_str().unwrap();
    // A cancel in flight (its process may have died): the order is marked.
    sqlx::query("update orders set saga_step = 'cancelling' where order_id = $1::uuid")
        .bind(id)
        .execute(&fleet.order.pool)
        .await
        .unwrap();
    let ship = fleet
        .send(
            Method::POST,
            &format!("/api/v1/admin/orders/{id}/status"),
            Some(&fleet.admin()),
            Some(&json!({"status": "shipped"})),
            None,
        )
        .await;
    assert_eq!(ship.status(), StatusCode::CONFLICT);
    assert!(
        problem(ship).await["detail"]
            .as_str()
            .unwrap()
            .contains("being cancelled")
    );
    let cancel = format!("/api/v1/orders/{id}/cancel");
    let second = fleet
        .send(Method::POST, &cancel, Some(&ada.token), None, None)
        .await;
    assert_eq!(second.status(), StatusCode::CONFLICT);

    // Past the lease, the mark belongs to a cancel that died: taken over.
    sqlx::query(
        "update orders set updated_at = now() - interval '1 hour' where order_id = $1::uuid",
    )
    .bind(id)
    .execute(&fleet.order.pool)
    .await
    .unwrap();
    let response = fleet
        .send(Method::POST, &cancel, Some(&ada.token), None, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(fleet.order_step(id).await.0, "cancelled");
    assert_eq!(fleet.inventory(&lamp).await["on_hand"], 10);
}
