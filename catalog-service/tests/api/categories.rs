//! The category tree: public reads, admin writes, slugs, cycles, deletion.

use crate::helpers::{problem, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn an_admin_builds_a_tree_that_anyone_can_read() {
    let app = spawn_app().await;
    let home = app.create_category("home", None).await;
    let lamps = app.create_category("lamps", Some(&home)).await;

    let list = app.get_json("/api/v1/categories").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let lamp = items.iter().find(|c| c["id"] == lamps.as_str()).unwrap();
    assert_eq!(lamp["parent_id"], home.as_str());
    assert_eq!(lamp["slug"], "lamps");
    for field in ["id", "name", "slug", "parent_id", "description"] {
        assert!(lamp.get(field).is_some(), "{field}");
    }

    let one = app.get_json(&format!("/api/v1/categories/{home}")).await;
    assert_eq!(one["parent_id"], Value::Null);
}

#[tokio::test]
async fn a_duplicate_slug_is_409() {
    let app = spawn_app().await;
    app.create_category("lamps", None).await;
    let response = app
        .admin_post(
            "/api/v1/categories",
            &json!({"name": "Lamps again", "slug": "lamps"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    problem(response).await;

    let other = app.create_category("chairs", None).await;
    let response = app
        .admin_patch(
            &format!("/api/v1/categories/{other}"),
            &json!({"slug": "lamps"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn invalid_categories_are_422_naming_the_field() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"name": "Lamps", "slug": "Not A Slug"}), "slug"),
        (json!({"name": "", "slug": "lamps"}), "name"),
        (json!({"slug": "lamps"}), "name"),
        (
            json!({"name": "Lamps", "slug": "lamps", "parent_id": "0190a0a0-0000-7000-8000-000000000000"}),
            "parent_id",
        ),
        (
            json!({"name": "Lamps", "slug": "lamps", "parent_id": "nope"}),
            "parent_id",
        ),
    ] {
        let response = app.admin_post("/api/v1/categories", &body).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        assert_eq!(
            problem(response).await["errors"][0]["field"],
            field,
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_category_cannot_move_under_itself_or_a_descendant() {
    let app = spawn_app().await;
    let root = app.create_category("root", None).await;
    let child = app.create_category("child", Some(&root)).await;
    let grandchild = app.create_category("grandchild", Some(&child)).await;
    for parent in [&root, &grandchild] {
        let response = app
            .admin_patch(
                &format!("/api/v1/categories/{root}"),
                &json!({"parent_id": parent}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem(response).await["errors"][0]["field"], "parent_id");
    }
    // Moving to a root and renaming work.
    let response = app
        .admin_patch(
            &format!("/api/v1/categories/{grandchild}"),
            &json!({"parent_id": null, "name": "Top"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let moved: Value = response.json().await.unwrap();
    assert_eq!(moved["parent_id"], Value::Null);
    assert_eq!(moved["name"], "Top");
}

#[tokio::test]
async fn deleting_a_category_with_products_or_children_is_409() {
    let app = spawn_app().await;
    let root = app.create_category("root", None).await;
    let leaf = app.create_category("leaf", Some(&root)).await;
    let product = app.create_product(&leaf, "SKU-1", "Lamp", 1000, 1).await;

    let response = app
        .admin_delete(&format!("/api/v1/categories/{leaf}"))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    problem(response).await;
    let response = app
        .admin_delete(&format!("/api/v1/categories/{root}"))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    // Once its products are deleted, the category can go.
    let id = product["id"].as_str().unwrap();
    assert_eq!(
        app.admin_delete(&format!("/api/v1/products/{id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.admin_delete(&format!("/api/v1/categories/{leaf}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/v1/categories/{leaf}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.admin_delete(&format!("/api/v1/categories/{leaf}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn category_writes_refuse_customers_and_anonymous_callers() {
    let app = spawn_app().await;
    let id = app.create_category("lamps", None).await;
    let (_, customer) = app.user_token();
    let service = app.service_token();
    let body = json!({"name": "X", "slug": "x"});
    let cases = [
        (Method::POST, "/api/v1/categories".to_owned(), Some(&body)),
        (
            Method::PATCH,
            format!("/api/v1/categories/{id}"),
            Some(&body),
        ),
        (Method::DELETE, format!("/api/v1/categories/{id}"), None),
    ];
    for (method, path, body) in cases {
        let anonymous = app.send(method.clone(), &path, None, body).await;
        assert_eq!(
            anonymous.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        problem(anonymous).await;
        let forbidden = app.send(method.clone(), &path, Some(&customer), body).await;
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN, "{method} {path}");
        let forbidden = app.send(method.clone(), &path, Some(&service), body).await;
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN, "{method} {path}");
    }
}

#[tokio::test]
async fn unknown_and_malformed_category_ids_are_404() {
    let app = spawn_app().await;
    for id in ["0190a0a0-0000-7000-8000-000000000000", "not-a-uuid"] {
        let response = app.get(&format!("/api/v1/categories/{id}")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        problem(response).await;
    }
    let response = app
        .admin_patch(
            "/api/v1/categories/0190a0a0-0000-7000-8000-000000000000",
            &json!({"name": "x"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// With the database unreachable, a read that needs it answers 503 with
/// `Retry-After` (retrying will work), not 500 (a bug), and works again
/// once the database is back, without a restart.
#[tokio::test]
async fn with_the_database_down_a_read_is_503_with_retry_after_then_recovers() {
    let (app, proxy) = crate::helpers::spawn_app_via_proxy(|s| {
        s.cache.enabled = false;
        s.database.acquire_timeout_secs = 1;
    })
    .await;
    let home = app.create_category("home", None).await;
    proxy.disable();
    let response = app.get(&format!("/api/v1/categories/{home}")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body = problem(response).await;
    assert_eq!(body["status"], 503);

    proxy.enable();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = app
            .get(&format!("/api/v1/categories/{home}"))
            .await
            .status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK);
}
