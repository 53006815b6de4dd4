//! The transactional outbox: events that must not be lost are written with
//! [`publish`] (or [`enqueue`] for a notification) in the same transaction
//! as the state change that causes them, and a [`Relay`] in the background
//! delivers them, retrying with exponential backoff and jitter until the
//! receiver answers 2xx. An event the receiver refuses as malformed (400,
//! 413, 422) would be refused again: it is given up at once (`failed_at`,
//! with the answer in `last_error`) and counted as `failed`, instead of
//! being retried for days. Receivers deduplicate by `event_id`, so a
//! redelivery (a crash between delivery and marking) is harmless: delivery
//! is at least once, the effect exactly once.
//!
//! An event may go to several receivers ([`Destination`]: a service and its
//! internal endpoint): [`publish`] writes one row per destination, all with
//! the event's id, and each row is delivered, retried and given up on its
//! own, so one receiver being down delays only its own copy. The relay
//! delivers the destinations it has a client for ([`Relay::deliver_to`]);
//! rows for any other destination wait (and show in the lag gauge).
//!
//! A relay claims up to `batch_size` due rows (20) and delivers up to
//! `delivery_concurrency` of them at once (8): one at a time, a receiver
//! answering in 20 ms would cap it at 50 events/s. Within one pass, the
//! events of one user (`user_id` in the payload) for one receiver go one
//! after another, in the order they were written, and events about
//! different users side by side. Order is not kept beyond that, as it was
//! not with one event at a time: a retried event arrives after later ones,
//! and another replica's relay may claim a user's later event meanwhile.
//!
//! Replicas share the table safely: each relay claims due rows with
//! `FOR UPDATE SKIP LOCKED`. The relay exports `outbox_lag_seconds{service}`
//! (age of the oldest undelivered event, 0 when none) and
//! `outbox_pending_events{service}`, and counts deliveries in
//! `outbox_deliveries_total{service, outcome}`.
//!
//! Rows do not stay: a delivered event is deleted an hour after delivery,
//! a given-up one `failed_retention_days` after it failed (default 7), by a
//! sweep the relay runs every minute. Their payloads may hold personal data
//! and one-time secrets (a reset token). [`purge_notifications_about`]
//! deletes, at once, the notification events about a user whose account is
//! erased.
//!
//! The id of the request that wrote an event (`request_id`) is stored with
//! it and sent as `X-Request-ID` on its delivery, so one id follows a
//! checkout from order-service into notification-service's log lines.
//!
//! # The table
//!
//! Each service creates it in its own schema, in one of its migrations:
//!
//! ```sql
//! create table outbox (
//!     event_id        uuid not null,
//!     destination     text not null,   -- the receiving service
//!     path            text not null,   -- its endpoint, /internal/v1/...
//!     payload         jsonb not null,
//!     attempts        integer not null default 0 check (attempts >= 0),
//!     next_attempt_at timestamptz not null default now(),
//!     last_error      text,
//!     delivered_at    timestamptz,
//!     failed_at       timestamptz,
//!     created_at      timestamptz not null default now(),
//!     updated_at      timestamptz not null default now(),
//!     request_id      text,
//!     primary key (event_id, destination),
//!     check (delivered_at is null or failed_at is null)
//! );
//! create index outbox_due_idx on outbox (next_attempt_at)
//!     where delivered_at is null and failed_at is null;
//! ```

mod repository;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::client::{ClientOptions, ServiceClient, TokenSource};

/// notification-service's intake endpoint.
pub const NOTIFICATIONS_PATH: &str = "/internal/v1/notifications";

/// The endpoint of every service holding personal data that takes the
/// `user_deleted` event ([`UserDeleted`]).
pub const USER_DELETIONS_PATH: &str = "/internal/v1/user-deletions";

/// notification-service's name: the audience of the relay's tokens.
pub const NOTIFICATION_SERVICE: &str = "notification-service";

