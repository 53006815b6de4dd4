//! `cargo xtask sqlx prepare|check`: the offline data of sqlx's query
//! macros, `.sqlx/` at the workspace root.
//!
//! Every static SQL statement is a `query!`/`query_as!`/`query_scalar!`
//! macro, checked when it compiles: against `.sqlx/` (committed; what every
//! build, CI and the Dockerfiles use), or against a live database when the
//! crate's own variable is set. Each crate owns a schema, so each names its
//! variable in its `sqlx.toml` (`[common] database-url-var`).
//!
//! Both commands make a database in a Postgres cluster, apply each crate's
//! migrations in its own schema (what `<service> migrate` does), and run
//! `cargo sqlx prepare --workspace` with every crate's variable pointing at
//! its schema: `prepare` rewrites `.sqlx/`; `check` (`--check`, a step of
//! `cargo xtask test`) fails when `.sqlx/` is stale, for example after a
//! migration renamed a column a query uses, or a query changed without a
//! `prepare`. sqlx-cli is pinned and installed on first use.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use toml_edit::Item;

use crate::infra::cargo_tools::{self, CargoTool};
use crate::infra::fleet::cargo;
use crate::infra::pg::{self, PgBin, PgUrl};
use crate::infra::{process, workspace};

/// The pinned sqlx-cli (`cargo sqlx`), the same version as the crates' sqlx.
pub const SQLX_CLI: CargoTool = CargoTool {
    package: "sqlx-cli",
    executable: "cargo-sqlx",
    subcommand: "sqlx",
    version: "0.9.0",
    features: Some("rustls,postgres"),
    rustup_component: None,
};

/// The database both commands (re)create in the cluster they are given.
const DATABASE: &str = "sqlx_offline";

/// What `cargo sqlx prepare` is run for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Rewrite `.sqlx/`.
    Prepare,
    /// Fail when `.sqlx/` differs from what the queries and migrations give.
    Check,
}

/// A crate whose queries are checked: one with a `sqlx.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub package: String,
    pub dir: PathBuf,
    /// Its `database-url-var`.
    pub var: String,
    /// The schema its migrations are applied in.
    pub schema: String,
    /// Its migrations: `migrations/`, or the one `tests/*/migrations/` of a
    /// library whose tables the services create (the kit).
    pub migrations: PathBuf,
}

/// The crates with a `sqlx.toml`, in workspace order.
pub fn targets(root: &Path) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    for member in workspace::members(root)? {
        let config = member.dir.join("sqlx.toml");
        if !config.is_file() {
            continue;
        }
        let doc = workspace::read_toml(&config)?;
        let Some(var) = doc
            .get("common")
            .and_then(|c| c.get("database-url-var"))
            .and_then(Item::as_str)
        else {
            bail!(
                "{} sets no [common] database-url-var: with one DATABASE_URL for all, \
                 crates owning different schemas cannot be checked",
                config.display()
            );
        };
        let schema = match &member.template {
            Some(meta) => meta.schema.clone(),
            None => member.package.replace('-', "_"),
        };
        let migrations = migrations_dir(&member.dir)?;
        out.push(Target {
            package: member.package,
            dir: member.dir,
            var: var.to_owned(),
            schema,
            migrations,
        });
    }
    Ok(out)
}

fn migrations_dir(dir: &Path) -> Result<PathBuf> {
    let own = dir.join("migrations");
    if own.is_dir() {
        return Ok(own);
    }
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("tests")) {
        for entry in entries.flatten() {
            let candidate = entry.path().join("migrations");
            if candidate.is_dir() {
                found.push(candidate);
            }
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "{} has a sqlx.toml but no migrations/ (nor tests/*/migrations/)",
            dir.display()
        ),
        _ => bail!(
            "{} has several tests/*/migrations/: which one its queries run against is ambiguous",
            dir.display()
        ),
    }
}

