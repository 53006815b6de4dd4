//! {{project-name}}: built on service-kit from the fleet's service template.

pub mod api;
pub mod config;
pub mod features;
pub mod state;

use service_kit::CancellationToken;
use service_kit::auth::JwksVerifier;
use service_kit::config::{DatabaseSettings, ServerSettings};
use service_kit::ops::Ops;
use service_kit::server::Server;
use sqlx::migrate::Migrator;
use std::sync::Arc;

pub use config::Settings;
use state::AppState;

/// The service's embedded migrations (its own schema only).
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The running service: a bound server and its state.
pub struct Application {
    server: Server,
    state: AppState,
}

impl Application {
    /// Connects (lazily), migrates when configured, and binds the port.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = service_kit::db::connect(&settings.database, env!("CARGO_PKG_NAME"))?;
        if settings.database.migrate_on_start {
            service_kit::db::migrate(&pool, &settings.database, &MIGRATOR).await?;
        }
        let state = AppState {
            pool: pool.clone(),
            verifier: JwksVerifier::new(&settings.auth)?,
            settings: Arc::new(settings),
        };
        let ops = Ops {
            pool,
            migrator: &MIGRATOR,
        };
        let server = Server::bind(&state.settings.server, api::router(state.clone()), ops).await?;
        Ok(Self { server, state })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The state handlers see (tests reach the pool through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` is cancelled, then drains in-flight requests.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.server.run(shutdown).await
    }
}

impl service_kit::cli::Service for Application {
    const NAME: &'static str = env!("CARGO_PKG_NAME");
    type Settings = Settings;

    fn default_config() -> &'static str {
        config::DEFAULTS
    }

    fn database(settings: &Settings) -> &DatabaseSettings {
        &settings.database
    }

    fn server(settings: &Settings) -> &ServerSettings {
        &settings.server
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    async fn build(settings: Settings) -> anyhow::Result<Self> {
        Application::build(settings).await
    }

    async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run(service_kit::server::shutdown_token()).await
    }
}
