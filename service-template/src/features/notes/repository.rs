//! Note SQL.

use sqlx::PgPool;
use uuid::Uuid;

use super::models::{NewNote, Note, NoteCursor};

#[tracing::instrument(skip_all)]
pub async fn insert(pool: &PgPool, owner_id: Uuid, note: &NewNote) -> sqlx::Result<Note> {
    sqlx::query_as(
        "insert into notes (note_id, owner_id, title, body)
         values ($1, $2, $3, $4)
         returning note_id, owner_id, title, body, created_at, updated_at",
    )
    .bind(Uuid::now_v7())
    .bind(owner_id)
    .bind(&note.title)
    .bind(&note.body)
    .fetch_one(pool)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn find(pool: &PgPool, owner_id: Uuid, note_id: Uuid) -> sqlx::Result<Option<Note>> {
    sqlx::query_as(
        "select note_id, owner_id, title, body, created_at, updated_at
         from notes where note_id = $1 and owner_id = $2",
    )
    .bind(note_id)
    .bind(owner_id)
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
    sqlx::query_as(
        "select note_id, owner_id, title, body, created_at, updated_at
         from notes
         where owner_id = $1
           and ($2::timestamptz is null or (created_at, note_id) < ($2, $3))
         order by created_at desc, note_id desc
         limit $4",
    )
    .bind(owner_id)
    .bind(after.map(|c| c.created_at))
    .bind(after.map(|c| c.id))
    .bind(limit)
    .fetch_all(pool)
    .await
}
