//! Idempotency-key SQL. The table lives in the service's own schema (its
//! migration creates it; see the module documentation for its columns).

use sqlx::PgPool;
use uuid::Uuid;

/// A stored key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct KeyRow {
    /// Fingerprint of the first request.
    pub request_hash: String,
    /// Whether an answer is stored.
    pub completed: bool,
    /// The stored response status.
    pub response_status: Option<i16>,
    /// The stored response body.
    pub response_body: Option<serde_json::Value>,
    /// Whether a running key has not moved for longer than the lease.
    pub stale: bool,
}

/// Which running keys a write may settle.
#[derive(Debug, Clone, Copy)]
pub(super) enum Holder {
    /// The request holding this claim (its own key).
    Claim(Uuid),
    /// Any request whose key stopped moving longer than this many seconds
    /// ago: it died (a reconciler, or a retry settling from records).
    StaleFor(f64),
}

impl Holder {
    /// The claim to match and the staleness to require; the one not asked
    /// for is null, which matches nothing.
    fn binds(self) -> (Option<Uuid>, Option<f64>) {
        match self {
            Self::Claim(id) => (Some(id), None),
            Self::StaleFor(secs) => (None, Some(secs)),
        }
    }
}

/// Claims the key for `claim_id` (a fresh row, or one older than `ttl_secs`
/// taken over); true when this request now owns it.
#[tracing::instrument(skip_all)]
pub(super) async fn claim(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
    claim_id: Uuid,
    request_hash: &str,
    ttl_secs: f64,
) -> sqlx::Result<bool> {
    let claimed: Option<Uuid> = sqlx::query_scalar!(
        "insert into idempotency_keys (user_id, idempotency_key, claim_id, request_hash)
         values ($1, $2, $3, $4)
         on conflict (user_id, idempotency_key) do update
            set request_hash = excluded.request_hash, claim_id = excluded.claim_id,
                status = 'running', response_status = null, response_body = null,
                created_at = now(), updated_at = now()
            where idempotency_keys.created_at < now() - make_interval(secs => $5)
         returning user_id",
        user_id,
        key,
        claim_id,
        request_hash,
        ttl_secs,
    )
    .fetch_optional(pool)
    .await?;
    Ok(claimed.is_some())
}

/// The stored key, if any.
#[tracing::instrument(skip_all)]
pub(super) async fn find(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
    lease_secs: f64,
) -> sqlx::Result<Option<KeyRow>> {
    sqlx::query_as!(
        KeyRow,
        r#"select request_hash, status = 'completed' as "completed!", response_status, response_body,
                status = 'running' and updated_at < now() - make_interval(secs => $3) as "stale!"
         from idempotency_keys where user_id = $1 and idempotency_key = $2"#,
        user_id,
        key,
        lease_secs,
    )
    .fetch_optional(pool)
    .await
}

/// Takes over a running key whose request died (stale for the lease) for
/// `claim_id`; true when this request now owns it.
#[tracing::instrument(skip_all)]
pub(super) async fn take_over(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
    claim_id: Uuid,
    lease_secs: f64,
) -> sqlx::Result<bool> {
    sqlx::query!(
        "update idempotency_keys set claim_id = $3, updated_at = now()
          where user_id = $1 and idempotency_key = $2 and status = 'running'
            and updated_at < now() - make_interval(secs => $4)",
        user_id,
        key,
        claim_id,
        lease_secs,
    )
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Stores the response of a finished request, if `holder` still holds
/// the key.
#[tracing::instrument(skip_all)]
pub(super) async fn complete(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
    holder: Holder,
    status: i16,
    body: &serde_json::Value,
) -> sqlx::Result<()> {
    let (claim_id, stale_secs) = holder.binds();
    sqlx::query!(
        "update idempotency_keys
            set status = 'completed', response_status = $3, response_body = $4, updated_at = now()
          where user_id = $1 and idempotency_key = $2 and status = 'running'
            and (claim_id = $5 or updated_at < now() - make_interval(secs => $6))",
        user_id,
        key,
        status,
        body,
        claim_id,
        stale_secs,
    )
    .execute(pool)
    .await
    .map(|_| ())
}

/// Forgets a key whose request did nothing (so a retry runs again), if
/// `holder` still holds it.
#[tracing::instrument(skip_all)]
pub(super) async fn release(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
    holder: Holder,
) -> sqlx::Result<()> {
    let (claim_id, stale_secs) = holder.binds();
    sqlx::query!(
        "delete from idempotency_keys
          where user_id = $1 and idempotency_key = $2 and status = 'running'
            and (claim_id = $3 or updated_at < now() - make_interval(secs => $4))",
        user_id,
        key,
        claim_id,
        stale_secs,
    )
    .execute(pool)
    .await
    .map(|_| ())
}

/// Deletes keys older than `ttl_secs`; returns how many.
#[tracing::instrument(skip_all)]
pub(super) async fn delete_expired(pool: &PgPool, ttl_secs: f64) -> sqlx::Result<u64> {
    sqlx::query!(
        "delete from idempotency_keys where created_at < now() - make_interval(secs => $1)",
        ttl_secs,
    )
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
}
