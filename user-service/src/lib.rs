//! user-service: the fleet's identity provider (accounts, passwords, access
//! and refresh tokens, service tokens, the JWKS every service verifies
//! against), built on service-kit from the fleet's service template.

pub mod admin_cli;
pub mod api;
pub mod config;
pub mod features;
pub mod passwords;
pub mod rate_limit;
pub mod state;
pub mod tokens;

use service_kit::CancellationToken;
use service_kit::auth::JwksVerifier;
use service_kit::client_ip::TrustedProxies;
use service_kit::ops::Ops;
use service_kit::outbox::Relay;
use service_kit::server::Server;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use std::sync::Arc;
use std::time::Duration;

pub use config::Settings;
use features::auth::clients::ServiceClients;
use passwords::Passwords;
use rate_limit::RateLimits;
use state::AppState;
use tokens::{KeyRing, LocalTokenSource};

/// The service's embedded migrations (its own schema only).
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// This service's name: package name, client id of its own service tokens.
pub const NAME: &str = env!("CARGO_PKG_NAME");

/// The receivers of the outbox (the audiences of the relay's tokens).
use service_kit::outbox::{NOTIFICATION_SERVICE, ORDER_SERVICE};

/// The running service: a bound server, its state, and the outbox relay.
pub struct Application {
    server: Server,
    state: AppState,
    relay: Relay,
}

impl Application {
    /// Connects (lazily), migrates when configured, loads the signing keys,
    /// and binds the port.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = service_kit::db::connect(&settings.database, NAME)?;
        if settings.database.migrate_on_start {
            service_kit::db::migrate(&pool, &settings.database, &MIGRATOR).await?;
        }
        let keys = Arc::new(KeyRing::load(&settings.jwt, &settings.auth.issuer, &pool).await?);
        let rate = &settings.rate_limit;
        let state = AppState {
            verifier: JwksVerifier::with_keys(&settings.auth, &keys.jwks())?,
            passwords: Passwords::new(settings.passwords.max_concurrent_hashes),
            limits: RateLimits::new(rate, &pool),
            trusted_proxies: TrustedProxies::parse(&rate.trusted_proxies)
                .map_err(|e| anyhow::anyhow!("rate_limit.trusted_proxies: {e}"))?,
            clients: Arc::new(ServiceClients::from_config(
                &settings.service_clients,
                &settings.client_audiences,
            )),
            keys: Arc::clone(&keys),
            pool: pool.clone(),
            settings: Arc::new(settings),
        };
        let relay = outbox_relay(&state)?;
        let ops = Ops::new(pool, &MIGRATOR);
        let server = Server::bind(&state.settings.server, api::router(state.clone()), ops).await?;
        tracing::info!(kid = keys.signing_kid(), "signing key loaded");
        Ok(Self {
            server,
            state,
            relay,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The state handlers see (tests reach the pool through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves, relays the outbox and keeps the rate limits tidy until
    /// `shutdown` is cancelled, then drains in-flight requests and stops the
    /// background tasks.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let stop = shutdown.child_token();
        let relay = self.relay.spawn(stop.clone());
        let housekeeping = service_kit::rate_limit::spawn_housekeeping(
            Duration::from_secs(self.state.settings.rate_limit.housekeeping_interval_secs),
            vec![self.state.limits.per_address.clone()],
            Some(self.state.pool.clone()),
            stop.clone(),
        );
        let served = self.server.run(shutdown).await;
        stop.cancel();
        for (name, task) in [
            ("outbox relay", relay),
            ("rate-limit housekeeping", housekeeping),
        ] {
            if let Err(err) = task.await {
                tracing::error!(error = %err, task = name, "a background task panicked");
            }
        }
        served
    }
}

/// The relay delivering this service's outbox: notifications to
/// notification-service, `user_deleted` to notification- and
/// order-service, with service tokens it mints itself (one audience each).
fn outbox_relay(state: &AppState) -> anyhow::Result<Relay> {
    let settings = &state.settings;
    let tokens = |audience: &str| {
        Arc::new(LocalTokenSource::new(
            Arc::clone(&state.keys),
            NAME,
            audience,
        ))
    };
    Relay::new(state.pool.clone(), NAME, (&settings.outbox).into())
        .deliver_to(
            NOTIFICATION_SERVICE,
            &settings.services.notification_url,
            tokens(NOTIFICATION_SERVICE),
        )?
        .deliver_to(
            ORDER_SERVICE,
            &settings.services.order_url,
            tokens(ORDER_SERVICE),
        )
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

    async fn command(settings: Settings, args: Vec<String>) -> anyhow::Result<()> {
        admin_cli::run(settings, args).await
    }

    async fn build(settings: Settings) -> anyhow::Result<Self> {
        Application::build(settings).await
    }

    fn port(&self) -> u16 {
        Application::port(self)
    }

    fn pool(&self) -> &PgPool {
        &self.state.pool
    }

    async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        Application::run(self, shutdown).await
    }
}
