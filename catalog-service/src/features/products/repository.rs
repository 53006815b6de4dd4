//! Product SQL, the listing and search included.

use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::models::{CursorKey, NewProduct, Product, ProductFilter, ProductPatch, Sort};

/// The columns of a [`Product`], as a literal so that statements stay
/// `&'static str`.
macro_rules! product_columns {
    () => {
        "product_id, sku, name, slug, description, price_cents, currency, category_id, \
         attributes, active, on_hand - reserved as available, created_at, updated_at, version"
    };
}

/// An array expression: for each word of the text array `$words`, the
/// closest word of a product name, or null below similarity `$min`.
macro_rules! closest_terms {
    ($words:literal, $min:literal) => {
        concat!(
            "array(select coalesce(
                 (select term from search_terms where term = w.word),
                 (select case when similarity(t.term, w.word) >= ",
            $min,
            " then t.term end
                  from (select term from search_terms order by term <-> w.word, term limit 1) t))
             from unnest(",
            $words,
            "::text[]) with ordinality as w(word, n)
             order by w.n)"
        )
    };
}

/// The columns of a [`Product`] from the table aliased `p`.
const P_COLUMNS: &str = "p.product_id, p.sku, p.name, p.slug, p.description, p.price_cents, \
     p.currency, p.category_id, p.attributes, p.active, p.on_hand - p.reserved as available, \
     p.created_at, p.updated_at, p.version";

/// The columns `sort` and its cursor need: a search sorts (or probes) these
/// narrow rows, and reads whole products for its page only.
fn key_columns(sort: Sort) -> &'static str {
    match sort {
        Sort::Relevance | Sort::Newest => "product_id, created_at",
        Sort::PriceAsc | Sort::PriceDesc => "product_id, price_cents",
        Sort::Name => "product_id, name",
    }
}

#[tracing::instrument(skip_all)]
pub async fn insert(
    conn: &mut PgConnection,
    product: &NewProduct,
    slug: &str,
) -> sqlx::Result<Product> {
    sqlx::query_as(concat!(
        "insert into products (product_id, sku, name, slug, description, price_cents, currency,
                               category_id, attributes, active, on_hand)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         returning ",
        product_columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(&product.sku)
    .bind(&product.name)
    .bind(slug)
    .bind(&product.description)
    .bind(product.price_cents)
    .bind(&product.currency)
    .bind(product.category_id)
    .bind(&product.attributes)
    .bind(product.active)
    .bind(product.initial_stock)
    .fetch_one(conn)
    .await
}

/// Records the stock a product was created with in the audit trail.
#[tracing::instrument(skip_all)]
pub async fn record_initial_stock(
    conn: &mut PgConnection,
    product_id: Uuid,
    quantity: i32,
    actor_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into inventory_adjustments
             (adjustment_id, product_id, delta, reason, actor_id, actor, on_hand_after)
         values ($1, $2, $3, 'initial stock', $4, 'admin', $3)",
    )
    .bind(Uuid::now_v7())
    .bind(product_id)
    .bind(quantity)
    .bind(actor_id)
    .execute(conn)
    .await
    .map(|_| ())
}

/// A product that is not deleted.
#[tracing::instrument(skip_all)]
pub async fn find(pool: &PgPool, product_id: Uuid) -> sqlx::Result<Option<Product>> {
    sqlx::query_as(concat!(
        "select ",
        product_columns!(),
        " from products where product_id = $1 and deleted_at is null"
    ))
    .bind(product_id)
    .fetch_optional(pool)
    .await
}

/// A product that is not deleted, locked until the transaction ends.
#[tracing::instrument(skip_all)]
pub async fn find_for_update(
    conn: &mut PgConnection,
    product_id: Uuid,
) -> sqlx::Result<Option<Product>> {
    sqlx::query_as(concat!(
        "select ",
        product_columns!(),
        " from products where product_id = $1 and deleted_at is null for update"
    ))
    .bind(product_id)
    .fetch_optional(conn)
    .await
}

