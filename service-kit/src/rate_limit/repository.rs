//! Rate-limit counter SQL. The table lives in the service's own schema (its
//! migration creates it; see the module documentation for the columns).

use sqlx::PgPool;

/// Counts a hit unless the key's live window already holds `limit`; a window
/// that has ended starts again at 1. `None`: refused (nothing changed). The
/// upsert locks the key's row, so concurrent hits see each other's counts.
#[tracing::instrument(skip_all, fields(scope = scope))]
pub(super) async fn hit(
    pool: &PgPool,
    scope: &str,
    key: &[u8],
    window_secs: f64,
    limit: i32,
) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!(
        "insert into rate_limit_counters as c (scope, key_digest, hits, window_ends_at)
         values ($1, $2, 1, now() + make_interval(secs => $3))
         on conflict (scope, key_digest) do update
         set hits = case when c.window_ends_at <= now() then 1 else c.hits + 1 end,
             window_ends_at = case when c.window_ends_at <= now()
                                   then excluded.window_ends_at else c.window_ends_at end,
             updated_at = now()
         where c.window_ends_at <= now() or c.hits < $4
         returning hits",
        scope,
        key,
        window_secs,
        limit,
    )
    .fetch_optional(pool)
    .await
}

/// Seconds until the key's window ends (`None` if it has no counter).
#[tracing::instrument(skip_all, fields(scope = scope))]
pub(super) async fn seconds_left(
    pool: &PgPool,
    scope: &str,
    key: &[u8],
) -> sqlx::Result<Option<f64>> {
    sqlx::query_scalar!(
        r#"select extract(epoch from window_ends_at - now())::float8 as "seconds!"
         from rate_limit_counters where scope = $1 and key_digest = $2"#,
        scope,
        key,
    )
    .fetch_optional(pool)
    .await
}

#[tracing::instrument(skip_all, fields(scope = scope))]
pub(super) async fn forgive(pool: &PgPool, scope: &str, key: &[u8]) -> sqlx::Result<()> {
    sqlx::query!(
        "update rate_limit_counters set hits = hits - 1, updated_at = now()
         where scope = $1 and key_digest = $2 and hits > 0 and window_ends_at > now()",
        scope,
        key,
    )
    .execute(pool)
    .await
    .map(|_| ())
}

#[tracing::instrument(skip_all, fields(scope = scope))]
pub(super) async fn clear(pool: &PgPool, scope: &str, key: &[u8]) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from rate_limit_counters where scope = $1 and key_digest = $2",
        scope,
        key,
    )
    .execute(pool)
    .await
    .map(|_| ())
}

#[tracing::instrument(skip_all)]
pub(super) async fn purge_ended(pool: &PgPool) -> sqlx::Result<u64> {
    sqlx::query!("delete from rate_limit_counters where window_ends_at <= now()")
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
}
