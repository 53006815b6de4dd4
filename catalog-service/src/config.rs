//! catalog-service settings: the kit's sections plus this service's own.

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::ServiceSettings;
use service_kit::config::{AuthSettings, DatabaseSettings, Environment, ServerSettings};
use service_kit::startup::Rule;

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

[media]
backend = "filesystem"
path = "target/media"
mounted_volume = false
max_decode_bytes = 134217728
decode_concurrency = 2
cache_bytes = 67108864
max_images_per_product = 20
sweep_interval_ms = 60000
sweep_grace_secs = 3600

[media.s3]
endpoint = ""
bucket = ""
region = "us-east-1"
access_key_id = ""
secret_access_key = ""
allow_http = false

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
    /// Product images: storage, limits, the sweep.
    pub media: MediaSettings,
}

/// Where product images are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaBackend {
    /// A local directory (`media.path`): development, tests, or a mounted
    /// volume (`media.mounted_volume = true`) in production.
    Filesystem,
    /// S3-compatible object storage (`media.s3`).
    S3,
}

/// Product images.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSettings {
    /// `filesystem` or `s3`.
    pub backend: MediaBackend,
    /// The directory of the filesystem backend (created if missing).
    pub path: String,
    /// The operator says `path` is a mounted volume: only then may
    /// production use the filesystem backend (the root filesystem is
    /// read-only there).
    pub mounted_volume: bool,
    /// Memory one image may take to decode, in bytes (decompression bombs
    /// are refused by this and the 8000 px limit).
    pub max_decode_bytes: u64,
    /// Images decoded or encoded at once.
    pub decode_concurrency: usize,
    /// Memory the objects served from memory (originals and renditions)
    /// may take, in bytes.
    pub cache_bytes: u64,
    /// Most images one product may have.
    pub max_images_per_product: i64,
    /// How often the sweep deletes stored objects no image uses.
    pub sweep_interval_ms: u64,
    /// An object is deleted only once unused and untouched this long
    /// (an upload in flight touches it first).
    pub sweep_grace_secs: u64,
    /// The S3 backend.
    pub s3: S3Settings,
}

/// An S3-compatible bucket.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// Endpoint URL (`http://127.0.0.1:9000`); empty means AWS itself.
    pub endpoint: String,
    /// Bucket name.
    pub bucket: String,
    /// Region (`us-east-1`).
    pub region: String,
    /// Access key id. Secret.
    pub access_key_id: SecretString,
    /// Secret access key. Secret.
    pub secret_access_key: SecretString,
    /// Allow a plain-HTTP endpoint (local S3-compatible servers).
    pub allow_http: bool,
}

impl MediaSettings {
    /// Refuses settings that cannot work.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.decode_concurrency >= 1 && self.max_images_per_product >= 1,
            "media.decode_concurrency and media.max_images_per_product must be at least 1"
        );
        anyhow::ensure!(
            self.backend != MediaBackend::S3 || !self.s3.bucket.is_empty(),
            "media.s3.bucket must be set when media.backend = \"s3\""
        );
        Ok(())
    }

    /// The start-up rules of the media settings.
    pub fn startup_rules(&self) -> Vec<Rule> {
        match self.backend {
            MediaBackend::Filesystem => vec![Rule::dev_only(
                "media.backend",
                !self.mounted_volume,
                "images would be written to the container's own disk (read-only in production); use \"s3\", or media.mounted_volume = true with media.path on a mounted volume",
            )],
            MediaBackend::S3 => vec![
                Rule::secret("media.s3.access_key_id", &self.s3.access_key_id),
                Rule::secret("media.s3.secret_access_key", &self.s3.secret_access_key),
            ],
        }
    }
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

    fn startup_rules(&self) -> Vec<Rule> {
        self.media.startup_rules()
    }
}
