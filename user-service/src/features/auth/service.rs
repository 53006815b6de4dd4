//! Authentication rules: accounts and passwords, access and refresh tokens
//! (rotation with reuse detection), password resets, service tokens.

use chrono::{Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use service_kit::FieldError;
use service_kit::auth::ROLE_CUSTOMER;
use service_kit::outbox::{self, Notification};
use service_kit::rate_limit::{LimitError, RateLimited};
use std::net::IpAddr;
use uuid::Uuid;

use super::models::{NewAccount, ServiceToken, TokenPair};
use super::repository;
use crate::features::users::models::{Email, Password, User};
use crate::rate_limit::{account_and_address_key, account_key, user_key};
use crate::state::AppState;
use crate::tokens::{opaque_token, token_digest};

/// How long a password-reset token is valid.
pub const RESET_TOKEN_MINUTES: i64 = 30;

/// What can go wrong in authentication.
#[derive(Debug, thiserror::Error)]
pub enum AuthFlowError {
    /// Unknown e-mail or wrong password: deliberately indistinguishable.
    #[error("Invalid email or password.")]
    InvalidCredentials,
    /// The e-mail is registered already.
    #[error("An account with this email already exists.")]
    EmailTaken,
    /// Unknown, expired, rotated or revoked refresh token.
    #[error("The refresh token is invalid or has expired.")]
    InvalidRefreshToken,
    /// Unknown, used or expired reset token.
    #[error("The reset token is invalid, used or expired.")]
    InvalidResetToken,
    /// Invalid fields.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// Unknown client or wrong secret.
    #[error("Client authentication failed.")]
    InvalidClient,
    /// Another grant than client credentials.
    #[error("Only the client_credentials grant is supported.")]
    UnsupportedGrant,
    /// The client may not obtain tokens for the requested audience
    /// (RFC 6749 5.2 `invalid_scope`).
    #[error("This client may not obtain tokens for the requested audience.")]
    InvalidScope,
    /// The account no longer exists.
    #[error("user not found")]
    NotFound,
    /// Too many attempts (per account, per user, ...): retry later.
    #[error(transparent)]
    RateLimited(RateLimited),
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Hashing or signing failed.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<LimitError> for AuthFlowError {
    fn from(err: LimitError) -> Self {
        match err {
            LimitError::Limited(limited) => Self::RateLimited(limited),
            LimitError::Database(err) => Self::Database(err),
        }
    }
}

/// Logs a counter that could not be taken back: the request itself went
/// fine, and the count only ends a window early.
fn log_uncounted(result: Result<(), sqlx::Error>) {
    if let Err(err) = result {
        tracing::warn!(error = %err, "taking back a rate-limit hit failed");
    }
}

fn is_unique_violation(err: &sqlx::Error, constraint: &str) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.constraint() == Some(constraint))
}

/// Creates a customer account and, in the same transaction, the `welcome`
/// notification event.
pub async fn register(state: &AppState, account: NewAccount) -> Result<User, AuthFlowError> {
    let hash = state.passwords.hash(account.password.secret()).await?;
    let mut tx = state.pool.begin().await?;
    let user = repository::insert_user(
        &mut tx,
        Uuid::now_v7(),
        account.email.as_str(),
        &hash,
        &account.full_name,
        &[ROLE_CUSTOMER.to_owned()],
    )
    .await
    .map_err(|err| {
        if is_unique_violation(&err, "users_email_key") {
            AuthFlowError::EmailTaken
        } else {
            err.into()
        }
    })?;
    let welcome = Notification::new(
        "welcome",
        serde_json::json!({ "full_name": user.full_name }),
    )
    .for_user(user.id)
    .to_email(&user.email);
    outbox::enqueue(&mut tx, &welcome).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "account registered");
    Ok(user)
}

