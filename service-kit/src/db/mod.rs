//! Postgres: a pool confined to the service's schema, its embedded
//! migrations, and the readiness check behind `/ready`.

mod repository;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

use crate::config::DatabaseSettings;

/// Whether the same statement could succeed if the request were simply
/// retried: the database unreachable or restarting, the pool exhausted or
/// shutting down, a deadlock or serialization failure, a lock or statement
/// timeout, the server out of connections or memory (also when it says so,
/// or hangs up, before a new connection's SSLRequest is answered).
/// Anything else (a constraint, a type, a protocol or configuration error,
/// a dropped database) would fail again and is a bug or bad data.
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => true,
        // A new connection refused before its SSLRequest was answered: the
        // server (or a proxy in front of it) closed it, which sqlx reads as
        // a 0x00 answer, or the postmaster could not start a backend and
        // sent an error ('E', 0x45) first. sqlx appends where it raised
        // the error. Any other byte is a peer that is not Postgres.
        sqlx::Error::Protocol(message) => SSL_REQUEST_REFUSED
            .iter()
            .any(|answer| message.starts_with(answer)),
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            matches!(
                code.as_ref(),
                // connection_exception, connection_does_not_exist,
                // connection_failure, sqlclient_unable_to_establish_sqlconnection,
                // sqlserver_rejected_establishment_of_sqlconnection
                "08000" | "08003" | "08006" | "08001" | "08004"
                // serialization_failure, deadlock_detected
                | "40001" | "40P01"
                // insufficient_resources, out_of_memory, too_many_connections
                | "53000" | "53200" | "53300"
                // lock_not_available (lock_timeout)
                | "55P03"
                // query_canceled (statement_timeout: the database was too
                // busy to answer in time), admin_shutdown, crash_shutdown,
                // cannot_connect_now (starting up or in recovery)
                | "57014" | "57P01" | "57P02" | "57P03"
            )
        }),
        _ => false,
    }
}

/// How sqlx reports a connection closed before the server answered its
/// SSLRequest (what a restarting server or a proxy to a dead one does), and
/// one the postmaster answered with an error because it could not fork.
const SSL_REQUEST_REFUSED: [&str; 2] = [
    "unexpected response from SSLRequest: 0x00 ",
    "unexpected response from SSLRequest: 0x45 ",
];

/// A pooled connection idle this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Builds the service's pool. Connections are opened lazily, so a service
/// starts (and reports not-ready) while its database is down, and recovers
/// by itself when the database comes back.
pub fn connect(settings: &DatabaseSettings, application_name: &str) -> anyhow::Result<PgPool> {
    connect_with(settings, application_name, &[])
}

/// [`connect`], with more run-time parameters for every connection of the
/// pool (`("plan_cache_mode", "force_custom_plan")`).
pub fn connect_with(
    settings: &DatabaseSettings,
    application_name: &str,
    parameters: &[(&str, &str)],
) -> anyhow::Result<PgPool> {
    let schema = checked_schema(&settings.schema)?;
    // The parse error of a URL could echo the URL, password included: say
    // which setting is wrong, never what it holds.
    let options = PgConnectOptions::from_str(settings.url.expose_secret())
        .map_err(|_| {
            anyhow::anyhow!("database.url (APP__DATABASE__URL) is not a valid Postgres URL")
        })?
        .application_name(application_name)
        .options([
            ("search_path", schema.to_owned()),
            (
                "statement_timeout",
                format!("{}s", settings.statement_timeout_secs),
            ),
            ("timezone", "UTC".to_owned()),
            // Notices (a search of stop words only, `if not exists` in a
            // migration) are not worth a log line each.
            ("client_min_messages", "warning".to_owned()),
        ])
        .options(parameters.iter().copied());
    Ok(PgPoolOptions::new()
        // sqlx pings every connection it hands out by default: a second
        // round trip for every statement. Only a connection idle for a
        // while (the database may have restarted meanwhile) is pinged.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
        .idle_timeout(Duration::from_secs(settings.idle_timeout_secs))
        .connect_lazy_with(options))
}

