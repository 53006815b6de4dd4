//! catalog-service settings: the kit's sections plus this service's own.

use serde::Deserialize;
use service_kit::ServiceSettings;
use service_kit::config::{AuthSettings, DatabaseSettings, Environment, ServerSettings};

/// Built-in defaults, layered over the kit's. The database password is a
/// local-only default; deployments set `APP__DATABASE__URL`.
pub const DEFAULTS: &str = r#"
[server]
port = 8002

[database]
url = "postgres://catalog_service:catalog_service@127.0.0.1:5432/shop"
schema = "catalog"

[auth]
audience = "catalog-service"

[reservations]
default_ttl_secs = 900
max_ttl_secs = 86400
sweep_interval_ms = 5000
sweep_batch_size = 100

[cache]
enabled = true
max_bytes = 67108864
time_to_live_secs = 300
listener_ping_secs = 5
reconnect_delay_ms = 500

[search]
probe_rows = 1000
max_candidates = 1000
max_walk_rows = 20000
"#;

/// Everything catalog-service is configured with.
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
    /// Stock reservations and their expiry sweeper.
    pub reservations: ReservationSettings,
    /// The in-process cache of products and categories.
    pub cache: CacheSettings,
    /// How much work one search may do.
    pub search: SearchSettings,
}

/// The in-process cache, kept coherent across replicas by `LISTEN/NOTIFY`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// Off: every read goes to the database (and no listener runs).
    pub enabled: bool,
    /// Memory the cached representations may take, in bytes (least
    /// valuable entries are evicted beyond it).
    pub max_bytes: u64,
    /// Longest an entry is kept whatever happens (a safety net: entries
    /// are dropped on every change anyway).
    pub time_to_live_secs: u64,
    /// The listening connection is pinged when idle this long; a ping
    /// unanswered within 2 s counts as a lost connection.
    pub listener_ping_secs: u64,
    /// Wait between two attempts to listen again.
    pub reconnect_delay_ms: u64,
}

/// Bounds on the work of one search (see the README's "Search").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSettings {
    /// Newest products a newest-first search first looks among for a page.
    pub probe_rows: i64,
    /// Matches a search reads from the full-text index to sort them itself;
    /// with more, it walks its order's index instead.
    pub max_candidates: i64,
    /// Products such a walk reads at most for one page.
    pub max_walk_rows: i64,
}

/// Stock reservations made by order-service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationSettings {
    /// TTL of a reservation whose request names none.
    pub default_ttl_secs: u32,
    /// Longest TTL a caller may ask for.
    pub max_ttl_secs: u32,
    /// How often the sweeper looks for expired reservations.
    pub sweep_interval_ms: u64,
    /// Expired reservations released per sweeper transaction.
    pub sweep_batch_size: u32,
}

impl SearchSettings {
    /// Refuses bounds that would make searches miss everything.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.probe_rows >= 1 && self.max_candidates >= 1 && self.max_walk_rows >= 1,
            "search.probe_rows, search.max_candidates and search.max_walk_rows must be at least 1"
        );
        Ok(())
    }
}

impl ServiceSettings for Settings {
    fn environment(&self) -> Environment {
        self.environment
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
