//! notification-service settings: the kit's sections plus this service's own.

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::ServiceSettings;
use service_kit::auth::client_credentials::ClientCredentialsSettings;
use service_kit::config::{AuthSettings, DatabaseSettings, Environment, ServerSettings};
use service_kit::startup::Rule;

/// Built-in defaults, layered over the kit's. The database password and the
/// client secret are local-only defaults; deployments set
/// `APP__DATABASE__URL` and `APP__SERVICE_AUTH__CLIENT_SECRET`.
pub const DEFAULTS: &str = r#"
[server]
port = 8004

[database]
url = "postgres://notification_service:notification_service@127.0.0.1:5432/shop"
schema = "notifications"

[auth]
audience = "notification-service"

[services]
user_url = "http://127.0.0.1:8001"

[service_auth]
token_url = "http://127.0.0.1:8001/api/v1/auth/token"
client_id = "notification-service"
client_secret = "notification_client_secret_local_only"

[smtp]
host = ""
port = 25
tls = "none"
username = ""
password = ""
from = "Shop <no-reply@shop.localhost>"
timeout_secs = 10

[sms]
provider = "log"
allow_log_in_production = false
base_url = ""
account_sid = ""
auth_token = ""
from = ""
timeout_secs = 10

[push]
provider = "log"
allow_log_in_production = false
base_url = ""
server_key = ""
timeout_secs = 10

[links]
storefront_url = "http://127.0.0.1:8080"

[delivery]
workers = 1
max_attempts = 8
backoff_base_ms = 2000
backoff_max_secs = 900
poll_interval_ms = 1000
batch_size = 20
claim_lease_secs = 60

[retention]
days = 7
sweep_interval_secs = 3600

[erasure]
sweep_interval_secs = 300
reapply_window_secs = 3600
"#;

/// Everything notification-service is configured with.
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
    /// The email channel.
    pub smtp: SmtpSettings,
    /// The SMS channel.
    pub sms: SmsSettings,
    /// The push channel.
    pub push: PushSettings,
    /// Links put in messages.
    pub links: LinkSettings,
    /// The delivery queue and its workers.
    pub delivery: DeliverySettings,
    /// How long finished deliveries are kept.
    pub retention: RetentionSettings,
    /// Erasure of deleted accounts.
    pub erasure: ErasureSettings,
}

/// Where the links in messages point (`APP__LINKS__STOREFRONT_URL`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSettings {
    /// The storefront's public base URL: the password-reset mail links to
    /// `<storefront_url>/reset-password?token=...`. The local default is the
    /// gateway of `cargo xtask up`; deployments set their public origin.
    pub storefront_url: String,
}

/// Where the peers live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesSettings {
    /// user-service's base URL (contact lookup).
    pub user_url: String,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a local relay or mail catcher only).
    None,
    /// Upgrade with STARTTLS (required, not opportunistic).
    Starttls,
    /// Implicit TLS from the first byte (port 465).
    Tls,
}

/// The email channel: an SMTP relay, or the log when `host` is empty.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Relay host; empty means emails go to the log provider.
    pub host: String,
    /// Relay port.
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    pub tls: SmtpTls,
    /// Username; empty means no authentication.
    pub username: String,
    /// Password. Secret.
    pub password: SecretString,
    /// The `From:` header (`Name <address>`).
    pub from: String,
    /// Timeout of one SMTP command.
    pub timeout_secs: u64,
}

/// Which adapter a channel uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Write a log line instead of sending (local default).
    Log,
    /// The HTTP provider adapter.
    Http,
}

/// The SMS channel: a gateway in the style of Twilio's Messages API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// `log` or `http`.
    pub provider: ProviderKind,
    /// Lets `provider = "log"` run in production (a shop that sends no SMS:
    /// messages are then only logged, masked, and never delivered).
    pub allow_log_in_production: bool,
    /// Gateway base URL (`https://api.twilio.com`).
    pub base_url: String,
    /// Account id (HTTP Basic user and part of the path).
    pub account_sid: String,
    /// Account token (HTTP Basic password). Secret.
    pub auth_token: SecretString,
    /// Sender number (E.164) or id.
    pub from: String,
    /// Timeout of one request.
    pub timeout_secs: u64,
}

/// The push channel: a gateway in the style of FCM's HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSettings {
    /// `log` or `http`.
    pub provider: ProviderKind,
    /// Lets `provider = "log"` run in production (a shop without push
    /// notifications).
    pub allow_log_in_production: bool,
    /// Gateway base URL (`https://fcm.googleapis.com`).
    pub base_url: String,
    /// Server key (`Authorization: key=...`). Secret.
    pub server_key: SecretString,
    /// Timeout of one request.
    pub timeout_secs: u64,
}

/// The delivery queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// Worker tasks in this process (0: none, e.g. an intake-only replica).
    pub workers: u32,
    /// Attempts per delivery before it is marked `failed`.
    pub max_attempts: i32,
    /// Delay after the first failed attempt; doubled per further failure,
    /// with jitter.
    pub backoff_base_ms: u64,
    /// Longest delay between two attempts.
    pub backoff_max_secs: u64,
    /// Pause between polls when nothing was due.
    pub poll_interval_ms: u64,
    /// Deliveries claimed per poll.
    pub batch_size: i64,
    /// How long a claim is exclusive; after that a crashed worker's claim is
    /// taken over by another worker.
    pub claim_lease_secs: u64,
}

/// Deletion of finished deliveries: they hold addresses, rendered bodies
/// and, for a failed password reset, the user's data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Days a sent or failed delivery is kept (the user's history and the
    /// admin list show them meanwhile); a notification goes with its last
    /// delivery. At least 1: the notification is what deduplicates a
    /// producer's redelivery, which the producers' outboxes stop retrying
    /// after about two hours.
    pub days: u32,
    /// How often the sweep runs.
    pub sweep_interval_secs: u64,
}

/// Erasure of deleted accounts (`user_deleted`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasureSettings {
    /// How often recent erasures are re-applied.
    pub sweep_interval_secs: u64,
    /// How long after an erasure it is re-applied: longer than an access
    /// token lives (15 minutes) and than a producer's event can take.
    pub reapply_window_secs: u64,
}

impl ServiceSettings for Settings {
    fn environment(&self) -> Environment {
        self.environment
    }

    /// In production every channel really sends (a log provider only with
    /// its explicit allowance); a real provider's credentials are required
    /// wherever it is used.
    fn startup_rules(&self) -> Vec<Rule> {
        let (smtp, sms, push) = (&self.smtp, &self.sms, &self.push);
        let mut rules = vec![
            Rule::secret(
                "service_auth.client_secret",
                &self.service_auth.client_secret,
            ),
            Rule::dev_only(
                "smtp.host",
                smtp.host.trim().is_empty(),
                "without an SMTP host, emails are only logged and never sent",
            ),
            Rule::dev_only(
                "sms.provider",
                sms.provider == ProviderKind::Log && !sms.allow_log_in_production,
                "the log provider sends no SMS (set sms.allow_log_in_production to accept that)",
            ),
            Rule::dev_only(
                "push.provider",
                push.provider == ProviderKind::Log && !push.allow_log_in_production,
                "the log provider sends no push notification (set push.allow_log_in_production to accept that)",
            ),
        ];
        if !smtp.username.is_empty() {
            rules.push(Rule::secret("smtp.password", &smtp.password));
        }
        if sms.provider == ProviderKind::Http {
            rules.push(Rule::secret("sms.auth_token", &sms.auth_token).everywhere());
        }
        if push.provider == ProviderKind::Http {
            rules.push(Rule::secret("push.server_key", &push.server_key).everywhere());
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
