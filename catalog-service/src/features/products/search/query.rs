//! The listing statement, built at run time from the filter, the way the
//! text matches, and how the matches are looked for ([`Scan`]). Every
//! fragment is a constant; every value is a bind parameter. `list` stays
//! runtime-built (`QueryBuilder`, not checked at compile time): its
//! columns, WHERE and ORDER BY are built per request.

use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::super::models::{ProductFilter, Sort};
use super::cursor::CursorKey;
use super::text::{has_exclusion, plain_words};

/// The relevance tier of a full-text match, as a rank: 1 when its name
/// matches too.
const TIER_RANK: &str = "case when name_search @@ tsq then 1::float8 else 0::float8 end";

/// How `q` selects products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextMatch {
    /// No search text: every product.
    Everything,
    /// Full text over name and description.
    FullText,
    /// Full text over name and description, ranked by tier: 1 when the
    /// name matches too, else 0 (both relevance tiers in one pass).
    Ranked,
    /// Full-text matches whose name matches too (the first relevance tier).
    NameTier,
    /// Full-text matches whose name does not (the second relevance tier).
    DescriptionTier,
    /// Trigram word similarity of the name (typo tolerance for words no
    /// name resembles closely), ranked by it.
    Typo,
}

/// How to look for the matches of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Walk the order's index from the cursor, at most this many products,
    /// keeping the matches: cheap when matches are dense, and exact
    /// whenever it fills the page.
    Window(i64),
    /// Read the matches from the text indexes, at most this many (plus one,
    /// to tell "more"), and sort them: exact when they are all there.
    Candidates(i64),
    /// No text: the planner walks the order's index.
    Planned,
}

/// One listing statement: what to match, after which row, how many.
pub struct Listing<'a> {
    /// The validated filter (its `q` is the text matched).
    pub filter: &'a ProductFilter,
    /// How the text matches.
    pub text: TextMatch,
    /// The keyset position the rows follow.
    pub after: Option<&'a CursorKey>,
    /// Rows wanted.
    pub limit: i64,
}

/// The rows of one statement.
pub struct Hits {
    /// The matching products in the listing's order, as keys: the products
    /// themselves come from the product cache (and the database for those
    /// it does not hold), so a page of popular products costs one narrow
    /// statement.
    pub keys: Vec<Key>,
    /// For [`Scan::Candidates`]: the matches read (at most the cap plus
    /// one); more than the cap means the matches were not all read.
    pub candidates: i64,
}

/// A row of a listing statement: which product, its rank, and how many
/// candidates were read.
#[derive(Debug, sqlx::FromRow)]
pub struct Key {
    /// The product.
    pub product_id: Uuid,
    /// Its rank in a relevance order.
    pub rank: Option<f64>,
    #[sqlx(default)]
    candidates: Option<i64>,
}

/// The columns `sort` needs: a listing sorts (or walks) these narrow rows;
/// whole products are read for its page only, by id.
fn key_columns(sort: Sort) -> &'static str {
    match sort {
        Sort::Relevance | Sort::Newest => "product_id, created_at",
        Sort::PriceAsc | Sort::PriceDesc => "product_id, price_cents",
        Sort::Name => "product_id, name",
    }
}

fn order(sort: Sort, text: TextMatch) -> &'static str {
    match (sort, text) {
        (Sort::Relevance, TextMatch::Typo) => " order by rank desc, product_id desc",
        (Sort::Relevance, TextMatch::Ranked) => {
            " order by rank desc, created_at desc, product_id desc"
        }
        // A relevance tier is listed newest first.
        (Sort::Relevance | Sort::Newest, _) => " order by created_at desc, product_id desc",
        (Sort::PriceAsc, _) => " order by price_cents, product_id",
        (Sort::PriceDesc, _) => " order by price_cents desc, product_id desc",
        (Sort::Name, _) => " order by name, product_id",
    }
}

