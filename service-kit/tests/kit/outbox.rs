//! The outbox relay against a real database and a real HTTP receiver: a
//! batch is delivered side by side, never more at once than configured, and
//! each event's outcome (delivered, retried, given up) is recorded.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use service_kit::client::{ClientOptions, ServiceClient};
use service_kit::outbox::{Notification, Relay, RelayOptions, enqueue};
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::helpers::migrated_database as pool;

/// Requests in flight now, the most seen at once, and the `n` of each
/// notification in the order they arrived.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
    arrived: std::sync::Mutex<Vec<u64>>,
}

/// notification-service's intake, played by a server that answers by the
/// notification's template: `slow` after 200 ms, `refused` with 422,
/// `down` with 503, `nul` with 503 and a NUL in its body, anything else at
/// once with 202.
async fn intake(State(seen): State<Arc<InFlight>>, body: String) -> (StatusCode, String) {
    let now = seen.now.fetch_add(1, Ordering::SeqCst) + 1;
    seen.most.fetch_max(now, Ordering::SeqCst);
    let body = serde_json::from_str::<serde_json::Value>(&body).unwrap();
    if let Some(n) = body["data"]["n"].as_u64() {
        seen.arrived.lock().unwrap().push(n);
    }
    let answer = match body["template"].as_str().unwrap() {
        "slow" => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            (StatusCode::ACCEPTED, String::new())
        }
        "refused" => (StatusCode::UNPROCESSABLE_ENTITY, String::new()),
        "down" => (StatusCode::SERVICE_UNAVAILABLE, String::new()),
        "nul" => (StatusCode::SERVICE_UNAVAILABLE, "bad\0byte".to_owned()),
        _ => (StatusCode::ACCEPTED, String::new()),
    };
    seen.now.fetch_sub(1, Ordering::SeqCst);
    answer
}

async fn receiver() -> (String, Arc<InFlight>) {
    let seen = Arc::new(InFlight::default());
    let app = Router::new()
        .route("/internal/v1/notifications", post(intake))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn relay(pool: &PgPool, url: &str, concurrency: usize) -> Relay {
    let client = ServiceClient::new(
        "notification-service",
        url,
        ClientOptions {
            max_retries: 0,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    Relay::new(
        pool.clone(),
        "kit-test",
        RelayOptions {
            concurrency,
            // A failed event is not due again within a test.
            backoff_base: Duration::from_secs(600),
            ..RelayOptions::default()
        },
    )
    .with_client(client)
}

async fn write(pool: &PgPool, templates: &[&str]) {
    let mut tx = pool.begin().await.unwrap();
    for template in templates {
        enqueue(
            &mut tx,
            &Notification::new(*template, serde_json::json!({})),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// Writes `count` slow notifications about `user`, numbered from `first`,
/// each in its own transaction (claimed in that order).
async fn write_for(pool: &PgPool, user: uuid::Uuid, first: u64, count: u64) {
    for n in first..first + count {
        let mut tx = pool.begin().await.unwrap();
        enqueue(
            &mut tx,
            &Notification::new("slow", serde_json::json!({ "n": n })).for_user(user),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
}

/// (template, attempts, delivered, given up, retry later) per event.
async fn rows(pool: &PgPool) -> Vec<(String, i32, bool, bool, bool)> {
    sqlx::query_as(
        "select payload->>'template', attempts, delivered_at is not null, failed_at is not null,
                next_attempt_at > now()
         from outbox order by payload->>'template'",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_batch_is_delivered_side_by_side_up_to_the_concurrency() {
    let (_db, pool) = pool().await;
    let (url, seen) = receiver().await;
    write(&pool, &["slow"; 12]).await;

    let relay = relay(&pool, &url, 4);
    let started = std::time::Instant::now();
    assert_eq!(relay.tick().await.unwrap(), 12);
    let took = started.elapsed();

    assert_eq!(
        seen.most.load(Ordering::SeqCst),
        4,
        "four at once, never more"
    );
    // One at a time, 12 answers of 200 ms take 2.4 s; four at a time, 0.6 s.
    assert!(took < Duration::from_millis(1500), "{took:?}");
    let rows = rows(&pool).await;
    assert_eq!(rows.len(), 12);
    assert!(
        rows.iter().all(|r| r.1 == 1 && r.2 && !r.3),
        "each delivered once: {rows:?}"
    );
    assert_eq!(relay.tick().await.unwrap(), 0, "nothing left due");
}

#[tokio::test]
async fn each_outcome_of_a_concurrent_batch_is_recorded() {
    let (_db, pool) = pool().await;
    let (url, _) = receiver().await;
    write(&pool, &["a-ok", "b-ok", "down", "refused", "z-ok"]).await;

    let relay = relay(&pool, &url, 8);
    assert_eq!(relay.tick().await.unwrap(), 5);
    assert_eq!(
        rows(&pool).await,
        vec![
            ("a-ok".to_owned(), 1, true, false, false),
            ("b-ok".to_owned(), 1, true, false, false),
            // 503: retried after the backoff.
            ("down".to_owned(), 1, false, false, true),
            // 422: the same bytes would be refused again, given up at once.
            ("refused".to_owned(), 1, false, true, true),
            ("z-ok".to_owned(), 1, true, false, false),
        ]
    );
    let error: String =
        sqlx::query_scalar("select last_error from outbox where payload->>'template' = 'refused'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(error.contains("422"), "{error}");
    // The retry is not due yet, the others are settled.
    assert_eq!(relay.tick().await.unwrap(), 0);
}

#[tokio::test]
async fn one_users_events_go_one_after_another_in_the_order_written() {
    let (_db, pool) = pool().await;
    let (url, seen) = receiver().await;
    let (ada, bob) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    write_for(&pool, ada, 0, 3).await;
    write_for(&pool, bob, 10, 3).await;

    assert_eq!(relay(&pool, &url, 8).tick().await.unwrap(), 6);
    // Ada's and Bob's side by side, each one's in order.
    assert_eq!(seen.most.load(Ordering::SeqCst), 2);
    let arrived = seen.arrived.lock().unwrap().clone();
    let of = |range: std::ops::Range<u64>| -> Vec<u64> {
        arrived
            .iter()
            .copied()
            .filter(|n| range.contains(n))
            .collect()
    };
    assert_eq!(of(0..10), vec![0, 1, 2], "{arrived:?}");
    assert_eq!(of(10..20), vec![10, 11, 12], "{arrived:?}");
}

#[tokio::test]
async fn a_receivers_answer_postgres_cannot_store_does_not_undo_the_batch() {
    let (_db, pool) = pool().await;
    let (url, _) = receiver().await;
    write(&pool, &["a-ok", "nul"]).await;

    assert_eq!(relay(&pool, &url, 8).tick().await.unwrap(), 2);
    assert_eq!(
        rows(&pool).await,
        vec![
            ("a-ok".to_owned(), 1, true, false, false),
            ("nul".to_owned(), 1, false, false, true),
        ]
    );
    let error: String =
        sqlx::query_scalar("select last_error from outbox where payload->>'template' = 'nul'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        error.contains("503") && error.contains("badbyte"),
        "{error}"
    );
}
