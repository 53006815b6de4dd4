//! The one report every benchmark writes: per side (the baseline revision
//! and the candidate working tree, or only the working tree) the median over
//! its rounds of each scenario's figures, the candidate/baseline ratios, and
//! each scenario's share of the ceiling scenario when the benchmark has one.
//! Printed as a table and written as JSON to `target/xtask/bench/<name>.json`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};

/// One scenario's figures in one round.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Scenario (or endpoint) name.
    pub name: String,
    /// Requests answered as expected.
    pub ok: usize,
    /// Other answers or transport errors.
    pub errors: usize,
    /// Successful requests per second.
    pub throughput: f64,
    /// Median latency in milliseconds.
    pub p50: f64,
    /// 95th percentile (ms).
    pub p95: f64,
    /// 99th percentile (ms).
    pub p99: f64,
}

impl Figures {
    /// Figures of `latencies` (the successful requests) over `window`:
    /// nearest-rank percentiles, NaN when nothing succeeded.
    pub fn from_latencies(
        name: &str,
        mut latencies: Vec<Duration>,
        errors: usize,
        window: Duration,
    ) -> Self {
        latencies.sort_unstable();
        let pct = |p: f64| -> f64 {
            if latencies.is_empty() {
                return f64::NAN;
            }
            let index =
                ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[index].as_secs_f64() * 1000.0
        };
        Self {
            name: name.to_owned(),
            ok: latencies.len(),
            errors,
            throughput: latencies.len() as f64 / window.as_secs_f64(),
            p50: pct(0.50),
            p95: pct(0.95),
            p99: pct(0.99),
        }
    }

    /// One progress line: `product by id  5546 req/s  p50 ...`.
    pub fn line(&self) -> String {
        format!(
            "{:<32} {:>9.0} req/s  p50 {:>7.1} ms  p95 {:>7.1} ms  p99 {:>7.1} ms  errors {}",
            self.name, self.throughput, self.p50, self.p95, self.p99, self.errors
        )
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name, "ok": self.ok, "errors": self.errors,
            "throughput_rps": finite(self.throughput), "p50_ms": finite(self.p50),
            "p95_ms": finite(self.p95), "p99_ms": finite(self.p99),
        })
    }
}

/// What was measured on one side.
#[derive(Debug, Clone, PartialEq)]
pub struct SideInfo {
    /// `baseline`, `candidate`, or `this tree` when nothing is compared.
    pub label: String,
    /// What the user named (`main`, `HEAD~3`) or `working tree`.
    pub revision: String,
    /// The commit (the working tree's `HEAD`).
    pub commit: String,
    /// The working tree had changes not in `commit`.
    pub dirty: bool,
}

impl SideInfo {
    /// `main (e303ff1c0a2b)` or `working tree (HEAD e303ff1c0a2b + changes)`.
    pub fn describe(&self) -> String {
        let short = &self.commit[..self.commit.len().min(12)];
        if self.revision == "working tree" {
            let changes = if self.dirty { " + changes" } else { "" };
            format!("working tree (HEAD {short}{changes})")
        } else {
            format!("{} ({short})", self.revision)
        }
    }
}

/// One side's figures in one round.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// Index into [`Report::sides`].
    pub side: usize,
    /// 1-based round number.
    pub number: usize,
    /// Figures per scenario, in the order measured.
    pub figures: Vec<Figures>,
}

/// Everything one `cargo xtask bench ...` run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// `catalog`, `checkout`, `fleet`: also the JSON file's name.
    pub benchmark: String,
    /// The benchmark's settings (concurrency, seconds, ...), recorded as given.
    pub settings: Value,
    /// Baseline first when there is one; the candidate last.
    pub sides: Vec<SideInfo>,
    /// The scenario every other one is divided by (`GET /health`), if any.
    pub ceiling: Option<String>,
    /// Every round of every side, in the order run.
    pub rounds: Vec<Round>,
}

/// One side's medians for one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct SideSummary {
    /// Median throughput over the rounds (req/s).
    pub throughput: f64,
    /// Median p50 (ms).
    pub p50: f64,
    /// Median p95 (ms).
    pub p95: f64,
    /// Median p99 (ms).
    pub p99: f64,
    /// Successful requests, all rounds together.
    pub ok: usize,
    /// Errors, all rounds together.
    pub errors: usize,
    /// Each round's throughput, in order: the spread.
    pub throughput_rounds: Vec<f64>,
    /// Median throughput as a fraction of the ceiling scenario's.
    pub of_ceiling: Option<f64>,
}

