//! `POST /internal/v1/user-deletions`: a deleted account's cart, shipping
//! addresses, stored checkout answers and pending notification events are
//! erased, once; its orders stay for the accounts; failed outbox events go
//! after their retention.

use crate::helpers::{Customer, Fleet, FleetOptions, problem, spawn_fleet, spawn_fleet_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

const PATH: &str = "/internal/v1/user-deletions";

fn user_deleted(user_id: Uuid) -> Value {
    json!({"event_id": Uuid::now_v7(), "user_id": user_id, "deleted_at": chrono::Utc::now()})
}

async fn report(fleet: &Fleet, event: &Value) -> reqwest::Response {
    let token = fleet.order.service_token("user-service");
    fleet
        .send(Method::POST, PATH, Some(&token), Some(event), None)
        .await
}

/// What order-service still holds about a user, as `(cart lines, orders
/// with an address, idempotency keys, outbox events about them)`.
async fn held(fleet: &Fleet, user_id: Uuid) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "select
           (select count(*) from cart_items where user_id = $1),
           (select count(*) from orders where user_id = $1
              and shipping_address - 'country'
                  <> '{\"name\": \"\", \"line1\": \"\", \"city\": \"\", \"postal_code\": \"\"}'::jsonb),
           (select count(*) from idempotency_keys where user_id = $1),
           (select count(*) from outbox where payload->>'user_id' = $1::text)",
    )
    .bind(user_id)
    .fetch_one(&fleet.order.pool)
    .await
    .unwrap()
}

/// A customer with two confirmed orders (their events still undelivered:
/// notification-service is down) and one line left in the cart.
async fn customer_with_orders(fleet: &Fleet, product: &str) -> (Customer, Vec<Value>) {
    let customer = fleet.customer();
    let mut orders = Vec::new();
    for _ in 0..2 {
        let response = fleet.buy(&customer, product, 1, "tok_visa").await;
        assert_eq!(response.status(), StatusCode::CREATED);
        orders.push(response.json::<Value>().await.unwrap());
    }
    assert_eq!(
        fleet.add_to_cart(&customer, product, 2).await.status(),
        StatusCode::OK
    );
    (customer, orders)
}

