//! The command line every service binary shares: `serve` (the default),
//! `migrate`, and `healthcheck` (for container health probes in images that
//! have no shell or curl). A service's `main` is `service_kit::cli::main::<Application>()`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::de::DeserializeOwned;
use sqlx::migrate::Migrator;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::{DatabaseSettings, ServerSettings};

/// What the shared command line needs from a service.
pub trait Service: Sized + Send {
    /// Package name, used in logs, traces and metrics.
    const NAME: &'static str;
    /// The service's settings.
    type Settings: DeserializeOwned + Send + 'static;
    /// The service's built-in defaults (TOML), layered over the kit's.
    fn default_config() -> &'static str;
    /// Where the service's database settings live in its settings.
    fn database(settings: &Self::Settings) -> &DatabaseSettings;
    /// Where the server settings live.
    fn server(settings: &Self::Settings) -> &ServerSettings;
    /// The service's embedded migrations.
    fn migrator() -> &'static Migrator;
    /// Builds the application (binds its port).
    fn build(settings: Self::Settings) -> impl Future<Output = anyhow::Result<Self>> + Send;
    /// Serves until SIGTERM/SIGINT, then drains and returns.
    fn run_until_stopped(self) -> impl Future<Output = anyhow::Result<()>> + Send;
}

#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Create the schema if needed, apply pending migrations, and exit.
    Migrate,
    /// Exit 0 if the local server answers /ready with 200 (container probes).
    Healthcheck,
}

/// Parses the command line and runs the service; `main` is one call to this.
pub fn run<S: Service>() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Healthcheck = command {
        return healthcheck::<S>();
    }
    let guard = match crate::telemetry::init(S::NAME) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(dispatch::<S>(command)));
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "{} failed", S::NAME);
            ExitCode::FAILURE
        }
    };
    drop(guard);
    code
}

async fn dispatch<S: Service>(command: Command) -> anyhow::Result<()> {
    let settings =
        crate::config::load::<S::Settings>(S::default_config()).context("invalid configuration")?;
    match command {
        Command::Serve | Command::Healthcheck => {
            S::build(settings).await?.run_until_stopped().await
        }
        Command::Migrate => {
            let database = S::database(&settings);
            let pool = crate::db::connect(database, S::NAME)?;
            crate::db::migrate(&pool, database, S::migrator()).await?;
            tracing::info!(schema = %database.schema, "migrations applied");
            pool.close().await;
            Ok(())
        }
    }
}

fn healthcheck<S: Service>() -> ExitCode {
    let port = match crate::config::load::<S::Settings>(S::default_config()) {
        Ok(settings) => S::server(&settings).port,
        Err(err) => {
            eprintln!("invalid configuration: {err}");
            return ExitCode::FAILURE;
        }
    };
    match probe(port) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("healthcheck: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A minimal HTTP/1.0 GET of `/ready` on loopback.
fn probe(port: u16) -> std::io::Result<bool> {
    let mut stream =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    stream.write_all(b"GET /ready HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    Ok(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
}

/// Parses the command line and runs `S`; a service's `main` is one call.
pub fn main<S: crate::service::Service>() -> ExitCode {
    use crate::service::ServiceSettings;
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Healthcheck = command {
        return match crate::service::load_settings::<S>() {
            Ok(mut settings) => match probe(settings.server().port) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(err) => {
                    eprintln!("healthcheck: {err}");
                    ExitCode::FAILURE
                }
            },
            Err(err) => {
                eprintln!("invalid configuration: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let guard = match crate::telemetry::init(S::NAME) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(execute::<S>(command)));
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "{} failed", S::NAME);
            ExitCode::FAILURE
        }
    };
    drop(guard);
    code
}

async fn execute<S: crate::service::Service>(command: Command) -> anyhow::Result<()> {
    use crate::service::ServiceSettings;
    let mut settings = crate::service::load_settings::<S>().context("invalid configuration")?;
    match command {
        Command::Serve | Command::Healthcheck => {
            S::build(settings)
                .await?
                .run(crate::server::shutdown_token())
                .await
        }
        Command::Migrate => {
            let database = settings.database();
            let pool = crate::db::connect(database, S::NAME)?;
            crate::db::migrate(&pool, database, S::migrator()).await?;
            tracing::info!(schema = %database.schema, "migrations applied");
            pool.close().await;
            Ok(())
        }
    }
}
