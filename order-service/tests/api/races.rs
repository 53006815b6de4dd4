//! Concurrency: never oversell, never charge twice, never run a saga twice.

use crate::helpers::{Customer, FleetOptions, spawn_fleet_with};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn twenty_concurrent_checkouts_of_the_last_five_units_confirm_exactly_five() {
    let fleet = spawn_fleet_with(
        FleetOptions {
            big_pools: true,
            ..Default::default()
        },
        |_, _| {},
    )
    .await;
    let lamp = fleet.product("Last lamps", 1_000, 5).await;
    let customers: Vec<Customer> = (0..20).map(|_| fleet.customer()).collect();
    for customer in &customers {
        assert_eq!(
            fleet.add_to_cart(customer, &lamp, 1).await.status(),
            StatusCode::OK
        );
    }
    let responses = join_all(customers.iter().map(|c| fleet.checkout(c, "tok_visa"))).await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [vec![201; 5], vec![409; 15]].concat(),
        "{statuses:?}"
    );
    for response in responses {
        if response.status() == StatusCode::CONFLICT {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["product_ids"][0], lamp.as_str());
        }
    }
    let stock = fleet.inventory(&lamp).await;
    assert_eq!(
        (
            stock["on_hand"].as_i64(),
            stock["reserved"].as_i64(),
            stock["available"].as_i64()
        ),
        (Some(0), Some(0), Some(0))
    );
    assert_eq!(fleet.count_orders("confirmed").await, 5);
    assert_eq!(fleet.count_all_orders().await, 5);
    assert_eq!(fleet.live_charges().await, 5);
    fleet.assert_ledger_matches_orders().await;
}

#[tokio::test]
async fn the_same_key_sent_ten_times_at_once_creates_one_order_and_one_charge() {
    let fleet = spawn_fleet_with(
        FleetOptions {
            big_pools: true,
            ..Default::default()
        },
        |_, _| {},
    )
    .await;
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let ada = fleet.customer();
    assert_eq!(
        fleet.add_to_cart(&ada, &lamp, 2).await.status(),
        StatusCode::OK
    );
    let responses =
        join_all((0..10).map(|_| fleet.checkout_with_key(&ada, "tok_visa", "the-one-key"))).await;
    let mut answers = Vec::new();
    for response in responses {
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        answers.push((status, body));
    }
    assert_eq!(answers[0].0, StatusCode::CREATED, "{:?}", answers[0]);
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(fleet.count_all_orders().await, 1);
    assert_eq!(fleet.live_charges().await, 1);
    assert_eq!(fleet.inventory(&lamp).await["on_hand"], 8);
    fleet.assert_ledger_matches_orders().await;
}

#[tokio::test]
async fn concurrent_cancels_refund_and_restock_once() {
    let fleet = spawn_fleet_with(
        FleetOptions {
            big_pools: true,
            ..Default::default()
        },
        |_, _| {},
    )
    .await;
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let ada = fleet.customer();
    let order: Value = fleet
        .buy(&ada, &lamp, 4, "tok_visa")
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/orders/{}/cancel", order["id"].as_str().unwrap());
    let responses = join_all(
        (0..5).map(|_| fleet.send(reqwest::Method::POST, &path, Some(&ada.token), None, None)),
    )
    .await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 409, 409, 409, 409]);
    assert_eq!(fleet.inventory(&lamp).await["on_hand"], 10);
    assert_eq!(fleet.live_charges().await, 0);
    assert_eq!(
        fleet
            .notifications
            .wait_for("order_cancelled", 1)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn concurrent_adds_never_take_a_cart_past_100_lines() {
    let fleet = spawn_fleet_with(
        FleetOptions {
            big_pools: true,
            ..FleetOptions::default()
        },
        |_, _| {},
    )
    .await;
    let ada = fleet.customer();
    // 95 lines already (products catalog no longer sells: listed unavailable).
    sqlx::query(
        "insert into cart_items (user_id, product_id, quantity)
         select $1, gen_random_uuid(), 1 from generate_series(1, 95)",
    )
    .bind(ada.id)
    .execute(&fleet.order.pool)
    .await
    .unwrap();
    let mut products = Vec::new();
    for i in 0..12 {
        products.push(fleet.product(&format!("Thing {i}"), 100, 5).await);
    }
    let adds = join_all(products.iter().map(|p| fleet.add_to_cart(&ada, p, 1))).await;
    let ok = adds.iter().filter(|r| r.status() == StatusCode::OK).count();
    let refused = adds
        .iter()
        .filter(|r| r.status() == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!((ok, refused), (5, 7), "every add is answered, 5 fit");
    let lines: i64 = sqlx::query_scalar("select count(*) from cart_items where user_id = $1")
        .bind(ada.id)
        .fetch_one(&fleet.order.pool)
        .await
        .unwrap();
    assert_eq!(lines, 100);
}
