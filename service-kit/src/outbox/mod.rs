//! The transactional outbox: notification events that must not be lost are
//! written with [`enqueue`] in the same transaction as the state change that
//! causes them, and a [`Relay`] in the background delivers them to
//! notification-service's `POST /internal/v1/notifications`, retrying with
//! exponential backoff and jitter until it answers 2xx. An event the
//! receiver refuses as malformed (400, 413, 422) would be refused again: it
//! is given up at once (`failed_at`, with the answer in `last_error`) and
//! counted as `failed`, instead of being retried for days. The receiver
//! deduplicates by `event_id`, so a redelivery (a crash between delivery and
//! marking) is harmless: delivery is at least once, the effect exactly once.
//!
//! Replicas share the table safely: each relay claims due rows with
//! `FOR UPDATE SKIP LOCKED`. The relay exports `outbox_lag_seconds{service}`
//! (age of the oldest undelivered event, 0 when none) and
//! `outbox_pending_events{service}`, and counts deliveries in
//! `outbox_deliveries_total{service, outcome}`.
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
//!     event_id        uuid primary key,
//!     payload         jsonb not null,
//!     attempts        integer not null default 0 check (attempts >= 0),
//!     next_attempt_at timestamptz not null default now(),
//!     last_error      text,
//!     delivered_at    timestamptz,
//!     failed_at       timestamptz,
//!     created_at      timestamptz not null default now(),
//!     updated_at      timestamptz not null default now(),
//!     request_id      text,
//!     check (delivered_at is null or failed_at is null)
//! );
//! create index outbox_due_idx on outbox (next_attempt_at)
//!     where delivered_at is null and failed_at is null;
//! ```

mod repository;

use chrono::Utc;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::client::ServiceClient;

/// notification-service's intake endpoint.
pub const NOTIFICATIONS_PATH: &str = "/internal/v1/notifications";

/// notification-service's name: the audience of the relay's tokens.
pub const NOTIFICATION_SERVICE: &str = "notification-service";

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

/// Writes `event` to the outbox inside the caller's transaction: it is
/// delivered if and only if the transaction commits.
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    event: &Notification,
) -> Result<(), sqlx::Error> {
    let row = OutboxRow::of(event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    repository::insert(tx, row.event_id, &row.payload, row.request_id.as_deref()).await
}

/// An event as its outbox row, for a service that writes the row in the
/// same statement as the state change (one round trip instead of a
/// transaction): `insert into outbox (event_id, payload, request_id)`.
/// [`enqueue`] is the same insert on its own.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// The event's id.
    pub event_id: Uuid,
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
            payload: serde_json::to_value(event)?,
            request_id: crate::request_id::current(),
        })
    }
}

/// The `[outbox]` section a service with an outbox is configured with
/// (`APP__OUTBOX__*`); defaults: poll every 1000 ms, first retry after
/// 1000 ms, at most 300 s apart, given up after 25 attempts.
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
}

impl From<&OutboxSettings> for RelayOptions {
    fn from(settings: &OutboxSettings) -> Self {
        Self {
            poll_interval: Duration::from_millis(settings.poll_interval_ms),
            backoff_base: Duration::from_millis(settings.backoff_base_ms),
            backoff_max: Duration::from_secs(settings.backoff_max_secs),
            max_attempts: settings.max_attempts,
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
        }
    }
}

/// Why one delivery failed, and whether retrying could change that.
struct Failure {
    error: String,
    permanent: bool,
}

/// Delivers the outbox of one service.
#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    client: ServiceClient,
    service: String,
    options: RelayOptions,
}

impl Relay {
    /// A relay for `service`'s outbox in `pool`, delivering through `client`
    /// (notification-service's base URL, with a service token source).
    pub fn new(
        pool: PgPool,
        client: ServiceClient,
        service: impl Into<String>,
        options: RelayOptions,
    ) -> Self {
        Self {
            pool,
            client,
            service: service.into(),
            options,
        }
    }

