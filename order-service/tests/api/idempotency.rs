//! Idempotency keys: replays, reuse with another body, per-user scope,
//! expiry.

use crate::helpers::{checkout_body, problem, spawn_fleet};
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn a_repeated_key_replays_the_first_answer_without_doing_the_work_again() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let ada = fleet.customer();
    fleet.add_to_cart(&ada, &lamp, 2).await;
    let first = fleet.checkout_with_key(&ada, "tok_visa", "key-1").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();

    // The cart is empty now, yet the replay is the same 201.
    let second = fleet.checkout_with_key(&ada, "tok_visa", "key-1").await;
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.json::<Value>().await.unwrap(), first);
    assert_eq!(fleet.count_all_orders().await, 1);
    assert_eq!(fleet.live_charges().await, 1);
    assert_eq!(fleet.inventory(&lamp).await["on_hand"], 8);

    // Same key, another body: 422.
    let response = fleet.checkout_with_key(&ada, "tok_declined", "key-1").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem(response).await["type"],
        "/problems/idempotency-key-reused"
    );

    // Keys are per user: Bob's "key-1" is his own (and his cart is empty).
    let bob = fleet.customer();
    let response = fleet.checkout_with_key(&bob, "tok_visa", "key-1").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["type"], "/problems/empty-cart");
}

#[tokio::test]
async fn failures_are_replayed_too_and_expired_keys_run_again() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let ada = fleet.customer();
    fleet.add_to_cart(&ada, &lamp, 1).await;
    let first = fleet.checkout_with_key(&ada, "tok_declined", "key-d").await;
    assert_eq!(first.status(), StatusCode::PAYMENT_REQUIRED);
    let first: Value = first.json().await.unwrap();
    let again = fleet.checkout_with_key(&ada, "tok_declined", "key-d").await;
    assert_eq!(again.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(fleet.count_orders("payment_failed").await, 1);

    // Once expired (aged past the TTL), the key is free again.
    sqlx::query("update idempotency_keys set created_at = now() - interval '2 days'")
        .execute(&fleet.order.pool)
        .await
        .unwrap();
    let response = fleet.checkout_with_key(&ada, "tok_visa", "key-d").await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_request_still_running_is_reported_as_409_after_the_wait() {
    let fleet = crate::helpers::spawn_fleet_with(Default::default(), |s, _| {
        s.checkout.idempotency_wait_ms = 200;
    })
    .await;
    let ada = fleet.customer();
    let body = checkout_body("tok_visa");
    // A first request that never finished (as after a crash).
    // The fingerprint of the bytes the helper sends.
    let bytes = serde_json::to_vec(&body).unwrap();
    let hash = service_kit::idempotency::RequestHash::of("POST", "/api/v1/checkout", &bytes);
    sqlx::query("insert into idempotency_keys (user_id, idempotency_key, request_hash) values ($1, 'busy', $2)")
        .bind(ada.id)
        .bind(hash.as_str())
        .execute(&fleet.order.pool)
        .await
        .unwrap();
    let response = fleet
        .send(
            Method::POST,
            "/api/v1/checkout",
            Some(&ada.token),
            Some(&body),
            Some("busy"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        problem(response).await["type"],
        "/problems/idempotency-key-in-use"
    );
}

#[tokio::test]
async fn a_key_whose_request_died_is_settled_from_its_order_or_taken_over() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let ada = fleet.customer();
    let body = checkout_body("tok_visa");
    // The fingerprint of the bytes the helper sends.
    let bytes = serde_json::to_vec(&body).unwrap();
    let hash = service_kit::idempotency::RequestHash::of("POST", "/api/v1/checkout", &bytes);

    // A key left running by a process that died before creating an order.
    sqlx::query(
        "insert into idempotency_keys (user_id, idempotency_key, request_hash, updated_at)
         values ($1, 'dead', $2, now() - interval '1 hour')",
    )
    .bind(ada.id)
    .bind(hash.as_str())
    .execute(&fleet.order.pool)
    .await
    .unwrap();
    fleet.add_to_cart(&ada, &lamp, 1).await;
    let response = fleet.checkout_with_key(&ada, "tok_visa", "dead").await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "the stale key is taken over"
    );
    let order: Value = response.json().await.unwrap();

    // A key left running although its order confirmed (the answer was never
    // stored): the order's 201 is replayed, nothing runs again.
    sqlx::query(
        "update idempotency_keys set status = 'running', response_status = null,
                response_body = null, updated_at = now() - interval '1 hour'",
    )
    .execute(&fleet.order.pool)
    .await
    .unwrap();
    let replay = fleet.checkout_with_key(&ada, "tok_visa", "dead").await;
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.unwrap()["id"], order["id"]);
    assert_eq!(fleet.count_all_orders().await, 1);
    assert_eq!(fleet.live_charges().await, 1);
}

