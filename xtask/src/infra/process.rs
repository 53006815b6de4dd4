//! Running child processes so that none outlives xtask.
//!
//! Every long-running child is started in its own process group: a terminal's
//! Ctrl-C then reaches only xtask, which forwards SIGTERM to the whole group
//! (cargo *and* the rustc/test binaries it spawned), waits, and SIGKILLs
//! stragglers. Wait loops poll [`crate::infra::signals::interrupted`].

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::infra::signals::{self, Interrupted, signal_group};

/// How long a child gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(10);

const POLL: Duration = Duration::from_millis(50);

/// Describes a command for error messages: `cargo build -p xtask`.
pub fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// A child running in its own process group, registered for forced cleanup.
#[derive(Debug)]
pub struct GroupChild {
    child: Child,
    exited: Option<ExitStatus>,
    _registration: signals::Registration,
}

impl GroupChild {
    /// Spawns `cmd` as the leader of a new process group with stdin closed.
    ///
    /// Stdin is null because a background process group that reads the
    /// terminal is stopped by SIGTTIN.
    pub fn spawn(cmd: &mut Command) -> Result<Self> {
        cmd.process_group(0).stdin(Stdio::null());
        let child = cmd
            .spawn()
            .with_context(|| format!("starting `{}`", describe(cmd)))?;
        let registration = signals::register_group(child.id());
        Ok(Self {
            child,
            exited: None,
            _registration: registration,
        })
    }

    /// The leader's pid (also the process group id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The underlying child, e.g. to take its stdout/stderr pipes.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Non-blocking: the exit status if the leader has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if self.exited.is_none() {
            self.exited = self
                .child
                .try_wait()
                .context("checking on a child process")?;
        }
        Ok(self.exited)
    }

    /// Sends `signal` to the whole group (no-op once the leader was reaped).
    pub fn signal(&mut self, signal: libc::c_int) {
        if self.exited.is_none() {
            signal_group(self.pgid(), signal);
        }
    }

    fn pgid(&self) -> i32 {
        // Pids fit in i32 on every Unix.
        self.child.id() as i32
    }

    /// SIGTERM to the group, wait up to `grace`, then SIGKILL and reap.
    pub fn terminate(&mut self, grace: Duration) -> Result<ExitStatus> {
        if let Some(status) = self.try_wait()? {
            // The leader is gone but group members may linger (cargo's rustc).
            signal_group(self.pgid(), libc::SIGKILL);
            return Ok(status);
        }
        signal_group(self.pgid(), libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait()? {
                signal_group(self.pgid(), libc::SIGKILL);
                return Ok(status);
            }
            std::thread::sleep(POLL);
        }
        self.kill()
    }

    /// SIGKILL to the group and reap the leader.
    pub fn kill(&mut self) -> Result<ExitStatus> {
        signal_group(self.pgid(), libc::SIGKILL);
        let status = self.child.wait().context("waiting for a killed child")?;
        self.exited = Some(status);
        Ok(status)
    }

    /// Waits for the leader to exit; on a signal, terminates the group and fails with [`Interrupted`].
    pub fn wait_interruptible(&mut self) -> Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            if signals::interrupted() {
                self.terminate(GRACE)?;
                return Err(Interrupted.into());
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        if matches!(self.try_wait(), Ok(None)) {
            let _ = self.terminate(GRACE);
        }
    }
}

/// Runs `cmd` to completion with inherited stdout/stderr; Ctrl-C stops it.
pub fn run(cmd: &mut Command) -> Result<ExitStatus> {
    GroupChild::spawn(cmd)?.wait_interruptible()
}

/// Runs `cmd` to completion and fails (with the command line) unless it exits 0.
pub fn run_ok(cmd: &mut Command) -> Result<()> {
    let status = run(cmd)?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(cmd));
    }
    Ok(())
}

/// Runs `cmd` to completion, capturing stdout and stderr interleaved by line.
pub fn run_captured(cmd: &mut Command) -> Result<(ExitStatus, String)> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = GroupChild::spawn(cmd)?;
    let output = Arc::new(Mutex::new(String::new()));
    let mut readers = Vec::new();
    if let Some(stdout) = child.child_mut().stdout.take() {
        readers.push(collect_lines(stdout, Arc::clone(&output)));
    }
    if let Some(stderr) = child.child_mut().stderr.take() {
        readers.push(collect_lines(stderr, Arc::clone(&output)));
    }
    let status = child.wait_interruptible();
    for reader in readers {
        let _ = reader.join();
    }
    let text = std::mem::take(&mut *output.lock().unwrap_or_else(|p| p.into_inner()));
    Ok((status?, text))
}

fn collect_lines(stream: impl Read + Send + 'static, sink: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            let mut out = sink.lock().unwrap_or_else(|p| p.into_inner());
            out.push_str(&String::from_utf8_lossy(&line));
            if !line.ends_with(b"\n") {
                out.push('\n');
            }
            line.clear();
        }
    })
}
