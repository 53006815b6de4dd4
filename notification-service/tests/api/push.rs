//! `/api/v1/push-subscriptions` and push delivery: one delivery per device.

use crate::helpers::{FakeProvider, order_confirmed, problem, push_via, spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PATH: &str = "/api/v1/push-subscriptions";

#[tokio::test]
async fn a_user_subscribes_devices_and_removes_their_own_only() {
    let app = spawn_app().await;
    let (_, token) = app.user_token();
    let response = app
        .send(
            Method::POST,
            PATH,
            Some(&token),
            Some(&json!({"platform": "android", "token": "device-token-1"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let first: Value = response.json().await.unwrap();
    assert_eq!(first["platform"], "android");
    assert!(first.get("token").is_none(), "the token is not echoed");
    // The same token again is the same subscription.
    let response = app
        .send(
            Method::POST,
            PATH,
            Some(&token),
            Some(&json!({"platform": "android", "token": "device-token-1"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.json::<Value>().await.unwrap()["id"], first["id"]);
    assert_eq!(app.count("push_subscriptions").await, 1);

    let id = first["id"].as_str().unwrap();
    let (_, other) = app.user_token();
    let response = app
        .send(Method::DELETE, &format!("{PATH}/{id}"), Some(&other), None)
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(response).await["status"], 404);
    let response = app
        .send(Method::DELETE, &format!("{PATH}/{id}"), Some(&token), None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app
        .send(Method::DELETE, &format!("{PATH}/{id}"), Some(&token), None)
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn subscriptions_are_validated_and_need_a_user() {
    let app = spawn_app().await;
    let body = json!({"platform": "android", "token": "t"});
    let response = app.send(Method::POST, PATH, None, Some(&body)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (_, token) = app.user_token();
    let response = app
        .send(
            Method::POST,
            PATH,
            Some(&token),
            Some(&json!({"platform": "blackberry", "token": "t"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["errors"][0]["field"], "platform");
    let response = app
        .send(
            Method::POST,
            PATH,
            Some(&token),
            Some(&json!({"platform": "ios", "token": ""})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["errors"][0]["field"], "token");
    let response = app
        .send(
            Method::DELETE,
            &format!("{PATH}/not-a-uuid"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn push_goes_to_every_subscribed_device_through_the_gateway() {
    let gateway = FakeProvider::start().await;
    let configured = gateway.clone();
    let app = spawn_app_with(move |s| push_via(s, &configured)).await;
    let user = app.users.add("ada@example.com", None);
    let token = app.issuer.user_token(user, "notification-service");
    for device in ["device-a", "device-b"] {
        let response = app
            .send(
                Method::POST,
                PATH,
                Some(&token),
                Some(&json!({"platform": "web", "token": device})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    app.send(
        Method::PUT,
        "/api/v1/notification-preferences",
        Some(&token),
        Some(&json!({"email": false, "sms": false, "push": true, "marketing": false})),
    )
    .await;
    let body = app.notify_ok(&order_confirmed(user)).await;
    let deliveries = body["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2);
    assert!(deliveries.iter().all(|d| d["channel"] == "push"));
    for d in deliveries {
        app.wait_for_status(d["id"].as_str().unwrap(), "sent").await;
    }
    let requests = gateway.accepted();
    assert_eq!(requests.len(), 2);
    let mut targets: Vec<String> = requests
        .iter()
        .map(|r| {
            assert_eq!(r.path, "/fcm/send");
            assert_eq!(r.authorization, "key=push-server-key");
            let body: Value = serde_json::from_str(&r.body).unwrap();
            assert!(
                body["notification"]["title"]
                    .as_str()
                    .unwrap()
                    .contains("is confirmed")
            );
            body["to"].as_str().unwrap().to_owned()
        })
        .collect();
    targets.sort();
    assert_eq!(targets, vec!["device-a", "device-b"]);
}

#[tokio::test]
async fn an_overlong_token_is_422_not_a_database_error() {
    let app = spawn_app().await;
    let (_, token) = app.user_token();
    // Random-looking, so it cannot compress under the index row limit.
    let long: String = (0..3000u32)
        .map(|i| char::from(b'a' + ((i * 7919 + i / 3) % 26) as u8))
        .collect();
    let response = app
        .send(
            Method::POST,
            PATH,
            Some(&token),
            Some(&json!({"platform": "ios", "token": long})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["errors"][0]["field"], "token");
}

#[tokio::test]
async fn a_device_registered_by_another_user_moves_to_them() {
    let app = spawn_app().await;
    let (ada, ada_token) = app.user_token();
    let (bob, bob_token) = app.user_token();
    let device = json!({"platform": "ios", "token": "shared-device"});
    for token in [&ada_token, &bob_token] {
        let response = app
            .send(Method::POST, PATH, Some(token), Some(&device))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let owners: Vec<uuid::Uuid> =
        sqlx::query_scalar("select user_id from push_subscriptions where token = 'shared-device'")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        owners,
        vec![bob],
        "ada ({ada}) no longer gets pushes on bob's device"
    );
}

/// Subscribes `device` for the holder of `token`; the 201's body.
async fn subscribe(app: &crate::helpers::TestApp, token: &str, device: &str) -> Value {
    let response = app
        .send(
            Method::POST,
            PATH,
            Some(token),
            Some(&json!({"platform": "android", "token": device})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "{device}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_user_lists_their_own_devices_newest_first_without_tokens() {
    let app = spawn_app().await;
    let (_, token) = app.user_token();
    let (_, other) = app.user_token();
    let first = subscribe(&app, &token, "device-secret-1").await;
    let second = subscribe(&app, &token, "device-secret-2").await;
    subscribe(&app, &other, "someone-elses-device").await;

    let list = app.get_json(PATH, &token).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(items[0]["id"], second["id"]);
    assert_eq!(items[1]["id"], first["id"]);
    for item in items {
        let mut keys: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["created_at", "id", "platform"]);
    }
    assert!(!list.to_string().contains("device-secret"), "{list}");
    let (_, nobody) = app.user_token();
    assert_eq!(app.get_json(PATH, &nobody).await, json!({"items": []}));
    let response = app.send(Method::GET, PATH, None, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_twenty_first_device_replaces_the_oldest() {
    let app = spawn_app().await;
    let (user, token) = app.user_token();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(subscribe(&app, &token, &format!("device-{i}")).await["id"].clone());
    }
    // Registering a known device again is not a new one.
    assert_eq!(subscribe(&app, &token, "device-0").await["id"], ids[0]);
    let newest = subscribe(&app, &token, "device-20").await;

    let list = app.get_json(PATH, &token).await;
    let listed: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert_eq!(listed.len(), 20);
    assert_eq!(listed[0], &newest["id"]);
    assert!(!listed.contains(&&ids[0]), "the oldest is gone");
    assert!(listed.contains(&&ids[1]));
    let tokens: Vec<String> = sqlx::query_scalar(
        "select token from push_subscriptions where user_id = $1 order by token",
    )
    .bind(user)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(tokens.len(), 20);
    assert!(!tokens.contains(&"device-0".to_owned()));
}

#[tokio::test]
async fn thirty_concurrent_subscriptions_leave_twenty_and_one_event_twenty_pushes() {
    let gateway = FakeProvider::start().await;
    let configured = gateway.clone();
    let app = spawn_app_with(move |s| push_via(s, &configured)).await;
    let user = app.users.add("ada@example.com", None);
    let token = app.issuer.user_token(user, "notification-service");
    let answers = futures::future::join_all((0..30).map(|i| {
        let (app, token) = (&app, token.clone());
        async move { subscribe(app, &token, &format!("racing-device-{i}")).await }
    }))
    .await;
    assert_eq!(answers.len(), 30);
    let count: i64 =
        sqlx::query_scalar("select count(*) from push_subscriptions where user_id = $1")
            .bind(user)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(count, 20);
    assert_eq!(
        app.get_json(PATH, &token).await["items"]
            .as_array()
            .unwrap()
            .len(),
        20
    );

    app.send(
        Method::PUT,
        "/api/v1/notification-preferences",
        Some(&token),
        Some(&json!({"email": false, "sms": false, "push": true, "marketing": false})),
    )
    .await;
    let body = app.notify_ok(&order_confirmed(user)).await;
    assert_eq!(body["deliveries"].as_array().unwrap().len(), 20);
}
