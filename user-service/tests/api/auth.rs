//! Registration, login, refresh rotation and logout.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, claims, header, login, login_ok, new_user, outbox, post, problem, refresh, register,
    spawn_app, unique_email,
};

#[tokio::test]
async fn registering_returns_the_user_as_a_customer_with_a_normalized_email() {
    let app = spawn_app().await;
    let response = register(&app, "  Ada.Lovelace@Example.COM ", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email"], "ada.lovelace@example.com");
    assert_eq!(user["full_name"], "Ada Lovelace");
    assert_eq!(user["roles"], json!(["customer"]));
    assert!(user["phone"].is_null());
    for field in ["id", "created_at", "updated_at"] {
        assert!(user[field].is_string(), "{field}");
    }
    assert!(user.get("password_hash").is_none());
    let stored: String = sqlx::query_scalar("select password_hash from users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        stored.starts_with("$argon2id$"),
        "argon2id, not the password"
    );
}

#[tokio::test]
async fn registering_writes_a_welcome_event_in_the_outbox() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let events = outbox(&app).await;
    assert_eq!(events.len(), 1);
    let (template, payload, _) = &events[0];
    assert_eq!(template, "welcome");
    assert_eq!(payload["user_id"], session.user_id.to_string());
    assert_eq!(payload["to"]["email"], session.email);
    assert!(payload["event_id"].is_string());
}

