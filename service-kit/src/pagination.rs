//! Keyset pagination as API.md defines it: `?limit=` (1-100, default 20) and
//! an opaque `?cursor=`; responses are `{"items": [...], "next_cursor": ...}`.
//!
//! A cursor comes back from the client, who can forge it. Its fields are
//! therefore range-checked when it is decoded: timestamps are
//! [`CursorTime`] (only instants Postgres can store) and texts
//! [`CursorText`] (no NUL, bounded), so a forged cursor is a 422 naming
//! `cursor`, never a database error.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;

/// The `limit` and `cursor` query parameters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1-100 (default 20).
    pub limit: Option<u32>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl PageParams {
    /// The validated page size (422 outside 1-100).
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::invalid_field(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// The decoded cursor position, if any (422 when malformed).
    pub fn position<K: DeserializeOwned>(&self) -> Result<Option<K>, ApiError> {
        self.cursor.as_deref().map(decode_cursor).transpose()
    }
}

/// A page of results.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The results, in the list's order.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only tells
    /// that another page exists; the cursor is the key of the last row kept.
    pub fn from_rows<K: Serialize>(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> K) -> Self {
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if has_more {
            rows.last().map(|row| encode_cursor(&key(row)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}

/// Encodes a keyset position as an opaque URL-safe string.
pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// Decodes a cursor made by [`encode_cursor`] (422 naming `cursor` otherwise).
pub fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Result<K, ApiError> {
    let invalid = || ApiError::invalid_field("cursor", "is not a cursor returned by this list");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid())
}

/// A timestamp in a cursor. Deserializing refuses the instants Postgres'
/// `timestamptz` cannot hold (before 4714-11-24 BC; the upper bound,
/// 294276 AD, is beyond what chrono represents), so a forged cursor cannot
/// reach the database as an out-of-range parameter. Binds as `timestamptz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct CursorTime(DateTime<Utc>);

impl CursorTime {
    /// The earliest instant Postgres stores: 4714-11-24 00:00:00 BC (UTC),
    /// Julian day 0, year -4713 in ISO 8601's numbering.
    pub fn min() -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(-4713, 11, 24)
            .and_then(|date| date.and_hms_opt(0, 0, 0))
            .map(|naive| naive.and_utc())
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// `instant`, if Postgres can store it.
    pub fn new(instant: DateTime<Utc>) -> Option<Self> {
        (instant >= Self::min()).then_some(Self(instant))
    }

    /// The instant.
    pub fn get(self) -> DateTime<Utc> {
        self.0
    }
}

/// Rows read from Postgres are always in range.
impl From<DateTime<Utc>> for CursorTime {
    fn from(instant: DateTime<Utc>) -> Self {
        Self(instant.max(Self::min()))
    }
}

impl<'de> Deserialize<'de> for CursorTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let instant = DateTime::<Utc>::deserialize(deserializer)?;
        Self::new(instant).ok_or_else(|| D::Error::custom("a time outside Postgres' range"))
    }
}

/// A text in a cursor (a name the list is sorted by). Deserializing refuses
/// a NUL character, which Postgres text cannot hold, and more than
/// [`CursorText::MAX_BYTES`]. Binds as `text`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct CursorText(String);

impl CursorText {
    /// Longest accepted text, in bytes (far above any sorted column's limit).
    pub const MAX_BYTES: usize = 4096;

    /// `text`, if Postgres can compare with it.
    pub fn new(text: String) -> Option<Self> {
        (!text.contains('\0') && text.len() <= Self::MAX_BYTES).then_some(Self(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Texts read from Postgres hold no NUL; an over-long one is cut (the
/// cursor then points a little earlier, repeating no row: the sort key is
/// followed by the row's id).
impl From<String> for CursorText {
    fn from(text: String) -> Self {
        let mut text = text.replace('\0', "");
        if text.len() > Self::MAX_BYTES {
            let mut end = Self::MAX_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        Self(text)
    }
}

impl<'de> Deserialize<'de> for CursorText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(deserializer)?)
            .ok_or_else(|| D::Error::custom("a text Postgres cannot compare"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_keeps_limit_rows_and_points_past_the_last() {
        let page = Page::from_rows(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(
            decode_cursor::<i32>(page.next_cursor.as_deref().unwrap()).unwrap(),
            2
        );
        let last = Page::from_rows(vec![1, 2], 2, |n| *n);
        assert!(last.next_cursor.is_none());
    }

    #[test]
    fn limits_outside_the_range_and_garbage_cursors_are_422() {
        assert_eq!(
            PageParams {
                limit: Some(0),
                cursor: None
            }
            .limit()
            .unwrap_err()
            .status()
            .as_u16(),
            422
        );
        assert_eq!(
            PageParams {
                limit: Some(101),
                cursor: None
            }
            .limit()
            .unwrap_err()
            .status()
            .as_u16(),
            422
        );
        assert_eq!(PageParams::default().limit().unwrap(), DEFAULT_LIMIT);
        let bad = PageParams {
            limit: None,
            cursor: Some("!!!".into()),
        };
        assert_eq!(
            bad.position::<(i64, String)>()
                .unwrap_err()
                .status()
                .as_u16(),
            422
        );
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct Position {
        t: CursorTime,
        n: CursorText,
    }

    #[test]
    fn forged_times_and_texts_are_422_and_real_ones_round_trip() {
        let forged = |json: serde_json::Value| {
            decode_cursor::<Position>(&URL_SAFE_NO_PAD.encode(json.to_string()))
                .map(|p| p.t.get())
                .map_err(|e| e.status().as_u16())
        };
        assert_eq!(
            forged(serde_json::json!({"t": "-100000-01-01T00:00:00Z", "n": "a"})),
            Err(422)
        );
        assert_eq!(
            forged(serde_json::json!({"t": "-4713-11-23T23:59:59.999999Z", "n": "a"})),
            Err(422)
        );
        assert_eq!(
            forged(serde_json::json!({"t": "2026-01-01T00:00:00Z", "n": "a\u{0}b"})),
            Err(422)
        );
        assert_eq!(
            forged(serde_json::json!({"t": "2026-01-01T00:00:00Z", "n": "x".repeat(5000)})),
            Err(422)
        );
        assert_eq!(
            forged(serde_json::json!({"t": "-4713-11-24T00:00:00Z", "n": "a"})),
            Ok(CursorTime::min())
        );
        let now = Utc::now();
        let cursor = encode_cursor(&Position {
            t: now.into(),
            n: "Lamp".to_owned().into(),
        });
        let back: Position = decode_cursor(&cursor).unwrap();
        assert_eq!(back.t.get(), now);
        assert_eq!(back.n.as_str(), "Lamp");
    }
}
