//! Note rules: a user sees only their own notes.

use service_kit::pagination::Page;
use sqlx::PgPool;
use uuid::Uuid;

use super::models::{NewNote, Note, NoteCursor};
use super::repository;

/// What can go wrong with notes. The service speaks only in these terms;
/// `routes.rs` decides what each one means over HTTP.
#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    /// No such note, or not the caller's.
    #[error("note not found")]
    NotFound,
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// Creates a note for `owner_id`.
pub async fn create(pool: &PgPool, owner_id: Uuid, note: NewNote) -> Result<Note, NoteError> {
    Ok(repository::insert(pool, owner_id, &note).await?)
}

/// One of the owner's notes.
pub async fn get(pool: &PgPool, owner_id: Uuid, note_id: Uuid) -> Result<Note, NoteError> {
    repository::find(pool, owner_id, note_id)
        .await?
        .ok_or(NoteError::NotFound)
}

/// A page of the owner's notes, newest first.
pub async fn list(
    pool: &PgPool,
    owner_id: Uuid,
    after: Option<NoteCursor>,
    limit: u32,
) -> Result<Page<Note>, NoteError> {
    let rows = repository::list(pool, owner_id, after.as_ref(), i64::from(limit) + 1).await?;
    Ok(Page::from_rows(rows, limit, |n| NoteCursor {
        created_at: n.created_at.into(),
        id: n.id,
    }))
}
