//! Line coverage per crate, from the one instrumented test run of
//! `cargo xtask test` (`cargo llvm-cov nextest`): a table, the HTML report
//! under `target/coverage/html/`, and a floor of 80% of lines for every
//! service and for `service-kit`.
//!
//! cargo-llvm-cov is pinned and installed on first use into
//! `target/tools/cargo/` (with rustup's `llvm-tools` component), unless
//! the same version is already on the `PATH`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::infra::cargo_tools::{self, CargoTool};
use crate::infra::{process, workspace};

/// The pinned cargo-llvm-cov.
pub const LLVM_COV: CargoTool = CargoTool {
    package: "cargo-llvm-cov",
    executable: "cargo-llvm-cov",
    subcommand: "llvm-cov",
    version: "0.9.1",
    features: None,
    rustup_component: Some("llvm-tools"),
};

/// The floor for every service and the kit, in percent of lines.
pub const FLOOR: f64 = 80.0;

/// Crates measured but not held to the floor: the developer tool, most of
/// which drives other programs (Postgres, Docker, browsers) and is proven
/// by CI running it.
const NOT_GATED: &[&str] = &["xtask"];

/// The `cargo-llvm-cov` executable, installed when missing.
pub fn ensure(root: &Path) -> Result<PathBuf> {
    cargo_tools::ensure(root, &LLVM_COV)
}

/// Where the reports go.
pub fn report_dir(root: &Path) -> PathBuf {
    workspace::target_dir(root).join("coverage")
}

/// Writes the JSON summary and the HTML report of the last instrumented
/// run, prints lines covered per crate, and fails when a gated crate is
/// under [`FLOOR`].
pub fn report(root: &Path, bin: &Path) -> Result<()> {
    let dir = report_dir(root);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let summary = dir.join("summary.json");
    let mut json = Command::new(bin);
    json.current_dir(root)
        .args([
            "llvm-cov",
            "report",
            "--json",
            "--summary-only",
            "--output-path",
        ])
        .arg(&summary);
    process::run_ok(&mut json)?;
    let mut html = Command::new(bin);
    html.current_dir(root)
        .args(["llvm-cov", "report", "--html", "--output-dir"])
        .arg(&dir);
    process::run_ok(&mut html)?;

    let text = std::fs::read_to_string(&summary)
        .with_context(|| format!("reading {}", summary.display()))?;
    let members = workspace::members(root)?;
    let crates: Vec<(String, PathBuf)> = members.into_iter().map(|m| (m.package, m.dir)).collect();
    let table = per_crate(&text, &crates)?;
    print!("{}", render(&table));
    println!("HTML report: {}", dir.join("html/index.html").display());
    let under: Vec<String> = table
        .iter()
        .filter(|(name, lines)| !NOT_GATED.contains(&name.as_str()) && lines.percent() < FLOOR)
        .map(|(name, lines)| format!("{name} {:.1}%", lines.percent()))
        .collect();
    if !under.is_empty() {
        bail!(
            "line coverage under {FLOOR}%: {} (see {})",
            under.join(", "),
            dir.join("html/index.html").display()
        );
    }
    Ok(())
}

/// Lines counted and covered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Deserialize)]
pub struct Lines {
    count: u64,
    covered: u64,
}

impl Lines {
    fn percent(self) -> f64 {
        if self.count == 0 {
            100.0
        } else {
            100.0 * self.covered as f64 / self.count as f64
        }
    }
}

#[derive(Deserialize)]
struct Export {
    data: Vec<ExportData>,
}

#[derive(Deserialize)]
struct ExportData {
    files: Vec<ExportFile>,
}

#[derive(Deserialize)]
struct ExportFile {
    filename: PathBuf,
    summary: FileSummary,
}

#[derive(Deserialize)]
struct FileSummary {
    lines: Lines,
}

