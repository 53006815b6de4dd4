//! Extractors for the caller of a request.

use axum::Extension;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use uuid::Uuid;

use super::verifier::{AuthError, Claims, JwksVerifier};
use super::{ROLE_ADMIN, ROLE_SERVICE};
use crate::error::ApiError;

/// An authenticated end user (not a service).
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The user's id (`sub`).
    pub id: Uuid,
    /// The token's claims.
    pub claims: Claims,
}

impl AuthUser {
    /// Whether the user is an administrator.
    pub fn is_admin(&self) -> bool {
        self.claims.has_role(ROLE_ADMIN)
    }
}

/// An authenticated administrator.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

/// The services allowed to call a group of internal routes, attached to
/// them as a route layer; [`ServiceCaller`] refuses any other client (403),
/// and refuses every client on a route that declares none (fail closed).
///
/// ```ignore
/// router.route_layer(AllowedCallers::only(&["order-service"]))
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AllowedCallers(&'static [&'static str]);

impl AllowedCallers {
    /// A route layer admitting only these client ids (package names).
    pub fn only(client_ids: &'static [&'static str]) -> Extension<Self> {
        Extension(Self(client_ids))
    }

    /// Whether `client_id` may call.
    pub fn admits(&self, client_id: &str) -> bool {
        self.0.contains(&client_id)
    }
}

/// Another service of the fleet, authenticated by a service token and
/// admitted by the route's [`AllowedCallers`].
#[derive(Debug, Clone)]
pub struct ServiceCaller {
    /// The calling service's client id (`sub`).
    pub client_id: String,
    /// The token's claims.
    pub claims: Claims,
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Missing => ApiError::unauthorized("A bearer token is required."),
            AuthError::Invalid(reason) => {
                ApiError::unauthorized(format!("The bearer token is invalid: {reason}."))
            }
            AuthError::KeysUnavailable(reason) => {
                ApiError::unavailable(anyhow::anyhow!("JWKS unavailable: {reason}"))
            }
        }
    }
}

async fn verified_claims<S>(parts: &Parts, state: &S) -> Result<Claims, ApiError>
where
    JwksVerifier: FromRef<S>,
{
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthError::Missing)?;
    let (scheme, token) = header.split_once(' ').ok_or(AuthError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Missing.into());
    }
    Ok(JwksVerifier::from_ref(state).verify(token.trim()).await?)
}

impl<S> FromRequestParts<S> for AuthUser
where
    JwksVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let claims = verified_claims(parts, state).await?;
        if claims.has_role(ROLE_SERVICE) {
            return Err(ApiError::forbidden("Service tokens cannot act as a user."));
        }
        let id = Uuid::parse_str(&claims.sub).map_err(|_| {
            ApiError::unauthorized("The bearer token is invalid: subject is not a user id.")
        })?;
        Ok(Self { id, claims })
    }
}

impl<S> FromRequestParts<S> for AdminUser
where
    JwksVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if !user.is_admin() {
            return Err(ApiError::forbidden(
                "This operation requires the admin role.",
            ));
        }
        Ok(Self(user))
    }
}

impl<S> FromRequestParts<S> for ServiceCaller
where
    JwksVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let claims = verified_claims(parts, state).await?;
        if !claims.has_role(ROLE_SERVICE) {
            return Err(ApiError::forbidden(
                "Internal endpoints accept service tokens only.",
            ));
        }
        let Some(allowed) = parts.extensions.get::<AllowedCallers>() else {
            tracing::error!(
                path = %parts.uri.path(),
                "an internal route declares no allowed callers (AllowedCallers::only); refusing every caller"
            );
            return Err(ApiError::forbidden(
                "This endpoint accepts no service caller.",
            ));
        };
        if !allowed.admits(&claims.sub) {
            tracing::warn!(client_id = %claims.sub, path = %parts.uri.path(), "service caller not allowed on this route");
            return Err(ApiError::forbidden(
                "This endpoint does not accept calls from this service.",
            ));
        }
        Ok(Self {
            client_id: claims.sub.clone(),
            claims,
        })
    }
}
