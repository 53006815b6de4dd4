//! `cargo xtask bench catalog|checkout|fleet [--against <rev>]`: release
//! builds on private Postgres clusters, real HTTP clients at a fixed
//! concurrency, one report.
//!
//! Every benchmark is a [`Bench`]: a round measures its scenarios against a
//! ready fleet. [`run`] starts the fleet of each side for each round, the
//! baseline revision's and the working tree's alternately (baseline,
//! candidate, baseline, candidate, ...), each time on a fresh Postgres, and
//! ends with one [`Report`]: per scenario the median of each side's rounds,
//! the candidate/baseline ratio, and the share of the ceiling scenario.
//!
//! The benchmarks: [`catalog`] (wrk against catalog-service), [`load`]
//! (checkout and the fleet mix, Rust clients) and [`memory`] (reset-flood:
//! user-service's resident memory). Every report is written by
//! [`report::write_json`] to `target/xtask/bench/<name>.json`.

pub mod catalog;
pub mod load;
pub mod memory;
pub mod report;
pub mod revision;
pub mod running;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

pub use catalog::{CatalogBench, catalog};
pub use report::{Figures, Report, Round};
pub use running::BenchFleet;

use crate::infra::{signals, workspace};

/// A benchmark: what it measures in one round, on one side's ready fleet.
pub trait Bench {
    /// `catalog`, `checkout`, `fleet`: names the report file.
    fn name(&self) -> &'static str;
    /// Its settings, recorded in the report.
    fn settings(&self) -> Value;
    /// The scenario every other one is reported as a fraction of.
    fn ceiling(&self) -> Option<&'static str> {
        None
    }
    /// Extra environment for every service, on both sides.
    fn env(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Measures every scenario once, printing progress; figures per scenario.
    fn round(&self, fleet: &BenchFleet) -> Result<Vec<Figures>>;
}

/// Which sides to measure and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The baseline revision, if comparing.
    pub against: Option<String>,
    /// Rounds per side.
    pub rounds: usize,
    /// Build the working tree's release binaries first.
    pub build: bool,
}

/// Rounds per side when comparing and `--rounds` is not given.
pub const DEFAULT_ROUNDS_AGAINST: usize = 2;

impl Plan {
    /// Checks the options: a comparison alternates at least twice, so
    /// neither side always runs first on a cold machine.
    pub fn new(against: Option<String>, rounds: Option<usize>, build: bool) -> Result<Self> {
        let rounds = match (&against, rounds) {
            (_, Some(0)) => bail!("--rounds must be at least 1"),
            (Some(_), Some(n)) if n < DEFAULT_ROUNDS_AGAINST => {
                bail!("--against needs at least {DEFAULT_ROUNDS_AGAINST} rounds per side")
            }
            (_, Some(n)) => n,
            (Some(_), None) => DEFAULT_ROUNDS_AGAINST,
            (None, None) => 1,
        };
        Ok(Self {
            against,
            rounds,
            build,
        })
    }
}

/// Runs `bench` as `plan` says, prints the table and writes the JSON report.
pub fn run(bench: &dyn Bench, plan: &Plan) -> Result<Report> {
    let root = workspace::root();
    let mut sides = Vec::new();
    let candidate_label = if plan.against.is_some() {
        "candidate"
    } else {
        "this tree"
    };
    // The working tree first: a compile error there should not wait for
    // the baseline's (possibly long) first build.
    let candidate = revision::working_tree(&root, candidate_label, plan.build)?;
    if let Some(rev) = &plan.against {
        sides.push(revision::baseline(&root, rev, "baseline")?);
    }
    sides.push(candidate);

    let dir = report::reports_dir(&root);
    let logs = dir.join("logs");
    if logs.exists() {
        std::fs::remove_dir_all(&logs).with_context(|| format!("clearing {}", logs.display()))?;
    }
    let mut report = Report {
        benchmark: bench.name().to_owned(),
        settings: bench.settings(),
        sides: sides.iter().map(|s| s.info.clone()).collect(),
        ceiling: bench.ceiling().map(str::to_owned),
        rounds: Vec::new(),
    };
    println!("bench {}: {}", bench.name(), bench.settings());
    let env = bench.env();
    for number in 1..=plan.rounds {
        for (index, side) in sides.iter().enumerate() {
            signals::check()?;
            println!(
                "\nround {number}/{}, {}: {}",
                plan.rounds,
                side.info.label,
                side.info.describe()
            );
            let label = side.info.label.replace(' ', "-");
            let log = logs.join(format!("{label}-{number}.log"));
            let mut fleet = BenchFleet::start(&root, side, &env, &log)?;
            let measured = bench.round(&fleet).and_then(|figures| {
                fleet.check_alive()?;
                Ok(figures)
            });
            let stopped = fleet.stop();
            let figures = measured.with_context(|| {
                format!(
                    "round {number} of {} (services' output: {})",
                    side.info.label,
                    log.display()
                )
            })?;
            stopped?;
            report.rounds.push(Round {
                side: index,
                number,
                figures,
            });
        }
    }
    println!("\n{}", report.table());
    let path = report.write(&dir)?;
    println!("written to {}", path.display());
    Ok(report)
}

/// The measured window of client threads that record while `recording` is
/// set and stop once `stop` is: `warmup` unrecorded, then `measured`
/// recorded, then stop. Returns the window's real length.
pub fn record_window(
    warmup: Duration,
    measured: Duration,
    recording: &AtomicBool,
    stop: &AtomicBool,
) -> Duration {
    std::thread::sleep(warmup);
    recording.store(true, Ordering::Relaxed);
    let started = Instant::now();
    std::thread::sleep(measured);
    recording.store(false, Ordering::Relaxed);
    let window = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    window
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_run_is_one_round_and_a_comparison_two_unless_asked() -> Result<()> {
        assert_eq!(Plan::new(None, None, true)?.rounds, 1);
        assert_eq!(Plan::new(None, Some(3), true)?.rounds, 3);
        let against = Plan::new(Some("main".into()), None, false)?;
        assert_eq!(
            against,
            Plan {
                against: Some("main".into()),
                rounds: 2,
                build: false
            }
        );
        assert_eq!(Plan::new(Some("main".into()), Some(5), true)?.rounds, 5);
        Ok(())
    }

    #[test]
    fn a_comparison_of_one_round_or_zero_rounds_is_refused() {
        let err = Plan::new(Some("main".into()), Some(1), true).expect_err("one round");
        assert!(err.to_string().contains("at least 2 rounds"), "{err}");
        assert!(Plan::new(None, Some(0), true).is_err());
    }
}
