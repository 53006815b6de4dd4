//! What handlers share.

use axum::extract::FromRef;
use service_kit::auth::JwksVerifier;
use sqlx::PgPool;
use std::sync::Arc;

use crate::cache::Caches;
use crate::config::Settings;
use crate::features::products::SearchMemory;
use crate::media::Media;

/// Application state, cloned into every handler (and dropped after it): one
/// reference count, not one per field (a dozen, measured at 3% of a cached
/// product read).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state of a service built from `shared`.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    /// The service's pool (its own schema): statements planned once per
    /// connection.
    pub pool: PgPool,
    /// The pool of listings and searches (same schema): statements planned
    /// with their values every time (`lib.rs`).
    pub search_pool: PgPool,
    /// Verifies access tokens against user-service's JWKS.
    pub verifier: JwksVerifier,
    /// The configuration the service started with.
    pub settings: Arc<Settings>,
    /// What searches learnt about search texts.
    pub search_memory: SearchMemory,
    /// Products and categories in memory, coherent across replicas.
    pub caches: Caches,
    /// Product images: storage, processing, serving.
    pub media: Arc<Media>,
}

impl FromRef<AppState> for JwksVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}
