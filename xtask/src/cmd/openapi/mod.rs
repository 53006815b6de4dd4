//! `cargo xtask openapi merge|check`: the gateway's one API document, merged
//! from the services' committed documents, and the checks every document
//! must pass with the tools a frontend developer uses.
//!
//! - `merge` writes [`MERGED_PATH`] (see [`merge`] for the rules).
//! - `check` (a step of `cargo xtask test`) fails when the committed merged
//!   document differs from what `merge` would write, when a public path is
//!   not routed to its service by the gateway (nginx and the Kubernetes
//!   Ingress), when openapi-spec-validator rejects a document, or when
//!   openapi-typescript cannot generate types from one (or TypeScript
//!   `--strict` rejects what it generated). The tools are installed on
//!   first use: openapi-spec-validator into `target/tools/venv` (pip),
//!   openapi-typescript and TypeScript into `tools/openapi/node_modules`
//!   (`npm ci` from the committed lockfile).

pub mod merge;
pub mod routes;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::infra::pytools::{self, PyTool};
use crate::infra::{services, workspace};

pub use merge::{ServiceDocument, merge};

/// The merged document, relative to the repository root.
pub const MERGED_PATH: &str = "deploy/openapi/openapi.json";

/// The npm project holding openapi-typescript, TypeScript and swagger-ui-dist.
pub const NPM_TOOLS_DIR: &str = "tools/openapi";

/// openapi-spec-validator: the reference validator of OpenAPI 3.0/3.1.
pub const SPEC_VALIDATOR: PyTool = PyTool {
    requirement: "openapi-spec-validator==0.9.0",
    executable: "openapi-spec-validator",
};

/// Each service's committed document, in conventions order.
pub fn service_documents(root: &Path) -> Result<Vec<ServiceDocument>> {
    services::present(root)?
        .into_iter()
        .map(|spec| {
            let path = root.join(&spec.package).join("openapi.json");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let document: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            Ok(ServiceDocument {
                package: spec.package,
                short: spec.short,
                document,
            })
        })
        .collect()
}

/// The merged document as `merge` writes it (pretty JSON, one final newline).
pub fn merged_text(root: &Path) -> Result<String> {
    let merged = merge(&service_documents(root)?)?;
    Ok(serde_json::to_string_pretty(&merged)? + "\n")
}

/// `cargo xtask openapi merge`: writes [`MERGED_PATH`]; returns its path.
pub fn write_merged(root: &Path) -> Result<PathBuf> {
    let text = merged_text(root)?;
    let path = root.join(MERGED_PATH);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `cargo xtask openapi check`: see the module documentation.
pub fn check(root: &Path) -> Result<()> {
    let mut failures = Vec::new();
    let mut step = |name: &str, result: Result<String>| match result {
        Ok(note) if note.is_empty() => println!("ok      {name}"),
        Ok(note) => println!("ok      {name}: {note}"),
        Err(err) => {
            println!("FAILED  {name}\n{}", indent(&format!("{err:#}")));
            failures.push(name.to_owned());
        }
    };
    step(
        &format!("{MERGED_PATH} is what `cargo xtask openapi merge` writes"),
        check_drift(root).map(|()| String::new()),
    );
    step(
        "every public path is routed to its service by deploy/nginx/gateway.conf",
        routes::check_nginx(root),
    );
    step(
        "every public path is routed to its service by deploy/k8s/base/ingress.yaml",
        routes::check_ingress(root),
    );

    let mut documents: Vec<PathBuf> = services::present(root)?
        .into_iter()
        .map(|spec| root.join(spec.package).join("openapi.json"))
        .collect();
    documents.push(root.join(MERGED_PATH));
    let names = documents
        .iter()
        .map(|d| display(root, d))
        .collect::<Vec<_>>()
        .join(", ");
    step(
        &format!("openapi-spec-validator {names}"),
        validate(root, &documents),
    );
    step(
        "openapi-typescript generates types from each, tsc --strict accepts them",
        generate_types(root, &documents),
    );
    if failures.is_empty() {
        println!("openapi: all checks passed");
        Ok(())
    } else {
        bail!(
            "openapi: {} check(s) failed: {}",
            failures.len(),
            failures.join("; ")
        )
    }
}

fn check_drift(root: &Path) -> Result<()> {
    let expected = merged_text(root)?;
    let path = root.join(MERGED_PATH);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == expected {
        return Ok(());
    }
    let diff = similar::TextDiff::from_lines(&committed, &expected)
        .unified_diff()
        .context_radius(2)
        .header("committed", "merged")
        .to_string();
    let shown: Vec<&str> = diff.lines().take(60).collect();
    bail!(
        "{MERGED_PATH} is out of date: run `cargo xtask openapi merge` and commit it.\n{}{}",
        shown.join("\n"),
        if diff.lines().count() > shown.len() {
            "\n..."
        } else {
            ""
        }
    )
}

fn validate(root: &Path, documents: &[PathBuf]) -> Result<String> {
    let bin = pytools::ensure(root, &[&SPEC_VALIDATOR])?;
    let began = Instant::now();
    let output = Command::new(bin.join(SPEC_VALIDATOR.executable))
        .args(documents)
        .output()
        .context("running openapi-spec-validator")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("{}", text.trim_end());
    }
    Ok(format!("{:.1} s", began.elapsed().as_secs_f64()))
}

