//! One side's fleet for one round of a benchmark.
//!
//! A fresh private Postgres (so nothing one side or round wrote reaches
//! another), then that side's own `xtask up --release --no-build` with
//! `DATABASE_URL` pointing at it. Going through each revision's own `up`
//! rather than this xtask's fleet code is what lets an old revision run with
//! the configuration *it* expects: its provisioning, its migrations, its
//! environment for each service and its way of creating the admin. Only
//! documented inputs of `up` are used: `XTASK_WORKSPACE_ROOT`,
//! `CARGO_TARGET_DIR`, `DATABASE_URL`, `ADMIN_EMAIL`/`ADMIN_PASSWORD`, and
//! the `APP__*` variables it passes to every service.
//!
//! `up` runs in its own process group and stops its services on SIGTERM.
//! Should xtask be forced to exit (a second Ctrl-C), a registered cleanup
//! kills `up` and every process below it, found through `/proc`.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cmd::bench::revision::Side;
use crate::infra::pg::{self, PgCluster, PgUrl};
use crate::infra::services::{self, ServiceSpec};
use crate::infra::shop::{Api, Bases};
use crate::infra::signals::signal_group;
use crate::infra::{http, signals};

/// How long `up` gets to migrate, start every service and create the admin.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// How long `up` gets to stop its services (it gives each 10 s).
const STOP_GRACE: Duration = Duration::from_secs(25);

/// The administrator `up` creates for the benchmark.
const ADMIN_EMAIL: &str = "bench-admin@shop.local";

/// What `up` prints once everything, the admin included, is ready (every
/// revision's `up` so far).
const UP_READY: &str = "services ready in";

/// A side's fleet, ready: every service answers `/ready` and the admin can log in.
pub struct BenchFleet {
    up: Option<Child>,
    pid: i32,
    cluster: PgCluster,
    specs: Vec<ServiceSpec>,
    log: PathBuf,
    admin_token: String,
    _forced_stop: signals::Registration,
}

