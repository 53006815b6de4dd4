//! Account endpoints: the caller's own account and preferences, the admin
//! listing and roles, and the internal contact lookup.

use axum::extract::State;
use axum::http::StatusCode;
use service_kit::auth::{AdminUser, AuthUser, ServiceCaller};
use service_kit::pagination::{Page, PageParams};
use service_kit::{ApiError, Json, Path, Problem, Query};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::models::{Contact, Preferences, SetRoles, UpdateProfile, User, UserFilter};
use super::service::{self, UserError};
use crate::state::AppState;

/// The status of each [`UserError`].
fn status_code(err: &UserError) -> StatusCode {
    match err {
        UserError::NotFound => StatusCode::NOT_FOUND,
        UserError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        UserError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The HTTP meaning of each [`UserError`], in one place.
impl From<UserError> for ApiError {
    fn from(err: UserError) -> Self {
        match err {
            UserError::Invalid(errors) => ApiError::validation(errors),
            UserError::Database(source) => ApiError::database(source),
            err => match status_code(&err) {
                StatusCode::INTERNAL_SERVER_ERROR => ApiError::internal(err),
                status => ApiError::new(status, err.to_string()),
            },
        }
    }
}

/// `/users` routes (under `/api/v1`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, update_me, delete_me))
        .routes(routes!(get_preferences, put_preferences))
        .routes(routes!(list_users))
        .routes(routes!(set_roles))
}

/// Internal routes (under `/internal/v1`): service tokens only.
pub fn internal_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_contact))
}

/// The caller's account.
#[utoipa::path(
    get, path = "/users/me", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "the account was deleted", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_me(State(state): State<AppState>, user: AuthUser) -> Result<Json<User>, ApiError> {
    Ok(Json(service::get(&state.pool, user.id).await?))
}

/// Changes the caller's name or phone (`phone: null` removes it).
#[utoipa::path(
    patch, path = "/users/me", tag = "users", request_body = UpdateProfile,
    security(("bearer" = [])),
    responses(
        (status = 200, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_me(
    State(state): State<AppState>,
    user: AuthUser,
    Json(change): Json<UpdateProfile>,
) -> Result<Json<User>, ApiError> {
    let change = change.parse().map_err(ApiError::validation)?;
    Ok(Json(service::update(&state.pool, user.id, change).await?))
}

/// Deletes the caller's account: personal data erased, every refresh token
/// revoked, and the `user_deleted` event published so that order- and
/// notification-service erase theirs (carts, addresses, preferences,
/// devices, stored messages).
#[utoipa::path(
    delete, path = "/users/me", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_me(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    service::delete(&state.pool, user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's preferences (defaults until set).
#[utoipa::path(
    get, path = "/users/me/preferences", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Preferences),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_preferences(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Preferences>, ApiError> {
    Ok(Json(service::preferences(&state.pool, user.id).await?))
}

/// Replaces the caller's preferences (language BCP 47, currency ISO 4217,
/// timezone IANA).
#[utoipa::path(
    put, path = "/users/me/preferences", tag = "users", request_body = Preferences,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Preferences),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn put_preferences(
    State(state): State<AppState>,
    user: AuthUser,
    Json(preferences): Json<Preferences>,
) -> Result<Json<Preferences>, ApiError> {
    Ok(Json(
        service::set_preferences(&state.pool, user.id, preferences).await?,
    ))
}

/// Every user, oldest first (admin).
#[utoipa::path(
    get, path = "/users", tag = "admin", params(UserFilter),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<User>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(filter): Query<UserFilter>,
) -> Result<Json<Page<User>>, ApiError> {
    let page = PageParams {
        limit: filter.limit,
        cursor: filter.cursor,
    };
    let limit = page.limit()?;
    let users = service::list(&state.pool, filter.email, page.position()?, limit).await?;
    Ok(Json(users))
}

/// Replaces a user's roles (admin); effective from their next token.
#[utoipa::path(
    put, path = "/users/{id}/roles", tag = "admin", request_body = SetRoles,
    params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn set_roles(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
    Json(body): Json<SetRoles>,
) -> Result<Json<User>, ApiError> {
    let roles = body
        .parse()
        .map_err(|e| ApiError::from(UserError::Invalid(vec![e])))?;
    Ok(Json(service::set_roles(&state.pool, id, roles).await?))
}

/// A user's contact details (service tokens only).
#[utoipa::path(
    get, path = "/users/{id}", tag = "internal",
    params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Contact),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not a service token, or not notification-service's", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_contact(
    State(state): State<AppState>,
    _caller: ServiceCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<Contact>, ApiError> {
    Ok(Json(service::contact(&state.pool, id).await?))
}