#[tokio::test]
async fn a_request_that_outlived_its_lease_cannot_settle_the_key_another_took_over() {
    use service_kit::idempotency::{
        Idempotency, IdempotencyKey, IdempotencyOptions, RequestHash, Settle, Stale, StoredResponse,
    };
    use std::time::Duration;

    let app = crate::helpers::spawn_app().await;
    let pool = app.pool.clone();
    let user = uuid::Uuid::now_v7();
    let keys = Idempotency::new(
        pool.clone(),
        IdempotencyOptions {
            ttl: Duration::from_secs(86_400),
            wait: Duration::ZERO,
            lease: Duration::from_secs(60),
        },
    );
    let key = IdempotencyKey::parse("k-1").unwrap();
    let hash = RequestHash::of("POST", "/things", b"{}");
    let rerun = || async { Ok(Stale::Rerun) };
    let late = StoredResponse::ok(StatusCode::CREATED, &serde_json::json!({"from": "slow"}));

    // A first request that stalls halfway.
    let (resume_slow, slow_gate) = tokio::sync::oneshot::channel::<()>();
    let slow = tokio::spawn({
        let (keys, key, hash, late) = (keys.clone(), key.clone(), hash.clone(), late.clone());
        async move {
            keys.run(user, Some(key), &hash, rerun, move || async move {
                let _ = slow_gate.await;
                Settle::Store(late)
            })
            .await
        }
    });
    let mut claimed = false;
    for _ in 0..100 {
        let rows: i64 = sqlx::query_scalar("select count(*) from idempotency_keys")
            .fetch_one(&pool)
            .await
            .unwrap();
        if rows == 1 {
            claimed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(claimed, "the first request claimed the key");
    // It stops moving for longer than the lease: a retry takes the key over.
    sqlx::query("update idempotency_keys set updated_at = now() - interval '2 minutes'")
        .execute(&pool)
        .await
        .unwrap();
    let answer = StoredResponse::ok(StatusCode::CREATED, &serde_json::json!({"from": "retry"}));
    let retry = {
        let (keys, stored) = (keys.clone(), answer.clone());
        keys.clone()
            .run(user, Some(key.clone()), &hash, rerun, move || async move {
                // While the retry holds the key, the first request finishes
                // late and a reconciler forgets (or settles) dead keys:
                // neither touches the retry's key.
                let _ = resume_slow.send(());
                let first = slow.await.unwrap().unwrap();
                assert_eq!(first.status(), StatusCode::CREATED);
                keys.release_stale(user, "k-1").await.unwrap();
                keys.complete_stale(user, "k-1", &late).await.unwrap();
                Settle::Store(stored)
            })
            .await
            .unwrap()
    };
    assert_eq!(retry.status(), StatusCode::CREATED);

    // The retry's answer is the one stored, and replayed.
    let replay = keys
        .run(user, Some(key), &hash, rerun, || async {
            panic!("a stored key never runs again")
        })
        .await
        .unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let body = axum::body::to_bytes(replay.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, answer.body);
}
