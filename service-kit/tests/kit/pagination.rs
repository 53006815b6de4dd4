//! Cursor fields refuse exactly what Postgres cannot take, checked against
//! a real server.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use service_kit::pagination::{CursorText, CursorTime};
use service_kit::testing::TestDatabase;

#[tokio::test]
async fn cursor_times_and_texts_refuse_exactly_what_postgres_refuses() {
    let db = TestDatabase::create("kit").await;
    let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
    let echo = |instant: DateTime<Utc>| {
        sqlx::query_scalar::<_, DateTime<Utc>>("select $1::timestamptz")
            .bind(instant)
            .fetch_one(&pool)
    };
    let min = CursorTime::min();
    assert_eq!(
        sqlx::query_scalar::<_, DateTime<Utc>>("select $1::timestamptz")
            .bind(CursorTime::new(min).unwrap())
            .fetch_one(&pool)
            .await
            .unwrap(),
        min
    );
    let below = min - Duration::microseconds(1);
    assert!(CursorTime::new(below).is_none());
    assert!(
        echo(below).await.is_err(),
        "Postgres refuses the instant CursorTime refuses"
    );
    // No gap above: the latest instant chrono holds is one Postgres stores.
    let max = DateTime::<Utc>::MAX_UTC.trunc_subsecs(6);
    assert_eq!(echo(max).await.unwrap(), max);
    assert!(CursorTime::new(DateTime::<Utc>::MAX_UTC).is_some());

    assert!(CursorText::new("a\0b".into()).is_none());
    assert!(
        sqlx::query_scalar::<_, String>("select $1::text")
            .bind("a\0b")
            .fetch_one(&pool)
            .await
            .is_err(),
        "Postgres refuses the text CursorText refuses"
    );
    let name = CursorText::new("Désk lamp".into()).unwrap();
    let back: String = sqlx::query_scalar("select $1::text")
        .bind(&name)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(back, "Désk lamp");
}
