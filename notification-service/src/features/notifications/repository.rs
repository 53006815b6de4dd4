//! Notification and delivery SQL.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::delivery::channels::Channel;
use crate::features::preferences::models::Preferences;

use super::models::{
    AdminDelivery, DeliveryStatus, DeliverySummary, HistoryItem, NewDelivery, NewNotification,
};

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

/// What an intake starts from, in one round trip: the notification
/// already recorded for `event_id`, if any, and the channels `user_id`
/// allows with its push devices (the preferences feature's tables; none
/// without a user).
#[tracing::instrument(skip_all)]
pub async fn intake_context(
    pool: &PgPool,
    event_id: Uuid,
    user_id: Option<Uuid>,
) -> sqlx::Result<IntakeContext> {
    let row = sqlx::query!(
        r#"select (select notification_id from notifications where event_id = $1) as recorded,
                p.email as "email?", p.sms as "sms?", p.push as "push?",
                p.marketing as "marketing?",
                coalesce((select array_agg(token order by created_at, subscription_id)
                            from push_subscriptions where user_id = $2), '{}') as "push_tokens!"
         from (select 1) one
         left join preferences p on p.user_id = $2"#,
        event_id,
        user_id,
    )
    .fetch_one(pool)
    .await?;
    let preferences = match (row.email, row.sms, row.push, row.marketing) {
        (Some(email), Some(sms), Some(push), Some(marketing)) => Some(Preferences {
            email,
            sms,
            push,
            marketing,
        }),
        _ => None,
    };
    Ok(IntakeContext {
        recorded: row.recorded,
        preferences,
        push_tokens: row.push_tokens,
    })
}

/// What [`intake_context`] read.
#[derive(Debug, Clone, Default)]
pub struct IntakeContext {
    /// The notification already recorded for the event.
    pub recorded: Option<Uuid>,
    /// The user's stored preferences (`None`: the defaults apply).
    pub preferences: Option<Preferences>,
    /// The user's push devices, oldest first.
    pub push_tokens: Vec<String>,
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

/// What [`insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inserted {
    /// False when `user_id` is an erased account: nothing was written.
    pub allowed: bool,
    /// False when the event was recorded before (a concurrent first
    /// request with the same event id is waited for): nothing was written.
    pub created: bool,
}

/// Records a notification and queues its deliveries, in one statement,
/// unless its user's account was erased (`erased_users`, the erasure
/// feature's table: the caller holds the account's erasure lock, so an
/// erasure either committed before this statement began or waits for its
/// transaction) or its event was recorded already.
#[tracing::instrument(skip_all)]
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    request: &NewNotification,
    template: &str,
    producer: &str,
    deliveries: &[NewDelivery],
) -> sqlx::Result<Inserted> {
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
    let channels: Vec<&str> = deliveries.iter().map(|d| d.channel.as_str()).collect();
    let targets: Vec<&str> = deliveries.iter().map(|d| d.target.as_str()).collect();
    let subjects: Vec<&str> = deliveries.iter().map(|d| d.subject.as_str()).collect();
    let texts: Vec<&str> = deliveries.iter().map(|d| d.body_text.as_str()).collect();
    let htmls: Vec<Option<&str>> = deliveries.iter().map(|d| d.body_html.as_deref()).collect();
    let row = sqlx::query!(
        r#"with allowed as (
             select 1
             where $3::uuid is null
                or not exists (select 1 from erased_users where user_id = $3::uuid)
           ), notification as (
             insert into notifications (notification_id, event_id, user_id, template, producer, data)
             select $1::uuid, $2::uuid, $3::uuid, $4::text, $5::text, $6::jsonb from allowed
             on conflict (event_id) do nothing
             returning notification_id
           ), queued as (
             insert into deliveries
                 (delivery_id, notification_id, user_id, template, channel, target, subject, body_text, body_html)
             select l.id, n.notification_id, $3::uuid, $4::text, l.channel, l.target, l.subject,
                    l.body_text, l.body_html
             from notification n,
                  unnest($7::uuid[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                      as l(id, channel, target, subject, body_text, body_html)
           )
           select exists (select 1 from allowed) as "allowed!",
                  exists (select 1 from notification) as "created!""#,
        id,
        request.event_id,
        request.user_id,
        template,
        producer,
        &request.data,
        &ids,
        &channels as &[&str],
        &targets as &[&str],
        &subjects as &[&str],
        &texts as &[&str],
        &htmls as &[Option<&str>],
    )
    .fetch_one(conn)
    .await?;
    Ok(Inserted {
        allowed: row.allowed,
        created: row.created,
    })
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
/// it as requeued; `None` when it is not failed (or does not exist), is
/// of the `never_again` template (security mail, scrubbed when it failed)
/// or was scrubbed by an erasure (its target is `erased-<id>`).
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
               and target <> 'erased-' || delivery_id
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
