//! A private, throw-away Postgres cluster from the local binaries, and provisioning.
//!
//! [`PgCluster::start`] makes a fresh cluster `pg-<name>` (where: [`PgCluster::start`]);
//! the guard stops it on [`PgCluster::stop`], on `Drop` and (via
//! [`crate::infra::signals`]) on a forced shutdown, so no `postgres` process outlives xtask.
//! [`finish`], called once the command has ended, deletes the stopped clusters'
//! data directories, or keeps them (and says where their logs are) when it failed.
//! [`provision`] creates the `shop` database with one role and schema per service.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

use crate::infra::services::{self, ServiceSpec};
use crate::infra::{signals, workspace};

/// The database every service lives in (one schema each).
pub const DATABASE: &str = "shop";

/// Where the clusters live when xtask runs as root: one directory per
/// checkout, `<SHARED_BASE>/<checkout id>/pg-<name>` (see [`PgCluster::start`]).
pub const SHARED_BASE: &str = "/var/tmp/shop-xtask";

/// The file in a checkout's directory under [`SHARED_BASE`] naming the
/// checkout's scratch directory (for people, and for [`collect_abandoned`]).
const CHECKOUT_RECORD: &str = "checkout";

/// The directory holding `initdb`, `pg_ctl`, `psql` and `postgres`.
#[derive(Debug, Clone)]
pub struct PgBin {
    dir: PathBuf,
}

