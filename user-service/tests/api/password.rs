//! Changing and resetting passwords.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    PASSWORD, login, login_ok, new_user, outbox, post, problem, refresh, reset_token_for,
    spawn_app, unique_email,
};

const NEW_PASSWORD: &str = "a brand new passphrase";

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_other_sessions() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let response = post(
        &app,
        "/api/v1/auth/password",
        Some(&session.access_token),
        &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        login(&app, &session.email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    login_ok(&app, &session.email, NEW_PASSWORD).await;
    assert_eq!(
        refresh(&app, &session.refresh_token).await.status(),
        StatusCode::UNAUTHORIZED,
        "refresh tokens issued before the change are revoked"
    );
}

#[tokio::test]
async fn a_wrong_current_password_or_a_weak_new_one_is_422() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let response = post(
        &app,
        "/api/v1/auth/password",
        Some(&session.access_token),
        &json!({"current_password": "not my password", "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem(response).await["errors"][0]["field"],
        "current_password"
    );
    let response = post(
        &app,
        "/api/v1/auth/password",
        Some(&session.access_token),
        &json!({"current_password": PASSWORD, "new_password": "short"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem(response).await["errors"][0]["field"],
        "new_password"
    );
    login_ok(&app, &session.email, PASSWORD).await;
}

#[tokio::test]
async fn changing_the_password_needs_a_token() {
    let app = spawn_app().await;
    let response = post(
        &app,
        "/api/v1/auth/password",
        None,
        &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    problem(response).await;
}

async fn request_reset(app: &service_kit::testing::TestApp, email: &str) -> reqwest::Response {
    post(
        app,
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": email}),
    )
    .await
}

async fn confirm(
    app: &service_kit::testing::TestApp,
    token: &str,
    password: &str,
) -> reqwest::Response {
    post(
        app,
        "/api/v1/auth/password-reset/confirm",
        None,
        &json!({"token": token, "new_password": password}),
    )
    .await
}

#[tokio::test]
async fn a_reset_for_an_unknown_email_answers_the_same_202_and_sends_nothing() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let known = request_reset(&app, &session.email).await;
    let unknown = request_reset(&app, &unique_email()).await;
    for response in [known, unknown] {
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(response.text().await.unwrap(), "");
    }
    // A malformed address is refused before anything counts it; that says
    // nothing about which accounts exist.
    let malformed = request_reset(&app, "nobody").await;
    assert_eq!(malformed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(malformed).await["errors"][0]["field"], "email");
    let resets = outbox(&app)
        .await
        .into_iter()
        .filter(|(template, _, _)| template == "password_reset")
        .count();
    assert_eq!(resets, 1, "only the existing account gets an e-mail");
}

#[tokio::test]
async fn a_reset_token_sets_the_password_once_and_revokes_every_refresh_token() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    assert_eq!(
        request_reset(&app, &session.email.to_uppercase())
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let token = reset_token_for(&app, &session.email).await;
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("select token_hash from password_reset_tokens")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token.as_bytes(), "only a digest is stored");
    let expiry: f64 = sqlx::query_scalar(
        "select extract(epoch from expires_at - created_at)::float8 from password_reset_tokens",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!((expiry - 1800.0).abs() < 5.0, "30 minutes, got {expiry}");

    assert_eq!(
        confirm(&app, &token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    login_ok(&app, &session.email, NEW_PASSWORD).await;
    assert_eq!(
        login(&app, &session.email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &session.refresh_token).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let again = confirm(&app, &token, "yet another passphrase").await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST, "single use");
    problem(again).await;
    login_ok(&app, &session.email, NEW_PASSWORD).await;
}

#[tokio::test]
async fn an_expired_or_unknown_reset_token_is_400() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    request_reset(&app, &session.email).await;
    let token = reset_token_for(&app, &session.email).await;
    sqlx::query(
        "update password_reset_tokens
         set created_at = now() - interval '31 minutes', expires_at = now() - interval '1 minute'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let response = confirm(&app, &token, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    problem(response).await;
    assert_eq!(
        confirm(&app, "made-up", NEW_PASSWORD).await.status(),
        StatusCode::BAD_REQUEST
    );
    login_ok(&app, &session.email, PASSWORD).await;
}

#[tokio::test]
async fn a_reset_with_a_weak_password_is_422_and_keeps_the_token() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    request_reset(&app, &session.email).await;
    let token = reset_token_for(&app, &session.email).await;
    let response = confirm(&app, &token, "short").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem(response).await["errors"][0]["field"],
        "new_password"
    );
    assert_eq!(
        confirm(&app, &token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
}

/// Every reset token mailed to `email`, oldest first.
async fn reset_tokens_for(app: &service_kit::testing::TestApp, email: &str) -> Vec<String> {
    outbox(app)
        .await
        .into_iter()
        .filter(|(template, payload, _)| {
            template == "password_reset" && payload["to"]["email"] == email
        })
        .filter_map(|(_, payload, _)| payload["data"]["token"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn using_one_reset_link_ends_every_other_outstanding_one() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    for _ in 0..3 {
        assert_eq!(
            request_reset(&app, &session.email).await.status(),
            StatusCode::ACCEPTED
        );
    }
    let tokens = reset_tokens_for(&app, &session.email).await;
    assert_eq!(tokens.len(), 3);
    assert_eq!(
        confirm(&app, &tokens[1], NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    for other in [&tokens[0], &tokens[2]] {
        let response = confirm(&app, other, "an attackers passphrase").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        problem(response).await;
    }
    login_ok(&app, &session.email, NEW_PASSWORD).await;
}

#[tokio::test]
async fn changing_the_password_ends_outstanding_reset_links() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    request_reset(&app, &session.email).await;
    let token = reset_token_for(&app, &session.email).await;
    let response = post(
        &app,
        "/api/v1/auth/password",
        Some(&session.access_token),
        &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        confirm(&app, &token, "an attackers passphrase")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    login_ok(&app, &session.email, NEW_PASSWORD).await;
}

#[tokio::test]
async fn changing_the_password_revokes_every_refresh_family() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let mut families = vec![session.refresh_token.clone()];
    for _ in 0..2 {
        let tokens = login_ok(&app, &session.email, PASSWORD).await;
        families.push(tokens["refresh_token"].as_str().unwrap().to_owned());
    }
    // One family has rotated: its newest token is the live one.
    let rotated: serde_json::Value = refresh(&app, &families[2]).await.json().await.unwrap();
    families[2] = rotated["refresh_token"].as_str().unwrap().to_owned();
    let response = post(
        &app,
        "/api/v1/auth/password",
        Some(&session.access_token),
        &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for token in &families {
        assert_eq!(
            refresh(&app, token).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}
