//! `GET /api/v1/notifications`: a user's own notifications only.

use crate::helpers::{order_confirmed, spawn_app, welcome};
use reqwest::StatusCode;

#[tokio::test]
async fn a_user_sees_their_own_notifications_with_status_and_timestamps() {
    let app = spawn_app().await;
    let user = app.users.add("ada@example.com", None);
    let token = app.issuer.user_token(user, "notification-service");
    let first = app.notify_ok(&welcome(user, "ada@example.com")).await;
    let second = app.notify_ok(&order_confirmed(user)).await;
    // Someone else's notification.
    let other = app.users.add("bob@example.com", None);
    app.notify_ok(&order_confirmed(other)).await;
    for body in [&first, &second] {
        app.wait_for_status(body["deliveries"][0]["id"].as_str().unwrap(), "sent")
            .await;
    }

    let page = app.get_json("/api/v1/notifications", &token).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(page["next_cursor"].is_null());
    let newest = &items[0];
    assert_eq!(newest["id"], second["deliveries"][0]["id"]);
    assert_eq!(newest["notification_id"], second["id"]);
    assert_eq!(newest["template"], "order_confirmed");
    assert_eq!(newest["channel"], "email");
    assert_eq!(newest["status"], "sent");
    assert_eq!(
        newest["subject"],
        "Your order 0190a3c8-1111-7000-8000-000000000001 is confirmed"
    );
    assert!(newest["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(newest["sent_at"].is_string());
    assert_eq!(items[1]["template"], "welcome");

    // Pages of one.
    let page = app.get_json("/api/v1/notifications?limit=1", &token).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = app
        .get_json(
            &format!("/api/v1/notifications?limit=1&cursor={cursor}"),
            &token,
        )
        .await;
    assert_eq!(next["items"][0]["template"], "welcome");
    assert!(next["next_cursor"].is_null());

    // Another user sees none of them.
    let (_, stranger) = app.user_token();
    let page = app.get_json("/api/v1/notifications", &stranger).await;
    assert!(page["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn history_needs_a_user_token() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("/api/v1/notifications").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let service = app.order_service_token();
    let response = app
        .send(
            reqwest::Method::GET,
            "/api/v1/notifications",
            Some(&service),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (_, token) = app.user_token();
    let response = app
        .send(
            reqwest::Method::GET,
            "/api/v1/notifications?cursor=garbage",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