/// Sums llvm-cov's per-file line counts (its JSON export) by the crate
/// whose directory holds the file. Every crate of `crates` has a row, with
/// zero lines if none of its files ran; files of no crate are left out.
fn per_crate(json: &str, crates: &[(String, PathBuf)]) -> Result<BTreeMap<String, Lines>> {
    let export: Export = serde_json::from_str(json).context("reading llvm-cov's JSON export")?;
    let mut table: BTreeMap<String, Lines> = crates
        .iter()
        .map(|(name, _)| (name.clone(), Lines::default()))
        .collect();
    for file in export.data.iter().flat_map(|d| &d.files) {
        // The deepest directory wins (a crate nested in another's folder).
        let owner = crates
            .iter()
            .filter(|(_, dir)| file.filename.starts_with(dir))
            .max_by_key(|(_, dir)| dir.components().count());
        if let Some((name, _)) = owner
            && let Some(lines) = table.get_mut(name)
        {
            lines.count += file.summary.lines.count;
            lines.covered += file.summary.lines.covered;
        }
    }
    Ok(table)
}

fn render(table: &BTreeMap<String, Lines>) -> String {
    let width = table.keys().map(String::len).max().unwrap_or(0);
    let mut out = format!("\nLine coverage (floor {FLOOR}% for every crate but xtask)\n");
    for (name, lines) in table {
        let note = if NOT_GATED.contains(&name.as_str()) {
            "  (not gated)"
        } else if lines.percent() < FLOOR {
            "  UNDER THE FLOOR"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {name:<width$}  {:>5.1}%  {:>6} of {:>6} lines{note}\n",
            lines.percent(),
            lines.covered,
            lines.count
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, count: u64, covered: u64) -> String {
        format!(
            r#"{{"filename":"{name}","summary":{{"lines":{{"count":{count},"covered":{covered},"percent":0}}}}}}"#
        )
    }

    fn export(files: &[String]) -> String {
        format!(
            r#"{{"type":"llvm.coverage.json.export","data":[{{"files":[{}],"totals":{{}}}}]}}"#,
            files.join(",")
        )
    }

    fn crates() -> Vec<(String, PathBuf)> {
        vec![
            ("service-kit".into(), "/w/service-kit".into()),
            ("order-service".into(), "/w/order-service".into()),
            ("nested".into(), "/w/order-service/nested".into()),
        ]
    }

    #[test]
    fn files_are_summed_by_the_crate_that_holds_them() {
        let json = export(&[
            file("/w/service-kit/src/lib.rs", 10, 9),
            file("/w/service-kit/src/db/mod.rs", 30, 21),
            file("/w/order-service/src/lib.rs", 5, 5),
            file("/w/order-service/nested/src/lib.rs", 4, 1),
            file("/home/registry/tokio/src/lib.rs", 1000, 0),
        ]);
        let table = per_crate(&json, &crates()).unwrap();
        assert_eq!(
            table["service-kit"],
            Lines {
                count: 40,
                covered: 30
            }
        );
        assert_eq!(
            table["order-service"],
            Lines {
                count: 5,
                covered: 5
            }
        );
        assert_eq!(
            table["nested"],
            Lines {
                count: 4,
                covered: 1
            }
        );
        assert_eq!(table.len(), 3, "files outside the workspace are left out");
    }

    #[test]
    fn a_crate_none_of_whose_files_ran_has_a_row_of_nothing() {
        let table = per_crate(&export(&[]), &crates()).unwrap();
        assert_eq!(table["order-service"], Lines::default());
        assert_eq!(table["order-service"].percent(), 100.0);
    }

    #[test]
    fn the_table_marks_what_is_under_the_floor_and_what_is_not_gated() {
        let table: BTreeMap<String, Lines> = [
            (
                "order-service".to_owned(),
                Lines {
                    count: 100,
                    covered: 79,
                },
            ),
            (
                "service-kit".to_owned(),
                Lines {
                    count: 100,
                    covered: 80,
                },
            ),
            (
                "xtask".to_owned(),
                Lines {
                    count: 100,
                    covered: 10,
                },
            ),
        ]
        .into();
        let text = render(&table);
        assert!(
            text.contains("order-service   79.0%      79 of    100 lines  UNDER THE FLOOR"),
            "{text}"
        );
        assert!(
            text.contains("service-kit     80.0%      80 of    100 lines\n"),
            "{text}"
        );
        assert!(
            text.contains("xtask           10.0%      10 of    100 lines  (not gated)"),
            "{text}"
        );
    }

    #[test]
    fn a_malformed_export_is_an_error_not_an_empty_table() {
        assert!(per_crate("{\"data\": 3}", &crates()).is_err());
    }
}
