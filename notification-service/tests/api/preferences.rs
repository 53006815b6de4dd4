//! `/api/v1/notification-preferences`: defaults, replacement, and their
//! effect on the channels of a notification.

use crate::helpers::{order_confirmed, problem, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PATH: &str = "/api/v1/notification-preferences";

#[tokio::test]
async fn a_new_user_has_the_defaults_and_can_replace_them() {
    let app = spawn_app().await;
    let (_, token) = app.user_token();
    assert_eq!(
        app.get_json(PATH, &token).await,
        json!({"email": true, "sms": false, "push": false, "marketing": false})
    );
    let wanted = json!({"email": false, "sms": true, "push": true, "marketing": true});
    let response = app
        .send(Method::PUT, PATH, Some(&token), Some(&wanted))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), wanted);
    assert_eq!(app.get_json(PATH, &token).await, wanted);
    // Another user still has the defaults.
    let (_, other) = app.user_token();
    assert_eq!(app.get_json(PATH, &other).await["email"], true);
}

#[tokio::test]
async fn preferences_need_a_user_token_and_all_four_booleans() {
    let app = spawn_app().await;
    assert_eq!(app.get(PATH).await.status(), StatusCode::UNAUTHORIZED);
    let service = app.order_service_token();
    let response = app.send(Method::GET, PATH, Some(&service), None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (_, token) = app.user_token();
    let response = app
        .send(
            Method::PUT,
            PATH,
            Some(&token),
            Some(&json!({"email": false, "sms": true})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = problem(response).await;
    assert_eq!(body["errors"][0]["field"], "push");
    let response = app
        .send(
            Method::PUT,
            PATH,
            Some(&token),
            Some(&json!({"email": "yes", "sms": true, "push": false, "marketing": false})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["errors"][0]["field"], "email");
}

#[tokio::test]
async fn channels_follow_the_preferences_and_the_known_contacts() {
    let app = spawn_app().await;
    let user = app.users.add("ada@example.com", Some("+33612345678"));
    let token = app.issuer.user_token(user, "notification-service");
    // Defaults: email only, even with a phone number known.
    let body = app.notify_ok(&order_confirmed(user)).await;
    let channels: Vec<&str> = body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, vec!["email"]);
    // SMS on, email off.
    app.send(
        Method::PUT,
        PATH,
        Some(&token),
        Some(&json!({"email": false, "sms": true, "push": false, "marketing": false})),
    )
    .await;
    let body = app.notify_ok(&order_confirmed(user)).await;
    let channels: Vec<&str> = body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, vec!["sms"]);
    // Everything off: accepted, nothing to deliver.
    app.send(
        Method::PUT,
        PATH,
        Some(&token),
        Some(&json!({"email": false, "sms": false, "push": false, "marketing": false})),
    )
    .await;
    let body = app.notify_ok(&order_confirmed(user)).await;
    assert!(body["deliveries"].as_array().unwrap().is_empty());
    // SMS on but no phone known: no SMS.
    let no_phone = app.users.add("bob@example.com", None);
    let bob = app.issuer.user_token(no_phone, "notification-service");
    app.send(
        Method::PUT,
        PATH,
        Some(&bob),
        Some(&json!({"email": true, "sms": true, "push": false, "marketing": false})),
    )
    .await;
    let body = app.notify_ok(&order_confirmed(no_phone)).await;
    let channels: Vec<&str> = body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, vec!["email"]);
}
