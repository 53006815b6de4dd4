//! Credentials, refresh tokens and password-reset tokens.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::features::users::models::User;

/// What login needs of an account.
#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    pub user_id: Uuid,
    pub password_hash: String,
    pub full_name: String,
    pub roles: Vec<String>,
}

/// A refresh token's state, locked for the length of the transaction.
#[derive(Debug, sqlx::FromRow)]
pub struct RefreshRow {
    pub refresh_token_id: Uuid,
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[tracing::instrument(skip_all)]
pub async fn insert_user(
    conn: &mut PgConnection,
    user_id: Uuid,
    email: &str,
    password_hash: &str,
    full_name: &str,
    roles: &[String],
) -> sqlx::Result<User> {
    sqlx::query_as!(
        User,
        "insert into users (user_id, email, password_hash, full_name, roles)
         values ($1, $2, $3, $4, $5)
         returning user_id as id, email, full_name, phone, roles, created_at, updated_at",
        user_id,
        email,
        password_hash,
        full_name,
        roles,
    )
    .fetch_one(conn)
    .await
}

/// Adds the admin role to an existing account; `None` when there is none.
#[tracing::instrument(skip_all)]
pub async fn promote_to_admin(conn: &mut PgConnection, email: &str) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        "update users
         set roles = array(select distinct r from unnest(roles || array['admin']) as r order by r),
             updated_at = now()
         where email = $1
         returning user_id as id, email, full_name, phone, roles, created_at, updated_at",
        email,
    )
    .fetch_optional(conn)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn credentials_by_email(pool: &PgPool, email: &str) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as!(
        Credentials,
        "select user_id, password_hash, full_name, roles from users where email = $1",
        email,
    )
    .fetch_optional(pool)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn credentials_by_id(pool: &PgPool, user_id: Uuid) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as!(
        Credentials,
        "select user_id, password_hash, full_name, roles from users where user_id = $1",
        user_id,
    )
    .fetch_optional(pool)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn roles(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<Option<Vec<String>>> {
    sqlx::query_scalar!("select roles from users where user_id = $1", user_id)
        .fetch_optional(conn)
        .await
}

#[tracing::instrument(skip_all)]
pub async fn set_password(
    conn: &mut PgConnection,
    user_id: Uuid,
    password_hash: &str,
) -> sqlx::Result<bool> {
    sqlx::query!(
        "update users set password_hash = $2, updated_at = now() where user_id = $1",
        user_id,
        password_hash,
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
}

#[tracing::instrument(skip_all)]
pub async fn insert_refresh_token(
    conn: &mut PgConnection,
    family_id: Uuid,
    user_id: Uuid,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into refresh_tokens (refresh_token_id, family_id, user_id, token_hash, expires_at)
         values ($1, $2, $3, $4, $5)",
        Uuid::now_v7(),
        family_id,
        user_id,
        token_hash,
        expires_at,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Locks the user's row until the end of the transaction and returns its
/// password hash (`None`: no such user, or deleted meanwhile). Every change
/// to a user's sessions (login, refresh, logout, revocation, password
/// change and reset) takes this lock first, so they happen one after the
/// other per user: a revocation sees every token a refresh inserted, and a
/// refresh after it sees the revocation. Account deletion takes a stronger
/// lock on the same row. `for no key update` leaves foreign-key checks of
/// other inserts (which take a key-share lock) unblocked.
#[tracing::instrument(skip_all)]
pub async fn lock_user(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "select password_hash from users where user_id = $1 for no key update",
        user_id,
    )
    .fetch_optional(conn)
    .await
}

/// The user of the refresh token with this hash, read without a lock (the
/// caller locks the user, then the token).
#[tracing::instrument(skip_all)]
pub async fn refresh_token_owner(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "select user_id from refresh_tokens where token_hash = $1",
        token_hash,
    )
    .fetch_optional(conn)
    .await
}

/// The token with this hash, locked: concurrent refreshes of one token are
/// serialized, so only one of them can rotate it.
#[tracing::instrument(skip_all)]
pub async fn lock_refresh_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> sqlx::Result<Option<RefreshRow>> {
    sqlx::query_as!(
        RefreshRow,
        "select refresh_token_id, family_id, user_id, expires_at, rotated_at, revoked_at
         from refresh_tokens where token_hash = $1
         for update",
        token_hash,
    )
    .fetch_optional(conn)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn mark_rotated(conn: &mut PgConnection, refresh_token_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "update refresh_tokens set rotated_at = now(), updated_at = now()
         where refresh_token_id = $1",
        refresh_token_id,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

#[tracing::instrument(skip_all)]
pub async fn revoke_family(conn: &mut PgConnection, family_id: Uuid) -> sqlx::Result<u64> {
    sqlx::query!(
        "update refresh_tokens set revoked_at = now(), updated_at = now()
         where family_id = $1 and revoked_at is null",
        family_id,
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

/// Revokes the family of the token with this hash, if it is `user_id`'s.
#[tracing::instrument(skip_all)]
pub async fn revoke_family_of(
    conn: &mut PgConnection,
    user_id: Uuid,
    token_hash: &[u8],
) -> sqlx::Result<u64> {
    sqlx::query!(
        "update refresh_tokens set revoked_at = now(), updated_at = now()
         where family_id = (select family_id from refresh_tokens
                            where token_hash = $1 and user_id = $2)
           and revoked_at is null",
        token_hash,
        user_id,
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

#[tracing::instrument(skip_all)]
pub async fn revoke_all_refresh_tokens(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> sqlx::Result<u64> {
    sqlx::query!(
        "update refresh_tokens set revoked_at = now(), updated_at = now()
         where user_id = $1 and revoked_at is null",
        user_id,
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

#[tracing::instrument(skip_all)]
pub async fn insert_reset_token(
    conn: &mut PgConnection,
    user_id: Uuid,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into password_reset_tokens (password_reset_token_id, user_id, token_hash, expires_at)
         values ($1, $2, $3, $4)",
        Uuid::now_v7(),
        user_id,
        token_hash,
        expires_at,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Ends every unused reset token of the user (after a reset or a password
/// change, no other reset link may still work).
#[tracing::instrument(skip_all)]
pub async fn end_reset_tokens(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<u64> {
    sqlx::query!(
        "update password_reset_tokens set used_at = now(), updated_at = now()
         where user_id = $1 and used_at is null",
        user_id,
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

/// The user of an unused, unexpired reset token.
#[tracing::instrument(skip_all)]
pub async fn valid_reset_token(pool: &PgPool, token_hash: &[u8]) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "select user_id from password_reset_tokens
         where token_hash = $1 and used_at is null and expires_at > now()",
        token_hash,
    )
    .fetch_optional(pool)
    .await
}

/// Marks the token used if it still is valid, atomically (single use), and
/// returns its user.
#[tracing::instrument(skip_all)]
pub async fn consume_reset_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "update password_reset_tokens set used_at = now(), updated_at = now()
         where token_hash = $1 and used_at is null and expires_at > now()
         returning user_id",
        token_hash,
    )
    .fetch_optional(conn)
    .await
}
