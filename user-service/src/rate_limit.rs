//! The limits of the authentication endpoints (README, "Abuse protection"),
//! built from the kit's mechanism (`service_kit::rate_limit`): requests per
//! client address in this replica's memory; per-account counts in Postgres,
//! shared by every replica and exact under concurrency.

use service_kit::rate_limit::{AddressLimiter, CounterKey, WindowLimit};
use sqlx::PgPool;
use std::net::IpAddr;
use std::time::Duration;
use uuid::Uuid;

use crate::config::RateLimitSettings;
use crate::features::users::models::Email;

/// The limits of the public authentication endpoints.
#[derive(Clone, Debug)]
pub struct RateLimits {
    /// Requests per client address (register, login, refresh, password
    /// change, both reset endpoints, token).
    pub per_address: AddressLimiter,
    /// Failed logins per account from one client address: what a stranger
    /// can spend of an account.
    pub login_failures_per_account_and_address: WindowLimit,
    /// Failed logins per account from every address together.
    pub login_failures_per_account: WindowLimit,
    /// Password-reset requests per e-mail address.
    pub password_resets: WindowLimit,
    /// Wrong current passwords per user (password change).
    pub password_change_failures: WindowLimit,
}

impl RateLimits {
    /// The limits configured in `settings`, counting per account in `pool`.
    pub fn new(settings: &RateLimitSettings, pool: &PgPool) -> Self {
        let window = Duration::from_secs(settings.account_window_secs);
        let limit = |scope, n| WindowLimit::new(pool.clone(), scope, n, window);
        Self {
            per_address: AddressLimiter::per_minute("auth_per_address", settings.per_ip_per_minute),
            login_failures_per_account_and_address: limit(
                "login_failures_per_account_and_address",
                settings.login_failures_per_account_and_address,
            ),
            login_failures_per_account: limit(
                "login_failures_per_account",
                settings.login_failures_per_account,
            ),
            password_resets: limit(
                "password_resets_per_account",
                settings.password_resets_per_account,
            ),
            password_change_failures: limit(
                "password_change_failures_per_user",
                settings.password_change_failures_per_user,
            ),
        }
    }
}

/// The per-account key of a (validated, normalized) e-mail address.
pub fn account_key(email: &Email) -> CounterKey {
    CounterKey::of(&[email.as_str().as_bytes()])
}

/// The key of an account as tried from one client (an IPv6 client: its /64).
pub fn account_and_address_key(email: &Email, client: IpAddr) -> CounterKey {
    let address = service_kit::client_ip::limit_key(client).to_string();
    CounterKey::of(&[email.as_str().as_bytes(), address.as_bytes()])
}

/// The key of a user.
pub fn user_key(user_id: Uuid) -> CounterKey {
    CounterKey::of(&[user_id.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_account_has_one_key_per_client_and_one_in_all() {
        let email = Email::parse(" Ada@Example.com ").unwrap();
        let same = Email::parse("ada@example.com").unwrap();
        assert_eq!(account_key(&email), account_key(&same));
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            account_and_address_key(&email, v6("2001:db8::1")),
            account_and_address_key(&same, v6("2001:db8::ffff:2"))
        );
        assert_ne!(
            account_and_address_key(&email, v6("2001:db8::1")),
            account_and_address_key(&email, v6("2001:db8:0:1::1"))
        );
        assert_ne!(
            account_key(&email),
            account_and_address_key(&email, v6("192.0.2.1"))
        );
    }
}
