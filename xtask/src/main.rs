//! `cargo xtask`: the fleet's developer command line. See `cargo xtask --help`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
use xtask::signals::{self, INTERRUPTED_EXIT_CODE, Interrupted};
use xtask::{db, lint_deploy, new_service, template, test_suite, up, workspace};

/// Developer commands for the e-commerce fleet (run them as `cargo xtask <command>`).
///
/// Everything runs from local binaries: no Docker needed. Postgres comes from
/// the machine's PostgreSQL install (Debian: `apt-get install postgresql`) and
/// lives in target/xtask/pg-<command>; it is stopped on every exit path,
/// Ctrl-C and SIGTERM included.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the whole fleet locally (Postgres + every service) until Ctrl-C.
    #[command(long_about = "\
Run the whole fleet locally, no Docker: Postgres plus every service, until Ctrl-C.

Steps:
  1. cargo build [--release] --bins for every service package in the workspace.
  2. Start a private Postgres (or use DATABASE_URL as the superuser URL) and
     provision database `shop`: one login role per service (password = role name,
     local only) owning its own schema, with no rights on the others'.
  3. `<service> migrate` for each, with its own role (fails loudly with the output).
  4. `<service> serve` for each on its conventional port (8001-8004), output
     streamed here with a coloured `name | ` prefix.
  5. Wait until every GET /ready answers 200 (60 s at most), then print the URLs.

