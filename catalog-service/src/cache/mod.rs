//! The in-process cache of what catalog reads most (product representations
//! and the category tree), kept coherent across replicas.
//!
//! Every statement that changes a product or a category notifies the
//! channel `catalog_cache` from inside its transaction (triggers, migration
//! 0005), so every replica hears of a committed write and of no other. Each
//! replica listens on one connection of its own ([`listener`]); the replica
//! that made a write also drops the entries itself right after its commit,
//! so its own next read sees the write.
//!
//! Two races are closed here rather than left to timing:
//! - A read that started before a write committed must not put the old
//!   value back after the write's invalidation: each key hashes to a
//!   counter bumped by every invalidation of the key, and a value read from
//!   the database is kept only if no invalidation (nor flush) happened
//!   between the start of its read and its insertion ([`Ticket`]).
//! - While the listening connection is down, notifications are lost: the
//!   cache is bypassed (neither read nor filled) until the listener has
//!   reconnected, listens again, and has flushed everything.

pub mod listener;
mod repository;

use metrics::Counter;
use moka::future::Cache;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use uuid::Uuid;

use crate::config::CacheSettings;
use crate::features::categories::CategoryTree;
use crate::features::products::ProductEntry;

/// Invalidation counters per cache: keys hash to one of these.
const STRIPES: usize = 1024;

/// Whether the cache may be used, shared by every cache of the process.
#[derive(Debug, Default)]
struct Coherence {
    /// The listener is connected and listening, and has flushed since.
    live: AtomicBool,
    /// Bumped by every flush and every loss of the listener.
    epoch: AtomicU64,
}

/// One bounded cache whose entries are dropped on every replica when the
/// database row they represent changes.
pub struct Coherent<K, V> {
    name: &'static str,
    /// Hit, miss and bypass counters, registered at first use (after the
    /// metrics recorder is installed) and kept: a lookup costs no registry
    /// search.
    counters: OnceLock<[Counter; 3]>,
    entries: Cache<K, V>,
    stripes: Box<[AtomicU64]>,
    hasher: RandomState,
    coherence: Arc<Coherence>,
    enabled: bool,
}

/// Taken before a read of the database: the value read may be cached only
/// if nothing invalidated its key since.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    live: bool,
    epoch: u64,
    stripe: usize,
    count: u64,
}

impl<K, V> Coherent<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn new(
        name: &'static str,
        settings: &CacheSettings,
        max_bytes: u64,
        weigh: fn(&K, &V) -> u32,
        coherence: Arc<Coherence>,
    ) -> Self {
        let entries = Cache::builder()
            .name(name)
            .max_capacity(max_bytes)
            .weigher(weigh)
            // A safety net only: coherence comes from the notifications.
            .time_to_live(Duration::from_secs(settings.time_to_live_secs.max(1)))
            .build();
        Self {
            name,
            counters: OnceLock::new(),
            entries,
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            hasher: RandomState::new(),
            coherence,
            enabled: settings.enabled,
        }
    }

    /// Whether entries may be served and stored now.
    pub fn is_live(&self) -> bool {
        self.enabled && self.coherence.live.load(Ordering::SeqCst)
    }

    /// The cached value of `key`, counting a hit, a miss, or a bypass (the
    /// cache is disabled or not known to be coherent).
    pub async fn get(&self, key: &K) -> Option<V> {
        let [hits, misses, bypasses] = self.counters.get_or_init(|| {
            ["hit", "miss", "bypass"].map(|outcome| {
                metrics::counter!("catalog_cache_requests_total", "cache" => self.name, "outcome" => outcome)
            })
        });
        if !self.is_live() {
            bypasses.increment(1);
            return None;
        }
        let found = self.entries.get(key).await;
        if found.is_some() { hits } else { misses }.increment(1);
        found
    }

    /// Take before reading `key` from the database.
    pub fn ticket(&self, key: &K) -> Ticket {
        let stripe = self.stripe(key);
        Ticket {
            live: self.is_live(),
            epoch: self.coherence.epoch.load(Ordering::SeqCst),
            stripe,
            count: self.stripes[stripe].load(Ordering::SeqCst),
        }
    }

    /// Stores `value`, read from the database after `ticket` was taken,
    /// unless `key` was invalidated (or the cache flushed or bypassed)
    /// since: then the value may be older than a committed write.
    pub async fn insert(&self, key: K, value: V, ticket: Ticket) {
        if !ticket.live || !self.unchanged_since(&ticket) {
            return;
        }
        // Inserted first, checked after: an invalidation racing with the
        // insertion either is seen by the check or removes the entry itself.
        self.entries.insert(key.clone(), value).await;
        if !self.unchanged_since(&ticket) {
            self.entries.invalidate(&key).await;
        }
    }

    /// Drops `key`: its database row changed.
    pub async fn invalidate(&self, key: &K) {
        self.stripes[self.stripe(key)].fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate(key).await;
        self.count_invalidation("key");
    }

    /// Drops every entry.
    pub fn invalidate_all(&self) {
        for stripe in self.stripes.iter() {
            stripe.fetch_add(1, Ordering::SeqCst);
        }
        self.entries.invalidate_all();
        self.count_invalidation("all");
    }

    /// Entries held and their total weight (approximate, for the metrics).
    pub fn size(&self) -> (u64, u64) {
        (self.entries.entry_count(), self.entries.weighted_size())
    }

    fn unchanged_since(&self, ticket: &Ticket) -> bool {
        self.coherence.live.load(Ordering::SeqCst)
            && self.coherence.epoch.load(Ordering::SeqCst) == ticket.epoch
            && self.stripes[ticket.stripe].load(Ordering::SeqCst) == ticket.count
    }

    fn stripe(&self, key: &K) -> usize {
        (self.hasher.hash_one(key) % STRIPES as u64) as usize
    }

    fn count_invalidation(&self, scope: &'static str) {
        metrics::counter!("catalog_cache_invalidations_total", "cache" => self.name, "scope" => scope)
            .increment(1);
    }
}

