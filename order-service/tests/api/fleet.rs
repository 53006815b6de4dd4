//! The full happy path with catalog-service and notification-service both
//! running for real in-process (each on its own database): the order is
//! confirmed, stock leaves the catalog, and the customer gets exactly one
//! confirmation mail through a real SMTP server.

use crate::helpers::{FleetOptions, spawn_fleet_with};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn checkout_confirms_and_the_real_notification_service_mails_it_once() {
    let fleet = spawn_fleet_with(
        FleetOptions {
            real_notifications: true,
            ..FleetOptions::default()
        },
        |_, _| {},
    )
    .await;
    let lamp = fleet.product("Desk <b>lamp</b>", 2_500, 10).await;
    let ada = fleet.customer();

    let response = fleet.buy(&ada, &lamp, 2, "tok_visa").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: Value = response.json().await.unwrap();
    let order_id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(order["status"], "confirmed");
    assert_eq!(fleet.inventory(&lamp).await["on_hand"], 8);
    fleet.assert_ledger_matches_orders().await;

    let real = fleet.real_notifications.as_ref().unwrap();
    let mails = real.smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails[0].to, vec![format!("{}@example.com", ada.id)]);
    let raw = mails[0].data_str();
    assert!(
        raw.contains(&format!("Your order {order_id} is confirmed")),
        "{raw}"
    );
    assert!(raw.contains("50.00 EUR"), "the total, formatted: {raw}");

    // The customer's history in notification-service shows it sent (the
    // worker records the outcome just after the SMTP server took the mail).
    let token = real.app.issuer.user_token(ada.id, "notification-service");
    let mut history = Value::Null;
    for _ in 0..100 {
        history = real
            .app
            .http
            .get(real.app.url("/api/v1/notifications"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if history["items"][0]["status"] == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{history}");
    assert_eq!(items[0]["template"], "order_confirmed");
    assert_eq!(items[0]["status"], "sent", "{history}");

    // Exactly once: nothing more arrives once the outbox has drained.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(real.smtp.message_count(), 1);
    let delivered: i64 =
        sqlx::query_scalar("select count(*) from outbox where delivered_at is not null")
            .fetch_one(&fleet.order.pool)
            .await
            .unwrap();
    assert_eq!(delivered, 1);
}
