//! The whole fleet as local processes: Postgres, migrations, one `serve` per service.
//!
//! Every command that needs running services (`up` today; `e2e`, `chaos`,
//! `bench` later) starts them the same way:
//!
//! ```no_run
//! # fn demo() -> anyhow::Result<()> {
//! use xtask::fleet::{Fleet, FleetOptions, Output};
//! let root = xtask::workspace::root();
//! let mut fleet = Fleet::start(&root, FleetOptions { output: Output::LogDir("target/xtask/logs".into()), ..FleetOptions::default() })?;
//! let catalog = fleet.base_url("catalog")?;        // http://127.0.0.1:8002
//! fleet.kill("catalog")?;                           // crash it (SIGKILL)
//! fleet.restart("catalog")?;                        // start it again, wait for /ready
//! fleet.check_alive()?;                             // error if a service died on its own
//! fleet.stop()?;                                    // or just drop it
//! # let _ = catalog; Ok(()) }
//! ```
//!
//! Dropping a [`Fleet`] stops everything too, and the signal handling in
//! [`crate::infra::signals`] covers Ctrl-C/SIGTERM, so no process outlives xtask.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::infra::pg::{self, PgBin, PgCluster};
use crate::infra::process::{self, GRACE, GroupChild};
use crate::infra::services::{self, ServiceSpec};
use crate::infra::{http, signals, workspace};

/// Where the services' stdout and stderr go.
#[derive(Debug, Clone, Default)]
pub enum Output {
    /// Our stdout, line by line, behind a coloured `name  | ` prefix.
    #[default]
    Prefixed,
    /// One `<short>.log` file per service in this directory (created if needed).
    LogDir(PathBuf),
    /// Discarded.
    Null,
}

/// How to start a [`Fleet`].
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Build and run the release profile.
    pub release: bool,
    /// Run `cargo build --bins` for the services first (off if the caller already built them).
    pub build: bool,
    /// How long every service gets to answer 200 on `/ready`.
    pub ready_timeout: Duration,
    /// Where service output goes.
    pub output: Output,
    /// The private cluster is `pg-<cluster_name>` (where: [`PgCluster::start`]).
    pub cluster_name: String,
    /// Services to run, by short or package name; empty means every service in the workspace.
    pub only: Vec<String>,
    /// Extra environment for every `serve` (e.g. `APP__SMTP__HOST`), over the inherited one.
    pub env: Vec<(String, String)>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            release: false,
            build: true,
            ready_timeout: Duration::from_secs(60),
            output: Output::Prefixed,
            cluster_name: "fleet".into(),
            only: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// One service's process and what is needed to start it again.
struct ServiceProc {
    spec: ServiceSpec,
    exe: PathBuf,
    database_url: String,
    child: Option<GroupChild>,
    pumps: Vec<JoinHandle<()>>,
}

