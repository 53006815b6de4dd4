//! Where a page of the listing ended: one [`CursorKey`] per order, its
//! keyset condition built by one function.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use service_kit::FieldError;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::super::models::{Product, Sort};

/// Keyset position of a listing: the sort key of the last row and its id,
/// plus how the search matched (so every page uses the same match set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductCursor {
    /// The sort key.
    #[serde(flatten)]
    pub key: CursorKey,
    /// How the search text matched (the same on every page).
    #[serde(default, rename = "m", skip_serializing_if = "MatchMode::is_text")]
    pub mode: MatchMode,
}

/// How a search matched products.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    /// Full text, as typed.
    #[default]
    Text,
    /// Full text, misspelt words replaced by the closest words of names.
    Corrected,
    /// Trigram similarity of names (words with no close known word).
    Similar,
}

impl MatchMode {
    fn is_text(&self) -> bool {
        *self == Self::Text
    }
}

/// The sort key of the last row of a page and its id. The sort is recorded
/// so that a cursor cannot be replayed on another order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "s", rename_all = "snake_case")]
pub enum CursorKey {
    /// `sort=relevance` with full-text matches: name matches (tier 1)
    /// before description-only ones (tier 2), newest first in each.
    Tier {
        /// Tier of the last row (1 or 2).
        tier: u8,
        /// Its creation time.
        t: DateTime<Utc>,
        /// Its id.
        id: Uuid,
    },
    /// `sort=relevance` with name-similarity matches, most similar first.
    Relevance {
        /// Rank of the last row.
        r: f64,
        /// Its id.
        id: Uuid,
    },
    /// `sort=price_asc`.
    PriceAsc {
        /// Price of the last row.
        p: i64,
        /// Its id.
        id: Uuid,
    },
    /// `sort=price_desc`.
    PriceDesc {
        /// Price of the last row.
        p: i64,
        /// Its id.
        id: Uuid,
    },
    /// `sort=newest`.
    Newest {
        /// Creation time of the last row.
        t: DateTime<Utc>,
        /// Its id.
        id: Uuid,
    },
    /// `sort=name`.
    Name {
        /// Name of the last row.
        n: String,
        /// Its id.
        id: Uuid,
    },
}

/// Longest name a cursor may carry (names are at most 200 characters).
const MAX_NAME_CHARS: usize = 200;

impl CursorKey {
    /// The order this key belongs to.
    pub fn sort(&self) -> Sort {
        match self {
            Self::Tier { .. } | Self::Relevance { .. } => Sort::Relevance,
            Self::PriceAsc { .. } => Sort::PriceAsc,
            Self::PriceDesc { .. } => Sort::PriceDesc,
            Self::Newest { .. } => Sort::Newest,
            Self::Name { .. } => Sort::Name,
        }
    }

    /// The first relevance tier is 1 (name matches), the second 2.
    pub fn tier(&self) -> Option<u8> {
        match self {
            Self::Tier { tier, .. } => Some(*tier),
            _ => None,
        }
    }

    /// Refuses values the database could not compare (a forged cursor is a
    /// 422, never a 500): times outside years 1-9999, a tier other than 1
    /// or 2, an overlong name or one holding a NUL.
    pub fn check(&self) -> Result<(), FieldError> {
        let bad = |why: &str| Err(FieldError::new("cursor", format!("is not valid: {why}")));
        match self {
            Self::Tier { tier, .. } if !matches!(tier, 1 | 2) => bad("unknown tier"),
            Self::Tier { t, .. } | Self::Newest { t, .. } if !(1..=9999).contains(&t.year()) => {
                bad("time out of range")
            }
            Self::Relevance { r, .. } if !r.is_finite() => bad("rank out of range"),
            Self::Name { n, .. } if n.chars().count() > MAX_NAME_CHARS || n.contains('\0') => {
                bad("name out of range")
            }
            _ => Ok(()),
        }
    }

    /// Appends ` and (<key>, product_id) <op> ($key, $id)`: the rows after
    /// this key in its order. `rank` pushes the expression of the
    /// similarity rank (the one key that is not a column).
    pub fn push_after(
        &self,
        query: &mut QueryBuilder<Postgres>,
        rank: impl FnOnce(&mut QueryBuilder<Postgres>),
    ) {
        query.push(" and (");
        match self {
            Self::Relevance { .. } => rank(query),
            Self::Tier { .. } | Self::Newest { .. } => {
                query.push("created_at");
            }
            Self::PriceAsc { .. } | Self::PriceDesc { .. } => {
                query.push("price_cents");
            }
            Self::Name { .. } => {
                query.push("name");
            }
        }
        let ascending = matches!(self, Self::PriceAsc { .. } | Self::Name { .. });
        query.push(if ascending {
            ", product_id) > ("
        } else {
            ", product_id) < ("
        });
        match self {
            Self::Tier { t, .. } | Self::Newest { t, .. } => query.push_bind(*t),
            Self::PriceAsc { p, .. } | Self::PriceDesc { p, .. } => query.push_bind(*p),
            Self::Name { n, .. } => query.push_bind(n.as_str()),
            Self::Relevance { r, .. } => query.push_bind(*r),
        };
        query.push(", ").push_bind(self.id()).push(")");
    }

