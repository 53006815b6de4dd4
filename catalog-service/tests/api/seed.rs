//! The demo catalog (`seed/catalog.json`) loads through the API as it is.

use crate::helpers::spawn_app;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;

#[tokio::test]
async fn the_demo_catalog_loads_through_the_api_and_is_searchable() {
    let app = spawn_app().await;
    let seed: Value = serde_json::from_str(include_str!("../../seed/catalog.json")).unwrap();
    let mut ids: HashMap<String, String> = HashMap::new();
    for category in seed["categories"].as_array().unwrap() {
        let parent = category["parent"].as_str().map(|slug| ids[slug].clone());
        let response = app
            .admin_post(
                "/api/v1/categories",
                &json!({
                    "name": category["name"], "slug": category["slug"],
                    "description": category["description"], "parent_id": parent,
                }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{category}");
        let created: Value = response.json().await.unwrap();
        ids.insert(
            category["slug"].as_str().unwrap().to_owned(),
            created["id"].as_str().unwrap().to_owned(),
        );
    }
    let products = seed["products"].as_array().unwrap();
    for product in products {
        let mut body = product.clone();
        let category = body.as_object_mut().unwrap().remove("category").unwrap();
        body["category_id"] = json!(ids[category.as_str().unwrap()]);
        let response = app.admin_post("/api/v1/products", &body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{product}");
    }
    let page: Value = app
        .http
        .get(app.url("/api/v1/products"))
        .query(&[("q", "lamp"), ("limit", "100")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    // Name matches (newest first), then the description-only match.
    assert_eq!(
        names,
        ["Arc Floor Lamp", "Brass Desk Lamp", "Rattan Pendant Light"]
    );
    let home = app
        .http
        .get(app.url("/api/v1/products"))
        .query(&[("category_id", ids["home"].as_str()), ("limit", "100")])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(home["items"].as_array().unwrap().len() > 10);
    assert!(products.len() >= 36);
}
