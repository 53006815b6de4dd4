//! Product rules: unique SKUs and slugs, soft delete, optimistic concurrency.

use axum::http::StatusCode;
use service_kit::pagination::Page;
use service_kit::{ApiError, FieldError};
use sqlx::PgPool;
use uuid::Uuid;

use super::known_words::KnownWords;
use super::models::{
    CursorKey, MatchMode, NewProduct, Product, ProductCursor, ProductFilter, ProductPatch, Sort,
};
use super::repository::{self, Scan, TextMatch};
use crate::features::{slugify, violated_constraint};

/// What can go wrong with products.
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    /// No such product (or it was deleted).
    #[error("product not found")]
    NotFound,
    /// Another product has the SKU.
    #[error("a product with this sku already exists")]
    DuplicateSku,
    /// Another product has the slug.
    #[error("a product with this slug already exists")]
    DuplicateSlug,
    /// The category does not exist.
    #[error("the category does not exist")]
    UnknownCategory,
    /// `If-Match` names a version that is no longer current.
    #[error("the product changed since it was read; fetch it again and retry")]
    PreconditionFailed,
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl ProductError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::DuplicateSku | Self::DuplicateSlug => StatusCode::CONFLICT,
            Self::UnknownCategory => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn from_write(err: sqlx::Error) -> Self {
        match violated_constraint(&err) {
            Some("products_sku_key") => Self::DuplicateSku,
            Some("products_slug_key") => Self::DuplicateSlug,
            Some("products_category_id_fkey") => Self::UnknownCategory,
            _ => Self::Database(err),
        }
    }
}

impl From<ProductError> for ApiError {
    fn from(err: ProductError) -> Self {
        match err {
            ProductError::Database(_) => ApiError::internal(err),
            ProductError::UnknownCategory => {
                ApiError::validation(vec![FieldError::new("category_id", err.to_string())])
            }
            ProductError::DuplicateSku => {
                ApiError::conflict(err.to_string()).with_kind("duplicate-sku")
            }
            ProductError::DuplicateSlug => {
                ApiError::conflict(err.to_string()).with_kind("duplicate-slug")
            }
            _ => ApiError::new(err.status_code(), err.to_string()),
        }
    }
}

/// The entity tags of an `If-Match` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current representation.
    Any,
    /// Quoted strong tags.
    Tags(Vec<String>),
}

impl IfMatch {
    fn matches(&self, etag: &str) -> bool {
        match self {
            Self::Any => true,
            // If-Match uses the strong comparison: weak tags never match.
            Self::Tags(tags) => tags.iter().any(|tag| tag == etag),
        }
    }
}

/// Creates a product, recording its initial stock in the audit trail.
pub async fn create(
    pool: &PgPool,
    product: NewProduct,
    actor_id: Uuid,
) -> Result<Product, ProductError> {
    let slug = match &product.slug {
        Some(slug) => slug.clone(),
        None => default_slug(&product.name, &product.sku),
    };
    let mut tx = pool.begin().await?;
    let created = repository::insert(&mut tx, &product, &slug)
        .await
        .map_err(ProductError::from_write)?;
    if product.initial_stock > 0 {
        repository::record_initial_stock(&mut tx, created.id, product.initial_stock, actor_id)
            .await?;
    }
    tx.commit().await?;
    Ok(created)
}

/// A product that is not deleted.
pub async fn get(pool: &PgPool, product_id: Uuid) -> Result<Product, ProductError> {
    repository::find(pool, product_id)
        .await?
        .ok_or(ProductError::NotFound)
}

/// Changes the fields present in `patch`, provided the product is still the
/// one `if_match` names.
pub async fn update(
    pool: &PgPool,
    product_id: Uuid,
    patch: ProductPatch,
    if_match: Option<IfMatch>,
) -> Result<Product, ProductError> {
    let mut tx = pool.begin().await?;
    let current = repository::find_for_update(&mut tx, product_id)
        .await?
        .ok_or(ProductError::NotFound)?;
    if if_match.is_some_and(|tags| !tags.matches(&current.etag())) {
        return Err(ProductError::PreconditionFailed);
    }
    if patch.is_empty() {
        return Ok(current);
    }
    let updated = repository::update(&mut tx, product_id, &patch)
        .await
        .map_err(ProductError::from_write)?;
    tx.commit().await?;
    Ok(updated)
}

/// Soft-deletes a product.
pub async fn delete(pool: &PgPool, product_id: Uuid) -> Result<(), ProductError> {
    if repository::soft_delete(pool, product_id).await? {
        Ok(())
    } else {
        Err(ProductError::NotFound)
    }
}

