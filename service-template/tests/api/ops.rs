//! The operations surface every service shares (owned by the template).

use crate::helpers::{problem, spawn_app, spawn_app_behind_proxy};
use reqwest::StatusCode;
use std::time::Duration;

#[tokio::test]
async fn health_and_ready_answer_200_once_migrated() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn ready_is_503_while_the_database_is_down_and_recovers_without_a_restart() {
    let (app, proxy) = spawn_app_behind_proxy().await;
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
    proxy.disable();
    let response = app.get("/ready").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    problem(response).await;
    proxy.enable();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = app.get("/ready").await.status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_are_exposed_in_prometheus_format() {
    let app = spawn_app().await;
    app.get("/health").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/health",status="200"}"#),
        "{text}"
    );
    assert!(text.contains("db_pool_connections"));
}

#[tokio::test]
async fn the_openapi_document_and_docs_are_served() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["info"]["title"], env!("CARGO_PKG_NAME"));
    assert!(doc["paths"]["/health"].is_object());
    assert_eq!(app.get("/docs/").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn request_ids_are_echoed_or_replaced() {
    let app = spawn_app().await;
    let ok = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.headers()["x-request-id"], "req-123");
    let bad = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "bad id!")
        .send()
        .await
        .unwrap();
    assert_ne!(bad.headers()["x-request-id"], "bad id!");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_problems() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/does-not-exist").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    problem(response).await;
    let response = app.http.post(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    problem(response).await;
}
