//! `cargo xtask bench reset-flood`: what a flood of huge, distinct e-mail
//! addresses does to user-service's memory. The release binary runs alone
//! on a private Postgres (its per-address limit raised, so every request
//! reaches the e-mail handling instead of a 429); N password-reset requests
//! are sent, each with a different address of about 1 MiB (the body limit);
//! the process's resident memory (`VmRSS` in `/proc/<pid>/status`) is read
//! before and after. Fails when it grew by more than the allowance
//! (10 MiB): an anonymous caller must not be able to grow memory. Figures
//! go to `target/xtask/bench/reset-flood.json`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::cmd::bench::report;
use crate::infra::fleet::{Fleet, FleetOptions, Output};
use crate::infra::workspace;

/// Options of `cargo xtask bench reset-flood` (its command line).
#[derive(Debug, Clone, clap::Args)]
pub struct ResetFlood {
    /// Requests sent.
    #[arg(long, default_value_t = 1000)]
    pub requests: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Largest accepted growth of the resident set, in MiB.
    #[arg(long, default_value_t = 10.0)]
    pub allowance_mib: f64,
    /// Build the release binary first.
    #[arg(
        long = "no-build",
        action = clap::ArgAction::SetFalse,
        help = "Run the binary already in target/release"
    )]
    pub build: bool,
}

/// What the flood did.
#[derive(Debug, Clone)]
pub struct Figures {
    /// Resident set before the flood (KiB).
    pub rss_before_kib: u64,
    /// Resident set after it (KiB).
    pub rss_after_kib: u64,
    /// Peak resident set of the process's life (KiB).
    pub rss_peak_kib: u64,
    /// Answers by status.
    pub statuses: std::collections::BTreeMap<u16, usize>,
}

impl Figures {
    /// Growth of the resident set in MiB (negative when it shrank).
    pub fn growth_mib(&self) -> f64 {
        (self.rss_after_kib as f64 - self.rss_before_kib as f64) / 1024.0
    }
}

/// Bytes of each e-mail address: the JSON body stays under the 1 MiB limit.
const EMAIL_BYTES: usize = 1024 * 1024 - 64;

/// Runs the flood and checks the allowance.
pub fn reset_flood(opts: &ResetFlood) -> Result<Figures> {
    let root = workspace::root();
    let logs = workspace::scratch_dir(&root).join("bench/logs");
    let fleet = Fleet::start(
        &root,
        FleetOptions {
            release: true,
            build: opts.build,
            output: Output::LogDir(logs),
            cluster_name: "bench".into(),
            only: vec!["user".into()],
            env: vec![(
                "APP__RATE_LIMIT__PER_IP_PER_MINUTE".into(),
                "100000000".into(),
            )],
            ..FleetOptions::default()
        },
    )?;
    let result = flood(&fleet, opts);
    fleet.stop()?;
    let figures = result?;
    let growth = figures.growth_mib();
    println!(
        "reset-flood: {} requests of {} KiB e-mails ({} concurrent): RSS {:.1} MiB -> {:.1} MiB ({:+.1} MiB), peak {:.1} MiB; answers {:?}",
        opts.requests,
        EMAIL_BYTES / 1024,
        opts.concurrency,
        figures.rss_before_kib as f64 / 1024.0,
        figures.rss_after_kib as f64 / 1024.0,
        growth,
        figures.rss_peak_kib as f64 / 1024.0,
        figures.statuses
    );
    let body = json!({
        "requests": opts.requests,
        "concurrency": opts.concurrency,
        "email_bytes": EMAIL_BYTES,
        "rss_before_kib": figures.rss_before_kib,
        "rss_after_kib": figures.rss_after_kib,
        "rss_peak_kib": figures.rss_peak_kib,
        "growth_mib": growth,
        "allowance_mib": opts.allowance_mib,
        "statuses": figures.statuses,
    });
    let path = report::write_json(&report::reports_dir(&root), "reset-flood", &body)?;
    println!("written to {}", path.display());
    if growth > opts.allowance_mib {
        bail!(
            "user-service's resident memory grew by {growth:.1} MiB, more than {} MiB",
            opts.allowance_mib
        );
    }
    Ok(figures)
}

fn flood(fleet: &Fleet, opts: &ResetFlood) -> Result<Figures> {
    let pid = fleet.pid("user")?;
    let url = format!("{}/api/v1/auth/password-reset", fleet.base_url("user")?);
    // Settle after start-up, then the baseline.
    std::thread::sleep(Duration::from_secs(1));
    let before = status_kib(pid, "VmRSS")?;
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..opts.concurrency.max(1))
        .map(|_| {
            let (next, url, total) = (Arc::clone(&next), url.clone(), opts.requests);
            std::thread::spawn(move || -> Result<Vec<u16>> {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .into();
                // One buffer per client; only the distinct prefix changes.
                let mut body = format!(
                    "{{\"email\":\"{}@example.com\"}}",
                    "x".repeat(EMAIL_BYTES - "@example.com".len())
                )
                .into_bytes();
                let mut statuses = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return Ok(statuses);
                    }
                    let prefix = format!("{i:020}");
                    body[10..10 + prefix.len()].copy_from_slice(prefix.as_bytes());
                    let response = agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .send(&body[..])
                        .with_context(|| format!("request {i}"))?;
                    statuses.push(response.status().as_u16());
                }
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for worker in workers {
        let answered = worker
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
        for status in answered {
            *statuses.entry(status).or_insert(0) += 1;
        }
    }
    println!(
        "reset-flood: {} requests in {:.1} s",
        opts.requests,
        started.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(2));
    Ok(Figures {
        rss_before_kib: before,
        rss_after_kib: status_kib(pid, "VmRSS")?,
        rss_peak_kib: status_kib(pid, "VmHWM")?,
        statuses,
    })
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in {path}"))
}

#[cfg(test)]
mod tests {
    use super::status_kib;

    #[test]
    fn reads_the_resident_set_of_a_process() {
        let rss = status_kib(std::process::id(), "VmRSS").unwrap();
        assert!(rss > 100, "{rss} KiB");
        assert!(status_kib(std::process::id(), "NoSuchField").is_err());
    }
}