Environment given to each service: APP__SERVER__PORT, APP__DATABASE__URL (its own
role), APP__AUTH__JWKS_URL (user-service's JWKS unless already set), RUST_LOG
(default info), LOG_FORMAT (default pretty on a terminal, else json); every other
APP__* variable in your environment is passed through untouched.

Ctrl-C or SIGTERM stops the services (SIGTERM, 10 s grace, then SIGKILL) and
Postgres, and exits 0. If a service dies on its own, everything is stopped and
the exit code is non-zero.")]
    Up {
        /// Build and run the release profile.
        #[arg(long)]
        release: bool,
        /// Load the demo catalog once the fleet is ready (see `seed`).
        #[arg(long)]
        seed: bool,
        /// Skip `cargo build`: run the binaries already in target/.
        #[arg(long)]
        no_build: bool,
    },
    /// Run what CI runs: fmt, clippy, tests (with Postgres), template check, deploy lint, e2e, fuzz.
    #[command(long_about = "\
Run what CI runs, stopping at the first failure, then print each step's duration:

  1. cargo fmt --all -- --check                                   (skipped by --quick)
  2. cargo clippy --workspace --all-targets --all-features -- -D warnings   (skipped by --quick)
  3. cargo nextest run --workspace --all-features --no-fail-fast
     (or cargo test ... when cargo-nextest is not installed)
  4. cargo xtask template-check
  5. the deploy lint (deploy/, Dockerfiles, workflows)
  6. cargo xtask e2e: the release fleet through one customer's journey  (skipped by --quick or -p)
  7. cargo xtask fuzz: schemathesis against every service             (skipped by --quick or -p)

A private Postgres is started first (or DATABASE_URL is used if set) and the
children get DATABASE_URL=postgres://postgres@127.0.0.1:PORT/postgres, a
superuser that can create one database per test. SQLX_OFFLINE defaults to true
so sqlx's query macros use .sqlx/ instead of that empty database.

Arguments after `--` go to the test runner, e.g.
  cargo xtask test --quick -- checkout            (run tests whose name has `checkout`)
  cargo xtask test -- -E 'package(order-service)' (a nextest filter expression)")]
    Test {
        /// Skip fmt and clippy.
        #[arg(long)]
        quick: bool,
        /// Extra arguments for the test runner.
        #[arg(last = true)]
        extra: Vec<String>,
    },
    /// Generate a new service from service-template/ and add it to the workspace.
    #[command(long_about = "\
Generate a new service from service-template/ and add it to the workspace.

Renders every template file's contents and path with liquid (variables
project-name, crate_name, schema, port; cargo-generate's case filters work too)
into NAME/, except the globs of `exclude` in cargo-generate.toml (copied
verbatim) and of `ignore` (not copied), then appends NAME to [workspace] members
of the root Cargo.toml, keeping its formatting.

Example:
  cargo xtask new-service inventory-service            # schema inventory, next free port
  cargo xtask new-service gift-card-service --schema cards --port 8010")]
    NewService {
        /// The package name: lowercase kebab-case ending in `-service`, e.g. `inventory-service`.
        name: String,
        /// Postgres schema [default: NAME without -service, `-` -> `_`].
        #[arg(long)]
        schema: Option<String>,
        /// HTTP port [default: one more than the highest existing service port].
        #[arg(long)]
        port: Option<u16>,
    },
    /// Check that services still match the files service-template/ owns.
    #[command(long_about = "\
Check that every service still matches the files service-template/ owns.

For each workspace member with [package.metadata.template] (schema, port), the
template is rendered with that service's variables into target/xtask/template-check/
and every file matched by service-template/template-owned.txt is compared byte
for byte with the service's copy. Drifted files are shown as unified diffs
(--- template, +++ service); missing ones are listed. Exits non-zero on any
drift: change such files in the template, then re-render them into every service.")]
    TemplateCheck,
    /// Lint deploy/, docker-compose.yml, the Dockerfiles and workflows with the real tools.
    LintDeploy,
    /// Start a private, provisioned Postgres and print its URLs, until Ctrl-C.
    #[command(long_about = "\
Start a private Postgres (target/xtask/pg-db), provision database `shop` exactly as
`up` does (one role + schema per service), print its URLs, and keep it running
until Ctrl-C. Handy for running one service's tests from an editor:

  eval \"$(cargo xtask db | grep ^export)\"   # in another shell: DATABASE_URL=...
  cargo test -p catalog-service")]
    Db,
    /// The end-to-end journey over HTTP against the release binaries.
    #[command(long_about = "\
Build the release binaries and start them with their own Postgres
(target/xtask/pg-e2e), an SMTP server (aiosmtpd, installed into
target/tools/venv on first use) and the nginx gateway when nginx is installed,
then drive one customer's journey over HTTP, through the gateway when it runs:

  register (welcome mail) -> login -> browse, search (also with a typo), ETag
  -> cart -> checkout with Idempotency-Key and X-Request-ID (and its replay)
  -> order history -> order_confirmed notification sent and mailed
  -> cancel: refund, restock, order_cancelled -> password reset with the token
  from the mail -> refresh rotation and reuse detection -> logout
  -> the checkout's X-Request-ID is in order-, catalog- and
     notification-service's log lines.

Each step prints a line; the first failure stops the run, names the step and
leaves the service logs in target/xtask/e2e/logs.")]
    E2e {
        /// Run the binaries already in target/release.
        #[arg(long)]
        no_build: bool,
    },
    /// Kill and restart services and Postgres during checkouts, then check the invariants.
    #[command(long_about = "\
Start the release fleet (private Postgres target/xtask/pg-chaos, an SMTP server)
and let N customers check out continuously. During the stream: SIGKILL
notification-service and restart it, then catalog-service, then crash and
restart Postgres under the running services. Clients retry a 503 or a broken
connection with the same Idempotency-Key, as a frontend should.

Afterwards, once no saga, reservation, event or delivery is pending, it checks:
no oversold stock; no order confirmed without a charge and no charge without a
confirmed order; every confirmed order's notification created and mailed
exactly once; every service ready again without a manual restart.")]
    Chaos {
        /// Concurrent customers.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Run the binaries already in target/release.
        #[arg(long)]
        no_build: bool,
    },
    /// schemathesis against every service's OpenAPI document.
    #[command(long_about = "\
Start the fleet (release binaries, private Postgres target/xtask/pg-fuzz) and run
schemathesis (installed into target/tools/venv on first use) against each
service's /openapi.json: the public routes with an administrator's token, the
/internal routes with a service token. Fails on any 5xx response, any response
that does not match its documented schema or content type.")]
    Fuzz {
        /// Run the binaries already built.
        #[arg(long)]
        no_build: bool,
        /// Use the debug binaries.
        #[arg(long)]
        debug: bool,
        /// Examples generated per operation.
        #[arg(long, default_value_t = 30)]
        max_examples: u32,
        /// Only these services.
        #[arg(long)]
        only: Vec<String>,
    },
    /// Benchmarks (release builds, private Postgres, fixed concurrency).
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Load the demo catalog into a running fleet (idempotent).
    #[command(long_about = "\
Load catalog-service/seed/catalog.json (a category tree and a few dozen products
with stock) into a running fleet through the public API, as the local admin
(ADMIN_EMAIL/ADMIN_PASSWORD, or the admin `cargo xtask up` created). Categories
are matched by slug and products by SKU, so running it twice adds nothing.
`cargo xtask up --seed` does the same right after start-up.")]
    Seed {
        /// user-service base URL.
        #[arg(long, default_value = "http://127.0.0.1:8001")]
        user_url: String,
        /// catalog-service base URL.
        #[arg(long, default_value = "http://127.0.0.1:8002")]
        catalog_url: String,
    },
}

