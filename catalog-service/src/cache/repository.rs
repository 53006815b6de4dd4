//! The listener's own SQL.

use sqlx::postgres::PgListener;

/// A round trip on the listening connection: proves it alive.
#[tracing::instrument(skip_all)]
pub async fn ping(listener: &mut PgListener) -> sqlx::Result<()> {
    sqlx::query_scalar!("select 1")
        .fetch_one(listener)
        .await
        .map(|_| ())
}
