//! Note SQL. Every statement is a query macro, checked when it compiles:
//! against `.sqlx/` (committed), or against the database named by this
//! crate's `sqlx.toml` variable when `cargo xtask sqlx prepare` runs.

use sqlx::PgPool;
use uuid::Uuid;

use super::models::{NewNote, Note, NoteCursor};

#[tracing::instrument(skip_all)]
pub async fn insert(pool: &PgPool, owner_id: Uuid, note: &NewNote) -> sqlx::Result<Note> {
    sqlx::query_as!(
        Note,
        "insert into notes (note_id, owner_id, title, body)
         values ($1, $2, $3, $4)
         returning note_id as id, owner_id, title, body, created_at, updated_at",
        Uuid::now_v7(),
        owner_id,
        note.title,
        note.body,
    )
    .fetch_one(pool)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn find(pool: &PgPool, owner_id: Uuid, note_id: Uuid) -> sqlx::Result<Option<Note>> {
    sqlx::query_as!(
        Note,
        "select note_id as id, owner_id, title, body, created_at, updated_at
         from notes where note_id = $1 and owner_id = $2",
        note_id,
        owner_id,
    )
    .fetch_optional(pool)
    .await
}

/// Newest first, `limit` rows after `after` (exclusive).
#[tracing::instrument(skip_all)]
pub async fn list(
    pool: &PgPool,
    owner_id: Uuid,
    after: Option<&NoteCursor>,
    limit: i64,
) -> sqlx::Result<Vec<Note>> {
    sqlx::query_as!(
        Note,
        "select note_id as id, owner_id, title, body, created_at, updated_at
         from notes
         where owner_id = $1
           and ($2::timestamptz is null or (created_at, note_id) < ($2, $3))
         order by created_at desc, note_id desc
         limit $4",
        owner_id,
        after.map(|c| c.created_at.get()),
        after.map(|c| c.id),
        limit,
    )
    .fetch_all(pool)
    .await
}
