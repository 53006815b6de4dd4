//! The command line every service binary shares: `serve` (the default),
//! `migrate`, `check-config` (load and validate the configuration, touch
//! nothing, exit) and `healthcheck` (for container health probes in images
//! that have no shell or curl). A service's `main` is
//! `service_kit::cli::main::<Application>()`.
//!
//! Every command but `healthcheck` first checks the start-up rules
//! ([`crate::startup`]): a service refuses to run with a configuration its
//! environment does not allow, naming each offending key.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

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
    /// Load and validate the configuration (start-up rules included) without
    /// touching the database or the network; exit 0 if `serve` would accept it.
    CheckConfig,
    /// A command of the service's own (see the service's README).
    #[command(external_subcommand)]
    Other(Vec<String>),
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
    if let Command::CheckConfig = command {
        return check_config::<S>();
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

/// `check-config`: what `serve` checks before it touches anything, reported
/// on stdout/stderr without the telemetry set-up (no exporter to flush).
fn check_config<S: crate::service::Service>() -> ExitCode {
    use crate::service::ServiceSettings;
    let checked = crate::service::load_settings::<S>()
        .map_err(anyhow::Error::from)
        .and_then(|mut settings| {
            crate::startup::validate::<S>(&mut settings)?;
            Ok(settings.environment())
        });
    match checked {
        Ok(environment) => {
            println!(
                "{}: configuration valid for APP__ENVIRONMENT={environment}",
                S::NAME
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{}: invalid configuration: {err:#}", S::NAME);
            ExitCode::FAILURE
        }
    }
}

async fn execute<S: crate::service::Service>(command: Command) -> anyhow::Result<()> {
    use crate::service::ServiceSettings;
    let mut settings = crate::service::load_settings::<S>().context("invalid configuration")?;
    crate::startup::validate::<S>(&mut settings).context("invalid configuration")?;
    match command {
        Command::Serve | Command::Healthcheck | Command::CheckConfig => {
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
        Command::Other(args) => S::command(settings, args).await,
    }
}
