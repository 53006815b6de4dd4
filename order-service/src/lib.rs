//! order-service: cart, checkout saga, payments and order history, built on
//! service-kit from the fleet's service template.

pub mod api;
pub mod catalog;
pub mod config;
pub mod features;
pub mod metrics;
pub mod state;

use service_kit::CancellationToken;
use service_kit::auth::client_credentials::ClientCredentials;
use service_kit::ops::Ops;
use service_kit::outbox::Relay;
use service_kit::server::Server;
use service_kit::tasks::BackgroundTasks;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use std::sync::Arc;
use std::time::Duration;

pub use config::Settings;
pub use state::AppState;

/// The service's embedded migrations (its own schema only).
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// This service's name: package name, client id of its service tokens.
pub const NAME: &str = env!("CARGO_PKG_NAME");

/// notification-service's name (the audience of the relay's tokens).
use service_kit::outbox::NOTIFICATION_SERVICE;

/// The running service: a bound server, its state, and the outbox relay.
pub struct Application {
    server: Server,
    state: AppState,
    relay: Relay,
}

impl Application {
    /// The state handlers see.
    pub fn state(&self) -> &AppState {
        &self.state
    }
}

impl service_kit::Service for Application {
    const NAME: &'static str = NAME;
    type Settings = Settings;

    fn default_config() -> &'static str {
        config::DEFAULTS
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// Checks the settings, connects (lazily), migrates when configured,
    /// and binds the port.
    async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        let pool = service_kit::db::connect(&settings.database, NAME)?;
        if settings.database.migrate_on_start {
            service_kit::db::migrate(&pool, &settings.database, &MIGRATOR).await?;
        }
        let state = AppState::new(settings, pool.clone())?;
        let relay = outbox_relay(&state)?;
        let ops = Ops::new(pool, &MIGRATOR);
        let server = Server::bind(&state.settings.server, api::router(state.clone()), ops).await?;
        // After `bind`, which installs the process's metrics recorder.
        metrics::describe();
        Ok(Self {
            server,
            state,
            relay,
        })
    }

    fn port(&self) -> u16 {
        self.server.port()
    }

    fn pool(&self) -> &PgPool {
        &self.state.pool
    }

    /// Serves until `shutdown` is cancelled, with the outbox relay, the
    /// reconciler, the idempotency-key sweep, the erasure sweep and the
    /// checkout limits' housekeeping alongside; then drains in-flight
    /// requests and stops the background tasks.
    async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let checkout = &self.state.settings.checkout;
        let mut tasks = BackgroundTasks::new(&shutdown);
        let relay = self.relay;
        tasks.spawn("outbox relay", |stop| relay.run(stop));
        let state = self.state.clone();
        tasks.every(
            "reconciler",
            Duration::from_secs(checkout.reconciler_interval_secs.max(1)),
            move || features::checkout::reconciler::pass(state.clone()),
        );
        let keys = self.state.idempotency.clone();
        tasks.every(
            "idempotency sweep",
            Duration::from_secs(checkout.idempotency_sweep_interval_secs.max(1)),
            move || {
                let keys = keys.clone();
                async move { keys.sweep_expired().await }
            },
        );
        let erasure = &self.state.settings.erasure;
        let (pool, every, window) = (
            self.state.pool.clone(),
            Duration::from_secs(erasure.sweep_interval_secs.max(1)),
            Duration::from_secs(erasure.reapply_window_secs),
        );
        tasks.spawn("erasure sweep", move |stop| {
            features::erasure::service::sweep(pool, every, window, stop)
        });
        let housekeeping_every = Duration::from_secs(
            self.state
                .settings
                .checkout_limits
                .housekeeping_interval_secs,
        );
        let per_address = self.state.checkout_limits.per_address.clone();
        let pool = self.state.pool.clone();
        tasks.spawn("checkout limits housekeeping", move |stop| async move {
            let housekeeping = service_kit::rate_limit::spawn_housekeeping(
                housekeeping_every,
                vec![per_address],
                Some(pool),
                stop,
            );
            if let Err(err) = housekeeping.await {
                tracing::error!(error = %err, "checkout limits housekeeping panicked");
            }
        });
        tasks.while_serving(self.server.run(shutdown)).await
    }
}

/// The relay delivering this service's outbox to notification-service with
/// service tokens from the client-credentials grant.
fn outbox_relay(state: &AppState) -> anyhow::Result<Relay> {
    let settings = &state.settings;
    let tokens = ClientCredentials::new(&settings.service_auth, NOTIFICATION_SERVICE)?;
    Relay::to_notification_service(
        state.pool.clone(),
        NAME,
        &settings.services.notification_url,
        Arc::new(tokens),
        &settings.outbox,
    )
}
