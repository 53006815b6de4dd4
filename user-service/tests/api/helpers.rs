//! The kit's harness spawns this service on a random port against a fresh
//! database; these helpers add user-service's own request builders.
// Each test module uses a different part of these helpers.
#![allow(dead_code, unused_imports)]

pub use service_kit::testing::{TestApp, problem};

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use uuid::Uuid;

use user_service::{Application, Settings};

/// A password that passes validation.
pub const PASSWORD: &str = "correct horse battery";

/// Test defaults: limits out of the way, notification- and order-service
/// nowhere (closed ports), a fast relay.
pub fn test_settings(settings: &mut Settings) {
    settings.rate_limit.per_ip_per_minute = 100_000;
    settings.rate_limit.login_failures_per_account_and_address = 100_000;
    settings.rate_limit.login_failures_per_account = 100_000;
    settings.rate_limit.password_resets_per_account = 100_000;
    settings.rate_limit.password_change_failures_per_user = 100_000;
    settings.services.notification_url = format!("http://{}", closed_port());
    settings.services.order_url = format!("http://{}", closed_port());
    settings.outbox.poll_interval_ms = 50;
    settings.outbox.backoff_base_ms = 50;
    settings.outbox.backoff_max_secs = 1;
}

/// An address nothing listens on.
pub fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("bound address")
}

pub async fn spawn_app() -> TestApp {
    spawn_configured(|_| {}).await
}

/// The app with `configure` applied after the test defaults.
pub async fn spawn_configured(configure: impl FnOnce(&mut Settings)) -> TestApp {
    service_kit::testing::spawn_configured::<Application>(|settings| {
        test_settings(settings);
        configure(settings);
    })
    .await
}

/// `count` replicas on one database (the test defaults, then `configure`).
pub async fn spawn_replicas(count: usize, configure: impl Fn(&mut Settings)) -> Vec<TestApp> {
    service_kit::testing::spawn_replicas::<Application>(count, |settings| {
        test_settings(settings);
        configure(settings);
    })
    .await
}

/// The app reaching its database through a proxy the test can cut.
pub async fn spawn_app_behind_proxy() -> (TestApp, service_kit::testing::TcpProxy) {
    service_kit::testing::spawn_behind_proxy::<Application>().await
}

/// A fresh, unique e-mail address.
pub fn unique_email() -> String {
    format!("user-{}@example.com", Uuid::new_v4().simple())
}

/// `POST path` with a JSON body and an optional bearer token.
pub async fn post(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = app.http.post(app.url(path)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request sent")
}

/// `method path` with a bearer token and an optional JSON body.
pub async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("request sent")
}

pub async fn register(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    post(
        app,
        "/api/v1/auth/register",
        None,
        &json!({"email": email, "password": password, "full_name": "Ada Lovelace"}),
    )
    .await
}

pub async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    post(
        app,
        "/api/v1/auth/login",
        None,
        &json!({"email": email, "password": password}),
    )
    .await
}

pub async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    post(
        app,
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh_token}),
    )
    .await
}

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: Uuid,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

/// Registers a fresh customer and logs them in.
pub async fn new_user(app: &TestApp) -> Session {
    let email = unique_email();
    let response = register(app, &email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    let user_id = user["id"].as_str().unwrap().parse().unwrap();
    let tokens = login_ok(app, &email, PASSWORD).await;
    Session {
        user_id,
        email,
        password: PASSWORD.to_owned(),
        access_token: tokens["access_token"].as_str().unwrap().to_owned(),
        refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
    }
}

/// Logs in, expecting success; the token response.
pub async fn login_ok(app: &TestApp, email: &str, password: &str) -> Value {
    let response = login(app, email, password).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// A fresh administrator (made one in the database), logged in.
pub async fn new_admin(app: &TestApp) -> Session {
    let session = new_user(app).await;
    sqlx::query("update users set roles = '{admin,customer}' where user_id = $1")
        .bind(session.user_id)
        .execute(&app.pool)
        .await
        .unwrap();
    let tokens = login_ok(app, &session.email, &session.password).await;
    Session {
        access_token: tokens["access_token"].as_str().unwrap().to_owned(),
        refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
        ..session
    }
}

/// A service token from the client-credentials grant (the local default
/// client secrets).
pub async fn service_token(app: &TestApp, client_id: &str, audience: &str) -> String {
    let secret = match client_id {
        "catalog-service" => "catalog_client_secret_local_only",
        "order-service" => "order_client_secret_local_only",
        "notification-service" => "notification_client_secret_local_only",
        _ => "user_client_secret_local_only",
    };
    let response = app
        .http
        .post(app.url("/api/v1/auth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("audience", audience)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// The claims of a JWT (not verified: for inspecting what was issued).
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// The header of a JWT.
pub fn header(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').next().expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON header")
}

/// The outbox rows, oldest first: (template, payload, delivered).
pub async fn outbox(app: &TestApp) -> Vec<(String, Value, bool)> {
    let rows: Vec<(Value, Option<chrono::DateTime<chrono::Utc>>)> =
        sqlx::query_as("select payload, delivered_at from outbox order by created_at")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(payload, delivered)| {
            (
                payload["template"].as_str().unwrap_or_default().to_owned(),
                payload,
                delivered.is_some(),
            )
        })
        .collect()
}

/// The reset token written to the outbox for `email`.
pub async fn reset_token_for(app: &TestApp, email: &str) -> String {
    outbox(app)
        .await
        .into_iter()
        .rev()
        .find(|(template, payload, _)| {
            template == "password_reset" && payload["to"]["email"] == email
        })
        .and_then(|(_, payload, _)| payload["data"]["token"].as_str().map(str::to_owned))
        .expect("a password_reset event")
}