/// A running fleet; see the module documentation.
pub struct Fleet {
    services: Vec<ServiceProc>,
    cluster: Option<PgCluster>,
    superuser_url: String,
    output: Output,
    ready_timeout: Duration,
    startup: Duration,
    prefix_width: usize,
    env: Vec<(String, String)>,
    stopped: bool,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field(
                "services",
                &self
                    .services
                    .iter()
                    .map(|s| &s.spec.package)
                    .collect::<Vec<_>>(),
            )
            .field("superuser_url", &pg::redact(&self.superuser_url))
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// Builds the services, starts and provisions Postgres (or uses `DATABASE_URL`
    /// as the superuser URL), runs every service's `migrate`, starts every
    /// `serve` and waits until all answer 200 on `/ready`.
    ///
    /// On any failure everything started so far is stopped before returning.
    pub fn start(root: &Path, opts: FleetOptions) -> Result<Fleet> {
        let began = Instant::now();
        let specs = select_services(root, &opts.only)?;
        for spec in &specs {
            ensure_port_free(spec)?;
        }
        let external_url = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
        // Found before the long build so a missing Postgres fails fast.
        let bin = PgBin::locate()?;

        if opts.build {
            build(root, &specs, opts.release)?;
        }
        signals::check()?;
        let profile_dir =
            workspace::target_dir(root).join(if opts.release { "release" } else { "debug" });

        let (cluster, superuser_url) = match external_url {
            Some(url) => {
                eprintln!("xtask: using DATABASE_URL {}", pg::redact(&url));
                (None, url)
            }
            None => {
                let cluster = PgCluster::start(root, &opts.cluster_name)?;
                eprintln!(
                    "xtask: Postgres on 127.0.0.1:{} (log: {})",
                    cluster.port(),
                    cluster.data_dir().join("postgres.log").display()
                );
                let url = cluster.superuser_url();
                (Some(cluster), url)
            }
        };
        let prefix_width = specs.iter().map(|s| s.short.len()).max().unwrap_or(0);
        let all = services::present(root)?;
        let mut env = opts.env;
        // Tokens are verified against the JWKS provider's keys, whichever
        // services of the fleet run.
        if std::env::var_os("APP__AUTH__JWKS_URL").is_none()
            && !env.iter().any(|(k, _)| k == "APP__AUTH__JWKS_URL")
            && let Some(url) = services::jwks_url(&all)
        {
            env.push(("APP__AUTH__JWKS_URL".into(), url));
        }
        let mut fleet = Fleet {
            services: Vec::new(),
            cluster,
            superuser_url,
            output: opts.output,
            ready_timeout: opts.ready_timeout,
            env,
            startup: Duration::ZERO,
            prefix_width,
            stopped: false,
        };
        // From here on, an error drops `fleet`, which stops whatever runs.
        let urls = pg::provision(&bin, &fleet.superuser_url, &all)?;
        for spec in specs {
            let exe = profile_dir.join(&spec.package);
            if !exe.is_file() {
                bail!(
                    "{} not found; build it with `cargo build{} -p {}`",
                    exe.display(),
                    if opts.release { " --release" } else { "" },
                    spec.package
                );
            }
            let database_url = urls
                .get(&spec.package)
                .cloned()
                .with_context(|| format!("no database URL provisioned for {}", spec.package))?;
            fleet.services.push(ServiceProc {
                spec,
                exe,
                database_url,
                child: None,
                pumps: Vec::new(),
            });
        }
        for svc in &fleet.services {
            signals::check()?;
            migrate(svc)?;
        }
        for i in 0..fleet.services.len() {
            fleet.spawn(i)?;
        }
        let all: Vec<usize> = (0..fleet.services.len()).collect();
        fleet.wait_ready(&all)?;
        fleet.startup = began.elapsed();
        Ok(fleet)
    }

    /// The running services' specs (name, port, schema, role).
    pub fn services(&self) -> impl Iterator<Item = &ServiceSpec> {
        self.services.iter().map(|s| &s.spec)
    }

    /// How long [`Fleet::start`] took, build included.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// `http://127.0.0.1:<port>` of a service, by short (`catalog`) or package name.
    pub fn base_url(&self, name: &str) -> Result<String> {
        let svc = &self.services[self.index(name)?];
        Ok(format!("http://127.0.0.1:{}", svc.spec.port))
    }

    /// The database URL a service runs with (its own role).
    pub fn database_url(&self, name: &str) -> Result<&str> {
        Ok(&self.services[self.index(name)?].database_url)
    }

    /// The Postgres superuser URL (private cluster or `DATABASE_URL`).
    pub fn superuser_url(&self) -> &str {
        &self.superuser_url
    }

    /// The private cluster, if xtask started one.
    pub fn cluster(&self) -> Option<&PgCluster> {
        self.cluster.as_ref()
    }

    /// Crashes and restarts the private Postgres under the running services.
    pub fn crash_restart_postgres(&mut self) -> Result<()> {
        self.cluster
            .as_mut()
            .context("the fleet runs on an external DATABASE_URL, not its own Postgres")?
            .crash_restart()
    }

    /// The process id of a running service (to read its `/proc` entries).
    pub fn pid(&self, name: &str) -> Result<u32> {
        let svc = &self.services[self.index(name)?];
        svc.child
            .as_ref()
            .map(|child| child.id())
            .with_context(|| format!("{} is not running", svc.spec.package))
    }

    /// True if the service's process is running.
    pub fn is_running(&mut self, name: &str) -> Result<bool> {
        let i = self.index(name)?;
        Ok(match &mut self.services[i].child {
            Some(child) => child.try_wait()?.is_none(),
            None => false,
        })
    }

    /// Crashes a service: SIGKILL, no chance to drain. [`Fleet::check_alive`] ignores it afterwards.
    pub fn kill(&mut self, name: &str) -> Result<ExitStatus> {
        let i = self.index(name)?;
        self.take_child(i, |child| child.kill())
    }

    /// Stops a service gracefully: SIGTERM, then SIGKILL after 10 s.
    pub fn terminate(&mut self, name: &str) -> Result<ExitStatus> {
        let i = self.index(name)?;
        self.take_child(i, |child| child.terminate(GRACE))
    }