impl PgBin {
    /// Finds the highest `/usr/lib/postgresql/*/bin`, else asks `pg_config --bindir`.
    pub fn locate() -> Result<Self> {
        if let Some(dir) = highest_debian_bindir() {
            return Ok(Self { dir });
        }
        if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
            && out.status.success()
        {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(Self { dir });
            }
        }
        bail!(
            "PostgreSQL server binaries (initdb, pg_ctl, psql) not found in \
             /usr/lib/postgresql/*/bin or `pg_config --bindir`.\n\
             Install them, e.g. on Debian/Ubuntu: `apt-get install postgresql`; \
             on macOS: `brew install postgresql`.\n\
             Or point DATABASE_URL at an existing server's superuser to skip the private cluster."
        )
    }

    /// The path of one of the binaries (`psql`, `pg_ctl`, ...).
    pub fn tool(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn highest_debian_bindir() -> Option<PathBuf> {
    let entries = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    entries
        .flatten()
        .filter_map(|e| {
            let version = parse_version(&e.file_name().to_string_lossy())?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
}

/// "15" -> [15], "9.6" -> [9, 6]: numeric so that 10 sorts above 9.6.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|p| p.parse().ok()).collect()
}

/// True when running as root, where initdb refuses to run and we use `runuser -u postgres`.
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// A command for a server-side tool: through `runuser -u postgres --` as root.
fn server_command(bin: &PgBin, tool: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(bin.tool(tool));
        cmd
    } else {
        Command::new(bin.tool(tool))
    }
}

/// Runs a short setup command, failing with its output if it fails.
fn run_setup(mut cmd: Command) -> Result<String> {
    let what = crate::infra::process::describe(&cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running `{what}`"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!("`{what}` failed ({}):\n{}", out.status, text.trim_end());
    }
    Ok(text)
}

/// A running private cluster; stopped by [`PgCluster::stop`] or on drop.
#[derive(Debug)]
pub struct PgCluster {
    bin: PgBin,
    location: Location,
    port: u16,
    as_postgres: bool,
    running: bool,
    _forced_stop: Option<signals::Registration>,
}

impl PgCluster {
    /// Starts a fresh cluster `pg-<name>` on a free port (about 1.5 s), from an
    /// empty data directory (a previous run's is stopped and deleted first).
    ///
    /// The data directory is `<target>/xtask/pg-<name>`, except as root: the
    /// server then runs as the `postgres` user, who may not be allowed into the
    /// checkout (a clone under `/root` or in a `mktemp -d` directory is 0700),
    /// and xtask does not loosen the permissions of the user's directories. The
    /// cluster then lives in `/var/tmp/shop-xtask/<checkout id>/pg-<name>`
    /// (root-owned 0755 directories, the data directory owned by `postgres`;
    /// `/var/tmp` rather than `/tmp`, which may be memory) and
    /// `<target>/xtask/pg-<name>` is a symbolic link to it. The checkout id is a
    /// hash of the scratch directory's real path, so every checkout (and every
    /// `bench --against` baseline) has its own clusters.
    pub fn start(root: &Path, name: &str) -> Result<Self> {
        let bin = PgBin::locate()?;
        let as_postgres = is_root();
        let location = prepare_data_dir(&bin, root, name, as_postgres)?;
        let data_dir = location.data_dir.clone();

        let mut initdb = server_command(&bin, "initdb", as_postgres);
        initdb
            .arg("-D")
            .arg(&data_dir)
            .args(["-U", "postgres", "--auth=trust", "-N"])
            // Deterministic regardless of the host's locale settings.
            .args(["--encoding=UTF8", "--locale=C"]);
        run_setup(initdb).context("initdb failed")?;
        signals::check()?;

        let log = data_dir.join("postgres.log");
        let mut last_error = None;
        // Why retry: another process may grab the free port between our probe and the bind.
        for _ in 0..3 {
            let port = free_port()?;
            let mut cluster = Self {
                bin: bin.clone(),
                location: location.clone(),
                port,
                as_postgres,
                running: true,
                _forced_stop: None,
            };
            // Register before starting so a signal during start-up still stops it.
            cluster._forced_stop = Some(forced_stop(&bin, &location, as_postgres));
            let mut pg_ctl = server_command(&bin, "pg_ctl", as_postgres);
            pg_ctl
                .arg("-D")
                .arg(&data_dir)
                .arg("-l")
                .arg(&log)
                .arg("-o")
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 {}",
                    shell_quote(&data_dir),
                    extra_server_options()
                ))
                .args(["-w", "-t", "60", "start"]);
            match run_setup(pg_ctl) {
                Ok(_) => return Ok(cluster),
                Err(err) => {
                    // pg_ctl may have died (Ctrl-C reaches it too) after the
                    // server started: make sure nothing is left running.
                    if data_dir.join("postmaster.pid").exists() {
                        let mut immediate = server_command(&bin, "pg_ctl", as_postgres);
                        immediate
                            .arg("-D")
                            .arg(&data_dir)
                            .args(["-m", "immediate", "-w", "stop"]);
                        let _ = run_setup(immediate);
                    }
                    cluster.running = false;
                    signals::check()?;
                    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
                    let tail: Vec<&str> = log_text.lines().rev().take(20).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    let retry =
                        log_text.contains("could not bind") || log_text.contains("already in use");
                    last_error = Some(err.context(format!(
                        "starting Postgres on port {port}; end of {}:\n{}",
                        log.display(),
                        tail.join("\n")
                    )));
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("starting Postgres failed")))
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory (the server log is `postgres.log` in it).
    pub fn data_dir(&self) -> &Path {
        &self.location.data_dir
    }

    /// The binaries this cluster runs from (for [`psql`] and [`provision`]).
    pub fn bin(&self) -> &PgBin {
        &self.bin
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`: the superuser (trust auth).
    pub fn superuser_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Crashes and restarts the server (`pg_ctl restart -m immediate`: no
    /// checkpoint, crash recovery on start), keeping its port and options.
    pub fn crash_restart(&mut self) -> Result<()> {
        let mut pg_ctl = server_command(&self.bin, "pg_ctl", self.as_postgres);
        pg_ctl
            .arg("-D")
            .arg(&self.location.data_dir)
            .arg("-l")
            .arg(self.location.data_dir.join("postgres.log"))
            .args(["-m", "immediate", "-w", "-t", "60", "restart"]);
        run_setup(pg_ctl).map(drop).context("restarting Postgres")
    }

    /// Stops the server (`pg_ctl stop -m fast`); idempotent.
    pub fn stop(&mut self) -> Result<()> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        let mut pg_ctl = server_command(&self.bin, "pg_ctl", self.as_postgres);
        pg_ctl
            .arg("-D")
            .arg(&self.location.data_dir)
            .args(["-m", "fast", "-w", "-t", "30", "stop"]);
        let result = run_setup(pg_ctl).map(drop);
        if result.is_err() {
            // Fall back to what the signal path would do.
            let mut immediate = server_command(&self.bin, "pg_ctl", self.as_postgres);
            immediate.arg("-D").arg(&self.location.data_dir).args([
                "-m",
                "immediate",
                "-w",
                "stop",
            ]);
            let _ = run_setup(immediate);
        }
        self._forced_stop = None;
        result.context("stopping Postgres")
    }

    /// Stops the server and deletes its data directory (and the link to it) now,
    /// rather than when the command ends ([`finish`]).
    pub fn discard(&mut self) -> Result<()> {
        self.stop()?;
        if server_alive(&self.location.data_dir) {
            bail!(
                "Postgres in {} still runs after being stopped; not deleting it",
                self.location.data_dir.display()
            );
        }
        self.location.remove()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            eprintln!("xtask: {err:#}");
        }
    }
}

/// The last-resort stop run by the signal watchdog: the command was
/// interrupted, so (as [`finish`] would) the data directory goes too.
fn forced_stop(bin: &PgBin, location: &Location, as_postgres: bool) -> signals::Registration {
    let bin = bin.clone();
    let location = location.clone();
    signals::register_cleanup(move || {
        let mut cmd = server_command(&bin, "pg_ctl", as_postgres);
        cmd.arg("-D")
            .arg(&location.data_dir)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = cmd.status();
        if !server_alive(&location.data_dir) {
            let _ = location.remove();
        }
    })
}

/// Where one cluster's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Location {
    /// The data directory (`postgres.log` is in it).
    data_dir: PathBuf,
    /// `<target>/xtask/pg-<name>` when it is a link to `data_dir` (as root).
    link: Option<PathBuf>,
}

impl Location {
    /// Deletes the data directory and the link to it (neither need exist).
    fn remove(&self) -> Result<()> {
        if let Some(link) = &self.link
            && std::fs::read_link(link).is_ok_and(|target| target == self.data_dir)
        {
            std::fs::remove_file(link)
                .with_context(|| format!("removing the link {}", link.display()))?;
        }
        match std::fs::remove_dir_all(&self.data_dir) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err).with_context(|| format!("removing {}", self.data_dir.display())),
        }
    }
}

/// The clusters this process made, for [`finish`].
static MADE: Mutex<Vec<Location>> = Mutex::new(Vec::new());

/// Ends the command's clusters (all stopped by now: their guards are dropped).
///
/// When the command `succeeded` (or was interrupted: the caller decides),
/// their data directories are deleted, so a run leaves nothing behind (a
/// `cargo xtask test` cluster holds one database per test, gigabytes). When it
/// failed they are kept for diagnosis and their server logs are named; the
/// next start of the same cluster deletes them. A cluster whose server still
/// runs is never touched.
pub fn finish(succeeded: bool) {
    let made = std::mem::take(&mut *MADE.lock().unwrap_or_else(|p| p.into_inner()));
    for location in made {
        let dir = &location.data_dir;
        if !dir.exists() {
            continue;
        }
        if server_alive(dir) {
            eprintln!(
                "xtask: Postgres in {} is still running; left as it is",
                dir.display()
            );
        } else if succeeded {
            if let Err(err) = location.remove() {
                eprintln!("xtask: {err:#}");
            }
        } else {
            let log = dir.join("postgres.log");
            let log = if log.exists() {
                format!(" (server log: {})", log.display())
            } else {
                String::new()
            };
            eprintln!(
                "xtask: kept the Postgres cluster {}{log}; its next start deletes it",
                dir.display()
            );
        }
    }
}

/// True when `data_dir/postmaster.pid` names a live process.
fn server_alive(data_dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(data_dir.join("postmaster.pid")) else {
        return false;
    };
    let Some(pid) = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<i32>().ok())
    else {
        // Being written: count it as alive rather than delete under a server.
        return true;
    };
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// Makes the cluster's empty data directory, owned by the server user, and
/// records it for [`finish`]; see [`PgCluster::start`] for where it is.
fn prepare_data_dir(bin: &PgBin, root: &Path, name: &str, as_postgres: bool) -> Result<Location> {
    let scratch = workspace::scratch_dir(root);
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let in_checkout = scratch.join(format!("pg-{name}"));
    let location = if as_postgres {
        let checkout_dir = shared_checkout_dir(Path::new(SHARED_BASE), &scratch)?;
        for removed in collect_abandoned(Path::new(SHARED_BASE), &checkout_dir) {
            eprintln!(
                "xtask: removed {} (clusters of a checkout that no longer exists)",
                removed.display()
            );
        }
        // A link (perhaps copied along with `target/` from another checkout)
        // is never followed; a directory is a cluster from before they moved.
        match std::fs::symlink_metadata(&in_checkout) {
            Ok(meta) if meta.is_dir() => wipe(bin, &in_checkout, as_postgres)?,
            Ok(_) => std::fs::remove_file(&in_checkout)
                .with_context(|| format!("removing {}", in_checkout.display()))?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(err).with_context(|| format!("inspecting {}", in_checkout.display()));
            }
        }
        Location {
            data_dir: checkout_dir.join(format!("pg-{name}")),
            link: Some(in_checkout),
        }
    } else {
        Location {
            data_dir: in_checkout,
            link: None,
        }
    };
    let data_dir = &location.data_dir;
    wipe(bin, data_dir, as_postgres)?;
    std::fs::create_dir(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let mut made = MADE.lock().unwrap_or_else(|p| p.into_inner());
    if !made.contains(&location) {
        made.push(location.clone());
    }
    drop(made);
    if as_postgres {
        let mut chown = Command::new("chown");
        chown.arg("postgres:postgres").arg(data_dir);
        run_setup(chown).context("giving the data directory to the `postgres` user")?;
    }
    if let Some(link) = &location.link {
        std::os::unix::fs::symlink(data_dir, link)
            .with_context(|| format!("linking {} to {}", link.display(), data_dir.display()))?;
    }
    Ok(location)
}

/// Deletes a previous run's data directory, stopping a server left running by
/// a SIGKILLed xtask first.
fn wipe(bin: &PgBin, data_dir: &Path, as_postgres: bool) -> Result<()> {
    if data_dir.join("postmaster.pid").exists() {
        let mut pg_ctl = server_command(bin, "pg_ctl", as_postgres);
        pg_ctl
            .arg("-D")
            .arg(data_dir)
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = run_setup(pg_ctl);
    }
    match std::fs::remove_dir_all(data_dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => {
            Err(err).with_context(|| format!("removing the old cluster {}", data_dir.display()))
        }
    }
}

/// `<base>/<checkout id>`, made if needed (root-owned, 0755 so that the
/// `postgres` user can pass), with the scratch directory's path recorded in it.
fn shared_checkout_dir(base: &Path, scratch: &Path) -> Result<PathBuf> {
    let scratch = scratch
        .canonicalize()
        .with_context(|| format!("resolving {}", scratch.display()))?;
    traversable_root_dir(base)?;
    let dir = base.join(checkout_id(&scratch));
    traversable_root_dir(&dir)?;
    // Other xtask processes read the record to judge whether this checkout
    // still exists: it is replaced whole (a rename), never seen half-written.
    let record = dir.join(CHECKOUT_RECORD);
    let contents = scratch.as_os_str().as_bytes();
    if std::fs::read(&record).ok().as_deref() != Some(contents) {
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let partial = dir.join(format!("{CHECKOUT_RECORD}.{}.{n}", std::process::id()));
        std::fs::write(&partial, contents)
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &record)
            .with_context(|| format!("writing {}", record.display()))?;
    }
    Ok(dir)
}

/// Makes `dir` (if needed) and checks that nobody but root can have put
/// anything in it: `/var/tmp` is writable by everyone, so a directory someone
/// else made there first must not be used as root.
fn traversable_root_dir(dir: &Path) -> Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err).with_context(|| format!("creating {}", dir.display())),
    }
    let meta =
        std::fs::symlink_metadata(dir).with_context(|| format!("inspecting {}", dir.display()))?;
    if !meta.is_dir() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        bail!(
            "{} must be a directory owned by root and writable only by root \
             (it is {}owned by uid {}, mode {:o}); remove it and run again",
            dir.display(),
            if meta.is_dir() {
                ""
            } else {
                "not a directory, "
            },
            meta.uid(),
            meta.mode() & 0o7777
        );
    }
    // Whatever the umask made it: the `postgres` user must pass through.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} traversable", dir.display()))
}

/// A stable name for a checkout: FNV-1a of its scratch directory's real path.
fn checkout_id(scratch: &Path) -> String {
    let hash = scratch
        .as_os_str()
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("{hash:016x}")
}

/// Deletes the directories under `base` (other than `ours`) whose checkout no
/// longer exists (a deleted clone, a `cargo clean`) and whose servers are all
/// stopped; returns what it deleted. Best effort: what it cannot read stays.
fn collect_abandoned(base: &Path, ours: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(base) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        if dir == ours {
            continue;
        }
        // Without a record it is being made, or not ours to judge; an empty
        // one was being written by an xtask from before records were renamed
        // into place.
        let Ok(record) = std::fs::read(dir.join(CHECKOUT_RECORD)) else {
            continue;
        };
        if record.is_empty() {
            continue;
        }
        if Path::new(OsStr::from_bytes(&record)).exists() {
            continue;
        }
        let running = std::fs::read_dir(&dir)
            .map(|clusters| clusters.flatten().any(|c| server_alive(&c.path())))
            .unwrap_or(true);
        if !running && std::fs::remove_dir_all(&dir).is_ok() {
            removed.push(dir);
        }
    }
    removed
}

/// Single-quotes a path for the shell command line `pg_ctl -o` builds.
/// Extra server options for every cluster xtask starts, from
/// `XTASK_PG_OPTIONS` (for profiling, e.g. `-c
/// shared_preload_libraries=pg_stat_statements`); empty when unset.
fn extra_server_options() -> String {
    std::env::var("XTASK_PG_OPTIONS").unwrap_or_default()
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// A TCP port that was free a moment ago (bind port 0, read it, release it).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Runs `sql` with `psql -v ON_ERROR_STOP=1` against `url`, failing with psql's output.
pub fn psql(bin: &PgBin, url: &str, sql: &str) -> Result<()> {
    let mut cmd = Command::new(bin.tool("psql"));
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-"])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().context("starting psql")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(sql.as_bytes())
            .context("sending SQL to psql")?;
    }
    let out = child.wait_with_output().context("waiting for psql")?;
    if !out.status.success() {
        bail!(
            "psql against {} failed ({}):\n{}{}",
            redact(url),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Runs one query with `psql -At` and returns its output, one row per line
/// with `|` between columns.
pub fn query(bin: &PgBin, url: &str, sql: &str) -> Result<String> {
    let out = Command::new(bin.tool("psql"))
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .context("running psql")?;
    if !out.status.success() {
        bail!(
            "psql query failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
}

/// The pieces of a `postgres://` URL that provisioning needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgUrl {
    /// `host:port` (or just `host`) exactly as written.
    pub host_port: String,
    /// Everything after `?`, if anything (e.g. `sslmode=require`).
    pub query: Option<String>,
    credentials: Option<String>,
}

impl PgUrl {
    /// Parses `postgres[ql]://[user[:password]@]host[:port][/db][?query]`.
    pub fn parse(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .with_context(|| format!("`{}` is not a postgres:// URL", redact(url)))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q.to_owned())),
            None => (rest, None),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c.to_owned()), h),
            None => (None, authority),
        };
        if host_port.is_empty() {
            bail!(
                "`{}` has no host (socket URLs are not supported)",
                redact(url)
            );
        }
        Ok(Self {
            host_port: host_port.to_owned(),
            query,
            credentials,
        })
    }

    /// The same server and credentials, database `db`.
    pub fn with_database(&self, db: &str) -> String {
        let creds = self
            .credentials
            .as_deref()
            .map(|c| format!("{c}@"))
            .unwrap_or_default();
        self.finish(format!("postgres://{creds}{}/{db}", self.host_port))
    }

    /// The same server, logging in as `user` with password `password`, database `db`.
    pub fn for_user(&self, user: &str, password: &str, db: &str) -> String {
        self.finish(format!(
            "postgres://{user}:{password}@{}/{db}",
            self.host_port
        ))
    }

    fn finish(&self, url: String) -> String {
        match &self.query {
            Some(q) => format!("{url}?{q}"),
            None => url,
        }
    }
}

/// Hides the password of a URL for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((creds, _)) if creds.contains(':') => {
            let user = creds.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{}", &rest[creds.len() + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The SQL run on the superuser's database: the `shop` database and one role per service.
///
/// Each role may only connect (and use temporary tables) in `shop`, as in
/// `deploy/postgres/init.sh`: the extensions a service needs are created by
/// the superuser in that service's schema ([`EXTENSIONS`]). Roles get no
/// rights on each other's schemas. Passwords are the role names (local only).
fn cluster_sql(specs: &[ServiceSpec]) -> String {
    let mut sql = format!(
        "SELECT 'CREATE DATABASE {DATABASE}' \
         WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{DATABASE}')\\gexec\n\
         REVOKE ALL ON DATABASE {DATABASE} FROM PUBLIC;\n"
    );
    for spec in specs {
        let role = &spec.role;
        sql.push_str(&format!(
            "SELECT 'CREATE ROLE {role}' \
             WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}')\\gexec\n\
             ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT \
             NOREPLICATION NOBYPASSRLS PASSWORD '{role}';\n\
             GRANT CONNECT, TEMPORARY ON DATABASE {DATABASE} TO {role};\n\
             ALTER ROLE {role} IN DATABASE {DATABASE} SET search_path = {schema};\n",
            schema = spec.schema
        ));
    }
    sql
}

/// The SQL run inside `shop`: each role owns its own schema, nobody else may use it.
///
/// No extension is pre-created in `public`: services connect with
/// `search_path = <schema>` only, so an extension there would be invisible to
/// them and would make their `create extension if not exists` a no-op.
fn schema_sql(specs: &[ServiceSpec]) -> String {
    let mut sql = String::from("REVOKE CREATE ON SCHEMA public FROM PUBLIC;\n");
    for spec in specs {
        let (schema, role) = (&spec.schema, &spec.role);
        sql.push_str(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {role};\n\
             ALTER SCHEMA {schema} OWNER TO {role};\n\
             REVOKE ALL ON SCHEMA {schema} FROM PUBLIC;\n"
        ));
        for (_, extension) in EXTENSIONS.iter().filter(|(s, _)| *s == schema.as_str()) {
            sql.push_str(&format!(
                "CREATE EXTENSION IF NOT EXISTS {extension} WITH SCHEMA {schema};\n"
            ));
        }
    }
    sql
}

/// Extensions a service's migrations use, created by the superuser inside
/// that service's schema (a service role cannot create them; its migration's
/// `create extension if not exists` is then a no-op). Keep in step with
/// `deploy/postgres/init.sh`.
const EXTENSIONS: &[(&str, &str)] = &[("catalog", "pg_trgm")];

/// Creates `shop`, one login role and one owned schema per service (idempotent);
/// returns each service's database URL keyed by package name.
pub fn provision(
    bin: &PgBin,
    superuser_url: &str,
    specs: &[ServiceSpec],
) -> Result<BTreeMap<String, String>> {
    for spec in specs {
        services::check_identifier(&spec.role)?;
        services::check_identifier(&spec.schema)?;
    }
    let url = PgUrl::parse(superuser_url)?;
    psql(bin, superuser_url, &cluster_sql(specs)).context("creating the database and roles")?;
    psql(bin, &url.with_database(DATABASE), &schema_sql(specs))
        .context("creating the service schemas")?;
    Ok(specs
        .iter()
        .map(|s| (s.package.clone(), url.for_user(&s.role, &s.role, DATABASE)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rewrites_urls() -> Result<()> {
        let url =
            PgUrl::parse("postgres://postgres:secret@db.local:6543/postgres?sslmode=require")?;
        assert_eq!(url.host_port, "db.local:6543");
        assert_eq!(
            url.with_database("shop"),
            "postgres://postgres:secret@db.local:6543/shop?sslmode=require"
        );
        assert_eq!(
            url.for_user("user_service", "user_service", "shop"),
            "postgres://user_service:user_service@db.local:6543/shop?sslmode=require"
        );
        let url = PgUrl::parse("postgresql://postgres@127.0.0.1:5555")?;
        assert_eq!(
            url.with_database("shop"),
            "postgres://postgres@127.0.0.1:5555/shop"
        );
        assert!(PgUrl::parse("mysql://x").is_err());
        Ok(())
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:p@h:1/db"), "postgres://u:***@h:1/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn checkout_ids_are_stable_and_distinct() {
        // FNV-1a: the same path names the same directory across xtask builds.
        assert_eq!(checkout_id(Path::new("")), "cbf29ce484222325");
        assert_eq!(checkout_id(Path::new("a")), "af63dc4c8601ec8c");
        assert_ne!(
            checkout_id(Path::new("/work/a/target/xtask")),
            checkout_id(Path::new("/work/b/target/xtask"))
        );
    }

    /// `/var/tmp` is writable by everyone: a directory there that root did not
    /// make (or that others may write to) is refused, never used.
    #[test]
    fn refuses_a_shared_directory_others_control() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("shop-xtask");
        std::fs::create_dir(&dir)?;
        if is_root() {
            std::os::unix::fs::chown(&dir, Some(65534), None)?;
            let err = traversable_root_dir(&dir).expect_err("owned by nobody");
            assert!(format!("{err:#}").contains("owned by uid 65534"), "{err:#}");
            std::os::unix::fs::chown(&dir, Some(0), None)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
            let err = traversable_root_dir(&dir).expect_err("world-writable");
            assert!(format!("{err:#}").contains("mode 777"), "{err:#}");
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
            traversable_root_dir(&dir)?;
            let mode = std::fs::metadata(&dir)?.mode() & 0o7777;
            assert_eq!(mode, 0o755, "made traversable for the postgres user");
            let file = tmp.path().join("a-file");
            std::fs::write(&file, "")?;
            assert!(traversable_root_dir(&file).is_err());
        } else {
            assert!(traversable_root_dir(&dir).is_err(), "not owned by root");
        }
        Ok(())
    }

    /// Directories of deleted checkouts go; live ones, running servers and
    /// directories without a record stay.
    #[test]
    fn collects_only_abandoned_stopped_checkouts() -> Result<()> {
        let base = tempfile::tempdir()?;
        let existing = tempfile::tempdir()?;
        let make = |name: &str, record: Option<&Path>| -> Result<PathBuf> {
            let dir = base.path().join(name);
            std::fs::create_dir_all(dir.join("pg-test"))?;
            if let Some(record) = record {
                std::fs::write(dir.join(CHECKOUT_RECORD), record.as_os_str().as_bytes())?;
            }
            Ok(dir)
        };
        let gone = Path::new("/nonexistent/checkout/target/xtask");
        let abandoned = make("abandoned", Some(gone))?;
        let ours = make("ours", Some(gone))?;
        let live = make("live", Some(existing.path()))?;
        let unrecorded = make("unrecorded", None)?;
        let being_written = make("being-written", Some(Path::new("")))?;
        let running = make("running", Some(gone))?;
        // Our own pid stands in for a running postmaster.
        std::fs::write(
            running.join("pg-test/postmaster.pid"),
            format!("{}\n/data\n", std::process::id()),
        )?;
        let removed = collect_abandoned(base.path(), &ours);
        assert_eq!(removed, vec![abandoned.clone()]);
        assert!(!abandoned.exists());
        for kept in [&ours, &live, &unrecorded, &being_written, &running] {
            assert!(kept.exists(), "{} was removed", kept.display());
        }
        Ok(())
    }

    /// Two test processes share a checkout (cargo-llvm-cov sets an absolute
    /// `CARGO_TARGET_DIR`) and rewrite its record while a third collects: it
    /// must never see the record half-written and delete a live checkout.
    #[test]
    fn a_checkout_whose_record_is_being_rewritten_is_never_collected() -> Result<()> {
        if !is_root() {
            eprintln!("skipped: the shared directories are root's");
            return Ok(());
        }
        let base = tempfile::tempdir()?;
        let checkout = tempfile::tempdir()?;
        let ours = shared_checkout_dir(base.path(), checkout.path())?;
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let writers: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| -> Result<()> {
                        for _ in 0..2_000 {
                            // Without a record the collector passes over it;
                            // the start that follows writes it again.
                            match std::fs::remove_file(ours.join(CHECKOUT_RECORD)) {
                                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                                    return Err(err.into());
                                }
                                _ => {}
                            }
                            shared_checkout_dir(base.path(), checkout.path())?;
                        }
                        Ok(())
                    })
                })
                .collect();
            let collector = s.spawn(|| {
                let mut removed = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && removed.is_empty() {
                    removed = collect_abandoned(base.path(), Path::new("/not-a-checkout"));
                }
                removed
            });
            let written: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let removed = collector
                .join()
                .map_err(|_| anyhow::anyhow!("collector panicked"))?;
            assert_eq!(removed, Vec::<PathBuf>::new());
            for result in written {
                result.map_err(|_| anyhow::anyhow!("writer panicked"))??;
            }
            Ok(())
        })
    }

    #[test]
    fn versions_sort_numerically() {
        assert!(parse_version("10") > parse_version("9.6"));
        assert_eq!(parse_version("main"), None);
    }

    #[test]
    fn provisioning_sql_is_scoped_per_service() {
        let specs = crate::infra::services::present(&crate::infra::workspace::root()).unwrap();
        let sql = cluster_sql(&specs);
        assert!(sql.contains("PASSWORD 'order_service';"));
        assert!(sql.contains("GRANT CONNECT, TEMPORARY ON DATABASE shop TO order_service;"));
        let sql = schema_sql(&specs);
        assert!(sql.contains("CREATE SCHEMA IF NOT EXISTS orders AUTHORIZATION order_service;"));
    }
}

