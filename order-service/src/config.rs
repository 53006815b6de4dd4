//! order-service settings: the kit's sections plus this service's own.

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::ServiceSettings;
use service_kit::auth::client_credentials::ClientCredentialsSettings;
use service_kit::client::ClientOptions;
use service_kit::config::{AuthSettings, DatabaseSettings, Environment, ServerSettings};
pub use service_kit::outbox::OutboxSettings;
use service_kit::startup::Rule;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Built-in defaults, layered over the kit's. Passwords, secrets and keys
/// here are local-only defaults; deployments set them (README, Configuration).
pub const DEFAULTS: &str = r#"
[server]
port = 8003

[database]
url = "postgres://order_service:order_service@127.0.0.1:5432/shop"
schema = "orders"

[auth]
audience = "order-service"

[services]
catalog_url = "http://127.0.0.1:8002"
notification_url = "http://127.0.0.1:8004"

[service_auth]
token_url = "http://127.0.0.1:8001/api/v1/auth/token"
client_id = "order-service"
client_secret = "order_client_secret_local_only"

[payments]
provider = "fake"
webhook_secret = "whsec_local_only"
webhook_tolerance_secs = 300
base_url = "http://127.0.0.1:8090"
api_key = "sk_local_only"
timeout_ms = 10000

[checkout]
reservation_ttl_secs = 900
catalog_timeout_ms = 3000
idempotency_ttl_secs = 86400
idempotency_wait_ms = 10000
idempotency_sweep_interval_secs = 300
reconciler_interval_secs = 30
reconciler_stale_after_secs = 120

[checkout_limits]
trusted_proxies = ""
attempts_per_address_per_minute = 20
attempts_per_user = 20
attempts_window_secs = 3600
declines_per_user = 5
declines_window_secs = 3600
housekeeping_interval_secs = 60

[outbox]
poll_interval_ms = 1000
backoff_base_ms = 1000
backoff_max_secs = 300
max_attempts = 25
failed_retention_days = 7
sweep_interval_secs = 60

[erasure]
sweep_interval_secs = 300
reapply_window_secs = 3600
"#;

/// Everything order-service is configured with.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Where the service runs (start-up rules).
    pub environment: Environment,
    /// HTTP server.
    pub server: ServerSettings,
    /// Postgres database and schema.
    pub database: DatabaseSettings,
    /// Access-token verification.
    pub auth: AuthSettings,
    /// Peers.
    pub services: ServicesSettings,
    /// How this service obtains service tokens (client credentials).
    pub service_auth: ClientCredentialsSettings,
    /// The payment provider and its webhook.
    pub payments: PaymentSettings,
    /// Checkout saga, idempotency keys and the reconciler.
    pub checkout: CheckoutSettings,
    /// Limits against card testing and mail flooding through checkout.
    pub checkout_limits: CheckoutLimitSettings,
    /// Outbox relay.
    pub outbox: OutboxSettings,
    /// Erasure of deleted accounts.
    pub erasure: ErasureSettings,
    /// Test-only fault injection: not deserialized, so no configuration file
    /// or environment variable can set it; only code (the tests) can.
    #[serde(skip)]
    pub faults: Faults,
}

/// Where peers live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesSettings {
    /// catalog-service's base URL.
    pub catalog_url: String,
    /// notification-service's base URL.
    pub notification_url: String,
}

/// Which payment provider charges cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// The built-in fake (ledger in this service's database).
    Fake,
    /// The HTTP gateway at `base_url`.
    Http,
}

/// Payment provider settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSettings {
    /// `fake` or `http`.
    pub provider: ProviderKind,
    /// Shared secret of the webhook signature. Secret.
    pub webhook_secret: SecretString,
    /// Largest accepted age (and clock skew) of a webhook timestamp.
    pub webhook_tolerance_secs: u64,
    /// The HTTP gateway's base URL.
    pub base_url: String,
    /// The HTTP gateway's API key (`Authorization: Bearer`). Secret.
    pub api_key: SecretString,
    /// Per-call timeout of the HTTP gateway.
    pub timeout_ms: u64,
}