/// A page of the listing.
///
/// Search text matches by full text first. When that finds nothing, the
/// misspelt words are replaced by the closest words of product names
/// (`lamb` -> `lamp`) and the full-text search runs again; words that no
/// name resembles fall back to trigram similarity of whole names. The way
/// the first page matched is kept in the cursor for the following ones.
pub async fn list(
    pool: &PgPool,
    known: &KnownWords,
    filter: ProductFilter,
    limit: u32,
) -> Result<Page<Product>, ProductError> {
    let fetch = i64::from(limit) + 1;
    let after = filter.after.as_ref().map(|a| &a.key);
    let Some(q) = filter.q.clone() else {
        let rows = repository::list(
            pool,
            &filter,
            TextMatch::Everything,
            Scan::Planned,
            after,
            fetch,
        )
        .await?;
        return Ok(Page::from_rows(rows, limit, |p| {
            ProductCursor::after(filter.sort, p, MatchMode::Text)
        }));
    };
    let (mode, rows) = match filter.after.as_ref().map(|a| a.mode) {
        Some(MatchMode::Text) => (MatchMode::Text, text_rows(pool, &filter, fetch).await?),
        Some(MatchMode::Corrected) => {
            let rows = match correct(pool, &q).await?.text {
                Some(text) => text_rows(pool, &with_text(&filter, text), fetch).await?,
                None => Vec::new(),
            };
            (MatchMode::Corrected, rows)
        }
        Some(MatchMode::Similar) => (
            MatchMode::Similar,
            similar_rows(pool, &filter, fetch).await?,
        ),
        None => first_page(pool, known, &filter, &q, fetch).await?,
    };
    Ok(Page::from_rows(rows, limit, |p| {
        ProductCursor::after(filter.sort, p, mode)
    }))
}