/// Applies the fields present in `patch` and bumps the version.
#[tracing::instrument(skip_all)]
pub async fn update(
    conn: &mut PgConnection,
    product_id: Uuid,
    patch: &ProductPatch,
) -> sqlx::Result<Product> {
    let mut query = QueryBuilder::<Postgres>::new(
        "update products set version = version + 1, updated_at = now()",
    );
    if let Some(sku) = &patch.sku {
        query.push(", sku = ").push_bind(sku);
    }
    if let Some(name) = &patch.name {
        query.push(", name = ").push_bind(name);
    }
    if let Some(description) = &patch.description {
        query.push(", description = ").push_bind(description);
    }
    if let Some(price_cents) = patch.price_cents {
        query.push(", price_cents = ").push_bind(price_cents);
    }
    if let Some(currency) = &patch.currency {
        query.push(", currency = ").push_bind(currency);
    }
    if let Some(category_id) = patch.category_id {
        query.push(", category_id = ").push_bind(category_id);
    }
    if let Some(attributes) = &patch.attributes {
        query.push(", attributes = ").push_bind(attributes);
    }
    if let Some(slug) = &patch.slug {
        query.push(", slug = ").push_bind(slug);
    }
    if let Some(active) = patch.active {
        query.push(", active = ").push_bind(active);
    }
    query
        .push(" where product_id = ")
        .push_bind(product_id)
        .push(concat!(" returning ", product_columns!()));
    query.build_query_as().fetch_one(conn).await
}

/// Soft delete: the row stays (orders and reservations refer to it) but is
/// no longer listed, readable or sellable. False when there was none.
#[tracing::instrument(skip_all)]
pub async fn soft_delete(pool: &PgPool, product_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query(
        "update products
         set deleted_at = now(), active = false, version = version + 1, updated_at = now()
         where product_id = $1 and deleted_at is null",
    )
    .bind(product_id)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() > 0)
}

/// For each word, the closest word of a product name by trigram distance
/// (itself when known), if its similarity is at least `min_similarity`.
/// A known word is one primary-key lookup; only the others need the
/// nearest word from the GiST index (a k-nearest-neighbour scan).
#[tracing::instrument(skip_all)]
pub async fn closest_terms(
    pool: &PgPool,
    words: &[String],
    min_similarity: f32,
) -> sqlx::Result<Vec<Option<String>>> {
    sqlx::query_scalar(concat!("select ", closest_terms!("$1", "$2")))
        .bind(words)
        .bind(min_similarity)
        .fetch_one(pool)
        .await
}

/// Whether `q` holds a word (stemmed as full-text search stems it) that no
/// product's name or description has ever held (one primary-key lookup per
/// word), and the closest terms of `words`, as [`closest_terms`] finds
/// them: one round trip for a search that is likely misspelt.
#[tracing::instrument(skip_all)]
pub async fn check_words(
    pool: &PgPool,
    q: &str,
    words: &[String],
    min_similarity: f32,
) -> sqlx::Result<(bool, Vec<Option<String>>)> {
    sqlx::query_as(concat!(
        "select exists (
             select 1 from unnest(tsvector_to_array(to_tsvector('english', $1))) as w(lexeme)
             where not exists (select 1 from search_lexemes s where s.lexeme = w.lexeme)),
         ",
        closest_terms!("$2", "$3")
    ))
    .bind(q)
    .bind(words)
    .bind(min_similarity)
    .fetch_one(pool)
    .await
}

/// How `q` selects products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextMatch {
    /// No search text: every product.
    Everything,
    /// Full text over name and description.
    FullText,
    /// Full text over name and description, ranked by tier: 1 when the
    /// name matches too, else 0.
    Ranked,
    /// Full-text matches whose name matches too (the first relevance tier).
    NameTier,
    /// Full-text matches whose name does not (the second relevance tier).
    DescriptionTier,
    /// Trigram word similarity of the name (typo tolerance for words no
    /// name resembles closely), ranked by it.
    Typo,
}