/// Checkout tunables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutSettings {
    /// How long catalog holds a checkout's stock unless committed.
    pub reservation_ttl_secs: u32,
    /// Per-attempt timeout of calls to catalog-service.
    pub catalog_timeout_ms: u64,
    /// Idempotency keys are deleted this long after their first use.
    pub idempotency_ttl_secs: u64,
    /// How long a duplicate request waits for the first one before a 409.
    pub idempotency_wait_ms: u64,
    /// How often expired idempotency keys are deleted.
    pub idempotency_sweep_interval_secs: u64,
    /// How often the reconciler looks for stuck `pending` orders.
    pub reconciler_interval_secs: u64,
    /// A `pending` order untouched this long is considered abandoned.
    pub reconciler_stale_after_secs: u64,
}

/// Limits of `POST /checkout` (429 with `Retry-After`): card testing needs
/// many attempts and many declines, and every decline mails the customer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutLimitSettings {
    /// Addresses or CIDR ranges of proxies whose `X-Forwarded-For` is
    /// trusted (the gateway, the ingress).
    #[serde(deserialize_with = "service_kit::config::comma_list")]
    pub trusted_proxies: Vec<String>,
    /// Checkout attempts per minute from one client address (an IPv6 client:
    /// its /64), a burst of the same size; counted in each replica's memory.
    pub attempts_per_address_per_minute: u32,
    /// Checkout attempts per user within `attempts_window_secs`, counted in
    /// Postgres (shared by every replica).
    pub attempts_per_user: u32,
    /// The per-user attempts window.
    pub attempts_window_secs: u64,
    /// Declined payments per user within `declines_window_secs` (shared by
    /// every replica); after that every checkout of the user is 429 until
    /// the window ends.
    pub declines_per_user: u32,
    /// The declines window.
    pub declines_window_secs: u64,
    /// How often stale per-address entries and ended windows are deleted.
    pub housekeeping_interval_secs: u64,
}

/// Erasure of deleted accounts (`user_deleted`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasureSettings {
    /// How often recent erasures are re-applied.
    pub sweep_interval_secs: u64,
    /// How long after an erasure it is re-applied: longer than an access
    /// token lives (15 minutes) plus the longest checkout.
    pub reapply_window_secs: u64,
}

/// The saga's steps; the fault-injection hook is called with each point
/// the saga passes (`Reserving`: the order is written; `Reserved`: the
/// stock is reserved and recorded; `Charged`: the provider charged).
pub use crate::features::checkout::SagaStep;

/// What the saga does after a hooked step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Go on normally.
    Continue,
    /// Stop right there, as if the process had crashed (no compensation).
    Halt,
}

/// The hook type.
pub type StepHook = Arc<dyn Fn(SagaStep) -> FaultAction + Send + Sync>;

/// Test-only fault injection (see [`Settings::faults`]).
#[derive(Clone, Default)]
pub struct Faults {
    /// Called after each saga step.
    pub after_step: Option<StepHook>,
}

impl Faults {
    /// What to do after `step`.
    pub fn after(&self, step: SagaStep) -> FaultAction {
        self.after_step
            .as_ref()
            .map_or(FaultAction::Continue, |hook| hook(step))
    }
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults")
            .field("after_step", &self.after_step.is_some())
            .finish()
    }
}

impl Settings {
    /// Checks what no single setting can: a live saga must never look
    /// abandoned. With the HTTP gateway,
    /// `checkout.reconciler_stale_after_secs` must exceed the
    /// longest a charge can take with its retries (every attempt timing out
    /// at `payments.timeout_ms`, plus the backoff between them), or the
    /// reconciler would settle an order whose charge is still running.
    pub fn validate(&self) -> anyhow::Result<()> {
        // Only the HTTP gateway is called with timeouts and retries; the
        // `fake` provider charges in one statement of our own database.
        if self.payments.provider != ProviderKind::Http {
            return Ok(());
        }
        let longest = longest_charge(&self.payments);
        let stale = Duration::from_secs(self.checkout.reconciler_stale_after_secs);
        if stale <= longest {
            anyhow::bail!(
                "checkout.reconciler_stale_after_secs (APP__CHECKOUT__RECONCILER_STALE_AFTER_SECS = {}) \
                 must exceed the longest charge with its retries ({} s from payments.timeout_ms \
                 (APP__PAYMENTS__TIMEOUT_MS = {}) x {} attempts + backoff)",
                self.checkout.reconciler_stale_after_secs,
                longest.as_secs_f64().ceil(),
                self.payments.timeout_ms,
                ClientOptions::default().max_retries + 1,
            );
        }
        Ok(())
    }
}

