//! A private, throw-away Postgres cluster from the local binaries, and provisioning.
//!
//! [`PgCluster::start`] makes a fresh cluster under `target/xtask/pg-<name>`;
//! the guard stops it on [`PgCluster::stop`], on `Drop` and (via
//! [`crate::signals`]) on a forced shutdown, so no `postgres` process outlives xtask.
//! [`provision`] creates the `shop` database with one role and schema per service.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::services::{self, ServiceSpec};
use crate::{signals, workspace};

/// The database every service lives in (one schema each).
pub const DATABASE: &str = "shop";

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
    let what = crate::process::describe(&cmd);
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
    data_dir: PathBuf,
    port: u16,
    as_postgres: bool,
    running: bool,
    _forced_stop: Option<signals::Registration>,
}

impl PgCluster {
    /// Starts a fresh cluster in `<target>/xtask/pg-<name>` on a free port (about 1.5 s).
    pub fn start(root: &Path, name: &str) -> Result<Self> {
        let bin = PgBin::locate()?;
        let scratch = workspace::scratch_dir(root);
        let data_dir = scratch.join(format!("pg-{name}"));
        let as_postgres = is_root();
        prepare_data_dir(&bin, &scratch, &data_dir, as_postgres)?;

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
                data_dir: data_dir.clone(),
                port,
                as_postgres,
                running: true,
                _forced_stop: None,
            };
            // Register before starting so a signal during start-up still stops it.
            cluster._forced_stop = Some(forced_stop(&bin, &data_dir, as_postgres));
            let mut pg_ctl = server_command(&bin, "pg_ctl", as_postgres);
            pg_ctl
                .arg("-D")
                .arg(&data_dir)
                .arg("-l")
                .arg(&log)
                .arg("-o")
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
                    shell_quote(&data_dir)
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
        &self.data_dir
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
            .arg(&self.data_dir)
            .arg("-l")
            .arg(self.data_dir.join("postgres.log"))
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
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "-t", "30", "stop"]);
        let result = run_setup(pg_ctl).map(drop);
        if result.is_err() {
            // Fall back to what the signal path would do.
            let mut immediate = server_command(&self.bin, "pg_ctl", self.as_postgres);
            immediate
                .arg("-D")
                .arg(&self.data_dir)
                .args(["-m", "immediate", "-w", "stop"]);
            let _ = run_setup(immediate);
        }
        self._forced_stop = None;
        result.context("stopping Postgres")
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            eprintln!("xtask: {err:#}");
        }
    }
}

/// The last-resort stop run by the signal watchdog.
fn forced_stop(bin: &PgBin, data_dir: &Path, as_postgres: bool) -> signals::Registration {
    let bin = bin.clone();
    let data_dir = data_dir.to_path_buf();
    signals::register_cleanup(move || {
        let mut cmd = server_command(&bin, "pg_ctl", as_postgres);
        cmd.arg("-D")
            .arg(&data_dir)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = cmd.status();
    })
}

/// Removes a previous run's directory (stopping a server left running by a
/// SIGKILLed xtask first) and creates an empty one the server user owns.
fn prepare_data_dir(bin: &PgBin, scratch: &Path, data_dir: &Path, as_postgres: bool) -> Result<()> {
    if data_dir.join("postmaster.pid").exists() {
        let mut pg_ctl = server_command(bin, "pg_ctl", as_postgres);
        pg_ctl
            .arg("-D")
            .arg(data_dir)
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = run_setup(pg_ctl);
    }
    if data_dir.exists() {
        std::fs::remove_dir_all(data_dir)
            .with_context(|| format!("removing the old cluster {}", data_dir.display()))?;
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    if as_postgres {
        // The server user must be able to reach its data directory.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(scratch, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("making {} traversable", scratch.display()))?;
        let mut chown = Command::new("chown");
        chown.arg("postgres:postgres").arg(data_dir);
        run_setup(chown).context("giving the data directory to the `postgres` user")?;
    }
    Ok(())
}

/// Single-quotes a path for the shell command line `pg_ctl -o` builds.
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
    fn versions_sort_numerically() {
        assert!(parse_version("10") > parse_version("9.6"));
        assert_eq!(parse_version("main"), None);
    }

    #[test]
    fn provisioning_sql_is_scoped_per_service() {
        let specs = crate::services::conventions();
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
        let root = tempfile::tempdir()?;
        // The scratch dir must be reachable by the `postgres` user when we run as root.
        std::fs::set_permissions(
            root.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        let mut cluster = PgCluster::start(root.path(), "unit")?;
        let bin = cluster.bin().clone();
        let specs = crate::services::conventions();
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
        assert!(!cluster.data_dir().join("postmaster.pid").exists());
        Ok(())
    }
}
