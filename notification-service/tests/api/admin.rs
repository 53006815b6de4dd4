//! `/api/v1/admin/notifications`: administrators only.

use crate::helpers::{FailAt, problem, spawn_app, welcome};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

#[tokio::test]
async fn admin_routes_refuse_customers_services_and_anonymous_callers() {
    let app = spawn_app().await;
    let (_, customer) = app.user_token();
    let service = app.order_service_token();
    let retry = format!("/api/v1/admin/notifications/{}/retry", Uuid::now_v7());
    for (method, path) in [
        (Method::GET, "/api/v1/admin/notifications"),
        (Method::POST, retry.as_str()),
    ] {
        let response = app.send(method.clone(), path, Some(&customer), None).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(problem(response).await["status"], 403);
        let response = app.send(method.clone(), path, Some(&service), None).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        let response = app.send(method, path, None, None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn the_admin_list_filters_by_status_and_pages() {
    let app = spawn_app().await;
    let (_, admin) = app.admin_token();
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = app
            .notify_ok(&welcome(Uuid::now_v7(), &format!("u{i}@example.com")))
            .await;
        let id = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
        app.wait_for_status(&id, "sent").await;
        ids.push(id);
    }
    app.smtp.fail_all(FailAt::MailFrom);
    let body = app
        .notify_ok(&welcome(Uuid::now_v7(), "x@example.com"))
        .await;
    let failed = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&failed, "failed").await;

    let all = app.get_json("/api/v1/admin/notifications", &admin).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    assert_eq!(all["items"][0]["id"], failed.as_str(), "newest first");
    let only_failed = app
        .get_json("/api/v1/admin/notifications?status=failed", &admin)
        .await;
    let items = only_failed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["template"], "welcome");
    assert_eq!(items[0]["channel"], "email");
    assert!(items[0]["failed_at"].is_string());
    let sent = app
        .get_json("/api/v1/admin/notifications?status=sent&limit=2", &admin)
        .await;
    assert_eq!(sent["items"].as_array().unwrap().len(), 2);
    let cursor = sent["next_cursor"].as_str().unwrap();
    let rest = app
        .get_json(
            &format!("/api/v1/admin/notifications?status=sent&limit=2&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["items"][0]["id"], ids[0].as_str());
    assert!(rest["next_cursor"].is_null());

    let response = app
        .send(
            Method::GET,
            "/api/v1/admin/notifications?status=lost",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["errors"][0]["field"], "status");
    let response = app
        .send(
            Method::GET,
            "/api/v1/admin/notifications?limit=0",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn only_failed_deliveries_can_be_retried() {
    let app = spawn_app().await;
    let (_, admin) = app.admin_token();
    let response = app
        .send(
            Method::POST,
            &format!("/api/v1/admin/notifications/{}/retry", Uuid::now_v7()),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(response).await["status"], 404);
    let body = app
        .notify_ok(&welcome(Uuid::now_v7(), "ada@example.com"))
        .await;
    let id = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&id, "sent").await;
    let response = app
        .send(
            Method::POST,
            &format!("/api/v1/admin/notifications/{id}/retry"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let problem: Value = problem(response).await;
    assert!(problem["detail"].as_str().unwrap().contains("sent"));
}
