//! Rate limits: per client address and per account, 429 with Retry-After;
//! the forwarded address counts only from a trusted proxy.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, login, new_user, post, problem, spawn_configured, unique_email};

#[tokio::test]
async fn repeated_login_failures_lock_the_account_with_429_and_retry_after() {
    let app = spawn_configured(|s| s.rate_limit.login_failures_per_account = 3).await;
    let victim = new_user(&app).await;
    let bystander = new_user(&app).await;
    for _ in 0..3 {
        assert_eq!(
            login(&app, &victim.email, "wrong password!!")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let response = login(&app, &victim.email, "wrong password!!").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    problem(response).await;
    // Even the right password waits: guessing cannot go on.
    assert_eq!(
        login(&app, &victim.email, PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Case does not make another account.
    assert_eq!(
        login(&app, &victim.email.to_uppercase(), PASSWORD)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login(&app, &bystander.email, PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn one_address_is_limited_across_the_auth_endpoints() {
    let app = spawn_configured(|s| s.rate_limit.per_ip_per_minute = 3).await;
    for _ in 0..3 {
        let response = post(
            &app,
            "/api/v1/auth/register",
            None,
            &json!({"email": unique_email(), "password": PASSWORD, "full_name": "A"}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let response = login(&app, &unique_email(), PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let response = post(
        &app,
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": unique_email()}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // Other endpoints are not limited.
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn password_resets_are_limited_per_address() {
    let app = spawn_configured(|s| s.rate_limit.password_resets_per_account = 2).await;
    let email = unique_email();
    for _ in 0..2 {
        let response = post(
            &app,
            "/api/v1/auth/password-reset",
            None,
            &json!({"email": email}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let response = post(
        &app,
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": email}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = post(
        &app,
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": unique_email()}),
    )
    .await;
    assert_eq!(other.status(), StatusCode::ACCEPTED);
}

async fn login_from(app: &service_kit::testing::TestApp, forwarded_for: &str) -> StatusCode {
    app.http
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"email": unique_email(), "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let app = spawn_configured(|s| {
        s.rate_limit.per_ip_per_minute = 2;
        s.rate_limit.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    assert_eq!(
        login_from(&app, "198.51.100.1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, "198.51.100.1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, "198.51.100.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_from(&app, "198.51.100.2").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_untrusted_client_cannot_escape_its_limit_by_forging_the_header() {
    let app = spawn_configured(|s| s.rate_limit.per_ip_per_minute = 2).await;
    assert_eq!(
        login_from(&app, "203.0.113.1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, "203.0.113.2").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, "203.0.113.3").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}
