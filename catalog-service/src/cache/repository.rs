//! The listener's own SQL.

use sqlx::postgres::PgListener;

/// A round trip on the listening connection: proves it alive.
#[tracing::instrument(skip_all)]
pub async fn ping(listener: &mut PgListener) -> sqlx::Result<()> {
    sqlx::query("select 1").execute(listener).await.map(|_| ())
}
