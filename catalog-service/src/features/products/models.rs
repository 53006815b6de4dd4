//! Product types: what the API accepts and returns, and the parsed listing
//! query.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use service_kit::FieldError;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::search::ProductCursor;
use crate::features::images::ProductImage;

/// Largest accepted price, in minor units (ten billion in major units).
pub const MAX_PRICE_CENTS: i64 = 1_000_000_000_000;
/// Largest stock a product can be created with.
pub const MAX_INITIAL_STOCK: i32 = 1_000_000;
/// Most ids one batch lookup may name.
pub const MAX_IDS: usize = 100;
/// Longest accepted search text.
pub const MAX_QUERY_CHARS: usize = 200;
/// Largest `attributes` document, serialized.
pub const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;

/// A product as returned.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Product {
    /// The product's id.
    #[sqlx(rename = "product_id")]
    pub id: Uuid,
    /// Stock-keeping unit, unique.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Unique URL slug.
    pub slug: String,
    /// Free text.
    pub description: String,
    /// Unit price in minor units of `currency`.
    pub price_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The product's category.
    pub category_id: Option<Uuid>,
    /// Free-form attributes (a JSON object).
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    /// Listed and sellable.
    pub active: bool,
    /// Units that can be reserved now (`on_hand - reserved`).
    pub available: i32,
    /// The product's images, in gallery order.
    #[schema(value_type = Vec<ProductImage>)]
    pub images: sqlx::types::Json<Vec<ProductImage>>,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
    /// Bumped by every edit; half of the ETag.
    #[serde(skip)]
    pub version: i64,
    /// Relevance of the row (`sort=relevance` only): its tier (1 name
    /// match, 0 description only) or its typo similarity.
    #[serde(skip)]
    #[sqlx(default)]
    pub rank: Option<f64>,
}

impl Product {
    /// The strong entity tag of this representation: it changes with every
    /// edit (`version`) and every stock movement (`available`).
    pub fn etag(&self) -> String {
        format!("\"{}.{}\"", self.version, self.available)
    }
}

/// A product's representation as served, kept in the cache: the product,
/// its JSON body and its entity tag, computed once.
#[derive(Debug)]
pub struct ProductEntry {
    /// The product.
    pub product: Product,
    /// `product` as JSON.
    pub body: Bytes,
    /// `product.etag()`.
    pub etag: String,
}

impl ProductEntry {
    /// Serializes `product` once for every response that serves it.
    pub fn new(product: Product) -> Result<Self, serde_json::Error> {
        let body = Bytes::from(serde_json::to_vec(&product)?);
        let etag = product.etag();
        Ok(Self {
            product,
            body,
            etag,
        })
    }

    /// What the entry costs the cache: the body, the product it was made
    /// of (about as large), and bookkeeping.
    pub fn weight(&self) -> u32 {
        u32::try_from(self.body.len().saturating_mul(2).saturating_add(256)).unwrap_or(u32::MAX)
    }
}

/// Body of `POST /products`.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    /// Unique SKU: 1-64 of `A-Z a-z 0-9 . _ -`.
    #[garde(custom(valid_sku))]
    pub sku: String,
    /// Display name, 1-200 characters.
    #[garde(length(chars, min = 1, max = 200), custom(not_blank))]
    pub name: String,
    /// At most 10,000 characters.
    #[garde(length(chars, max = 10000))]
    #[serde(default)]
    pub description: String,
    /// Unit price in minor units, 0 or more.
    #[garde(range(min = 0, max = MAX_PRICE_CENTS))]
    pub price_cents: i64,
    /// ISO 4217 code (`EUR`).
    #[garde(custom(valid_currency))]
    pub currency: String,
    /// An existing category.
    #[garde(skip)]
    pub category_id: Uuid,
    /// Free-form JSON object.
    #[garde(custom(valid_attributes))]
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    /// Units on hand at creation (recorded in the audit trail).
    #[garde(range(min = 0, max = MAX_INITIAL_STOCK))]
    #[serde(default)]
    pub initial_stock: i32,
    /// URL slug; made from the name and SKU when absent.
    #[garde(inner(length(max = 200), custom(valid_slug)))]
    #[serde(default)]
    pub slug: Option<String>,
    /// Listed and sellable (default true).
    #[garde(skip)]
    #[serde(default = "yes")]
    pub active: bool,
}

