//! `cargo xtask test`: everything CI checks, against a private Postgres.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::cmd::template;
use crate::infra::fleet::{cargo, sqlx_offline_default};
use crate::infra::pg::{self, PgCluster};
use crate::infra::signals::{self, Interrupted};
use crate::infra::{disk, process, workspace};

/// What a run writes on a fresh clone, at most (target/ and Docker's images
/// and build cache), measured with `df` sampled through `.ci/run`.
const FULL_RUN_WRITES: u64 = 22 << 30;
const QUICK_RUN_WRITES: u64 = 9 << 30;

/// Options of `cargo xtask test` (its command line).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TestOptions {
    /// Skip fmt and clippy.
    #[arg(long)]
    pub quick: bool,
    /// Extra arguments for the test runner.
    #[arg(last = true)]
    pub extra: Vec<String>,
}

/// A named step of the run.
type Step = (String, Box<dyn FnMut() -> Result<()>>);

enum Outcome {
    Passed,
    Failed(String),
    NotRun,
}

struct StepResult {
    name: String,
    duration: Duration,
    outcome: Outcome,
}

/// Runs fmt, clippy, the tests, the template check, the OpenAPI check and the deploy lint (if
/// any), stopping at the first failure; always stops Postgres.
pub fn run(opts: TestOptions) -> Result<()> {
    let root = workspace::root();
    let began = Instant::now();
    let writes = if opts.quick || names_packages(&opts.extra) {
        QUICK_RUN_WRITES
    } else {
        FULL_RUN_WRITES
    };
    if let Some(warning) = disk::shortfall(&root, writes, "`cargo xtask test`") {
        eprintln!("xtask: warning: {warning}");
    }

    let mut cluster = None;
    let database_url = match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => {
            eprintln!("xtask: using DATABASE_URL {}", pg::redact(&url));
            url
        }
        None => {
            let started = PgCluster::start(&root, "test")?;
            let url = started.superuser_url();
            eprintln!("xtask: private Postgres at {url}");
            cluster = Some(started);
            url
        }
    };

    let mut steps: Vec<Step> = Vec::new();
    let cargo_cmd = |args: &[&str]| {
        let mut cmd = Command::new(cargo());
        cmd.current_dir(&root)
            .args(args)
            .env("DATABASE_URL", &database_url);
        sqlx_offline_default(&mut cmd);
        cmd
    };
    if !opts.quick {
        let mut fmt = cargo_cmd(&["fmt", "--all", "--", "--check"]);
        steps.push(("fmt".into(), Box::new(move || run_cargo(&mut fmt))));
        let mut clippy = cargo_cmd(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]);
        steps.push(("clippy".into(), Box::new(move || run_cargo(&mut clippy))));
    }
    // `--workspace` would override a `-p` given after `--`: choose one scope.
    let scope = if names_packages(&opts.extra) {
        None
    } else {
        Some("--workspace")
    };
    // The committed query data against the queries and the migrations
    // (`cargo sqlx prepare --check --workspace`): the builds below read
    // `.sqlx/` offline, so a migration that breaks a query fails here.
    if !opts.quick && scope.is_some() {
        let sqlx_root = root.clone();
        let sqlx_url = database_url.clone();
        steps.push((
            "sqlx check (.sqlx/ matches queries and migrations)".into(),
            Box::new(move || {
                crate::cmd::sqlx::run(&sqlx_root, &sqlx_url, crate::cmd::sqlx::Mode::Check)
            }),
        ));
    }
    // The full run runs the tests once, instrumented, and reports line
    // coverage from that run (not with --quick, a package scope or a test
    // filter: a partial run's coverage means nothing).
    let llvm_cov = if !opts.quick && scope.is_some() && opts.extra.is_empty() {
        Some(crate::cmd::coverage::ensure(&root)?)
    } else {
        None
    };
    let nextest = nextest_available();
    let runner = match (&llvm_cov, nextest) {
        (Some(_), true) => "llvm-cov nextest",
        (Some(_), false) => "llvm-cov test",
        (None, true) => "nextest",
        (None, false) => "cargo test",
    };
    let mut tests = match &llvm_cov {
        Some(bin) => {
            let mut cmd = Command::new(bin);
            cmd.current_dir(&root)
                .env("DATABASE_URL", &database_url)
                .arg("llvm-cov")
                .arg(if nextest { "nextest" } else { "test" })
                .arg("--no-report");
            sqlx_offline_default(&mut cmd);
            cmd
        }
        None if nextest => cargo_cmd(&["nextest", "run"]),
        None => cargo_cmd(&["test"]),
    };
    tests.args(["--all-features", "--no-fail-fast"]);
    tests.args(scope);
    tests.args(&opts.extra);
    // catalog-service's S3 media tests start moto's server (a real
    // S3-compatible server from PyPI), installed on first use.
    let bin = crate::infra::pytools::ensure(&root, &[&crate::infra::pytools::MOTO])?;
    tests.env(
        "MOTO_SERVER",
        bin.join(crate::infra::pytools::MOTO.executable),
    );
    steps.push((
        format!("tests ({runner})"),
        Box::new(move || run_cargo(&mut tests)),
    ));
    if let Some(bin) = llvm_cov {
        let coverage_root = root.clone();
        steps.push((
            format!(
                "coverage (lines per crate, floor {}%)",
                crate::cmd::coverage::FLOOR
            ),
            Box::new(move || crate::cmd::coverage::report(&coverage_root, &bin)),
        ));
    }
    let template_root = root.clone();
    steps.push((
        "template-check".into(),
        Box::new(move || match template::check_workspace(&template_root)? {
            0 => Ok(()),
            n => bail!("{n} template-owned file(s) drifted"),
        }),
    ));
    // The whole API's documents: not when the run is scoped to packages
    // (a service just made by `new-service` is in no merged document yet).
    if scope.is_some() {
        let openapi_root = root.clone();
        steps.push((
            "openapi (merged document, validator, openapi-typescript)".into(),
            Box::new(move || crate::cmd::openapi::check(&openapi_root)),
        ));
    }
    // The full run compiles the release binaries once, here, in the
    // service images' builder stage (the real Dockerfiles), and copies them
    // out: the deploy lint starts each with every overlay's configuration,
    // then e2e, browser and fuzz run them, and compose-check runs the
    // images themselves. One release build instead of two (the host's and
    // the images'), and the binaries tested are the ones shipped. --quick
    // and package-scoped runs check the overlays with the debug binaries
    // the tests have just built.
    let full = !opts.quick && scope.is_some();
    if full {
        let build_root = root.clone();
        steps.push((
            "release binaries (service images, real Dockerfiles)".into(),
            Box::new(move || crate::cmd::compose_check::release_binaries(&build_root)),
        ));
    }
    let contracts_root = root.clone();
    steps.push((
        "contracts (pinned copies match the providers)".into(),
        Box::new(move || crate::cmd::contracts::check(&contracts_root)),
    ));
    let lint_root = root.clone();
    let lint = crate::cmd::lint_deploy::LintOptions {
        release: full,
        build: !full,
    };
    steps.push((
        "deploy-lint".into(),
        Box::new(move || crate::cmd::lint_deploy::run(&lint_root, &lint)),
    ));

    // Each service as a repository of its own: split with the kit vendored,
    // `cargo test --offline` there. Skipped by --quick and when the run is
    // scoped to packages.
    if full {
        let split_root = root.clone();
        let split_url = database_url.clone();
        steps.push((
            "split (each service alone, cargo test --offline)".into(),
            Box::new(move || crate::cmd::split::check(&split_root, &split_url, &[]).map(|_| ())),
        ));
    }

    // The fleet as users meet it: the release binaries end to end, then
    // fuzzed. Skipped by --quick and when the run is scoped to packages.
    if full {
        steps.push((
            "e2e (release fleet)".into(),
            Box::new(|| crate::cmd::e2e::run(&crate::cmd::e2e::E2eOptions { build: false })),
        ));
        // Its own fleet rather than e2e's: short-lived access tokens (the
        // refresh tests need them to expire) would break e2e's journey, and
        // the storefront is served by the gateway from a fresh build.
        steps.push((
            "browser (SDK + storefront in Chromium)".into(),
            Box::new(|| {
                crate::cmd::storefront::run(&crate::cmd::storefront::BrowserOptions {
                    build: false,
                })
            }),
        ));
        steps.push((
            "fuzz (schemathesis)".into(),
            Box::new(|| {
                crate::cmd::fuzz::run(&crate::cmd::fuzz::FuzzOptions {
                    build: false,
                    release: true,
                    max_examples: 25,
                    only: Vec::new(),
                })
            }),
        ));
        // The compose fleet for real: the images from the real Dockerfiles
        // (on stand-in bases), docker-compose up, the journey again through
        // the compose gateway, hardening, stop, restart, negative checks.
        let compose_root = root.clone();
        steps.push((
            "compose-check (images, docker-compose up, journey)".into(),
            Box::new(move || {
                crate::cmd::compose_check::run(
                    &compose_root,
                    &crate::cmd::compose_check::ComposeCheckOptions {
                        negative: true,
                        keep: false,
                    },
                )
            }),
        ));
    }

    let mut results = Vec::new();
    let mut failed = false;
    let mut interrupted = false;
    for (name, step) in &mut steps {
        if failed {
            results.push(StepResult {
                name: name.clone(),
                duration: Duration::ZERO,
                outcome: Outcome::NotRun,
            });
            continue;
        }
        eprintln!("\nxtask: ── {name} ──");
        let step_began = Instant::now();
        let outcome = match signals::check().and_then(|()| step()) {
            Ok(()) => Outcome::Passed,
            Err(err) => {
                failed = true;
                interrupted |= err.downcast_ref::<Interrupted>().is_some();
                match disk::full_hint(&root) {
                    Some(hint) => Outcome::Failed(format!("{hint}; {err:#}")),
                    None => Outcome::Failed(format!("{err:#}")),
                }
            }
        };
        results.push(StepResult {
            name: name.clone(),
            duration: step_began.elapsed(),
            outcome,
        });
    }

    let stopped = match cluster.as_mut() {
        Some(cluster) => cluster.stop(),
        None => Ok(()),
    };
    print_summary(&results, began.elapsed());
    stopped?;
    if interrupted {
        return Err(Interrupted.into());
    }
    if failed {
        bail!("cargo xtask test failed");
    }
    Ok(())
}

