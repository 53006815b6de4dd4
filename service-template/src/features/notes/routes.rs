//! Note endpoints.

use axum::extract::State;
use axum::http::StatusCode;
use service_kit::auth::AuthUser;
use service_kit::pagination::{Page, PageParams};
use service_kit::{ApiError, Json, Path, Problem, Query, ValidJson};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::models::{NewNote, Note};
use super::service::{self, NoteError};
use crate::state::AppState;

/// `/notes` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_note, list_notes))
        .routes(routes!(get_note))
}

/// The HTTP meaning of each [`NoteError`], in one place: a client error
/// says what went wrong; a server error's body stays generic while its
/// cause chain goes to the log once (the kit renders both as problem+json).
impl From<NoteError> for ApiError {
    fn from(err: NoteError) -> Self {
        match err {
            NoteError::NotFound => ApiError::new(StatusCode::NOT_FOUND, err.to_string()),
            NoteError::Database(source) => ApiError::database(source),
        }
    }
}

/// Creates a note owned by the caller.
#[utoipa::path(
    post, path = "/notes", tag = "notes", request_body = NewNote,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Note),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_note(
    State(state): State<AppState>,
    user: AuthUser,
    ValidJson(note): ValidJson<NewNote>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let note = service::create(&state.pool, user.id, note).await?;
    Ok((StatusCode::CREATED, Json(note)))
}

/// The caller's notes, newest first.
#[utoipa::path(
    get, path = "/notes", tag = "notes", params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<Note>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_notes(
    State(state): State<AppState>,
    user: AuthUser,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Note>>, ApiError> {
    let limit = page.limit()?;
    let notes = service::list(&state.pool, user.id, page.position()?, limit).await?;
    Ok(Json(notes))
}

/// One of the caller's notes; another user's note is 404.
#[utoipa::path(
    get, path = "/notes/{id}", tag = "notes", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Note),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_note(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Note>, ApiError> {
    Ok(Json(service::get(&state.pool, user.id, id).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_note_error_has_its_status() {
        assert_eq!(ApiError::from(NoteError::NotFound).status(), StatusCode::NOT_FOUND);
        let db = NoteError::Database(sqlx::Error::PoolTimedOut);
        assert_eq!(ApiError::from(db).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