/// How to look for the matches of a text search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Only among the `n` newest products after the cursor: cheap, and
    /// exact whenever a full page is found there (newest-first orders only).
    Newest(i64),
    /// The matches are expected to be few: fetch them all from the GIN
    /// index and sort them, whatever the planner estimates.
    Sparse,
    /// Let the planner choose.
    Planned,
}

/// One page (`limit` rows, the caller asks one more) of active products
/// matching `filter` and `text`, after `after`, looked for as `scan` says.
/// Relevance tiers are listed newest first; similarity matches most similar
/// first.
///
/// Every fragment is a constant; every value is a bind parameter. A
/// statement whose plan the query itself fixes (a probe of the newest
/// products, a sparse scan) stays prepared on its connection; a `Planned`
/// one is planned with its values every time, since a generic plan cannot
/// see how selective they are.
#[tracing::instrument(skip_all, fields(sort = ?filter.sort, text = ?text, scan = ?scan))]
pub async fn list(
    pool: &PgPool,
    filter: &ProductFilter,
    text: TextMatch,
    scan: Scan,
    after: Option<&CursorKey>,
    limit: i64,
) -> sqlx::Result<Vec<Product>> {
    let q = filter.q.as_deref().unwrap_or_default();
    // A search finds its page by sort keys alone, then reads the page's
    // products: a sparse scan sorts narrow rows, and a probe of the newest
    // products reads names from the index (index-only) instead of the
    // table.
    let narrow = scan != Scan::Planned;
    let mut query = QueryBuilder::<Postgres>::new("");
    if narrow {
        query
            .push("select * from (select ")
            .push(P_COLUMNS)
            .push(", hits.rank from (");
    }
    query.push("select * from (select ");
    query.push(if narrow {
        key_columns(filter.sort)
    } else {
        product_columns!()
    });
    match text {
        TextMatch::Typo => {
            query
                .push(", word_similarity(")
                .push_bind(q)
                .push(", name)::float8 as rank");
        }
        TextMatch::Ranked => {
            query.push(", case when name_search @@ tsq then 1::float8 else 0::float8 end as rank");
        }
        TextMatch::NameTier => {
            query.push(", 1::float8 as rank");
        }
        TextMatch::DescriptionTier => {
            query.push(", 0::float8 as rank");
        }
        TextMatch::Everything | TextMatch::FullText => {
            query.push(", null::float8 as rank");
        }
    }
    match (scan, after) {
        (
            Scan::Newest(window),
            Some(CursorKey::Tier { t, id, .. } | CursorKey::Newest { t, id }),
        ) => {
            query
                .push(
                    " from (select * from products where active \
                     and (created_at, product_id) < (",
                )
                .push_bind(t)
                .push(", ")
                .push_bind(id)
                .push(") order by created_at desc, product_id desc limit ")
                .push(window)
                .push(") products");
        }
        (Scan::Newest(window), _) => {
            query
                .push(
                    " from (select * from products where active \
                     order by created_at desc, product_id desc limit ",
                )
                .push(window)
                .push(") products");
        }
        (Scan::Sparse | Scan::Planned, _) => {
            query.push(" from products");
        }
    }
    if matches!(
        text,
        TextMatch::FullText | TextMatch::Ranked | TextMatch::NameTier | TextMatch::DescriptionTier
    ) {
        query
            .push(", websearch_to_tsquery('english', ")
            .push_bind(q)
            .push(") as tsq");
    }
    // (The probe's rows are active already: asking again would read the
    // table for a column the index does not hold.)
    query.push(match scan {
        Scan::Newest(_) => " where true",
        Scan::Sparse | Scan::Planned => " where active",
    });
    match text {
        TextMatch::Everything => {}
        // GIN trigram index on name.
        TextMatch::Typo => {
            query.push(" and ").push_bind(q).push(" <% name");
        }
        // GIN index on the weighted name + description tsvector.
        TextMatch::FullText | TextMatch::Ranked => match plain_words(q) {
            // One condition per word: the index intersects their posting
            // lists (about ten times faster than matching each entry of
            // the shorter list against the whole query). A stop word
            // stands for nothing; it asks the whole query instead.
            Some(words) => {
                for word in words {
                    query
                        .push(" and search @@ (case when numnode(websearch_to_tsquery('english', ")
                        .push_bind(word)
                        .push(")) > 0 then websearch_to_tsquery('english', ")
                        .push_bind(word)
                        .push(") else websearch_to_tsquery('english', ")
                        .push_bind(q)
                        .push(") end)");
                }
            }
            None => {
                query.push(" and search @@ tsq");
            }
        },
        // GIN index on the name tsvector. A name match is a full match
        // too, unless the query excludes words the description holds.
        TextMatch::NameTier if has_exclusion(q) => {
            query.push(" and name_search @@ tsq and search @@ tsq");
        }
        TextMatch::NameTier => {
            query.push(" and name_search @@ tsq");
        }
        TextMatch::DescriptionTier => {
            query.push(" and search @@ tsq and not (name_search @@ tsq)");
        }
    }
    if let Some(category_id) = filter.category_id {
        query
            .push(
                " and category_id = any(array(with recursive subtree as (\
                 select category_id from categories where category_id = ",
            )
            .push_bind(category_id)
            .push(
                " union select c.category_id from categories c \
                 join subtree s on c.parent_id = s.category_id) \
                 select category_id from subtree))",
            );
    }
    if let Some(min) = filter.min_price {
        query.push(" and price_cents >= ").push_bind(min);
    }
    if let Some(max) = filter.max_price {
        query.push(" and price_cents <= ").push_bind(max);
    }
    match filter.in_stock {
        Some(true) => {
            query.push(" and on_hand > reserved");
        }
        Some(false) => {
            query.push(" and on_hand <= reserved");
        }
        None => {}
    }
    if let Some(ids) = &filter.ids {
        query
            .push(" and product_id = any(")
            .push_bind(ids)
            .push(")");
    }
    query.push(") page where true");
    match after {
        None => {}
        Some(CursorKey::Tier { tier, t, id }) if text == TextMatch::Ranked => {
            let rank = if *tier == 1 { 1.0_f64 } else { 0.0 };
            query
                .push(" and (rank, created_at, product_id) < (")
                .push_bind(rank)
                .push(", ")
                .push_bind(t)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        Some(CursorKey::Tier { t, id, .. }) => {
            query
                .push(" and (created_at, product_id) < (")
                .push_bind(t)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        Some(CursorKey::Relevance { r, id }) => {
            query
                .push(" and (rank, product_id) < (")
                .push_bind(r)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        Some(CursorKey::PriceAsc { p, id }) => {
            query
                .push(" and (price_cents, product_id) > (")
                .push_bind(p)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        Some(CursorKey::PriceDesc { p, id }) => {
            query
                .push(" and (price_cents, product_id) < (")
                .push_bind(p)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        Some(CursorKey::Newest { t, id }) => {
            query
                .push(" and (created_at, product_id) < (")
                .push_bind(t)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        Some(CursorKey::Name { n, id }) => {
            query
                .push(" and (name, product_id) > (")
                .push_bind(n)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
    }
    // When the caller expects few matches (several required words, a rare
    // word, similar names), an order no index provides makes the planner
    // fetch them from the GIN index and sort them. Left to itself, it may
    // walk an ordered index through the whole table looking for a page of
    // matches that do not exist: it assumes several words independent, and
    // guesses the frequency of a word missing from its statistics.
    let opaque = text != TextMatch::Everything && scan == Scan::Sparse;
    let order = match (filter.sort, text, opaque) {
        (Sort::Relevance, TextMatch::Typo, _) => " order by rank desc, product_id desc",
        (Sort::Relevance, TextMatch::Ranked, _) => {
            " order by rank desc, created_at desc, product_id desc"
        }
        (Sort::Relevance | Sort::Newest, _, false) => " order by created_at desc, product_id desc",
        (Sort::Relevance | Sort::Newest, _, true) => {
            " order by created_at + interval '0 seconds' desc, product_id desc"
        }
        (Sort::PriceAsc, _, false) => " order by price_cents, product_id",
        (Sort::PriceAsc, _, true) => " order by price_cents + 0, product_id",
        (Sort::PriceDesc, _, false) => " order by price_cents desc, product_id desc",
        (Sort::PriceDesc, _, true) => " order by price_cents + 0 desc, product_id desc",
        (Sort::Name, _, false) => " order by name, product_id",
        (Sort::Name, _, true) => " order by name || '', product_id",
    };
    query.push(order).push(" limit ").push_bind(limit);
    if narrow {
        query
            .push(") hits join products p on p.product_id = hits.product_id) page")
            .push(order);
    }
    query
        .build_query_as()
        .persistent(scan != Scan::Planned)
        .fetch_all(pool)
        .await
}

/// Whether web-search text requires several words (`brass lamp`,
/// `"desk lamp"`), as opposed to one word or alternatives (`lamp or rug`).
pub fn several_words(q: &str) -> bool {
    let words = q
        .split(|c: char| c.is_whitespace() || c == '"')
        .filter(|w| !w.is_empty() && !w.starts_with('-'))
        .collect::<Vec<_>>();
    words.len() > 1 && !words.iter().any(|w| w.eq_ignore_ascii_case("or"))
}

/// The words of web-search text that is only several plain words (letters
/// and digits, no `or`, no quotes, no exclusion): its query is exactly the
/// conjunction of theirs.
fn plain_words(q: &str) -> Option<Vec<&str>> {
    let words: Vec<&str> = q.split_whitespace().collect();
    let plain = words.len() > 1
        && words
            .iter()
            .all(|w| w.chars().all(char::is_alphanumeric) && !w.eq_ignore_ascii_case("or"));
    plain.then_some(words)
}

/// Whether every word of web-search text is required (no `or`, no
/// exclusion), so that one unknown word means no match.
pub fn every_word_required(q: &str) -> bool {
    !has_exclusion(q)
        && !q
            .split(|c: char| c.is_whitespace() || c == '"')
            .any(|w| w.eq_ignore_ascii_case("or"))
}

/// Whether web-search text excludes a word (`lamp -brass`).
fn has_exclusion(q: &str) -> bool {
    q.split_whitespace()
        .any(|word| word.len() > 1 && word.starts_with('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_words_means_a_conjunction() {
        assert!(several_words("brass lamp"));
        assert!(several_words("\"desk lamp\""));
        assert!(!several_words("lamp"));
        assert!(!several_words("lamp -brass"));
        assert!(!several_words("lamp or rug"));
        assert!(has_exclusion("lamp -brass"));
        assert!(every_word_required("floor lamb"));
        assert!(every_word_required("\"desk lamb\""));
        assert!(!every_word_required("lamb or rug"));
        assert!(!every_word_required("lamp -brasss"));
        assert!(!has_exclusion("lamp - brass"));
        assert_eq!(plain_words("oak  table"), Some(vec!["oak", "table"]));
        assert_eq!(plain_words("Café 60w"), Some(vec!["Café", "60w"]));
        assert_eq!(plain_words("lamp"), None);
        assert_eq!(plain_words("lamp or rug"), None);
        assert_eq!(plain_words("lamp -brass"), None);
        assert_eq!(plain_words("\"desk lamp\""), None);
        assert_eq!(plain_words("desk-lamp rug"), None);
    }
}