/// A scenario across the sides.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioSummary {
    /// Scenario name.
    pub name: String,
    /// Per side (same order as [`Report::sides`]); `None` if that side never measured it.
    pub sides: Vec<Option<SideSummary>>,
}

/// candidate/baseline of each figure (throughput above 1 is better, latency below).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratios {
    /// Throughput.
    pub throughput: Option<f64>,
    /// p50.
    pub p50: Option<f64>,
    /// p95.
    pub p95: Option<f64>,
    /// p99.
    pub p99: Option<f64>,
}

impl ScenarioSummary {
    /// Last side over first side, when there are two and both measured it.
    pub fn ratios(&self) -> Option<Ratios> {
        if self.sides.len() < 2 {
            return None;
        }
        let (Some(Some(base)), Some(Some(cand))) = (self.sides.first(), self.sides.last()) else {
            return None;
        };
        Some(Ratios {
            throughput: ratio(cand.throughput, base.throughput),
            p50: ratio(cand.p50, base.p50),
            p95: ratio(cand.p95, base.p95),
            p99: ratio(cand.p99, base.p99),
        })
    }
}

/// The median of the finite values (NaN when there are none).
pub fn median(values: &[f64]) -> f64 {
    let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return f64::NAN;
    }
    finite.sort_by(f64::total_cmp);
    let mid = finite.len() / 2;
    if finite.len() % 2 == 1 {
        finite[mid]
    } else {
        (finite[mid - 1] + finite[mid]) / 2.0
    }
}

/// `candidate / baseline`, or `None` when that means nothing (no baseline figure).
pub fn ratio(candidate: f64, baseline: f64) -> Option<f64> {
    (candidate.is_finite() && baseline.is_finite() && baseline > 0.0).then(|| candidate / baseline)
}