    /// The relay of `service`'s outbox to notification-service at
    /// `notification_url`, authenticated by `tokens` (audience
    /// `notification-service`). Its client makes one attempt per event and
    /// pass: the relay retries on its own schedule.
    pub fn to_notification_service(
        pool: PgPool,
        service: &str,
        notification_url: &str,
        tokens: std::sync::Arc<dyn crate::client::TokenSource>,
        settings: &OutboxSettings,
    ) -> anyhow::Result<Self> {
        let client = ServiceClient::new(
            NOTIFICATION_SERVICE,
            notification_url.to_owned(),
            crate::client::ClientOptions {
                max_retries: 0,
                ..crate::client::ClientOptions::default()
            },
        )
        .map_err(|err| err.context("building the notification-service client"))?
        .with_token_source(tokens);
        Ok(Self::new(pool, client, service, settings.into()))
    }

    /// Runs [`Relay::run`] as a task.
    pub fn spawn(self, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(self.run(shutdown))
    }

    /// Polls and delivers until `shutdown` is cancelled. Errors (database
    /// down) are logged and retried at the next poll.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(service = %self.service, "outbox relay started");
        loop {
            let delivered_full_batch = match self.tick().await {
                Ok(claimed) => claimed as i64 >= self.options.batch_size,
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), "outbox relay poll failed");
                    false
                }
            };
            self.record_stats().await;
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

    /// One pass: claims the due events, attempts each, records the outcomes,
    /// and returns how many were claimed.
    pub async fn tick(&self) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let due = repository::claim_due(&mut tx, self.options.batch_size).await?;
        let claimed = due.len();
        for event in due {
            let delivery = self.deliver(&event.payload);
            let outcome = match event
                .request_id
                .as_deref()
                .and_then(crate::request_id::RequestId::parse)
            {
                Some(id) => crate::request_id::scope(id, delivery).await,
                None => delivery.await,
            };
            match outcome {
                Ok(()) => {
                    repository::mark_delivered(&mut tx, event.event_id).await?;
                    self.count("delivered");
                }
                Err(Failure { error, permanent }) => {
                    let attempts = event.attempts.saturating_add(1);
                    let give_up = permanent || attempts >= self.options.max_attempts;
                    let delay = self.backoff(attempts);
                    let next = Utc::now()
                        + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
                    if give_up {
                        tracing::error!(event_id = %event.event_id, attempts, error = %error, "outbox event given up");
                        self.count("failed");
                    } else {
                        tracing::warn!(event_id = %event.event_id, attempts, retry_in_ms = delay.as_millis() as u64, error = %error, "outbox delivery failed; will retry");
                        self.count("retry");
                    }
                    repository::mark_attempt_failed(&mut tx, event.event_id, next, &error, give_up)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn deliver(&self, payload: &serde_json::Value) -> Result<(), Failure> {
        let response = self
            .client
            .post(NOTIFICATIONS_PATH)
            .json(payload)
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
        let detail: String = detail.chars().take(500).collect();
        Err(Failure {
            error: format!("{} answered {status}: {detail}", self.client.target()),
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

    fn count(&self, outcome: &'static str) {
        metrics::counter!("outbox_deliveries_total", "service" => self.service.clone(), "outcome" => outcome)
            .increment(1);
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
        let retention = chrono::Duration::from_std(self.options.retain_delivered)
            .unwrap_or(chrono::Duration::hours(1));
        if let Err(err) = repository::purge_delivered(&self.pool, Utc::now() - retention).await {
            tracing::debug!(error = %err, "purging delivered outbox events failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientOptions;

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

    #[tokio::test]
    async fn backoff_grows_and_stays_capped() {
        let client =
            ServiceClient::new("n", "http://127.0.0.1:1", ClientOptions::default()).unwrap();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://u@127.0.0.1:1/db")
            .unwrap();
        let relay = Relay::new(pool, client, "s", RelayOptions::default());
        let first = relay.backoff(1);
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
        for attempts in 1..40 {
            assert!(relay.backoff(attempts) <= Duration::from_secs(300));
        }
        assert!(relay.backoff(12) >= Duration::from_secs(150));
    }
}
