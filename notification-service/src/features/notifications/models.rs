//! Notification and delivery types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::delivery::channels::Channel;

/// Explicit addresses of a notification.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct Recipient {
    /// An e-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// A phone number (E.164, `+33612345678`).
    #[serde(default)]
    pub phone: Option<String>,
}

/// Body of `POST /internal/v1/notifications` (service-kit's
/// `outbox::Notification`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewNotification {
    /// Unique per event: a repeat with the same id answers the first
    /// notification and creates nothing.
    pub event_id: Uuid,
    /// The user concerned: their preferences apply and, without `to`, their
    /// contact details are looked up in user-service.
    #[serde(default)]
    pub user_id: Option<Uuid>,
    /// Explicit addresses (take precedence over the user's contact details).
    #[serde(default)]
    pub to: Option<Recipient>,
    /// `welcome`, `password_reset`, `order_confirmed`, `order_cancelled` or
    /// `payment_failed`.
    pub template: String,
    /// The template's variables, an object (see the README for each
    /// template's fields).
    pub data: serde_json::Value,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Queued (or being sent, or waiting for its next attempt).
    Pending,
    /// Accepted by the provider.
    Sent,
    /// Given up after the last attempt (or a permanent error).
    Failed,
}

impl DeliveryStatus {
    /// Its name in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

/// One delivery of an accepted notification.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct DeliverySummary {
    /// The delivery's id.
    pub id: Uuid,
    /// `email`, `sms` or `push`.
    pub channel: Channel,
    /// `pending`, `sent` or `failed`.
    pub status: DeliveryStatus,
}

/// Answer of the intake (202): the notification and its deliveries, one
/// per channel and target (push: one per subscription).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// The notification's id (the same for every replay of the event).
    pub id: Uuid,
    /// Its deliveries; empty when the preferences and contacts leave no
    /// channel.
    pub deliveries: Vec<DeliverySummary>,
}

/// A delivery to insert.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// Its id.
    pub id: Uuid,
    /// The channel.
    pub channel: Channel,
    /// Address, phone number or push token.
    pub target: String,
    /// Subject or push title.
    pub subject: String,
    /// Text body, or the short text for SMS and push.
    pub body_text: String,
    /// HTML body (email).
    pub body_html: Option<String>,
}

/// One item of a user's notification history (one per delivery).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct HistoryItem {
    /// The delivery's id.
    pub id: Uuid,
    /// The notification it belongs to.
    pub notification_id: Uuid,
    /// The template.
    pub template: String,
    /// `email`, `sms` or `push`.
    pub channel: Channel,
    /// `pending`, `sent` or `failed`.
    pub status: DeliveryStatus,
    /// The subject.
    pub subject: String,
    /// When it was queued (UTC).
    pub created_at: DateTime<Utc>,
    /// When the provider accepted it (UTC), if it did.
    pub sent_at: Option<DateTime<Utc>>,
}

/// A delivery as administrators see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct AdminDelivery {
    /// The delivery's id (what `retry` takes).
    pub id: Uuid,
    /// The notification it belongs to.
    pub notification_id: Uuid,
    /// The producer's event id.
    pub event_id: Uuid,
    /// The user concerned, if any.
    pub user_id: Option<Uuid>,
    /// The template.
    pub template: String,
    /// `email`, `sms` or `push`.
    pub channel: Channel,
    /// `pending`, `sent` or `failed`.
    pub status: DeliveryStatus,
    /// The subject.
    pub subject: String,
    /// Attempts made.
    pub attempts: i32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: DateTime<Utc>,
    /// When it was queued (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// When it was given up.
    pub failed_at: Option<DateTime<Utc>>,
}

/// Filters of the admin list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminFilter {
    /// `pending`, `sent` or `failed`.
    pub status: Option<DeliveryStatus>,
    /// Page size, 1-100 (default 20).
    pub limit: Option<u32>,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
}