/// Creates the schema when missing, then applies `migrator`'s migrations
/// (under sqlx's advisory lock, so concurrent replicas are safe). The
/// migration table lives in the schema, so services never share it.
pub async fn migrate(
    pool: &PgPool,
    settings: &DatabaseSettings,
    migrator: &Migrator,
) -> anyhow::Result<()> {
    let schema = checked_schema(&settings.schema)?;
    if !repository::schema_exists(pool, schema)
        .await
        .context("checking whether the schema exists")?
    {
        repository::create_schema(pool, schema)
            .await
            .with_context(|| format!("creating schema {schema}"))?;
    }
    migrator.run(pool).await.context("applying migrations")?;
    Ok(())
}

/// Why the service is not ready, if it is not.
pub async fn readiness(pool: &PgPool, migrator: &Migrator) -> Result<(), String> {
    repository::ping(pool)
        .await
        .map_err(|_| "database unreachable".to_owned())?;
    let applied = repository::applied_migrations(pool)
        .await
        .map_err(|_| "migrations not applied (no migration table)".to_owned())?;
    let pending: Vec<i64> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect();
    if pending.is_empty() {
        Ok(())
    } else {
        Err(format!("migrations pending: {pending:?}"))
    }
}

/// Publishes the pool's gauges (called when `/metrics` is scraped).
pub fn record_pool_metrics(name: &'static str, pool: &PgPool) {
    let size = pool.size() as f64;
    let idle = pool.num_idle() as f64;
    metrics::gauge!("db_pool_connections", "pool" => name, "state" => "idle").set(idle);
    metrics::gauge!("db_pool_connections", "pool" => name, "state" => "in_use")
        .set((size - idle).max(0.0));
    metrics::gauge!("db_pool_max_connections", "pool" => name)
        .set(f64::from(pool.options().get_max_connections()));
}

/// A schema name is interpolated into DDL: only plain identifiers pass.
fn checked_schema(schema: &str) -> anyhow::Result<&str> {
    let mut chars = schema.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63;
    if valid {
        Ok(schema)
    } else {
        anyhow::bail!("database.schema must be a lower-case identifier, got {schema:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::{checked_schema, is_transient};
    use sqlx::{Connection, PgConnection};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Connects to a listener that treats every
    /// connection with `answer` (what it writes after reading the
    /// SSLRequest; nothing: it closes); returns the connection's error.
    async fn connect_to_a_peer_that_answers(answer: &'static [u8]) -> sqlx::Error {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 8];
                let _ = socket.read_exact(&mut request).await;
                let _ = socket.write_all(answer).await;
                drop(socket);
            }
        });
        let url = format!("postgres://nobody@127.0.0.1:{port}/db?sslmode=prefer");
        tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(&url))
            .await
            .expect("the connection attempt ends")
            .expect_err("nothing to connect to")
    }

    #[tokio::test]
    async fn a_connection_closed_before_the_ssl_answer_is_transient() {
        let err = connect_to_a_peer_that_answers(b"").await;
        assert!(is_transient(&err), "{err:?}");
    }

    #[tokio::test]
    async fn a_postmaster_that_cannot_fork_is_transient() {
        // What Postgres writes before reading the SSLRequest when it cannot
        // start a backend (report_fork_failure_to_client).
        let err =
            connect_to_a_peer_that_answers(b"Ecould not fork new process for connection: x\n\0")
                .await;
        assert!(is_transient(&err), "{err:?}");
    }

    #[tokio::test]
    async fn a_peer_that_is_not_postgres_is_not_transient() {
        let err = connect_to_a_peer_that_answers(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        assert!(!is_transient(&err), "{err:?}");
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(checked_schema("catalog").is_ok());
        assert!(checked_schema("order_2").is_ok());
        assert!(checked_schema("x; drop table users").is_err());
        assert!(checked_schema("Users").is_err());
        assert!(checked_schema("").is_err());
    }
}
