//! The service's own commands:
//!
//! `user-service create-admin --email EMAIL [--name NAME] [--reset-password]`
//! creates an administrator (or adds the admin role to the existing account
//! with that e-mail, leaving its password unless `--reset-password`). The
//! password comes from `ADMIN_PASSWORD`, otherwise from the first line of
//! standard input; never from the command line, where `ps` would show it.

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::SecretString;
use std::io::BufRead;

use crate::config::Settings;
use crate::features::auth::service::ensure_admin;
use crate::features::users::models::{Email, Password, parse_full_name};
use crate::passwords::Passwords;

#[derive(Debug, Parser)]
#[command(name = "user-service", no_binary_name = true)]
struct Commands {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an administrator (password from ADMIN_PASSWORD or stdin).
    CreateAdmin {
        /// The administrator's e-mail address.
        #[arg(long)]
        email: String,
        /// Full name of a new account.
        #[arg(long, default_value = "Administrator")]
        name: String,
        /// Also set the password of an existing account.
        #[arg(long)]
        reset_password: bool,
    },
}

/// Runs `args` (`args[0]` is the command name).
pub async fn run(settings: Settings, args: Vec<String>) -> anyhow::Result<()> {
    let commands = match Commands::try_parse_from(&args) {
        Ok(commands) => commands,
        Err(err) if !err.use_stderr() => {
            // --help
            print!("{err}");
            return Ok(());
        }
        Err(err) => anyhow::bail!("{err}"),
    };
    match commands.command {
        Command::CreateAdmin {
            email,
            name,
            reset_password,
        } => create_admin(settings, &email, &name, reset_password).await,
    }
}

async fn create_admin(
    settings: Settings,
    email: &str,
    name: &str,
    reset_password: bool,
) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email {}", e.message))?;
    let full_name = parse_full_name(name).map_err(|e| anyhow::anyhow!("--name {}", e.message))?;
    let password = match std::env::var("ADMIN_PASSWORD") {
        Ok(password) if !password.is_empty() => password,
        _ => {
            eprintln!("Password for {} (one line on stdin):", email.as_str());
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let password = Password::parse(SecretString::from(password), "password")
        .map_err(|e| anyhow::anyhow!("the password {}", e.message))?;
    let pool = service_kit::db::connect(&settings.database, crate::NAME)?;
    if settings.database.migrate_on_start {
        service_kit::db::migrate(&pool, &settings.database, &crate::MIGRATOR).await?;
    }
    let passwords = Passwords::new(1);
    let (user, created) = ensure_admin(
        &pool,
        &passwords,
        email,
        password,
        &full_name,
        reset_password,
    )
    .await?;
    pool.close().await;
    if created {
        println!("created administrator {} ({})", user.email, user.id);
    } else if reset_password {
        println!(
            "{} ({}) is an administrator; password set",
            user.email, user.id
        );
    } else {
        println!(
            "{} ({}) already existed and is an administrator; password unchanged",
            user.email, user.id
        );
    }
    Ok(())
}
