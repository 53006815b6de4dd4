//! catalog-service settings: the kit's sections plus this service's own.

use serde::Deserialize;
use service_kit::ServiceSettings;
use service_kit::config::{AuthSettings, DatabaseSettings, Environment, ServerSettings};

/// Built-in defaults, layered over the kit's. The database password is a
/// local-only default; deployments set `APP__DATABASE__URL`.
pub const DEFAULTS: &str = r#"
[server]
port = 8002

[database]
url = "postgres://catalog_service:catalog_service@127.0.0.1:5432/shop"
schema = "catalog"

[auth]
audience = "catalog-service"

[reservations]
default_ttl_secs = 900
max_ttl_secs = 86400
sweep_interval_ms = 5000
sweep_batch_size = 100
"#;

/// Everything catalog-service is configured with.
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
    /// Stock reservations and their expiry sweeper.
    pub reservations: ReservationSettings,
}

/// Stock reservations made by order-service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationSettings {
    /// TTL of a reservation whose request names none.
    pub default_ttl_secs: u32,
    /// Longest TTL a caller may ask for.
    pub max_ttl_secs: u32,
    /// How often the sweeper looks for expired reservations.
    pub sweep_interval_ms: u64,
    /// Expired reservations released per sweeper transaction.
    pub sweep_batch_size: u32,
}

impl ServiceSettings for Settings {
    fn environment(&self) -> Environment {
        self.environment
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
