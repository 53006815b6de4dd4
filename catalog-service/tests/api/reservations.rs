//! Internal reservations: all or nothing, never oversold, idempotent, and
//! released by the sweeper after their TTL.

use crate::helpers::{AUDIENCE, TestApp, problem, spawn_app, spawn_app_via_proxy, spawn_app_with};
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use uuid::Uuid;

async fn product_with_stock(app: &TestApp, sku: &str, price: i64, stock: i32) -> String {
    let category = match app.get_json("/api/v1/categories").await["items"][0]["id"].as_str() {
        Some(id) => id.to_owned(),
        None => app.create_category("things", None).await,
    };
    let product = app
        .create_product(&category, sku, &format!("Thing {sku}"), price, stock)
        .await;
    product["id"].as_str().unwrap().to_owned()
}

fn reservation(id: Uuid, items: &[(&str, i32)]) -> Value {
    json!({
        "reservation_id": id,
        "items": items.iter().map(|(p, q)| json!({"product_id": p, "quantity": q})).collect::<Vec<_>>(),
        "ttl_seconds": 600,
    })
}

async fn reserve(app: &TestApp, id: Uuid, items: &[(&str, i32)]) -> reqwest::Response {
    app.internal_post("/internal/v1/reservations", &reservation(id, items))
        .await
}

#[tokio::test]
async fn a_reservation_holds_stock_and_carries_the_catalogs_prices() {
    let app = spawn_app().await;
    let lamp = product_with_stock(&app, "LAMP", 4999, 5).await;
    let rug = product_with_stock(&app, "RUG", 12000, 2).await;
    let id = Uuid::new_v4();
    let response = reserve(&app, id, &[(&lamp, 2), (&rug, 1)]).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reservation_id"], id.to_string());
    assert!(body["expires_at"].is_string());
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let lamp_line = items
        .iter()
        .find(|i| i["product_id"] == lamp.as_str())
        .unwrap();
    assert_eq!(lamp_line["quantity"], 2);
    assert_eq!(lamp_line["unit_price_cents"], 4999);
    assert_eq!(lamp_line["currency"], "EUR");
    assert_eq!(lamp_line["name"], "Thing LAMP");

    assert_eq!(
        app.inventory(&lamp).await,
        json!({"product_id": lamp, "on_hand": 5, "reserved": 2, "available": 3})
    );
    assert_eq!(
        app.get_json(&format!("/api/v1/products/{rug}")).await["available"],
        1
    );
}

