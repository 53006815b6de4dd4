//! Note types: what the API accepts and returns.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use service_kit::pagination::CursorTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A note as stored and returned.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Note {
    /// The note's id.
    #[sqlx(rename = "note_id")]
    pub id: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
    /// Title, 1-200 characters.
    pub title: String,
    /// Body, at most 10,000 characters.
    pub body: String,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /notes`.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// Title, 1-200 characters.
    #[garde(length(chars, min = 1, max = 200))]
    pub title: String,
    /// Body, at most 10,000 characters.
    #[garde(length(chars, max = 10000))]
    #[serde(default)]
    pub body: String,
}

/// Keyset position of the newest-first listing.
#[derive(Debug, Serialize, Deserialize)]
pub struct NoteCursor {
    /// `created_at` of the last note of the previous page (range-checked
    /// when a cursor is decoded: a forged one is a 422, not a 500).
    pub created_at: CursorTime,
    /// Its id, breaking ties.
    pub id: Uuid,
}
