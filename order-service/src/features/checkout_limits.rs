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
//!   cannot send more `payment_failed` mails either.
//!
//! The address limit is this layer; the two per-user limits are the
//! route's [`Admission`]: counted by the statement that claims the
//! request's idempotency key, the decline given back by the one that
//! stores its answer (`service_kit::idempotency::Idempotency::run_admitted`),
//! so they cost the checkout no round trip of their own. All of it comes
//! from the kit (`service_kit::rate_limit`).

use axum::extract::{FromRef, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use service_kit::ApiError;
use service_kit::client_ip::{ClientIp, TrustedProxies};
use service_kit::rate_limit::{AddressLimiter, Admission, CounterKey, KeyedAdmission, WindowLimit};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

use crate::config::CheckoutLimitSettings;

/// The checkout limits and what the layer needs to identify the caller.
#[derive(Clone)]
pub struct CheckoutLimits {
    trusted_proxies: TrustedProxies,
    /// Attempts per client address (memory).
    pub per_address: AddressLimiter,
    /// Attempts and declines per user (Postgres, the idempotency keys'
    /// database).
    per_user: Admission,
}

impl CheckoutLimits {
    /// The limits of `settings`, counting per user in `pool` (where the
    /// idempotency keys are).
    pub fn new(settings: &CheckoutLimitSettings, pool: &PgPool) -> anyhow::Result<Self> {
        Ok(Self {
            trusted_proxies: TrustedProxies::parse(&settings.trusted_proxies)
                .map_err(|e| anyhow::anyhow!("checkout_limits.trusted_proxies: {e}"))?,
            per_address: AddressLimiter::per_minute(
                "checkout_attempts_per_address",
                settings.attempts_per_address_per_minute,
            ),
            per_user: Admission::new(
                WindowLimit::new(
                    pool.clone(),
                    "checkout_attempts_per_user",
                    settings.attempts_per_user,
                    Duration::from_secs(settings.attempts_window_secs),
                ),
                WindowLimit::new(
                    pool.clone(),
                    "checkout_declines_per_user",
                    settings.declines_per_user,
                    Duration::from_secs(settings.declines_window_secs),
                ),
                StatusCode::PAYMENT_REQUIRED,
            ),
        })
    }

    /// `user_id`'s attempts and declines, for
    /// `Idempotency::run_admitted`.
    pub fn per_user(&self, user_id: Uuid) -> KeyedAdmission<'_> {
        self.per_user.for_key(CounterKey::of(&[user_id.as_bytes()]))
    }
}

impl FromRef<CheckoutLimits> for TrustedProxies {
    fn from_ref(limits: &CheckoutLimits) -> Self {
        limits.trusted_proxies.clone()
    }
}

/// The middleware (`axum::middleware::from_fn_with_state` with the
/// [`CheckoutLimits`]), for the checkout route only: the address limit,
/// before anything else (even the token) is looked at.
pub async fn enforce(
    State(limits): State<CheckoutLimits>,
    ClientIp(ip): ClientIp,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    limits.per_address.check(ip)?;
    Ok(next.run(request).await)
}
