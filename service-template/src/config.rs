//! {{project-name}} settings: the kit's sections plus this service's own.

use serde::Deserialize;
use service_kit::ServiceSettings;
use service_kit::config::{AuthSettings, DatabaseSettings, ServerSettings};

/// Built-in defaults, layered over the kit's. The database password is a
/// local-only default; deployments set `APP__DATABASE__URL`.
pub const DEFAULTS: &str = r#"
[server]
port = {{port}}

[database]
url = "postgres://{{crate_name}}:{{crate_name}}@127.0.0.1:5432/shop"
schema = "{{schema}}"

[auth]
audience = "{{project-name}}"
"#;

/// Everything {{project-name}} is configured with.
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
