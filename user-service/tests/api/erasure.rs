//! Account deletion reaches every service: `user_deleted` goes through the
//! outbox to order- and notification-service (each on its own, retried
//! until it answers), and the account's own notification events are purged
//! with it. The outbox keeps nothing past its retention.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{Session, claims, new_user, post, spawn_configured};

const DELETIONS: &str = "/internal/v1/user-deletions";

/// A receiver answering 204 to deletions; `failures` 503s first.
async fn receiver(failures: u64) -> MockServer {
    let server = MockServer::start().await;
    if failures > 0 {
        Mock::given(method("POST"))
            .and(path(DELETIONS))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(failures)
            .with_priority(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(DELETIONS))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(2)
        .mount(&server)
        .await;
    // Notifications find no route (404, neither a refusal nor an outage
    // that would open the relay's circuit): they stay pending, retried.
    server
}

async fn deletions(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == DELETIONS)
        .collect()
}

/// `(destination, path, payload, delivered)` of every outbox row.
async fn rows(app: &service_kit::testing::TestApp) -> Vec<(String, String, Value, bool)> {
    sqlx::query_as(
        "select destination, path, payload, delivered_at is not null from outbox order by created_at, destination",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn delete_account(app: &service_kit::testing::TestApp, session: &Session, request_id: &str) {
    let response = app
        .http
        .request(Method::DELETE, app.url("/api/v1/users/me"))
        .bearer_auth(&session.access_token)
        .header("x-request-id", request_id)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn deleting_an_account_tells_order_and_notification_service_and_purges_its_events() {
    let notifications = receiver(0).await;
    // order-service is down for its first three deliveries.
    let orders = receiver(3).await;
    let (n_url, o_url) = (notifications.uri(), orders.uri());
    let app = spawn_configured(move |s| {
        s.services.notification_url = n_url;
        s.services.order_url = o_url;
    })
    .await;
    let ada = new_user(&app).await;
    let bob = new_user(&app).await;
    let response = post(
        &app,
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": ada.email}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // Undelivered: ada's welcome and reset (with its token), bob's welcome.
    assert_eq!(rows(&app).await.len(), 3);

    delete_account(&app, &ada, "erase-ada-0001").await;

    // Ada's events are gone at once, with the account; bob's stay.
    let left = rows(&app).await;
    let about_ada: Vec<_> = left
        .iter()
        .filter(|(_, _, payload, _)| {
            payload.to_string().contains(&ada.email)
                || (payload["user_id"] == ada.user_id.to_string()
                    && payload.get("template").is_some())
        })
        .collect();
    assert!(about_ada.is_empty(), "{about_ada:?}");
    assert!(
        left.iter()
            .any(|(_, _, payload, _)| payload["template"] == "welcome"
                && payload["user_id"] == bob.user_id.to_string())
    );
    // One user_deleted row per receiver.
    let erasures: Vec<_> = left
        .iter()
        .filter(|(_, path, _, _)| path == DELETIONS)
        .collect();
    let destinations: Vec<&str> = erasures.iter().map(|(d, ..)| d.as_str()).collect();
    assert_eq!(destinations, ["notification-service", "order-service"]);

    // Both get it, each on its own schedule (order-service after its outage).
    for _ in 0..100 {
        if deletions(&notifications).await.len() == 1 && deletions(&orders).await.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let to_notifications = deletions(&notifications).await;
    let to_orders = deletions(&orders).await;
    assert_eq!(to_notifications.len(), 1);
    assert_eq!(to_orders.len(), 4, "three refusals, then delivered");
    let event: Value = serde_json::from_slice(&to_notifications[0].body).unwrap();
    assert_eq!(event["user_id"], ada.user_id.to_string());
    assert!(event["deleted_at"].is_string());
    for (server, audience) in [
        (&to_notifications, "notification-service"),
        (&to_orders, "order-service"),
    ] {
        let request = server.last().unwrap();
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body, event, "the same event, the same id, for both");
        let authorization = request
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap();
        let token = claims(authorization.strip_prefix("Bearer ").unwrap());
        assert_eq!(token["sub"], "user-service");
        assert_eq!(token["aud"], audience);
        assert_eq!(token["roles"], json!(["service"]));
        assert_eq!(
            request
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok()),
            Some("erase-ada-0001")
        );
    }
    // Delivered once, never sent again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(deletions(&notifications).await.len(), 1);
    assert_eq!(deletions(&orders).await.len(), 4);
}

#[tokio::test]
async fn given_up_and_delivered_events_are_deleted_after_their_retention() {
    let app = spawn_configured(|s| {
        s.outbox.failed_retention_days = 7;
        s.outbox.sweep_interval_secs = 1;
    })
    .await;
    // Backdated rows: given up 8 days ago (deleted), given up 6 days ago
    // (kept), delivered 2 hours ago (deleted), pending for 8 days (kept:
    // it has not been delivered). Each holds a reset token.
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
        .bind(
            json!({"event_id": id, "template": "password_reset", "to": {"email": "a@example.com"},
                     "data": {"token": "reset-token-secret"}}),
        )
        .execute(&app.pool)
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "update outbox set {state} where event_id = $1"
        )))
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
        if keep {
            kept.push(id);
        }
    }
    let mut left: Vec<Uuid> = Vec::new();
    for _ in 0..100 {
        left = sqlx::query_scalar("select event_id from outbox order by event_id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
        if left == kept {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, kept);
}