#[tokio::test]
async fn a_reservation_that_cannot_be_met_reserves_nothing_and_lists_the_short_items() {
    let app = spawn_app().await;
    let lamp = product_with_stock(&app, "LAMP", 100, 5).await;
    let rug = product_with_stock(&app, "RUG", 100, 1).await;
    let unknown = Uuid::new_v4().to_string();
    let response = reserve(
        &app,
        Uuid::new_v4(),
        &[(&lamp, 2), (&rug, 3), (&unknown, 1)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body = problem(response).await;
    let short = body["short_items"].as_array().unwrap();
    assert_eq!(short.len(), 2, "{body}");
    assert_eq!(short[0]["product_id"], rug.as_str());
    assert_eq!(short[0]["requested"], 3);
    assert_eq!(short[0]["available"], 1);
    assert_eq!(short[0]["reason"], "insufficient_stock");
    assert_eq!(short[1]["product_id"], unknown.as_str());
    assert_eq!(short[1]["reason"], "not_sellable");
    assert_eq!(body["errors"][0]["field"], "items[1].quantity");
    // Nothing held, not even the lamps that were available.
    assert_eq!(app.inventory(&lamp).await["reserved"], 0);
    assert_eq!(app.inventory(&rug).await["reserved"], 0);
}

#[tokio::test]
async fn internal_routes_refuse_user_and_admin_tokens_anonymous_and_other_services() {
    let app = spawn_app().await;
    let lamp = product_with_stock(&app, "LAMP", 100, 5).await;
    let (_, customer) = app.user_token();
    let admin = app.admin_token();
    // Valid service tokens for catalog-service, but not order-service's.
    let other_services = [
        app.issuer.service_token("notification-service", AUDIENCE),
        app.issuer.service_token("user-service", AUDIENCE),
    ];
    let other_audience = app.issuer.service_token("order-service", "user-service");
    let id = Uuid::new_v4();
    let body = reservation(id, &[(&lamp, 1)]);
    let restock = json!({"reference_id": id, "items": [{"product_id": lamp, "quantity": 1}]});
    let cases = [
        ("/internal/v1/reservations".to_owned(), Some(&body)),
        (format!("/internal/v1/reservations/{id}/commit"), None),
        (format!("/internal/v1/reservations/{id}/release"), None),
        ("/internal/v1/restock".to_owned(), Some(&restock)),
    ];
    for (path, body) in cases {
        let response = app.send(Method::POST, &path, None, body).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        for token in [&customer, &admin].into_iter().chain(&other_services) {
            let response = app.send(Method::POST, &path, Some(token), body).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
            problem(response).await;
        }
        let response = app
            .send(Method::POST, &path, Some(&other_audience), body)
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(app.inventory(&lamp).await["on_hand"], 5);
    assert_eq!(app.inventory(&lamp).await["reserved"], 0);
}

#[tokio::test]
async fn invalid_reservations_are_422_naming_the_field() {
    let app = spawn_app().await;
    let lamp = product_with_stock(&app, "LAMP", 100, 5).await;
    let id = Uuid::new_v4();
    let cases = [
        (json!({"reservation_id": id, "items": []}), "items"),
        (
            json!({"reservation_id": id, "items": [{"product_id": lamp, "quantity": 0}]}),
            "items[0].quantity",
        ),
        (
            json!({"reservation_id": id, "items": [{"product_id": lamp, "quantity": 1}, {"product_id": lamp, "quantity": 2}]}),
            "items",
        ),
        (
            json!({"reservation_id": "x", "items": [{"product_id": lamp, "quantity": 1}]}),
            "reservation_id",
        ),
        (
            json!({"reservation_id": id, "items": [{"product_id": lamp, "quantity": 1}], "ttl_seconds": 0}),
            "ttl_seconds",
        ),
        (
            json!({"reservation_id": id, "items": [{"product_id": lamp, "quantity": 1}], "ttl_seconds": 10_000_000}),
            "ttl_seconds",
        ),
    ];
    for (body, field) in cases {
        let response = app.internal_post("/internal/v1/reservations", &body).await;
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
    assert_eq!(app.inventory(&lamp).await["reserved"], 0);
}

#[tokio::test]
async fn repeating_a_reservation_replays_it_and_holds_stock_once() {
    let app = spawn_app().await;
    let lamp = product_with_stock(&app, "LAMP", 100, 5).await;
    let id = Uuid::new_v4();
    let first = reserve(&app, id, &[(&lamp, 2)]).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    for _ in 0..3 {
        let again = reserve(&app, id, &[(&lamp, 2)]).await;
        assert_eq!(again.status(), StatusCode::CREATED);
        assert_eq!(again.json::<Value>().await.unwrap(), first);
    }
    assert_eq!(app.inventory(&lamp).await["reserved"], 2);

    // The same id with other items is refused.
    let other = reserve(&app, id, &[(&lamp, 3)]).await;
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(other).await["errors"][0]["field"], "reservation_id");
    assert_eq!(app.inventory(&lamp).await["reserved"], 2);
}

/// A repeat is answered from the reservation even when the stock it took
/// is gone: concurrent copies of a request for every unit all get the one
/// reservation (each copy finds the stock short once the first holds it).
#[tokio::test]
async fn concurrent_copies_of_a_reservation_for_all_the_stock_all_replay_it() {
    let app = spawn_app_with(|s| s.database.max_connections = 10).await;
    let lamp = product_with_stock(&app, "LAMP", 100, 5).await;
    let id = Uuid::new_v4();
    let all = [(lamp.as_str(), 5)];
    let copies = join_all((0..10).map(|_| reserve(&app, id, &all))).await;
    let mut answers = Vec::new();
    for response in copies {
        assert_eq!(response.status(), StatusCode::CREATED);
        answers.push(response.json::<Value>().await.unwrap());
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(answers[0]["reservation_id"], id.to_string());
    assert_eq!(app.inventory(&lamp).await["reserved"], 5);

    // Another id finds it short and holds nothing.
    let other = reserve(&app, Uuid::new_v4(), &[(&lamp, 1)]).await;
    assert_eq!(other.status(), StatusCode::CONFLICT);
    assert_eq!(app.inventory(&lamp).await["reserved"], 5);
    let again = reserve(&app, id, &[(&lamp, 5)]).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.json::<Value>().await.unwrap(), answers[0]);
}

#[tokio::test]
async fn commit_and_release_are_idempotent_and_exclusive() {
    let app = spawn_app().await;
    let lamp = product_with_stock(&app, "LAMP", 100, 10).await;
    let committed = Uuid::new_v4();
    let released = Uuid::new_v4();
    reserve(&app, committed, &[(&lamp, 3)]).await;
    reserve(&app, released, &[(&lamp, 2)]).await;
    assert_eq!(app.inventory(&lamp).await["available"], 5);

    for _ in 0..3 {
        let response = app
            .internal_post(
                &format!("/internal/v1/reservations/{committed}/commit"),
                &json!({}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.json::<Value>().await.unwrap()["status"],
            "committed"
        );
        let response = app
            .internal_post(
                &format!("/internal/v1/reservations/{released}/release"),
                &json!({}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.json::<Value>().await.unwrap()["status"],
            "released"
        );
    }
    // Committed units left on hand once; released ones came back once.
    assert_eq!(
        app.inventory(&lamp).await,
        json!({"product_id": lamp, "on_hand": 7, "reserved": 0, "available": 7})
    );

    let response = app
        .internal_post(
            &format!("/internal/v1/reservations/{committed}/release"),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let response = app
        .internal_post(
            &format!("/internal/v1/reservations/{released}/commit"),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    // A released reservation id cannot be reused to reserve again.
    let response = reserve(&app, released, &[(&lamp, 2)]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    // Replaying the committed reservation does not reserve again.
    let response = reserve(&app, committed, &[(&lamp, 3)]).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(app.inventory(&lamp).await["available"], 7);

    let unknown = Uuid::new_v4();
    for action in ["commit", "release"] {
        let response = app
            .internal_post(
                &format!("/internal/v1/reservations/{unknown}/{action}"),
                &json!({}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn restock_is_idempotent_on_its_reference() {
    let app = spawn_app().await;
    let lamp = product_with_stock(&app, "LAMP", 100, 1).await;
    let rug = product_with_stock(&app, "RUG", 100, 0).await;
    let reference = Uuid::new_v4();
    let body = json!({"reference_id": reference, "items": [
        {"product_id": lamp, "quantity": 2}, {"product_id": rug, "quantity": 1}
    ]});
    for _ in 0..3 {
        let response = app.internal_post("/internal/v1/restock", &body).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.json::<Value>().await.unwrap()["reference_id"],
            reference.to_string()
        );
    }
    assert_eq!(app.inventory(&lamp).await["on_hand"], 3);
    assert_eq!(app.inventory(&rug).await["on_hand"], 1);

    let other = json!({"reference_id": reference, "items": [{"product_id": lamp, "quantity": 5}]});
    let response = app.internal_post("/internal/v1/restock", &other).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = json!({"reference_id": Uuid::new_v4(), "items": [{"product_id": Uuid::new_v4(), "quantity": 1}]});
    let response = app.internal_post("/internal/v1/restock", &unknown).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem(response).await["errors"][0]["field"],
        "items[0].product_id"
    );
    assert_eq!(app.inventory(&lamp).await["on_hand"], 3);

    // The restock is in the audit trail, attributed to the calling service.
    let trail: Value = app
        .http
        .get(app.url(&format!("/api/v1/products/{lamp}/inventory/adjustments")))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(trail["items"][0]["actor"], "order-service");
    assert_eq!(trail["items"][0]["reason"], format!("restock {reference}"));
}

/// Watches a product's availability until stopped; true if it ever went
/// negative (it must not).
fn watch_available(
    app: &TestApp,
    product_id: &str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<bool> {
    let pool = app.pool.clone();
    let id = Uuid::parse_str(product_id).unwrap();
    tokio::spawn(async move {
        let mut negative = false;
        while !stop.load(Ordering::SeqCst) {
            let available: i32 =
                sqlx::query_scalar("select on_hand - reserved from products where product_id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            negative |= available < 0;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        negative
    })
}

#[tokio::test]
async fn fifty_concurrent_reservations_of_ten_units_never_oversell() {
    let app = spawn_app_with(|s| s.database.max_connections = 10).await;
    let lamp = product_with_stock(&app, "LAMP", 100, 10).await;
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_available(&app, &lamp, Arc::clone(&stop));

    let attempts = (0..50).map(|_| {
        let lamp = lamp.clone();
        let app = &app;
        async move { reserve(app, Uuid::new_v4(), &[(&lamp, 1)]).await.status() }
    });
    let statuses = join_all(attempts).await;
    stop.store(true, Ordering::SeqCst);

    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (10, 40), "{statuses:?}");
    assert_eq!(
        app.inventory(&lamp).await,
        json!({"product_id": lamp, "on_hand": 10, "reserved": 10, "available": 0})
    );
    assert!(!watcher.await.unwrap(), "available went negative");
}

#[tokio::test]
async fn overlapping_multi_item_reservations_neither_deadlock_nor_reserve_partially() {
    let app = spawn_app_with(|s| s.database.max_connections = 10).await;
    let mut products = Vec::new();
    for i in 0..4 {
        products.push(product_with_stock(&app, &format!("P{i}"), 100, 10).await);
    }
    // Each request names 2-3 overlapping products, in varying order.
    let requests: Vec<(Uuid, Vec<(String, i32)>)> = (0..40)
        .map(|i| {
            let a = i % 4;
            let b = (i + 1) % 4;
            let c = (i + 3) % 4;
            let mut lines = vec![(products[b].clone(), 1), (products[a].clone(), 1)];
            if i % 2 == 0 {
                lines.push((products[c].clone(), 2));
            }
            if i % 3 == 0 {
                lines.reverse();
            }
            (Uuid::new_v4(), lines)
        })
        .collect();
    let attempts = requests.iter().map(|(id, lines)| {
        let app = &app;
        async move {
            let lines: Vec<(&str, i32)> = lines.iter().map(|(p, q)| (p.as_str(), *q)).collect();
            reserve(app, *id, &lines).await.status()
        }
    });
    let statuses = tokio::time::timeout(Duration::from_secs(60), join_all(attempts))
        .await
        .expect("no deadlock: every request answered");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );

    // What is reserved is exactly the sum of the successful requests' lines.
    let mut expected: HashMap<&str, i64> = HashMap::new();
    for ((_, lines), status) in requests.iter().zip(&statuses) {
        if *status == StatusCode::CREATED {
            for (p, q) in lines {
                *expected.entry(p.as_str()).or_default() += i64::from(*q);
            }
        }
    }
    assert!(statuses.contains(&StatusCode::CREATED));
    assert!(statuses.contains(&StatusCode::CONFLICT));
    for product in &products {
        let inventory = app.inventory(product).await;
        let reserved = inventory["reserved"].as_i64().unwrap();
        assert_eq!(
            reserved,
            expected.get(product.as_str()).copied().unwrap_or(0)
        );
        assert!(inventory["available"].as_i64().unwrap() >= 0);
    }
    let lines: i64 =
        sqlx::query_scalar("select coalesce(sum(quantity), 0)::int8 from reservation_items")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(lines, expected.values().sum::<i64>());
}

#[tokio::test]
async fn an_uncommitted_reservation_returns_its_stock_after_its_ttl_without_any_call() {
    let app = spawn_app_with(|s| s.reservations.sweep_interval_ms = 100).await;
    let lamp = product_with_stock(&app, "LAMP", 100, 4).await;
    let expiring = Uuid::new_v4();
    let body = json!({"reservation_id": expiring, "items": [{"product_id": lamp, "quantity": 3}], "ttl_seconds": 1});
    let response = app.internal_post("/internal/v1/reservations", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // A long-lived one alongside must stay.
    reserve(&app, Uuid::new_v4(), &[(&lamp, 1)]).await;
    assert_eq!(app.inventory(&lamp).await["available"], 0);

    let mut available = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        available = app.inventory(&lamp).await["available"].as_i64().unwrap();
        if available == 3 {
            break;
        }
    }
    assert_eq!(available, 3);
    assert_eq!(app.inventory(&lamp).await["reserved"], 1);

    // Expired: committing it is refused, releasing it is a no-op.
    let response = app
        .internal_post(
            &format!("/internal/v1/reservations/{expiring}/commit"),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let response = app
        .internal_post(
            &format!("/internal/v1/reservations/{expiring}/release"),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "expired");
    assert_eq!(app.inventory(&lamp).await["available"], 3);

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("catalog_reservations_expired_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"catalog_reservations_total{outcome="reserved"}"#),
        "{metrics}"
    );
}

/// Reserve (what a checkout asks of catalog-service first), commit and
/// release (what it asks next, or its compensation) take one statement
/// round trip each.
#[tokio::test]
async fn reserve_commit_and_release_take_one_round_trip_each() {
    // One connection (statements prepared by the warm-up stay prepared),
    // no product cache (its reads would count), no sweep while counting.
    let (app, proxy) = spawn_app_via_proxy(|s| {
        s.cache.enabled = false;
        s.database.max_connections = 1;
        s.reservations.sweep_interval_ms = 3_600_000;
        s.media.sweep_interval_ms = 3_600_000;
    })
    .await;
    let lamp = product_with_stock(&app, "LAMP", 4999, 50).await;
    let rug = product_with_stock(&app, "RUG", 12000, 50).await;
    let lines = [(lamp.as_str(), 2), (rug.as_str(), 1)];

    let counted = |path: String, body: Option<Value>| {
        let app = &app;
        let proxy = &proxy;
        async move {
            let before = proxy.round_trips();
            let response = match &body {
                Some(body) => app.internal_post(&path, body).await,
                None => app.internal_post(&path, &json!({})).await,
            };
            let status = response.status();
            (status, proxy.round_trips() - before)
        }
    };
    // Warm-up: each statement's first run on the connection prepares it.
    for ending in ["commit", "release"] {
        let id = Uuid::new_v4();
        let (status, _) = counted(
            "/internal/v1/reservations".into(),
            Some(reservation(id, &lines)),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _) = counted(format!("/internal/v1/reservations/{id}/{ending}"), None).await;
        assert_eq!(status, StatusCode::OK, "{ending}");
    }

    for ending in ["commit", "release"] {
        let id = Uuid::new_v4();
        let (status, reserve_trips) = counted(
            "/internal/v1/reservations".into(),
            Some(reservation(id, &lines)),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(reserve_trips, 1, "reserve");
        let (status, end_trips) =
            counted(format!("/internal/v1/reservations/{id}/{ending}"), None).await;
        assert_eq!(status, StatusCode::OK, "{ending}");
        assert_eq!(end_trips, 1, "{ending}");
    }
}

/// Commits and releases lock their products inside the statement that moves
/// the stock; racing them against reservations of the same products, in
/// varying line order, neither deadlocks nor loses a unit.
#[tokio::test]
async fn commits_and_releases_racing_reservations_neither_deadlock_nor_lose_stock() {
    let app = spawn_app_with(|s| s.database.max_connections = 10).await;
    let mut products = Vec::new();
    for i in 0..3 {
        products.push(product_with_stock(&app, &format!("R{i}"), 100, 1000).await);
    }
    let all: Vec<(&str, i32)> = products.iter().map(|p| (p.as_str(), 1)).collect();
    // Twenty reservations of one unit of each product, to be ended while
    // twenty more are made, their lines in the opposite order.
    let mut held = Vec::new();
    for _ in 0..20 {
        let id = Uuid::new_v4();
        assert_eq!(reserve(&app, id, &all).await.status(), StatusCode::CREATED);
        held.push(id);
    }
    let reversed: Vec<(&str, i32)> = all.iter().rev().copied().collect();
    let endings = held.iter().enumerate().map(|(i, id)| {
        let app = &app;
        let ending = if i % 2 == 0 { "commit" } else { "release" };
        async move {
            app.internal_post(
                &format!("/internal/v1/reservations/{id}/{ending}"),
                &json!({}),
            )
            .await
            .status()
        }
    });
    let fresh = (0..20).map(|_| {
        let app = &app;
        let lines = &reversed;
        async move { reserve(app, Uuid::new_v4(), lines).await.status() }
    });
    let (ended, reserved) = tokio::time::timeout(
        Duration::from_secs(60),
        futures::future::join(join_all(endings), join_all(fresh)),
    )
    .await
    .expect("no deadlock: every request answered");
    assert!(ended.iter().all(|s| *s == StatusCode::OK), "{ended:?}");
    assert!(
        reserved.iter().all(|s| *s == StatusCode::CREATED),
        "{reserved:?}"
    );
    // 10 committed (gone), 10 released (back), 20 newly held.
    for product in &products {
        let inventory = app.inventory(product).await;
        assert_eq!(inventory["on_hand"], 990, "{inventory}");
        assert_eq!(inventory["reserved"], 20, "{inventory}");
        assert_eq!(inventory["available"], 970, "{inventory}");
    }
}
