//! The listing and search flow: filters, sorts and keyset pages; text
//! matched as typed, else corrected, else by similar names; every search
//! bounded in the work it may do.

use service_kit::pagination::Page;
use sqlx::PgPool;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

use super::super::models::{Product, ProductEntry, ProductFilter, Sort};
use super::super::service::{self as products, ProductError};
use super::cursor::{CursorKey, MatchMode, ProductCursor};
use super::memory::SearchMemory;
use super::query::{self, Key, Listing, Scan, TextMatch};
use super::repository;
use super::text::{self, Correction};
use crate::cache::Caches;
use crate::config::SearchSettings;

/// What can go wrong with a listing.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The batch lookup failed.
    #[error(transparent)]
    Lookup(#[from] ProductError),
}

/// What a listing reads from.
#[derive(Clone, Copy)]
pub struct Catalog<'a> {
    /// The database, for the listing's own statements: `search_pool`,
    /// planned with their values every time.
    pub pool: &'a PgPool,
    /// The database, for reading products by id (what the cache lacks):
    /// the service's pool, planned once per connection. On `pool` the
    /// lookup of a cart's products was planned anew on every call, 0.24 ms
    /// of planning for 0.03 ms of work (`cargo xtask bench checkout`).
    pub lookup_pool: &'a PgPool,
    /// The product cache (batch lookups by id).
    pub caches: &'a Caches,
    /// What earlier searches learnt about texts.
    pub memory: &'a SearchMemory,
    /// Bounds on the work of one search.
    pub settings: &'a SearchSettings,
}

/// A page of the listing.
///
/// Search text matches by full text first. When that finds nothing, the
/// misspelt words are replaced by the closest words of product names
/// (`lamb` -> `lamp`) and the full-text search runs again; words that no
/// name resembles fall back to trigram similarity of whole names. The way
/// the first page matched is kept in the cursor for the following ones.
pub async fn list(
    catalog: Catalog<'_>,
    filter: ProductFilter,
    limit: u32,
) -> Result<Page<Product>, SearchError> {
    let fetch = i64::from(limit) + 1;
    if is_batch_lookup(&filter) {
        return batch(catalog, &filter, limit).await;
    }
    let Some(q) = filter.q.clone() else {
        let listing = Listing {
            filter: &filter,
            text: TextMatch::Everything,
            after: filter.after.as_ref().map(|a| &a.key),
            limit: fetch,
        };
        let keys = query::list(catalog.pool, &listing, Scan::Planned)
            .await?
            .keys;
        let rows = products_of(catalog, keys).await?;
        return Ok(Page::from_rows(rows, limit, |p| {
            ProductCursor::after(filter.sort, p, MatchMode::Text)
        }));
    };
    let (mode, keys) = match filter.after.as_ref().map(|a| a.mode) {
        Some(MatchMode::Text) => (MatchMode::Text, text_rows(catalog, &filter, fetch).await?),
        Some(MatchMode::Corrected) => {
            let rows = match correct(catalog, &q).await?.text {
                Some(text) => text_rows(catalog, &with_text(&filter, text), fetch).await?,
                None => Vec::new(),
            };
            (MatchMode::Corrected, rows)
        }
        Some(MatchMode::Similar) => (
            MatchMode::Similar,
            similar_rows(catalog, &filter, fetch).await?,
        ),
        None => first_page(catalog, &filter, &q, fetch).await?,
    };
    let rows = products_of(catalog, keys).await?;
    Ok(Page::from_rows(rows, limit, |p| {
        ProductCursor::after(filter.sort, p, mode)
    }))
}

/// The products of `keys`, in their order, with their ranks: from the
/// product cache, and those it does not hold from the database in one
/// statement on `lookup_pool`, planned once per connection (the listing's
/// own statement, planned with its values every time, stays narrow: with
/// the page's columns and images, planning it took several times longer
/// than running it). A product deleted since its key was read is left out.
async fn products_of(catalog: Catalog<'_>, keys: Vec<Key>) -> Result<Vec<Product>, SearchError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = keys.iter().map(|key| key.product_id).collect();
    let mut found: HashMap<Uuid, Arc<ProductEntry>> =
        products::lookup(catalog.lookup_pool, catalog.caches, &ids)
            .await?
            .into_iter()
            .map(|entry| (entry.product.id, entry))
            .collect();
    Ok(keys
        .into_iter()
        .filter_map(|key| {
            let mut product = found.remove(&key.product_id)?.product.clone();
            product.rank = key.rank;
            Some(product)
        })
        .collect())
}