impl std::fmt::Debug for BenchFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchFleet")
            .field("pid", &self.pid)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl BenchFleet {
    /// Starts Postgres `pg-bench-<label>` for `scratch_root` (see [`PgCluster::start`]) and
    /// the side's `up` (its output in `log`), with `env` for every service,
    /// and waits until the fleet is ready.
    pub fn start(
        scratch_root: &Path,
        side: &Side,
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Self> {
        let specs = services::present(&side.root)?;
        for spec in &specs {
            TcpListener::bind(("0.0.0.0", spec.port)).map(drop).with_context(|| {
                format!(
                    "port {} ({}) is already in use: is another fleet running? (`ss -ltnp 'sport = :{}'`)",
                    spec.port, spec.package, spec.port
                )
            })?;
        }
        let cluster = PgCluster::start(
            scratch_root,
            &format!("bench-{}", side.info.label.replace(' ', "-")),
        )?;
        let password = random_password()?;
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = Command::new(&side.xtask);
        cmd.args(["up", "--release", "--no-build"])
            .current_dir(&side.root)
            .env("XTASK_WORKSPACE_ROOT", &side.root)
            .env("CARGO_TARGET_DIR", &side.target)
            .env("DATABASE_URL", cluster.superuser_url())
            .env("ADMIN_EMAIL", ADMIN_EMAIL)
            .env("ADMIN_PASSWORD", &password)
            // Mail goes to notification-service's log on both sides.
            .env_remove("SMTP_URL")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0);
        let up = cmd
            .spawn()
            .with_context(|| format!("starting {} up", side.xtask.display()))?;
        // Pids fit in i32 on every Unix.
        let pid = up.id() as i32;
        let forced_stop = signals::register_cleanup(move || kill_tree(pid));
        let mut fleet = Self {
            up: Some(up),
            pid,
            cluster,
            specs,
            log: log.to_owned(),
            admin_token: String::new(),
            _forced_stop: forced_stop,
        };
        // From here on, an error drops `fleet`, which stops `up` and Postgres.
        fleet.wait_ready()?;
        fleet.admin_token = fleet.wait_for_admin(&password)?;
        Ok(fleet)
    }

    /// Where each service answers (the ports of its side's metadata).
    pub fn bases(&self) -> Result<Bases> {
        Bases::direct(&self.specs)
    }

    /// An administrator's access token (valid 15 minutes).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The database URL a service runs with (its own role), by short or package name.
    pub fn database_url(&self, name: &str) -> Result<String> {
        let spec = self
            .specs
            .iter()
            .find(|s| s.is_named(name))
            .with_context(|| format!("no service `{name}` in this fleet"))?;
        Ok(PgUrl::parse(&self.cluster.superuser_url())?.for_user(
            &spec.role,
            &spec.role,
            pg::DATABASE,
        ))
    }

    /// `up`'s output, the services' included.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Fails, with the end of the log, if `up` has exited (a service died).
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(up) = &mut self.up
            && let Some(status) = up.try_wait().context("checking on xtask up")?
        {
            self.up = None;
            bail!(
                "the fleet stopped on its own ({status}); end of {}:\n{}",
                self.log.display(),
                tail(&self.log, 25)
            );
        }
        Ok(())
    }

    /// Stops `up` (which stops the services) and Postgres.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let specs = self.specs.clone();
        for spec in &specs {
            let addr = SocketAddr::from(([127, 0, 0, 1], spec.port));
            loop {
                signals::check()?;
                self.check_alive()?;
                if matches!(
                    http::get_status(addr, "/ready", Duration::from_secs(2)),
                    Ok(200)
                ) {
                    break;
                }
                if Instant::now() > deadline {
                    bail!(
                        "{} not ready after {} s; end of {}:\n{}",
                        spec.package,
                        READY_TIMEOUT.as_secs(),
                        self.log.display(),
                        tail(&self.log, 25)
                    );
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        Ok(())
    }

    /// `up` creates the admin after the services are ready, then announces
    /// the fleet with its table ending in `All N services ready in ...`.
    /// Logging in before that would count failures against the account
    /// (five lock it), hence the wait for that line rather than retries.
    fn wait_for_admin(&mut self, password: &str) -> Result<String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            signals::check()?;
            self.check_alive()?;
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.lines().any(|l| l.contains(UP_READY)) {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "`xtask up` never printed `{UP_READY}`; end of {}:\n{}",
                    self.log.display(),
                    tail(&self.log, 25)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let api = Api::new(self.bases()?, Duration::from_secs(10));
        let session = api.login(ADMIN_EMAIL, password).with_context(|| {
            format!(
                "logging in as the admin `xtask up` created; end of {}:\n{}",
                self.log.display(),
                tail(&self.log, 25)
            )
        })?;
        Ok(session.access)
    }

    fn shutdown(&mut self) -> Result<()> {
        if let Some(mut up) = self.up.take()
            && up.try_wait()?.is_none()
        {
            signal_group(self.pid, libc::SIGTERM);
            let deadline = Instant::now() + STOP_GRACE;
            while up.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    eprintln!(
                        "xtask: `xtask up` did not stop in time; killing it and its services"
                    );
                    kill_tree(self.pid);
                    up.wait().context("waiting for a killed xtask up")?;
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        self.cluster.stop()
    }
}

impl Drop for BenchFleet {
    fn drop(&mut self) {
        if let Err(err) = self.shutdown() {
            eprintln!("xtask: {err:#}");
        }
    }
}

/// SIGKILL to `pid`'s process group and to every process below it (each
/// service leads its own group): the last resort, when `up` cannot stop them.
fn kill_tree(pid: i32) {
    // Collected before killing anything: once `up` dies its children are
    // re-parented and no longer found below it.
    let below = descendants(pid, &process_table());
    signal_group(pid, libc::SIGKILL);
    for child in below {
        signal_group(child, libc::SIGKILL);
        // SAFETY: kill(2) on a pid we just read from /proc; no memory is involved.
        unsafe {
            libc::kill(child, libc::SIGKILL);
        }
    }
}

/// `(pid, parent pid)` of every process, from `/proc/<pid>/stat`.
fn process_table() -> Vec<(i32, i32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, parent_from_stat(&stat)?))
        })
        .collect()
}