/// Checks the password and starts a new refresh-token family.
///
/// Every attempt is counted before the password is verified, per account
/// from this client address (a small limit: what a stranger can spend) and
/// per account (a higher one: only many addresses together lock an account,
/// and only until the window ends), so concurrent guesses cannot overtake
/// the limits. A successful login takes its attempt back and clears this
/// address's failures. Unknown e-mails are verified against a dummy hash and
/// counted alike: same time, same answer.
pub async fn login(
    state: &AppState,
    email: &Email,
    password: &SecretString,
    client: IpAddr,
) -> Result<TokenPair, AuthFlowError> {
    let limits = &state.limits;
    let (from_here, account) = (account_and_address_key(email, client), account_key(email));
    limits
        .login_failures_per_account_and_address
        .hit(&from_here)
        .await?;
    if let Err(err) = limits.login_failures_per_account.hit(&account).await {
        // Refused before any password was checked: not a guess of this client.
        log_uncounted(
            limits
                .login_failures_per_account_and_address
                .forgive(&from_here)
                .await,
        );
        return Err(err.into());
    }
    let outcome = start_session(state, email, password).await;
    match &outcome {
        Err(AuthFlowError::InvalidCredentials) => {}
        Ok(_) => {
            log_uncounted(
                limits
                    .login_failures_per_account_and_address
                    .clear(&from_here)
                    .await,
            );
            log_uncounted(limits.login_failures_per_account.forgive(&account).await);
        }
        // Our own failure is not the client's guess.
        Err(_) => {
            log_uncounted(
                limits
                    .login_failures_per_account_and_address
                    .forgive(&from_here)
                    .await,
            );
            log_uncounted(limits.login_failures_per_account.forgive(&account).await);
        }
    }
    outcome
}

/// Verifies the password and inserts the new family's first token, unless
/// the password changed (and every session was revoked) meanwhile.
async fn start_session(
    state: &AppState,
    email: &Email,
    password: &SecretString,
) -> Result<TokenPair, AuthFlowError> {
    let credentials = repository::credentials_by_email(&state.pool, email.as_str()).await?;
    let (user_id, hash, roles) = match credentials {
        Some(c) => (Some(c.user_id), Some(c.password_hash), c.roles),
        None => (None, None, Vec::new()),
    };
    let valid = state.passwords.verify(password, hash.clone()).await?;
    let (Some(user_id), Some(hash)) = (user_id.filter(|_| valid), hash) else {
        return Err(AuthFlowError::InvalidCredentials);
    };
    let mut tx = state.pool.begin().await?;
    if repository::lock_user(&mut tx, user_id).await?.as_deref() != Some(hash.as_str()) {
        return Err(AuthFlowError::InvalidCredentials);
    }
    let refresh_token = new_refresh_token(state, &mut tx, Uuid::now_v7(), user_id).await?;
    tx.commit().await?;
    token_pair(state, user_id, &roles, refresh_token)
}

async fn new_refresh_token(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    family_id: Uuid,
    user_id: Uuid,
) -> Result<SecretString, AuthFlowError> {
    let (token, hash) = opaque_token();
    let expires_at = Utc::now() + Duration::days(i64::from(state.settings.jwt.refresh_ttl_days));
    repository::insert_refresh_token(conn, family_id, user_id, &hash, expires_at).await?;
    Ok(token)
}

fn token_pair(
    state: &AppState,
    user_id: Uuid,
    roles: &[String],
    refresh_token: SecretString,
) -> Result<TokenPair, AuthFlowError> {
    let access = state.keys.access_token(user_id, roles)?;
    Ok(TokenPair {
        access_token: access.token,
        token_type: "Bearer",
        expires_in: access.expires_in,
        refresh_token: refresh_token.expose_secret().to_owned(),
    })
}

/// Exchanges a refresh token for a new pair. The presented token stops
/// working; presenting it again means it was stolen (or the client is
/// broken): the whole family is revoked.
///
/// The user's row is locked first (see [`repository::lock_user`]), so a
/// refresh and a revocation of the same user never overlap: a token this
/// refresh inserts is seen by any later revocation, and a refresh after a
/// revocation finds its token revoked.
pub async fn refresh(state: &AppState, token: &SecretString) -> Result<TokenPair, AuthFlowError> {
    let hash = token_digest(token.expose_secret());
    let mut tx = state.pool.begin().await?;
    let Some(user_id) = repository::refresh_token_owner(&mut tx, &hash).await? else {
        return Err(AuthFlowError::InvalidRefreshToken);
    };
    if repository::lock_user(&mut tx, user_id).await?.is_none() {
        return Err(AuthFlowError::InvalidRefreshToken);
    }
    let Some(row) = repository::lock_refresh_token(&mut tx, &hash).await? else {
        return Err(AuthFlowError::InvalidRefreshToken);
    };
    if row.revoked_at.is_some() {
        return Err(AuthFlowError::InvalidRefreshToken);
    }
    if row.rotated_at.is_some() {
        let revoked = repository::revoke_family(&mut tx, row.family_id).await?;
        tx.commit().await?;
        tracing::warn!(user_id = %row.user_id, family_id = %row.family_id, revoked, "rotated refresh token presented again: family revoked");
        return Err(AuthFlowError::InvalidRefreshToken);
    }
    if row.expires_at <= Utc::now() {
        return Err(AuthFlowError::InvalidRefreshToken);
    }
    let roles = repository::roles(&mut tx, row.user_id)
        .await?
        .ok_or(AuthFlowError::InvalidRefreshToken)?;
    repository::mark_rotated(&mut tx, row.refresh_token_id).await?;
    let next = new_refresh_token(state, &mut tx, row.family_id, row.user_id).await?;
    tx.commit().await?;
    token_pair(state, row.user_id, &roles, next)
}

