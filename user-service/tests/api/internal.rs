//! `GET /internal/v1/users/{id}` and the client-credentials grant behind it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{claims, new_user, problem, send, service_token, spawn_app, spawn_configured};
use user_service::config::CommaList;

#[tokio::test]
async fn a_service_gets_a_users_contact_details() {
    let app = spawn_app().await;
    let user = new_user(&app).await;
    let token = service_token(&app, "notification-service", "user-service").await;
    let response = send(
        &app,
        Method::GET,
        &format!("/internal/v1/users/{}", user.user_id),
        &token,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let contact: Value = response.json().await.unwrap();
    assert_eq!(
        contact,
        json!({"id": user.user_id, "email": user.email, "full_name": "Ada Lovelace", "phone": null})
    );
}

#[tokio::test]
async fn the_internal_route_refuses_user_tokens_anonymous_callers_and_other_audiences() {
    let app = spawn_app().await;
    let user = new_user(&app).await;
    let path = format!("/internal/v1/users/{}", user.user_id);
    let response = send(&app, Method::GET, &path, &user.access_token, None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(app.get(&path).await.status(), StatusCode::UNAUTHORIZED);
    let for_catalog = service_token(&app, "order-service", "catalog-service").await;
    let response = send(&app, Method::GET, &path, &for_catalog, None).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "a token for another service"
    );
}

#[tokio::test]
async fn an_unknown_user_is_404_for_a_service() {
    let app = spawn_app().await;
    let token = service_token(&app, "notification-service", "user-service").await;
    let response = send(
        &app,
        Method::GET,
        &format!("/internal/v1/users/{}", uuid::Uuid::new_v4()),
        &token,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    problem(response).await;
}

#[tokio::test]
async fn the_token_endpoint_issues_service_tokens_for_the_requested_audience() {
    let app = spawn_app().await;
    let token = service_token(&app, "order-service", "catalog-service").await;
    let claims = claims(&token);
    assert_eq!(claims["sub"], "order-service");
    assert_eq!(claims["aud"], "catalog-service");
    assert_eq!(claims["roles"], json!(["service"]));
    assert_eq!(claims["iss"], "user-service");

    // Credentials in a JSON body work too.
    let response = app
        .http
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({
            "grant_type": "client_credentials", "audience": "notification-service",
            "client_id": "order-service", "client_secret": "order_client_secret_local_only",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
}

#[tokio::test]
async fn the_token_endpoint_refuses_bad_clients_grants_and_audiences() {
    let app = spawn_app().await;
    let request =
        |id: &'static str, secret: &'static str, grant: &'static str, audience: &'static str| {
            app.http
                .post(app.url("/api/v1/auth/token"))
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", grant), ("audience", audience)])
                .send()
        };
    let wrong_secret = request(
        "order-service",
        "guess",
        "client_credentials",
        "catalog-service",
    )
    .await
    .unwrap();
    assert_eq!(wrong_secret.status(), StatusCode::UNAUTHORIZED);
    problem(wrong_secret).await;
    let unknown = request("evil-service", "x", "client_credentials", "catalog-service")
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let grant = request(
        "order-service",
        "order_client_secret_local_only",
        "password",
        "catalog-service",
    )
    .await
    .unwrap();
    assert_eq!(grant.status(), StatusCode::BAD_REQUEST);
    let audience = request(
        "order-service",
        "order_client_secret_local_only",
        "client_credentials",
        "mainframe",
    )
    .await
    .unwrap();
    assert_eq!(audience.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(audience).await["errors"][0]["field"], "audience");
    let anonymous = app
        .http
        .post(app.url("/api/v1/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("audience", "catalog-service"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn service_tokens_cannot_act_as_a_user() {
    let app = spawn_app().await;
    let token = service_token(&app, "notification-service", "user-service").await;
    let response = send(&app, Method::GET, "/api/v1/users/me", &token, None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// The kit's `ClientCredentials` token source against the real endpoint:
/// one token fetched for many concurrent calls, used through the kit's
/// `ServiceClient` on the internal route.
#[tokio::test]
async fn the_kits_client_credentials_source_caches_one_token_for_concurrent_callers() {
    use secrecy::SecretString;
    use service_kit::auth::client_credentials::{ClientCredentials, ClientCredentialsSettings};
    use service_kit::client::{ClientOptions, ServiceClient};
    use std::sync::Arc;

    let app = spawn_app().await;
    let user = new_user(&app).await;
    let settings = ClientCredentialsSettings {
        token_url: app.url("/api/v1/auth/token"),
        client_id: "notification-service".into(),
        client_secret: SecretString::from("notification_client_secret_local_only"),
    };
    let source = Arc::new(ClientCredentials::new(&settings, "user-service").unwrap());
    let tokens = futures::future::join_all((0..10).map(|_| source.access_token())).await;
    let first = tokens[0].as_ref().unwrap().clone();
    assert!(
        tokens.iter().all(|t| t.as_ref().unwrap() == &first),
        "one token for all"
    );
    assert_eq!(claims(&first)["aud"], "user-service");

    let client = ServiceClient::new(
        "user-service",
        app.address.clone(),
        ClientOptions::default(),
    )
    .unwrap()
    .with_token_source(source);
    let response = client
        .get(&format!("/internal/v1/users/{}", user.user_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let wrong = ClientCredentials::new(
        &ClientCredentialsSettings {
            client_secret: SecretString::from("wrong"),
            ..settings
        },
        "user-service",
    )
    .unwrap();
    assert!(wrong.access_token().await.is_err());
}

#[tokio::test]
async fn a_client_gets_tokens_only_for_the_audiences_on_its_allow_list() {
    let app = spawn_app().await;
    let request = |id: &'static str, secret: &'static str, audience: &'static str| {
        app.http
            .post(app.url("/api/v1/auth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("audience", audience)])
            .send()
    };
    let order = ("order-service", "order_client_secret_local_only");
    let notification = (
        "notification-service",
        "notification_client_secret_local_only",
    );
    for ((id, secret), audience, allowed) in [
        (order, "catalog-service", true),
        (order, "notification-service", true),
        (order, "user-service", false),
        (order, "order-service", false),
        (notification, "user-service", true),
        (notification, "catalog-service", false),
        (notification, "notification-service", false),
    ] {
        let response = request(id, secret, audience).await.unwrap();
        if allowed {
            assert_eq!(response.status(), StatusCode::OK, "{id} -> {audience}");
        } else {
            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{id} -> {audience}"
            );
            let body = problem(response).await;
            assert_eq!(
                body["type"], "/problems/invalid_scope",
                "{id} -> {audience}"
            );
        }
    }
}

#[tokio::test]
async fn the_internal_user_lookup_admits_notification_service_only() {
    // A misconfigured allow-list hands order-service a token for
    // user-service: the route itself still refuses it.
    let app = spawn_configured(|settings| {
        settings.client_audiences.insert(
            "order_service".into(),
            CommaList(vec!["user-service".into()]),
        );
    })
    .await;
    let user = new_user(&app).await;
    let path = format!("/internal/v1/users/{}", user.user_id);
    let order = service_token(&app, "order-service", "user-service").await;
    let response = send(&app, Method::GET, &path, &order, None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    let notification = service_token(&app, "notification-service", "user-service").await;
    let response = send(&app, Method::GET, &path, &notification, None).await;
    assert_eq!(response.status(), StatusCode::OK);
}