/// order-service's name.
pub const ORDER_SERVICE: &str = "order-service";

/// user-service's name: the producer of `user_deleted`.
pub const USER_SERVICE: &str = "user-service";

/// Where an outbox event goes: a service of the fleet (the relay's client
/// for it, and the audience of its tokens) and the internal endpoint there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    /// The receiving service's name.
    pub service: &'static str,
    /// Its endpoint (`/internal/v1/...`), which takes the event's JSON.
    pub path: &'static str,
}

impl Destination {
    /// notification-service's intake.
    pub const NOTIFICATIONS: Destination = Destination {
        service: NOTIFICATION_SERVICE,
        path: NOTIFICATIONS_PATH,
    };

    /// `service`'s `user_deleted` endpoint.
    pub const fn user_deletions(service: &'static str) -> Self {
        Self {
            service,
            path: USER_DELETIONS_PATH,
        }
    }
}

/// An event the outbox carries: its JSON is the body its receivers take,
/// and its id is their idempotency key.
pub trait Event: Serialize {
    /// Unique per event.
    fn event_id(&self) -> Uuid;
}

/// Where a notification goes when it is not (only) to a user's own contact
/// details: a password reset goes to the address it was requested for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recipient {
    /// An e-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A phone number (E.164).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// One notification request, exactly the body notification-service takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notification {
    /// Unique per event; the receiver's idempotency key.
    pub event_id: Uuid,
    /// The user it concerns (notification-service looks up their contacts
    /// and preferences).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    /// Explicit recipient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Recipient>,
    /// Template name: `welcome`, `password_reset`, `order_confirmed`, ...
    pub template: String,
    /// Template variables.
    pub data: serde_json::Value,
}

impl Notification {
    /// A notification with a fresh event id.
    pub fn new(template: impl Into<String>, data: serde_json::Value) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            user_id: None,
            to: None,
            template: template.into(),
            data,
        }
    }

    /// Addressed to a user.
    pub fn for_user(mut self, user_id: Uuid) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// Addressed to an e-mail address directly.
    pub fn to_email(mut self, email: impl Into<String>) -> Self {
        self.to = Some(Recipient {
            email: Some(email.into()),
            phone: None,
        });
        self
    }
}

impl Event for Notification {
    fn event_id(&self) -> Uuid {
        self.event_id
    }
}

/// The `user_deleted` event: an account was deleted, and every service
/// holding personal data erases what it holds about that user (user-service
/// publishes it to each of them, at `POST /internal/v1/user-deletions`).
/// Receivers deduplicate by `event_id`, and erasing twice changes nothing.
/// Receivers ignore fields they do not know (a refused event would be given
/// up, and the erasure lost).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserDeleted {
    /// Unique per event; the receivers' idempotency key.
    pub event_id: Uuid,
    /// The deleted account.
    pub user_id: Uuid,
    /// When the account was deleted (UTC).
    pub deleted_at: DateTime<Utc>,
}

impl UserDeleted {
    /// The event for `user_id`, deleted now, with a fresh event id.
    pub fn new(user_id: Uuid) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            user_id,
            deleted_at: Utc::now(),
        }
    }
}

impl Event for UserDeleted {
    fn event_id(&self) -> Uuid {
        self.event_id
    }
}

/// Writes the notification `event` to the outbox inside the caller's
/// transaction, for notification-service: it is delivered if and only if
/// the transaction commits.
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    event: &Notification,
) -> Result<(), sqlx::Error> {
    publish(tx, event, &[Destination::NOTIFICATIONS]).await
}

/// Writes `event` to the outbox inside the caller's transaction, one row per
/// destination: each receiver gets it if and only if the transaction
/// commits, independently of the others.
pub async fn publish<E: Event>(
    tx: &mut Transaction<'_, Postgres>,
    event: &E,
    destinations: &[Destination],
) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_value(event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let request_id = crate::request_id::current();
    for destination in destinations {
        repository::insert(
            tx,
            event.event_id(),
            destination,
            &payload,
            request_id.as_deref(),
        )
        .await?;
    }
    Ok(())
}

