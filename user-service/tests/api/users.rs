//! The caller's own account and preferences.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, login, new_user, problem, refresh, register, send, spawn_app};

#[tokio::test]
async fn me_returns_the_callers_account() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let response = send(
        &app,
        Method::GET,
        "/api/v1/users/me",
        &session.access_token,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["id"], session.user_id.to_string());
    assert_eq!(me["email"], session.email);
    assert_eq!(me["roles"], json!(["customer"]));
    let keys: Vec<&String> = me.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "email",
            "full_name",
            "id",
            "phone",
            "roles",
            "updated_at"
        ]
    );
}

#[tokio::test]
async fn me_without_or_with_a_bad_token_is_401() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/users/me").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    problem(response).await;
    let response = send(&app, Method::GET, "/api/v1/users/me", "garbage", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A token from another issuer's key (the harness's test issuer).
    let (_, foreign) = app.user_token();
    let response = send(&app, Method::GET, "/api/v1/users/me", &foreign, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn patching_me_changes_the_name_and_phone_and_null_removes_the_phone() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let response = send(
        &app,
        Method::PATCH,
        "/api/v1/users/me",
        &session.access_token,
        Some(&json!({"full_name": "  Grace Hopper ", "phone": "+49 151 2345 6789"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["full_name"], "Grace Hopper");
    assert_eq!(me["phone"], "+4915123456789");

    let me: Value = send(
        &app,
        Method::PATCH,
        "/api/v1/users/me",
        &session.access_token,
        Some(&json!({"full_name": "Grace B. Hopper"})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(me["phone"], "+4915123456789", "absent fields stay");
    let me: Value = send(
        &app,
        Method::PATCH,
        "/api/v1/users/me",
        &session.access_token,
        Some(&json!({"phone": null})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(me["phone"].is_null());
    assert_eq!(me["full_name"], "Grace B. Hopper");
}

#[tokio::test]
async fn an_invalid_patch_is_422_listing_the_fields() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let response = send(
        &app,
        Method::PATCH,
        "/api/v1/users/me",
        &session.access_token,
        Some(&json!({"full_name": "", "phone": "12"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = problem(response).await;
    assert_eq!(body["errors"][0]["field"], "full_name");
    assert_eq!(body["errors"][1]["field"], "phone");
    let response = send(
        &app,
        Method::PATCH,
        "/api/v1/users/me",
        &session.access_token,
        Some(&json!({"email": "new@example.com"})),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "email is not patchable"
    );
}

#[tokio::test]
async fn deleting_the_account_erases_it_and_revokes_its_tokens() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let response = send(
        &app,
        Method::DELETE,
        "/api/v1/users/me",
        &session.access_token,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let response = send(
        &app,
        Method::GET,
        "/api/v1/users/me",
        &session.access_token,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        login(&app, &session.email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &session.refresh_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let left: i64 = sqlx::query_scalar(
        "select (select count(*) from users) + (select count(*) from refresh_tokens)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(left, 0, "no personal data or token remains");
    // The address is free again.
    assert_eq!(
        register(&app, &session.email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let again = send(
        &app,
        Method::DELETE,
        "/api/v1/users/me",
        &session.access_token,
        None,
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deleting_the_account_needs_a_token() {
    let app = spawn_app().await;
    let response = app
        .http
        .delete(app.url("/api/v1/users/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_new_user_has_default_preferences() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let response = send(
        &app,
        Method::GET,
        "/api/v1/users/me/preferences",
        &session.access_token,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let preferences: Value = response.json().await.unwrap();
    assert_eq!(
        preferences,
        json!({"language": "en", "currency": "EUR", "timezone": "UTC", "marketing_opt_in": false})
    );
}

#[tokio::test]
async fn preferences_are_validated_normalized_and_stored() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let response = send(
        &app,
        Method::PUT,
        "/api/v1/users/me/preferences",
        &session.access_token,
        Some(&json!({"language": "pt-br", "currency": "brl", "timezone": "America/Sao_Paulo", "marketing_opt_in": true})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let expected = json!({"language": "pt-BR", "currency": "BRL", "timezone": "America/Sao_Paulo", "marketing_opt_in": true});
    assert_eq!(response.json::<Value>().await.unwrap(), expected);
    let stored: Value = send(
        &app,
        Method::GET,
        "/api/v1/users/me/preferences",
        &session.access_token,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn invalid_preferences_are_422_listing_each_field() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let response = send(
        &app,
        Method::PUT,
        "/api/v1/users/me/preferences",
        &session.access_token,
        Some(&json!({"language": "english_UK", "currency": "EURO", "timezone": "Mars/Olympus", "marketing_opt_in": false})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = problem(response).await;
    let mut fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["currency", "language", "timezone"]);
    let missing = send(
        &app,
        Method::PUT,
        "/api/v1/users/me/preferences",
        &session.access_token,
        Some(&json!({"language": "en"})),
    )
    .await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn preferences_need_a_token() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("/api/v1/users/me/preferences").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let response = app
        .http
        .put(app.url("/api/v1/users/me/preferences"))
        .json(&json!({"language": "en", "currency": "EUR", "timezone": "UTC", "marketing_opt_in": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn text_with_a_nul_character_is_422_not_a_database_error() {
    // Found by schemathesis: Postgres cannot store U+0000, so it must never
    // reach a query.
    let app = spawn_app().await;
    let session = new_user(&app).await;
    let response = send(
        &app,
        Method::PUT,
        "/api/v1/users/me/preferences",
        &session.access_token,
        Some(
            &json!({"language": "en\u{0}", "currency": "EUR", "timezone": "UTC",
                     "marketing_opt_in": true}),
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = problem(response).await;
    assert_eq!(body["errors"][0]["field"], "language");
}