#[tokio::test]
async fn a_taken_email_is_409_whatever_its_case() {
    let app = spawn_app().await;
    let email = unique_email();
    assert_eq!(
        register(&app, &email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let response = register(&app, &email.to_uppercase(), PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body = problem(response).await;
    assert_eq!(body["status"], 409);
}

#[tokio::test]
async fn a_weak_or_overlong_password_is_422() {
    let app = spawn_app().await;
    for password in ["elevenchars".to_owned(), "x".repeat(129)] {
        let response = register(&app, &unique_email(), &password).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = problem(response).await;
        assert_eq!(body["errors"][0]["field"], "password");
    }
    let response = register(&app, &unique_email(), &"x".repeat(12)).await;
    assert_eq!(response.status(), StatusCode::CREATED, "12 characters pass");
}

#[tokio::test]
async fn every_invalid_field_of_a_registration_is_listed() {
    let app = spawn_app().await;
    let response = post(
        &app,
        "/api/v1/auth/register",
        None,
        &json!({"email": "not-an-email", "password": "short", "full_name": " "}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = problem(response).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password", "full_name"]);
}

#[tokio::test]
async fn malformed_json_is_400_and_a_missing_field_422() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    problem(response).await;
    let response = post(
        &app,
        "/api/v1/auth/register",
        None,
        &json!({"email": "a@b.co"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn login_issues_a_15_minute_eddsa_access_token_and_a_refresh_token() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let response = login(&app, &session.email.to_uppercase(), PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert!(tokens["refresh_token"].as_str().unwrap().len() >= 43);

    let access = tokens["access_token"].as_str().unwrap();
    let head = header(access);
    assert_eq!(head["alg"], "EdDSA");
    assert!(head["kid"].is_string());
    let claims = claims(access);
    assert_eq!(claims["iss"], "user-service");
    assert_eq!(claims["sub"], session.user_id.to_string());
    assert_eq!(claims["roles"], json!(["customer"]));
    assert!(claims["jti"].is_string());
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        900
    );
    let audiences = claims["aud"].as_array().unwrap();
    for service in [
        "user-service",
        "catalog-service",
        "order-service",
        "notification-service",
    ] {
        assert!(audiences.contains(&json!(service)), "{service}");
    }
    // Only a digest of the refresh token is stored.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("select token_hash from refresh_tokens")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let raw = tokens["refresh_token"].as_str().unwrap().as_bytes();
    assert!(stored.iter().all(|h| h.as_slice() != raw && h.len() == 32));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let wrong = login(&app, &session.email, "wrong password!!").await;
    let unknown = login(&app, &unique_email(), "wrong password!!").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let mut bodies = Vec::new();
    for response in [wrong, unknown] {
        let mut body = problem(response).await;
        body.as_object_mut().unwrap().remove("request_id");
        bodies.push(body);
    }
    assert_eq!(bodies[0], bodies[1]);
    // What is not an address at all is refused before any counting (it
    // says nothing about which accounts exist).
    let malformed = login(&app, "not an email", "wrong password!!").await;
    assert_eq!(malformed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(malformed).await["errors"][0]["field"], "email");
}

#[tokio::test]
async fn unknown_email_takes_about_as_long_as_a_wrong_password() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    // Warm up (the dummy hash is computed on first use).
    login(&app, &unique_email(), "wrong password!!").await;
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let started = std::time::Instant::now();
        login(&app, &session.email, "wrong password!!").await;
        wrong.push(started.elapsed().as_secs_f64());
        let started = std::time::Instant::now();
        login(&app, &unique_email(), "wrong password!!").await;
        unknown.push(started.elapsed().as_secs_f64());
    }
    wrong.sort_by(f64::total_cmp);
    unknown.sort_by(f64::total_cmp);
    let (wrong, unknown) = (wrong[2], unknown[2]);
    eprintln!("median login: wrong password {wrong:.4}s, unknown email {unknown:.4}s");
    // Both verify one argon2 hash: the same order of time, where skipping
    // the hash would be orders of magnitude faster.
    assert!(
        unknown > wrong / 3.0 && unknown < wrong * 3.0,
        "{wrong} vs {unknown}"
    );
}

#[tokio::test]
async fn refresh_rotates_the_token_and_the_old_one_stops_working() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let response = refresh(&app, &session.refresh_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let rotated: Value = response.json().await.unwrap();
    let next = rotated["refresh_token"].as_str().unwrap();
    assert_ne!(next, session.refresh_token);
    assert_eq!(
        claims(rotated["access_token"].as_str().unwrap())["sub"],
        session.user_id.to_string()
    );
    assert_eq!(refresh(&app, next).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let first: Value = refresh(&app, &session.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    let latest = first["refresh_token"].as_str().unwrap().to_owned();

    // The thief (or the user) presents the already-rotated token.
    let reuse = refresh(&app, &session.refresh_token).await;
    assert_eq!(reuse.status(), StatusCode::UNAUTHORIZED);
    problem(reuse).await;
    // ... and the family's newest token is dead too.
    assert_eq!(
        refresh(&app, &latest).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Another login (another family) is unaffected.
    let other = login_ok(&app, &session.email, PASSWORD).await;
    assert_eq!(
        refresh(&app, other["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unknown_or_expired_refresh_token_is_401() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    assert_eq!(
        refresh(&app, "not-a-token").await.status(),
        StatusCode::UNAUTHORIZED
    );
    sqlx::query("update refresh_tokens set created_at = now() - interval '31 days', expires_at = now() - interval '1 day'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        refresh(&app, &session.refresh_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logout_revokes_the_family_of_the_refresh_token() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let other = login_ok(&app, &session.email, PASSWORD).await;
    let response = post(
        &app,
        "/api/v1/auth/logout",
        Some(&session.access_token),
        &json!({"refresh_token": session.refresh_token}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        refresh(&app, &session.refresh_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Another session of the same user goes on.
    assert_eq!(
        refresh(&app, other["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    // Logging out twice is harmless.
    let again = post(
        &app,
        "/api/v1/auth/logout",
        Some(&session.access_token),
        &json!({"refresh_token": session.refresh_token}),
    )
    .await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn logout_needs_an_access_token_and_cannot_touch_another_users_tokens() {
    let app = spawn_app().await;
    let victim = new_user(&app).await;
    let attacker = new_user(&app).await;
    let anonymous = post(
        &app,
        "/api/v1/auth/logout",
        None,
        &json!({"refresh_token": victim.refresh_token}),
    )
    .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    problem(anonymous).await;
    let response = post(
        &app,
        "/api/v1/auth/logout",
        Some(&attacker.access_token),
        &json!({"refresh_token": victim.refresh_token}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        refresh(&app, &victim.refresh_token).await.status(),
        StatusCode::OK
    );
}
