//! What a service is to the kit: the contract behind the shared command line
//! ([`crate::cli::main`]) and the shared test harness (`testing::spawn`).

use serde::de::DeserializeOwned;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;

use crate::config::{AuthSettings, DatabaseSettings, Environment, ServerSettings};
use crate::startup::Rule;

/// A service's settings: its own sections plus the kit's three and the
/// environment.
pub trait ServiceSettings: DeserializeOwned + Send + 'static {
    /// Where the service runs (`environment`, `APP__ENVIRONMENT`).
    fn environment(&self) -> Environment;
    /// The HTTP server section.
    fn server(&mut self) -> &mut ServerSettings;
    /// The database section.
    fn database(&mut self) -> &mut DatabaseSettings;
    /// The token verification section.
    fn auth(&mut self) -> &mut AuthSettings;
    /// What this service refuses to start with (its secrets, its
    /// development-only switches), as data; the kit adds `database.url` and
    /// checks them all before any command runs (see [`crate::startup`]).
    fn startup_rules(&self) -> Vec<Rule> {
        Vec::new()
    }
}

/// A service of the fleet, as `main` and the tests build and run it.
pub trait Service: Sized + Send + 'static {
    /// Package name, used in logs, traces and metrics.
    const NAME: &'static str;
    /// The service's settings.
    type Settings: ServiceSettings;
    /// The service's built-in defaults (TOML), layered over the kit's.
    fn default_config() -> &'static str;
    /// The service's embedded migrations.
    fn migrator() -> &'static Migrator;
    /// Runs a subcommand of this service's own (`args[0]` is its name, the
    /// rest its arguments), e.g. user-service's `create-admin`. The default
    /// knows none.
    fn command(
        settings: Self::Settings,
        args: Vec<String>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send {
        async move {
            drop(settings);
            anyhow::bail!(
                "unknown command {:?}; see --help",
                args.first().map(String::as_str).unwrap_or_default()
            )
        }
    }
    /// Connects, migrates when configured, binds the port, wires the state.
    fn build(settings: Self::Settings) -> impl Future<Output = anyhow::Result<Self>> + Send;
    /// The bound port.
    fn port(&self) -> u16;
    /// The service's database pool.
    fn pool(&self) -> &PgPool;
    /// Serves (and runs background workers) until `shutdown` is cancelled,
    /// then drains in-flight requests and returns.
    fn run(self, shutdown: CancellationToken) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Loads `S`'s layered settings (defaults < `APP_CONFIG_FILE` < `APP__...`).
pub fn load_settings<S: Service>() -> Result<S::Settings, crate::config::ConfigError> {
    crate::config::load(S::default_config())
}