async fn order(fleet: &Fleet, customer: &Customer, id: &str) -> Value {
    let response = fleet
        .send(
            Method::GET,
            &format!("/api/v1/orders/{id}"),
            Some(&customer.token),
            None,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_deleted_account_loses_its_cart_and_addresses_and_keeps_its_orders() {
    // notification-service is down for the whole test: events must not be
    // given up meanwhile.
    let fleet = spawn_fleet_with(FleetOptions::default(), |s, _| {
        s.outbox.max_attempts = 10_000;
    })
    .await;
    fleet.notifications.set_down(true);
    let product = fleet.product("Lamp", 1999, 50).await;
    let (ada, orders) = customer_with_orders(&fleet, &product).await;
    let (bob, _) = customer_with_orders(&fleet, &product).await;
    assert_eq!(held(&fleet, ada.id).await, (1, 2, 2, 2));

    let response = report(&fleet, &user_deleted(ada.id)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    assert_eq!(held(&fleet, ada.id).await, (0, 0, 0, 0));
    assert_eq!(fleet.cart(&ada).await["items"], json!([]));
    for before in &orders {
        let after = order(&fleet, &ada, before["id"].as_str().unwrap()).await;
        assert_eq!(
            after["shipping_address"],
            json!({"name": "", "line1": "", "city": "", "postal_code": "", "country": "GB"})
        );
        // Kept for the accounts: status, lines, amounts, payment.
        for field in [
            "status",
            "items",
            "subtotal_cents",
            "total_cents",
            "currency",
            "payment",
        ] {
            assert_eq!(after[field], before[field], "{field}");
        }
    }
    // The admin view, too.
    let response = fleet
        .send(
            Method::GET,
            &format!("/api/v1/admin/orders?user_id={}", ada.id),
            Some(&fleet.admin()),
            None,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let listed: Value = response.json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains("Ada Lovelace"), "{listed}");
    // The other customer is untouched, and their events still go out.
    assert_eq!(held(&fleet, bob.id).await, (1, 2, 2, 2));
    fleet.notifications.set_down(false);
    // The relay's circuit to it reopens within its 10 s cool-down.
    let mut confirmed = Vec::new();
    for _ in 0..300 {
        confirmed = fleet.notifications.events("order_confirmed");
        if confirmed.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(confirmed.len(), 2, "{confirmed:?}");
    assert!(
        confirmed.iter().all(|e| e["user_id"] == bob.id.to_string()),
        "{confirmed:?}"
    );
}

#[tokio::test]
async fn a_redelivered_deletion_is_harmless_and_the_sweep_erases_later_writes() {
    let fleet = spawn_fleet().await;
    let product = fleet.product("Lamp", 1999, 50).await;
    let (ada, _) = customer_with_orders(&fleet, &product).await;
    let event = user_deleted(ada.id);
    // Concurrent first deliveries: one erasure, every answer 204.
    let answers = futures::future::join_all((0..10).map(|_| report(&fleet, &event))).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::NO_CONTENT));
    let recorded: i64 = sqlx::query_scalar("select count(*) from erased_users")
        .fetch_one(&fleet.order.pool)
        .await
        .unwrap();
    assert_eq!(recorded, 1);

    // The access token outlives the account a few minutes: a checkout made
    // with it after the erasure.
    let late = fleet.buy(&ada, &product, 1, "tok_visa").await;
    assert_eq!(late.status(), StatusCode::CREATED);
    let late: Value = late.json().await.unwrap();
    assert_eq!(late["shipping_address"]["name"], "Ada Lovelace");
    // A redelivery changes nothing (it was applied)...
    let response = report(&fleet, &event).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(held(&fleet, ada.id).await.1, 1);
    // ... and the sweep erases what was written after the erasure.
    let touched = order_service::features::erasure::service::reapply_recent(
        &fleet.order.pool,
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    assert_eq!(touched, 1);
    assert_eq!(held(&fleet, ada.id).await, (0, 0, 0, 0));
    let after = order(&fleet, &ada, late["id"].as_str().unwrap()).await;
    assert_eq!(after["shipping_address"]["name"], "");
    assert_eq!(after["status"], "confirmed");
}

#[tokio::test]
async fn only_user_service_reports_deleted_accounts() {
    let fleet = spawn_fleet().await;
    let product = fleet.product("Lamp", 1999, 50).await;
    let (ada, _) = customer_with_orders(&fleet, &product).await;
    let event = user_deleted(ada.id);
    let response = fleet
        .send(Method::POST, PATH, None, Some(&event), None)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = fleet
        .send(Method::POST, PATH, Some(&ada.token), Some(&event), None)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let catalog = fleet.order.service_token("catalog-service");
    let response = fleet
        .send(Method::POST, PATH, Some(&catalog), Some(&event), None)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(problem(response).await["status"], 403);
    let response = report(&fleet, &json!({"event_id": Uuid::now_v7(), "user_id": 42})).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(held(&fleet, ada.id).await.0, 1, "nothing erased");
}

#[tokio::test]
async fn given_up_and_delivered_events_are_deleted_after_their_retention() {
    let fleet = spawn_fleet_with(FleetOptions::default(), |s, _| {
        s.outbox.failed_retention_days = 7;
        s.outbox.sweep_interval_secs = 1;
    })
    .await;
    // Backdated rows: given up 8 days ago (deleted), given up 6 days ago
    // (kept), delivered 2 hours ago (deleted), pending for 8 days (kept:
    // it has not been delivered).
    let rows = [
        ("failed_at = now() - interval '8 days'", false),
        ("failed_at = now() - interval '6 days'", true),
        ("delivered_at = now() - interval '2 hours'", false),
        ("attempts = 3", true),
    ];
    let mut kept = Vec::new();
    for (state, keep) in rows {
        let id = Uuid::now_v7();
        sqlx::query(
            "insert into outbox (event_id, destination, path, payload, created_at, next_attempt_at)
             values ($1, 'notification-service', '/internal/v1/notifications', $2,
                     now() - interval '8 days', now() + interval '1 day')",
        )
        .bind(id)
        .bind(json!({"event_id": id, "template": "payment_failed", "data": {}}))
        .execute(&fleet.order.pool)
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "update outbox set {state} where event_id = $1"
        )))
        .bind(id)
        .execute(&fleet.order.pool)
        .await
        .unwrap();
        if keep {
            kept.push(id);
        }
    }
    let mut left: Vec<Uuid> = Vec::new();
    for _ in 0..100 {
        left = sqlx::query_scalar("select event_id from outbox order by event_id")
            .fetch_all(&fleet.order.pool)
            .await
            .unwrap();
        if left == kept {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, kept);
}
