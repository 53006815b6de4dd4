//! Category types: what the API accepts and returns.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A category of the tree.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Category {
    /// The category's id.
    #[sqlx(rename = "category_id")]
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Unique URL slug (`desk-lamps`).
    pub slug: String,
    /// The parent category; `null` for a root.
    pub parent_id: Option<Uuid>,
    /// Free text.
    pub description: String,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

/// The whole tree as served, kept in the cache: the categories and the
/// JSON body of `GET /categories`, made once.
#[derive(Debug)]
pub struct CategoryTree {
    /// Categories ordered by name.
    pub items: Vec<Category>,
    /// `{"items": [...]}`.
    pub body: Bytes,
}

impl CategoryTree {
    /// Serializes the list once for every response that serves it.
    pub fn new(items: Vec<Category>) -> Result<Self, serde_json::Error> {
        let body = Bytes::from(serde_json::to_vec(&CategoryListRef { items: &items })?);
        Ok(Self { items, body })
    }

    /// What the tree costs the cache (the body and about as much again).
    pub fn weight(&self) -> u32 {
        u32::try_from(self.body.len().saturating_mul(2).saturating_add(256)).unwrap_or(u32::MAX)
    }
}

#[derive(Serialize)]
struct CategoryListRef<'a> {
    items: &'a [Category],
}

/// Every category (the tree is small: one response holds it all).
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryList {
    /// Categories ordered by name.
    pub items: Vec<Category>,
}

/// Body of `POST /categories`.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    /// Display name, 1-200 characters.
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    /// Unique slug: lower-case words of letters and digits joined by dashes, at most 100 characters.
    #[garde(length(max = 100), custom(valid_slug))]
    pub slug: String,
    /// Parent category, if any.
    #[garde(skip)]
    #[serde(default)]
    pub parent_id: Option<Uuid>,
    /// At most 2,000 characters.
    #[garde(length(chars, max = 2000))]
    #[serde(default)]
    pub description: String,
}

/// Body of `PATCH /categories/{id}`: only the fields present change.
#[derive(Debug, Default, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct CategoryPatch {
    /// Display name, 1-200 characters.
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub name: Option<String>,
    /// Unique slug.
    #[garde(inner(length(max = 100), custom(valid_slug)))]
    pub slug: Option<String>,
    /// New parent; `null` makes the category a root. Never itself or one of its descendants.
    #[garde(skip)]
    #[serde(default, deserialize_with = "crate::features::double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub parent_id: Option<Option<Uuid>>,
    /// At most 2,000 characters.
    #[garde(inner(length(chars, max = 2000)))]
    pub description: Option<String>,
}

fn valid_slug(slug: &str, _ctx: &()) -> garde::Result {
    if crate::features::is_slug(slug) {
        Ok(())
    } else {
        Err(garde::Error::new(
            "must be lower-case letters and digits in words joined by single dashes",
        ))
    }
}
