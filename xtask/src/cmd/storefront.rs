//! The frontend side of the fleet: the TypeScript SDK (`clients/typescript`),
//! the storefront (`storefront/`) and `cargo xtask browser`, which runs the
//! SDK's tests and the storefront's Playwright journeys in Chromium against
//! the release fleet behind the gateway.
//!
//! Node.js and npm come from the machine (Debian's `nodejs`/`npm` are
//! installed when missing); the packages from the committed lockfiles
//! (`npm ci`); Chromium from Debian's `chromium` package (Playwright's own
//! browser download cannot work here: `PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, bail};

use crate::cmd::lint_deploy::{apt_install, find_on_path};
use crate::cmd::local_extras::{GATEWAY_PORT, admin_credentials};
use crate::cmd::stack::{Stack, StackOptions};
use crate::infra::process;
use crate::infra::workspace;

/// The SDK's package directory.
pub fn sdk_dir(root: &Path) -> PathBuf {
    root.join("clients/typescript")
}

/// The storefront's package directory.
pub fn storefront_dir(root: &Path) -> PathBuf {
    root.join("storefront")
}

/// The built storefront (what the gateway serves at `/`).
pub fn dist_dir(root: &Path) -> PathBuf {
    storefront_dir(root).join("dist")
}

/// Where the browser tests write their screenshots.
pub fn screenshot_dir(root: &Path) -> PathBuf {
    workspace::target_dir(root).join("storefront/screenshots")
}

/// Debian's Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";

/// `npm`, installing Node.js and npm from apt when missing.
pub fn ensure_npm() -> Result<PathBuf> {
    if let Some(npm) = find_on_path("npm") {
        return Ok(npm);
    }
    apt_install(&["nodejs", "npm"]).context("installing Node.js and npm")?;
    find_on_path("npm").context("npm is still not on PATH after installing it")
}

/// Debian's Chromium, installed when missing.
pub fn ensure_chromium() -> Result<PathBuf> {
    let chromium = PathBuf::from(CHROMIUM);
    if !chromium.is_file() {
        apt_install(&["chromium"]).context("installing Chromium")?;
    }
    if !chromium.is_file() {
        bail!("{CHROMIUM} is still missing after installing Debian's chromium");
    }
    Ok(chromium)
}

fn npm(npm: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(npm);
    command
        .current_dir(dir)
        .args(args)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_update_notifier", "false");
    command
}

fn run_npm(npm_bin: &Path, dir: &Path, args: &[&str]) -> Result<()> {
    let mut command = npm(npm_bin, dir, args);
    eprintln!("xtask: (in {}) npm {}", dir.display(), args.join(" "));
    process::run_ok(&mut command)
}

fn modified(path: &Path) -> Option<SystemTime> {
    path.metadata().and_then(|m| m.modified()).ok()
}

/// `npm ci` in `dir` unless its `node_modules` already matches the lockfile
/// (npm keeps a copy of the lockfile it installed in `node_modules/.package-lock.json`).
fn install(npm_bin: &Path, dir: &Path) -> Result<()> {
    let lock = modified(&dir.join("package-lock.json"));
    let installed = modified(&dir.join("node_modules/.package-lock.json"));
    match (lock, installed) {
        (Some(lock), Some(installed)) if installed >= lock => Ok(()),
        _ => run_npm(npm_bin, dir, &["ci"]),
    }
}

/// Installs the SDK's and the storefront's packages (`npm ci`, when their
/// lockfiles changed) and builds both: the SDK into `clients/typescript/dist`,
/// the storefront (type-checked, then bundled by Vite) into `storefront/dist`.
pub fn build(root: &Path) -> Result<PathBuf> {
    let npm_bin = ensure_npm()?;
    let sdk = sdk_dir(root);
    install(&npm_bin, &sdk)?;
    run_npm(&npm_bin, &sdk, &["run", "build"])?;
    let storefront = storefront_dir(root);
    install(&npm_bin, &storefront)?;
    run_npm(&npm_bin, &storefront, &["run", "build"])?;
    Ok(dist_dir(root))
}

/// For `cargo xtask up`: builds the storefront when npm is there (a failure
/// is reported, not fatal: the API works without it).
pub fn build_for_up(root: &Path) {
    if find_on_path("npm").is_none() {
        println!(
            "note: npm is not installed, so the gateway serves no storefront at / (Debian: apt-get install nodejs npm)"
        );
        return;
    }
    let began = Instant::now();
    match build(root) {
        Ok(_) => println!(
            "Storefront built in {:.1} s (storefront/dist)",
            began.elapsed().as_secs_f64()
        ),
        Err(err) => eprintln!("warning: the storefront did not build, / will answer 404: {err:#}"),
    }
}

/// Options of `cargo xtask browser` (its command line).
#[derive(Debug, Clone, clap::Args)]
pub struct BrowserOptions {
    /// Build the release binaries first.
    #[arg(
        long = "no-build",
        action = clap::ArgAction::SetFalse,
        help = "Run the binaries already in target/release"
    )]
    pub build: bool,
}