/// A notification as its outbox row for notification-service, for a
/// service that writes the row in the same statement as the state change
/// (one round trip instead of a transaction): `insert into outbox
/// (event_id, destination, path, payload, request_id)`. [`enqueue`] is the
/// same insert on its own.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// The event's id.
    pub event_id: Uuid,
    /// The receiving service (`destination`).
    pub destination: &'static str,
    /// Its endpoint (`path`).
    pub path: &'static str,
    /// The whole notification, as delivered.
    pub payload: serde_json::Value,
    /// The current request's id, which the relay sends on.
    pub request_id: Option<String>,
}

impl OutboxRow {
    /// The row of `event`, with the current request id.
    pub fn of(event: &Notification) -> Result<Self, serde_json::Error> {
        Ok(Self {
            event_id: event.event_id,
            destination: Destination::NOTIFICATIONS.service,
            path: Destination::NOTIFICATIONS.path,
            payload: serde_json::to_value(event)?,
            request_id: crate::request_id::current(),
        })
    }
}

/// Deletes every notification event about `user_id` (by its `user_id`, or
/// by `email` as its explicit recipient), whatever its state: pending ones
/// are not delivered, failed and delivered ones do not linger. For an
/// erased account, inside the transaction that erases it; other events
/// (its `user_deleted`) are kept. Returns how many were deleted.
pub async fn purge_notifications_about(
    conn: &mut PgConnection,
    user_id: Uuid,
    email: Option<&str>,
) -> Result<u64, sqlx::Error> {
    repository::purge_notifications_about(conn, NOTIFICATIONS_PATH, user_id, email).await
}

fn default_failed_retention_days() -> u32 {
    7
}

fn default_sweep_interval_secs() -> u64 {
    60
}

fn default_delivery_concurrency() -> usize {
    8
}

/// The `[outbox]` section a service with an outbox is configured with
/// (`APP__OUTBOX__*`); defaults: poll every 1000 ms, first retry after
/// 1000 ms, at most 300 s apart, given up after 25 attempts, given-up
/// events deleted after 7 days, swept every 60 s, up to 8 events of a batch
/// delivered at once.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// Pause between polls.
    pub poll_interval_ms: u64,
    /// First retry delay.
    pub backoff_base_ms: u64,
    /// Longest retry delay.
    pub backoff_max_secs: u64,
    /// Attempts before an event is given up.
    pub max_attempts: i32,
    /// Days a given-up event is kept (for an operator to look at) before it
    /// is deleted; its payload may hold personal data or a reset token.
    #[serde(default = "default_failed_retention_days")]
    pub failed_retention_days: u32,
    /// How often delivered and expired given-up events are deleted.
    #[serde(default = "default_sweep_interval_secs")]
    pub sweep_interval_secs: u64,
    /// Events of one batch in flight at once (at least 1); one user's
    /// events are never in flight together.
    #[serde(default = "default_delivery_concurrency")]
    pub delivery_concurrency: usize,
}

impl From<&OutboxSettings> for RelayOptions {
    fn from(settings: &OutboxSettings) -> Self {
        Self {
            poll_interval: Duration::from_millis(settings.poll_interval_ms),
            backoff_base: Duration::from_millis(settings.backoff_base_ms),
            backoff_max: Duration::from_secs(settings.backoff_max_secs),
            max_attempts: settings.max_attempts,
            retain_failed: Duration::from_secs(u64::from(settings.failed_retention_days) * 86_400),
            sweep_interval: Duration::from_secs(settings.sweep_interval_secs.max(1)),
            concurrency: settings.delivery_concurrency.max(1),
            ..RelayOptions::default()
        }
    }
}

