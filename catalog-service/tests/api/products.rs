//! Products: admin CRUD, soft delete, ETags, listing filters, sorts and pages.

use crate::helpers::{TestApp, problem, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;

fn product_body(category_id: &str, sku: &str) -> Value {
    json!({
        "sku": sku, "name": "Brass Desk Lamp", "description": "A lamp for the desk.",
        "price_cents": 4999, "currency": "EUR", "category_id": category_id,
        "attributes": {"color": "brass", "watts": 40}, "initial_stock": 7,
    })
}

#[tokio::test]
async fn an_admin_creates_a_product_that_anyone_can_read() {
    let app = spawn_app().await;
    let category = app.create_category("lamps", None).await;
    let response = app
        .admin_post("/api/v1/products", &product_body(&category, "LMP-001"))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(response.headers().contains_key("etag"));
    let product: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/v1/products/{}", product["id"].as_str().unwrap())
    );
    assert_eq!(product["sku"], "LMP-001");
    assert_eq!(product["slug"], "brass-desk-lamp-lmp-001");
    assert_eq!(product["price_cents"], 4999);
    assert_eq!(product["currency"], "EUR");
    assert_eq!(product["attributes"]["watts"], 40);
    assert_eq!(product["active"], true);
    assert_eq!(product["available"], 7);
    for field in [
        "id",
        "description",
        "category_id",
        "created_at",
        "updated_at",
    ] {
        assert!(product.get(field).is_some(), "{field}");
    }

    let fetched = app.get_json(&location).await;
    assert_eq!(fetched, product);
}

#[tokio::test]
async fn a_duplicate_sku_is_409() {
    let app = spawn_app().await;
    let category = app.create_category("lamps", None).await;
    app.create_product(&category, "LMP-001", "Lamp", 100, 0)
        .await;
    let mut body = product_body(&category, "LMP-001");
    body["slug"] = json!("another-slug");
    let response = app.admin_post("/api/v1/products", &body).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(problem(response).await["type"], "/problems/duplicate-sku");
}

#[tokio::test]
async fn invalid_products_are_422_naming_the_field() {
    let app = spawn_app().await;
    let category = app.create_category("lamps", None).await;
    let cases = [
        ("price_cents", json!(-1)),
        ("price_cents", json!(9.99)),
        ("currency", json!("eur")),
        ("currency", json!("EURO")),
        ("sku", json!("has spaces")),
        ("sku", json!("")),
        ("name", json!("")),
        ("attributes", json!([1, 2])),
        ("initial_stock", json!(-5)),
        ("category_id", json!("0190a0a0-0000-7000-8000-000000000000")),
    ];
    for (field, value) in cases {
        let mut body = product_body(&category, "LMP-001");
        body[field] = value.clone();
        let response = app.admin_post("/api/v1/products", &body).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value}"
        );
        assert_eq!(
            problem(response).await["errors"][0]["field"],
            field,
            "{field}={value}"
        );
    }
    let response = app
        .http
        .post(app.url("/api/v1/products"))
        .bearer_auth(app.admin_token())
        .header("content-type", "application/json")
        .body("{\"sku\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn if_none_match_with_the_current_etag_is_304() {
    let app = spawn_app().await;
    let category = app.create_category("lamps", None).await;
    let product = app
        .create_product(&category, "LMP-001", "Lamp", 100, 3)
        .await;
    let path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    let first = app.get(&path).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();

    let cached = app
        .http
        .get(app.url(&path))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(cached.headers()["etag"], etag.as_str());
    assert!(cached.bytes().await.unwrap().is_empty());

    // A change (here: stock) makes the old tag stale.
    app.admin_post(
        &format!("{path}/inventory/adjustments"),
        &json!({"delta": 1, "reason": "found one"}),
    )
    .await;
    let fresh = app
        .http
        .get(app.url(&path))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    assert_ne!(fresh.headers()["etag"], etag.as_str());
}

