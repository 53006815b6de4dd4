//! Account SQL: profiles, preferences, roles.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::models::{Contact, Preferences, ProfileChange, User, UserCursor};

#[tracing::instrument(skip_all)]
pub async fn find(pool: &PgPool, user_id: Uuid) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        "select user_id as id, email, full_name, phone, roles, created_at, updated_at
         from users where user_id = $1",
        user_id,
    )
    .fetch_optional(pool)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn find_contact(pool: &PgPool, user_id: Uuid) -> sqlx::Result<Option<Contact>> {
    sqlx::query_as!(
        Contact,
        "select user_id as id, email, full_name, phone from users where user_id = $1",
        user_id,
    )
    .fetch_optional(pool)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn update_profile(
    pool: &PgPool,
    user_id: Uuid,
    change: &ProfileChange,
) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        "update users
         set full_name = coalesce($2, full_name),
             phone = case when $3 then $4 else phone end,
             updated_at = now()
         where user_id = $1
         returning user_id as id, email, full_name, phone, roles, created_at, updated_at",
        user_id,
        change.full_name.as_deref(),
        change.phone.is_some(),
        change.phone.clone().flatten(),
    )
    .fetch_optional(pool)
    .await
}

/// Deletes the account (its tokens and preferences go with it, by cascade)
/// and returns its e-mail address; `None` when there is no such account.
#[tracing::instrument(skip_all)]
pub async fn delete(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "delete from users where user_id = $1 returning email",
        user_id
    )
    .fetch_optional(conn)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn preferences(pool: &PgPool, user_id: Uuid) -> sqlx::Result<Option<Preferences>> {
    sqlx::query_as!(
        Preferences,
        "select language, currency, timezone, marketing_opt_in
         from user_preferences where user_id = $1",
        user_id,
    )
    .fetch_optional(pool)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn upsert_preferences(
    pool: &PgPool,
    user_id: Uuid,
    preferences: &Preferences,
) -> sqlx::Result<Preferences> {
    sqlx::query_as!(
        Preferences,
        "insert into user_preferences (user_id, language, currency, timezone, marketing_opt_in)
         values ($1, $2, $3, $4, $5)
         on conflict (user_id) do update
         set language = excluded.language, currency = excluded.currency,
             timezone = excluded.timezone, marketing_opt_in = excluded.marketing_opt_in,
             updated_at = now()
         returning language, currency, timezone, marketing_opt_in",
        user_id,
        preferences.language,
        preferences.currency,
        preferences.timezone,
        preferences.marketing_opt_in,
    )
    .fetch_one(pool)
    .await
}

/// Whether Postgres knows `name` as a time zone (its IANA database).
#[tracing::instrument(skip_all)]
pub async fn timezone_exists(pool: &PgPool, name: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from pg_timezone_names where name = $1) as "exists!""#,
        name,
    )
    .fetch_one(pool)
    .await
}

/// Oldest first, `limit` rows after `after`, optionally only e-mails
/// containing `email` (already lower-case).
#[tracing::instrument(skip_all)]
pub async fn list(
    pool: &PgPool,
    email: Option<&str>,
    after: Option<&UserCursor>,
    limit: i64,
) -> sqlx::Result<Vec<User>> {
    sqlx::query_as!(
        User,
        "select user_id as id, email, full_name, phone, roles, created_at, updated_at
         from users
         where ($1::text is null or strpos(email, $1) > 0)
           and ($2::timestamptz is null or (created_at, user_id) > ($2, $3))
         order by created_at, user_id
         limit $4",
        email,
        after.map(|c| c.created_at.get()),
        after.map(|c| c.id),
        limit,
    )
    .fetch_all(pool)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn set_roles(
    pool: &PgPool,
    user_id: Uuid,
    roles: &[String],
) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        "update users set roles = $2, updated_at = now()
         where user_id = $1
         returning user_id as id, email, full_name, phone, roles, created_at, updated_at",
        user_id,
        roles,
    )
    .fetch_optional(pool)
    .await
}