/// How long a charge can take at most: every attempt of the kit's client
/// times out, with the longest backoff between attempts.
pub fn longest_charge(payments: &PaymentSettings) -> Duration {
    let options = ClientOptions::default();
    let attempts = options.max_retries + 1;
    Duration::from_millis(payments.timeout_ms) * attempts
        + options.backoff_max * options.max_retries
}

impl ServiceSettings for Settings {
    fn environment(&self) -> Environment {
        self.environment
    }

    /// The fake provider charges nothing, so it never runs in production.
    /// A real gateway's API key and webhook secret are required wherever it
    /// is used; under `fake`, the webhook secret still guards the webhook
    /// (anyone knowing it can mark an order paid), so it must be real
    /// outside a developer's machine.
    fn startup_rules(&self) -> Vec<Rule> {
        let payments = &self.payments;
        let real_gateway = payments.provider == ProviderKind::Http;
        let mut rules = vec![
            Rule::dev_only(
                "payments.provider",
                !real_gateway,
                "the fake payment provider accepts test tokens and charges nothing",
            ),
            Rule::secret(
                "service_auth.client_secret",
                &self.service_auth.client_secret,
            ),
        ];
        let webhook = Rule::secret("payments.webhook_secret", &payments.webhook_secret);
        if real_gateway {
            rules.push(webhook.everywhere());
            rules.push(Rule::secret("payments.api_key", &payments.api_key).everywhere());
        } else {
            rules.push(webhook);
        }
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
        assert_eq!(settings.payments.provider, ProviderKind::Fake);
        assert_eq!(settings.service_auth.client_id, "order-service");
        assert!(settings.faults.after_step.is_none());
    }

    fn violations(settings: &mut Settings) -> Vec<String> {
        match service_kit::startup::validate::<crate::Application>(settings) {
            Ok(()) => Vec::new(),
            Err(err) => err
                .downcast::<service_kit::startup::StartupError>()
                .unwrap()
                .violations
                .into_iter()
                .map(|v| v.variable)
                .collect(),
        }
    }

    #[test]
    fn the_reconciler_lease_must_outlast_the_longest_charge() {
        let mut settings: Settings = service_kit::config::load(DEFAULTS).unwrap();
        settings.checkout.reconciler_stale_after_secs = 20;
        assert!(
            settings.validate().is_ok(),
            "the fake provider has no timeouts"
        );
        settings.checkout.reconciler_stale_after_secs = 120;
        settings.payments.provider = ProviderKind::Http;
        assert!(settings.validate().is_ok(), "the defaults are consistent");
        // 3 attempts of 10 s plus 2 backoffs of at most 1 s: 32 s.
        assert_eq!(longest_charge(&settings.payments), Duration::from_secs(32));
        settings.checkout.reconciler_stale_after_secs = 32;
        let err = settings.validate().unwrap_err().to_string();
        assert!(
            err.contains("checkout.reconciler_stale_after_secs"),
            "{err}"
        );
        assert!(err.contains("payments.timeout_ms"), "{err}");
        settings.checkout.reconciler_stale_after_secs = 33;
        assert!(settings.validate().is_ok());
        settings.payments.timeout_ms = 60_000;
        assert!(
            settings.validate().is_err(),
            "a slower gateway needs a longer lease"
        );
    }

    #[test]
    fn a_real_gateway_refuses_the_local_only_secrets_everywhere() {
        let mut settings: Settings = service_kit::config::load(DEFAULTS).unwrap();
        assert!(violations(&mut settings).is_empty());
        settings.payments.provider = ProviderKind::Http;
        assert_eq!(
            violations(&mut settings),
            ["APP__PAYMENTS__WEBHOOK_SECRET", "APP__PAYMENTS__API_KEY"]
        );
        settings.payments.api_key = SecretString::from("sk_live_x");
        settings.payments.webhook_secret = SecretString::from("whsec_x");
        assert!(violations(&mut settings).is_empty());
    }

    #[test]
    fn production_refuses_the_fake_provider_and_every_default_secret() {
        let mut settings: Settings = service_kit::config::load(DEFAULTS).unwrap();
        settings.environment = Environment::Production;
        assert_eq!(
            violations(&mut settings),
            [
                "APP__DATABASE__URL",
                "APP__PAYMENTS__PROVIDER",
                "APP__SERVICE_AUTH__CLIENT_SECRET",
                "APP__PAYMENTS__WEBHOOK_SECRET"
            ]
        );
    }
}
