//! Authentication requests and responses.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use service_kit::FieldError;
use utoipa::ToSchema;

use crate::features::users::models::{Email, Password, parse_full_name};

/// Body of `POST /auth/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// E-mail address (unique, case-insensitively).
    pub email: String,
    /// 12-128 characters.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    /// Full name, 1-200 characters.
    pub full_name: String,
}

/// A validated registration.
#[derive(Debug)]
pub struct NewAccount {
    /// Normalized e-mail.
    pub email: Email,
    /// The password.
    pub password: Password,
    /// Trimmed full name.
    pub full_name: String,
}

impl RegisterRequest {
    /// Validates every field, reporting all failures at once.
    pub fn parse(self) -> Result<NewAccount, Vec<FieldError>> {
        let email = Email::parse(&self.email);
        let password = Password::parse(self.password, "password");
        let full_name = parse_full_name(&self.full_name);
        match (email, password, full_name) {
            (Ok(email), Ok(password), Ok(full_name)) => Ok(NewAccount {
                email,
                password,
                full_name,
            }),
            (email, password, full_name) => Err([email.err(), password.err(), full_name.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }
}

/// Body of `POST /auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// E-mail address.
    pub email: String,
    /// Password.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// Tokens issued by login and refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// JWT for `Authorization: Bearer`, valid at every service.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque token for `POST /auth/refresh` (single use, 30 days).
    pub refresh_token: String,
}

/// Body of `POST /auth/refresh` and `POST /auth/logout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token.
    #[schema(value_type = String)]
    pub refresh_token: SecretString,
}

/// Body of `POST /auth/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The current password.
    #[schema(value_type = String, format = Password)]
    pub current_password: SecretString,
    /// The new password, 12-128 characters.
    #[schema(value_type = String, format = Password)]
    pub new_password: SecretString,
}

/// Body of `POST /auth/password-reset`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    /// The account's e-mail address.
    pub email: String,
}

/// Body of `POST /auth/password-reset/confirm`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The token from the e-mail.
    #[schema(value_type = String)]
    pub token: SecretString,
    /// The new password, 12-128 characters.
    #[schema(value_type = String, format = Password)]
    pub new_password: SecretString,
}

/// Body of `POST /auth/token` (form-encoded, as RFC 6749 says, or JSON).
/// The client authenticates with HTTP Basic or `client_id`/`client_secret`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ServiceTokenRequest {
    /// Must be `client_credentials`.
    pub grant_type: String,
    /// The service the token is for (its package name).
    pub audience: Option<String>,
    /// Client id, when not sent with HTTP Basic.
    pub client_id: Option<String>,
    /// Client secret, when not sent with HTTP Basic.
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<SecretString>,
}

/// A service token.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceToken {
    /// JWT with `roles: ["service"]` and the requested `aud`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
}
