//! The cart: catalog-validated lines of 1-99 units, priced from the
//! catalog's current data.

use crate::helpers::{problem, spawn_fleet};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn the_cart_adds_lines_and_shows_the_catalogs_current_prices() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Desk lamp", 2_500, 10).await;
    let mug = fleet.product("Mug", 900, 10).await;
    let ada = fleet.customer();

    let response = fleet.add_to_cart(&ada, &lamp, 2).await;
    assert_eq!(response.status(), StatusCode::OK);
    fleet.add_to_cart(&ada, &mug, 1).await;
    let cart = fleet
        .add_to_cart(&ada, &lamp, 1)
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(cart["items"][0]["quantity"], 3, "adding adds to the line");
    assert_eq!(cart["items"][0]["line_total_cents"], 7_500);
    assert_eq!(cart["subtotal_cents"], 8_400);
    assert_eq!(cart["currency"], "EUR");

    // A price change in the catalog shows at the next read.
    fleet
        .patch_product(&lamp, &json!({"price_cents": 3_000}))
        .await;
    let cart = fleet.cart(&ada).await;
    assert_eq!(cart["items"][0]["unit_price_cents"], 3_000);
    assert_eq!(cart["items"][0]["name"], "Desk lamp");
    assert_eq!(cart["subtotal_cents"], 9_900);

    // Another user's cart is their own.
    let bob = fleet.customer();
    assert_eq!(fleet.cart(&bob).await["items"], json!([]));
    assert_eq!(fleet.cart(&bob).await["currency"], json!(null));
}

#[tokio::test]
async fn unknown_and_inactive_products_are_422() {
    let fleet = spawn_fleet().await;
    let ada = fleet.customer();
    let response = fleet
        .add_to_cart(&ada, &Uuid::new_v4().to_string(), 1)
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["errors"][0]["field"], "product_id");

    let gone = fleet.product("Gone", 100, 5).await;
    fleet.delete_product(&gone).await;
    let response = fleet.add_to_cart(&ada, &gone, 1).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let inactive = fleet.product("Hidden", 100, 5).await;
    fleet
        .patch_product(&inactive, &json!({"active": false}))
        .await;
    let response = fleet.add_to_cart(&ada, &inactive, 1).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A product deleted after it was added shows as unavailable.
    let later = fleet.product("Later", 100, 5).await;
    assert_eq!(
        fleet.add_to_cart(&ada, &later, 1).await.status(),
        StatusCode::OK
    );
    fleet.delete_product(&later).await;
    let cart = fleet.cart(&ada).await;
    assert_eq!(cart["items"], json!([]));
    assert_eq!(cart["unavailable_items"][0]["product_id"], later.as_str());
}

#[tokio::test]
async fn quantities_stay_between_1_and_99_per_line() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 100, 500).await;
    let ada = fleet.customer();
    for quantity in [0, -1, 100] {
        let response = fleet.add_to_cart(&ada, &lamp, quantity).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{quantity}"
        );
        assert_eq!(problem(response).await["errors"][0]["field"], "quantity");
    }
    assert_eq!(
        fleet.add_to_cart(&ada, &lamp, 60).await.status(),
        StatusCode::OK
    );
    let response = fleet.add_to_cart(&ada, &lamp, 40).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fleet.cart(&ada).await["items"][0]["quantity"], 60);
    let response = fleet
        .send(
            Method::PATCH,
            &format!("/api/v1/cart/items/{lamp}"),
            Some(&ada.token),
            Some(&json!({"quantity": 100})),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Constraint in the database as well.
    let err = sqlx::query("update cart_items set quantity = 100")
        .execute(&fleet.order.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("check"), "{err}");
}