/// A first page of ids (order-service reads carts this way), without text
/// or category, in an order the cached products can be sorted in exactly.
fn is_batch_lookup(filter: &ProductFilter) -> bool {
    filter.ids.is_some()
        && filter.q.is_none()
        && filter.category_id.is_none()
        && filter.after.is_none()
        && matches!(filter.sort, Sort::Newest | Sort::PriceAsc | Sort::PriceDesc)
}

/// The batch lookup, from the product cache: the listing's rules (active
/// products only, the price and stock filters, its order) applied to the
/// cached representations.
async fn batch(
    catalog: Catalog<'_>,
    filter: &ProductFilter,
    limit: u32,
) -> Result<Page<Product>, SearchError> {
    let ids = filter.ids.as_deref().unwrap_or_default();
    let entries = products::lookup(catalog.lookup_pool, catalog.caches, ids).await?;
    let mut rows: Vec<Product> = entries
        .iter()
        .map(|entry| &entry.product)
        .filter(|p| {
            p.active
                && filter.min_price.is_none_or(|min| p.price_cents >= min)
                && filter.max_price.is_none_or(|max| p.price_cents <= max)
                && filter
                    .in_stock
                    .is_none_or(|wanted| (p.available > 0) == wanted)
        })
        .cloned()
        .collect();
    match filter.sort {
        Sort::PriceAsc => rows.sort_by_key(|p| (p.price_cents, p.id)),
        Sort::PriceDesc => rows.sort_by_key(|p| Reverse((p.price_cents, p.id))),
        _ => rows.sort_by_key(|p| Reverse((p.created_at, p.id))),
    }
    Ok(Page::from_rows(rows, limit, |p| {
        ProductCursor::after(filter.sort, p, MatchMode::Text)
    }))
}

/// The first page of a search: as typed, else corrected, else similar.
async fn first_page(
    catalog: Catalog<'_>,
    filter: &ProductFilter,
    q: &str,
    fetch: i64,
) -> Result<(MatchMode, Vec<Key>), SearchError> {
    // One required word that no product has ever held cannot match as
    // typed: it goes straight to its correction, found in the same round
    // trip, instead of a probe of the newest products that would find
    // nothing. A text known before is known still (the catalog forgets no
    // word). (Several words come from the full-text index, which answers at
    // once when one of them is unknown.)
    let mut correction = None;
    if text::every_word_required(q)
        && !text::several_words(q)
        && !catalog.memory.known_words.contains(q)
    {
        let words = text::correctable_words(q);
        let (unknown, closest) =
            repository::check_words(catalog.pool, q, &words, MIN_TERM_SIMILARITY).await?;
        if unknown {
            correction = Some(text::corrected(q, closest));
        } else {
            catalog.memory.known_words.insert(q);
        }
    }
    if correction.is_none() {
        let rows = text_rows(catalog, filter, fetch).await?;
        if !rows.is_empty() {
            return Ok((MatchMode::Text, rows));
        }
    }
    let correction = match correction {
        Some(correction) => correction,
        // Corrected, the text would stay as it is: nothing matches it.
        None if catalog.memory.name_words.contains(q) => {
            return Ok((MatchMode::Text, Vec::new()));
        }
        None => correct(catalog, q).await?,
    };
    if let Some(text) = correction.text {
        let rows = text_rows(catalog, &with_text(filter, text), fetch).await?;
        if !rows.is_empty() {
            return Ok((MatchMode::Corrected, rows));
        }
    }
    if correction.unknown {
        return Ok((
            MatchMode::Similar,
            similar_rows(catalog, filter, fetch).await?,
        ));
    }
    // Every word is a known word: nothing matches them together.
    Ok((MatchMode::Text, Vec::new()))
}

