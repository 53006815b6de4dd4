//! notification-service settings: the kit's sections plus this service's own.

use serde::Deserialize;
use service_kit::ServiceSettings;
use service_kit::config::{AuthSettings, DatabaseSettings, ServerSettings};

/// Built-in defaults, layered over the kit's. The database password is a
/// local-only default; deployments set `APP__DATABASE__URL`.
pub const DEFAULTS: &str = r#"
[server]
port = 8004

[database]
url = "postgres://notification_service:notification_service@127.0.0.1:5432/shop"
schema = "notifications"

[auth]
audience = "notification-service"
"#;

/// Everything notification-service is configured with.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// HTTP server.
    pub server: ServerSettings,
    /// Postgres database and schema.
    pub database: DatabaseSettings,
    /// Access-token verification.
    pub auth: AuthSettings,
}

impl ServiceSettings for Settings {
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
