//! Checkout cannot be used for card testing or mail flooding (README,
//! "Checkout limits"): a layer on `POST /checkout` only, answering 429 with
//! `Retry-After` (problem+json) when a client is over one of
//!
//! - attempts per client address per minute (an IPv6 client: its /64), in
//!   this replica's memory;
//! - attempts per user per window, in Postgres (shared by every replica);
//! - declined payments per user per window, in Postgres. A decline is
//!   counted before the attempt runs and taken back when the attempt ends in
//!   anything but a fresh decline (a 402 that is not an idempotent replay),
//!   so concurrent attempts cannot decline more often than the limit, and so
//!   cannot send more `payment_failed` mails either. An attempt whose client
//!   goes away before the answer keeps its count: the safe side.
//!
//! All of it comes from the kit (`service_kit::rate_limit`).

use axum::extract::{FromRef, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use service_kit::ApiError;
use service_kit::auth::{AuthUser, JwksVerifier};
use service_kit::client_ip::{ClientIp, TrustedProxies};
use service_kit::rate_limit::{AddressLimiter, CounterKey, WindowLimit};
use sqlx::PgPool;
use std::time::Duration;

use crate::config::CheckoutLimitSettings;
use service_kit::idempotency::IDEMPOTENT_REPLAYED;

/// The checkout limits and what the layer needs to identify the caller.
#[derive(Clone)]
pub struct CheckoutLimits {
    verifier: JwksVerifier,
    trusted_proxies: TrustedProxies,
    /// Attempts per client address (memory).
    pub per_address: AddressLimiter,
    per_user: WindowLimit,
    declines: WindowLimit,
}

impl CheckoutLimits {
    /// The limits of `settings`, counting per user in `pool`.
    pub fn new(
        settings: &CheckoutLimitSettings,
        verifier: JwksVerifier,
        pool: &PgPool,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            verifier,
            trusted_proxies: TrustedProxies::parse(&settings.trusted_proxies)
                .map_err(|e| anyhow::anyhow!("checkout_limits.trusted_proxies: {e}"))?,
            per_address: AddressLimiter::per_minute(
                "checkout_attempts_per_address",
                settings.attempts_per_address_per_minute,
            ),
            per_user: WindowLimit::new(
                pool.clone(),
                "checkout_attempts_per_user",
                settings.attempts_per_user,
                Duration::from_secs(settings.attempts_window_secs),
            ),
            declines: WindowLimit::new(
                pool.clone(),
                "checkout_declines_per_user",
                settings.declines_per_user,
                Duration::from_secs(settings.declines_window_secs),
            ),
        })
    }
}

impl FromRef<CheckoutLimits> for JwksVerifier {
    fn from_ref(limits: &CheckoutLimits) -> Self {
        limits.verifier.clone()
    }
}

impl FromRef<CheckoutLimits> for TrustedProxies {
    fn from_ref(limits: &CheckoutLimits) -> Self {
        limits.trusted_proxies.clone()
    }
}

/// The middleware (`axum::middleware::from_fn_with_state` with the
/// [`CheckoutLimits`]), for the checkout route only. 401 without a valid
/// token, like the route itself.
pub async fn enforce(
    State(limits): State<CheckoutLimits>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    limits.per_address.check(ip)?;
    let key = CounterKey::of(&[user.id.as_bytes()]);
    // The attempt, and a decline reserved before the payment is tried (so
    // concurrent declines cannot pass the limit): one round trip. Taken
    // back below unless the payment was declined.
    limits.per_user.hit_with(&limits.declines, &key).await?;
    let response = next.run(request).await;
    let fresh_decline = response.status() == StatusCode::PAYMENT_REQUIRED
        && !response.headers().contains_key(IDEMPOTENT_REPLAYED);
    if !fresh_decline && let Err(err) = limits.declines.forgive(&key).await {
        tracing::warn!(error = %err, "taking back a checkout's decline count failed");
    }
    Ok(response)
}
