//! SQL of the development signing key.

use sqlx::PgPool;

#[tracing::instrument(skip_all)]
pub(super) async fn dev_key(pool: &PgPool) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar!(
        "select private_key_pkcs8 from dev_signing_keys where dev_signing_key_id = 1",
    )
    .fetch_optional(pool)
    .await
}

#[tracing::instrument(skip_all)]
pub(super) async fn insert_dev_key(pool: &PgPool, pkcs8: &[u8]) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into dev_signing_keys (dev_signing_key_id, private_key_pkcs8) values (1, $1)
         on conflict (dev_signing_key_id) do nothing",
        pkcs8,
    )
    .execute(pool)
    .await
    .map(|_| ())
}
