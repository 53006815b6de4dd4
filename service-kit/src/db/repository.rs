//! The kit's own SQL: schema bootstrap and readiness probes.
//!
//! `create_schema` stays runtime-built: its schema name is an identifier
//! chosen at run time, and identifiers cannot be bound as parameters.

use sqlx::{AssertSqlSafe, PgPool};
use std::collections::HashSet;

pub(super) async fn ping(pool: &PgPool) -> sqlx::Result<()> {
    sqlx::query!("select 1 as one")
        .fetch_one(pool)
        .await
        .map(|_| ())
}

pub(super) async fn schema_exists(pool: &PgPool, schema: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from pg_namespace where nspname = $1) as "exists!""#,
        schema
    )
    .fetch_one(pool)
    .await
}

/// `schema` has been checked to be a plain identifier by the caller.
pub(super) async fn create_schema(pool: &PgPool, schema: &str) -> sqlx::Result<()> {
    sqlx::query(AssertSqlSafe(format!(
        "create schema if not exists \"{schema}\""
    )))
    .execute(pool)
    .await
    .map(|_| ())
}

/// Versions recorded as successfully applied in this schema's migration table.
pub(super) async fn applied_migrations(pool: &PgPool) -> sqlx::Result<HashSet<i64>> {
    let versions: Vec<i64> =
        sqlx::query_scalar!("select version from _sqlx_migrations where success")
            .fetch_all(pool)
            .await?;
    Ok(versions.into_iter().collect())
}
