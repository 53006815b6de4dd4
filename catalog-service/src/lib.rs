//! catalog-service: built on service-kit from the fleet's service template.

pub mod api;
pub mod cache;
pub mod config;
pub mod features;
pub mod media;
pub mod state;

use service_kit::CancellationToken;
use service_kit::auth::JwksVerifier;
use service_kit::middleware::BodyLimits;
use service_kit::ops::Ops;
use service_kit::server::Server;
use service_kit::tasks::BackgroundTasks;
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
    /// Connects (lazily), migrates when configured, and binds the port.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.search.check()?;
        settings.media.check()?;
        let media = Arc::new(media::Media::open(&settings.media)?);
        // Two pools, splitting `database.max_connections` between them,
        // because how a statement is best planned depends on its kind:
        // - listings and searches are planned with their values every time,
        //   prepared or not: a listing's best plan depends on how common its
        //   words are, and the generic plan Postgres switches a prepared
        //   statement to after five runs was measured walking or bitmapping
        //   the whole table for them (the dense search fell from 2,600 to
        //   160 req/s). Prepared, they still skip the parse and the describe
        //   round trip of an unnamed statement;
        // - everything else (reservations, product reads, writes) is planned
        //   once per connection: no plan of theirs depends on the values,
        //   and planning the reservations' statements anew was a third of
        //   catalog's database time in `cargo xtask bench checkout` (README,
        //   "Database connections").
        let (main, search) = split_connections(&settings.database);
        let pool = service_kit::db::connect_with(
            &main,
            env!("CARGO_PKG_NAME"),
            &[("plan_cache_mode", "force_generic_plan")],
        )?;
        let search_pool = service_kit::db::connect_with(
            &search,
            concat!(env!("CARGO_PKG_NAME"), "-search"),
            &[("plan_cache_mode", "force_custom_plan")],
        )?;
        if settings.database.migrate_on_start {
            service_kit::db::migrate(&pool, &settings.database, &MIGRATOR).await?;
        }
        let state = AppState::new(state::Shared {
            pool: pool.clone(),
            search_pool: search_pool.clone(),
            verifier: JwksVerifier::new(&settings.auth)?,
            caches: cache::Caches::new(&settings.cache),
            settings: Arc::new(settings),
            search_memory: Default::default(),
            media,
        });
        let ops = Ops::new(pool, &MIGRATOR).with_pool("search", search_pool);
        // Uploads may be larger than the kit's 1 MiB.
        let limits = BodyLimits::default().allow(
            features::images::UPLOAD_ROUTE,
            features::images::UPLOAD_BODY_LIMIT,
        );
        let server = Server::bind_with_body_limits(
            &state.settings.server,
            api::router(state.clone()),
            ops,
            limits,
        )
        .await?;
        // After `bind`, which installs the process's metrics recorder.
        describe_metrics();
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

    /// Serves until `shutdown` is cancelled, then drains in-flight requests;
    /// the reservation sweeper and the cache's listener run alongside and
    /// stop with the server.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let stop_tasks = shutdown.child_token();
        let sweeper = tokio::spawn(features::reservations::sweeper::run(
            self.state.pool.clone(),
            self.state.caches.clone(),
            self.state.settings.reservations.clone(),
            stop_tasks.clone(),
        ));
        // Without a listener the cache is never used (bypassed throughout).
        let listener = self.state.settings.cache.enabled.then(|| {
            tokio::spawn(cache::listener::run(
                self.state.pool.clone(),
                self.state.caches.clone(),
                stop_tasks.clone(),
            ))
        });
        let mut tasks = BackgroundTasks::new(&shutdown);
        let (pool, media, settings) = (
            self.state.pool.clone(),
            self.state.media.clone(),
            self.state.settings.media.clone(),
        );
        tasks.every(
            "media sweep",
            std::time::Duration::from_millis(settings.sweep_interval_ms.max(10)),
            move || features::images::sweeper::tick(pool.clone(), media.clone(), settings.clone()),
        );
        let served = tasks.while_serving(self.server.run(shutdown)).await;
        // The server may also stop on its own (an error): stop the tasks too.
        stop_tasks.cancel();
        if let Err(err) = sweeper.await {
            tracing::warn!(error = %err, "the reservation sweeper ended abnormally");
        }
        if let Some(Err(err)) = match listener {
            Some(listener) => Some(listener.await),
            None => None,
        } {
            tracing::warn!(error = %err, "the cache listener ended abnormally");
        }
        served
    }
}