/// The SQL that builds a target's schema as its service's `migrate` would:
/// the schema, sqlx's own migration table (the kit's readiness query reads
/// it), then each migration in order.
pub fn schema_script(target: &Target) -> Result<String> {
    let schema = &target.schema;
    let mut sql = format!(
        "create schema \"{schema}\";\nset search_path to \"{schema}\";\n\
         create table _sqlx_migrations (version bigint primary key, description text not null, \
         installed_on timestamptz not null default now(), success boolean not null, \
         checksum bytea not null, execution_time bigint not null);\n"
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&target.migrations)
        .with_context(|| format!("listing {}", target.migrations.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        sql.push_str(&format!("-- {}\n{text}\n;\n", file.display()));
    }
    Ok(sql)
}

/// `url` with every connection's `search_path` set to `schema`.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// Builds the database in the cluster of `superuser_url` and runs
/// `cargo sqlx prepare --workspace` (with `--check` in [`Mode::Check`]).
pub fn run(root: &Path, superuser_url: &str, mode: Mode) -> Result<()> {
    let cli = cargo_tools::ensure(root, &SQLX_CLI)?;
    let targets = targets(root)?;
    if targets.is_empty() {
        bail!("no workspace member has a sqlx.toml: nothing uses the query macros");
    }
    let bin = PgBin::locate()?;
    pg::psql(
        &bin,
        superuser_url,
        &format!("drop database if exists {DATABASE} with (force);\ncreate database {DATABASE};"),
    )?;
    let url = PgUrl::parse(superuser_url)?.with_database(DATABASE);
    for target in &targets {
        pg::psql(&bin, &url, &schema_script(target)?)
            .with_context(|| format!("applying {}'s migrations", target.package))?;
    }

    let mut cmd = Command::new(cargo());
    cmd.current_dir(root)
        .args(["sqlx", "prepare", "--workspace"])
        .args((mode == Mode::Check).then_some("--check"))
        // sqlx-cli wants one URL (it checks the server answers); the crates
        // read their own variables, set below.
        .arg("--database-url")
        .arg(&url)
        .args(["--", "--all-targets", "--all-features"])
        .env("PATH", path_with(cli.parent()));
    for target in &targets {
        cmd.env(&target.var, with_search_path(&url, &target.schema));
    }
    eprintln!(
        "xtask: cargo sqlx prepare --workspace{} against {}",
        if mode == Mode::Check { " --check" } else { "" },
        pg::redact(&url)
    );
    let result = process::run_ok(&mut cmd);
    if let Err(e) = result {
        return Err(match mode {
            Mode::Check => e.context(
                ".sqlx/ is stale: the queries or the migrations changed since \
                 `cargo xtask sqlx prepare`; run it and commit .sqlx/ (a compile error above \
                 names a query the schema no longer fits)",
            ),
            Mode::Prepare => e.context("cargo sqlx prepare"),
        });
    }
    Ok(())
}

/// [`run`] against `DATABASE_URL`, or a private Postgres started for it.
pub fn run_with_postgres(root: &Path, mode: Mode) -> Result<()> {
    if let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        return run(root, &url, mode);
    }
    let mut cluster = pg::PgCluster::start(root, "sqlx")?;
    let result = run(root, &cluster.superuser_url(), mode);
    let stopped = cluster.stop();
    result?;
    stopped
}

/// `PATH` with `dir` first, so `cargo sqlx` finds the pinned executable.
fn path_with(dir: Option<&Path>) -> std::ffi::OsString {
    let mut paths: Vec<PathBuf> = dir.map(Path::to_path_buf).into_iter().collect();
    if let Some(current) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&current));
    }
    std::env::join_paths(paths).unwrap_or_default()
}