/// Revokes the family of `token` if it is the caller's; unknown tokens are
/// ignored (logging out twice is not an error). Serialized with the user's
/// refreshes like every revocation.
pub async fn logout(
    state: &AppState,
    user_id: Uuid,
    token: &SecretString,
) -> Result<(), AuthFlowError> {
    let hash = token_digest(token.expose_secret());
    let mut tx = state.pool.begin().await?;
    let mut revoked = 0;
    if repository::lock_user(&mut tx, user_id).await?.is_some() {
        revoked = repository::revoke_family_of(&mut tx, user_id, &hash).await?;
    }
    tx.commit().await?;
    tracing::info!(user_id = %user_id, revoked, "logged out");
    Ok(())
}

/// Changes the password after checking the current one: every refresh
/// family and every outstanding reset token of the user ends. Wrong current
/// passwords are counted per user before the check (a stolen access token
/// cannot be used to guess the password); a right one takes its count back.
pub async fn change_password(
    state: &AppState,
    user_id: Uuid,
    current: &SecretString,
    new: Password,
) -> Result<(), AuthFlowError> {
    let failures = &state.limits.password_change_failures;
    let key = user_key(user_id);
    failures.hit(&key).await?;
    let credentials = match repository::credentials_by_id(&state.pool, user_id).await {
        Ok(Some(credentials)) => credentials,
        Ok(None) => return Err(AuthFlowError::NotFound),
        Err(err) => {
            log_uncounted(failures.forgive(&key).await);
            return Err(err.into());
        }
    };
    let verified = state
        .passwords
        .verify(current, Some(credentials.password_hash))
        .await;
    match verified {
        Ok(true) => log_uncounted(failures.forgive(&key).await),
        Ok(false) => {
            return Err(AuthFlowError::Invalid(vec![FieldError::new(
                "current_password",
                "is not the current password",
            )]));
        }
        Err(err) => {
            log_uncounted(failures.forgive(&key).await);
            return Err(err.into());
        }
    }
    let hash = state.passwords.hash(new.secret()).await?;
    let mut tx = state.pool.begin().await?;
    if repository::lock_user(&mut tx, user_id).await?.is_none() {
        return Err(AuthFlowError::NotFound);
    }
    let revoked = end_sessions(&mut tx, user_id, &hash).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user_id, revoked, "password changed");
    Ok(())
}

/// Under the user's lock: sets the password hash, revokes every refresh
/// token and ends every outstanding reset token. Returns the tokens revoked.
async fn end_sessions(
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
    password_hash: &str,
) -> Result<u64, sqlx::Error> {
    repository::set_password(conn, user_id, password_hash).await?;
    let revoked = repository::revoke_all_refresh_tokens(conn, user_id).await?;
    repository::end_reset_tokens(conn, user_id).await?;
    Ok(revoked)
}

