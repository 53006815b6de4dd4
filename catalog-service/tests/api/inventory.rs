//! Inventory: stock figures, admin adjustments and their audit trail.

use crate::helpers::{problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test]
async fn adjustments_change_on_hand_and_are_audited() {
    let app = spawn_app().await;
    let category = app.create_category("c", None).await;
    let product = app.create_product(&category, "SKU", "Lamp", 100, 5).await;
    let id = product["id"].as_str().unwrap();
    assert_eq!(
        app.inventory(id).await,
        json!({"product_id": id, "on_hand": 5, "reserved": 0, "available": 5})
    );

    let response = app
        .admin_post(
            &format!("/api/v1/products/{id}/inventory/adjustments"),
            &json!({"delta": 10, "reason": "delivery #42"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let inventory: Value = response.json().await.unwrap();
    assert_eq!(inventory["on_hand"], 15);
    assert_eq!(inventory["available"], 15);
    let response = app
        .admin_post(
            &format!("/api/v1/products/{id}/inventory/adjustments"),
            &json!({"delta": -3, "reason": "broken in the warehouse"}),
        )
        .await;
    assert_eq!(response.json::<Value>().await.unwrap()["on_hand"], 12);

    let trail: Value = app
        .http
        .get(app.url(&format!("/api/v1/products/{id}/inventory/adjustments")))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = trail["items"].as_array().unwrap();
    let summary: Vec<(i64, &str, i64)> = entries
        .iter()
        .map(|e| {
            (
                e["delta"].as_i64().unwrap(),
                e["reason"].as_str().unwrap(),
                e["on_hand_after"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (-3, "broken in the warehouse", 12),
            (10, "delivery #42", 15),
            (5, "initial stock", 5)
        ]
    );
    assert!(
        entries
            .iter()
            .all(|e| e["actor"] == "admin" && e["actor_id"].is_string())
    );
}

#[tokio::test]
async fn the_audit_trail_pages_newest_first_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let category = app.create_category("c", None).await;
    let product = app.create_product(&category, "SKU", "Lamp", 100, 1).await;
    let id = product["id"].as_str().unwrap();
    for delta in 2..=7 {
        let response = app
            .admin_post(
                &format!("/api/v1/products/{id}/inventory/adjustments"),
                &json!({"delta": delta, "reason": format!("delivery {delta}")}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let mut deltas = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/products/{id}/inventory/adjustments?limit=2");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page: Value = app
            .http
            .get(app.url(&path))
            .bearer_auth(app.admin_token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2, "{page}");
        deltas.extend(items.iter().map(|e| e["delta"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(deltas, [7, 6, 5, 4, 3, 2, 1]);
}

#[tokio::test]
async fn on_hand_never_goes_below_reserved() {
    let app = spawn_app().await;
    let category = app.create_category("c", None).await;
    let product = app.create_product(&category, "SKU", "Lamp", 100, 5).await;
    let id = product["id"].as_str().unwrap();
    let response = app
        .internal_post(
            "/internal/v1/reservations",
            &json!({"reservation_id": Uuid::new_v4(), "items": [{"product_id": id, "quantity": 3}]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let response = app
        .admin_post(
            &format!("/api/v1/products/{id}/inventory/adjustments"),
            &json!({"delta": -3, "reason": "count"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    problem(response).await;
    assert_eq!(
        app.inventory(id).await,
        json!({"product_id": id, "on_hand": 5, "reserved": 3, "available": 2})
    );
    let response = app
        .admin_post(
            &format!("/api/v1/products/{id}/inventory/adjustments"),
            &json!({"delta": -2, "reason": "count"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.inventory(id).await["available"], 0);
}

#[tokio::test]
async fn bad_adjustments_are_422_and_unknown_products_404() {
    let app = spawn_app().await;
    let category = app.create_category("c", None).await;
    let product = app.create_product(&category, "SKU", "Lamp", 100, 5).await;
    let path = format!(
        "/api/v1/products/{}/inventory/adjustments",
        product["id"].as_str().unwrap()
    );
    for (body, field) in [
        (json!({"delta": 0, "reason": "x"}), "delta"),
        (json!({"delta": 2000000, "reason": "x"}), "delta"),
        (json!({"delta": 1, "reason": ""}), "reason"),
        (json!({"delta": 1}), "reason"),
        (json!({"delta": "one", "reason": "x"}), "delta"),
    ] {
        let response = app.admin_post(&path, &body).await;
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
    let unknown = Uuid::new_v4();
    assert_eq!(
        app.get(&format!("/api/v1/products/{unknown}/inventory"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let response = app
        .admin_post(
            &format!("/api/v1/products/{unknown}/inventory/adjustments"),
            &json!({"delta": 1, "reason": "x"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
