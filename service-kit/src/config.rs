//! Layered configuration: the kit's defaults < the service's defaults < an
//! optional TOML file (`APP_CONFIG_FILE`) < `APP__SECTION__KEY` environment
//! variables. Invalid configuration fails at start-up with the key named.

use config::{Config, File, FileFormat};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use ::config::ConfigError;

/// Defaults every service shares; a service's own defaults override them.
pub(crate) const KIT_DEFAULTS: &str = r#"
environment = "local"

[server]
host = "0.0.0.0"
request_timeout_secs = 30
shutdown_timeout_secs = 25
cors_allowed_origins = []
hsts_max_age_secs = 0

[database]
max_connections = 10
min_connections = 0
acquire_timeout_secs = 5
idle_timeout_secs = 300
statement_timeout_secs = 30
migrate_on_start = false

[auth]
jwks_url = "http://127.0.0.1:8001/.well-known/jwks.json"
issuer = "user-service"
jwks_refresh_secs = 300
"#;

/// Where a service runs (`APP__ENVIRONMENT`): decides which start-up rules
/// apply (see [`crate::startup`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A developer's machine, tests, docker-compose: local-only defaults work.
    #[default]
    Local,
    /// A shared, deployed environment that is not live: secrets must be
    /// real, development switches (fake payments, log providers, a
    /// generated signing key) are allowed.
    Staging,
    /// Live: every start-up rule applies.
    Production,
}

impl Environment {
    /// The name as configured (`local`, `staging`, `production`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Staging => "staging",
            Self::Production => "production",
        }
    }
}

impl std::fmt::Display for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The HTTP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Bind address.
    pub host: String,
    /// Bind port; 0 picks a free one (tests).
    pub port: u16,
    /// A request still running after this many seconds gets a 503.
    pub request_timeout_secs: u64,
    /// On SIGTERM, in-flight requests get this long to finish.
    pub shutdown_timeout_secs: u64,
    /// Origins allowed by CORS; empty means no CORS headers at all.
    pub cors_allowed_origins: Vec<String>,
    /// `Strict-Transport-Security: max-age=<this>; includeSubDomains` on
    /// every response when > 0 (production, behind TLS); 0 sends none.
    pub hsts_max_age_secs: u64,
}

/// The service's Postgres database and schema.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Connection URL with the service's own role. Secret: it holds a password.
    pub url: SecretString,
    /// The schema this service owns; every connection's `search_path`.
    pub schema: String,
    /// Upper bound of the pool.
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long a request waits for a connection before failing.
    pub acquire_timeout_secs: u64,
    /// Idle connections are closed after this long.
    pub idle_timeout_secs: u64,
    /// Server-side cap on any single statement.
    pub statement_timeout_secs: u64,
    /// Apply migrations when the service starts (otherwise `<service> migrate`).
    pub migrate_on_start: bool,
}

/// Verification of access tokens issued by user-service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Where user-service publishes its public keys.
    pub jwks_url: String,
    /// Expected `iss` claim.
    pub issuer: String,
    /// Expected `aud` claim: this service's name.
    pub audience: String,
    /// Keys are re-fetched at most this often (and on an unknown `kid`).
    pub jwks_refresh_secs: u64,
}

/// For `#[serde(deserialize_with = ...)]`: a list given as a TOML array or
/// as one comma-separated string (what an environment variable can hold);
/// items are trimmed and empty ones dropped.
pub fn comma_list<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    let items = match Raw::deserialize(deserializer)? {
        Raw::One(s) => s.split(',').map(str::to_owned).collect(),
        Raw::Many(v) => v,
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

/// Loads `T` from the layers, `service_defaults` being the service's TOML.
pub fn load<T: DeserializeOwned>(service_defaults: &str) -> Result<T, config::ConfigError> {
    let file = std::env::var("APP_CONFIG_FILE").ok();
    load_from(
        service_defaults,
        file.as_deref(),
        config::Environment::with_prefix("APP"),
    )
}

/// Loads `T` from explicit layers (tests pass their own environment source).
pub fn load_from<T: DeserializeOwned>(
    service_defaults: &str,
    file: Option<&str>,
    environment: config::Environment,
) -> Result<T, config::ConfigError> {
    let mut builder = Config::builder()
        .add_source(File::from_str(KIT_DEFAULTS, FileFormat::Toml))
        .add_source(File::from_str(service_defaults, FileFormat::Toml));
    if let Some(path) = file {
        builder = builder.add_source(
            File::with_name(path)
                .format(FileFormat::Toml)
                .required(true),
        );
    }
    builder
        .add_source(
            environment
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("server.cors_allowed_origins")
                .try_parsing(true),
        )
        .build()?
        .try_deserialize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    #[derive(Debug, Deserialize)]
    struct Settings {
        environment: Environment,
        server: ServerSettings,
        database: DatabaseSettings,
    }

    const DEFAULTS: &str = r#"
[server]
port = 8002
[database]
url = "postgres://catalog_service:catalog_service@127.0.0.1:5432/shop"
schema = "catalog"
"#;

    fn env(vars: &[(&str, &str)]) -> config::Environment {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        config::Environment::with_prefix("APP").source(Some(map))
    }

    #[test]
    fn environment_overrides_service_defaults_which_override_kit_defaults() {
        let settings: Settings = load_from(
            DEFAULTS,
            None,
            env(&[
                ("APP__SERVER__PORT", "9000"),
                ("APP__DATABASE__URL", "postgres://u:p@db/shop"),
                (
                    "APP__SERVER__CORS_ALLOWED_ORIGINS",
                    "http://a.test,http://b.test",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(settings.server.port, 9000);
        assert_eq!(settings.server.request_timeout_secs, 30);
        assert_eq!(settings.database.schema, "catalog");
        assert_eq!(
            settings.database.url.expose_secret(),
            "postgres://u:p@db/shop"
        );
        assert_eq!(
            settings.server.cors_allowed_origins,
            vec!["http://a.test", "http://b.test"]
        );
    }

    #[test]
    fn the_environment_is_local_unless_set() {
        let settings: Settings = load_from(DEFAULTS, None, env(&[])).unwrap();
        assert_eq!(settings.environment, Environment::Local);
        let settings: Settings =
            load_from(DEFAULTS, None, env(&[("APP__ENVIRONMENT", "production")])).unwrap();
        assert_eq!(settings.environment, Environment::Production);
        let err = load_from::<Settings>(DEFAULTS, None, env(&[("APP__ENVIRONMENT", "prod")]))
            .unwrap_err();
        assert!(err.to_string().contains("environment"), "{err}");
    }

    #[test]
    fn an_invalid_value_names_its_key() {
        let err = load_from::<Settings>(DEFAULTS, None, env(&[("APP__SERVER__PORT", "eighty")]))
            .unwrap_err();
        assert!(err.to_string().contains("server.port"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let err =
            load_from::<Settings>(DEFAULTS, None, env(&[("APP__SERVER__PROT", "1")])).unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
    }

    #[test]
    fn secrets_do_not_reach_debug_output() {
        let settings: Settings = load_from(DEFAULTS, None, env(&[])).unwrap();
        let debug = format!("{:?}", settings.database);
        assert!(
            !debug.contains("catalog_service:catalog_service"),
            "{debug}"
        );
    }
}