/// The files of `sqlx_dir` whose statement appears, verbatim, in a `.rs`
/// file under `src`: a crate's share of the workspace's `.sqlx/`, for a
/// repository it is split into. (The macros hash the literal's text, and
/// the fleet writes its statements without escapes.)
pub fn owned_queries(sqlx_dir: &Path, src: &Path) -> Result<Vec<PathBuf>> {
    let mut sources = String::new();
    collect_rust(src, &mut sources)?;
    let mut owned = Vec::new();
    let Ok(entries) = std::fs::read_dir(sqlx_dir) else {
        return Ok(owned);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_query = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("query-") && n.ends_with(".json"));
        if !is_query {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let data: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let Some(query) = data.get("query").and_then(|q| q.as_str()) else {
            bail!("{} has no \"query\"", path.display());
        };
        if sources.contains(query) {
            owned.push(path);
        }
    }
    owned.sort();
    Ok(owned)
}

fn collect_rust(dir: &Path, into: &mut String) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rust(&path, into)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push_str(
                &std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
            );
            into.push('\n');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::testing::fake_workspace;

    #[test]
    fn every_crate_with_a_sqlx_toml_is_a_target_with_its_schema_and_migrations() -> Result<()> {
        let ws = tempfile::tempdir()?;
        let root = ws.path();
        fake_workspace(root, &["user-service", "order-service"])?;
        std::fs::write(
            root.join("order-service/sqlx.toml"),
            "[common]\ndatabase-url-var = \"SQLX_DATABASE_URL_ORDER_SERVICE\"\n",
        )?;
        std::fs::create_dir_all(root.join("order-service/migrations"))?;
        std::fs::write(
            root.join("order-service/migrations/0002_b.sql"),
            "create table b ();",
        )?;
        std::fs::write(
            root.join("order-service/migrations/0001_a.sql"),
            "create table a ();",
        )?;
        let found = targets(root)?;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].package, "order-service");
        assert_eq!(found[0].var, "SQLX_DATABASE_URL_ORDER_SERVICE");
        assert_eq!(found[0].schema, "order_data");
        let script = schema_script(&found[0])?;
        let a = script.find("create table a").expect("a applied");
        let b = script.find("create table b").expect("b applied");
        assert!(a < b, "migrations in order:\n{script}");
        assert!(
            script.starts_with("create schema \"order_data\";\nset search_path to \"order_data\";")
        );
        assert!(script.contains("create table _sqlx_migrations"));
        Ok(())
    }

    #[test]
    fn a_sqlx_toml_without_its_own_variable_is_refused() -> Result<()> {
        let ws = tempfile::tempdir()?;
        fake_workspace(ws.path(), &["user-service"])?;
        std::fs::write(ws.path().join("user-service/sqlx.toml"), "[common]\n")?;
        let err = targets(ws.path()).expect_err("no variable");
        assert!(err.to_string().contains("database-url-var"), "{err}");
        Ok(())
    }

    #[test]
    fn the_search_path_rides_on_the_url() {
        assert_eq!(
            with_search_path("postgres://u@h:5/db", "orders"),
            "postgres://u@h:5/db?options=-c%20search_path%3Dorders"
        );
        assert_eq!(
            with_search_path("postgres://u@h:5/db?sslmode=disable", "orders"),
            "postgres://u@h:5/db?sslmode=disable&options=-c%20search_path%3Dorders"
        );
    }

    #[test]
    fn a_crate_owns_the_queries_its_sources_spell_out() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let sqlx = dir.path().join(".sqlx");
        let src = dir.path().join("src/features");
        std::fs::create_dir_all(&sqlx)?;
        std::fs::create_dir_all(&src)?;
        std::fs::write(
            src.join("repository.rs"),
            "sqlx::query!(r#\"select id as \"id!\"\n  from carts where id = $1\"#, id)",
        )?;
        std::fs::write(
            sqlx.join("query-aa.json"),
            r#"{"query": "select id as \"id!\"\n  from carts where id = $1"}"#,
        )?;
        std::fs::write(
            sqlx.join("query-bb.json"),
            r#"{"query": "select 1 from products"}"#,
        )?;
        std::fs::write(sqlx.join("notes.txt"), "not a query")?;
        let owned = owned_queries(&sqlx, &dir.path().join("src"))?;
        assert_eq!(owned, vec![sqlx.join("query-aa.json")]);
        Ok(())
    }
}
