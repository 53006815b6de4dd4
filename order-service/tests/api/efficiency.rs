//! What a checkout costs: database round trips (counted by the proxy in
//! front of order-service's Postgres) and calls to catalog-service.

use crate::helpers::{Fleet, FleetOptions, spawn_fleet_with};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// A fleet whose database round trips (and, with `catalog_proxy`, calls to
/// catalog-service) are counted: one connection, so a warm-up prepares
/// every statement on the connection the counted requests use, and a
/// quiet relay.
async fn counting_fleet(catalog_proxy: bool) -> Fleet {
    spawn_fleet_with(
        FleetOptions {
            database_proxy: true,
            catalog_proxy,
            ..FleetOptions::default()
        },
        |s, _| {
            s.database.max_connections = 1;
            s.outbox.poll_interval_ms = 3_600_000;
        },
    )
    .await
}

#[tokio::test]
async fn a_checkout_makes_at_most_six_database_round_trips_and_two_catalog_calls() {
    let fleet = counting_fleet(true).await;
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let ada = fleet.customer();
    let warm_up = fleet.buy(&ada, &lamp, 1, "tok_visa").await;
    assert_eq!(warm_up.status(), StatusCode::CREATED);

    assert_eq!(
        fleet.add_to_cart(&ada, &lamp, 2).await.status(),
        StatusCode::OK
    );
    let database = fleet.database_proxy.as_ref().unwrap();
    let catalog = fleet.catalog_proxy.as_ref().unwrap();
    let (trips, calls) = (database.round_trips(), catalog.http_requests());
    let seen = fleet.catalog.requests().len();
    let response = fleet.checkout(&ada, "tok_visa").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let trips = database.round_trips() - trips;
    let calls = catalog.http_requests() - calls;
    // Statement round trips (sqlx's ping as a connection goes back to the
    // pool is not one: nothing waits for it): claim the key (counting the
    // attempt and holding a decline, the checkout limits), open the order
    // from the cart (and redeem its discount code), record the reservation
    // (with its breakdown), charge (the fake provider's ledger), confirm,
    // store the answer (giving the decline back).
    assert!(trips <= 6, "{trips} database round trips");
    assert!(trips >= 5, "{trips}: the proxy counts round trips");
    // Reserve and commit.
    assert_eq!(calls, 2, "{calls} calls to catalog-service");
    let requests = fleet.catalog.requests();
    let (first, second) = (&requests[seen], &requests[seen + 1]);
    assert!(first.ends_with("/reservations"), "{requests:?}");
    assert!(second.ends_with("/commit"), "{requests:?}");
}

#[tokio::test]
async fn a_cart_is_read_in_one_round_trip_and_added_to_in_two() {
    let fleet = counting_fleet(false).await;
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let desk = fleet.product("Desk", 5_000, 10).await;
    let admin = fleet.admin();
    let code = fleet
        .send(
            Method::POST,
            "/api/v1/admin/discount-codes",
            Some(&admin),
            Some(&json!({"code": "TEN", "kind": "percent", "value": 10})),
            None,
        )
        .await;
    assert_eq!(code.status(), StatusCode::CREATED);
    let ada = fleet.customer();
    assert_eq!(
        fleet.add_to_cart(&ada, &lamp, 1).await.status(),
        StatusCode::OK
    );
    let applied = fleet
        .send(
            Method::PUT,
            "/api/v1/cart/discount",
            Some(&ada.token),
            Some(&json!({"code": "ten"})),
            None,
        )
        .await;
    assert_eq!(applied.status(), StatusCode::OK);
    // Warm up: every statement prepared on the one connection.
    fleet.cart(&ada).await;
    assert_eq!(
        fleet.add_to_cart(&ada, &lamp, 1).await.status(),
        StatusCode::OK
    );

    let database = fleet.database_proxy.as_ref().unwrap();
    let before = database.round_trips();
    let cart = fleet.cart(&ada).await;
    assert_eq!(database.round_trips() - before, 1, "reading the cart");
    assert_eq!(cart["discount"]["code"], "TEN", "{cart}");
    assert_eq!(cart["items"].as_array().map(Vec::len), Some(1), "{cart}");

    let before = database.round_trips();
    let added = fleet.add_to_cart(&ada, &desk, 3).await;
    assert_eq!(added.status(), StatusCode::OK);
    // The cart with its code, then the line.
    assert_eq!(database.round_trips() - before, 2, "adding to the cart");
    let cart: serde_json::Value = added.json().await.unwrap();
    assert_eq!(cart["discount"]["code"], "TEN", "{cart}");
    // Oldest line first, each with its own quantity.
    let lines: Vec<_> = cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["product_id"].clone(), i["quantity"].clone()))
        .collect();
    assert_eq!(
        lines,
        vec![(json!(lamp), json!(2)), (json!(desk), json!(3))],
        "{cart}"
    );
}