#[tokio::test]
async fn lines_are_updated_removed_and_the_cart_cleared() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 50).await;
    let mug = fleet.product("Mug", 500, 50).await;
    let ada = fleet.customer();
    fleet.add_to_cart(&ada, &lamp, 1).await;
    fleet.add_to_cart(&ada, &mug, 1).await;

    let response = fleet
        .send(
            Method::PATCH,
            &format!("/api/v1/cart/items/{lamp}"),
            Some(&ada.token),
            Some(&json!({"quantity": 5})),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cart: serde_json::Value = response.json().await.unwrap();
    assert_eq!(cart["subtotal_cents"], 5_500);

    let absent = Uuid::new_v4();
    let response = fleet
        .send(
            Method::PATCH,
            &format!("/api/v1/cart/items/{absent}"),
            Some(&ada.token),
            Some(&json!({"quantity": 5})),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let response = fleet
        .send(
            Method::DELETE,
            &format!("/api/v1/cart/items/{mug}"),
            Some(&ada.token),
            None,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cart: serde_json::Value = response.json().await.unwrap();
    assert_eq!(cart["items"].as_array().unwrap().len(), 1);

    let response = fleet
        .send(Method::DELETE, "/api/v1/cart", Some(&ada.token), None, None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(fleet.cart(&ada).await["items"], json!([]));
}

#[tokio::test]
async fn the_cart_needs_a_user_token_and_a_reachable_catalog() {
    let fleet = spawn_fleet().await;
    let response = fleet
        .send(Method::GET, "/api/v1/cart", None, None, None)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let service = fleet.order.service_token("catalog-service");
    let response = fleet
        .send(Method::GET, "/api/v1/cart", Some(&service), None, None)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let ada = fleet.customer();
    let lamp = fleet.product("Lamp", 1_000, 50).await;
    fleet.add_to_cart(&ada, &lamp, 1).await;
    fleet.catalog.stop();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let response = fleet
        .send(Method::GET, "/api/v1/cart", Some(&ada.token), None, None)
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = problem(response).await;
    assert!(!body["detail"].as_str().unwrap().contains("127.0.0.1"));
}

#[tokio::test]
async fn confirmation_takes_only_what_was_ordered_out_of_the_cart() {
    // Lines added or raised while a checkout ran are not lost with it.
    let fleet = spawn_fleet().await;
    let pool = &fleet.order.pool;
    let user = Uuid::now_v7();
    let (ordered, raised, added) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for (product, quantity) in [(ordered, 2), (raised, 5), (added, 1)] {
        sqlx::query("insert into cart_items (user_id, product_id, quantity) values ($1, $2, $3)")
            .bind(user)
            .bind(product)
            .bind(quantity)
            .execute(pool)
            .await
            .unwrap();
    }
    // An order at `charging` for two of the lines, confirmed as the saga does.
    let order_id = Uuid::now_v7();
    sqlx::query(
        "insert into orders (order_id, user_id, shipping_address, payment_provider, saga_step)
         values ($1, $2, '{}', 'fake', 'charging')",
    )
    .bind(order_id)
    .bind(user)
    .execute(pool)
    .await
    .unwrap();
    // Its lines, as the reservation step records them.
    for (product, quantity) in [(ordered, 2), (raised, 3)] {
        sqlx::query(
            "insert into order_items
                 (order_id, product_id, name, unit_price_cents, quantity, line_total_cents)
             values ($1, $2, 'thing', 0, $3, 0)",
        )
        .bind(order_id)
        .bind(product)
        .bind(quantity)
        .execute(pool)
        .await
        .unwrap();
    }
    let event = service_kit::outbox::OutboxRow::of(&service_kit::outbox::Notification::new(
        "order_confirmed",
        serde_json::json!({}),
    ))
    .unwrap();
    let confirmation = order_service::features::checkout::repository::Confirmation {
        provider_ref: "ch_1",
        take_from_cart: true,
        event: &event,
    };
    let confirmed =
        order_service::features::checkout::repository::confirm(pool, order_id, &confirmation)
            .await
            .unwrap();
    assert!(confirmed.is_some());
    let mut left: Vec<(Uuid, i32)> =
        sqlx::query_as("select product_id, quantity from cart_items where user_id = $1")
            .bind(user)
            .fetch_all(pool)
            .await
            .unwrap();
    left.sort();
    let mut expected = vec![(raised, 2), (added, 1)];
    expected.sort();
    assert_eq!(left, expected);
}