/// Tunables of a [`Relay`].
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Pause between polls when nothing was due.
    pub poll_interval: Duration,
    /// Events claimed per transaction.
    pub batch_size: i64,
    /// Delay after the first failure; doubled per further failure.
    pub backoff_base: Duration,
    /// Longest delay between two attempts.
    pub backoff_max: Duration,
    /// Attempts after which an event is marked failed (and logged as an
    /// error) instead of retried.
    pub max_attempts: i32,
    /// Delivered events are deleted this long after delivery.
    pub retain_delivered: Duration,
    /// Given-up events are deleted this long after they failed.
    pub retain_failed: Duration,
    /// How often the relay deletes what has outlived its retention.
    pub sweep_interval: Duration,
    /// Events of one batch delivered at once. A receiver that answers in
    /// 20 ms caps a relay delivering one at a time at 50 events/s, fewer
    /// than a busy order-service writes.
    pub concurrency: usize,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            batch_size: 20,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            max_attempts: 25,
            retain_delivered: Duration::from_secs(3600),
            retain_failed: Duration::from_secs(7 * 86_400),
            sweep_interval: Duration::from_secs(60),
            concurrency: 8,
        }
    }
}

/// The batch in groups delivered one after another: the events about one
/// user (`user_id` in the payload) in claim order, each event without a
/// user alone. Groups appear in the order of their first event.
fn in_order_per_user(due: Vec<repository::Due>) -> Vec<Vec<repository::Due>> {
    let mut groups: Vec<Vec<repository::Due>> = Vec::new();
    let mut by_user: HashMap<String, usize> = HashMap::new();
    for event in due {
        let user = event
            .payload
            .get("user_id")
            .and_then(serde_json::Value::as_str)
            .map(|user| format!("{}\n{user}", event.destination));
        match user.and_then(|key| match by_user.get(&key) {
            Some(&group) => Some(group),
            None => {
                by_user.insert(key, groups.len());
                None
            }
        }) {
            Some(group) => groups[group].push(event),
            None => groups.push(vec![event]),
        }
    }
    groups
}

/// Why one delivery failed, and whether retrying could change that.
struct Failure {
    error: String,
    permanent: bool,
}

/// Delivers the outbox of one service to the receivers it has a client for.
#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    receivers: HashMap<String, ServiceClient>,
    service: String,
    options: RelayOptions,
}

impl Relay {
    /// A relay for `service`'s outbox in `pool`, with no receiver yet (see
    /// [`Relay::with_client`] and [`Relay::deliver_to`]).
    pub fn new(pool: PgPool, service: impl Into<String>, options: RelayOptions) -> Self {
        Self {
            pool,
            receivers: HashMap::new(),
            service: service.into(),
            options,
        }
    }

    /// Delivers the rows whose destination is `client`'s target through
    /// `client` (its base URL, token source and options).
    pub fn with_client(mut self, client: ServiceClient) -> Self {
        self.receivers.insert(client.target().to_owned(), client);
        self
    }

    /// Delivers the rows for `service` to `base_url`, authenticated by
    /// `tokens` (audience `service`). Its client makes one attempt per event
    /// and pass: the relay retries on its own schedule.
    pub fn deliver_to(
        self,
        service: &str,
        base_url: &str,
        tokens: Arc<dyn TokenSource>,
    ) -> anyhow::Result<Self> {
        let client = ServiceClient::new(
            service,
            base_url.to_owned(),
            ClientOptions {
                max_retries: 0,
                ..ClientOptions::default()
            },
        )
        .map_err(|err| err.context(format!("building the {service} client of the outbox")))?
        .with_token_source(tokens);
        Ok(self.with_client(client))
    }

    /// The relay of `service`'s outbox to notification-service only, at
    /// `notification_url`, authenticated by `tokens` (audience
    /// `notification-service`).
    pub fn to_notification_service(
        pool: PgPool,
        service: &str,
        notification_url: &str,
        tokens: Arc<dyn TokenSource>,
        settings: &OutboxSettings,
    ) -> anyhow::Result<Self> {
        Self::new(pool, service, settings.into()).deliver_to(
            NOTIFICATION_SERVICE,
            notification_url,
            tokens,
        )
    }