/// The parent pid in a `/proc/<pid>/stat` line: `pid (comm) state ppid ...`,
/// where `comm` may itself hold spaces and parentheses.
fn parent_from_stat(stat: &str) -> Option<i32> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(1)?.parse().ok()
}

/// Every process below `root` in `table`, children before grandchildren.
fn descendants(root: i32, table: &[(i32, i32)]) -> Vec<i32> {
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in table {
            if ppid == parent && pid != root && !found.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

/// 32 hex digits from the OS's random source.
fn random_password() -> Result<String> {
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(
        &mut File::open("/dev/urandom").context("opening /dev/urandom")?,
        &mut bytes,
    )
    .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The last `lines` lines of a file (empty if unreadable).
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_is_read_after_the_last_parenthesis_of_the_command_name() {
        assert_eq!(parent_from_stat("4242 (xtask) S 17 4242 4242 0"), Some(17));
        assert_eq!(
            parent_from_stat("99 (tokio (rt) worker) R 4242 1 1 0"),
            Some(4242)
        );
        assert_eq!(parent_from_stat("garbage"), None);
    }

    #[test]
    fn descendants_are_found_through_every_generation_and_nothing_else() {
        // up (10) -> user-service (11), nginx (12) -> worker (13); 20 is unrelated.
        let table = [
            (1, 0),
            (10, 1),
            (11, 10),
            (12, 10),
            (13, 12),
            (20, 1),
            (21, 20),
        ];
        let mut found = descendants(10, &table);
        found.sort_unstable();
        assert_eq!(found, [11, 12, 13]);
        assert!(descendants(13, &table).is_empty());
    }

    #[test]
    fn kill_tree_kills_a_grandchild_in_another_process_group() -> Result<()> {
        // sh leads its own group, as `up` does; the sleep gets a session
        // (and group) of its own, as each service does.
        let mut sh = Command::new("sh")
            .args(["-c", "setsid sleep 30 & wait"])
            .process_group(0)
            .spawn()?;
        let pid = sh.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(5);
        let sleeper = loop {
            let table = process_table();
            if let Some(&(p, _)) = table.iter().find(|(_, parent)| *parent == pid) {
                assert!(descendants(std::process::id() as i32, &table).contains(&p));
                break p;
            }
            if Instant::now() > deadline {
                bail!("sh never started its sleep");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        kill_tree(pid);
        sh.wait()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        // Gone, or a zombie waiting for a reaper: either way no longer running.
        while std::fs::read_to_string(format!("/proc/{sleeper}/stat")).is_ok_and(|stat| {
            !stat[stat.rfind(')').map_or(0, |i| i + 1)..]
                .trim_start()
                .starts_with('Z')
        }) {
            if Instant::now() > deadline {
                bail!("the grandchild {sleeper} survived kill_tree");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    #[test]
    fn passwords_are_random_and_long_enough_for_create_admin() -> Result<()> {
        let (a, b) = (random_password()?, random_password()?);
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        Ok(())
    }

    #[test]
    fn the_tail_of_a_log_is_its_last_lines() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("up.log");
        std::fs::write(&path, "a\nb\nc\nd\n")?;
        assert_eq!(tail(&path, 2), "c\nd");
        assert_eq!(tail(&path, 10), "a\nb\nc\nd");
        assert_eq!(tail(&dir.path().join("missing"), 3), "");
        Ok(())
    }
}
