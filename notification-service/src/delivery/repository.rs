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
    sqlx::query_as!(
        ClaimedDelivery,
        r#"with due as (
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
                   d.attempts, d.claimed_until as "claimed_until!""#,
        limit,
        lease.as_secs_f64(),
    )
    .fetch_all(pool)
    .await
}

/// Marks a claimed delivery sent; false when it is no longer pending. A
/// delivery of `scrub_template` (security mail) loses its bodies, and its
/// notification the `token` of its data: a used reset token does not linger
/// in this database.
#[tracing::instrument(skip_all)]
pub async fn mark_sent(pool: &PgPool, id: Uuid, scrub_template: &str) -> sqlx::Result<bool> {
    finish(pool, id, "sent", None, None, scrub_template).await
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
    sqlx::query!(
        "update deliveries
         set next_attempt_at = now() + make_interval(secs => $3), claimed_until = null,
             last_error = $4, updated_at = now()
         where delivery_id = $1 and status = 'pending' and claimed_until = $2",
        id,
        claimed_until,
        delay.as_secs_f64(),
        error,
    )
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Gives up on a delivery still under this claim. A delivery of
/// `scrub_template` is scrubbed as when sent: it is never sent again, and
/// its link must not linger here.
#[tracing::instrument(skip_all)]
pub async fn mark_failed(
    pool: &PgPool,
    id: Uuid,
    claimed_until: DateTime<Utc>,
    error: &str,
    scrub_template: &str,
) -> sqlx::Result<bool> {
    let claim = Some(claimed_until);
    finish(pool, id, "failed", claim, Some(error), scrub_template).await
}

/// Moves a pending delivery (still under `claim`, when given) to its final
/// `status`, scrubbing it when it is of `scrub_template`; false when it was
/// no longer pending.
async fn finish(
    pool: &PgPool,
    id: Uuid,
    status: &str,
    claim: Option<DateTime<Utc>>,
    error: Option<&str>,
    scrub_template: &str,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"with finished as (
             update deliveries
             set status = $2,
                 sent_at = case when $2 = 'sent' then now() end,
                 failed_at = case when $2 = 'failed' then now() end,
                 claimed_until = null, last_error = $4, updated_at = now(),
                 body_text = case when template = $5 then '' else body_text end,
                 body_html = case when template = $5 then '' else body_html end
             where delivery_id = $1 and status = 'pending'
               and ($3::timestamptz is null or claimed_until = $3)
             returning notification_id, template
         ), scrubbed as (
             update notifications n set data = n.data - 'token'
             from finished
             where n.notification_id = finished.notification_id and finished.template = $5
         )
         select count(*) as "count!" from finished"#,
        id,
        status,
        claim,
        error,
        scrub_template,
    )
    .fetch_one(pool)
    .await
    .map(|finished| finished == 1)
}

/// Pending deliveries and the age in seconds of the oldest (0 when none).
#[tracing::instrument(skip_all)]
pub async fn queue_stats(pool: &PgPool) -> sqlx::Result<(i64, f64)> {
    sqlx::query!(
        r#"select count(*)::int8 as "pending!",
                coalesce(extract(epoch from now() - min(created_at)), 0)::float8 as "oldest_age!"
         from deliveries where status = 'pending'"#,
    )
    .fetch_one(pool)
    .await
    .map(|stats| (stats.pending, stats.oldest_age))
}

/// Deletes the deliveries that finished (sent or failed) before `before`,
/// then the notifications created before it that have no delivery left;
/// returns how many of each.
#[tracing::instrument(skip_all)]
pub async fn purge_finished(pool: &PgPool, before: DateTime<Utc>) -> sqlx::Result<(u64, u64)> {
    let mut tx = pool.begin().await?;
    let deliveries = sqlx::query!(
        "delete from deliveries
         where status <> 'pending' and coalesce(sent_at, failed_at) < $1",
        before,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let notifications = sqlx::query!(
        "delete from notifications n
         where n.created_at < $1
           and not exists (select 1 from deliveries d where d.notification_id = n.notification_id)",
        before,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok((deliveries, notifications))
}
