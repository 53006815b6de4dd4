//! {{project-name}} settings: the kit's sections plus this service's own.

use serde::Deserialize;
use service_kit::ServiceSettings;
use service_kit::startup::Rule;
use service_kit::config::{AuthSettings, DatabaseSettings, Environment, ServerSettings};

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
    /// Where the service runs (start-up rules).
    pub environment: Environment,
    /// HTTP server.
    pub server: ServerSettings,
    /// Postgres database and schema.
    pub database: DatabaseSettings,
    /// Access-token verification.
    pub auth: AuthSettings,
}

impl ServiceSettings for Settings {
    fn environment(&self) -> Environment {
        self.environment
    }

    /// What this service refuses to start with, beyond the kit's
    /// `database.url` (checked before `serve`, `migrate` and `check-config`).
    /// List each secret you add (`Rule::secret`) and each development-only
    /// switch (`Rule::dev_only`), e.g.
    /// `Rule::secret("gateway.api_key", &self.gateway.api_key)`.
    fn startup_rules(&self) -> Vec<Rule> {
        Vec::new()
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