/// Installs the npm tools (`npm ci` from the committed lockfile) unless the
/// installed tree is as new as the lockfile; returns `node_modules`.
pub fn ensure_npm_tools(root: &Path) -> Result<PathBuf> {
    let dir = root.join(NPM_TOOLS_DIR);
    let modules = dir.join("node_modules");
    let stamp = modules.join(".package-lock.json");
    let lock = dir.join("package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = match (modified(&stamp), modified(&lock)) {
        (Some(installed), Some(locked)) => installed >= locked,
        _ => false,
    };
    if !fresh {
        if crate::cmd::lint_deploy::find_on_path("npm").is_none() {
            crate::cmd::lint_deploy::apt_install(&["nodejs", "npm"])?;
        }
        println!("installing npm tools into {}", display(root, &modules));
        let output = Command::new("npm")
            .current_dir(&dir)
            // No install scripts: the tools need none (swagger-ui-dist's
            // only one is a telemetry ping).
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
            .output()
            .context("running npm ci (is npm installed?)")?;
        if !output.status.success() {
            bail!(
                "npm ci in {NPM_TOOLS_DIR} failed:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    Ok(modules)
}

fn generate_types(root: &Path, documents: &[PathBuf]) -> Result<String> {
    let modules = ensure_npm_tools(root)?;
    let began = Instant::now();
    let out_dir = workspace::scratch_dir(root).join("openapi-types");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut generated = Vec::new();
    for document in documents {
        let name = document
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| anyhow!("no directory name for {}", document.display()))?;
        let out = out_dir.join(format!("{name}.ts"));
        let output = Command::new(modules.join(".bin/openapi-typescript"))
            .arg(document)
            .arg("--output")
            .arg(&out)
            .output()
            .context("running openapi-typescript")?;
        if !output.status.success() {
            bail!(
                "openapi-typescript {} failed:\n{}{}",
                display(root, document),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr).trim_end()
            );
        }
        generated.push(out);
    }
    let output = Command::new(modules.join(".bin/tsc"))
        .args([
            "--noEmit",
            "--strict",
            "--skipLibCheck",
            "false",
            "--target",
            "es2022",
            "--module",
            "es2022",
        ])
        .args(&generated)
        .output()
        .context("running tsc")?;
    if !output.status.success() {
        bail!(
            "tsc --strict rejects the generated types:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Ok(format!(
        "{} documents in {:.1} s, types in {}",
        generated.len(),
        began.elapsed().as_secs_f64(),
        display(root, &out_dir)
    ))
}

fn display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("        {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
