//! Outbox SQL. The table lives in the service's own schema (its migration
//! creates it; see the module documentation for the required columns).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A pending event claimed by this relay for the length of a transaction.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct Due {
    pub event_id: Uuid,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub request_id: Option<String>,
}

#[tracing::instrument(skip_all)]
pub(super) async fn insert(
    conn: &mut PgConnection,
    event_id: Uuid,
    payload: &serde_json::Value,
    request_id: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("insert into outbox (event_id, payload, request_id) values ($1, $2, $3)")
        .bind(event_id)
        .bind(payload)
        .bind(request_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Locks up to `limit` due events; rows another relay holds are skipped, so
/// replicas share the work without delivering an event twice at once.
#[tracing::instrument(skip_all)]
pub(super) async fn claim_due(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as(
        "select event_id, payload, attempts, request_id
         from outbox
         where delivered_at is null and failed_at is null and next_attempt_at <= now()
         order by next_attempt_at, created_at
         limit $1
         for update skip locked",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

#[tracing::instrument(skip_all)]
pub(super) async fn mark_delivered(conn: &mut PgConnection, event_id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "update outbox
         set delivered_at = now(), attempts = attempts + 1, last_error = null, updated_at = now()
         where event_id = $1",
    )
    .bind(event_id)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Records a failed attempt: retried at `next_attempt_at`, or given up on
/// (`failed_at`) when `give_up`.
#[tracing::instrument(skip_all)]
pub(super) async fn mark_attempt_failed(
    conn: &mut PgConnection,
    event_id: Uuid,
    next_attempt_at: DateTime<Utc>,
    error: &str,
    give_up: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "update outbox
         set attempts = attempts + 1, next_attempt_at = $2, last_error = $3,
             failed_at = case when $4 then now() else null end, updated_at = now()
         where event_id = $1",
    )
    .bind(event_id)
    .bind(next_attempt_at)
    .bind(error)
    .bind(give_up)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Pending events and the creation time of the oldest.
#[tracing::instrument(skip_all)]
pub(super) async fn pending_stats(pool: &PgPool) -> sqlx::Result<(i64, Option<DateTime<Utc>>)> {
    sqlx::query_as(
        "select count(*), min(created_at)
         from outbox
         where delivered_at is null and failed_at is null",
    )
    .fetch_one(pool)
    .await
}

/// Deletes delivered events delivered before `before` (their payloads may
/// hold personal data or one-time secrets that have served their purpose).
#[tracing::instrument(skip_all)]
pub(super) async fn purge_delivered(pool: &PgPool, before: DateTime<Utc>) -> sqlx::Result<u64> {
    sqlx::query("delete from outbox where delivered_at < $1")
        .bind(before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
}
