//! The outbox relay: events reach notification-service exactly once in
//! effect, however long it is down.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{claims, new_user, outbox, post, spawn_configured};

async fn request_reset(app: &service_kit::testing::TestApp, email: &str) -> StatusCode {
    post(
        app,
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": email}),
    )
    .await
    .status()
}

/// The bodies notification-service received for `template`.
async fn received(server: &MockServer, template: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .filter(|b| b["template"] == template)
        .collect()
}

async fn wait_until_delivered(app: &service_kit::testing::TestApp, template: &str) -> bool {
    for _ in 0..100 {
        if outbox(app)
            .await
            .iter()
            .any(|(t, _, delivered)| t == template && *delivered)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_reset_event_survives_notification_service_failing_and_arrives_once() {
    let notifications = MockServer::start().await;
    // Down for the reset's first three attempts, then up. Only the reset's:
    // the account's welcome event, relayed around the same time, would
    // otherwise take some of the failures.
    Mock::given(method("POST"))
        .and(path("/internal/v1/notifications"))
        .and(body_partial_json(json!({"template": "password_reset"})))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&notifications)
        .await;
    Mock::given(method("POST"))
        .and(path("/internal/v1/notifications"))
        .respond_with(
            ResponseTemplate::new(202).set_body_json(json!({"id": "n1", "deliveries": []})),
        )
        .with_priority(2)
        .mount(&notifications)
        .await;
    let uri = notifications.uri();
    let app = spawn_configured(move |s| s.services.notification_url = uri).await;
    let user = new_user(&app).await;

    assert_eq!(request_reset(&app, &user.email).await, StatusCode::ACCEPTED);
    assert!(
        wait_until_delivered(&app, "password_reset").await,
        "delivered in the end"
    );

    let resets = received(&notifications, "password_reset").await;
    let ids: HashSet<&str> = resets
        .iter()
        .map(|b| b["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "exactly one event id: {resets:?}");
    let body = resets.last().unwrap();
    assert_eq!(body["to"]["email"], user.email);
    assert!(body["data"]["token"].is_string());
    assert_eq!(
        body["user_id"],
        user.user_id.to_string(),
        "filed under the account (erased with it), sent to the address"
    );

    // After delivery, the relay never sends it again.
    let deliveries = resets.len();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        received(&notifications, "password_reset").await.len(),
        deliveries
    );

    let attempts: i32 = sqlx::query_scalar(
        "select attempts from outbox where payload->>'template' = 'password_reset'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(attempts >= 2, "failed first, then delivered: {attempts}");
}

#[tokio::test]
async fn with_notification_service_unreachable_a_reset_still_answers_202_and_waits() {
    // The test defaults point notification-service at a closed port.
    let app = spawn_configured(|_| {}).await;
    let user = new_user(&app).await;
    assert_eq!(request_reset(&app, &user.email).await, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (attempts, error, delivered): (i32, Option<String>, bool) = sqlx::query_as(
        "select attempts, last_error, delivered_at is not null
         from outbox where payload->>'template' = 'password_reset'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(attempts >= 1, "tried");
    assert!(error.is_some());
    assert!(!delivered, "still pending, to be retried");
}

#[tokio::test]
async fn the_welcome_event_is_delivered_with_a_service_token_for_notification_service() {
    let notifications = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/internal/v1/notifications"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&notifications)
        .await;
    let uri = notifications.uri();
    let app = spawn_configured(move |s| s.services.notification_url = uri).await;
    let user = new_user(&app).await;
    assert!(wait_until_delivered(&app, "welcome").await);

    let requests = notifications.received_requests().await.unwrap();
    let request = requests.first().unwrap();
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["template"], "welcome");
    assert_eq!(body["user_id"], user.user_id.to_string());
    let authorization = request
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    let token = authorization.strip_prefix("Bearer ").unwrap();
    let claims = claims(token);
    assert_eq!(claims["aud"], "notification-service");
    assert_eq!(claims["roles"], json!(["service"]));
    assert_eq!(claims["sub"], "user-service");

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("outbox_lag_seconds{service=\"user-service\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("outbox_pending_events{service=\"user-service\"}"));
}

#[tokio::test]
async fn an_event_is_delivered_with_the_request_id_of_the_request_that_wrote_it() {
    let notifications = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/internal/v1/notifications"))
        .respond_with(
            ResponseTemplate::new(202).set_body_json(json!({"id": "n1", "deliveries": []})),
        )
        .mount(&notifications)
        .await;
    let uri = notifications.uri();
    let app = spawn_configured(move |s| s.services.notification_url = uri).await;
    let user = new_user(&app).await;

    let response = app
        .http
        .post(app.url("/api/v1/auth/password-reset"))
        .header("x-request-id", "reset-trace-0042")
        .json(&json!({"email": user.email}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(wait_until_delivered(&app, "password_reset").await);

    let requests = notifications.received_requests().await.unwrap_or_default();
    let reset = requests
        .iter()
        .find(|r| {
            serde_json::from_slice::<Value>(&r.body)
                .is_ok_and(|b| b["template"] == "password_reset")
        })
        .expect("the reset event arrived");
    assert_eq!(
        reset
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("reset-trace-0042")
    );
}

#[tokio::test]
async fn an_event_the_receiver_refuses_as_malformed_is_given_up_at_once() {
    let notifications = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/internal/v1/notifications"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "title": "Unprocessable Entity",
            "errors": [{"field": "data.reset_url", "message": "missing"}],
        })))
        .mount(&notifications)
        .await;
    let uri = notifications.uri();
    let app = spawn_configured(move |s| s.services.notification_url = uri).await;
    let user = new_user(&app).await;
    assert_eq!(request_reset(&app, &user.email).await, StatusCode::ACCEPTED);

    // Given up on the first refusal: failed, with the answer kept.
    let mut row = None;
    for _ in 0..100 {
        row = sqlx::query_as::<_, (i32, bool, Option<String>)>(
            "select attempts, failed_at is not null, last_error from outbox
             where payload->>'template' = 'password_reset' and attempts > 0",
        )
        .fetch_optional(&app.pool)
        .await
        .unwrap();
        if row.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (attempts, failed, last_error) = row.expect("an attempt was made");
    assert_eq!(attempts, 1);
    assert!(failed, "given up");
    assert!(last_error.unwrap_or_default().contains("422"));
    // And never sent again: the relay polls every second, retries after one.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(received(&notifications, "password_reset").await.len(), 1);
}
