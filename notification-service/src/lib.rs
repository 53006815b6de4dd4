//! notification-service: email, SMS and push notifications for the fleet,
//! with per-user preferences and a delivery queue in Postgres.

pub mod api;
pub mod config;
pub mod delivery;
pub mod features;
pub mod state;
pub mod templates;

use service_kit::CancellationToken;
use service_kit::auth::JwksVerifier;
use service_kit::ops::Ops;
use service_kit::server::Server;
use service_kit::tasks::BackgroundTasks;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use std::sync::Arc;
use std::time::Duration;

pub use config::Settings;
use delivery::Worker;
use delivery::channels::Channels;
use features::notifications::contacts::UserDirectory;
use state::AppState;
use templates::Templates;

/// The service's embedded migrations (its own schema only).
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The running service: a bound server, its state and its delivery worker.
pub struct Application {
    server: Server,
    state: AppState,
    worker: Worker,
}

impl Application {
    /// The state handlers see (tests reach the pool through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A delivery worker over this service's queue (tests drive their own).
    pub fn worker(&self) -> Worker {
        self.worker.clone()
    }
}

/// Registers the help text of the service's own metrics.
fn describe_metrics() {
    metrics::describe_counter!(
        "notifications_sent_total",
        "Delivery attempts by channel and outcome: sent, retry (will be attempted again), failed (given up)."
    );
    metrics::describe_counter!(
        "notifications_accepted_total",
        "Notifications accepted at intake, by template."
    );
    metrics::describe_gauge!(
        "notification_queue_depth",
        "Deliveries pending (queued, in flight or waiting for a retry)."
    );
    metrics::describe_gauge!(
        "notification_oldest_pending_seconds",
        "Age of the oldest pending delivery, 0 when none."
    );
    // Present (at 0) from the start, so alerts can tell "none" from "absent".
    for channel in ["email", "sms", "push"] {
        for outcome in ["sent", "retry", "failed"] {
            metrics::counter!("notifications_sent_total", "channel" => channel, "outcome" => outcome)
                .increment(0);
        }
    }
    metrics::gauge!("notification_queue_depth").set(0.0);
    metrics::gauge!("notification_oldest_pending_seconds").set(0.0);
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

    /// Connects (lazily), migrates when configured, compiles the templates
    /// (a broken one fails here), configures the channels, binds the port.
    async fn build(settings: Settings) -> anyhow::Result<Self> {
        if settings.retention.days == 0 {
            anyhow::bail!(
                "retention.days (APP__RETENTION__DAYS) must be at least 1: a notification deduplicates its producer's redeliveries"
            );
        }
        let pool = service_kit::db::connect(&settings.database, Self::NAME)?;
        if settings.database.migrate_on_start {
            service_kit::db::migrate(&pool, &settings.database, &MIGRATOR).await?;
        }
        let templates = Arc::new(Templates::load(&settings.links.storefront_url)?);
        let channels = Channels::from_settings(&settings)?;
        let worker = Worker::new(pool.clone(), channels, settings.delivery.clone());
        let state = AppState {
            pool: pool.clone(),
            verifier: JwksVerifier::new(&settings.auth)?,
            templates,
            users: UserDirectory::from_settings(&settings)?,
            settings: Arc::new(settings),
        };
        let ops = Ops::new(pool, &MIGRATOR);
        let server = Server::bind(&state.settings.server, api::router(state.clone()), ops).await?;
        // After `bind`, which installs the process's metrics recorder.
        describe_metrics();
        Ok(Self {
            server,
            state,
            worker,
        })
    }

    fn port(&self) -> u16 {
        self.server.port()
    }

    fn pool(&self) -> &PgPool {
        &self.state.pool
    }

    /// Serves until `shutdown` is cancelled, then drains in-flight requests;
    /// `delivery.workers` delivery workers, the retention sweep and the
    /// erasure sweep run alongside and stop with it.
    async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut tasks = BackgroundTasks::new(&shutdown);
        let settings = &self.state.settings;
        for _ in 0..settings.delivery.workers {
            let worker = self.worker.clone();
            tasks.spawn("delivery worker", |stop| worker.run(stop));
        }
        let (pool, retention) = (self.state.pool.clone(), settings.retention.clone());
        tasks.spawn("retention sweep", move |stop| {
            delivery::retention::sweep(pool, retention, stop)
        });
        let (pool, every, window) = (
            self.state.pool.clone(),
            Duration::from_secs(settings.erasure.sweep_interval_secs.max(1)),
            Duration::from_secs(settings.erasure.reapply_window_secs),
        );
        tasks.spawn("erasure sweep", move |stop| {
            features::erasure::service::sweep(pool, every, window, stop)
        });
        tasks.while_serving(self.server.run(shutdown)).await
    }
}
