//! Payment webhook types.

use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A provider event (`charge.succeeded`, `charge.failed`, `charge.refunded`;
/// other types are recorded and ignored).
#[derive(Debug, Deserialize, ToSchema)]
pub struct WebhookEvent {
    /// The provider's event id (events are applied once per id).
    pub id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// What the event is about.
    #[serde(default)]
    pub data: WebhookData,
}

/// The object of a webhook event.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct WebhookData {
    /// The order paid for.
    pub order_id: Option<Uuid>,
    /// The provider's charge id.
    pub provider_ref: Option<String>,
}