/// Creates a reset token and the `password_reset` event for an existing
/// account; does nothing (visibly the same) for an unknown address. Either
/// way the request is counted per address (Postgres, every replica).
pub async fn request_password_reset(state: &AppState, email: &Email) -> Result<(), AuthFlowError> {
    state
        .limits
        .password_resets
        .hit(&account_key(email))
        .await?;
    let Some(account) = repository::credentials_by_email(&state.pool, email.as_str()).await? else {
        tracing::info!("password reset requested for an unknown address");
        return Ok(());
    };
    let (token, hash) = opaque_token();
    let expires_at = Utc::now() + Duration::minutes(RESET_TOKEN_MINUTES);
    let event = Notification::new(
        "password_reset",
        serde_json::json!({
            "token": token.expose_secret(),
            "expires_at": expires_at,
            "full_name": account.full_name,
        }),
    )
    // Sent to the address it was asked for; filed under the account, so
    // that erasing the account erases it too.
    .for_user(account.user_id)
    .to_email(email.as_str());
    let mut tx = state.pool.begin().await?;
    repository::insert_reset_token(&mut tx, account.user_id, &hash, expires_at).await?;
    outbox::enqueue(&mut tx, &event).await?;
    tx.commit().await?;
    tracing::info!(user_id = %account.user_id, "password reset requested");
    Ok(())
}

/// Sets the new password with a valid reset token (used up): every refresh
/// token and every other reset token of the user ends.
pub async fn confirm_password_reset(
    state: &AppState,
    token: &SecretString,
    new: Password,
) -> Result<(), AuthFlowError> {
    let hash = token_digest(token.expose_secret());
    // Checked before hashing, so invalid tokens cost no argon2 time.
    let Some(user_id) = repository::valid_reset_token(&state.pool, &hash).await? else {
        return Err(AuthFlowError::InvalidResetToken);
    };
    let password_hash = state.passwords.hash(new.secret()).await?;
    let mut tx = state.pool.begin().await?;
    // The user first, then the token: the order every session change takes.
    if repository::lock_user(&mut tx, user_id).await?.is_none() {
        return Err(AuthFlowError::InvalidResetToken);
    }
    if repository::consume_reset_token(&mut tx, &hash).await? != Some(user_id) {
        return Err(AuthFlowError::InvalidResetToken);
    }
    let revoked = end_sessions(&mut tx, user_id, &password_hash).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user_id, revoked, "password reset");
    Ok(())
}

/// Issues a service token to an authenticated client for `audience`, if
/// that audience is a fleet service on the client's allow-list.
pub fn service_token(
    state: &AppState,
    grant_type: &str,
    client_id: &str,
    secret: &SecretString,
    audience: Option<&str>,
) -> Result<ServiceToken, AuthFlowError> {
    if grant_type != "client_credentials" {
        return Err(AuthFlowError::UnsupportedGrant);
    }
    if !state.clients.authenticate(client_id, secret) {
        tracing::warn!(client_id, "client authentication failed");
        return Err(AuthFlowError::InvalidClient);
    }
    let audience = audience.map(str::trim).unwrap_or_default();
    if !state.keys.audiences().iter().any(|a| a == audience) {
        return Err(AuthFlowError::Invalid(vec![FieldError::new(
            "audience",
            format!(
                "must be one of the fleet's services: {}",
                state.keys.audiences().join(", ")
            ),
        )]));
    }
    if !state.clients.may_call(client_id, audience) {
        tracing::warn!(
            client_id,
            audience,
            "service token refused: audience not allowed"
        );
        return Err(AuthFlowError::InvalidScope);
    }
    let token = state.keys.service_token(client_id, audience)?;
    Ok(ServiceToken {
        access_token: token.token,
        token_type: "Bearer",
        expires_in: token.expires_in,
    })
}

/// `create-admin`: creates an administrator, or adds the admin role to the
/// existing account with that e-mail (its password is then left as it is
/// unless `reset_password`). Returns the account and whether it was created.
pub async fn ensure_admin(
    pool: &sqlx::PgPool,
    passwords: &crate::passwords::Passwords,
    email: Email,
    password: Password,
    full_name: &str,
    reset_password: bool,
) -> anyhow::Result<(User, bool)> {
    let hash = passwords.hash(password.secret()).await?;
    let mut tx = pool.begin().await?;
    let (user, created) = match repository::promote_to_admin(&mut tx, email.as_str()).await? {
        Some(user) => {
            if reset_password {
                repository::lock_user(&mut tx, user.id).await?;
                end_sessions(&mut tx, user.id, &hash).await?;
            }
            (user, false)
        }
        None => {
            let roles = vec!["admin".to_owned(), ROLE_CUSTOMER.to_owned()];
            let user = repository::insert_user(
                &mut tx,
                Uuid::now_v7(),
                email.as_str(),
                &hash,
                full_name,
                &roles,
            )
            .await?;
            (user, true)
        }
    };
    tx.commit().await?;
    Ok((user, created))
}
