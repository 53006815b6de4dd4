//! The Postgres window counter against a real database: exact under
//! concurrency, shared by replicas (pools), forgiving, and swept by time.

use futures::future::join_all;
use service_kit::rate_limit::{CounterKey, LimitError, WindowLimit, purge_ended_windows};
use service_kit::testing::TestDatabase;
use sqlx::PgPool;
use std::time::Duration;

use crate::helpers::MIGRATOR;

async fn pool() -> (TestDatabase, PgPool) {
    let db = TestDatabase::create("kit").await;
    let settings = db.settings();
    let pool = service_kit::db::connect(&settings, "kit-test").unwrap();
    service_kit::db::migrate(&pool, &settings, &MIGRATOR)
        .await
        .unwrap();
    (db, pool)
}

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

#[tokio::test]
async fn two_limits_hit_in_one_statement_hold_under_concurrency() {
    let (_db, pool) = pool().await;
    let attempts = WindowLimit::new(pool.clone(), "attempts", 8, Duration::from_secs(60));
    let declines = WindowLimit::new(pool, "declines", 5, Duration::from_secs(60));
    let key = CounterKey::of(&[b"user"]);
    let results = join_all((0..30).map(|_| attempts.hit_with(&declines, &key))).await;
    let passed = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(passed, 5, "the second limit holds: {results:?}");
    // Refused by the second limit, the attempts were still counted (eight
    // at most): the ninth attempt is refused by the first, and counts
    // nothing in the second (forgiving one decline frees exactly one).
    assert!(attempts.hit(&key).await.is_err());
    declines.forgive(&key).await.unwrap();
    assert!(attempts.hit_with(&declines, &key).await.is_err());
    assert_eq!(declines.hit(&key).await.unwrap(), 5);
}
