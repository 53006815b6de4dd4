//! `POST /internal/v1/notifications`: service tokens only, validated,
//! addressed, idempotent on `event_id`.

use crate::helpers::{
    order_confirmed, password_reset, problem, spawn_app, spawn_app_with, welcome,
};
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::net::TcpListener;
use uuid::Uuid;

#[tokio::test]
async fn an_order_event_is_addressed_from_user_service_and_queued() {
    let app = spawn_app().await;
    let user = app.users.add("ada@example.com", None);
    let body = app.notify_ok(&order_confirmed(user)).await;
    assert!(body["id"].as_str().unwrap().parse::<Uuid>().is_ok());
    let deliveries = body["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["channel"], "email");
    assert_eq!(deliveries[0]["status"], "pending");
    // The lookup carried a service token.
    let calls = app.users.calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].starts_with("Bearer "));
    let mails = app
        .smtp
        .wait_for(1, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(mails[0].to, vec!["ada@example.com".to_owned()]);
}

#[tokio::test]
async fn to_supplies_the_address_without_a_lookup() {
    let app = spawn_app().await;
    let body = app
        .notify_ok(&welcome(Uuid::now_v7(), "new@example.com"))
        .await;
    assert_eq!(body["deliveries"][0]["channel"], "email");
    assert!(app.users.calls().is_empty());
}

#[tokio::test]
async fn the_same_event_posted_five_times_is_one_notification() {
    let app = spawn_app().await;
    let user = app.users.add("ada@example.com", None);
    let event = order_confirmed(user);
    let mut ids = Vec::new();
    for _ in 0..5 {
        let body = app.notify_ok(&event).await;
        ids.push(body["id"].as_str().unwrap().to_owned());
        assert_eq!(body["deliveries"].as_array().unwrap().len(), 1);
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(app.count("notifications").await, 1);
    assert_eq!(app.count("deliveries").await, 1);
    app.smtp
        .wait_for(1, std::time::Duration::from_secs(10))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.smtp.message_count(), 1);
}

