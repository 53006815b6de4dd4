//! Authentication endpoints under `/api/v1/auth`, and the JWKS.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use secrecy::SecretString;
use service_kit::auth::AuthUser;
use service_kit::client_ip::ClientIp;
use service_kit::extract::parse_json;
use service_kit::{ApiError, Json, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::models::{
    ChangePasswordRequest, LoginRequest, PasswordResetConfirm, PasswordResetRequest,
    RefreshRequest, RegisterRequest, ServiceToken, ServiceTokenRequest, TokenPair,
};
use super::service::{self, AuthFlowError};
use crate::features::users::models::{Email, Password, User};
use crate::state::AppState;

/// The status of each [`AuthFlowError`].
fn status_code(err: &AuthFlowError) -> StatusCode {
    match err {
        AuthFlowError::InvalidCredentials
        | AuthFlowError::InvalidRefreshToken
        | AuthFlowError::InvalidClient => StatusCode::UNAUTHORIZED,
        AuthFlowError::EmailTaken => StatusCode::CONFLICT,
        AuthFlowError::InvalidResetToken
        | AuthFlowError::UnsupportedGrant
        | AuthFlowError::InvalidScope => StatusCode::BAD_REQUEST,
        AuthFlowError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AuthFlowError::NotFound => StatusCode::NOT_FOUND,
        AuthFlowError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        AuthFlowError::Database(_) | AuthFlowError::Internal(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The HTTP meaning of each [`AuthFlowError`], in one place.
impl From<AuthFlowError> for ApiError {
    fn from(err: AuthFlowError) -> Self {
        match err {
            AuthFlowError::Invalid(errors) => ApiError::validation(errors),
            AuthFlowError::RateLimited(limited) => limited.into(),
            AuthFlowError::Database(source) => ApiError::database(source),
            AuthFlowError::InvalidScope => {
                ApiError::new(StatusCode::BAD_REQUEST, err.to_string()).with_kind("invalid_scope")
            }
            AuthFlowError::InvalidClient => {
                ApiError::new(StatusCode::UNAUTHORIZED, err.to_string()).with_header(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"user-service\""),
                )
            }
            err => match status_code(&err) {
                StatusCode::INTERNAL_SERVER_ERROR => ApiError::internal(err),
                status => ApiError::new(status, err.to_string()),
            },
        }
    }
}

/// `/auth` routes (under `/api/v1`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(change_password))
        .routes(routes!(request_password_reset))
        .routes(routes!(confirm_password_reset))
        .routes(routes!(service_token))
}

/// The JWKS route (at the root).
pub fn jwks_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(jwks))
}

/// Tokens must not be cached by anyone (RFC 6749 5.1).
fn no_store<T: IntoResponse>(body: T) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Creates a customer account.
#[utoipa::path(
    post, path = "/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, body = User),
        (status = 409, description = "email taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    state.limits.per_address.check(ip)?;
    let account = body.parse().map_err(ApiError::validation)?;
    let user = service::register(&state, account).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Exchanges e-mail and password for tokens. Wrong password and unknown
/// e-mail are the same 401; repeated failures for an account are 429 (per
/// account from one address, and per account in all).
#[utoipa::path(
    post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "not an e-mail address (at most 254 characters)", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    state.limits.per_address.check(ip)?;
    let email = Email::parse(&body.email).map_err(|e| ApiError::validation(vec![e]))?;
    let tokens = service::login(&state, &email, &body.password, ip).await?;
    Ok(no_store(Json(tokens)))
}

/// Rotates a refresh token: the old one stops working, and presenting it
/// again revokes its whole family.
#[utoipa::path(
    post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenPair),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<RefreshRequest>,
) -> Result<Response, ApiError> {
    state.limits.per_address.check(ip)?;
    let tokens = service::refresh(&state, &body.refresh_token).await?;
    Ok(no_store(Json(tokens)))
}

/// Revokes the refresh token's family.
#[utoipa::path(
    post, path = "/auth/logout", tag = "auth", request_body = RefreshRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "logged out"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn logout(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    service::logout(&state, user.id, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's password; every refresh token and every
/// outstanding reset token of theirs ends. Wrong current passwords are
/// limited per user (429).
#[utoipa::path(
    post, path = "/auth/password", tag = "auth", request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "changed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "wrong current password or weak new one", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    Json(body): Json<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    state.limits.per_address.check(ip)?;
    let new = Password::parse(body.new_password, "new_password")
        .map_err(|e| ApiError::validation(vec![e]))?;
    service::change_password(&state, user.id, &body.current_password, new).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a single-use reset token (30 minutes) to the address, if it has
/// an account: the answer is the same 202 either way (a malformed address
/// is 422).
#[utoipa::path(
    post, path = "/auth/password-reset", tag = "auth", request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "accepted"),
        (status = 422, description = "not an e-mail address (at most 254 characters)", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn request_password_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<PasswordResetRequest>,
) -> Result<StatusCode, ApiError> {
    state.limits.per_address.check(ip)?;
    let email = Email::parse(&body.email).map_err(|e| ApiError::validation(vec![e]))?;
    service::request_password_reset(&state, &email).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Sets a new password with a reset token; every refresh token and every
/// other reset token of the user ends. A used or expired token is 400.
#[utoipa::path(
    post, path = "/auth/password-reset/confirm", tag = "auth", request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "password set"),
        (status = 400, description = "invalid, used or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn confirm_password_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<PasswordResetConfirm>,
) -> Result<StatusCode, ApiError> {
    state.limits.per_address.check(ip)?;
    let new = Password::parse(body.new_password, "new_password")
        .map_err(|e| ApiError::validation(vec![e]))?;
    service::confirm_password_reset(&state, &body.token, new).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// OAuth 2.0 client-credentials grant (RFC 6749 4.4) for the fleet's
/// services: form-encoded (or JSON) `grant_type=client_credentials` and
/// `audience`, the client authenticated by HTTP Basic (or `client_id` and
/// `client_secret` in the body).
#[utoipa::path(
    post, path = "/auth/token", tag = "auth",
    request_body(content = ServiceTokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = ServiceToken),
        (status = 400, description = "unsupported grant type, or an audience this client may not call (type `/problems/invalid_scope`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "client authentication failed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "unknown audience", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn service_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.limits.per_address.check(ip)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let request: ServiceTokenRequest = if is_json {
        parse_json(&body)?
    } else {
        serde_urlencoded::from_bytes(&body)
            .map_err(|e| ApiError::bad_request(format!("Malformed form body: {e}")))?
    };
    let (client_id, secret) = match basic_credentials(&headers) {
        Some(pair) => pair,
        None => match (request.client_id.clone(), request.client_secret.clone()) {
            (Some(id), Some(secret)) => (id, secret),
            _ => return Err(AuthFlowError::InvalidClient.into()),
        },
    };
    let token = service::service_token(
        &state,
        &request.grant_type,
        &client_id,
        &secret,
        request.audience.as_deref(),
    )?;
    Ok(no_store(Json(token)))
}

/// `Authorization: Basic base64(id:secret)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, SecretString)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), SecretString::from(secret.to_owned())))
}

/// The public keys that verify this service's tokens (RFC 7517).
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "`{keys: [...]}`", body = Object))
)]
async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = Json(state.keys.jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
