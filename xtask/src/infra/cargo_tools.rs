//! Cargo subcommands xtask runs (cargo-llvm-cov, sqlx-cli), pinned and
//! installed on first use into `target/tools/cargo/`, unless the same
//! version is already on the `PATH`. A fresh clone needs nothing by hand.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::infra::fleet::cargo;
use crate::infra::process;

/// One pinned cargo subcommand.
#[derive(Debug)]
pub struct CargoTool {
    /// The crate `cargo install` installs.
    pub package: &'static str,
    /// Its executable, `cargo-<subcommand>`.
    pub executable: &'static str,
    /// The subcommand's name: `cargo <subcommand> --version` reports the version.
    pub subcommand: &'static str,
    pub version: &'static str,
    /// `--no-default-features --features ...`, when set.
    pub features: Option<&'static str>,
    /// Run before installing (a rustup component the tool needs).
    pub rustup_component: Option<&'static str>,
}

/// Where tools are installed: `cargo install --root` of this directory.
pub fn tools_root(root: &Path) -> PathBuf {
    crate::infra::workspace::target_dir(root).join("tools/cargo")
}

/// The tool's executable, installed when missing or another version.
pub fn ensure(root: &Path, tool: &CargoTool) -> Result<PathBuf> {
    if let Some(on_path) = crate::cmd::lint_deploy::find_on_path(tool.executable)
        && version_of(&on_path, tool).as_deref() == Some(tool.version)
    {
        return Ok(on_path);
    }
    let tools = tools_root(root);
    let local = tools.join("bin").join(tool.executable);
    if version_of(&local, tool).as_deref() == Some(tool.version) {
        return Ok(local);
    }
    eprintln!(
        "xtask: installing {} {} into {}",
        tool.package,
        tool.version,
        tools.display()
    );
    if let Some(component) = tool.rustup_component {
        let mut rustup = Command::new("rustup");
        rustup.args(["component", "add", component]);
        process::run_ok(&mut rustup).with_context(|| {
            format!(
                "adding rustup's {component} component ({} needs it)",
                tool.package
            )
        })?;
    }
    let mut install = Command::new(cargo());
    install
        .args(["install", "--locked", "--version", tool.version])
        .arg("--root")
        .arg(&tools);
    if let Some(features) = tool.features {
        install.args(["--no-default-features", "--features", features]);
    }
    install
        .arg(tool.package)
        // Its own target directory: not the workspace's.
        .env_remove("CARGO_TARGET_DIR");
    process::run_ok(&mut install).with_context(|| format!("installing {}", tool.package))?;
    match version_of(&local, tool) {
        Some(v) if v == tool.version => Ok(local),
        other => bail!(
            "{} reports version {other:?} after installing {}",
            local.display(),
            tool.version
        ),
    }
}

/// `cargo-llvm-cov 0.9.1` -> `0.9.1`.
fn version_of(bin: &Path, tool: &CargoTool) -> Option<String> {
    let out = Command::new(bin)
        .args([tool.subcommand, "--version"])
        .output()
        .ok()?;
    out.status.success().then_some(())?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

/// The first word that starts with a digit.
pub fn parse_version(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_the_first_number() {
        assert_eq!(
            parse_version("cargo-llvm-cov 0.9.1\n").as_deref(),
            Some("0.9.1")
        );
        assert_eq!(parse_version("sqlx-cli 0.9.0\n").as_deref(), Some("0.9.0"));
        assert_eq!(parse_version("no version here"), None);
    }
}