/// Runs one listing statement.
///
/// Statements stay prepared on their connection, and are still planned
/// with their values every time (the pool's `plan_cache_mode`, see
/// `lib.rs`), since a generic plan cannot see how selective they are:
/// measured, a prepared candidates statement fell back to a generic plan
/// that scanned the table for words few products hold, and built whole
/// bitmaps for words every product holds; planned with its values, it
/// reads the text index for rare words and stops at the cap for common
/// ones.
#[tracing::instrument(skip_all, fields(sort = ?listing.filter.sort, text = ?listing.text, scan = ?scan))]
pub async fn list(pool: &PgPool, listing: &Listing<'_>, scan: Scan) -> sqlx::Result<Hits> {
    let filter = listing.filter;
    let q = filter.q.as_deref().unwrap_or_default();
    let text = listing.text;
    let order = order(filter.sort, text);
    let candidates = matches!(scan, Scan::Candidates(_));
    let rank = |query: &mut QueryBuilder<Postgres>| {
        query
            .push("word_similarity(")
            .push_bind(q)
            .push(", name)::float8");
    };

    let mut query = QueryBuilder::<Postgres>::new("");
    if candidates {
        query.push("select *, count(*) over () as candidates from (");
    }
    query.push("select ").push(key_columns(filter.sort));
    match text {
        TextMatch::Typo => {
            query.push(", ");
            rank(&mut query);
            query.push(" as rank");
        }
        TextMatch::Ranked => {
            query.push(", ").push(TIER_RANK).push(" as rank");
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
    if let Scan::Window(rows) = scan {
        // The window starts after the cursor and follows the order's index.
        query.push(" from (select * from products where active");
        if let Some(after) = listing.after {
            after.push_after(&mut query, rank);
        }
        query
            .push(order)
            .push(" limit ")
            .push_bind(rows)
            .push(") products");
    } else {
        query.push(" from products");
    }
    if !matches!(text, TextMatch::Everything | TextMatch::Typo) {
        query
            .push(", websearch_to_tsquery('english', ")
            .push_bind(q)
            .push(") as tsq");
    }
    // (A window's rows are active already: asking again would read the
    // table for a column the index does not hold.)
    query.push(if matches!(scan, Scan::Window(_)) {
        " where true"
    } else {
        " where active"
    });
    push_match(&mut query, text, q, scan);
    push_filters(&mut query, filter);
    match listing.after {
        _ if matches!(scan, Scan::Window(_)) => {}
        // Both tiers at once: the tier is part of the key.
        Some(CursorKey::Tier { tier, t, id }) if text == TextMatch::Ranked => {
            let rank = if *tier == 1 { 1.0_f64 } else { 0.0 };
            query
                .push(" and (")
                .push(TIER_RANK)
                .push(", created_at, product_id) < (")
                .push_bind(rank)
                .push(", ")
                .push_bind(*t)
                .push(", ")
                .push_bind(*id)
                .push(")");
        }
        Some(after) => after.push_after(&mut query, rank),
        None => {}
    }
    if let Scan::Candidates(cap) = scan {
        query
            .push(" limit ")
            .push_bind(cap.saturating_add(1))
            .push(") candidates");
    }
    query.push(order).push(" limit ").push_bind(listing.limit);
    let keys: Vec<Key> = query.build_query_as().fetch_all(pool).await?;
    let candidates = keys
        .first()
        .and_then(|key| key.candidates)
        .unwrap_or_default();
    Ok(Hits { keys, candidates })
}

/// The text condition.
fn push_match(query: &mut QueryBuilder<Postgres>, text: TextMatch, q: &str, scan: Scan) {
    match text {
        TextMatch::Everything => {}
        // GIN trigram index on name.
        TextMatch::Typo => {
            query.push(" and ").push_bind(q).push(" <% name");
        }
        TextMatch::FullText | TextMatch::Ranked => push_full_text(query, q, scan),
        // GIN index on the name tsvector. A name match is a full match
        // too, unless the query excludes words the description holds.
        TextMatch::NameTier if has_exclusion(q) => {
            query.push(" and name_search @@ tsq and search @@ tsq");
        }
        TextMatch::NameTier => {
            query.push(" and name_search @@ tsq");
        }
        TextMatch::DescriptionTier => {
            push_full_text(query, q, scan);
            query.push(" and not (name_search @@ tsq)");
        }
    }
}

/// The full-text condition over name and description (GIN index on the
/// weighted tsvector).
fn push_full_text(query: &mut QueryBuilder<Postgres>, q: &str, scan: Scan) {
    match plain_words(q) {
        // Read from the index, several plain words are one condition each:
        // the index intersects their posting lists (about ten times faster
        // than matching each entry of the shorter list against the whole
        // query). A stop word stands for nothing (Postgres's dictionary
        // says which); it asks the whole query instead. (A window tests
        // rows one by one: there the whole query, parsed once, is cheaper.)
        Some(words) if !matches!(scan, Scan::Window(_)) => {
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
        _ => {
            query.push(" and search @@ tsq");
        }
    }
}

/// Category subtree, price range, availability, batch ids.
fn push_filters(query: &mut QueryBuilder<Postgres>, filter: &ProductFilter) {
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
}
