//! `cargo xtask up`: the whole fleet on this machine, until Ctrl-C.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cmd::local_extras::{GATEWAY_PORT, Gateway, LocalAdmin, ensure_admin, smtp_env};
use crate::infra::fleet::{Fleet, FleetOptions};
use crate::infra::{signals, workspace};

/// Options of `cargo xtask up` (its command line).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct UpOptions {
    /// Build and run the release profile.
    #[arg(long)]
    pub release: bool,
    /// Load the demo catalog once the fleet is ready (see `seed`).
    #[arg(long)]
    pub seed: bool,
    /// Skip `cargo build`: run the binaries already in target/.
    #[arg(long)]
    pub no_build: bool,
}

/// Starts the fleet, prints its URLs, and runs until a signal (exit 0) or a service dies (error).
pub fn run(opts: UpOptions) -> Result<()> {
    let began = Instant::now();
    let root = workspace::root();
    let smtp_url = std::env::var("SMTP_URL").ok();
    let smtp = smtp_env(smtp_url.as_deref())?;
    // Dev servers (Vite on 5173, ...) may call the fleet, directly or
    // through the gateway, unless APP__SERVER__CORS_ALLOWED_ORIGINS says otherwise.
    let mut env = smtp.clone();
    env.extend(crate::cmd::frontend::dev_cors_env());
    let fleet = Fleet::start(
        &root,
        FleetOptions {
            release: opts.release,
            build: !opts.no_build,
            cluster_name: "up".into(),
            env,
            ..FleetOptions::default()
        },
    )?;
    let admin = ensure_admin(&root, &fleet, opts.release)?;
    if crate::cmd::lint_deploy::find_on_path("nginx").is_some() {
        crate::cmd::storefront::build_for_up(&root);
    }
    let gateway = Gateway::start(&root)?;
    if opts.seed {
        seed_fleet(&root, &fleet)?;
    }
    print_table(&fleet, began.elapsed());
    print_extras(admin.as_ref(), gateway.is_some());
    match smtp_url.filter(|_| !smtp.is_empty()) {
        Some(url) => println!("Email: sent to {}\n", redact_smtp(&url)),
        None => println!(
            "Email: written to notification-service's log (set SMTP_URL=smtp://127.0.0.1:1025 to send it)\n"
        ),
    }
    let result = supervise(fleet);
    if let Some(gateway) = gateway {
        gateway.stop()?;
    }
    result
}

fn seed_fleet(root: &std::path::Path, fleet: &Fleet) -> Result<()> {
    let (email, password, _) = crate::cmd::local_extras::admin_credentials(root)?;
    let target = crate::cmd::seed::SeedTarget {
        user_url: fleet.base_url("user-service")?,
        catalog_url: fleet.base_url("catalog-service")?,
        order_url: fleet.base_url("order-service")?,
        pricing: true,
        email,
        password,
    };
    let report = crate::cmd::seed::run(root, &target)?;
    println!("Seeded the catalog and pricing: {report}");
    Ok(())
}

fn print_extras(admin: Option<&LocalAdmin>, gateway: bool) {
    if gateway {
        println!(
            "Gateway: http://127.0.0.1:{GATEWAY_PORT}/api/v1  (nginx, deploy/nginx/nginx.local.conf)"
        );
        println!(
            "API document: http://127.0.0.1:{GATEWAY_PORT}/api/v1/openapi.json  docs: http://127.0.0.1:{GATEWAY_PORT}/api/docs/"
        );
        println!("Storefront: http://127.0.0.1:{GATEWAY_PORT}/");
    }
    println!("CORS: {}", crate::cmd::frontend::allowed_origins());
    if let Some(admin) = admin {
        match &admin.generated_password {
            Some(password) => println!(
                "Local admin: {}  password: {password}  (generated once, kept in target/xtask/local-admin-password; set ADMIN_EMAIL/ADMIN_PASSWORD to choose)",
                admin.email
            ),
            None => println!(
                "Local admin: {}  (password from ADMIN_PASSWORD)",
                admin.email
            ),
        }
    }
    println!();
}

fn print_table(fleet: &Fleet, elapsed: Duration) {
    let rows: Vec<[String; 4]> = fleet
        .services()
        .map(|s| {
            let base = format!("http://127.0.0.1:{}", s.port);
            [
                s.package.clone(),
                format!("{base}/api/v1"),
                format!("{base}/docs"),
                format!("{base}/metrics"),
            ]
        })
        .collect();
    let header = ["service", "API base", "docs", "metrics"];
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 4]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
        }
        out.trim_end().to_owned()
    };
    println!();
    println!("{}", line(header));
    for row in &rows {
        println!("{}", line([&row[0], &row[1], &row[2], &row[3]]));
    }
    if let Some(cluster) = fleet.cluster() {
        println!(
            "\nPostgres: {}  (database `shop`, one role per service, password = role)",
            fleet.superuser_url()
        );
        println!(
            "          log: {}",
            cluster.data_dir().join("postgres.log").display()
        );
    }
    // `bench` (bench/running.rs) waits for "services ready in": keep those words.
    println!(
        "\nAll {} services ready in {:.1} s. Ctrl-C stops everything.\n",
        rows.len(),
        elapsed.as_secs_f64()
    );
}

/// Waits for a signal or an unexpected exit, then stops everything.
fn supervise(mut fleet: Fleet) -> Result<()> {
    loop {
        if signals::interrupted() {
            return fleet.stop();
        }
        if let Err(err) = fleet.check_alive() {
            eprintln!("xtask: {err:#}; stopping the fleet");
            // Stop first so the error is the last thing printed.
            if let Err(stop) = fleet.stop() {
                eprintln!("xtask: {stop:#}");
            }
            return Err(err);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `SMTP_URL` without its password.
fn redact_smtp(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://***@{host}"),
        _ => url.to_owned(),
    }
}
