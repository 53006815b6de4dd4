//! The delivery queue's SQL.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// A delivery claimed by a worker.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    /// The delivery.
    pub id: Uuid,
    /// `email`, `sms` or `push`.
    pub channel: String,
    /// Address, phone number or push token.
    pub target: String,
    /// The template's name.
    pub template: String,
    /// Subject or push title.
    pub subject: String,
    /// Text body or short text.
    pub body_text: String,
    /// HTML body (email).
    pub body_html: Option<String>,
    /// Attempts so far, this one included.
    pub attempts: i32,
    /// The claim's lease: it identifies the claim when the outcome is written.
    pub claimed_until: DateTime<Utc>,
}

/// Claims up to `limit` due deliveries for `lease`, in one statement (its
/// own transaction): rows another worker is claiming at the same moment are
/// skipped (`FOR UPDATE SKIP LOCKED`), rows under another worker's lease are
/// not due. Each claim counts as an attempt.
#[tracing::instrument(skip_all)]
pub async fn claim(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
) -> sqlx::Result<Vec<ClaimedDelivery>> {
    sqlx::query_as(
        "with due as (
             select delivery_id from deliveries
             where status = 'pending' and next_attempt_at <= now()
               and (claimed_until is null or claimed_until < now())
             order by next_attempt_at
             limit $1
             for update skip locked
         )
         update deliveries d
         set claimed_until = now() + make_interval(secs => $2),
             attempts = d.attempts + 1,
             updated_at = now()
         from due where d.delivery_id = due.delivery_id
         returning d.delivery_id as id, d.channel, d.target, d.template, d.subject, d.body_text, d.body_html,
                   d.attempts, d.claimed_until",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// Marks a claimed delivery sent; false when it is no longer pending. A
/// delivery of `scrub_template` (security mail) loses its bodies, and its
/// notification the `token` of its data: a used reset token does not linger
/// in this database.
#[tracing::instrument(skip_all)]
pub async fn mark_sent(pool: &PgPool, id: Uuid, scrub_template: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar::<_, i64>(
        "with sent as (
             update deliveries
             set status = 'sent', sent_at = now(), claimed_until = null, last_error = null,
                 updated_at = now(),
                 body_text = case when template = $2 then '' else body_text end,
                 body_html = case when template = $2 then '' else body_html end
             where delivery_id = $1 and status = 'pending'
             returning notification_id, template
         ), scrubbed as (
             update notifications n set data = n.data - 'token'
             from sent
             where n.notification_id = sent.notification_id and sent.template = $2
         )
         select count(*) from sent",
    )
    .bind(id)
    .bind(scrub_template)
    .fetch_one(pool)
    .await
    .map(|sent| sent == 1)
}

/// Schedules another attempt of a delivery still under this claim.
#[tracing::instrument(skip_all)]
pub async fn mark_retry(
    pool: &PgPool,
    id: Uuid,
    claimed_until: DateTime<Utc>,
    delay: Duration,
    error: &str,
) -> sqlx::Result<bool> {
    sqlx::query(
        "update deliveries
         set next_attempt_at = now() + make_interval(secs => $3), claimed_until = null,
             last_error = $4, updated_at = now()
         where delivery_id = $1 and status = 'pending' and claimed_until = $2",
    )
    .bind(id)
    .bind(claimed_until)
    .bind(delay.as_secs_f64())
    .bind(error)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Gives up on a delivery still under this claim.
#[tracing::instrument(skip_all)]
pub async fn mark_failed(
    pool: &PgPool,
    id: Uuid,
    claimed_until: DateTime<Utc>,
    error: &str,
) -> sqlx::Result<bool> {
    sqlx::query(
        "update deliveries
         set status = 'failed', failed_at = now(), claimed_until = null, last_error = $3,
             updated_at = now()
         where delivery_id = $1 and status = 'pending' and claimed_until = $2",
    )
    .bind(id)
    .bind(claimed_until)
    .bind(error)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Pending deliveries and the age in seconds of the oldest (0 when none).
#[tracing::instrument(skip_all)]
pub async fn queue_stats(pool: &PgPool) -> sqlx::Result<(i64, f64)> {
    sqlx::query_as(
        "select count(*)::int8,
                coalesce(extract(epoch from now() - min(created_at)), 0)::float8
         from deliveries where status = 'pending'",
    )
    .fetch_one(pool)
    .await
}