    /// The id of the last row.
    pub fn id(&self) -> Uuid {
        match self {
            Self::Tier { id, .. }
            | Self::Relevance { id, .. }
            | Self::PriceAsc { id, .. }
            | Self::PriceDesc { id, .. }
            | Self::Newest { id, .. }
            | Self::Name { id, .. } => *id,
        }
    }
}

impl ProductCursor {
    /// The position after `product` in `sort` order.
    pub fn after(sort: Sort, product: &Product, mode: MatchMode) -> Self {
        let id = product.id;
        let key = match sort {
            Sort::Relevance if mode != MatchMode::Similar => CursorKey::Tier {
                tier: if product.rank.unwrap_or_default() >= 1.0 {
                    1
                } else {
                    2
                },
                t: product.created_at,
                id,
            },
            Sort::Relevance => CursorKey::Relevance {
                r: product.rank.unwrap_or_default(),
                id,
            },
            Sort::PriceAsc => CursorKey::PriceAsc {
                p: product.price_cents,
                id,
            },
            Sort::PriceDesc => CursorKey::PriceDesc {
                p: product.price_cents,
                id,
            },
            Sort::Newest => CursorKey::Newest {
                t: product.created_at,
                id,
            },
            Sort::Name => CursorKey::Name {
                n: product.name.clone(),
                id,
            },
        };
        Self { key, mode }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(key: &CursorKey) -> String {
        let mut query = QueryBuilder::<Postgres>::new("where true");
        key.push_after(&mut query, |q| {
            q.push("word_similarity(q, name)");
        });
        query.into_string()
    }

    #[test]
    fn each_order_compares_its_key_then_the_id() {
        let id = Uuid::nil();
        let t = Utc::now();
        assert_eq!(
            sql(&CursorKey::Newest { t, id }),
            "where true and (created_at, product_id) < ($1, $2)"
        );
        assert_eq!(
            sql(&CursorKey::Tier { tier: 2, t, id }),
            "where true and (created_at, product_id) < ($1, $2)"
        );
        assert_eq!(
            sql(&CursorKey::PriceAsc { p: 5, id }),
            "where true and (price_cents, product_id) > ($1, $2)"
        );
        assert_eq!(
            sql(&CursorKey::PriceDesc { p: 5, id }),
            "where true and (price_cents, product_id) < ($1, $2)"
        );
        assert_eq!(
            sql(&CursorKey::Name { n: "a".into(), id }),
            "where true and (name, product_id) > ($1, $2)"
        );
        assert_eq!(
            sql(&CursorKey::Relevance { r: 0.5, id }),
            "where true and (word_similarity(q, name), product_id) < ($1, $2)"
        );
    }

    #[test]
    fn forged_values_are_refused() {
        let id = Uuid::nil();
        let far =
            DateTime::parse_from_rfc3339("+200000-01-01T00:00:00Z").map(|t| t.with_timezone(&Utc));
        if let Ok(t) = far {
            assert!(CursorKey::Newest { t, id }.check().is_err());
        }
        let t = Utc::now();
        assert!(CursorKey::Newest { t, id }.check().is_ok());
        assert!(CursorKey::Tier { tier: 3, t, id }.check().is_err());
        let nul = CursorKey::Name {
            n: "a\0b".into(),
            id,
        };
        assert!(nul.check().is_err());
        let long = CursorKey::Name {
            n: "x".repeat(201),
            id,
        };
        assert!(long.check().is_err());
    }

    #[test]
    fn relevance_cursors_round_trip_exactly() {
        let cursor = ProductCursor {
            key: CursorKey::Relevance {
                r: 1.060_792_684_555_053_7,
                id: Uuid::now_v7(),
            },
            mode: MatchMode::Similar,
        };
        let decoded: ProductCursor = service_kit::pagination::decode_cursor(
            &service_kit::pagination::encode_cursor(&cursor),
        )
        .unwrap();
        assert_eq!(decoded, cursor);
    }
}
