//! `cargo xtask up` end to end against a fake workspace (shell-script services,
//! a fake cargo, the machine's real Postgres): signals and unexpected deaths.
//!
//! Ignored by default because it binds the fleet's fixed ports 8001-8002:
//! `cargo test -p xtask -- --ignored`.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use xtask::infra::testing::{fake_cargo, fake_workspace};

/// The tests share the fleet's fixed ports: one at a time.
static PORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn start_up(root: &std::path::Path) -> Result<(Child, std::sync::mpsc::Receiver<String>)> {
    let cargo = fake_cargo(root)?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("up")
        .env("XTASK_WORKSPACE_ROOT", root)
        .env("CARGO", cargo)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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

fn wait_for_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str) -> Result<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let hit = line.contains(needle);
            seen.push(line);
            if hit {
                return Ok(seen);
            }
        }
    }
    bail!("`{needle}` never printed; got:\n{}", seen.join("\n"))
}

fn wait_exit(child: &mut Child) -> Result<i32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return status.code().context("exit code");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill()?;
    bail!("xtask up did not exit")
}

fn assert_nothing_listens(ports: &[u16]) {
    for port in ports {
        assert!(
            TcpStream::connect(("127.0.0.1", *port)).is_err(),
            "port {port} still listening"
        );
    }
}

fn postgres_port(lines: &[String]) -> Result<u16> {
    let line = lines
        .iter()
        .find(|l| l.starts_with("Postgres: "))
        .context("no Postgres line")?;
    let port = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .context("no port")?;
    Ok(port.parse()?)
}

#[test]
#[ignore = "binds ports 8001-8002; run with --ignored"]
fn sigterm_stops_everything_and_exits_zero() -> Result<()> {
    let _ports = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir()?;
    fake_workspace(tmp.path(), &["user-service", "catalog-service"])?;
    let (mut child, rx) = start_up(tmp.path())?;
    let lines = wait_for_line(&rx, "Ctrl-C stops everything")?;
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("catalog | listening on 8002")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("http://127.0.0.1:8002/docs")),
        "{lines:?}"
    );
    let pg_port = postgres_port(&lines)?;
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(wait_exit(&mut child)?, 0);
    assert_nothing_listens(&[8001, 8002, pg_port]);
    Ok(())
}

#[test]
#[ignore = "binds ports 8001-8002; run with --ignored"]
fn a_dying_service_stops_the_fleet_with_failure() -> Result<()> {
    let _ports = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir()?;
    fake_workspace(tmp.path(), &["user-service", "catalog-service"])?;
    let (mut child, rx) = start_up(tmp.path())?;
    let lines = wait_for_line(&rx, "Ctrl-C stops everything")?;
    let pg_port = postgres_port(&lines)?;
    // Kill the newest fake service's python process.
    let out = Command::new("pgrep")
        .args(["-f", "-n", "port = int"])
        .output()?;
    let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse()?;
    // SAFETY: plain kill(2).
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(wait_exit(&mut child)?, 1);
    assert_nothing_listens(&[8001, 8002, pg_port]);
    Ok(())
}