fn run_cargo(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: {}", process::describe(cmd));
    process::run_ok(cmd)
}

fn nextest_available() -> bool {
    Command::new(cargo())
        .args(["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn print_summary(results: &[StepResult], total: Duration) {
    let width = results.iter().map(|r| r.name.len()).max().unwrap_or(0);
    println!("\nSummary");
    for r in results {
        let (status, detail) = match &r.outcome {
            Outcome::Passed => ("ok", String::new()),
            Outcome::Failed(msg) => ("FAILED", format!("  {}", msg.lines().next().unwrap_or(""))),
            Outcome::NotRun => ("not run", String::new()),
        };
        let time = match r.outcome {
            Outcome::NotRun => "      ".to_owned(),
            _ => format!("{:>5.1}s", r.duration.as_secs_f64()),
        };
        println!("  {:<width$}  {time}  {status}{detail}", r.name);
    }
    println!("  {:<width$}  {:>5.1}s", "total", total.as_secs_f64());
}

/// Whether the runner's extra arguments pick packages themselves.
fn names_packages(extra: &[String]) -> bool {
    extra.iter().any(|a| {
        a == "-p"
            || a == "--package"
            || a.starts_with("--package=")
            || (a.starts_with("-p") && a.len() > 2)
    })
}

#[cfg(test)]
mod scope_tests {
    use super::names_packages;

    #[test]
    fn package_arguments_replace_the_workspace_scope() {
        let args = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(names_packages(&args(&["-p", "user-service"])));
        assert!(names_packages(&args(&["--package=user-service"])));
        assert!(names_packages(&args(&["-puser-service"])));
        assert!(!names_packages(&args(&["-E", "test(checkout)"])));
        assert!(!names_packages(&[]));
    }
}