/// Registers the help text of the service's own metrics.
fn describe_metrics() {
    metrics::describe_counter!(
        "catalog_reservations_total",
        "Reservation calls by outcome: reserved, replayed, insufficient_stock, error, committed, released."
    );
    metrics::describe_counter!(
        "catalog_reservations_expired_total",
        "Expired reservations released by the sweeper."
    );
    metrics::describe_counter!(
        "catalog_cache_requests_total",
        "Cache lookups by cache (product, categories) and outcome: hit, miss, bypass (the cache is off or its listener is not listening)."
    );
    metrics::describe_counter!(
        "catalog_cache_invalidations_total",
        "Cache entries dropped after a committed write, by cache and scope: key, all (a flush)."
    );
    metrics::describe_gauge!(
        "catalog_cache_listener_connected",
        "1 while the cache's LISTEN connection is up (the cache is in use), else 0."
    );
    metrics::describe_counter!(
        "catalog_cache_listener_reconnects_total",
        "Times the cache's LISTEN connection was re-established (each flushes the cache)."
    );
    metrics::describe_gauge!("catalog_cache_entries", "Entries held, by cache.");
    metrics::describe_counter!(
        "catalog_media_swept_total",
        "Stored image objects deleted by the sweep (no image used them any more)."
    );
    metrics::describe_gauge!(
        "catalog_cache_weighted_bytes",
        "Approximate memory the entries take, by cache (bounded by cache.max_bytes)."
    );
    // Present (at 0) from the start, so alerts can tell "none" from "absent".
    metrics::counter!("catalog_reservations_expired_total").increment(0);
    metrics::counter!("catalog_cache_listener_reconnects_total").increment(0);
    metrics::counter!("catalog_media_swept_total").increment(0);
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

    async fn build(settings: Settings) -> anyhow::Result<Self> {
        Application::build(settings).await
    }

    fn port(&self) -> u16 {
        self.server.port()
    }

    fn pool(&self) -> &PgPool {
        &self.state.pool
    }

    async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        Application::run(self, shutdown).await
    }
}

/// `database`'s connections split between the service's pool (half,
/// rounded up) and the search pool (the rest), at least one each; idle
/// connections likewise.
fn split_connections(
    database: &service_kit::config::DatabaseSettings,
) -> (
    service_kit::config::DatabaseSettings,
    service_kit::config::DatabaseSettings,
) {
    let half_up = |n: u32| n.div_ceil(2);
    let (mut main, mut search) = (database.clone(), database.clone());
    main.max_connections = half_up(database.max_connections).max(1);
    search.max_connections = (database.max_connections - half_up(database.max_connections)).max(1);
    main.min_connections = half_up(database.min_connections).min(main.max_connections);
    search.min_connections =
        (database.min_connections - half_up(database.min_connections)).min(search.max_connections);
    (main, search)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connections_are_split_between_the_two_pools() {
        let mut database = service_kit::config::DatabaseSettings {
            url: secrecy::SecretString::from("postgres://localhost/catalog"),
            schema: "catalog".into(),
            max_connections: 0,
            min_connections: 0,
            acquire_timeout_secs: 5,
            idle_timeout_secs: 300,
            statement_timeout_secs: 30,
            migrate_on_start: false,
        };
        for (max, min, expected) in [
            (10, 2, ((5, 1), (5, 1))),
            (5, 5, ((3, 3), (2, 2))),
            (20, 0, ((10, 0), (10, 0))),
            (1, 1, ((1, 1), (1, 0))),
        ] {
            database.max_connections = max;
            database.min_connections = min;
            let (main, search) = split_connections(&database);
            let got = (
                (main.max_connections, main.min_connections),
                (search.max_connections, search.min_connections),
            );
            assert_eq!(got, expected, "{max} / {min}");
        }
    }
}
