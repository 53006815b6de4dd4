//! The connection that hears which cache entries went stale: `LISTEN
//! catalog_cache` on a connection of its own, reconnected when lost.
//!
//! The cache is used only while this connection is known to be listening:
//! - lost (the server closed it, `pg_terminate_backend`, a restart, a
//!   network error) or silent for longer than a ping allows: the caches go
//!   stale at once and are bypassed;
//! - back: it listens again first, then everything cached is dropped, and
//!   only then is the cache used again. Nothing committed before the new
//!   `LISTEN` can be served from memory, and everything committed after it
//!   is notified.

use service_kit::CancellationToken;
use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use std::time::Duration;

use super::{Caches, Invalidation, repository};

/// The channel the triggers of migration 0005 notify.
pub const CHANNEL: &str = "catalog_cache";

/// The listening connection's `application_name` (how an operator, or a
/// test, tells it apart in `pg_stat_activity`).
pub const APPLICATION_NAME: &str = "catalog-service-cache-listener";

/// How long a ping of the listening connection may take.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Listens until `shutdown` is cancelled. `pool` gives the connection
/// options (its own connections are not used).
pub async fn run(pool: PgPool, caches: Caches, shutdown: CancellationToken) {
    let settings = caches.settings().clone();
    let ping_every = Duration::from_secs(settings.listener_ping_secs.max(1));
    let retry_after = Duration::from_millis(settings.reconnect_delay_ms.max(10));
    caches.go_stale();
    tracing::info!("cache listener started");
    let mut connected_before = false;
    while !shutdown.is_cancelled() {
        // A pool of one connection, new for each attempt: a connection
        // abandoned as silent is never handed out again.
        let connections = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(
                (*pool.connect_options())
                    .clone()
                    .application_name(APPLICATION_NAME),
            );
        let listening = tokio::select! {
            () = shutdown.cancelled() => break,
            listening = listen(&connections) => listening,
        };
        let mut listener = match listening {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "cache listener cannot listen; the cache stays bypassed");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(retry_after) => continue,
                }
            }
        };
        if connected_before {
            metrics::counter!("catalog_cache_listener_reconnects_total").increment(1);
        }
        connected_before = true;
        caches.flush_and_go_live();
        tracing::info!("cache listener listening; the cache is in use");
        let lost = tokio::select! {
            () = shutdown.cancelled() => break,
            lost = receive(&mut listener, &caches, ping_every) => lost,
        };
        caches.go_stale();
        tracing::warn!(reason = %lost, "cache listener lost its connection; the cache is bypassed until it listens again");
        // (Not awaiting the pool's close: a silent connection could hang it.)
        drop(listener);
        drop(connections);
    }
    caches.go_stale();
    tracing::info!("cache listener stopped");
}

async fn listen(connections: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(connections).await?;
    // A lost connection ends `try_recv` with `None` and is left closed: this
    // loop reconnects itself, after going stale.
    listener.eager_reconnect(false);
    listener.ignore_pool_close_event(true);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Applies notifications until the connection is lost; pings it when idle
/// so that a silently dead connection is noticed too.
async fn receive(listener: &mut PgListener, caches: &Caches, ping_every: Duration) -> String {
    loop {
        // `try_recv` is cancel-safe: a timeout loses no message.
        match tokio::time::timeout(ping_every, listener.try_recv()).await {
            Ok(Ok(Some(notification))) => {
                caches
                    .apply(Invalidation::parse(notification.payload()))
                    .await;
            }
            Ok(Ok(None)) => return "connection closed".to_owned(),
            Ok(Err(err)) => return err.to_string(),
            Err(_idle) => {
                caches.record_sizes();
                match tokio::time::timeout(PING_TIMEOUT, repository::ping(listener)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => return err.to_string(),
                    Err(_) => return "ping timed out".to_owned(),
                }
            }
        }
    }
}
