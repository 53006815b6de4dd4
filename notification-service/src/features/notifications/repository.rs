//! Notification and delivery SQL.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::delivery::channels::Channel;

use super::models::{AdminDelivery, DeliveryStatus, DeliverySummary, HistoryItem, NewDelivery};

/// The notification recorded for `event_id`, if any.
#[tracing::instrument(skip_all)]
pub async fn find_by_event(conn: &mut PgConnection, event_id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "select notification_id from notifications where event_id = $1",
        event_id,
    )
    .fetch_optional(conn)
    .await
}

/// The deliveries of a notification, in creation order.
#[tracing::instrument(skip_all)]
pub async fn deliveries_of(
    conn: &mut PgConnection,
    notification_id: Uuid,
) -> sqlx::Result<Vec<DeliverySummary>> {
    sqlx::query_as!(
        DeliverySummary,
        r#"select delivery_id as id, channel as "channel: Channel", status as "status: DeliveryStatus" from deliveries where notification_id = $1 order by delivery_id"#,
        notification_id,
    )
    .fetch_all(conn)
    .await
}

/// Records a notification; false when its event was already recorded (a
/// concurrent first request with the same event id is waited for).
#[tracing::instrument(skip_all)]
pub async fn insert_notification(
    conn: &mut PgConnection,
    id: Uuid,
    event_id: Uuid,
    user_id: Option<Uuid>,
    template: &str,
    producer: &str,
    data: &serde_json::Value,
) -> sqlx::Result<bool> {
    sqlx::query!(
        "insert into notifications (notification_id, event_id, user_id, template, producer, data)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (event_id) do nothing",
        id,
        event_id,
        user_id,
        template,
        producer,
        data,
    )
    .execute(conn)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Queues the deliveries of a notification.
#[tracing::instrument(skip_all)]
pub async fn insert_deliveries(
    conn: &mut PgConnection,
    notification_id: Uuid,
    user_id: Option<Uuid>,
    template: &str,
    deliveries: &[NewDelivery],
) -> sqlx::Result<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
    let channels: Vec<&str> = deliveries.iter().map(|d| d.channel.as_str()).collect();
    let targets: Vec<&str> = deliveries.iter().map(|d| d.target.as_str()).collect();
    let subjects: Vec<&str> = deliveries.iter().map(|d| d.subject.as_str()).collect();
    let texts: Vec<&str> = deliveries.iter().map(|d| d.body_text.as_str()).collect();
    let htmls: Vec<Option<&str>> = deliveries.iter().map(|d| d.body_html.as_deref()).collect();
    sqlx::query!(
        "insert into deliveries
             (delivery_id, notification_id, user_id, template, channel, target, subject, body_text, body_html)
         select l.id, $2, $3, $4, l.channel, l.target, l.subject, l.body_text, l.body_html
         from unnest($1::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
              as l(id, channel, target, subject, body_text, body_html)",
        &ids,
        notification_id,
        user_id,
        template,
        &channels as &[&str],
        &targets as &[&str],
        &subjects as &[&str],
        &texts as &[&str],
        &htmls as &[Option<&str>],
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// A user's deliveries, newest first, after the `before` cursor.
#[tracing::instrument(skip_all)]
pub async fn history(
    pool: &PgPool,
    user_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<HistoryItem>> {
    sqlx::query_as!(
        HistoryItem,
        r#"select delivery_id as id, notification_id, template, channel as "channel: Channel",
                status as "status: DeliveryStatus", subject, created_at, sent_at
         from deliveries
         where user_id = $1 and ($2::uuid is null or delivery_id < $2)
         order by delivery_id desc
         limit $3"#,
        user_id,
        before,
        limit,
    )
    .fetch_all(pool)
    .await
}

/// Deliveries with `status` (any when `None`), newest first, after `before`.
#[tracing::instrument(skip_all)]
pub async fn admin_list(
    pool: &PgPool,
    status: Option<DeliveryStatus>,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<AdminDelivery>> {
    sqlx::query_as!(
        AdminDelivery,
        r#"select d.delivery_id as id, d.notification_id, n.event_id, d.user_id, d.template,
                d.channel as "channel: Channel", d.status as "status: DeliveryStatus", d.subject,
                d.attempts, d.last_error, d.next_attempt_at, d.created_at, d.updated_at,
                d.sent_at, d.failed_at
         from deliveries d join notifications n using (notification_id)
         where ($1::text is null or d.status = $1) and ($2::uuid is null or d.delivery_id < $2)
         order by d.delivery_id desc
         limit $3"#,
        status.map(DeliveryStatus::as_str),
        before,
        limit,
    )
    .fetch_all(pool)
    .await
}

/// One delivery, as administrators see it.
#[tracing::instrument(skip_all)]
pub async fn admin_get(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<AdminDelivery>> {
    sqlx::query_as!(
        AdminDelivery,
        r#"select d.delivery_id as id, d.notification_id, n.event_id, d.user_id, d.template,
                d.channel as "channel: Channel", d.status as "status: DeliveryStatus", d.subject,
                d.attempts, d.last_error, d.next_attempt_at, d.created_at, d.updated_at,
                d.sent_at, d.failed_at
         from deliveries d join notifications n using (notification_id)
         where d.delivery_id = $1"#,
        id,
    )
    .fetch_optional(pool)
    .await
}

/// Queues a failed delivery again with a fresh attempt budget and returns
/// it as requeued; `None` when it is not failed (or does not exist), or is
/// of the `never_again` template (security mail, scrubbed when it failed).
#[tracing::instrument(skip_all)]
pub async fn requeue_failed(
    pool: &PgPool,
    id: Uuid,
    never_again: &str,
) -> sqlx::Result<Option<AdminDelivery>> {
    sqlx::query_as!(
        AdminDelivery,
        r#"with d as (
             update deliveries
             set status = 'pending', attempts = 0, next_attempt_at = now(), claimed_until = null,
                 failed_at = null, updated_at = now()
             where delivery_id = $1 and status = 'failed' and template <> $2
             returning *
         )
         select d.delivery_id as id, d.notification_id, n.event_id, d.user_id, d.template,
                d.channel as "channel: Channel", d.status as "status: DeliveryStatus", d.subject,
                d.attempts, d.last_error, d.next_attempt_at, d.created_at, d.updated_at,
                d.sent_at, d.failed_at
         from d join notifications n using (notification_id)"#,
        id,
        never_again,
    )
    .fetch_optional(pool)
    .await
}