#[tokio::test]
async fn a_patch_with_a_stale_if_match_is_412_and_changes_nothing() {
    let app = spawn_app().await;
    let category = app.create_category("lamps", None).await;
    let product = app
        .create_product(&category, "LMP-001", "Lamp", 100, 3)
        .await;
    let path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    let etag = app.get(&path).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let admin = app.admin_token();

    let first = app
        .http
        .patch(app.url(&path))
        .bearer_auth(&admin)
        .header("if-match", &etag)
        .json(&json!({"price_cents": 150}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let new_etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_eq!(first.json::<Value>().await.unwrap()["price_cents"], 150);

    let stale = app
        .http
        .patch(app.url(&path))
        .bearer_auth(&admin)
        .header("if-match", &etag)
        .json(&json!({"price_cents": 999}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    problem(stale).await;
    assert_eq!(app.get_json(&path).await["price_cents"], 150);

    // Without If-Match the last writer wins.
    let response = app
        .admin_patch(
            &path,
            &json!({"name": "Reading Lamp", "attributes": {"a": 1}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["name"], "Reading Lamp");
    assert_eq!(patched["attributes"], json!({"a": 1}));
}

#[tokio::test]
async fn patching_to_a_taken_sku_is_409_and_bad_fields_422() {
    let app = spawn_app().await;
    let category = app.create_category("lamps", None).await;
    app.create_product(&category, "SKU-A", "A", 100, 0).await;
    let b = app.create_product(&category, "SKU-B", "B", 100, 0).await;
    let path = format!("/api/v1/products/{}", b["id"].as_str().unwrap());
    assert_eq!(
        app.admin_patch(&path, &json!({"sku": "SKU-A"}))
            .await
            .status(),
        StatusCode::CONFLICT
    );
    let response = app.admin_patch(&path, &json!({"currency": "xx"})).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["errors"][0]["field"], "currency");
    let response = app.admin_patch(&path, &json!({"unknown": 1})).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_deleted_product_is_no_longer_listed_readable_or_sellable() {
    let app = spawn_app().await;
    let category = app.create_category("lamps", None).await;
    let product = app
        .create_product(&category, "LMP-001", "Lamp", 100, 3)
        .await;
    let id = product["id"].as_str().unwrap();
    let path = format!("/api/v1/products/{id}");
    assert_eq!(
        app.admin_delete(&path).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.admin_delete(&path).await.status(),
        StatusCode::NOT_FOUND
    );
    let list = app.get_json("/api/v1/products").await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let response = app
        .internal_post(
            "/internal/v1/reservations",
            &json!({"reservation_id": uuid::Uuid::new_v4(), "items": [{"product_id": id, "quantity": 1}]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    // The row stays (orders refer to it).
    let kept: i64 = sqlx::query_scalar("select count(*) from products")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kept, 1);
}

#[tokio::test]
async fn product_writes_refuse_customers_and_anonymous_callers() {
    let app = spawn_app().await;
    let category = app.create_category("lamps", None).await;
    let product = app
        .create_product(&category, "LMP-001", "Lamp", 100, 3)
        .await;
    let id = product["id"].as_str().unwrap();
    let (_, customer) = app.user_token();
    let body = product_body(&category, "LMP-002");
    let adjustment = json!({"delta": 1, "reason": "x"});
    let cases = [
        (Method::POST, "/api/v1/products".to_owned(), Some(&body)),
        (Method::PATCH, format!("/api/v1/products/{id}"), Some(&body)),
        (Method::DELETE, format!("/api/v1/products/{id}"), None),
        (
            Method::POST,
            format!("/api/v1/products/{id}/inventory/adjustments"),
            Some(&adjustment),
        ),
        (
            Method::GET,
            format!("/api/v1/products/{id}/inventory/adjustments"),
            None,
        ),
    ];
    for (method, path, body) in cases {
        let anonymous = app.send(method.clone(), &path, None, body).await;
        assert_eq!(
            anonymous.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert!(anonymous.headers().contains_key("www-authenticate"));
        let forbidden = app.send(method.clone(), &path, Some(&customer), body).await;
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN, "{method} {path}");
        problem(forbidden).await;
    }
    let expired = app.issuer.sign(&json!({
        "iss": "user-service", "sub": uuid::Uuid::new_v4().to_string(), "aud": crate::helpers::AUDIENCE,
        "iat": 1, "exp": 2, "jti": "x", "roles": ["customer", "admin"],
    }));
    let response = app
        .send(
            Method::POST,
            "/api/v1/products",
            Some(&expired),
            Some(&body),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// Lists every page of `query`, returning the ids in order.
async fn all_pages(app: &TestApp, query: &[(&str, &str)], limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = app
            .http
            .get(app.url("/api/v1/products"))
            .query(query)
            .query(&[("limit", limit.to_string())]);
        if let Some(c) = &cursor {
            request = request.query(&[("cursor", c)]);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{query:?}");
        let page: Value = response.json().await.unwrap();
        let page_items = page["items"].as_array().unwrap();
        assert!(page_items.len() <= limit);
        items.extend(page_items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    items
}

fn names(items: &[Value]) -> Vec<&str> {
    items.iter().map(|p| p["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn listing_filters_by_category_subtree_price_and_stock() {
    let app = spawn_app().await;
    let home = app.create_category("home", None).await;
    let lamps = app.create_category("lamps", Some(&home)).await;
    let desk = app.create_category("desk-lamps", Some(&lamps)).await;
    let garden = app.create_category("garden", None).await;
    app.create_product(&home, "H1", "Rug", 5000, 1).await;
    app.create_product(&lamps, "L1", "Floor Lamp", 9000, 0)
        .await;
    app.create_product(&desk, "D1", "Desk Lamp", 3000, 2).await;
    app.create_product(&garden, "G1", "Hose", 2000, 5).await;

    let in_home = all_pages(&app, &[("category_id", &home), ("sort", "name")], 10).await;
    assert_eq!(names(&in_home), ["Desk Lamp", "Floor Lamp", "Rug"]);
    let in_lamps = all_pages(&app, &[("category_id", &lamps), ("sort", "name")], 10).await;
    assert_eq!(names(&in_lamps), ["Desk Lamp", "Floor Lamp"]);

    let priced = all_pages(
        &app,
        &[
            ("min_price", "2500"),
            ("max_price", "5000"),
            ("sort", "price_asc"),
        ],
        10,
    )
    .await;
    assert_eq!(names(&priced), ["Desk Lamp", "Rug"]);

    let in_stock = all_pages(&app, &[("in_stock", "true"), ("sort", "price_desc")], 10).await;
    assert_eq!(names(&in_stock), ["Rug", "Desk Lamp", "Hose"]);
    let sold_out = all_pages(&app, &[("in_stock", "false")], 10).await;
    assert_eq!(names(&sold_out), ["Floor Lamp"]);

    let newest = all_pages(&app, &[], 10).await;
    assert_eq!(names(&newest), ["Hose", "Desk Lamp", "Floor Lamp", "Rug"]);
}

#[tokio::test]
async fn ids_is_a_batch_lookup() {
    let app = spawn_app().await;
    let category = app.create_category("c", None).await;
    let a = app.create_product(&category, "A", "A", 1, 0).await;
    app.create_product(&category, "B", "B", 1, 0).await;
    let c = app.create_product(&category, "C", "C", 1, 0).await;
    let ids = format!(
        "{},{}",
        a["id"].as_str().unwrap(),
        c["id"].as_str().unwrap()
    );
    let found = all_pages(&app, &[("ids", &ids), ("sort", "name")], 10).await;
    assert_eq!(names(&found), ["A", "C"]);
}

#[tokio::test]
async fn every_sort_pages_through_all_products_once() {
    let app = spawn_app().await;
    let category = app.create_category("c", None).await;
    // Equal prices and names force the id tiebreak.
    for i in 0..23 {
        app.create_product(
            &category,
            &format!("SKU-{i}"),
            &format!("Item {}", i % 4),
            100 * (i % 5),
            1,
        )
        .await;
    }
    for sort in ["newest", "price_asc", "price_desc", "name"] {
        let items = all_pages(&app, &[("sort", sort)], 4).await;
        let ids: HashSet<&str> = items.iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(items.len(), 23, "{sort}");
        assert_eq!(ids.len(), 23, "{sort}: no duplicates");
        let prices: Vec<i64> = items
            .iter()
            .map(|p| p["price_cents"].as_i64().unwrap())
            .collect();
        match sort {
            "price_asc" => assert!(prices.windows(2).all(|w| w[0] <= w[1])),
            "price_desc" => assert!(prices.windows(2).all(|w| w[0] >= w[1])),
            "name" => assert!(names(&items).windows(2).all(|w| w[0] <= w[1])),
            _ => {}
        }
    }
}

#[tokio::test]
async fn pages_stay_stable_while_products_are_inserted() {
    let app = spawn_app().await;
    let category = app.create_category("c", None).await;
    for i in 0..10 {
        app.create_product(&category, &format!("OLD-{i}"), "Old", 500 + i, 1)
            .await;
    }
    let first: Value = app
        .http
        .get(app.url("/api/v1/products"))
        .query(&[("sort", "price_asc"), ("limit", "5")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // New products land before and after the cursor.
    app.create_product(&category, "NEW-CHEAP", "New", 1, 1)
        .await;
    app.create_product(&category, "NEW-DEAR", "New", 10_000, 1)
        .await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .http
        .get(app.url("/api/v1/products"))
        .query(&[("sort", "price_asc"), ("limit", "50"), ("cursor", cursor)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let prices: Vec<i64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .map(|p| p["price_cents"].as_i64().unwrap())
        .collect();
    // The old ones once each, in order, and the new dear one at the end.
    assert_eq!(
        prices,
        [500, 501, 502, 503, 504, 505, 506, 507, 508, 509, 10_000]
    );
}

#[tokio::test]
async fn bad_filters_are_422_naming_the_field_never_500() {
    let app = spawn_app().await;
    let cases: [(&[(&str, &str)], &str); 12] = [
        (&[("min_price", "500"), ("max_price", "100")], "max_price"),
        (&[("min_price", "-1")], "min_price"),
        (&[("min_price", "abc")], "min_price"),
        (&[("sort", "cheapest")], "sort"),
        (&[("cursor", "not-a-cursor")], "cursor"),
        (&[("cursor", "eyJzIjoibmV3ZXN0In0")], "cursor"),
        (&[("ids", "123,abc")], "ids"),
        (&[("ids", ",")], "ids"),
        (&[("category_id", "lamps")], "category_id"),
        (&[("in_stock", "maybe")], "in_stock"),
        (&[("limit", "0")], "limit"),
        (&[("limit", "101")], "limit"),
    ];
    for (query, field) in cases {
        let response = app
            .http
            .get(app.url("/api/v1/products"))
            .query(query)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query:?}"
        );
        let body = problem(response).await;
        assert_eq!(body["errors"][0]["field"], field, "{query:?}: {body}");
    }
    // A cursor of one sort replayed on another.
    let category = app.create_category("c", None).await;
    for i in 0..3 {
        app.create_product(&category, &format!("S{i}"), "P", 1, 1)
            .await;
    }
    let page: Value = app
        .http
        .get(app.url("/api/v1/products"))
        .query(&[("limit", "1"), ("sort", "price_asc")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = app
        .http
        .get(app.url("/api/v1/products"))
        .query(&[
            ("sort", "name"),
            ("cursor", page["next_cursor"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