/// What `cargo xtask bench` can measure.
#[derive(Debug, Subcommand)]
enum BenchCmd {
    /// catalog-service: product by id and search over N generated products.
    Catalog {
        /// Products to generate.
        #[arg(long, default_value_t = 100_000)]
        products: u32,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Measured seconds per scenario.
        #[arg(long, default_value_t = 15)]
        seconds: u64,
    },
    /// The whole checkout path (cart + checkout saga) through the real services.
    Checkout {
        /// Concurrent customers.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Measured seconds.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Run the binaries already in target/release.
        #[arg(long)]
        no_build: bool,
    },
    /// user-service's memory under password resets with distinct 1 MiB
    /// e-mails: resident set before and after (fails above the allowance).
    ResetFlood {
        /// Requests sent.
        #[arg(long, default_value_t = 1000)]
        requests: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Largest accepted growth of the resident set, in MiB.
        #[arg(long, default_value_t = 10.0)]
        allowance_mib: f64,
        /// Run the binary already in target/release.
        #[arg(long)]
        no_build: bool,
    },
    /// A shop's mixed workload across the four services, with a latency chart.
    Fleet {
        /// Concurrent customers.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Measured seconds.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Run the binaries already in target/release.
        #[arg(long)]
        no_build: bool,
    },
}

fn main() -> ExitCode {
    if let Err(err) = signals::install() {
        eprintln!("error: {err:#}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    // For `up` and `db`, Ctrl-C is the normal way to finish.
    let is_up = matches!(cli.command, Cmd::Up { .. } | Cmd::Db);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        // A signal also makes children fail (Ctrl-C reaches initdb, pg_ctl, ...):
        // whatever the error, after a signal it is an interruption.
        Err(err) if err.downcast_ref::<Interrupted>().is_some() || signals::interrupted() => {
            // `up` is meant to end with Ctrl-C: that is success.
            if is_up {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(INTERRUPTED_EXIT_CODE)
            }
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_options(concurrency: usize, seconds: u64, no_build: bool) -> xtask::load::LoadOptions {
    xtask::load::LoadOptions {
        concurrency,
        seconds,
        warmup: 3,
        build: !no_build,
    }
}

fn run(command: Cmd) -> Result<()> {
    match command {
        Cmd::Up {
            release,
            seed,
            no_build,
        } => up::run(up::UpOptions {
            release,
            seed,
            no_build,
        }),
        Cmd::Test { quick, extra } => test_suite::run(test_suite::TestOptions { quick, extra }),
        Cmd::NewService { name, schema, port } => {
            let created = new_service::create(&workspace::root(), &name, schema.as_deref(), port)?;
            new_service::print_next_steps(&created);
            Ok(())
        }
        Cmd::TemplateCheck => match template::check_workspace(&workspace::root())? {
            0 => Ok(()),
            n => bail!("{n} template-owned file(s) drifted"),
        },
        Cmd::LintDeploy => lint_deploy::run(&workspace::root()),
        Cmd::Bench(BenchCmd::Catalog {
            products,
            concurrency,
            seconds,
        }) => xtask::bench::catalog(&xtask::bench::CatalogBench {
            products,
            concurrency,
            seconds,
        })
        .map(|_| ()),
        Cmd::Bench(BenchCmd::Checkout {
            concurrency,
            seconds,
            no_build,
        }) => xtask::load::checkout(&load_options(concurrency, seconds, no_build)).map(|_| ()),
        Cmd::Bench(BenchCmd::Fleet {
            concurrency,
            seconds,
            no_build,
        }) => xtask::load::fleet(&load_options(concurrency, seconds, no_build)).map(|_| ()),
        Cmd::Bench(BenchCmd::ResetFlood {
            requests,
            concurrency,
            allowance_mib,
            no_build,
        }) => xtask::memory::reset_flood(&xtask::memory::ResetFlood {
            requests,
            concurrency,
            allowance_mib,
            build: !no_build,
        })
        .map(|_| ()),
        Cmd::Seed {
            user_url,
            catalog_url,
        } => {
            let root = workspace::root();
            let (email, password, _) = xtask::local_extras::admin_credentials(&root)?;
            let target = xtask::seed::SeedTarget {
                user_url,
                catalog_url,
                email,
                password,
            };
            let report = xtask::seed::run(&root, &target)?;
            println!("{report}");
            Ok(())
        }
        Cmd::Db => db::run(),
        Cmd::Chaos { clients, no_build } => xtask::chaos::run(&xtask::chaos::ChaosOptions {
            clients,
            build: !no_build,
        }),
        Cmd::E2e { no_build } => xtask::e2e::run(&xtask::e2e::E2eOptions { build: !no_build }),
        Cmd::Fuzz {
            no_build,
            debug,
            max_examples,
            only,
        } => xtask::fuzz::run(&xtask::fuzz::FuzzOptions {
            build: !no_build,
            release: !debug,
            max_examples,
            only,
        }),
    }
}
