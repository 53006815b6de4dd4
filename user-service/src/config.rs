//! user-service settings: the kit's sections plus this service's own.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use service_kit::ServiceSettings;
use service_kit::config::{AuthSettings, DatabaseSettings, Environment, ServerSettings};
pub use service_kit::outbox::OutboxSettings;
use service_kit::startup::Rule;
use std::collections::BTreeMap;

/// Built-in defaults, layered over the kit's. Passwords and client secrets
/// here are local-only defaults; deployments set them (README, Configuration).
pub const DEFAULTS: &str = r#"
[server]
port = 8001

[database]
url = "postgres://user_service:user_service@127.0.0.1:5432/shop"
schema = "users"

[auth]
audience = "user-service"

[jwt]
private_key_pem = ""
extra_private_key_pem = ""
generate_dev_key = true
access_ttl_secs = 900
refresh_ttl_days = 30
audiences = "user-service,catalog-service,order-service,notification-service"

[service_clients]
order_service = "order_client_secret_local_only"
notification_service = "notification_client_secret_local_only"

[client_audiences]
order_service = "catalog-service,notification-service"
notification_service = "user-service"

[services]
notification_url = "http://127.0.0.1:8004"
order_url = "http://127.0.0.1:8003"

[outbox]
poll_interval_ms = 1000
backoff_base_ms = 1000
backoff_max_secs = 300
max_attempts = 25
failed_retention_days = 7
sweep_interval_secs = 60

[rate_limit]
trusted_proxies = ""
per_ip_per_minute = 30
login_failures_per_account_and_address = 5
login_failures_per_account = 50
password_resets_per_account = 3
password_change_failures_per_user = 5
account_window_secs = 900
housekeeping_interval_secs = 60

[passwords]
max_concurrent_hashes = 0
"#;

/// Everything user-service is configured with.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Where the service runs (start-up rules).
    pub environment: Environment,
    /// HTTP server.
    pub server: ServerSettings,
    /// Postgres database and schema.
    pub database: DatabaseSettings,
    /// Access-token verification: `issuer` and `audience` are checked on the
    /// tokens this service receives; `jwks_url` is not used (user-service
    /// verifies against the keys it holds).
    pub auth: AuthSettings,
    /// Token issuing.
    pub jwt: JwtSettings,
    /// Client-credentials clients: `APP__SERVICE_CLIENTS__ORDER_SERVICE=<secret>`
    /// declares client `order-service` (underscores become hyphens).
    pub service_clients: BTreeMap<String, SecretString>,
    /// The audiences each client may ask a service token for:
    /// `APP__CLIENT_AUDIENCES__ORDER_SERVICE=catalog-service,notification-service`.
    /// A client without an entry gets no token (`invalid_scope`).
    #[serde(default)]
    pub client_audiences: BTreeMap<String, CommaList>,
    /// Peers.
    pub services: ServicesSettings,
    /// Outbox relay.
    pub outbox: OutboxSettings,
    /// Abuse protection.
    pub rate_limit: RateLimitSettings,
    /// Password hashing.
    pub passwords: PasswordSettings,
}

/// How tokens are signed and what they carry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// Ed25519 private key (PKCS#8 PEM) that signs tokens. Secret. Empty:
    /// see `generate_dev_key`.
    pub private_key_pem: SecretString,
    /// A second Ed25519 key, published in the JWKS but not signing: the next
    /// key before a rotation, the previous one after it. Secret. Optional.
    pub extra_private_key_pem: SecretString,
    /// With no `private_key_pem`, generate a key on first start and keep it
    /// in the database (local development only).
    pub generate_dev_key: bool,
    /// Access-token lifetime.
    pub access_ttl_secs: u64,
    /// Refresh-token lifetime.
    pub refresh_ttl_days: u32,
    /// The fleet's services: user tokens carry them all as `aud`; service
    /// tokens may be requested for any one of them.
    #[serde(deserialize_with = "service_kit::config::comma_list")]
    pub audiences: Vec<String>,
}

/// Where peers live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesSettings {
    /// notification-service's base URL (notifications and `user_deleted`).
    pub notification_url: String,
    /// order-service's base URL (`user_deleted`).
    pub order_url: String,
}

/// Rate limits (429 with `Retry-After`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Addresses or CIDR ranges of proxies whose `X-Forwarded-For` is trusted.
    #[serde(deserialize_with = "service_kit::config::comma_list")]
    pub trusted_proxies: Vec<String>,
    /// Requests per minute from one client address (an IPv6 client: its
    /// /64) to register, login, refresh, password change, both password-reset
    /// endpoints and the token endpoint (burst of the same size). Counted in
    /// each replica's memory.
    pub per_ip_per_minute: u32,
    /// Failed logins per account from one client address within the window:
    /// a stranger exhausts only their own allowance, not the owner's.
    pub login_failures_per_account_and_address: u32,
    /// Failed logins per account from all addresses together within the
    /// window (higher: only many addresses together lock an account, and
    /// only until the window ends).
    pub login_failures_per_account: u32,
    /// Password-reset requests per e-mail address within the window.
    pub password_resets_per_account: u32,
    /// Wrong current passwords per user within the window (password change).
    pub password_change_failures_per_user: u32,
    /// The per-account window. Per-account counts live in Postgres, shared by
    /// every replica.
    pub account_window_secs: u64,
    /// How often stale per-address entries and ended per-account windows are
    /// deleted.
    pub housekeeping_interval_secs: u64,
}

/// Password hashing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSettings {
    /// Hashes computed at once (0: one per CPU). Bounds the CPU that a login
    /// flood can take from everything else.
    pub max_concurrent_hashes: usize,
}

/// A list given as a TOML array or one comma-separated string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommaList(pub Vec<String>);

impl<'de> Deserialize<'de> for CommaList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        service_kit::config::comma_list(deserializer).map(Self)
    }
}

impl ServiceSettings for Settings {
    fn environment(&self) -> Environment {
        self.environment
    }

    /// A generated signing key is for development only; the configured keys
    /// and every client secret must be real outside a developer's machine.
    fn startup_rules(&self) -> Vec<Rule> {
        let jwt = &self.jwt;
        let mut rules = vec![Rule::dev_only(
            "jwt.generate_dev_key",
            jwt.generate_dev_key,
            "a signing key generated into the database is managed by no one",
        )];
        if !jwt.generate_dev_key {
            rules.push(Rule::secret("jwt.private_key_pem", &jwt.private_key_pem));
        }
        if !jwt.extra_private_key_pem.expose_secret().trim().is_empty() {
            rules.push(Rule::secret(
                "jwt.extra_private_key_pem",
                &jwt.extra_private_key_pem,
            ));
        }
        rules.extend(
            self.service_clients
                .iter()
                .map(|(name, secret)| Rule::secret(format!("service_clients.{name}"), secret)),
        );
        rules
    }

    fn server(&mut self) -> &mut ServerSettings {
        &mut self.server
    }

    fn database(&mut self) -> &mut DatabaseSettings {
        &mut self.database
    }

    fn auth(&mut self) -> &mut AuthSettings {
        &mut self.auth
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_load() {
        let settings: Settings = service_kit::config::load(DEFAULTS).unwrap();
        assert_eq!(settings.jwt.audiences.len(), 4);
        assert!(settings.service_clients.contains_key("order_service"));
        assert_eq!(
            settings.client_audiences["notification_service"],
            CommaList(vec!["user-service".into()])
        );
        assert!(settings.rate_limit.trusted_proxies.is_empty());
    }
}