/// The SDK's checks and tests, then the storefront's browser tests, against
/// the release fleet behind the gateway with short-lived access tokens.
pub fn run(opts: &BrowserOptions) -> Result<()> {
    let root = workspace::root();
    let began = Instant::now();
    if find_on_path("nginx").is_none() {
        apt_install(&["nginx"]).context("installing nginx for the gateway")?;
    }
    let chromium = ensure_chromium()?;
    let npm_bin = ensure_npm()?;

    // Everything that needs no fleet first: generated types, type-check, builds.
    let sdk = sdk_dir(&root);
    install(&npm_bin, &sdk)?;
    run_npm(&npm_bin, &sdk, &["run", "check:generated"])?;
    run_npm(&npm_bin, &sdk, &["run", "typecheck"])?;
    build(&root)?;
    println!(
        "browser: SDK checked and storefront built in {:.1} s",
        began.elapsed().as_secs_f64()
    );

    let stack = Stack::start(
        &root,
        StackOptions {
            release: true,
            build: opts.build,
            name: "browser".into(),
            smtp: true,
            gateway: true,
            env: fleet_env(),
        },
    )?;
    let result = run_against(&root, &stack, &npm_bin, &chromium);
    if result.is_err() {
        eprintln!("browser: service logs are in {}", stack.logs.display());
    }
    let stopped = stack.stop();
    result?;
    stopped?;
    println!(
        "browser: passed in {:.1} s; screenshots in {}",
        began.elapsed().as_secs_f64(),
        screenshot_dir(&root).display()
    );
    Ok(())
}

/// The test fleet's settings: access tokens that expire during the tests
/// (one second, plus the verifiers' 30 s clock leeway), and a per-address
/// rate limit that the tests' sign-ups from 127.0.0.1 stay under.
fn fleet_env() -> Vec<(String, String)> {
    [
        ("APP__JWT__ACCESS_TTL_SECS", "1"),
        ("APP__RATE_LIMIT__PER_IP_PER_MINUTE", "1000"),
        (
            "APP__LINKS__STOREFRONT_URL",
            &format!("http://127.0.0.1:{GATEWAY_PORT}"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn run_against(root: &Path, stack: &Stack, npm_bin: &Path, chromium: &Path) -> Result<()> {
    if !stack.through_gateway {
        bail!("the browser tests need the gateway (nginx) in front of the fleet");
    }
    let (email, password, _) = admin_credentials(root)?;
    let user_url = stack.fleet.base_url("user-service")?;
    let target = crate::cmd::seed::SeedTarget {
        user_url: user_url.clone(),
        catalog_url: stack.fleet.base_url("catalog-service")?,
        order_url: stack.fleet.base_url("order-service")?,
        // The demo pricing too: the checkout journey picks a shipping method
        // and applies WELCOME10.
        pricing: true,
        email: email.clone(),
        password: password.clone(),
    };
    let report = crate::cmd::seed::run(root, &target).context("seeding the demo catalog")?;
    println!("browser: demo catalog seeded ({report})");

    let gateway = format!("http://127.0.0.1:{GATEWAY_PORT}");
    let maildir = stack
        .smtp
        .as_ref()
        .map(|_| stack.logs.with_file_name("mail"))
        .context("the browser stack has a mail server")?;
    let screenshots = screenshot_dir(root);
    if screenshots.exists() {
        std::fs::remove_dir_all(&screenshots)
            .with_context(|| format!("clearing {}", screenshots.display()))?;
    }
    std::fs::create_dir_all(&screenshots)?;
    let env = |command: &mut Command| {
        command
            .env("SHOP_BASE_URL", &gateway)
            .env("SHOP_USER_METRICS_URL", format!("{user_url}/metrics"))
            .env("SHOP_ADMIN_EMAIL", &email)
            .env("SHOP_ADMIN_PASSWORD", &password)
            .env("SHOP_REQUIRE_TOKEN_EXPIRY", "1")
            .env("SHOP_MAILDIR", &maildir)
            .env("SCREENSHOT_DIR", &screenshots)
            .env("CHROMIUM_PATH", chromium)
            .env("CI", "1");
    };

    let step = Instant::now();
    let mut sdk_tests = npm(npm_bin, &sdk_dir(root), &["test"]);
    env(&mut sdk_tests);
    eprintln!("xtask: (in clients/typescript) npm test");
    process::run_ok(&mut sdk_tests).context("the SDK's tests failed")?;
    println!(
        "browser: SDK tests passed in {:.1} s",
        step.elapsed().as_secs_f64()
    );

    let step = Instant::now();
    let mut playwright = npm(npm_bin, &storefront_dir(root), &["run", "test:browser"]);
    env(&mut playwright);
    eprintln!("xtask: (in storefront) npm run test:browser");
    process::run_ok(&mut playwright).context("the storefront's browser tests failed")?;
    println!(
        "browser: Playwright journeys passed in {:.1} s",
        step.elapsed().as_secs_f64()
    );
    Ok(())
}