impl Report {
    /// Per scenario (in the order first measured), each side's medians.
    pub fn summary(&self) -> Vec<ScenarioSummary> {
        let mut names: Vec<&str> = Vec::new();
        for round in &self.rounds {
            for f in &round.figures {
                if !names.contains(&f.name.as_str()) {
                    names.push(&f.name);
                }
            }
        }
        let side_summary = |side: usize, name: &str| -> Option<SideSummary> {
            let rows: Vec<&Figures> = self
                .rounds
                .iter()
                .filter(|r| r.side == side)
                .flat_map(|r| r.figures.iter().filter(|f| f.name == name))
                .collect();
            if rows.is_empty() {
                return None;
            }
            let of =
                |get: fn(&Figures) -> f64| median(&rows.iter().map(|f| get(f)).collect::<Vec<_>>());
            Some(SideSummary {
                throughput: of(|f| f.throughput),
                p50: of(|f| f.p50),
                p95: of(|f| f.p95),
                p99: of(|f| f.p99),
                ok: rows.iter().map(|f| f.ok).sum(),
                errors: rows.iter().map(|f| f.errors).sum(),
                throughput_rounds: rows.iter().map(|f| f.throughput).collect(),
                of_ceiling: None,
            })
        };
        let mut summary: Vec<ScenarioSummary> = names
            .iter()
            .map(|name| ScenarioSummary {
                name: (*name).to_owned(),
                sides: (0..self.sides.len())
                    .map(|side| side_summary(side, name))
                    .collect(),
            })
            .collect();
        if let Some(ceiling) = &self.ceiling {
            let ceilings: Vec<Option<f64>> = (0..self.sides.len())
                .map(|side| {
                    summary
                        .iter()
                        .find(|s| &s.name == ceiling)
                        .and_then(|s| s.sides[side].as_ref())
                        .map(|s| s.throughput)
                })
                .collect();
            for scenario in &mut summary {
                for (side, figures) in scenario.sides.iter_mut().enumerate() {
                    if let (Some(figures), Some(ceiling)) = (figures, ceilings[side]) {
                        figures.of_ceiling = ratio(figures.throughput, ceiling);
                    }
                }
            }
        }
        summary
    }

    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let rounds = self
            .rounds
            .iter()
            .map(|r| r.number)
            .max()
            .unwrap_or_default();
        for side in &self.sides {
            out.push_str(&format!(
                "{:<10} {}\n",
                format!("{}:", side.label),
                side.describe()
            ));
        }
        out.push_str(&format!(
            "medians of {rounds} round{} per side\n\n",
            if rounds == 1 { "" } else { "s" }
        ));
        let ceiling_head = match &self.ceiling {
            Some(c) => format!("of {c}"),
            None => String::new(),
        };
        let cw = ceiling_head.len().max(6);
        let label_width = self
            .sides
            .iter()
            .map(|s| s.label.len())
            .chain(["cand/base".len()])
            .max()
            .unwrap_or(0);
        out.push_str(&format!(
            "{:<32} {:<lw$} {:>9} {:>cw$} {:>9} {:>9} {:>9} {:>7}  {}\n",
            "scenario",
            "",
            "req/s",
            ceiling_head,
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "errors",
            "req/s per round",
            lw = label_width,
            cw = cw,
        ));
        for scenario in self.summary() {
            let mut first = true;
            for (side, figures) in self.sides.iter().zip(&scenario.sides) {
                let name = if first { scenario.name.as_str() } else { "" };
                first = false;
                let Some(f) = figures else {
                    out.push_str(&format!(
                        "{name:<32} {:<lw$} not measured\n",
                        side.label,
                        lw = label_width
                    ));
                    continue;
                };
                let of_ceiling = f.of_ceiling.map(percent).unwrap_or_default();
                let spread: Vec<String> = f
                    .throughput_rounds
                    .iter()
                    .map(|t| format!("{t:.0}"))
                    .collect();
                out.push_str(&format!(
                    "{name:<32} {:<lw$} {:>9.1} {:>cw$} {:>9.1} {:>9.1} {:>9.1} {:>7}  {}\n",
                    side.label,
                    f.throughput,
                    of_ceiling,
                    f.p50,
                    f.p95,
                    f.p99,
                    f.errors,
                    spread.join(" "),
                    lw = label_width,
                    cw = cw,
                ));
            }
            if let Some(r) = scenario.ratios() {
                let x =
                    |v: Option<f64>| v.map(|v| format!("{v:.2}x")).unwrap_or_else(|| "-".into());
                out.push_str(&format!(
                    "{:<32} {:<lw$} {:>9} {:>cw$} {:>9} {:>9} {:>9}\n",
                    "",
                    "cand/base",
                    x(r.throughput),
                    "",
                    x(r.p50),
                    x(r.p95),
                    x(r.p99),
                    lw = label_width,
                    cw = cw,
                ));
            }
        }
        out
    }

    /// The JSON document written next to the other reports.
    pub fn to_json(&self) -> Value {
        let side_json = |s: &SideSummary| {
            json!({
                "throughput_rps": finite(s.throughput), "p50_ms": finite(s.p50),
                "p95_ms": finite(s.p95), "p99_ms": finite(s.p99), "ok": s.ok, "errors": s.errors,
                "throughput_rps_per_round": s.throughput_rounds.iter().map(|t| finite(*t)).collect::<Vec<_>>(),
                "of_ceiling": s.of_ceiling.map(finite),
            })
        };
        json!({
            "benchmark": self.benchmark,
            "settings": self.settings,
            "ceiling": self.ceiling,
            "sides": self.sides.iter().map(|s| json!({
                "label": s.label, "revision": s.revision, "commit": s.commit, "dirty": s.dirty,
            })).collect::<Vec<_>>(),
            "summary": self.summary().iter().map(|scenario| {
                let mut sides = serde_json::Map::new();
                for (info, figures) in self.sides.iter().zip(&scenario.sides) {
                    sides.insert(info.label.clone(), figures.as_ref().map(side_json).unwrap_or(Value::Null));
                }
                json!({
                    "scenario": scenario.name,
                    "sides": sides,
                    "ratio": scenario.ratios().map(|r| json!({
                        "throughput": r.throughput.map(finite), "p50": r.p50.map(finite),
                        "p95": r.p95.map(finite), "p99": r.p99.map(finite),
                    })),
                })
            }).collect::<Vec<_>>(),
            "rounds": self.rounds.iter().map(|r| json!({
                "side": self.sides.get(r.side).map(|s| s.label.clone()),
                "round": r.number,
                "scenarios": r.figures.iter().map(Figures::to_json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }

    /// Writes `<dir>/<benchmark>.json` and returns its path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        write_json(dir, &self.benchmark, &self.to_json())
    }
}

/// Where every benchmark's report goes: `target/xtask/bench/`.
pub fn reports_dir(root: &Path) -> PathBuf {
    crate::infra::workspace::scratch_dir(root).join("bench")
}

/// The one writer of benchmark reports: `<dir>/<name>.json`, pretty-printed.
/// [`Report::write`] uses it for the throughput benchmarks, and
/// `bench reset-flood` for its memory figures.
pub fn write_json(dir: &Path, name: &str, body: &Value) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(body)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `17%`, or `0.6%` below 10% so a small share does not read as nothing.
fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p < 10.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

/// JSON has no NaN: a figure nobody measured is `null`.
fn finite(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_report_is_written_by_one_writer_under_its_name() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let nested = dir.path().join("bench");
        let path = write_json(&nested, "reset-flood", &json!({"growth_mib": 1.5}))?;
        assert_eq!(path, nested.join("reset-flood.json"));
        let back: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        assert_eq!(back["growth_mib"], json!(1.5));
        Ok(())
    }

    fn figures(name: &str, throughput: f64, p95: f64) -> Figures {
        Figures {
            name: name.into(),
            ok: 100,
            errors: 1,
            throughput,
            p50: p95 / 2.0,
            p95,
            p99: p95 * 2.0,
        }
    }

    fn side(label: &str, revision: &str) -> SideInfo {
        SideInfo {
            label: label.into(),
            revision: revision.into(),
            commit: "e303ff1c0a2b3c4d5e6f".into(),
            dirty: revision == "working tree",
        }
    }

    /// Baseline rounds 1 and 2, candidate rounds 1 and 2, alternating.
    fn comparison() -> Report {
        let round = |side, number, health: f64, by_id: f64, p95: f64| Round {
            side,
            number,
            figures: vec![
                figures("GET /health", health, 2.0),
                figures("product by id", by_id, p95),
            ],
        };
        Report {
            benchmark: "catalog".into(),
            settings: json!({"concurrency": 64}),
            sides: vec![side("baseline", "main"), side("candidate", "working tree")],
            ceiling: Some("GET /health".into()),
            rounds: vec![
                round(0, 1, 30_000.0, 5_000.0, 20.0),
                round(1, 1, 32_000.0, 16_000.0, 6.0),
                round(0, 2, 34_000.0, 6_000.0, 18.0),
                round(1, 2, 32_000.0, 20_000.0, 4.0),
            ],
        }
    }

    #[test]
    fn percentiles_are_nearest_rank_over_the_successful_requests() {
        let latencies: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let f = Figures::from_latencies("x", latencies, 3, Duration::from_secs(10));
        assert_eq!((f.ok, f.errors), (100, 3));
        assert_eq!(f.throughput, 10.0);
        assert_eq!((f.p50, f.p95, f.p99), (50.0, 95.0, 99.0));

        let one = Figures::from_latencies(
            "x",
            vec![Duration::from_millis(7)],
            0,
            Duration::from_secs(1),
        );
        assert_eq!((one.p50, one.p99), (7.0, 7.0));

        let none = Figures::from_latencies("x", Vec::new(), 5, Duration::from_secs(1));
        assert!(none.p50.is_nan() && none.p99.is_nan());
        assert_eq!(none.throughput, 0.0);
    }

    #[test]
    fn median_ignores_missing_figures_and_averages_the_middle_pair() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[f64::NAN, 5.0]), 5.0);
        assert!(median(&[]).is_nan());
        assert!(median(&[f64::NAN]).is_nan());
    }

    #[test]
    fn ratio_is_candidate_over_baseline_and_absent_without_a_baseline() {
        assert_eq!(ratio(30.0, 10.0), Some(3.0));
        assert_eq!(ratio(5.0, 0.0), None);
        assert_eq!(ratio(5.0, f64::NAN), None);
        assert_eq!(ratio(f64::NAN, 5.0), None);
    }

    #[test]
    fn summary_takes_medians_per_side_ratios_and_shares_of_the_ceiling() {
        let summary = comparison().summary();
        assert_eq!(
            summary.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["GET /health", "product by id"]
        );
        let by_id = &summary[1];
        let base = by_id.sides[0].as_ref().expect("baseline measured");
        let cand = by_id.sides[1].as_ref().expect("candidate measured");
        assert_eq!(base.throughput, 5_500.0);
        assert_eq!(cand.throughput, 18_000.0);
        assert_eq!(base.throughput_rounds, [5_000.0, 6_000.0]);
        assert_eq!((base.ok, base.errors), (200, 2));
        // Each side against its own ceiling: 5,500 of 32,000; 18,000 of 32,000.
        assert_eq!(base.of_ceiling, Some(5_500.0 / 32_000.0));
        assert_eq!(cand.of_ceiling, Some(18_000.0 / 32_000.0));
        let ratios = by_id.ratios().expect("two sides");
        assert_eq!(ratios.throughput, Some(18_000.0 / 5_500.0));
        assert_eq!(ratios.p95, Some(5.0 / 19.0));
        assert_eq!(
            summary[0].sides[0].as_ref().and_then(|s| s.of_ceiling),
            Some(1.0)
        );
    }

    #[test]
    fn one_side_has_no_ratio_and_a_scenario_one_side_lacks_is_reported_as_such() {
        let mut report = comparison();
        report.rounds.push(Round {
            side: 1,
            number: 2,
            figures: vec![figures("search, dense words", 100.0, 40.0)],
        });
        let summary = report.summary();
        assert_eq!(summary[2].sides[0], None);
        assert_eq!(summary[2].ratios(), None);
        assert!(
            report.table().contains("baseline  not measured"),
            "{}",
            report.table()
        );

        report.sides.truncate(1);
        report.rounds.retain(|r| r.side == 0);
        assert!(report.summary().iter().all(|s| s.ratios().is_none()));
        assert!(!report.table().contains("cand/base"));
    }

    #[test]
    fn table_shows_both_sides_the_ratio_and_the_share_of_the_ceiling() {
        let table = comparison().table();
        assert!(table.contains("baseline:  main (e303ff1c0a2b)"), "{table}");
        assert!(
            table.contains("candidate: working tree (HEAD e303ff1c0a2b + changes)"),
            "{table}"
        );
        assert!(table.contains("medians of 2 rounds per side"), "{table}");
        assert!(table.contains("of GET /health"), "{table}");
        let lines: Vec<&str> = table.lines().collect();
        let by_id = lines
            .iter()
            .position(|l| l.starts_with("product by id"))
            .expect("a row per scenario");
        let cells = |i: usize| lines[i].split_whitespace().collect::<Vec<_>>();
        assert_eq!(
            cells(by_id),
            [
                "product", "by", "id", "baseline", "5500.0", "17%", "9.5", "19.0", "38.0", "2",
                "5000", "6000"
            ]
        );
        assert_eq!(
            cells(by_id + 1),
            [
                "candidate",
                "18000.0",
                "56%",
                "2.5",
                "5.0",
                "10.0",
                "2",
                "16000",
                "20000"
            ]
        );
        assert_eq!(
            cells(by_id + 2),
            ["cand/base", "3.27x", "0.26x", "0.26x", "0.26x"]
        );
        // The header's columns line up with the rows'.
        let header = lines
            .iter()
            .find(|l| l.starts_with("scenario"))
            .expect("a header");
        assert_eq!(
            header
                .find("of GET /health")
                .map(|i| i + "of GET /health".len()),
            lines[by_id].find("17%").map(|i| i + "17%".len())
        );
        assert_eq!(percent(0.006), "0.6%");
        assert_eq!(percent(0.172), "17%");
    }

    #[test]
    fn json_report_has_sides_summary_ratios_and_every_round_without_nan() -> Result<()> {
        let mut report = comparison();
        report.rounds[0].figures[1].p99 = f64::NAN;
        let json = report.to_json();
        assert_eq!(json["benchmark"], "catalog");
        assert_eq!(json["sides"][0]["revision"], "main");
        assert_eq!(json["sides"][1]["dirty"], true);
        let by_id = &json["summary"][1];
        assert_eq!(by_id["scenario"], "product by id");
        assert_eq!(by_id["sides"]["candidate"]["throughput_rps"], 18_000.0);
        assert_eq!(
            by_id["sides"]["baseline"]["throughput_rps_per_round"],
            json!([5000.0, 6000.0])
        );
        assert_eq!(by_id["ratio"]["throughput"], 18_000.0 / 5_500.0);
        assert_eq!(json["rounds"].as_array().map(Vec::len), Some(4));
        assert_eq!(json["rounds"][1]["side"], "candidate");
        assert_eq!(json["rounds"][0]["scenarios"][1]["p99_ms"], Value::Null);

        let dir = tempfile::tempdir()?;
        let path = report.write(dir.path())?;
        assert_eq!(path, dir.path().join("catalog.json"));
        let back: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        assert_eq!(back, json);
        Ok(())
    }
}
