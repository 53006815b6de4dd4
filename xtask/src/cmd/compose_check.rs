//! `cargo xtask compose-check`: the compose fleet built and run for real.
//!
//! No image registry is reachable where CI runs, so the check first builds
//! what it would pull: a Debian bookworm base (`mmdebstrap`, `docker
//! import`), then on it the stand-ins of `deploy/compose-check/images/`
//! (the Rust and Node toolchains are this machine's own, distroless's
//! runtime, Postgres 15, nginx, and a Mailpit-compatible SMTP catcher). The
//! real Dockerfiles are built with those as their base-image build arguments
//! (and the host's CA bundle as the `extra_ca` secret, so cargo and npm can
//! download inside the build). Then `docker-compose up` with the main profile
//! (the stand-ins replace the third-party images through the override file
//! `deploy/compose-check/compose.stand-ins.yml`), every healthcheck waited
//! for, the e2e journey through the gateway on :8080 (mail read from the
//! catcher's Mailpit API), and the checks: non-root, read-only root
//! filesystem, `docker-compose stop` exits 0 everywhere, the data survives
//! `up` again. Then two negative runs: a broken healthcheck command and an
//! environment name the service refuses must each be reported.
//!
//! Containers, networks and volumes are removed at the end (images and the
//! layer cache are kept, so the next run is warm).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::cmd::e2e::Target;
use crate::cmd::lint_deploy::{apt_install, find_on_path};
use crate::cmd::local_extras::GATEWAY_PORT;
use crate::cmd::stack::Mail;
use crate::infra::process;
use crate::infra::shop::{Api, Bases};
use crate::infra::workspace;

/// Options of `cargo xtask compose-check` (its command line).
#[derive(Debug, Clone, clap::Args)]
pub struct ComposeCheckOptions {
    /// Also run the two negative checks (broken healthcheck, refused setting).
    #[arg(
        long = "no-negative",
        action = clap::ArgAction::SetFalse,
        help = "Skip the two negative checks"
    )]
    pub negative: bool,
    /// Leave the fleet running at the end (for a look around); the next run
    /// removes it.
    #[arg(long, help = "Leave the fleet running after a successful run")]
    pub keep: bool,
}

/// The compose project's name: its containers, network and volumes are
/// `shopcheck_*`, apart from a developer's own `docker-compose up`.
const PROJECT: &str = "shopcheck";
/// The tag of the images the check builds (never the developer's `local`).
const IMAGE_TAG: &str = "compose-check";
const IMAGE_REGISTRY: &str = "ghcr.io/shop";
/// Mailpit's API as compose publishes it.
const MAILPIT_PORT: u16 = 8025;
/// Postgres as the check publishes it (not 5432: a developer's own server).
const POSTGRES_PORT: u16 = 55432;
/// compose's local-only superuser password default (docker-compose.yml).
const POSTGRES_PASSWORD: &str = "postgres_local_only";
const DEBIAN_IMAGE: &str = "compose-check/debian:bookworm";
/// How long every container may take to be healthy.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// The images built from the repository's Dockerfiles: (compose service,
/// Dockerfile, base-image build arguments).
const RUST_SERVICES: &[&str] = &[
    "user-service",
    "catalog-service",
    "order-service",
    "notification-service",
];

/// The services the compose file runs read-only, as non-root.
const HARDENED: &[&str] = &[
    "user-service",
    "catalog-service",
    "order-service",
    "notification-service",
    "api-docs",
    "storefront",
];

/// Runs the whole check; the fleet is removed whatever happens.
pub fn run(root: &Path, opts: &ComposeCheckOptions) -> Result<()> {
    let dir = workspace::target_dir(root).join("compose-check");
    fs::create_dir_all(&dir)?;
    let mut timer = Timer::default();
    let result = check(root, &dir, opts, &mut timer);
    timer.print();
    result
}

fn check(root: &Path, dir: &Path, opts: &ComposeCheckOptions, timer: &mut Timer) -> Result<()> {
    let docker = timer.step("engine (install, start)", || Docker::ensure(dir))?;
    timer.step("base image (mmdebstrap, docker import)", || {
        ensure_debian(&docker, dir)
    })?;
    timer.step("stand-in images", || build_stand_ins(&docker, root, dir))?;
    timer.step("service images (real Dockerfiles)", || {
        build_images(&docker, root)
    })?;
    print_sizes(&docker)?;

    let compose = Compose::new(root, dir, &docker)?;
    // Whatever an earlier run left behind.
    compose.down()?;
    let outcome = fleet_checks(&compose, timer);
    if outcome.is_err() {
        let logs = dir.join("compose.log");
        if let Ok((_, text)) = compose.output(&["logs", "--no-color", "--tail", "200"]) {
            let _ = fs::write(&logs, text);
            eprintln!("compose-check: container logs in {}", logs.display());
        }
    }
    if opts.keep && outcome.is_ok() {
        println!("compose-check: the fleet keeps running (project `{PROJECT}`)");
    } else {
        timer.step("down (containers, network, volumes)", || compose.down())?;
    }
    outcome?;
    if opts.negative {
        timer.step("negative: broken healthcheck command", || {
            negative(
                &compose,
                "broken-healthcheck.yml",
                "user-service",
                &["user-service", "unhealthy", "curl"],
            )
        })?;
        timer.step("negative: a setting the service refuses", || {
            negative(
                &compose,
                "unknown-setting.yml",
                "user-service",
                &["user-service", "unknown field `prot`"],
            )
        })?;
    }
    println!("compose-check: passed");
    Ok(())
}

