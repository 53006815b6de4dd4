//! Account rules: a user reads and changes their own profile and
//! preferences; administrators list users and set roles.

use service_kit::FieldError;
use service_kit::outbox::{self, Destination, UserDeleted};
use service_kit::pagination::Page;
use sqlx::PgPool;
use uuid::Uuid;

use super::models::{Contact, Preferences, ProfileChange, User, UserCursor};
use super::repository;

/// What can go wrong with accounts.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// No such user (or a deleted one).
    #[error("user not found")]
    NotFound,
    /// Invalid fields.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// The user's own account.
pub async fn get(pool: &PgPool, user_id: Uuid) -> Result<User, UserError> {
    repository::find(pool, user_id)
        .await?
        .ok_or(UserError::NotFound)
}

/// Contact details (internal, for notifications).
pub async fn contact(pool: &PgPool, user_id: Uuid) -> Result<Contact, UserError> {
    repository::find_contact(pool, user_id)
        .await?
        .ok_or(UserError::NotFound)
}

/// Applies a validated profile change.
pub async fn update(
    pool: &PgPool,
    user_id: Uuid,
    change: ProfileChange,
) -> Result<User, UserError> {
    repository::update_profile(pool, user_id, &change)
        .await?
        .ok_or(UserError::NotFound)
}

/// Deletes the account: personal data, preferences and refresh tokens; in
/// the same transaction, the undelivered (and the failed and delivered)
/// notification events about the user are purged from the outbox, and the
/// `user_deleted` event is published to every service that holds personal
/// data, which erases its own (order- and notification-service).
pub async fn delete(pool: &PgPool, user_id: Uuid) -> Result<(), UserError> {
    let mut tx = pool.begin().await?;
    let Some(email) = repository::delete(&mut tx, user_id).await? else {
        return Err(UserError::NotFound);
    };
    let purged = outbox::purge_notifications_about(&mut tx, user_id, Some(&email)).await?;
    outbox::publish(&mut tx, &UserDeleted::new(user_id), &ERASURE_RECEIVERS).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user_id, purged_events = purged, "account deleted");
    Ok(())
}

/// The services that hold personal data of a user and erase it when they
/// hear `user_deleted`.
pub const ERASURE_RECEIVERS: [Destination; 2] = [
    Destination::user_deletions(outbox::ORDER_SERVICE),
    Destination::user_deletions(outbox::NOTIFICATION_SERVICE),
];

/// The user's preferences, or the defaults when never set.
pub async fn preferences(pool: &PgPool, user_id: Uuid) -> Result<Preferences, UserError> {
    get(pool, user_id).await?;
    Ok(repository::preferences(pool, user_id)
        .await?
        .unwrap_or_default())
}

/// Validates and stores the user's preferences.
pub async fn set_preferences(
    pool: &PgPool,
    user_id: Uuid,
    preferences: Preferences,
) -> Result<Preferences, UserError> {
    // The IANA list is the database's (pg_timezone_names).
    let timezone_known = repository::timezone_exists(pool, preferences.timezone.trim()).await?;
    let (preferences, mut errors) = match preferences.parse() {
        Ok(p) => (p, Vec::new()),
        Err(errors) => (Preferences::default(), errors),
    };
    if !timezone_known {
        errors.push(FieldError::new(
            "timezone",
            "must be an IANA time zone, like Europe/Berlin",
        ));
    }
    if !errors.is_empty() {
        return Err(UserError::Invalid(errors));
    }
    get(pool, user_id).await?;
    Ok(repository::upsert_preferences(pool, user_id, &preferences).await?)
}

/// A page of users, oldest first.
pub async fn list(
    pool: &PgPool,
    email: Option<String>,
    after: Option<UserCursor>,
    limit: u32,
) -> Result<Page<User>, UserError> {
    let email = email
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty());
    let rows =
        repository::list(pool, email.as_deref(), after.as_ref(), i64::from(limit) + 1).await?;
    Ok(Page::from_rows(rows, limit, |u| UserCursor {
        created_at: u.created_at.into(),
        id: u.id,
    }))
}

/// Replaces a user's roles (effective in their next access token).
pub async fn set_roles(
    pool: &PgPool,
    user_id: Uuid,
    roles: Vec<String>,
) -> Result<User, UserError> {
    let user = repository::set_roles(pool, user_id, &roles)
        .await?
        .ok_or(UserError::NotFound)?;
    tracing::info!(user_id = %user_id, roles = ?user.roles, "roles changed");
    Ok(user)
}
