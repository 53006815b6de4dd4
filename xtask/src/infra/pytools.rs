//! Python tools from PyPI, installed on first use into `target/tools/venv`
//! (pinned, so a new release cannot break CI unannounced).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow};

/// A PyPI package and the executable (in the venv's `bin/`) it provides.
pub struct PyTool {
    /// `name==version`.
    pub requirement: &'static str,
    /// What must exist in `bin/` afterwards.
    pub executable: &'static str,
}

/// aiosmtpd: a real SMTP server, for the end-to-end journey's mail.
pub const AIOSMTPD: PyTool = PyTool {
    requirement: "aiosmtpd==1.4.6",
    executable: "aiosmtpd",
};

/// schemathesis: property-based API fuzzing from the OpenAPI documents.
pub const SCHEMATHESIS: PyTool = PyTool {
    requirement: "schemathesis==4.32.5",
    executable: "schemathesis",
};

/// moto's server: a real S3-compatible HTTP server, for catalog-service's
/// S3 media backend tests (`MOTO_SERVER`, see `cargo xtask test`).
pub const MOTO: PyTool = PyTool {
    requirement: "moto[server]==5.2.5",
    executable: "moto_server",
};

/// The shared tools venv.
pub fn venv(root: &Path) -> PathBuf {
    root.join("target/tools/venv")
}

/// Makes sure every tool is installed; returns the venv's `bin/`.
pub fn ensure(root: &Path, tools: &[&PyTool]) -> Result<PathBuf> {
    let venv = venv(root);
    let bin = venv.join("bin");
    let missing: Vec<&str> = tools
        .iter()
        .filter(|tool| !bin.join(tool.executable).is_file())
        .map(|tool| tool.requirement)
        .collect();
    if !missing.is_empty() {
        pip_install(&venv, &missing)?;
    }
    for tool in tools {
        if !bin.join(tool.executable).is_file() {
            return Err(anyhow!(
                "`{}` is still missing after pip install {}",
                bin.join(tool.executable).display(),
                tool.requirement
            ));
        }
    }
    Ok(bin)
}

/// Creates the venv when needed and pip-installs `requirements` into it.
pub fn pip_install(venv: &Path, requirements: &[&str]) -> Result<()> {
    println!(
        "installing from PyPI into {}: {}",
        venv.display(),
        requirements.join(" ")
    );
    if !venv.join("bin/python").is_file() {
        run(Command::new("python3").args(["-m", "venv"]).arg(venv))
            .context("python3 -m venv (is python3-venv installed?)")?;
    }
    run(Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(requirements))
    .context("pip install")
}

fn run(command: &mut Command) -> Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .with_context(|| format!("could not run `{program}`"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(anyhow!(
        "`{program}` exited with {}:\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr).trim_end()
    ))
}