/// The first page of a search: as typed, else corrected, else similar.
async fn first_page(
    pool: &PgPool,
    known: &KnownWords,
    filter: &ProductFilter,
    q: &str,
    fetch: i64,
) -> Result<(MatchMode, Vec<Product>), ProductError> {
    // One required word that no product has ever held cannot match as
    // typed: it goes straight to its correction, found in the same round
    // trip, instead of a probe of the newest products that would find
    // nothing. A text known before is known still (the catalog forgets no
    // word). (Several words come from the full-text index, which answers at
    // once when one of them is unknown.)
    let mut correction = None;
    if repository::every_word_required(q) && !repository::several_words(q) && !known.contains(q) {
        let words = correctable_words(q);
        let (unknown, closest) =
            repository::check_words(pool, q, &words, MIN_TERM_SIMILARITY).await?;
        if unknown {
            correction = Some(corrected(q, closest));
        } else {
            known.insert(q);
        }
    }
    if correction.is_none() {
        let rows = text_rows(pool, filter, fetch).await?;
        if !rows.is_empty() {
            return Ok((MatchMode::Text, rows));
        }
    }
    let correction = match correction {
        Some(correction) => correction,
        None => correct(pool, q).await?,
    };
    if let Some(text) = correction.text {
        let rows = text_rows(pool, &with_text(filter, text), fetch).await?;
        if !rows.is_empty() {
            return Ok((MatchMode::Corrected, rows));
        }
    }
    if correction.unknown {
        return Ok((MatchMode::Similar, similar_rows(pool, filter, fetch).await?));
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

/// Full-text matches in the filter's order, after its cursor.
async fn text_rows(
    pool: &PgPool,
    filter: &ProductFilter,
    fetch: i64,
) -> Result<Vec<Product>, ProductError> {
    let after = filter.after.as_ref().map(|a| &a.key);
    if filter.sort != Sort::Relevance {
        return text_page(pool, filter, TextMatch::FullText, after, fetch).await;
    }
    if filter.q.as_deref().is_some_and(repository::several_words) {
        // Several required words: the matches are expected to be few, and
        // one pass over the full-text index ranks both tiers.
        let text = TextMatch::Ranked;
        return Ok(repository::list(pool, filter, text, Scan::Sparse, after, fetch).await?);
    }
    // Name matches, then description-only matches.
    let in_second_tier = matches!(after, Some(CursorKey::Tier { tier: 2, .. }));
    let mut rows = Vec::new();
    if !in_second_tier {
        rows = text_page(pool, filter, TextMatch::NameTier, after, fetch).await?;
    }
    if (rows.len() as i64) < fetch {
        let tier_after = after.filter(|_| in_second_tier);
        let rest = fetch - rows.len() as i64;
        rows.extend(text_page(pool, filter, TextMatch::DescriptionTier, tier_after, rest).await?);
    }
    Ok(rows)
}

/// Matches by trigram similarity of names.
async fn similar_rows(
    pool: &PgPool,
    filter: &ProductFilter,
    fetch: i64,
) -> Result<Vec<Product>, ProductError> {
    let after = filter.after.as_ref().map(|a| &a.key);
    // Few names are similar: fetch them from the trigram index, whatever the
    // order (an ordered scan would compute the similarity of every name).
    Ok(repository::list(pool, filter, TextMatch::Typo, Scan::Sparse, after, fetch).await?)
}

/// Trigram similarity a known word needs to replace a misspelt one: low
/// enough for a swapped pair of letters (`chiar` -> `chair`: 0.2).
const MIN_TERM_SIMILARITY: f32 = 0.2;

/// A search text with its misspelt words replaced.
struct Correction {
    /// The corrected text, when a word was replaced.
    text: Option<String>,
    /// Some word resembles no word of any name.
    unknown: bool,
}

/// Replaces each plain word of `q` (3-40 letters; operators, exclusions and
/// quotes kept as they are) by the closest word of a product name.
async fn correct(pool: &PgPool, q: &str) -> Result<Correction, ProductError> {
    let words = correctable_words(q);
    if words.is_empty() {
        return Ok(corrected(q, Vec::new()));
    }
    let closest = repository::closest_terms(pool, &words, MIN_TERM_SIMILARITY).await?;
    Ok(corrected(q, closest))
}

/// The plain words of `q` a correction may replace, lowercased, in order.
fn correctable_words(q: &str) -> Vec<String> {
    q.split_whitespace()
        .map(split_token)
        .filter(|(_, core, _)| is_correctable(core))
        .map(|(_, core, _)| core.to_ascii_lowercase())
        .collect()
}

/// `q` with its correctable words replaced by `closest` (one entry per
/// word of [`correctable_words`], in order).
fn corrected(q: &str, closest: Vec<Option<String>>) -> Correction {
    // No word to correct: nothing resembles the text.
    let mut unknown = closest.is_empty();
    let mut closest = closest.into_iter();
    let mut replaced = false;
    let mut text = Vec::new();
    for (prefix, core, suffix) in q.split_whitespace().map(split_token) {
        let mut word = core.to_owned();
        if is_correctable(core) {
            match closest.next().flatten() {
                Some(term) if !term.eq_ignore_ascii_case(core) => {
                    replaced = true;
                    word = term;
                }
                Some(_) => {}
                None => unknown = true,
            }
        }
        text.push(format!("{prefix}{word}{suffix}"));
    }
    Correction {
        text: replaced.then(|| text.join(" ")),
        unknown,
    }
}

/// `-"desk` -> (`-"`, `desk`, ``).
fn split_token(token: &str) -> (&str, &str, &str) {
    let start = token
        .find(|c: char| c != '-' && c != '"')
        .unwrap_or(token.len());
    let (prefix, rest) = token.split_at(start);
    let end = rest.trim_end_matches('"').len();
    let (core, suffix) = rest.split_at(end);
    (prefix, core, suffix)
}

fn is_correctable(word: &str) -> bool {
    (3..=40).contains(&word.len())
        && word.bytes().all(|b| b.is_ascii_alphabetic())
        && !word.eq_ignore_ascii_case("or")
}

/// Newest products a one-word search first looks among for a page of
/// matches.
const PROBE_WINDOW: i64 = 1000;

/// `fetch` full-text matches in the filter's order.
///
/// For one word (or alternatives) in a newest-first order, the newest
/// products are probed first: a common word fills a page there at once,
/// whatever its number of matches; otherwise the matches are few, and come
/// from the GIN index. (The planner cannot be left to choose: for a word
/// missing from its statistics, a typo say, it may walk the whole table in
/// order looking for a page of matches that do not exist.) Several required
/// words are assumed selective, their estimate being no better, and always
/// come from the GIN index.
async fn text_page(
    pool: &PgPool,
    filter: &ProductFilter,
    text: TextMatch,
    after: Option<&CursorKey>,
    fetch: i64,
) -> Result<Vec<Product>, ProductError> {
    let several = filter.q.as_deref().is_some_and(repository::several_words);
    let newest_first = matches!(filter.sort, Sort::Relevance | Sort::Newest);
    if newest_first && !several {
        let probe = Scan::Newest(PROBE_WINDOW);
        let rows = repository::list(pool, filter, text, probe, after, fetch).await?;
        if rows.len() as i64 >= fetch {
            return Ok(rows);
        }
    }
    Ok(repository::list(pool, filter, text, Scan::Sparse, after, fetch).await?)
}

/// `brass-desk-lamp-lmp-001`: readable, and unique because the SKU is.
fn default_slug(name: &str, sku: &str) -> String {
    let name = slugify(name);
    let sku = slugify(sku);
    match (name.is_empty(), sku.is_empty()) {
        (false, false) => format!("{name}-{sku}"),
        (true, false) => sku,
        (false, true) => name,
        (true, true) => "product".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_slugs_join_name_and_sku() {
        assert_eq!(
            default_slug("Brass Desk Lamp", "LMP-001"),
            "brass-desk-lamp-lmp-001"
        );
        assert_eq!(default_slug("Ωμέγα", "X_1"), "x-1");
    }

    #[test]
    fn tokens_keep_their_operators_around_the_word() {
        assert_eq!(split_token("-\"desk"), ("-\"", "desk", ""));
        assert_eq!(split_token("lamp\""), ("", "lamp", "\""));
        assert_eq!(split_token("lamb"), ("", "lamb", ""));
        assert_eq!(split_token("--"), ("--", "", ""));
        assert!(is_correctable("Lamb"));
        assert!(!is_correctable("or"));
        assert!(!is_correctable("60w"));
    }

    #[test]
    fn if_match_is_a_strong_comparison() {
        let tags = IfMatch::Tags(vec!["\"3.7\"".into()]);
        assert!(tags.matches("\"3.7\""));
        assert!(!tags.matches("\"3.8\""));
        assert!(IfMatch::Any.matches("\"1.0\""));
    }
}