/// Up, healthy, journey, hardening, stop, persistence.
fn fleet_checks(compose: &Compose, timer: &mut Timer) -> Result<()> {
    timer.step("up (main profile) and every healthcheck", || {
        compose.up(&[])?;
        compose.wait_ready(&[])
    })?;
    let target = timer.step("admin account", || ComposeTarget::new(compose))?;
    timer.step("e2e journey through the gateway :8080", || {
        crate::cmd::e2e::journey(&target)
    })?;
    timer.step("non-root, read-only root filesystem", || hardening(compose))?;
    let before = timer.step("data written", || data_counts(&target))?;
    timer.step("stop: every container exits 0 in its grace period", || {
        stop_cleanly(compose)
    })?;
    timer.step("up again: the data is still there", || {
        compose.up(&[])?;
        compose.wait_ready(&[])?;
        let after = data_counts(&target)?;
        ensure!(
            after == before,
            "after `up` again the database holds {after:?}, before `stop` {before:?}"
        );
        target
            .api
            .login("admin@shop.local", &target.admin_password)
            .context("the admin logs in again after the restart")?;
        Ok(())
    })?;
    Ok(())
}

/// Durations of the check's steps, printed at the end.
#[derive(Default)]
struct Timer {
    steps: Vec<(String, Duration, bool)>,
}

impl Timer {
    fn step<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        println!("compose-check: ── {name} ──");
        let began = Instant::now();
        let result = f().with_context(|| format!("compose-check step `{name}`"));
        let took = began.elapsed();
        println!(
            "compose-check: {} {name} ({:.1} s)",
            if result.is_ok() { "ok  " } else { "FAIL" },
            took.as_secs_f64()
        );
        self.steps.push((name.to_owned(), took, result.is_ok()));
        result
    }

    fn print(&self) {
        println!("\ncompose-check: step durations");
        let mut total = Duration::ZERO;
        for (name, took, ok) in &self.steps {
            total += *took;
            println!(
                "  {} {name:<55} {:>7.1} s",
                if *ok { "ok  " } else { "FAIL" },
                took.as_secs_f64()
            );
        }
        println!("  {:<60} {:>7.1} s", "total", total.as_secs_f64());
    }
}

// ------------------------------------------------------------------ engine

/// The Docker client the check runs.
struct Docker {
    /// A client whose `build` speaks BuildKit (secrets, cache mounts).
    cli: PathBuf,
    compose: PathBuf,
}

