//! {{project-name}}: built on service-kit from the fleet's service template.

pub mod api;
pub mod config;
pub mod features;
pub mod state;

use service_kit::CancellationToken;
use service_kit::auth::JwksVerifier;
use service_kit::ops::Ops;
use service_kit::server::Server;
use sqlx::PgPool;
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
    /// The state handlers see.
    pub fn state(&self) -> &AppState {
        &self.state
    }
}

impl service_kit::Service for Application {
    const NAME: &'static str = env!("CARGO_PKG_NAME");
    type Settings = Settings;

    fn default_config() -> &'static str {
        config::DEFAULTS
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// Connects (lazily), migrates when configured, and binds the port.
    async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = service_kit::db::connect(&settings.database, Self::NAME)?;
        if settings.database.migrate_on_start {
            service_kit::db::migrate(&pool, &settings.database, &MIGRATOR).await?;
        }
        let state = AppState {
            pool: pool.clone(),
            verifier: JwksVerifier::new(&settings.auth)?,
            settings: Arc::new(settings),
        };
        let ops = Ops::new(pool, &MIGRATOR);
        let server = Server::bind(&state.settings.server, api::router(state.clone()), ops).await?;
        Ok(Self { server, state })
    }

    fn port(&self) -> u16 {
        self.server.port()
    }

    fn pool(&self) -> &PgPool {
        &self.state.pool
    }

    /// Serves until `shutdown` is cancelled, then drains in-flight requests.
    async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.server.run(shutdown).await
    }
}