#[tokio::test]
async fn the_same_event_posted_five_times_concurrently_is_one_notification() {
    let app = spawn_app().await;
    let user = app.users.add("ada@example.com", None);
    let event = order_confirmed(user);
    let responses = join_all((0..5).map(|_| app.notify(&event))).await;
    let mut ids = Vec::new();
    for response in responses {
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["deliveries"].as_array().unwrap().len(), 1, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(app.count("notifications").await, 1);
    assert_eq!(app.count("deliveries").await, 1);
}

#[tokio::test]
async fn user_and_admin_tokens_are_refused_and_anonymous_callers_are_401() {
    let app = spawn_app().await;
    let event = order_confirmed(Uuid::now_v7());
    let (_, user_token) = app.user_token();
    let response = app
        .send(
            Method::POST,
            "/internal/v1/notifications",
            Some(&user_token),
            Some(&event),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(problem(response).await["status"], 403);
    let (_, admin_token) = app.admin_token();
    let response = app
        .send(
            Method::POST,
            "/internal/v1/notifications",
            Some(&admin_token),
            Some(&event),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = app
        .send(
            Method::POST,
            "/internal/v1/notifications",
            None,
            Some(&event),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    assert_eq!(app.count("notifications").await, 0);
}

#[tokio::test]
async fn intake_admits_order_and_user_service_only() {
    let app = spawn_app().await;
    // catalog-service's own credentials must not be able to mail anyone.
    let catalog = app.service_token("catalog-service");
    let event = |to: &str| welcome(Uuid::now_v7(), to);
    let response = app
        .send(
            Method::POST,
            "/internal/v1/notifications",
            Some(&catalog),
            Some(&event("victim@example.com")),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(app.count("notifications").await, 0);
    for token in [app.order_service_token(), app.user_service_token()] {
        let response = app
            .send(
                Method::POST,
                "/internal/v1/notifications",
                Some(&token),
                Some(&event("customer@example.com")),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
}

async fn fields_of(response: reqwest::Response) -> Vec<String> {
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = problem(response).await;
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn missing_data_is_a_422_naming_each_field() {
    let app = spawn_app().await;
    let user = app.users.add("ada@example.com", None);
    let mut event = order_confirmed(user);
    event["data"] =
        json!({"order_id": "o-1", "currency": "EUR", "items": [{"name": "Lamp", "quantity": 1}]});
    let fields = fields_of(app.notify(&event).await).await;
    assert_eq!(
        fields,
        vec![
            "data.total_cents",
            "data.items[0].unit_price_cents",
            "data.items[0].line_total_cents"
        ]
    );

    let mut reset = password_reset("ada@example.com", "tok");
    reset["data"].as_object_mut().unwrap().remove("expires_at");
    assert_eq!(
        fields_of(app.notify(&reset).await).await,
        vec!["data.expires_at"]
    );

    for (template, data, field) in [
        (
            "order_cancelled",
            json!({"order_id": "o", "currency": "EUR"}),
            "data.refund_cents",
        ),
        (
            "payment_failed",
            json!({"order_id": "o", "total_cents": 5}),
            "data.currency",
        ),
        ("welcome", json!({}), "data.full_name"),
    ] {
        let event = json!({"event_id": Uuid::now_v7(), "user_id": user, "to": {"email": "a@example.com"},
                           "template": template, "data": data});
        assert_eq!(
            fields_of(app.notify(&event).await).await,
            vec![field],
            "{template}"
        );
    }
    assert_eq!(app.count("notifications").await, 0);
}

#[tokio::test]
async fn recipients_the_template_needs_are_required() {
    let app = spawn_app().await;
    // welcome needs user_id and to.email.
    let event =
        json!({"event_id": Uuid::now_v7(), "template": "welcome", "data": {"full_name": "A"}});
    assert_eq!(
        fields_of(app.notify(&event).await).await,
        vec!["user_id", "to.email"]
    );
    // password_reset needs to.email.
    let event = json!({"event_id": Uuid::now_v7(), "user_id": Uuid::now_v7(), "template": "password_reset",
                       "data": {"token": "t", "expires_at": "x", "full_name": "A"}});
    assert_eq!(fields_of(app.notify(&event).await).await, vec!["to.email"]);
    // order events need user_id.
    let mut event = order_confirmed(Uuid::now_v7());
    event.as_object_mut().unwrap().remove("user_id");
    assert_eq!(fields_of(app.notify(&event).await).await, vec!["user_id"]);
    // Addresses must be valid.
    let event = json!({"event_id": Uuid::now_v7(), "user_id": Uuid::now_v7(),
                       "to": {"email": "not an address", "phone": "0612"},
                       "template": "welcome", "data": {"full_name": "A"}});
    assert_eq!(
        fields_of(app.notify(&event).await).await,
        vec!["to.email", "to.phone"]
    );
}

#[tokio::test]
async fn unknown_templates_and_malformed_bodies_are_refused() {
    let app = spawn_app().await;
    let event = json!({"event_id": Uuid::now_v7(), "user_id": Uuid::now_v7(), "template": "newsletter", "data": {}});
    assert_eq!(fields_of(app.notify(&event).await).await, vec!["template"]);
    let event = json!({"user_id": Uuid::now_v7(), "template": "welcome", "data": {}});
    assert_eq!(fields_of(app.notify(&event).await).await, vec!["event_id"]);
    let token = app.order_service_token();
    let response = app
        .http
        .post(app.url("/internal/v1/notifications"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"event_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(problem(response).await["status"], 400);
}

#[tokio::test]
async fn an_unknown_user_is_a_422() {
    let app = spawn_app().await;
    let response = app.notify(&order_confirmed(Uuid::now_v7())).await;
    assert_eq!(fields_of(response).await, vec!["user_id"]);
    assert_eq!(app.count("notifications").await, 0);
}

#[tokio::test]
async fn user_service_down_is_a_503_and_nothing_is_recorded() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let app = spawn_app_with(|s| s.services.user_url = format!("http://{closed}")).await;
    let event = order_confirmed(Uuid::now_v7());
    let response = app.notify(&event).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = problem(response).await;
    assert_eq!(body["status"], 503);
    assert!(!body["detail"].as_str().unwrap().contains("127.0.0.1"));
    assert_eq!(app.count("notifications").await, 0);
}