/// The caches of one process, and the switch the listener drives.
#[derive(Clone)]
pub struct Caches {
    /// Product representations by id (deleted products are never cached).
    pub products: Arc<Coherent<Uuid, Arc<ProductEntry>>>,
    /// The whole category tree (one entry).
    pub categories: Arc<Coherent<(), Arc<CategoryTree>>>,
    coherence: Arc<Coherence>,
    settings: CacheSettings,
}

impl Caches {
    /// Empty caches, bypassed until the listener is connected.
    pub fn new(settings: &CacheSettings) -> Self {
        let coherence = Arc::new(Coherence::default());
        // The tree is small; products get the rest of the budget.
        let tree_bytes = (settings.max_bytes / 16).max(1 << 20);
        Self {
            products: Arc::new(Coherent::new(
                "product",
                settings,
                settings.max_bytes,
                |_, entry| entry.weight(),
                Arc::clone(&coherence),
            )),
            categories: Arc::new(Coherent::new(
                "categories",
                settings,
                tree_bytes,
                |_, tree| tree.weight(),
                Arc::clone(&coherence),
            )),
            coherence,
            settings: settings.clone(),
        }
    }

    /// The configuration the caches were built with.
    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// Drops the entries of `product_ids` (after a committed write).
    pub async fn invalidate_products(&self, product_ids: impl IntoIterator<Item = Uuid>) {
        for id in product_ids {
            self.products.invalidate(&id).await;
        }
    }

    /// Drops the category tree (after a committed write).
    pub async fn invalidate_categories(&self) {
        self.categories.invalidate(&()).await;
    }

    /// Applies one notification of channel `catalog_cache`.
    pub async fn apply(&self, message: Invalidation) {
        match message {
            Invalidation::Products(ids) => self.invalidate_products(ids).await,
            Invalidation::Categories => self.invalidate_categories().await,
            Invalidation::Everything => self.flush(),
        }
    }

    /// Drops everything.
    pub fn flush(&self) {
        self.coherence.epoch.fetch_add(1, Ordering::SeqCst);
        self.products.invalidate_all();
        self.categories.invalidate_all();
    }

    /// The listener lost its connection: notifications may be missed from
    /// now on, so nothing is served from memory or stored there.
    pub fn go_stale(&self) {
        self.coherence.live.store(false, Ordering::SeqCst);
        self.coherence.epoch.fetch_add(1, Ordering::SeqCst);
        metrics::gauge!("catalog_cache_listener_connected").set(0.0);
    }

