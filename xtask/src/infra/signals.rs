//! Ctrl-C / SIGTERM / SIGHUP handling shared by every command.
//!
//! The handler itself does almost nothing: it raises a flag that every wait
//! loop in xtask polls (see [`crate::infra::process`]), so the normal, orderly code
//! paths (`Fleet::stop`, `PgCluster::stop`, `Drop`) do the shutdown. Two safety
//! nets make sure nothing outlives us even if the main thread is stuck:
//! a second signal, or [`WATCHDOG`] elapsing after the first one, kills every
//! registered process group and runs every registered cleanup, then exits.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result};

/// How long the orderly shutdown may take after the first signal before the
/// forced one runs. Longer than the 10 s child grace period plus a Postgres stop.
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// Exit code used when a command was interrupted (128 + SIGINT, like a shell).
pub const INTERRUPTED_EXIT_CODE: u8 = 130;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static SIGNALS_SEEN: AtomicUsize = AtomicUsize::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    groups: BTreeMap::new(),
    cleanups: BTreeMap::new(),
});

/// A forced cleanup: must be quick, must not panic, and must tolerate running
/// after (or concurrently with) the orderly cleanup of the same resource.
type Cleanup = Box<dyn Fn() + Send>;

struct Registry {
    /// Process groups we started, by registration id.
    groups: BTreeMap<u64, i32>,
    /// Last-resort cleanups (e.g. `pg_ctl stop -m immediate`), by registration id.
    cleanups: BTreeMap<u64, Cleanup>,
}

/// The error returned when a command gives up because a signal arrived.
///
/// `main` recognises it (with `downcast_ref`) to choose the exit code.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Installs the process-wide handler for SIGINT, SIGTERM and SIGHUP. Call once, first thing.
pub fn install() -> Result<()> {
    ctrlc::set_handler(on_signal).context("installing the Ctrl-C/SIGTERM handler")
}

fn on_signal() {
    let seen = SIGNALS_SEEN.fetch_add(1, Ordering::SeqCst) + 1;
    INTERRUPTED.store(true, Ordering::SeqCst);
    if seen == 1 {
        eprintln!("\nxtask: stopping everything (send the signal again to force)");
        // Why a thread: the orderly path runs on the main thread; if it hangs
        // (a child ignoring SIGTERM *and* our SIGKILL failing, a stuck psql),
        // this still guarantees we leave nothing behind.
        let _ = std::thread::Builder::new()
            .name("xtask-watchdog".into())
            .spawn(|| {
                std::thread::sleep(WATCHDOG);
                eprintln!("xtask: orderly shutdown took too long, forcing it");
                force_cleanup_and_exit();
            });
    } else {
        force_cleanup_and_exit();
    }
}

/// Kills every registered process group, runs every registered cleanup and exits 130.
fn force_cleanup_and_exit() -> ! {
    let mut registry = lock();
    for pgid in std::mem::take(&mut registry.groups).into_values() {
        signal_group(pgid, libc::SIGKILL);
    }
    for cleanup in std::mem::take(&mut registry.cleanups).into_values() {
        cleanup();
    }
    std::process::exit(i32::from(INTERRUPTED_EXIT_CODE));
}

/// Sends `signal` to the process group led by `pgid`; false if there was nothing to signal.
pub fn signal_group(pgid: i32, signal: libc::c_int) -> bool {
    if pgid <= 0 {
        return false;
    }
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid
    // addresses the process group. Errors (ESRCH: already gone) are reported
    // through the return value only.
    unsafe { libc::kill(-pgid, signal) == 0 }
}

fn lock() -> MutexGuard<'static, Registry> {
    // A panic while holding the lock must not stop the cleanup.
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// True once SIGINT, SIGTERM or SIGHUP has been received.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Fails with [`Interrupted`] if a signal has been received; call between long steps.
pub fn check() -> Result<()> {
    if interrupted() {
        Err(Interrupted.into())
    } else {
        Ok(())
    }
}

/// A registration in the forced-cleanup registry; dropping it unregisters.
#[derive(Debug)]
pub struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        let mut registry = lock();
        registry.groups.remove(&self.0);
        registry.cleanups.remove(&self.0);
    }
}

/// Registers a process group (its leader's pid) to SIGKILL on a forced shutdown.
pub fn register_group(pgid: u32) -> Registration {
    let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
    // Pids fit in i32 on every Unix; `as` cannot lose a real pid here.
    lock().groups.insert(id, pgid as i32);
    Registration(id)
}

/// Registers a last-resort cleanup to run on a forced shutdown.
pub fn register_cleanup(cleanup: impl Fn() + Send + 'static) -> Registration {
    let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
    lock().cleanups.insert(id, Box::new(cleanup));
    Registration(id)
}
