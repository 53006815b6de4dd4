//! Search SQL whose text is fixed, checked at compile time: the typo
//! corrections. The listing statement (`query::list`) stays runtime-built
//! (`QueryBuilder`): its columns, WHERE, ORDER BY and scan are built per
//! request from the filter, the text match and the cursor.

use sqlx::PgPool;

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
    sqlx::query_scalar!(
        r#"select array(select coalesce(
                 (select term from search_terms where term = w.word),
                 (select case when similarity(t.term, w.word) >= $2 then t.term end
                  from (select term from search_terms order by term <-> w.word, term limit 1) t))
             from unnest($1::text[]) with ordinality as w(word, n)
             order by w.n) as "terms!: Vec<Option<String>>""#,
        words,
        min_similarity,
    )
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
    sqlx::query!(
        r#"select exists (
             select 1 from unnest(tsvector_to_array(to_tsvector('english', $1))) as w(lexeme)
             where not exists (select 1 from search_lexemes s where s.lexeme = w.lexeme))
           as "unknown!",
         array(select coalesce(
                 (select term from search_terms where term = w.word),
                 (select case when similarity(t.term, w.word) >= $3 then t.term end
                  from (select term from search_terms order by term <-> w.word, term limit 1) t))
             from unnest($2::text[]) with ordinality as w(word, n)
             order by w.n) as "terms!: Vec<Option<String>>""#,
        q,
        words,
        min_similarity,
    )
    .map(|row| (row.unknown, row.terms))
    .fetch_one(pool)
    .await
}
