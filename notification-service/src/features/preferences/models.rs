//! Preference and push-subscription types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A user's notification preferences (the defaults until they change them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Receive emails (default true).
    pub email: bool,
    /// Receive SMS when a phone number is known (default false).
    pub sms: bool,
    /// Receive push notifications on subscribed devices (default false).
    pub push: bool,
    /// Receive marketing messages (default false).
    pub marketing: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            email: true,
            sms: false,
            push: false,
            marketing: false,
        }
    }
}

/// Device platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Platform {
    /// Android (FCM).
    Android,
    /// iOS.
    Ios,
    /// A browser (web push).
    Web,
}

/// Body of `POST /api/v1/push-subscriptions`.
#[derive(Debug, Clone, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewPushSubscription {
    /// `android`, `ios` or `web`.
    #[garde(skip)]
    pub platform: Platform,
    /// The device's registration token, 1-1024 characters.
    #[garde(length(min = 1, max = 1024))]
    pub token: String,
}

/// The caller's devices (`GET /api/v1/push-subscriptions`), newest first;
/// at most 20, so one page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PushSubscriptions {
    /// The devices (their tokens are not shown).
    pub items: Vec<PushSubscription>,
}

/// A device subscribed to push notifications.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct PushSubscription {
    /// Its id (what `DELETE` takes).
    pub id: Uuid,
    /// `android`, `ios` or `web`.
    pub platform: Platform,
    /// When it was registered (UTC).
    pub created_at: DateTime<Utc>,
}
