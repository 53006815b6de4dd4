//! What handlers share.

use axum::extract::FromRef;
use service_kit::auth::JwksVerifier;
use service_kit::idempotency::{Idempotency, IdempotencyOptions};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

use crate::catalog::CatalogClient;
use crate::config::Settings;
use crate::features::checkout_limits::CheckoutLimits;
use crate::features::payments::{PaymentProvider, provider};

/// Application state, cloned into every handler.
#[derive(Clone)]
pub struct AppState {
    /// The service's pool (its own schema).
    pub pool: PgPool,
    /// Verifies access tokens against user-service's JWKS.
    pub verifier: JwksVerifier,
    /// The configuration the service started with.
    pub settings: Arc<Settings>,
    /// catalog-service (pooled clients).
    pub catalog: CatalogClient,
    /// The payment provider.
    pub payments: Arc<dyn PaymentProvider>,
    /// Idempotency keys (checkout, cancel), leased like the reconciler's
    /// orders.
    pub idempotency: Idempotency,
    /// Limits of the checkout route (card testing, mail flooding).
    pub checkout_limits: CheckoutLimits,
}

impl AppState {
    /// The state for `settings` over `pool` (also what tests use to run the
    /// reconciler once).
    pub fn new(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let catalog = CatalogClient::new(
            &settings.services.catalog_url,
            &settings.service_auth,
            Duration::from_millis(settings.checkout.catalog_timeout_ms),
        )?;
        let payments = provider::from_settings(&settings.payments, &pool)?;
        let checkout = &settings.checkout;
        let verifier = JwksVerifier::new(&settings.auth)?;
        let checkout_limits = CheckoutLimits::new(&settings.checkout_limits, &pool)?;
        let idempotency = Idempotency::new(
            pool.clone(),
            IdempotencyOptions {
                ttl: Duration::from_secs(checkout.idempotency_ttl_secs),
                wait: Duration::from_millis(checkout.idempotency_wait_ms),
                lease: Duration::from_secs(checkout.reconciler_stale_after_secs),
            },
        );
        Ok(Self {
            idempotency,
            verifier,
            checkout_limits,
            catalog,
            payments,
            pool,
            settings: Arc::new(settings),
        })
    }
}

impl FromRef<AppState> for JwksVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}
