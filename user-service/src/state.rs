//! What handlers share.

use axum::extract::FromRef;
use service_kit::auth::JwksVerifier;
use service_kit::client_ip::TrustedProxies;
use sqlx::PgPool;
use std::sync::Arc;

use crate::config::Settings;
use crate::features::auth::clients::ServiceClients;
use crate::passwords::Passwords;
use crate::rate_limit::RateLimits;
use crate::tokens::KeyRing;

/// Application state, cloned into every handler.
#[derive(Clone)]
pub struct AppState {
    /// The service's pool (its own schema).
    pub pool: PgPool,
    /// Verifies access tokens against this service's own keys.
    pub verifier: JwksVerifier,
    /// The signing keys.
    pub keys: Arc<KeyRing>,
    /// Password hashing (bounded, off the runtime).
    pub passwords: Passwords,
    /// Rate limits of the authentication endpoints.
    pub limits: RateLimits,
    /// Proxies whose `X-Forwarded-For` is trusted.
    pub trusted_proxies: TrustedProxies,
    /// Client-credentials clients.
    pub clients: Arc<ServiceClients>,
    /// The configuration the service started with.
    pub settings: Arc<Settings>,
}

impl FromRef<AppState> for JwksVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

impl FromRef<AppState> for TrustedProxies {
    fn from_ref(state: &AppState) -> Self {
        state.trusted_proxies.clone()
    }
}
