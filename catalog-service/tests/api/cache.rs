//! The cache across replicas: two instances on one database; writes through
//! one are served by the other within a second, also after the other's
//! listening connection was killed.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app, spawn_replicas};

/// How fresh a replica must be after a write committed elsewhere.
const WITHIN: Duration = Duration::from_secs(1);

/// A product's body and ETag as `app` serves them.
async fn read(app: &TestApp, id: &str) -> (Value, String) {
    let response = app.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers()["etag"]
        .to_str()
        .expect("an ASCII ETag")
        .to_owned();
    (response.json().await.expect("a product"), etag)
}

/// Changes a product's description without notifying any replica (the
/// trigger is off for this one transaction): only a cached copy can still
/// show the old text.
async fn silent_write(app: &TestApp, id: &str, description: &str) {
    let mut tx = app.pool.begin().await.expect("a transaction");
    for statement in [
        "alter table products disable trigger products_notify_update",
        "update products set description = $1 where product_id = $2",
        "alter table products enable trigger products_notify_update",
    ] {
        sqlx::query(statement)
            .bind(description)
            .bind(Uuid::parse_str(id).expect("a UUID"))
            .execute(&mut *tx)
            .await
            .expect("the silent write");
    }
    tx.commit().await.expect("commit");
}

/// Waits until `app` serves product `id` from its cache: it keeps showing a
/// description the database no longer holds. (A replica bypasses its cache
/// until its listener listens.)
async fn wait_until_cached(app: &TestApp, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for round in 0.. {
        let (before, _) = read(app, id).await;
        silent_write(app, id, &format!("silently changed {round}")).await;
        let (after, _) = read(app, id).await;
        if after["description"] == before["description"] {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never served product {id} from its cache"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `app` until `fresh` holds of product `id`, failing after `WITHIN`
/// (measured from `since`, when the write returned).
async fn served_within(
    app: &TestApp,
    id: &str,
    since: Instant,
    fresh: impl Fn(&Value, &str) -> bool,
) {
    loop {
        let (product, etag) = read(app, id).await;
        if fresh(&product, &etag) {
            return;
        }
        assert!(
            since.elapsed() <= WITHIN,
            "product {id} still stale {:?} after the write: {product}",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn product_on(app: &TestApp, stock: i32) -> String {
    let category = app
        .create_category(&format!("c-{}", Uuid::new_v4().simple()), None)
        .await;
    let product = app
        .create_product(
            &category,
            &format!("SKU-{}", Uuid::new_v4().simple()),
            "Brass Lamp",
            1999,
            stock,
        )
        .await;
    product["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn a_patch_through_one_replica_is_served_by_the_other_within_a_second() {
    let (a, b) = spawn_replicas(|_| {}, |_| {}).await;
    let id = product_on(&a, 5).await;
    wait_until_cached(&b, &id).await;
    let (_, old_etag) = read(&b, &id).await;

    let response = a
        .admin_patch(
            &format!("/api/v1/products/{id}"),
            &json!({"name": "Copper Lamp", "price_cents": 2500}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let written = Instant::now();
    let new_etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, old_etag);
    served_within(&b, &id, written, |product, etag| {
        product["name"] == "Copper Lamp" && product["price_cents"] == 2500 && etag == new_etag
    })
    .await;

    // The batch lookup order-service prices carts with, too.
    let page = b
        .get_json(&format!("/api/v1/products?ids={id}&limit=100"))
        .await;
    assert_eq!(page["items"][0]["price_cents"], 2500);
}

#[tokio::test]
async fn a_stock_movement_through_one_replica_changes_available_on_the_other_within_a_second() {
    let (a, b) = spawn_replicas(|_| {}, |_| {}).await;
    let id = product_on(&a, 10).await;
    wait_until_cached(&b, &id).await;
    assert_eq!(read(&b, &id).await.0["available"], 10);

    // A reservation (order-service's checkout) through A.
    let reserved = a
        .internal_post(
            "/internal/v1/reservations",
            &json!({"reservation_id": Uuid::new_v4(), "items": [{"product_id": id, "quantity": 3}]}),
        )
        .await;
    assert_eq!(reserved.status(), StatusCode::CREATED);
    let written = Instant::now();
    served_within(&b, &id, written, |product, _| product["available"] == 7).await;

    // An admin adjustment through A.
    wait_until_cached(&b, &id).await;
    let adjusted = a
        .admin_post(
            &format!("/api/v1/products/{id}/inventory/adjustments"),
            &json!({"delta": 5, "reason": "delivery"}),
        )
        .await;
    assert_eq!(adjusted.status(), StatusCode::OK);
    let written = Instant::now();
    served_within(&b, &id, written, |product, _| product["available"] == 12).await;
}

#[tokio::test]
async fn a_category_change_through_one_replica_is_listed_by_the_other_within_a_second() {
    let (a, b) = spawn_replicas(|_| {}, |_| {}).await;
    a.create_category("lamps", None).await;
    let listed = b.get_json("/api/v1/categories").await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    a.create_category("rugs", None).await;
    let written = Instant::now();
    loop {
        let listed = b.get_json("/api/v1/categories").await;
        if listed["items"].as_array().map(Vec::len) == Some(2) {
            break;
        }
        assert!(
            written.elapsed() <= WITHIN,
            "the new category is not listed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Kills the listening connections of this database (only `b` has one when
/// the other replica runs without a cache), returning how many.
async fn kill_listeners(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity
         where datname = current_database() and application_name = $1",
    )
    .bind(catalog_service::cache::listener::APPLICATION_NAME)
    .fetch_one(&app.pool)
    .await
    .expect("terminating the listener")
}

#[tokio::test]
async fn a_replica_whose_listener_was_killed_serves_nothing_stale_and_recovers() {
    // A writes without a cache of its own: the only listener is B's.
    let (a, b) = spawn_replicas(
        |s| s.cache.enabled = false,
        |s| s.cache.reconnect_delay_ms = 50,
    )
    .await;
    let id = product_on(&a, 5).await;
    wait_until_cached(&b, &id).await;

    assert_eq!(kill_listeners(&a).await, 1, "B's listener was not found");
    // Written while B's listener is down or reconnecting: nothing tells B.
    for (n, price) in [(1, 3000), (2, 3100)] {
        let response = a
            .admin_patch(
                &format!("/api/v1/products/{id}"),
                &json!({"price_cents": price}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "write {n}");
        let written = Instant::now();
        served_within(&b, &id, written, |product, _| {
            product["price_cents"] == price
        })
        .await;
        // And it never goes back to an older version.
        for _ in 0..20 {
            assert_eq!(read(&b, &id).await.0["price_cents"], price);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    // Reconnected, B caches again and hears of writes again.
    wait_until_cached(&b, &id).await;
    let response = a
        .admin_patch(
            &format!("/api/v1/products/{id}"),
            &json!({"price_cents": 3200}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let written = Instant::now();
    served_within(&b, &id, written, |product, _| {
        product["price_cents"] == 3200
    })
    .await;

    let metrics = b.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("catalog_cache_listener_reconnects_total"),
        "{metrics}"
    );
}

#[tokio::test]
async fn reads_by_id_are_counted_as_cache_hits_and_misses_in_metrics() {
    let app = spawn_app().await;
    let id = product_on(&app, 1).await;
    wait_until_cached(&app, &id).await;
    read(&app, &id).await;
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    for needle in [
        r#"catalog_cache_requests_total{cache="product",outcome="hit"}"#,
        r#"catalog_cache_requests_total{cache="product",outcome="miss"}"#,
        r#"catalog_cache_invalidations_total{cache="product",scope="key"}"#,
        "catalog_cache_listener_connected 1",
    ] {
        assert!(metrics.contains(needle), "{needle} missing from {metrics}");
    }
}

#[tokio::test]
async fn with_the_cache_off_every_read_sees_the_database() {
    let app = crate::helpers::spawn_app_with(|s| s.cache.enabled = false).await;
    let id = product_on(&app, 1).await;
    read(&app, &id).await;
    silent_write(&app, &id, "changed behind its back").await;
    assert_eq!(
        read(&app, &id).await.0["description"],
        "changed behind its back"
    );
}

#[tokio::test]
async fn an_image_upload_through_one_replica_is_served_by_the_other_within_a_second() {
    let (a, b) = spawn_replicas(|_| {}, |_| {}).await;
    let id = product_on(&a, 5).await;
    wait_until_cached(&b, &id).await;
    let (cached, old_etag) = read(&b, &id).await;
    assert_eq!(cached["images"], json!([]));

    let response = a
        .upload_image(
            &id,
            crate::images::png(40, 30, 77),
            "image/png",
            Some("lit"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let written = Instant::now();
    let image: Value = response.json().await.unwrap();
    served_within(&b, &id, written, |product, etag| {
        product["images"][0]["id"] == image["id"] && etag != old_etag
    })
    .await;

    // A reorder or a delete, likewise.
    let response = a
        .admin_delete(&format!(
            "/api/v1/products/{id}/images/{}",
            image["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let written = Instant::now();
    served_within(&b, &id, written, |product, _| {
        product["images"] == json!([])
    })
    .await;
}
