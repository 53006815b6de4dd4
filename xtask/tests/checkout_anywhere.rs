//! A checkout anywhere works: the private Postgres starts from a checkout only
//! its owner may enter (as root, the `postgres` user running the server
//! cannot pass through it), without loosening any of the user's directories,
//! and a run leaves no data behind unless it failed.
//!
//! The xtask binary against a fake workspace and the machine's real Postgres;
//! no fixed ports, so these run by default.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use xtask::infra::pg::{self, PgBin};
use xtask::infra::testing::fake_workspace;

fn mode(path: &Path) -> Result<u32> {
    Ok(std::fs::metadata(path)?.mode() & 0o7777)
}

/// `<0700 tempdir>/repo`, a fake workspace: what `git clone` into `mktemp -d` gives.
fn private_checkout() -> Result<Option<(tempfile::TempDir, PathBuf)>> {
    if PgBin::locate().is_err() {
        eprintln!("skipped: no PostgreSQL binaries on this machine");
        return Ok(None);
    }
    let private = tempfile::tempdir()?;
    // As `mktemp -d` makes it (tempfile leaves the mode to the umask).
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700))?;
    let root = private.path().join("repo");
    std::fs::create_dir(&root)?;
    fake_workspace(&root, &["user-service", "catalog-service"])?;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))?;
    Ok(Some((private, root)))
}

/// `xtask db` in `root`, its stdout lines on a channel.
fn start_db(root: &Path) -> Result<(Child, Receiver<String>)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("db")
        .env("XTASK_WORKSPACE_ROOT", root)
        .env_remove("DATABASE_URL")
        .env_remove("CARGO_TARGET_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Ok((child, rx))
}

/// Waits for the line `prefix...` and returns what follows the prefix.
fn value_after(rx: &Receiver<String>, prefix: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(rest) = line.strip_prefix(prefix) {
                return Ok(rest.trim().to_owned());
            }
            seen.push(line);
        }
    }
    bail!("`{prefix}` never printed; got:\n{}", seen.join("\n"))
}

fn interrupt_and_wait(child: &mut Child) -> Result<i32> {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return status.code().context("exit code");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill()?;
    bail!("xtask did not exit after SIGINT")
}

fn port_of(url: &str) -> Result<u16> {
    let port = url
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .with_context(|| format!("no port in {url}"))?;
    Ok(port.parse()?)
}

#[test]
fn db_runs_from_a_checkout_only_its_owner_may_enter_and_leaves_nothing() -> Result<()> {
    let Some((private, root)) = private_checkout()? else {
        return Ok(());
    };
    let (mut child, rx) = start_db(&root)?;
    let url = value_after(&rx, "export DATABASE_URL=")?;
    let log = PathBuf::from(value_after(&rx, "# log: ")?);
    let data_dir = log.parent().context("log has a directory")?.to_path_buf();
    let bin = PgBin::locate()?;
    assert_eq!(pg::query(&bin, &url, "SELECT current_user")?, "postgres");
    let link = root.join("target/xtask/pg-db");
    if pg::is_root() {
        assert!(
            data_dir.starts_with(pg::SHARED_BASE),
            "{}",
            data_dir.display()
        );
        assert_eq!(std::fs::read_link(&link)?, data_dir);
    } else {
        assert_eq!(data_dir, link);
    }
    assert_eq!(
        mode(private.path())?,
        0o700,
        "the checkout's parent was loosened"
    );
    assert_eq!(mode(&root)?, 0o700, "the checkout was loosened");

    // Ctrl-C is how `db` ends: a success, which leaves nothing behind.
    assert_eq!(interrupt_and_wait(&mut child)?, 0);
    assert!(
        TcpStream::connect(("127.0.0.1", port_of(&url)?)).is_err(),
        "Postgres still listening"
    );
    assert!(!data_dir.exists(), "{} was kept", data_dir.display());
    assert!(
        link.symlink_metadata().is_err(),
        "{} was kept",
        link.display()
    );
    Ok(())
}

#[test]
fn a_failed_test_run_keeps_its_cluster_until_the_next_start() -> Result<()> {
    let Some((_private, root)) = private_checkout()? else {
        return Ok(());
    };
    // A cargo whose every command fails: the test step fails.
    let cargo = root.join("failing-cargo");
    std::fs::write(&cargo, "#!/bin/sh\necho \"cargo $*: failed\" >&2\nexit 1\n")?;
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755))?;
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["test", "--quick", "--", "-p", "user-service"])
        .env("XTASK_WORKSPACE_ROOT", &root)
        .env("CARGO", &cargo)
        .env_remove("DATABASE_URL")
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null())
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let kept = stderr
        .lines()
        .find_map(|l| l.strip_prefix("xtask: kept the Postgres cluster "))
        .with_context(|| format!("no `kept` line in:\n{stderr}"))?;
    let (dir, log) = kept
        .split_once(" (server log: ")
        .with_context(|| format!("no server log in `{kept}`"))?;
    let log = log.split(')').next().unwrap_or_default();
    let data_dir = PathBuf::from(dir);
    assert_eq!(PathBuf::from(log), data_dir.join("postgres.log"));
    assert!(data_dir.join("postgres.log").is_file(), "{kept}");
    assert!(
        !data_dir.join("postmaster.pid").exists(),
        "the server was not stopped"
    );

    // The next start of that cluster begins from an empty directory.
    let marker = data_dir.join("left-by-the-failed-run");
    std::fs::write(&marker, "")?;
    let test_link = root.join("target/xtask/pg-test");
    let (mut child, rx) = start_db(&root)?;
    value_after(&rx, "export DATABASE_URL=")?;
    assert_eq!(interrupt_and_wait(&mut child)?, 0);
    assert!(data_dir.exists(), "only `db`'s own cluster goes");

    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["test", "--quick", "--", "-p", "user-service"])
        .env("XTASK_WORKSPACE_ROOT", &root)
        .env("CARGO", &cargo)
        .env_remove("DATABASE_URL")
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null())
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !marker.exists(),
        "the second run reused the failed run's files"
    );
    // Clean up what this failed run kept (the next start would).
    std::fs::remove_dir_all(&data_dir)?;
    let _ = std::fs::remove_file(test_link);
    Ok(())
}