    /// The listener listens again: whatever changed meanwhile is unknown,
    /// so everything is dropped before the cache is used again.
    pub fn flush_and_go_live(&self) {
        self.flush();
        self.coherence.live.store(true, Ordering::SeqCst);
        metrics::gauge!("catalog_cache_listener_connected").set(1.0);
    }

    /// Publishes the caches' sizes.
    pub fn record_sizes(&self) {
        for (name, (entries, bytes)) in [
            ("product", self.products.size()),
            ("categories", self.categories.size()),
        ] {
            metrics::gauge!("catalog_cache_entries", "cache" => name).set(entries as f64);
            metrics::gauge!("catalog_cache_weighted_bytes", "cache" => name).set(bytes as f64);
        }
    }
}

/// What one notification of `catalog_cache` says went stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// These products (`p:<id>,<id>,...`).
    Products(Vec<Uuid>),
    /// The category tree (`c`).
    Categories,
    /// Everything (`*`, or a payload this version does not understand).
    Everything,
}

impl Invalidation {
    /// Reads a payload written by the triggers of migration 0005. Anything
    /// else flushes everything: dropping too much is safe, too little not.
    pub fn parse(payload: &str) -> Self {
        match payload {
            "c" => Self::Categories,
            "*" => Self::Everything,
            _ => payload
                .strip_prefix("p:")
                .and_then(|ids| {
                    ids.split(',')
                        .map(|id| Uuid::parse_str(id.trim()).ok())
                        .collect::<Option<Vec<_>>>()
                })
                .map_or(Self::Everything, Self::Products),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CacheSettings {
        CacheSettings {
            enabled: true,
            max_bytes: 1 << 20,
            time_to_live_secs: 60,
            listener_ping_secs: 5,
            reconnect_delay_ms: 100,
        }
    }

    fn cache() -> (Coherent<u32, u32>, Arc<Coherence>) {
        let coherence = Arc::new(Coherence::default());
        coherence.live.store(true, Ordering::SeqCst);
        let cache = Coherent::new(
            "test",
            &settings(),
            1 << 20,
            |_, _| 1,
            Arc::clone(&coherence),
        );
        (cache, coherence)
    }

    #[test]
    fn payloads_name_products_categories_or_everything() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        assert_eq!(
            Invalidation::parse(&format!("p:{a},{b}")),
            Invalidation::Products(vec![a, b])
        );
        assert_eq!(Invalidation::parse("c"), Invalidation::Categories);
        assert_eq!(Invalidation::parse("*"), Invalidation::Everything);
        assert_eq!(Invalidation::parse("p:nonsense"), Invalidation::Everything);
        assert_eq!(
            Invalidation::parse("something new"),
            Invalidation::Everything
        );
    }

    #[tokio::test]
    async fn a_value_read_before_an_invalidation_is_not_kept() {
        let (cache, _) = cache();
        let ticket = cache.ticket(&1);
        cache.invalidate(&1).await;
        cache.insert(1, 10, ticket).await;
        assert_eq!(cache.get(&1).await, None);
        let ticket = cache.ticket(&1);
        cache.insert(1, 11, ticket).await;
        assert_eq!(cache.get(&1).await, Some(11));
    }

    #[tokio::test]
    async fn nothing_is_served_or_kept_while_the_listener_is_down() {
        let (cache, coherence) = cache();
        let ticket = cache.ticket(&1);
        cache.insert(1, 10, ticket).await;
        coherence.live.store(false, Ordering::SeqCst);
        assert_eq!(cache.get(&1).await, None);
        let stale = cache.ticket(&2);
        cache.insert(2, 20, stale).await;
        coherence.live.store(true, Ordering::SeqCst);
        assert_eq!(cache.get(&2).await, None);
    }

    #[tokio::test]
    async fn a_flush_between_ticket_and_insert_drops_the_value() {
        let (cache, coherence) = cache();
        let ticket = cache.ticket(&1);
        coherence.epoch.fetch_add(1, Ordering::SeqCst);
        cache.insert(1, 10, ticket).await;
        assert_eq!(cache.get(&1).await, None);
    }
}
