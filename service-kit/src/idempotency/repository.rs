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

/// What [`claim_admitted`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AdmittedClaim {
    /// The attempts limit refused: nothing counted, nothing claimed.
    OverAttempts,
    /// The outcomes limit refused: the attempt counted, nothing claimed.
    OverOutcomes,
    /// Both counted and the key claimed for this request.
    Claimed,
    /// Both counted; another request holds the key (or held it).
    Held,
}

/// The limits an admitted claim counts in: `(scope, window in seconds,
/// limit)` of the attempts and of the outcomes.
pub(super) struct Limits<'a> {
    pub key_digest: &'a [u8],
    pub attempts: (&'a str, f64, i32),
    pub outcomes: (&'a str, f64, i32),
}

/// [`claim`], counted first by two rate limits of the same key (the
/// service's `rate_limit_counters`, in the same schema): the attempt, then,
/// only if admitted, a held outcome, then, only if both admitted, the
/// claim. One statement, so one round trip; its rows are locked in that
/// order (attempt, outcome, key), as [`complete`] and [`release`] lock the
/// outcome before the key: concurrent requests cannot deadlock.
#[tracing::instrument(skip_all)]
pub(super) async fn claim_admitted(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
    claim_id: Uuid,
    request_hash: &str,
    ttl_secs: f64,
    limits: &Limits<'_>,
) -> sqlx::Result<AdmittedClaim> {
    let row = sqlx::query!(
        r#"with attempt as (
             insert into rate_limit_counters as c (scope, key_digest, hits, window_ends_at)
             values ($6, $8, 1, now() + make_interval(secs => $9))
             on conflict (scope, key_digest) do update
             set hits = case when c.window_ends_at <= now() then 1 else c.hits + 1 end,
                 window_ends_at = case when c.window_ends_at <= now()
                                       then excluded.window_ends_at else c.window_ends_at end,
                 updated_at = now()
             where c.window_ends_at <= now() or c.hits < $10
             returning hits
         ), outcome as (
             insert into rate_limit_counters as c (scope, key_digest, hits, window_ends_at)
             select $7, $8, 1, now() + make_interval(secs => $11)
              where exists (select from attempt)
             on conflict (scope, key_digest) do update
             set hits = case when c.window_ends_at <= now() then 1 else c.hits + 1 end,
                 window_ends_at = case when c.window_ends_at <= now()
                                       then excluded.window_ends_at else c.window_ends_at end,
                 updated_at = now()
             where c.window_ends_at <= now() or c.hits < $12
             returning hits
         ), claimed as (
             insert into idempotency_keys (user_id, idempotency_key, claim_id, request_hash)
             select $1, $2, $3, $4 where exists (select from outcome)
             on conflict (user_id, idempotency_key) do update
                set request_hash = excluded.request_hash, claim_id = excluded.claim_id,
                    status = 'running', response_status = null, response_body = null,
                    created_at = now(), updated_at = now()
                where idempotency_keys.created_at < now() - make_interval(secs => $5)
             returning user_id
         )
         select exists (select from attempt) as "attempt!",
                exists (select from outcome) as "outcome!",
                exists (select from claimed) as "claimed!""#,
        user_id,
        key,
        claim_id,
        request_hash,
        ttl_secs,
        limits.attempts.0,
        limits.outcomes.0,
        limits.key_digest,
        limits.attempts.1,
        limits.attempts.2,
        limits.outcomes.1,
        limits.outcomes.2,
    )
    .fetch_one(pool)
    .await?;
    Ok(match (row.attempt, row.outcome, row.claimed) {
        (false, _, _) => AdmittedClaim::OverAttempts,
        (true, false, _) => AdmittedClaim::OverOutcomes,
        (true, true, true) => AdmittedClaim::Claimed,
        (true, true, false) => AdmittedClaim::Held,
    })
}

/// A held outcome hit (`scope`, key digest) to give back in the statement
/// that settles a key; `None` gives back nothing.
pub(super) type GiveBack<'a> = Option<(&'a str, &'a [u8])>;

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
/// the key, and gives back `give_back`'s held hit (whether or not the key
/// was still held: the hit was this request's), locking it first.
#[tracing::instrument(skip_all)]
pub(super) async fn complete(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
    holder: Holder,
    response: (i16, &serde_json::Value),
    give_back: GiveBack<'_>,
) -> sqlx::Result<()> {
    let (claim_id, stale_secs) = holder.binds();
    let (scope, digest) = give_back.unzip();
    sqlx::query!(
        "with given_back as (
             update rate_limit_counters set hits = hits - 1, updated_at = now()
              where scope = $7 and key_digest = $8 and hits > 0 and window_ends_at > now()
             returning 1
         )
         update idempotency_keys
            set status = 'completed', response_status = $3, response_body = $4, updated_at = now()
          where user_id = $1 and idempotency_key = $2 and status = 'running'
            and (claim_id = $5 or updated_at < now() - make_interval(secs => $6))
            and (select count(*) from given_back) >= 0",
        user_id,
        key,
        response.0,
        response.1,
        claim_id,
        stale_secs,
        scope,
        digest,
    )
    .execute(pool)
    .await
    .map(|_| ())
}

/// Forgets a key whose request did nothing (so a retry runs again), if
/// `holder` still holds it, and gives back `give_back`'s held hit (as
/// [`complete`] does).
#[tracing::instrument(skip_all)]
pub(super) async fn release(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
    holder: Holder,
    give_back: GiveBack<'_>,
) -> sqlx::Result<()> {
    let (claim_id, stale_secs) = holder.binds();
    let (scope, digest) = give_back.unzip();
    sqlx::query!(
        "with given_back as (
             update rate_limit_counters set hits = hits - 1, updated_at = now()
              where scope = $5 and key_digest = $6 and hits > 0 and window_ends_at > now()
             returning 1
         )
         delete from idempotency_keys
          where user_id = $1 and idempotency_key = $2 and status = 'running'
            and (claim_id = $3 or updated_at < now() - make_interval(secs => $4))
            and (select count(*) from given_back) >= 0",
        user_id,
        key,
        claim_id,
        stale_secs,
        scope,
        digest,
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
