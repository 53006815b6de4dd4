//! The Postgres window counter against a real database: exact under
//! concurrency, shared by replicas (pools), forgiving, and swept by time;
//! an admission's two limits counted with an idempotency key's claim.

use axum::http::StatusCode;
use futures::future::join_all;
use service_kit::ApiError;
use service_kit::idempotency::{
    Idempotency, IdempotencyKey, IdempotencyOptions, RequestHash, Settle, Stale, StoredResponse,
};
use service_kit::rate_limit::{
    Admission, CounterKey, LimitError, WindowLimit, purge_ended_windows,
};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

use crate::helpers::migrated_database as pool;

fn counted(results: &[Result<u32, LimitError>]) -> Vec<u32> {
    let mut counts: Vec<u32> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    counts.sort_unstable();
    counts
}

#[tokio::test]
async fn thirty_concurrent_hits_count_exactly_up_to_the_limit() {
    let (_db, pool) = pool().await;
    let limit = WindowLimit::new(pool, "test", 5, Duration::from_secs(60));
    let key = CounterKey::of(&[b"someone@example.com"]);
    let results = join_all((0..30).map(|_| limit.hit(&key))).await;
    assert_eq!(counted(&results), vec![1, 2, 3, 4, 5]);
    for result in &results {
        if let Err(err) = result {
            let LimitError::Limited(limited) = err else {
                panic!("{err:?}");
            };
            assert!(
                (55..=60).contains(&limited.retry_after_secs()),
                "{limited:?}"
            );
        }
    }
    // Refused hits were not counted: forgiving one frees exactly one.
    limit.forgive(&key).await.unwrap();
    assert_eq!(limit.hit(&key).await.unwrap(), 5);
    assert!(limit.hit(&key).await.is_err());
    // Another key and another scope count apart.
    let other = CounterKey::of(&[b"other@example.com"]);
    assert_eq!(limit.hit(&other).await.unwrap(), 1);
}

#[tokio::test]
async fn replicas_share_one_count() {
    let (db, pool) = pool().await;
    let second = service_kit::db::connect(&db.settings(), "kit-test").unwrap();
    let limits = [
        WindowLimit::new(pool, "test", 4, Duration::from_secs(60)),
        WindowLimit::new(second, "test", 4, Duration::from_secs(60)),
    ];
    let key = CounterKey::of(&[b"shared"]);
    let results = join_all((0..20).map(|i| limits[i % 2].hit(&key))).await;
    assert_eq!(counted(&results), vec![1, 2, 3, 4]);
}