#[cfg(test)]
mod cluster_tests {
    use super::*;

    /// The full cycle against the machine's Postgres: start, provision twice
    /// (idempotent), check role isolation, stop, and nothing left listening.
    #[test]
    fn start_provision_isolate_stop() -> Result<()> {
        if PgBin::locate().is_err() {
            eprintln!("skipped: no PostgreSQL binaries on this machine");
            return Ok(());
        }
        // A checkout only its owner may enter (what `mktemp -d` makes): as
        // root, the `postgres` user running the server cannot pass through it.
        let private = tempfile::tempdir()?;
        std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700))?;
        let root = private.path().join("checkout");
        std::fs::create_dir(&root)?;
        let mut cluster = PgCluster::start(&root, "unit")?;
        let data_dir = cluster.data_dir().to_path_buf();
        let link = workspace::scratch_dir(&root).join("pg-unit");
        if is_root() {
            assert!(data_dir.starts_with(SHARED_BASE), "{}", data_dir.display());
            assert_eq!(std::fs::read_link(&link)?, data_dir);
        } else {
            assert_eq!(data_dir, link);
        }
        let bin = cluster.bin().clone();
        let specs = crate::infra::services::present(&workspace::root())?;
        let urls = provision(&bin, &cluster.superuser_url(), &specs)?;
        let urls_again = provision(&bin, &cluster.superuser_url(), &specs)?;
        assert_eq!(urls, urls_again);
        let user_url = &urls["user-service"];
        assert_eq!(
            user_url,
            &format!(
                "postgres://user_service:user_service@127.0.0.1:{}/shop",
                cluster.port()
            )
        );
        psql(
            &bin,
            user_url,
            "CREATE TABLE users.accounts (id bigint); INSERT INTO users.accounts VALUES (1);",
        )?;
        let denied = psql(
            &bin,
            &urls["order-service"],
            "SELECT * FROM users.accounts;",
        );
        assert!(denied.is_err(), "order_service must not read users.*");
        let denied = psql(
            &bin,
            &urls["order-service"],
            "CREATE TABLE users.x (id int);",
        );
        assert!(denied.is_err(), "order_service must not write users.*");
        // service-kit's `migrate` finds its schema in pg_namespace (it creates
        // it only when missing), then creates its tables there as the owner.
        psql(
            &bin,
            user_url,
            "SELECT 1 FROM pg_namespace WHERE nspname = 'users'; CREATE TABLE accounts2 (id int);",
        )?;
        psql(&bin, user_url, "SELECT * FROM users.accounts2;")?;
        // catalog-service's migration: a trusted extension in its own schema.
        psql(
            &bin,
            &urls["catalog-service"],
            "SET search_path = catalog; CREATE EXTENSION IF NOT EXISTS pg_trgm; \
             CREATE TABLE products (name text); \
             CREATE INDEX ON products USING gin (name gin_trgm_ops);",
        )?;
        let denied = psql(
            &bin,
            &urls["order-service"],
            "SELECT * FROM catalog.products;",
        );
        assert!(denied.is_err(), "order_service must not read catalog.*");

        let port = cluster.port();
        cluster.stop()?;
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "still listening"
        );
        assert!(!data_dir.join("postmaster.pid").exists());
        assert!(
            data_dir.join("postgres.log").is_file(),
            "stop keeps the files"
        );
        cluster.discard()?;
        assert!(!data_dir.exists(), "discard deletes the data directory");
        assert!(link.symlink_metadata().is_err(), "and the link to it");
        // Nothing was loosened on the way.
        assert_eq!(mode(private.path())?, 0o700);
        Ok(())
    }

    /// A new start begins from an empty directory, whatever the last run left.
    #[test]
    fn a_start_wipes_the_previous_cluster() -> Result<()> {
        if PgBin::locate().is_err() {
            eprintln!("skipped: no PostgreSQL binaries on this machine");
            return Ok(());
        }
        let root = tempfile::tempdir()?;
        let first = PgCluster::start(root.path(), "again")?;
        let leftover = first.data_dir().join("leftover-from-a-failed-run");
        std::fs::write(&leftover, "x")?;
        // Killed without a stop (an xtask that got SIGKILL): the server still runs.
        let stale_port = first.port();
        std::mem::forget(first);
        let mut second = PgCluster::start(root.path(), "again")?;
        assert!(!leftover.exists(), "the data directory was not emptied");
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", stale_port)).is_err(),
            "the stale server was not stopped"
        );
        second.discard()?;
        Ok(())
    }

    fn mode(path: &Path) -> Result<u32> {
        Ok(std::fs::metadata(path)?.mode() & 0o7777)
    }
}
