//! A forged cursor is a 422 naming `cursor`, never a 500: every cursor field
//! is range-checked when it is decoded (the kit's CursorTime, CursorText).

use crate::helpers::{problem, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use service_kit::pagination::encode_cursor;
use uuid::Uuid;

/// Before Postgres' first day (4714-11-24 BC).
const ANCIENT: &str = "-100000-01-01T00:00:00Z";

#[tokio::test]
async fn forged_listing_cursors_outside_postgres_range_are_422() {
    let app = spawn_app().await;
    let category = app.create_category("lamps", None).await;
    app.create_product(&category, "LAMP-1", "Desk lamp", 1999, 3)
        .await;
    let id = Uuid::new_v4();
    let cases: [(&str, Value); 4] = [
        (
            "sort=newest",
            json!({"s": "newest", "t": ANCIENT, "id": id}),
        ),
        ("sort=name", json!({"s": "name", "n": "a\u{0}b", "id": id})),
        (
            "sort=name",
            json!({"s": "name", "n": "x".repeat(5000), "id": id}),
        ),
        (
            "sort=relevance&q=lamp",
            json!({"s": "tier", "tier": 1, "t": ANCIENT, "id": id}),
        ),
    ];
    for (query, cursor) in cases {
        let path = format!("/api/v1/products?{query}&cursor={}", encode_cursor(&cursor));
        let response = app.send(Method::GET, &path, None, None).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query} {cursor}"
        );
        assert_eq!(problem(response).await["errors"][0]["field"], "cursor");
    }
}

#[tokio::test]
async fn a_forged_audit_trail_cursor_is_422() {
    let app = spawn_app().await;
    let category = app.create_category("lamps", None).await;
    let product = app
        .create_product(&category, "LAMP-1", "Desk lamp", 1999, 3)
        .await;
    let product_id = product["id"].as_str().unwrap();
    let cursor = encode_cursor(&json!({"t": ANCIENT, "id": Uuid::new_v4()}));
    let path = format!("/api/v1/products/{product_id}/inventory/adjustments?cursor={cursor}");
    let admin = app.admin_token();
    let response = app
        .send(Method::GET, &path, Some(admin.as_str()), None)
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["errors"][0]["field"], "cursor");
}
