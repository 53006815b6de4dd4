//! What handlers share.

use axum::extract::FromRef;
use service_kit::auth::JwksVerifier;
use sqlx::PgPool;
use std::sync::Arc;

use crate::cache::Caches;
use crate::config::Settings;
use crate::features::products::SearchMemory;
use crate::media::Media;

/// Application state, cloned into every handler: every field is a handle
/// (an `Arc` or a pool), so a clone costs a few reference counts.
#[derive(Clone)]
pub struct AppState {
    /// The service's pool (its own schema).
    pub pool: PgPool,
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