fn with_text(filter: &ProductFilter, text: String) -> ProductFilter {
    ProductFilter {
        q: Some(text),
        ..filter.clone()
    }
}

/// Full-text matches in the filter's order, after its cursor. Relevance
/// lists the products whose name matches (tier 1), then those matching by
/// description only (tier 2), newest first within each.
async fn text_rows(
    catalog: Catalog<'_>,
    filter: &ProductFilter,
    fetch: i64,
) -> Result<Vec<Key>, SearchError> {
    let after = filter.after.as_ref().map(|a| &a.key);
    let q = filter.q.as_deref().unwrap_or_default();
    let several = text::several_words(q);
    if filter.sort != Sort::Relevance {
        let text = TextMatch::FullText;
        let plan = if several {
            Plan::Candidates
        } else {
            Plan::Probe
        };
        return Ok(bounded_page(catalog, filter, text, after, fetch, plan).await?);
    }
    if several && !catalog.memory.crowded.contains(q) {
        // Several required words usually match few products: one capped
        // read of the index ranks both tiers at once.
        let listing = Listing {
            filter,
            text: TextMatch::Ranked,
            after,
            limit: fetch,
        };
        let cap = catalog.settings.max_candidates;
        let hits = query::list(catalog.pool, &listing, Scan::Candidates(cap)).await?;
        if hits.candidates <= cap {
            return Ok(hits.keys);
        }
        // Too many to sort: tier by tier, now and for the text's next
        // searches.
        catalog.memory.crowded.insert(q);
    }
    let in_second_tier = after.and_then(CursorKey::tier) == Some(2);
    let mut rows = Vec::new();
    // How the second tier is looked for. One word: a common one fills a
    // page among the newest products at once (probe first). Several words
    // that overflowed the capped read above: past the first tier, every
    // match counted there is a description match, so they are too many to
    // sort and are walked for; else see below.
    let mut second = match (several, in_second_tier) {
        (false, _) => Plan::Probe,
        (true, true) => Plan::Walk,
        (true, false) => Plan::Candidates,
    };
    if !in_second_tier {
        let text = TextMatch::NameTier;
        rows = if several {
            // Several words rarely all sit in a name: the name index first.
            let listing = Listing {
                filter,
                text,
                after,
                limit: fetch,
            };
            let cap = catalog.settings.max_candidates;
            let hits = query::list(catalog.pool, &listing, Scan::Candidates(cap)).await?;
            if hits.candidates <= cap / 2 {
                // More than `cap` matches in all, at most half of `cap` of
                // them in names: at least half of `cap` are description
                // matches, dense enough to walk the newest products for.
                second = Plan::Walk;
            }
            if hits.candidates <= cap {
                hits.keys
            } else {
                bounded_page(catalog, filter, text, after, fetch, Plan::Probe).await?
            }
        } else {
            bounded_page(catalog, filter, text, after, fetch, Plan::Probe).await?
        };
    }
    if (rows.len() as i64) < fetch {
        let tier_after = after.filter(|_| in_second_tier);
        let rest = fetch - rows.len() as i64;
        let text = TextMatch::DescriptionTier;
        rows.extend(bounded_page(catalog, filter, text, tier_after, rest, second).await?);
    }
    Ok(rows)
}

/// Which way [`bounded_page`] looks first (and in which order after).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Probe, candidates, walk: for a common word (or a conjunction known
    /// to be dense), which fills a page among the newest products at once.
    Probe,
    /// Candidates, probe, walk: for several words not known to be dense,
    /// which usually match few products.
    Candidates,
    /// Walk, then candidates when the walk does not fill the page: for
    /// matches known to be too many to sort (the walk stops as soon as the
    /// page is full; a probe first would only read its start twice).
    Walk,
}

