//! Payments: the signed webhook and the HTTP gateway provider against a
//! fake gateway.

use crate::helpers::{FleetOptions, GatewayMode, problem, spawn_fleet, spawn_fleet_with};
use order_service::features::payments::service::sign;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

async fn post_webhook(
    fleet: &crate::helpers::Fleet,
    body: &Value,
    signature: Option<String>,
) -> reqwest::Response {
    let mut request = fleet
        .order
        .http
        .post(fleet.order.url("/api/v1/payments/webhook"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(signature) = signature {
        request = request.header("Payment-Signature", signature);
    }
    request.send().await.unwrap()
}

fn signature(secret: &str, timestamp: i64, body: &Value) -> String {
    let sig = sign(
        &SecretString::from(secret.to_owned()),
        timestamp,
        body.to_string().as_bytes(),
    );
    format!("t={timestamp},v1={sig}")
}

#[tokio::test]
async fn signed_webhooks_update_payment_state_once_per_event() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let ada = fleet.customer();
    let order: Value = fleet
        .buy(&ada, &lamp, 1, "tok_visa")
        .await
        .json()
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let event = json!({"id": "evt_1", "type": "charge.refunded",
                       "data": {"order_id": order["id"], "provider_ref": order["payment"]["provider_ref"]}});

    // Bad, stale and missing signatures are 400 and change nothing. (The
    // tolerance is 300 s; the margin covers a loaded machine's delay
    // between signing here and checking there.)
    for sig in [
        Some(signature("wrong_secret", now, &event)),
        Some(signature("whsec_local_only", now - 330, &event)),
        Some(signature("whsec_local_only", now + 330, &event)),
        Some("t=abc,v1=zz".to_owned()),
        None,
    ] {
        let response = post_webhook(&fleet, &event, sig.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{sig:?}");
        let body = problem(response).await;
        assert!(!body.to_string().contains("whsec"), "{body}");
    }
    let tampered = json!({"id": "evt_1", "type": "charge.refunded", "data": {"order_id": uuid::Uuid::new_v4()}});
    let response = post_webhook(
        &fleet,
        &tampered,
        Some(signature("whsec_local_only", now, &event)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let sig = signature("whsec_local_only", now, &event);
    let response = post_webhook(&fleet, &event, Some(sig.clone())).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
    let fetched: Value = fleet
        .send(reqwest::Method::GET, &path, Some(&ada.token), None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["payment"]["status"], "refunded");
    // Redelivery is harmless.
    let response = post_webhook(&fleet, &event, Some(sig)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let events: i64 = sqlx::query_scalar("select count(*) from payment_events")
        .fetch_one(&fleet.order.pool)
        .await
        .unwrap();
    assert_eq!(events, 1);

    // A signed but malformed event is 400.
    let junk = json!({"no": "id"});
    let response = post_webhook(
        &fleet,
        &junk,
        Some(signature("whsec_local_only", now, &junk)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_http_gateway_charges_with_the_order_id_as_idempotency_key() {
    let fleet = spawn_fleet_with(
        FleetOptions {
            gateway: true,
            ..Default::default()
        },
        |_, _| {},
    )
    .await;
    let gateway = fleet.gateway.as_ref().unwrap();
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let ada = fleet.customer();
    let response = fleet.buy(&ada, &lamp, 2, "tok_visa").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: Value = response.json().await.unwrap();
    assert_eq!(order["payment"]["provider"], "http");
    let charge = gateway
        .charge(order["id"].as_str().unwrap())
        .expect("a charge");
    assert_eq!(charge["amount_cents"], 2_000);
    assert_eq!(order["payment"]["provider_ref"], charge["id"]);

    // Cancel refunds through the gateway.
    let path = format!("/api/v1/orders/{}/cancel", order["id"].as_str().unwrap());
    let response = fleet
        .send(reqwest::Method::POST, &path, Some(&ada.token), None, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        gateway.charge(order["id"].as_str().unwrap()).unwrap()["status"],
        "refunded"
    );

    // Declines are 402.
    let bob = fleet.customer();
    let response = fleet.buy(&bob, &lamp, 1, "tok_declined").await;
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(fleet.inventory(&lamp).await["available"], 10);
}

#[tokio::test]
async fn a_failing_or_hanging_gateway_is_503_with_nothing_reserved() {
    let fleet = spawn_fleet_with(
        FleetOptions {
            gateway: true,
            ..Default::default()
        },
        |_, _| {},
    )
    .await;
    let gateway = fleet.gateway.as_ref().unwrap();
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let ada = fleet.customer();
    assert_eq!(
        fleet.add_to_cart(&ada, &lamp, 2).await.status(),
        StatusCode::OK
    );

    gateway.set_mode(GatewayMode::Fail500);
    let response = fleet.checkout(&ada, "tok_visa").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fleet.inventory(&lamp).await["available"], 10);
    assert_eq!(gateway.charge_count(), 0);

    gateway.set_mode(GatewayMode::Slow);
    let response = fleet.checkout(&ada, "tok_visa").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fleet.inventory(&lamp).await["available"], 10);
    assert_eq!(gateway.charge_count(), 0);

    // Whatever is left (the payment state was unknown) the reconciler settles.
    gateway.set_mode(GatewayMode::Normal);
    fleet.reconcile().await;
    assert_eq!(fleet.count_orders("pending").await, 0);
    assert_eq!(fleet.inventory(&lamp).await["reserved"], 0);
}

#[tokio::test]
async fn a_charge_whose_answer_was_lost_is_found_by_asking_the_provider() {
    let fleet = spawn_fleet_with(
        FleetOptions {
            gateway: true,
            ..Default::default()
        },
        |_, _| {},
    )
    .await;
    let gateway = fleet.gateway.as_ref().unwrap();
    gateway.set_mode(GatewayMode::ChargeThenFail);
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let ada = fleet.customer();
    let response = fleet.buy(&ada, &lamp, 3, "tok_visa").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: Value = response.json().await.unwrap();
    assert_eq!(
        gateway.charge_count(),
        1,
        "charged once despite the retries"
    );
    let charge = gateway.charge(order["id"].as_str().unwrap()).unwrap();
    assert_eq!(order["payment"]["provider_ref"], charge["id"]);
    assert_eq!(fleet.inventory(&lamp).await["on_hand"], 7);
}