impl Docker {
    /// Installs docker.io, mmdebstrap and docker-compose when missing, and
    /// starts `dockerd` when no engine answers (it keeps running, logging
    /// to target/compose-check/dockerd.log).
    fn ensure(dir: &Path) -> Result<Self> {
        let missing: Vec<&str> = [
            ("dockerd", "docker.io"),
            ("mmdebstrap", "mmdebstrap"),
            ("docker-compose", "docker-compose"),
        ]
        .into_iter()
        .filter(|(bin, _)| find_on_path(bin).is_none())
        .map(|(_, package)| package)
        .collect();
        if !missing.is_empty() {
            apt_install(&missing)?;
        }
        let cli = build_client()?;
        let compose = find_on_path("docker-compose").context("docker-compose is not installed")?;
        let docker = Self { cli, compose };
        if !docker.engine_answers() {
            let dockerd = find_on_path("dockerd").context("dockerd is not installed")?;
            let log = dir.join("dockerd.log");
            let file = fs::File::create(&log)?;
            let mut command = Command::new(&dockerd);
            command
                .stdin(Stdio::null())
                .stdout(file.try_clone()?)
                .stderr(file);
            // Its own process group: Ctrl-C of the check does not stop it.
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            let child = command
                .spawn()
                .with_context(|| format!("starting {}", dockerd.display()))?;
            println!(
                "compose-check: started dockerd (pid {}, log {}); it keeps running",
                child.id(),
                log.display()
            );
            let deadline = Instant::now() + Duration::from_secs(60);
            while !docker.engine_answers() {
                if Instant::now() > deadline {
                    bail!("dockerd did not answer within 60 s (see {})", log.display());
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        Ok(docker)
    }

    fn engine_answers(&self) -> bool {
        Command::new(&self.cli)
            .args(["version", "--format", "{{.Server.Version}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.cli);
        command.env("DOCKER_BUILDKIT", "1");
        command
    }

    fn run(&self, args: &[&str]) -> Result<()> {
        process::run_ok(self.command().args(args))
    }

    fn output(&self, args: &[&str]) -> Result<String> {
        let output = self
            .command()
            .args(args)
            .output()
            .with_context(|| format!("docker {}", args.join(" ")))?;
        ensure!(
            output.status.success(),
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn image_exists(&self, name: &str) -> bool {
        self.command()
            .args(["image", "inspect", name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn inspect(&self, ids: &[String]) -> Result<Vec<Value>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["inspect"];
        args.extend(ids.iter().map(String::as_str));
        Ok(serde_json::from_str(&self.output(&args)?)?)
    }
}

/// A docker CLI whose `docker build` uses BuildKit: the one on PATH when it
/// has the buildx plugin, otherwise Debian's docker.io client (/usr/bin/docker,
/// BuildKit built in; a newer CLI without buildx falls back to the legacy
/// builder, which has no build secrets).
fn build_client() -> Result<PathBuf> {
    if let Some(docker) = find_on_path("docker") {
        let buildx = Command::new(&docker)
            .args(["buildx", "version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if buildx {
            return Ok(docker);
        }
    }
    let debian = PathBuf::from("/usr/bin/docker");
    ensure!(
        debian.is_file(),
        "no docker client with BuildKit: install docker.io or the buildx plugin"
    );
    Ok(debian)
}

// ------------------------------------------------------------------ images

/// The Debian bookworm base every stand-in starts from (kept once made).
fn ensure_debian(docker: &Docker, dir: &Path) -> Result<()> {
    if docker.image_exists(DEBIAN_IMAGE) {
        println!("compose-check: {DEBIAN_IMAGE} exists");
        return Ok(());
    }
    let tar = dir.join("debian-bookworm.tar");
    let mut mmdebstrap = Command::new("mmdebstrap");
    mmdebstrap
        .args(["--variant=minbase", "--quiet", "bookworm"])
        .arg(&tar);
    process::run_ok(&mut mmdebstrap).context("mmdebstrap bookworm")?;
    let imported = docker.run(&[
        "import",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change",
        "CMD [\"bash\"]",
        &tar.to_string_lossy(),
        DEBIAN_IMAGE,
    ]);
    let _ = fs::remove_file(&tar);
    imported
}

/// The stand-ins' tags (the compose override and the build arguments name them).
const RUST_STANDIN: &str = "compose-check/rust:host";
const NODE_STANDIN: &str = "compose-check/node:host";
const DISTROLESS_STANDIN: &str = "compose-check/distroless-cc:nonroot";
const NGINX_STANDIN: &str = "compose-check/nginx:1.27";
const NGINX_UNPRIVILEGED_STANDIN: &str = "compose-check/nginx-unprivileged:1.27";

fn build_stand_ins(docker: &Docker, root: &Path, dir: &Path) -> Result<()> {
    let images = root.join("deploy/compose-check/images");
    let debian = format!("DEBIAN_IMAGE={DEBIAN_IMAGE}");
    let plain = |tag: &str, name: &str, extra: &[&str]| -> Result<()> {
        let mut args = vec!["build", "-q", "--build-arg", &debian, "-t", tag];
        args.extend_from_slice(extra);
        let context = images.join(name);
        let context = context.to_string_lossy();
        args.push(&context);
        docker.run(&args).with_context(|| format!("building {tag}"))
    };
    plain("compose-check/postgres:15", "postgres", &[])?;
    plain(NGINX_STANDIN, "nginx", &[])?;
    plain(
        NGINX_UNPRIVILEGED_STANDIN,
        "nginx-unprivileged",
        &["--build-arg", &format!("NGINX_IMAGE={NGINX_STANDIN}")],
    )?;
    plain("compose-check/mailpit:v1.21", "mailpit", &[])?;
    plain(DISTROLESS_STANDIN, "distroless-cc", &[])?;

    // The toolchains: this machine's own, copied (hard links) into a
    // build context next to the stand-in's Dockerfile.
    let (rust_version, rust_context) = rust_context(&images, dir)?;
    let version_arg = format!("RUST_VERSION={rust_version}");
    let context = rust_context.to_string_lossy();
    docker
        .run(&[
            "build",
            "-q",
            "--build-arg",
            &debian,
            "--build-arg",
            &version_arg,
            "-t",
            RUST_STANDIN,
            &context,
        ])
        .context("building the rust stand-in")?;
    let (node_version, node_context) = node_context(&images, dir)?;
    let version_arg = format!("NODE_VERSION={node_version}");
    let context = node_context.to_string_lossy();
    docker
        .run(&[
            "build",
            "-q",
            "--build-arg",
            &debian,
            "--build-arg",
            &version_arg,
            "-t",
            NODE_STANDIN,
            &context,
        ])
        .context("building the node stand-in")?;
    Ok(())
}

/// target/compose-check/rust/: the stand-in's Dockerfile and `toolchain/`,
/// the files of the host toolchain's rustc, cargo and rust-std components.
fn rust_context(images: &Path, dir: &Path) -> Result<(String, PathBuf)> {
    let verbose = command_stdout(Command::new("rustc").arg("-vV"))?;
    let field = |name: &str| {
        verbose
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .with_context(|| format!("`rustc -vV` has no `{name}`"))
    };
    let version = field("release:")?;
    let host = field("host:")?;
    let sysroot =
        PathBuf::from(command_stdout(Command::new("rustc").args(["--print", "sysroot"]))?.trim());
    let context = dir.join("rust");
    if context.exists() {
        fs::remove_dir_all(&context)?;
    }
    let toolchain = context.join("toolchain");
    for component in ["rustc", "cargo", "rust-std"] {
        let manifest = sysroot.join(format!("lib/rustlib/manifest-{component}-{host}"));
        let listing = fs::read_to_string(&manifest)
            .with_context(|| format!("reading {} (a rustup toolchain)", manifest.display()))?;
        for file in listing.lines().filter_map(|l| l.strip_prefix("file:")) {
            if file.starts_with("share/doc/") || file.starts_with("share/man/") {
                continue;
            }
            link_or_copy(&sysroot.join(file), &toolchain.join(file))?;
        }
    }
    fs::copy(images.join("rust/Dockerfile"), context.join("Dockerfile"))?;
    Ok((version, context))
}

/// target/compose-check/node/: the stand-in's Dockerfile and `node/` (the
/// host's node binary and its npm and corepack).
fn node_context(images: &Path, dir: &Path) -> Result<(String, PathBuf)> {
    let node = find_on_path("node").context("node is not installed")?;
    let node = fs::canonicalize(&node)?;
    let version = command_stdout(Command::new(&node).arg("--version"))?
        .trim()
        .trim_start_matches('v')
        .to_owned();
    let prefix = node
        .parent()
        .and_then(Path::parent)
        .context("node's prefix")?;
    let modules = prefix.join("lib/node_modules");
    ensure!(
        modules.join("npm").is_dir(),
        "npm is not next to node ({})",
        modules.display()
    );
    let context = dir.join("node");
    if context.exists() {
        fs::remove_dir_all(&context)?;
    }
    link_or_copy(&node, &context.join("node/bin/node"))?;
    for package in ["npm", "corepack"] {
        let from = modules.join(package);
        if from.is_dir() {
            link_tree(&from, &context.join("node/lib/node_modules").join(package))?;
        }
    }
    fs::copy(images.join("node/Dockerfile"), context.join("Dockerfile"))?;
    Ok((version, context))
}

fn link_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(from)?;
    if meta.is_dir() {
        fs::create_dir_all(to)?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            link_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        link_or_copy(from, to)
    }
}

/// A hard link (no space, same file system), a copy otherwise; links are
/// recreated as links.
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    let meta = fs::symlink_metadata(from).with_context(|| format!("{}", from.display()))?;
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
    } else if fs::hard_link(from, to).is_err() {
        fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(())
}

fn command_stdout(command: &mut Command) -> Result<String> {
    let output = command
        .output()
        .with_context(|| process::describe(command))?;
    ensure!(
        output.status.success(),
        "{} failed: {}",
        process::describe(command),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The CA bundle given to the builds as the `extra_ca` secret: `EXTRA_CA`
/// when set (a corporate proxy's CA), otherwise this machine's bundle (its
/// outbound TLS is signed by a CA only the host trusts).
fn extra_ca() -> Result<PathBuf> {
    let path = std::env::var_os("EXTRA_CA")
        .or_else(|| std::env::var_os("SSL_CERT_FILE"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
    ensure!(path.is_file(), "no CA bundle at {}", path.display());
    Ok(path)
}

/// The release binaries of the services, compiled once in the images'
/// builder stage: `cargo xtask test` builds the service images here (the
/// engine, base and stand-ins as `compose-check` makes them) and copies
/// each service's binary out of its image into `target/release/`, so the
/// steps after it (deploy lint, e2e, browser, fuzz) run exactly what the
/// images ship, and `compose-check` finds its service images built.
pub fn release_binaries(root: &Path) -> Result<()> {
    let dir = workspace::target_dir(root).join("compose-check");
    fs::create_dir_all(&dir)?;
    let docker = Docker::ensure(&dir)?;
    ensure_debian(&docker, &dir)?;
    build_stand_ins(&docker, root, &dir)?;
    build_service_images(&docker, root)?;
    let release = workspace::target_dir(root).join("release");
    fs::create_dir_all(&release)?;
    for service in RUST_SERVICES {
        let binary = release.join(service);
        // A new file, not a write through cargo's hard link into deps/.
        match fs::remove_file(&binary) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(err).with_context(|| format!("removing {}", binary.display()));
            }
        }
        let container = docker.output(&["create", &image_name(service)])?;
        let container = container.trim();
        let copied = docker.run(&[
            "cp",
            &format!("{container}:/usr/local/bin/{service}"),
            &binary.to_string_lossy(),
        ]);
        let removed = docker.output(&["rm", container]);
        copied.with_context(|| format!("copying {service} out of its image"))?;
        removed?;
        println!("xtask: {} (from {})", binary.display(), image_name(service));
    }
    Ok(())
}

/// The fleet's images from their real Dockerfiles, the stand-ins as bases.
fn build_images(docker: &Docker, root: &Path) -> Result<()> {
    build_service_images(docker, root)?;
    build_image(
        docker,
        root,
        "api-docs",
        "deploy/openapi/Dockerfile",
        &[
            format!("NODE_IMAGE={NODE_STANDIN}"),
            format!("NGINX_IMAGE={NGINX_STANDIN}"),
        ],
    )?;
    build_image(
        docker,
        root,
        "storefront",
        "storefront/Dockerfile",
        &[
            format!("NODE_IMAGE={NODE_STANDIN}"),
            format!("NGINX_IMAGE={NGINX_UNPRIVILEGED_STANDIN}"),
        ],
    )
}

/// The four service images. Their Dockerfiles share the builder stages, so
/// the dependencies and the workspace are compiled once, by the first (and
/// not again while the sources are unchanged).
fn build_service_images(docker: &Docker, root: &Path) -> Result<()> {
    let rust = [
        format!("RUST_IMAGE={RUST_STANDIN}"),
        format!("RUNTIME_IMAGE={DISTROLESS_STANDIN}"),
    ];
    for service in RUST_SERVICES {
        build_image(
            docker,
            root,
            service,
            &format!("{service}/Dockerfile"),
            &rust,
        )?;
    }
    Ok(())
}

/// `docker build` of one image, tagged [`image_name`].
fn build_image(
    docker: &Docker,
    root: &Path,
    name: &str,
    dockerfile: &str,
    bases: &[String],
) -> Result<()> {
    let secret = format!("id=extra_ca,src={}", extra_ca()?.display());
    let began = Instant::now();
    let tag = image_name(name);
    let mut args = vec!["build", "--progress=plain", "--secret", &secret];
    for base in bases {
        args.extend(["--build-arg", base]);
    }
    args.extend(["-f", dockerfile, "-t", &tag, "."]);
    let mut command = docker.command();
    command.current_dir(root).args(&args);
    let (status, output) = process::run_captured(&mut command)?;
    if !status.success() {
        let tail: Vec<&str> = output.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "docker build of {name} failed ({status}):\n{}",
            tail.join("\n")
        );
    }
    println!(
        "compose-check: built {tag} in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

fn image_name(service: &str) -> String {
    format!("{IMAGE_REGISTRY}/{service}:{IMAGE_TAG}")
}

fn print_sizes(docker: &Docker) -> Result<()> {
    println!("compose-check: image sizes");
    let mut names: Vec<String> = RUST_SERVICES.iter().map(|s| image_name(s)).collect();
    names.extend(["api-docs", "storefront"].map(image_name));
    names.extend(
        [
            "compose-check/postgres:15",
            NGINX_STANDIN,
            "compose-check/mailpit:v1.21",
        ]
        .map(str::to_owned),
    );
    for name in names {
        let size = docker.output(&["image", "inspect", "--format", "{{.Size}}", &name])?;
        let bytes: f64 = size.trim().parse().unwrap_or(0.0);
        println!("  {name:<50} {:>7.1} MB", bytes / 1e6);
    }
    Ok(())
}

// ------------------------------------------------------------------ compose

/// `docker-compose` on the repository's compose file with the stand-ins'
/// override, as project [`PROJECT`], with the check's own variables.
struct Compose<'d> {
    root: PathBuf,
    env_file: PathBuf,
    docker: &'d Docker,
    extra: Vec<PathBuf>,
}

impl<'d> Compose<'d> {
    fn new(root: &Path, dir: &Path, docker: &'d Docker) -> Result<Self> {
        // Instead of the developer's .env: the check's images, its
        // Postgres port, and the dev-server origins the journey checks.
        let env_file = dir.join("compose.env");
        let origins = crate::cmd::frontend::DEV_ORIGINS.join(",");
        fs::write(
            &env_file,
            format!(
                "IMAGE_REGISTRY={IMAGE_REGISTRY}\nIMAGE_TAG={IMAGE_TAG}\n\
                 POSTGRES_PORT={POSTGRES_PORT}\nGATEWAY_PORT={GATEWAY_PORT}\n\
                 MAILPIT_UI_PORT={MAILPIT_PORT}\nCORS_ALLOWED_ORIGINS={origins}\n"
            ),
        )?;
        Ok(Self {
            root: root.to_owned(),
            env_file,
            docker,
            extra: Vec::new(),
        })
    }

    /// The same project with one more override file.
    fn with_override(&self, file: PathBuf) -> Self {
        let mut extra = self.extra.clone();
        extra.push(file);
        Self {
            root: self.root.clone(),
            env_file: self.env_file.clone(),
            docker: self.docker,
            extra,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.docker.compose);
        command
            .current_dir(&self.root)
            .args(["--ansi", "never", "-p", PROJECT, "--env-file"])
            .arg(&self.env_file)
            .args(["-f", "docker-compose.yml", "-f"])
            .arg("deploy/compose-check/compose.stand-ins.yml");
        for file in &self.extra {
            command.arg("-f").arg(file);
        }
        command.args(args);
        command
    }

    fn run(&self, args: &[&str]) -> Result<()> {
        process::run_ok(&mut self.command(args))
    }

    fn output(&self, args: &[&str]) -> Result<(bool, String)> {
        let (status, output) = process::run_captured(&mut self.command(args))?;
        Ok((status.success(), output))
    }

    fn down(&self) -> Result<()> {
        self.run(&["down", "--volumes", "--remove-orphans", "--timeout", "30"])
    }

    /// `up -d` (of `services`, or all of the main profile). docker-compose
    /// itself fails when a dependency turns unhealthy; [`Self::wait_ready`]
    /// says which and why, so a failed `up` is diagnosed there.
    fn up(&self, services: &[&str]) -> Result<()> {
        let mut args = vec!["up", "-d", "--no-build"];
        args.extend_from_slice(services);
        let (ok, output) = self.output(&args)?;
        print!("{output}");
        if !ok {
            self.wait_ready(services)
                .context("docker-compose up failed")?;
            bail!("docker-compose up failed:\n{output}");
        }
        Ok(())
    }

    /// The project's containers, inspected.
    fn containers(&self) -> Result<Vec<Container>> {
        let (ok, ids) = self.output(&["ps", "-q"])?;
        ensure!(ok, "docker-compose ps failed: {ids}");
        let ids: Vec<String> = ids
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_hexdigit()))
            .map(str::to_owned)
            .collect();
        Ok(self
            .docker
            .inspect(&ids)?
            .into_iter()
            .map(Container)
            .collect())
    }

    fn log_tail(&self, service: &str, lines: usize) -> String {
        let tail = lines.to_string();
        self.output(&["logs", "--no-color", "--tail", &tail, service])
            .map(|(_, text)| text)
            .unwrap_or_default()
    }

    /// Waits until every container of `services` (all when empty) is
    /// healthy (with a healthcheck), running (without), or exited 0 (the
    /// migrate jobs); fails at the first one that cannot get there, with
    /// its healthcheck's output or its last log lines.
    fn wait_ready(&self, services: &[&str]) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let containers: Vec<Container> = self
                .containers()?
                .into_iter()
                .filter(|c| services.is_empty() || services.contains(&c.service()))
                .collect();
            ensure!(!containers.is_empty(), "no container was created");
            let mut waiting = Vec::new();
            for c in &containers {
                match c.readiness() {
                    Readiness::Ready => {}
                    Readiness::Waiting(why) => waiting.push(format!("{}: {why}", c.service())),
                    Readiness::Failed(why) => {
                        let logs = self.log_tail(c.service(), 25);
                        bail!(
                            "{} {why}\n--- last log lines of {} ---\n{logs}",
                            c.service(),
                            c.service()
                        );
                    }
                }
            }
            if waiting.is_empty() {
                println!(
                    "compose-check: {} containers ready: {}",
                    containers.len(),
                    containers
                        .iter()
                        .map(Container::service)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "not ready within {} s: {}",
                    READY_TIMEOUT.as_secs(),
                    waiting.join("; ")
                );
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// One container, as `docker inspect` describes it.
struct Container(Value);

enum Readiness {
    Ready,
    Waiting(String),
    Failed(String),
}

impl Container {
    fn service(&self) -> &str {
        self.0["Config"]["Labels"]["com.docker.compose.service"]
            .as_str()
            .unwrap_or("?")
    }

    fn state(&self) -> &Value {
        &self.0["State"]
    }

    fn is_job(&self) -> bool {
        self.service().ends_with("-migrate")
    }

    fn readiness(&self) -> Readiness {
        let state = self.state();
        let status = state["Status"].as_str().unwrap_or("?");
        let code = state["ExitCode"].as_i64().unwrap_or(-1);
        let restarts = self.0["RestartCount"].as_i64().unwrap_or(0);
        if self.is_job() {
            return match (status, code) {
                ("exited", 0) => Readiness::Ready,
                ("exited", code) => Readiness::Failed(format!("exited with code {code}")),
                _ => Readiness::Waiting(status.to_owned()),
            };
        }
        if status == "exited" || status == "dead" {
            return Readiness::Failed(format!("stopped with exit code {code}"));
        }
        if state["Restarting"] == true || restarts > 0 {
            return Readiness::Failed(format!(
                "keeps exiting: restarted {restarts} time(s) by its restart policy"
            ));
        }
        match state["Health"]["Status"].as_str() {
            None if status == "running" => Readiness::Ready,
            None => Readiness::Waiting(status.to_owned()),
            Some("healthy") => Readiness::Ready,
            Some("unhealthy") => {
                let test = self.0["Config"]["Healthcheck"]["Test"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                let last = state["Health"]["Log"]
                    .as_array()
                    .and_then(|log| log.last())
                    .map(|entry| {
                        format!(
                            "exit code {}: {}",
                            entry["ExitCode"],
                            entry["Output"].as_str().unwrap_or("").trim()
                        )
                    })
                    .unwrap_or_default();
                Readiness::Failed(format!(
                    "is unhealthy: its healthcheck `{test}` failed ({last})"
                ))
            }
            Some(other) => Readiness::Waiting(other.to_owned()),
        }
    }
}

// ------------------------------------------------------------------ journey target

/// The compose fleet as the e2e journey sees it: the API through the
/// gateway, mail from Mailpit's API, logs from `docker-compose logs`.
struct ComposeTarget<'c> {
    compose: &'c Compose<'c>,
    api: Api,
    admin_token: String,
    admin_password: String,
    mail_cache: RefCell<HashMap<String, Mail>>,
}

impl<'c> ComposeTarget<'c> {
    /// Creates the local admin with the image's own `create-admin`, and logs in.
    fn new(compose: &'c Compose<'c>) -> Result<Self> {
        let admin_password = random_password()?;
        let password_env = format!("ADMIN_PASSWORD={admin_password}");
        let (ok, output) = compose.output(&[
            "exec",
            "-T",
            "-e",
            &password_env,
            "user-service",
            "/usr/local/bin/user-service",
            "create-admin",
            "--email",
            "admin@shop.local",
            "--reset-password",
        ])?;
        ensure!(ok, "user-service create-admin failed:\n{output}");
        let api = Api::new(
            Bases::gateway(&format!("http://127.0.0.1:{GATEWAY_PORT}")),
            Duration::from_secs(30),
        );
        let admin_token = api.login("admin@shop.local", &admin_password)?.access;
        Ok(Self {
            compose,
            api,
            admin_token,
            admin_password,
            mail_cache: RefCell::new(HashMap::new()),
        })
    }
}

fn random_password() -> Result<String> {
    let mut bytes = [0u8; 18];
    std::io::Read::read_exact(&mut fs::File::open("/dev/urandom")?, &mut bytes)?;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

fn mailpit_get(path: &str) -> Result<Value> {
    let url = format!("http://127.0.0.1:{MAILPIT_PORT}{path}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    agent
        .get(&url)
        .call()
        .with_context(|| format!("GET {url}"))?
        .body_mut()
        .read_json()
        .with_context(|| format!("GET {url}: JSON"))
}

/// `[{"Name": .., "Address": ..}]` as `Name <address>, ...`.
fn addresses(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["Address"].as_str())
        .map(str::to_owned)
        .collect()
}

impl Target for ComposeTarget<'_> {
    fn api(&self) -> &Api {
        &self.api
    }
    fn admin_token(&self) -> &str {
        &self.admin_token
    }
    fn through_gateway(&self) -> bool {
        true
    }
    fn direct_url(&self, service: &str) -> Result<String> {
        let port = crate::infra::services::present(&self.compose.root)?
            .into_iter()
            .find(|s| s.package == service)
            .with_context(|| format!("no service {service}"))?
            .port;
        Ok(format!("http://127.0.0.1:{port}"))
    }
    fn superuser_url(&self) -> Result<String> {
        Ok(format!(
            "postgres://postgres:{POSTGRES_PASSWORD}@127.0.0.1:{POSTGRES_PORT}/shop"
        ))
    }
    /// Mailpit's API: the list, then each new message in full.
    fn mails(&self) -> Result<Vec<Mail>> {
        let list = mailpit_get("/api/v1/messages?limit=1000")?;
        let mut mails = Vec::new();
        for summary in list["messages"].as_array().into_iter().flatten() {
            let id = summary["ID"].as_str().context("a message without ID")?;
            if let Some(mail) = self.mail_cache.borrow().get(id) {
                mails.push(mail.clone());
                continue;
            }
            let full = mailpit_get(&format!("/api/v1/message/{id}"))?;
            let to = addresses(&full["To"]);
            let mut rcpt = to.clone();
            rcpt.extend(addresses(&full["Cc"]));
            rcpt.extend(addresses(&full["Bcc"]));
            let part = |name: &str| {
                full[name]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            let mail = Mail {
                rcpt_to: rcpt.join(", "),
                to: to.join(", "),
                subject: full["Subject"].as_str().unwrap_or_default().to_owned(),
                message_id: full["MessageID"].as_str().unwrap_or_default().to_owned(),
                text: part("Text"),
                html: part("HTML"),
            };
            self.mail_cache
                .borrow_mut()
                .insert(id.to_owned(), mail.clone());
            mails.push(mail);
        }
        Ok(mails)
    }
    fn log_lines(&self, short: &str, needle: &str) -> Result<Vec<String>> {
        let (ok, text) =
            self.compose
                .output(&["logs", "--no-color", &format!("{short}-service")])?;
        ensure!(ok, "docker-compose logs {short}-service failed");
        Ok(text
            .lines()
            .filter(|line| line.contains(needle))
            .map(str::to_owned)
            .collect())
    }
}

// ------------------------------------------------------------------ checks

/// Every hardened service runs as a non-root user (its process, read from
/// /proc) on a read-only root filesystem.
fn hardening(compose: &Compose) -> Result<()> {
    let containers = compose.containers()?;
    for service in HARDENED {
        let c = containers
            .iter()
            .find(|c| c.service() == *service)
            .with_context(|| format!("no {service} container"))?;
        ensure!(
            c.0["HostConfig"]["ReadonlyRootfs"] == true,
            "{service}'s root filesystem is writable (read_only: true missing)"
        );
        let user = c.0["Config"]["User"].as_str().unwrap_or("");
        let name = user.split(':').next().unwrap_or("");
        ensure!(
            !name.is_empty() && name != "0" && name != "root",
            "{service} runs as user `{user}` (root)"
        );
        let pid = c.state()["Pid"].as_i64().context("no pid")?;
        let status = fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading {service}'s /proc/{pid}/status"))?;
        let uids = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .context("no Uid line")?;
        ensure!(
            uids.split_whitespace().all(|u| u != "0"),
            "{service}'s process runs with uid 0 ({})",
            uids.trim()
        );
        println!(
            "  {service:<22} user {user:<12} uids {:<24} read-only root",
            uids.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    Ok(())
}

/// `docker-compose stop`: every long-running container exits with 0 by
/// itself (a SIGKILL at the end of its grace period would be 137).
fn stop_cleanly(compose: &Compose) -> Result<()> {
    let began = Instant::now();
    compose.run(&["stop"])?;
    println!(
        "compose-check: stopped in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    let mut failures = Vec::new();
    for c in compose.containers()? {
        if c.is_job() {
            continue;
        }
        let code = c.state()["ExitCode"].as_i64().unwrap_or(-1);
        let status = c.state()["Status"].as_str().unwrap_or("?");
        println!("  {:<30} {status} ({code})", c.service());
        if status != "exited" || code != 0 {
            failures.push(format!("{}: {status}, exit code {code}", c.service()));
        }
    }
    ensure!(
        failures.is_empty(),
        "not stopped cleanly (137 = killed at the end of the grace period): {}",
        failures.join("; ")
    );
    Ok(())
}

/// Rows the journey left (products, orders, users).
fn data_counts(target: &ComposeTarget) -> Result<Vec<(String, i64)>> {
    let bin = crate::infra::pg::PgBin::locate()?;
    let url = target.superuser_url()?;
    let mut counts = Vec::new();
    for table in ["catalog.products", "orders.orders", "users.users"] {
        let out = crate::infra::pg::query(&bin, &url, &format!("select count(*) from {table}"))?;
        let n: i64 = out
            .trim()
            .parse()
            .with_context(|| format!("counting {table}: {out:?}"))?;
        ensure!(n > 0, "{table} is empty after the journey");
        counts.push((table.to_owned(), n));
    }
    println!("compose-check: {counts:?}");
    Ok(counts)
}

/// Starts `service` (and what it depends on) with the override `file`
/// applied; the check must fail, and its message must say `expected`.
fn negative(compose: &Compose, file: &str, service: &str, expected: &[&str]) -> Result<()> {
    let path = compose
        .root
        .join("deploy/compose-check/negative")
        .join(file);
    let broken = compose.with_override(path);
    let outcome = broken
        .up(&[service])
        .and_then(|()| broken.wait_ready(&[service]));
    broken.down()?;
    let Err(err) = outcome else {
        bail!("{service} came up healthy with {file}: the check would not have caught it");
    };
    let message = format!("{err:#}");
    let missing: Vec<&&str> = expected.iter().filter(|e| !message.contains(**e)).collect();
    ensure!(
        missing.is_empty(),
        "the failure with {file} does not name {missing:?}:\n{message}"
    );
    let first = message.lines().next().unwrap_or_default();
    println!("compose-check: caught as expected: {first}");
    Ok(())
}