/// Body of `PATCH /products/{id}`: only the fields present change.
#[derive(Debug, Default, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    /// Unique SKU.
    #[garde(inner(custom(valid_sku)))]
    pub sku: Option<String>,
    /// Display name, 1-200 characters.
    #[garde(inner(length(chars, min = 1, max = 200), custom(not_blank)))]
    pub name: Option<String>,
    /// At most 10,000 characters.
    #[garde(inner(length(chars, max = 10000)))]
    pub description: Option<String>,
    /// Unit price in minor units.
    #[garde(inner(range(min = 0, max = MAX_PRICE_CENTS)))]
    pub price_cents: Option<i64>,
    /// ISO 4217 code.
    #[garde(inner(custom(valid_currency)))]
    pub currency: Option<String>,
    /// An existing category.
    #[garde(skip)]
    pub category_id: Option<Uuid>,
    /// Replaces the attributes object.
    #[garde(inner(custom(valid_attributes)))]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Value>,
    /// Unique URL slug.
    #[garde(inner(length(max = 200), custom(valid_slug)))]
    pub slug: Option<String>,
    /// Listed and sellable.
    #[garde(skip)]
    pub active: Option<bool>,
}

impl ProductPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.sku.is_none()
            && self.name.is_none()
            && self.description.is_none()
            && self.price_cents.is_none()
            && self.currency.is_none()
            && self.category_id.is_none()
            && self.attributes.is_none()
            && self.slug.is_none()
            && self.active.is_none()
    }
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

fn yes() -> bool {
    true
}

fn valid_sku(sku: &str, _ctx: &()) -> garde::Result {
    let ok = (1..=64).contains(&sku.len())
        && sku
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(garde::Error::new(
            "must be 1-64 characters of letters, digits, '.', '_' or '-'",
        ))
    }
}

fn not_blank(text: &str, _ctx: &()) -> garde::Result {
    if text.trim().is_empty() {
        Err(garde::Error::new("must not be blank"))
    } else {
        Ok(())
    }
}

/// ISO 4217 codes are three upper-case letters (`EUR`, `USD`, `JPY`).
fn valid_currency(currency: &str, _ctx: &()) -> garde::Result {
    if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(garde::Error::new(
            "must be an ISO 4217 code of three upper-case letters",
        ))
    }
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

fn valid_attributes(attributes: &serde_json::Value, _ctx: &()) -> garde::Result {
    if !attributes.is_object() {
        return Err(garde::Error::new("must be a JSON object"));
    }
    if attributes.to_string().len() > MAX_ATTRIBUTES_BYTES {
        return Err(garde::Error::new("must be at most 16 KiB"));
    }
    Ok(())
}

/// Orders of the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best match first (needs `q`; without it, the same as `newest`).
    Relevance,
    /// Cheapest first.
    PriceAsc,
    /// Most expensive first.
    PriceDesc,
    /// Most recently created first (the default without `q`).
    Newest,
    /// Alphabetical by name.
    Name,
}

/// Query parameters of `GET /products`, as sent.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Search text (web-search syntax: `"exact phrase"`, `-exclude`, `or`); typo-tolerant on names.
    pub q: Option<String>,
    /// Products of this category and all its subcategories.
    pub category_id: Option<Uuid>,
    /// Lowest price in minor units (inclusive).
    pub min_price: Option<i64>,
    /// Highest price in minor units (inclusive).
    pub max_price: Option<i64>,
    /// `true`: only products with stock available; `false`: only those without.
    pub in_stock: Option<bool>,
    /// Comma-separated product ids (at most 100): a batch lookup.
    pub ids: Option<String>,
    /// `relevance` (default with `q`), `price_asc`, `price_desc`, `newest` (default otherwise), `name`.
    #[param(value_type = Option<Sort>, inline)]
    pub sort: Option<Sort>,
    /// Page size, 1-100 (default 20).
    pub limit: Option<u32>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A validated listing request.
#[derive(Debug, Clone)]
pub struct ProductFilter {
    /// Trimmed, non-empty search text.
    pub q: Option<String>,
    /// Category whose subtree is listed.
    pub category_id: Option<Uuid>,
    /// Inclusive lower price bound.
    pub min_price: Option<i64>,
    /// Inclusive upper price bound.
    pub max_price: Option<i64>,
    /// Availability filter.
    pub in_stock: Option<bool>,
    /// Batch lookup ids.
    pub ids: Option<Vec<Uuid>>,
    /// The effective order.
    pub sort: Sort,
    /// Where the previous page ended.
    pub after: Option<ProductCursor>,
}