    /// Starts a service again (terminating it first if it still runs) and waits for `/ready`.
    pub fn restart(&mut self, name: &str) -> Result<()> {
        let i = self.index(name)?;
        if self.services[i].child.is_some() {
            self.take_child(i, |child| child.terminate(GRACE))?;
        }
        self.spawn(i)?;
        self.wait_ready(&[i])
    }

    /// Fails naming the first service whose process exited without being asked to.
    pub fn check_alive(&mut self) -> Result<()> {
        for svc in &mut self.services {
            if let Some(child) = &mut svc.child
                && let Some(status) = child.try_wait()?
            {
                let package = svc.spec.package.clone();
                svc.child = None;
                bail!("{package} exited unexpectedly ({status})");
            }
        }
        Ok(())
    }

    /// Stops every service (SIGTERM, 10 s grace, SIGKILL) and then Postgres.
    pub fn stop(mut self) -> Result<()> {
        self.stop_all()
    }

    fn stop_all(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        // SIGTERM to all at once so they drain in parallel.
        for svc in &mut self.services {
            if let Some(child) = &mut svc.child {
                child.signal(libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + GRACE;
        for svc in &mut self.services {
            if let Some(mut child) = svc.child.take() {
                let left = deadline.saturating_duration_since(Instant::now());
                if let Err(err) = child.terminate(left) {
                    eprintln!("xtask: stopping {}: {err:#}", svc.spec.package);
                }
            }
            for pump in svc.pumps.drain(..) {
                let _ = pump.join();
            }
        }
        match &mut self.cluster {
            Some(cluster) => cluster.stop(),
            None => Ok(()),
        }
    }

    fn index(&self, name: &str) -> Result<usize> {
        self.services
            .iter()
            .position(|s| s.spec.is_named(name))
            .ok_or_else(|| anyhow!("no service `{name}` in this fleet"))
    }

    fn take_child(
        &mut self,
        i: usize,
        stop: impl FnOnce(&mut GroupChild) -> Result<ExitStatus>,
    ) -> Result<ExitStatus> {
        let svc = &mut self.services[i];
        let mut child = svc
            .child
            .take()
            .with_context(|| format!("{} is not running", svc.spec.package))?;
        let status = stop(&mut child);
        for pump in svc.pumps.drain(..) {
            let _ = pump.join();
        }
        status
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let width = self.prefix_width;
        let output = self.output.clone();
        let svc = &mut self.services[i];
        let mut cmd = Command::new(&svc.exe);
        cmd.arg("serve")
            .envs(serve_env(&svc.spec, &svc.exe, &svc.database_url, &output))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = GroupChild::spawn(&mut cmd)?;
        let sink = open_sink(&output, &svc.spec)?;
        let prefix = prefix(
            &svc.spec.short,
            i,
            width,
            matches!(output, Output::Prefixed),
        );
        if let Some(out) = child.child_mut().stdout.take() {
            svc.pumps.push(pump(out, prefix.clone(), Arc::clone(&sink)));
        }
        if let Some(err) = child.child_mut().stderr.take() {
            svc.pumps.push(pump(err, prefix, sink));
        }
        svc.child = Some(child);
        Ok(())
    }

    /// Polls `GET /ready` on the given services until each answers 200.
    fn wait_ready(&mut self, which: &[usize]) -> Result<()> {
        let began = Instant::now();
        let deadline = began + self.ready_timeout;
        let mut pending: Vec<usize> = which.to_vec();
        let mut last: BTreeMap<usize, String> = BTreeMap::new();
        while !pending.is_empty() {
            signals::check()?;
            let mut still = Vec::new();
            for &i in &pending {
                let svc = &mut self.services[i];
                let child = svc
                    .child
                    .as_mut()
                    .with_context(|| format!("{} is not running", svc.spec.package))?;
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "{} exited ({status}) before becoming ready; its output is above{}",
                        svc.spec.package,
                        match &self.output {
                            Output::LogDir(dir) => format!(" in {}", dir.display()),
                            _ => String::new(),
                        }
                    );
                }
                let addr = SocketAddr::from(([127, 0, 0, 1], svc.spec.port));
                match http::get_status(addr, "/ready", Duration::from_secs(2)) {
                    Ok(200) => eprintln!(
                        "xtask: {} ready after {:.1} s",
                        svc.spec.package,
                        began.elapsed().as_secs_f64()
                    ),
                    Ok(code) => {
                        last.insert(i, format!("/ready answered {code}"));
                        still.push(i);
                    }
                    Err(err) => {
                        last.insert(i, format!("{err:#}"));
                        still.push(i);
                    }
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                let names: Vec<String> = pending
                    .iter()
                    .map(|i| {
                        format!(
                            "{} (last: {})",
                            self.services[*i].spec.package,
                            last.get(i).map(String::as_str).unwrap_or("no answer")
                        )
                    })
                    .collect();
                bail!(
                    "not ready after {} s: {}",
                    self.ready_timeout.as_secs(),
                    names.join(", ")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if let Err(err) = self.stop_all() {
            eprintln!("xtask: {err:#}");
        }
    }
}

/// The services to run: those of `only` (by name), else every service in the workspace.
fn select_services(root: &Path, only: &[String]) -> Result<Vec<ServiceSpec>> {
    let present = services::present(root)?;
    if present.is_empty() {
        bail!(
            "no service in the workspace yet: no member has [package.metadata.template] \
             (`cargo xtask new-service <name>` makes one)"
        );
    }
    if only.is_empty() {
        return Ok(present);
    }
    only.iter()
        .map(|name| {
            present
                .iter()
                .find(|s| s.is_named(name))
                .cloned()
                .ok_or_else(|| anyhow!("`{name}` is not a service in this workspace"))
        })
        .collect()
}

fn ensure_port_free(spec: &ServiceSpec) -> Result<()> {
    TcpListener::bind(("0.0.0.0", spec.port)).map(drop).with_context(|| {
        format!(
            "port {} ({}) is already in use: is another fleet running? (`ss -ltnp 'sport = :{}'`)",
            spec.port, spec.package, spec.port
        )
    })
}

/// Sets `SQLX_OFFLINE=true` unless the caller chose: with a superuser
/// `DATABASE_URL` in the environment, sqlx's query macros would otherwise
/// check queries against a database without the services' schemas.
pub fn sqlx_offline_default(cmd: &mut Command) {
    if std::env::var_os("SQLX_OFFLINE").is_none() {
        cmd.env("SQLX_OFFLINE", "true");
    }
}

/// `cargo build [--release] --bins -p <each service>`.
pub fn build(root: &Path, specs: &[ServiceSpec], release: bool) -> Result<()> {
    let mut cmd = build_command(root, specs, release);
    eprintln!("xtask: {}", process::describe(&cmd));
    process::run_ok(&mut cmd)
}

/// The command [`build`] runs, for callers that adjust it (`bench --against`
/// builds another revision with its own target directory).
pub fn build_command(root: &Path, specs: &[ServiceSpec], release: bool) -> Command {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(root).arg("build");
    if release {
        cmd.arg("--release");
    }
    cmd.arg("--bins");
    for spec in specs {
        cmd.args(["-p", &spec.package]);
    }
    sqlx_offline_default(&mut cmd);
    cmd
}

/// The cargo that runs us (`$CARGO`), so toolchain overrides carry over.
pub fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn log_env(output: &Output) -> [(String, String); 2] {
    let rust_log = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let format = std::env::var("LOG_FORMAT").unwrap_or_else(|_| {
        let terminal = matches!(output, Output::Prefixed) && std::io::stdout().is_terminal();
        if terminal { "pretty" } else { "json" }.into()
    });
    [("RUST_LOG".into(), rust_log), ("LOG_FORMAT".into(), format)]
}

/// The environment of `<bin> serve`; every other `APP__*` variable is inherited untouched.
fn serve_env(
    spec: &ServiceSpec,
    exe: &Path,
    database_url: &str,
    output: &Output,
) -> Vec<(String, String)> {
    let mut env = vec![
        // Always ours: readiness polling and role isolation depend on them.
        ("APP__SERVER__PORT".into(), spec.port.to_string()),
        ("APP__DATABASE__URL".into(), database_url.to_owned()),
    ];
    // catalog's product images: `target/media`, whatever the directory we
    // were started from (the binary is `target/<profile>/catalog-service`).
    if spec.package == "catalog-service"
        && std::env::var_os("APP__MEDIA__PATH").is_none()
        && let Some(target) = exe.parent().and_then(Path::parent)
    {
        env.push((
            "APP__MEDIA__PATH".into(),
            target.join("media").to_string_lossy().into_owned(),
        ));
    }
    env.extend(log_env(output));
    env
}

/// Runs `<bin> migrate` with the service's own role; fails with its output.
fn migrate(svc: &ServiceProc) -> Result<()> {
    let began = Instant::now();
    let mut cmd = Command::new(&svc.exe);
    cmd.arg("migrate")
        .env("APP__DATABASE__URL", &svc.database_url)
        .envs(log_env(&Output::Null));
    let (status, output) = process::run_captured(&mut cmd)?;
    if !status.success() {
        bail!(
            "`{} migrate` failed ({status}):\n{}",
            svc.spec.package,
            output.trim_end()
        );
    }
    eprintln!(
        "xtask: migrated {} ({:.1} s)",
        svc.spec.package,
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

fn open_sink(output: &Output, spec: &ServiceSpec) -> Result<Sink> {
    let writer: Box<dyn Write + Send> = match output {
        Output::Prefixed => Box::new(std::io::stdout()),
        Output::Null => Box::new(std::io::sink()),
        Output::LogDir(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.join(format!("{}.log", spec.short));
            // Append: a restarted service keeps its earlier log.
            let file = File::options()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            Box::new(file)
        }
    };
    Ok(Arc::new(Mutex::new(writer)))
}

const COLOURS: [&str; 6] = ["36", "32", "33", "35", "34", "91"];

/// `user         | `, coloured when our stdout is a terminal.
fn prefix(short: &str, index: usize, width: usize, prefixed: bool) -> String {
    if !prefixed {
        return String::new();
    }
    let plain = format!("{short:<width$} | ");
    if std::io::stdout().is_terminal() {
        let colour = COLOURS[index % COLOURS.len()];
        format!("\x1b[{colour}m{plain}\x1b[0m")
    } else {
        plain
    }
}

fn pump(stream: impl Read + Send + 'static, prefix: String, sink: Sink) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            if !line.ends_with(b"\n") {
                line.push(b'\n');
            }
            let mut out = sink.lock().unwrap_or_else(|p| p.into_inner());
            // One write per line under the lock: lines of different services never interleave.
            let mut buf = Vec::with_capacity(prefix.len() + line.len());
            buf.extend_from_slice(prefix.as_bytes());
            buf.extend_from_slice(&line);
            // A closed stdout (`| head`) must not kill the pump; keep draining the pipe.
            let _ = out.write_all(&buf);
            let _ = out.flush();
            line.clear();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::testing::fake_workspace;

    #[test]
    #[ignore = "binds the fleet's fixed ports 8001-8002 and needs python3: cargo test -p xtask -- --ignored"]
    fn fleet_lifecycle_with_fake_services() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path();
        fake_workspace(root, &["user-service", "catalog-service"])?;
        let logs = root.join("logs");
        let opts = FleetOptions {
            build: false,
            output: Output::LogDir(logs.clone()),
            cluster_name: "fleet-test".into(),
            ready_timeout: Duration::from_secs(20),
            ..FleetOptions::default()
        };

        // A failing migration stops the start-up, shows the output, leaves nothing running.
        let marker = workspace::target_dir(root).join("debug/fail-migrate");
        std::fs::write(&marker, "")?;
        let err = Fleet::start(root, opts.clone()).expect_err("migration fails");
        let text = format!("{err:#}");
        assert!(text.contains("`user-service migrate` failed"), "{text}");
        assert!(text.contains("relation does not exist"), "{text}");
        std::fs::remove_file(&marker)?;

        let mut fleet = Fleet::start(root, opts)?;
        assert_eq!(fleet.base_url("catalog")?, "http://127.0.0.1:8002");
        let user_db = fleet.database_url("user-service")?.to_owned();
        assert!(user_db.starts_with("postgres://user_service:user_service@127.0.0.1:"));
        fleet.check_alive()?;

        // Crash one service, then bring it back.
        fleet.kill("catalog")?;
        assert!(!fleet.is_running("catalog")?);
        fleet.check_alive()?; // a deliberate kill is not a failure
        fleet.restart("catalog")?;
        assert!(fleet.is_running("catalog")?);

        // An unexpected death is reported.
        let pid = fleet.services[0]
            .child
            .as_ref()
            .map(GroupChild::id)
            .context("user runs")?;
        crate::infra::signals::signal_group(pid as i32, libc::SIGKILL);
        std::thread::sleep(Duration::from_millis(300));
        let err = fleet.check_alive().expect_err("user-service died");
        assert!(format!("{err}").contains("user-service exited unexpectedly"));

        let port = fleet
            .cluster()
            .map(PgCluster::port)
            .context("private cluster")?;
        fleet.stop()?;
        for port in [8001, 8002, port] {
            assert!(
                std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
                "port {port} still listening"
            );
        }
        let log = std::fs::read_to_string(logs.join("catalog.log"))?;
        assert!(
            log.contains(
                "listening on 8002 jwks http://127.0.0.1:8001/.well-known/jwks.json format json"
            ),
            "{log}"
        );
        assert!(log.contains("GET /ready"), "{log}");
        Ok(())
    }
}