/// `fetch` full-text matches in the filter's order, looked for with
/// bounded work; exact except in the one case the README's "Search"
/// states. Three ways to look, each bounded, tried in the order of `plan`:
///
/// - **probe** (newest-first orders): walk the newest products from the
///   cursor, at most `probe_rows`, keeping the matches: a common word or a
///   dense conjunction (`companion pairs`) fills a page there at once,
///   whatever the number of its matches; exact when it fills the page.
/// - **candidates**: read the matches from the text indexes, at most
///   `max_candidates` (plus one, to tell "more"), and sort them: exact
///   when that is all of them.
/// - **walk**: more matches than that are dense enough to walk the order's
///   own index (newest, price or name) from the cursor, keeping the
///   matches, at most `max_walk_rows` products: a page that walk does not
///   fill is the listing's last.
///
/// (The planner cannot be left to choose: it assumes several words
/// independent and guesses the frequency of a word missing from its
/// statistics, so it may sort every match of a dense conjunction, or walk
/// the whole table for a page of matches that do not exist.)
async fn bounded_page(
    catalog: Catalog<'_>,
    filter: &ProductFilter,
    text: TextMatch,
    after: Option<&CursorKey>,
    fetch: i64,
    plan: Plan,
) -> Result<Vec<Key>, sqlx::Error> {
    let listing = Listing {
        filter,
        text,
        after,
        limit: fetch,
    };
    let settings = catalog.settings;
    let newest_first = matches!(filter.sort, Sort::Relevance | Sort::Newest);
    let cap = settings.max_candidates;
    let walk = Scan::Window(settings.max_walk_rows);
    if plan == Plan::Walk {
        let walked = query::list(catalog.pool, &listing, walk).await?.keys;
        if walked.len() as i64 >= fetch {
            return Ok(walked);
        }
        let hits = query::list(catalog.pool, &listing, Scan::Candidates(cap)).await?;
        return Ok(if hits.candidates <= cap {
            hits.keys
        } else {
            walked
        });
    }
    let probe = Scan::Window(settings.probe_rows);
    if newest_first && plan == Plan::Probe {
        let rows = query::list(catalog.pool, &listing, probe).await?.keys;
        if rows.len() as i64 >= fetch {
            return Ok(rows);
        }
    }
    let hits = query::list(catalog.pool, &listing, Scan::Candidates(cap)).await?;
    if hits.candidates <= cap {
        return Ok(hits.keys);
    }
    if newest_first && plan == Plan::Candidates {
        let rows = query::list(catalog.pool, &listing, probe).await?.keys;
        if rows.len() as i64 >= fetch {
            return Ok(rows);
        }
    }
    Ok(query::list(catalog.pool, &listing, walk).await?.keys)
}

/// Matches by trigram similarity of names: few names are similar, so they
/// come from the trigram index, at most `max_candidates` of them. Sorted by
/// similarity (an order no index gives), a page is ranked among those
/// candidates; other orders walk their index when there are more.
async fn similar_rows(
    catalog: Catalog<'_>,
    filter: &ProductFilter,
    fetch: i64,
) -> Result<Vec<Key>, SearchError> {
    let listing = Listing {
        filter,
        text: TextMatch::Typo,
        after: filter.after.as_ref().map(|a| &a.key),
        limit: fetch,
    };
    let cap = catalog.settings.max_candidates;
    let hits = query::list(catalog.pool, &listing, Scan::Candidates(cap)).await?;
    if hits.candidates <= cap || filter.sort == Sort::Relevance {
        return Ok(hits.keys);
    }
    let walk = Scan::Window(catalog.settings.max_walk_rows);
    Ok(query::list(catalog.pool, &listing, walk).await?.keys)
}

/// Trigram similarity a known word needs to replace a misspelt one: low
/// enough for a swapped pair of letters (`chiar` -> `chair`: 0.2).
const MIN_TERM_SIMILARITY: f32 = 0.2;

/// Replaces each plain word of `q` (3-40 letters; operators, exclusions and
/// quotes kept as they are) by the closest word of a product name.
async fn correct(catalog: Catalog<'_>, q: &str) -> Result<Correction, SearchError> {
    let words = text::correctable_words(q);
    if words.is_empty() {
        return Ok(text::corrected(q, Vec::new()));
    }
    let closest = repository::closest_terms(catalog.pool, &words, MIN_TERM_SIMILARITY).await?;
    let correction = text::corrected(q, closest);
    if correction.text.is_none() && !correction.unknown {
        catalog.memory.name_words.insert(q);
    }
    Ok(correction)
}