impl ProductQuery {
    /// Checks every parameter, reporting all bad ones at once (a 422 for
    /// the route).
    pub fn parse(self) -> Result<(ProductFilter, u32), Vec<FieldError>> {
        let mut errors = Vec::new();
        let q = self
            .q
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty());
        if q.as_ref()
            .is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS)
        {
            errors.push(FieldError::new(
                "q",
                format!("must be at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        for (field, value) in [("min_price", self.min_price), ("max_price", self.max_price)] {
            if value.is_some_and(|v| !(0..=MAX_PRICE_CENTS).contains(&v)) {
                errors.push(FieldError::new(
                    field,
                    format!("must be between 0 and {MAX_PRICE_CENTS}"),
                ));
            }
        }
        if let (Some(min), Some(max)) = (self.min_price, self.max_price)
            && min > max
        {
            errors.push(FieldError::new(
                "max_price",
                "must be greater than or equal to min_price",
            ));
        }
        let ids = match self.ids.as_deref().map(parse_ids).transpose() {
            Ok(ids) => ids,
            Err(message) => {
                errors.push(FieldError::new("ids", message));
                None
            }
        };
        let limit = match (self.limit, service_kit::pagination::MAX_LIMIT) {
            (None, _) => service_kit::pagination::DEFAULT_LIMIT,
            (Some(n), max) if (1..=max).contains(&n) => n,
            (Some(_), max) => {
                errors.push(FieldError::new(
                    "limit",
                    format!("must be between 1 and {max}"),
                ));
                service_kit::pagination::DEFAULT_LIMIT
            }
        };
        let sort = match (self.sort, &q) {
            (Some(Sort::Relevance) | None, Some(_)) => Sort::Relevance,
            (Some(Sort::Relevance) | None, None) => Sort::Newest,
            (Some(sort), _) => sort,
        };
        let after = match self.cursor.as_deref() {
            None => None,
            Some(cursor) => match service_kit::pagination::decode_cursor::<ProductCursor>(cursor) {
                Ok(after) if after.key.sort() != sort => {
                    errors.push(FieldError::new(
                        "cursor",
                        "belongs to a listing with another sort",
                    ));
                    None
                }
                Ok(after) => match after.key.check() {
                    Ok(()) => Some(after),
                    Err(error) => {
                        errors.push(error);
                        None
                    }
                },
                Err(err) => {
                    errors.extend(err.field_errors().iter().cloned());
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok((
            ProductFilter {
                q,
                category_id: self.category_id,
                min_price: self.min_price,
                max_price: self.max_price,
                in_stock: self.in_stock,
                ids,
                sort,
                after,
            },
            limit,
        ))
    }
}

/// Parses `ids=a,b,c`: 1-100 distinct UUIDs.
fn parse_ids(raw: &str) -> Result<Vec<Uuid>, String> {
    let mut ids = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id = Uuid::parse_str(part).map_err(|_| format!("{part:?} is not a UUID"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err("must list at least one id".to_owned());
    }
    if ids.len() > MAX_IDS {
        return Err(format!("must list at most {MAX_IDS} ids"));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::super::search::{CursorKey, MatchMode};
    use super::*;

    fn fields(query: ProductQuery) -> Vec<String> {
        query
            .parse()
            .unwrap_err()
            .iter()
            .map(|e| e.field.clone())
            .collect()
    }

    #[test]
    fn min_above_max_names_max_price() {
        let query = ProductQuery {
            min_price: Some(500),
            max_price: Some(100),
            ..Default::default()
        };
        assert_eq!(fields(query), ["max_price"]);
    }

    #[test]
    fn bad_ids_and_cursors_are_named() {
        let query = ProductQuery {
            ids: Some("not-a-uuid".into()),
            cursor: Some("garbage".into()),
            ..Default::default()
        };
        assert_eq!(fields(query), ["ids", "cursor"]);
    }

    #[test]
    fn a_cursor_of_another_sort_is_refused() {
        let cursor = service_kit::pagination::encode_cursor(&ProductCursor {
            key: CursorKey::PriceAsc {
                p: 1,
                id: Uuid::nil(),
            },
            mode: MatchMode::Text,
        });
        let query = ProductQuery {
            sort: Some(Sort::Name),
            cursor: Some(cursor),
            ..Default::default()
        };
        assert_eq!(fields(query), ["cursor"]);
    }

    #[test]
    fn relevance_is_the_default_with_a_query_only() {
        let (with_q, _) = ProductQuery {
            q: Some(" lamp ".into()),
            ..Default::default()
        }
        .parse()
        .unwrap();
        assert_eq!(with_q.sort, Sort::Relevance);
        assert_eq!(with_q.q.as_deref(), Some("lamp"));
        let (without, limit) = ProductQuery::default().parse().unwrap();
        assert_eq!(without.sort, Sort::Newest);
        assert_eq!(limit, 20);
    }
}