#[tokio::test]
async fn a_window_ends_by_time_and_is_then_swept() {
    let (_db, pool) = pool().await;
    let limit = WindowLimit::new(pool.clone(), "test", 1, Duration::from_secs(1));
    let key = CounterKey::of(&[b"k"]);
    assert_eq!(limit.hit(&key).await.unwrap(), 1);
    assert!(limit.hit(&key).await.is_err());
    for i in 0..50u32 {
        limit
            .hit(&CounterKey::of(&[&i.to_be_bytes()]))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(limit.hit(&key).await.unwrap(), 1, "a new window");
    assert_eq!(purge_ended_windows(&pool).await.unwrap(), 50);
    limit.clear(&key).await.unwrap();
    let left: i64 = sqlx::query_scalar("select count(*) from rate_limit_counters")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// An admission of `attempts` attempts and `declines` declines (402) per
/// key, and the keys' store, in `pool`.
fn admitted(pool: &PgPool, attempts: u32, declines: u32) -> (Admission, Idempotency) {
    let window = Duration::from_secs(60);
    let admission = Admission::new(
        WindowLimit::new(pool.clone(), "attempts", attempts, window),
        WindowLimit::new(pool.clone(), "declines", declines, window),
        StatusCode::PAYMENT_REQUIRED,
    );
    let options = IdempotencyOptions {
        ttl: Duration::from_secs(3600),
        wait: Duration::from_secs(5),
        lease: Duration::from_secs(60),
    };
    (admission, Idempotency::new(pool.clone(), options))
}

/// Runs work that answers `status` after a pause, under `key`.
async fn attempt(
    keys: &Idempotency,
    admission: &Admission,
    key: &str,
    status: StatusCode,
) -> StatusCode {
    let user = Uuid::nil();
    let counter = CounterKey::of(&[user.as_bytes()]);
    let response = keys
        .run_admitted(
            user,
            IdempotencyKey::parse(key).unwrap(),
            &RequestHash::of("POST", "/pay", b"{}"),
            admission.for_key(counter),
            || async { Ok(Stale::InProgress) },
            move || async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                match status {
                    StatusCode::SERVICE_UNAVAILABLE => {
                        Settle::Forget(ApiError::unavailable(anyhow::anyhow!("nothing happened")))
                    }
                    StatusCode::IM_A_TEAPOT => panic!("the work panics"),
                    StatusCode::GATEWAY_TIMEOUT => Settle::Keep(ApiError::unavailable(
                        anyhow::anyhow!("left for a reconciler"),
                    )),
                    _ => Settle::Store(StoredResponse::ok(status, &serde_json::json!({}))),
                }
            },
        )
        .await;
    match response {
        Ok(response) => response.status(),
        Err(err) => err.status(),
    }
}

async fn hits(pool: &PgPool, scope: &str) -> i32 {
    sqlx::query_scalar("select coalesce(max(hits), 0) from rate_limit_counters where scope = $1")
        .bind(scope)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Thirty concurrent requests (thirty keys) whose work declines.
async fn thirty_declines(keys: &Idempotency, admission: &Admission) -> Vec<StatusCode> {
    let keys_used: Vec<String> = (0..30).map(|i| format!("k-{i}")).collect();
    join_all(
        keys_used
            .iter()
            .map(|key| attempt(keys, admission, key, StatusCode::PAYMENT_REQUIRED)),
    )
    .await
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn an_admission_holds_both_limits_under_concurrency() {
    let (_db, pool) = pool().await;
    let (admission, keys) = admitted(&pool, 8, 5);
    let statuses = thirty_declines(&keys, &admission).await;
    let declined = count(&statuses, StatusCode::PAYMENT_REQUIRED);
    let limited = count(&statuses, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!((declined, limited), (5, 25), "{statuses:?}");
    // Refused by the declines, three attempts still counted (eight at
    // most); refused by the attempts, nothing counted in the declines. Only
    // the admitted requests claimed their keys.
    assert_eq!(hits(&pool, "attempts").await, 8);
    assert_eq!(hits(&pool, "declines").await, 5);
    let claimed: i64 = sqlx::query_scalar("select count(*) from idempotency_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(claimed, 5);

    // Refused by the attempts, nothing is held: with fewer attempts than
    // declines allowed, the declines stop at the attempts.
    let (_db, pool) = self::pool().await;
    let (admission, keys) = admitted(&pool, 4, 5);
    let statuses = thirty_declines(&keys, &admission).await;
    let declined = count(&statuses, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(declined, 4, "{statuses:?}");
    assert_eq!(hits(&pool, "attempts").await, 4);
    assert_eq!(hits(&pool, "declines").await, 4);
}

#[tokio::test]
async fn claims_and_answers_racing_on_one_counter_keep_exact_counts() {
    let (_db, pool) = pool().await;
    let (admission, keys) = admitted(&pool, 1000, 40);
    // Half the requests decline (their hit kept), half succeed (given
    // back by the statement that stores their answer) while the others
    // still claim: no deadlock, exact counts.
    let keys_used: Vec<(String, StatusCode)> = (0..40)
        .map(|i| {
            let status = if i % 2 == 0 {
                StatusCode::PAYMENT_REQUIRED
            } else {
                StatusCode::CREATED
            };
            (format!("r-{i}"), status)
        })
        .collect();
    let statuses = join_all(
        keys_used
            .iter()
            .map(|(key, status)| attempt(&keys, &admission, key, *status)),
    )
    .await;
    let expected: Vec<StatusCode> = keys_used.iter().map(|(_, status)| *status).collect();
    assert_eq!(statuses, expected);
    assert_eq!(hits(&pool, "attempts").await, 40);
    assert_eq!(hits(&pool, "declines").await, 20);
}

#[tokio::test]
async fn a_held_outcome_is_given_back_unless_the_request_ends_that_way() {
    let (_db, pool) = pool().await;
    let (admission, keys) = admitted(&pool, 100, 1);
    let created = attempt(&keys, &admission, "a", StatusCode::CREATED).await;
    assert_eq!(created, StatusCode::CREATED);
    assert_eq!(
        hits(&pool, "declines").await,
        0,
        "stored with another answer"
    );
    let replay = attempt(&keys, &admission, "a", StatusCode::CREATED).await;
    assert_eq!(replay, StatusCode::CREATED);
    assert_eq!(hits(&pool, "declines").await, 0, "a replay");
    for (key, status) in [
        ("forgotten", StatusCode::SERVICE_UNAVAILABLE),
        ("kept", StatusCode::GATEWAY_TIMEOUT),
    ] {
        let answer = attempt(&keys, &admission, key, status).await;
        assert_eq!(answer, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(hits(&pool, "declines").await, 0, "{key}");
    }
    let panicked = attempt(&keys, &admission, "panics", StatusCode::IM_A_TEAPOT).await;
    assert_eq!(panicked, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(hits(&pool, "declines").await, 0, "a panic");
    let declined = attempt(&keys, &admission, "d", StatusCode::PAYMENT_REQUIRED).await;
    assert_eq!(declined, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(hits(&pool, "declines").await, 1, "a decline keeps its hit");
    // Its replay is not another decline, and is refused while the
    // declines are used up, like any other attempt.
    let refused = attempt(&keys, &admission, "d", StatusCode::PAYMENT_REQUIRED).await;
    assert_eq!(refused, StatusCode::TOO_MANY_REQUESTS);
    let fresh = attempt(&keys, &admission, "e", StatusCode::CREATED).await;
    assert_eq!(fresh, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(hits(&pool, "declines").await, 1);
    assert_eq!(hits(&pool, "attempts").await, 8);
}
