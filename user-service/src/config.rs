//! user-service settings: the kit's sections plus this service's own.

use serde::Deserialize;
use service_kit::config::{AuthSettings, DatabaseSettings, ServerSettings};

/// Built-in defaults, layered over the kit's. The database password is a
/// local-only default; deployments set `APP__DATABASE__URL`.
pub const DEFAULTS: &str = r#"
[server]
port = 8001

[database]
url = "postgres://user_service:user_service@127.0.0.1:5432/shop"
schema = "users"

[auth]
audience = "user-service"
"#;

/// Everything user-service is configured with.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// HTTP server.
    pub server: ServerSettings,
    /// Postgres database and schema.
    pub database: DatabaseSettings,
    /// Access-token verification.
    pub auth: AuthSettings,
}

impl Settings {
    /// Loads the layered configuration (defaults < file < `APP__...`).
    pub fn load() -> Result<Self, service_kit::config::ConfigError> {
        service_kit::config::load(DEFAULTS)
    }
}