    /// Runs [`Relay::run`] as a task.
    pub fn spawn(self, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(self.run(shutdown))
    }

    /// Polls and delivers until `shutdown` is cancelled, and sweeps what has
    /// outlived its retention every `sweep_interval`. Errors (database down)
    /// are logged and retried at the next poll.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(service = %self.service, receivers = ?self.receivers.keys().collect::<Vec<_>>(), "outbox relay started");
        let mut next_sweep = Instant::now();
        let mut next_stats = Instant::now();
        loop {
            let delivered_full_batch = match self.tick().await {
                Ok(claimed) => claimed as i64 >= self.options.batch_size,
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), "outbox relay poll failed");
                    false
                }
            };
            // Counting the pending events reads all of them: at most once
            // per poll interval, however fast full batches follow each other.
            if Instant::now() >= next_stats {
                self.record_stats().await;
                next_stats = Instant::now() + self.options.poll_interval;
            }
            if Instant::now() >= next_sweep {
                match self.sweep().await {
                    Ok((0, 0)) => {}
                    Ok((delivered, failed)) => {
                        tracing::info!(
                            delivered,
                            failed,
                            "outbox events past their retention deleted"
                        );
                    }
                    Err(err) => tracing::warn!(error = %err, "sweeping the outbox failed"),
                }
                next_sweep = Instant::now() + self.options.sweep_interval;
            }
            if delivered_full_batch {
                // More may be due right now: go on without pausing.
                if shutdown.is_cancelled() {
                    break;
                }
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.options.poll_interval) => {}
            }
        }
        tracing::info!(service = %self.service, "outbox relay stopped");
    }

    /// One pass: claims the due events of the destinations this relay
    /// delivers, attempts them, records the outcomes, and returns how many
    /// were claimed. Events about different users are delivered up to
    /// `concurrency` at once; the events of one user (`user_id` in the
    /// payload) one after another, in the order they were written, so an
    /// order's "confirmed" mail is not overtaken by its "cancelled" one.
    pub async fn tick(&self) -> anyhow::Result<usize> {
        let destinations: Vec<String> = self.receivers.keys().cloned().collect();
        let mut tx = self.pool.begin().await?;
        let due = repository::claim_due(&mut tx, &destinations, self.options.batch_size).await?;
        let claimed = due.len();
        let outcomes: Vec<(repository::Due, Result<(), Failure>)> =
            stream::iter(in_order_per_user(due))
                .map(|events| async move {
                    let mut outcomes = Vec::with_capacity(events.len());
                    for event in events {
                        let outcome = self.deliver_with_request_id(&event).await;
                        outcomes.push((event, outcome));
                    }
                    outcomes
                })
                .buffer_unordered(self.options.concurrency.max(1))
                .flat_map(stream::iter)
                .collect()
                .await;
        let mut delivered = Vec::with_capacity(outcomes.len());
        let mut failures = Vec::new();
        for (event, outcome) in outcomes {
            match outcome {
                Ok(()) => delivered.push(event),
                Err(failure) => failures.push((event, failure)),
            }
        }
        repository::mark_delivered(&mut tx, &delivered).await?;
        for (event, Failure { error, permanent }) in &failures {
            let attempts = event.attempts.saturating_add(1);
            let give_up = *permanent || attempts >= self.options.max_attempts;
            let delay = self.backoff(attempts);
            let next =
                Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
            if give_up {
                tracing::error!(event_id = %event.event_id, destination = %event.destination, attempts, error = %error, "outbox event given up");
            } else {
                tracing::warn!(event_id = %event.event_id, destination = %event.destination, attempts, retry_in_ms = delay.as_millis() as u64, error = %error, "outbox delivery failed; will retry");
            }
            repository::mark_attempt_failed(
                &mut tx,
                event.event_id,
                &event.destination,
                next,
                error,
                give_up,
            )
            .await?;
        }
        tx.commit().await?;
        self.count("delivered", delivered.len());
        for (event, failure) in &failures {
            let give_up =
                failure.permanent || event.attempts.saturating_add(1) >= self.options.max_attempts;
            self.count(if give_up { "failed" } else { "retry" }, 1);
        }
        Ok(claimed)
    }

    /// [`Relay::deliver`] under the id of the request that wrote the event.
    async fn deliver_with_request_id(&self, event: &repository::Due) -> Result<(), Failure> {
        let delivery = self.deliver(event);
        match event
            .request_id
            .as_deref()
            .and_then(crate::request_id::RequestId::parse)
        {
            Some(id) => crate::request_id::scope(id, delivery).await,
            None => delivery.await,
        }
    }

    /// Deletes delivered events older than `retain_delivered` and given-up
    /// events older than `retain_failed`; returns how many of each.
    pub async fn sweep(&self) -> anyhow::Result<(u64, u64)> {
        let now = Utc::now();
        let delivered_before = now
            - chrono::Duration::from_std(self.options.retain_delivered)
                .unwrap_or(chrono::Duration::hours(1));
        let failed_before = now
            - chrono::Duration::from_std(self.options.retain_failed)
                .unwrap_or(chrono::Duration::days(7));
        Ok(repository::purge_expired(&self.pool, delivered_before, failed_before).await?)
    }

    async fn deliver(&self, event: &repository::Due) -> Result<(), Failure> {
        let Some(client) = self.receivers.get(&event.destination) else {
            // Unreachable: only rows of known destinations are claimed.
            return Err(Failure {
                error: format!("no client for {}", event.destination),
                permanent: false,
            });
        };
        let response = client
            .post(&event.path)
            .json(&event.payload)
            .send()
            .await
            .map_err(|e| Failure {
                error: e.to_string(),
                permanent: false,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // The receiver read the event and refused it (malformed, too large,
        // missing data): the same bytes would be refused again. Anything
        // else (down, overloaded, a token it did not accept yet) may pass
        // later.
        let permanent = matches!(
            status,
            reqwest::StatusCode::BAD_REQUEST
                | reqwest::StatusCode::PAYLOAD_TOO_LARGE
                | reqwest::StatusCode::UNPROCESSABLE_ENTITY
        );
        let detail = response.text().await.unwrap_or_default();
        // Stored in `last_error`: Postgres text cannot hold a NUL, and a
        // statement it refuses would undo the whole batch's marks.
        let detail: String = detail.chars().filter(|c| *c != '\0').take(500).collect();
        Err(Failure {
            error: format!("{} answered {status}: {detail}", client.target()),
            permanent,
        })
    }

    /// Exponential backoff with "equal jitter": uniform in [d/2, d] for
    /// d = base * 2^(attempts-1), capped at the maximum.
    fn backoff(&self, attempts: i32) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        let ceiling = self
            .options
            .backoff_base
            .saturating_mul(1 << exponent)
            .min(self.options.backoff_max);
        let ceiling_ms = ceiling.as_millis().max(2) as u64;
        Duration::from_millis(rand::rng().random_range(ceiling_ms / 2..=ceiling_ms))
    }

    fn count(&self, outcome: &'static str, events: usize) {
        if events > 0 {
            metrics::counter!("outbox_deliveries_total", "service" => self.service.clone(), "outcome" => outcome)
                .increment(events as u64);
        }
    }

    async fn record_stats(&self) {
        match repository::pending_stats(&self.pool).await {
            Ok((pending, oldest)) => {
                let lag = oldest
                    .map(|t| (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0)
                    .unwrap_or(0.0);
                metrics::gauge!("outbox_pending_events", "service" => self.service.clone())
                    .set(pending as f64);
                metrics::gauge!("outbox_lag_seconds", "service" => self.service.clone()).set(lag);
            }
            Err(err) => tracing::debug!(error = %err, "outbox stats unavailable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_serialize_to_the_intake_body() {
        let event = Notification::new("password_reset", serde_json::json!({"token": "t"}))
            .to_email("a@example.com");
        let body = serde_json::to_value(&event).unwrap();
        assert_eq!(body["to"], serde_json::json!({"email": "a@example.com"}));
        assert_eq!(body["template"], "password_reset");
        assert!(body.get("user_id").is_none());
        assert_eq!(body["event_id"], event.event_id.to_string());
    }

    #[test]
    fn user_deleted_serializes_its_id_user_and_time() {
        let user_id = Uuid::now_v7();
        let event = UserDeleted::new(user_id);
        let body = serde_json::to_value(&event).unwrap();
        assert_eq!(body["user_id"], user_id.to_string());
        assert_eq!(body["event_id"], event.event_id().to_string());
        assert!(body["deleted_at"].is_string());
        assert_eq!(
            Destination::user_deletions(ORDER_SERVICE).path,
            USER_DELETIONS_PATH
        );
    }

    #[test]
    fn the_settings_default_to_a_week_of_failed_events() {
        let settings: OutboxSettings = serde_json::from_value(serde_json::json!({
            "poll_interval_ms": 1000, "backoff_base_ms": 1000, "backoff_max_secs": 300, "max_attempts": 25
        }))
        .unwrap();
        let options = RelayOptions::from(&settings);
        assert_eq!(options.retain_failed, Duration::from_secs(7 * 86_400));
        assert_eq!(options.sweep_interval, Duration::from_secs(60));
        assert_eq!(options.concurrency, 8);
        let one_at_a_time: OutboxSettings = serde_json::from_value(serde_json::json!({
            "poll_interval_ms": 1000, "backoff_base_ms": 1000, "backoff_max_secs": 300,
            "max_attempts": 25, "delivery_concurrency": 0
        }))
        .unwrap();
        assert_eq!(RelayOptions::from(&one_at_a_time).concurrency, 1);
    }

    fn due(user: Option<&str>, destination: &str, n: i32) -> repository::Due {
        repository::Due {
            event_id: Uuid::now_v7(),
            destination: destination.to_owned(),
            path: "/internal/v1/notifications".to_owned(),
            payload: match user {
                Some(user) => serde_json::json!({"user_id": user}),
                None => serde_json::json!({}),
            },
            attempts: n,
            request_id: None,
        }
    }

    #[test]
    fn one_users_events_for_one_receiver_are_grouped_in_claim_order() {
        let batch = vec![
            due(Some("ada"), "notification-service", 0),
            due(Some("bob"), "notification-service", 1),
            due(None, "notification-service", 2),
            due(Some("ada"), "notification-service", 3),
            due(Some("ada"), "order-service", 4),
            due(None, "notification-service", 5),
            due(Some("bob"), "notification-service", 6),
            due(Some("ada"), "notification-service", 7),
        ];
        let groups: Vec<Vec<i32>> = in_order_per_user(batch)
            .into_iter()
            .map(|group| group.iter().map(|e| e.attempts).collect())
            .collect();
        assert_eq!(
            groups,
            vec![vec![0, 3, 7], vec![1, 6], vec![2], vec![4], vec![5]]
        );
    }

    #[tokio::test]
    async fn backoff_grows_and_stays_capped() {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://u@127.0.0.1:1/db")
            .unwrap();
        let relay = Relay::new(pool, "s", RelayOptions::default());
        let first = relay.backoff(1);
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
        for attempts in 1..40 {
            assert!(relay.backoff(attempts) <= Duration::from_secs(300));
        }
        assert!(relay.backoff(12) >= Duration::from_secs(150));
    }
}
