//! `cargo xtask split <service> <dir>`: one service as a repository of its
//! own, and the check that proves every service can leave the monorepo.
//!
//! The split repository holds the service's tracked files (sources, tests,
//! migrations, `openapi.json`, `.env.example`, README, Dockerfile and the
//! pinned contracts of its providers in `contracts/`) and:
//! - `Cargo.toml` as a workspace root, the monorepo's profiles copied, and
//!   `service-kit` as a git dependency on this repository's release tag
//!   `service-kit-v<version>` (the version read from `service-kit/Cargo.toml`);
//! - `.sqlx/`: the query data of the workspace's `.sqlx/` whose statements
//!   its sources hold (and the vendored kit's, in `vendor/service-kit/.sqlx/`);
//! - `Cargo.lock` derived from the monorepo's: cargo prunes it to what the
//!   service uses, so no version moves;
//! - `.github/workflows/ci.yml`: the monorepo's `.github/workflows/<service>.yml`
//!   without path filters, package selection or monorepo paths;
//! - the Dockerfile with its build context at the repository's root, the
//!   monorepo's `.dockerignore`, a `.gitignore`;
//! - with `--vendor-kit`: a copy of `service-kit` in `vendor/service-kit` and a
//!   `[patch]` of the git dependency to it, so it builds offline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use toml_edit::{DocumentMut, InlineTable, Item, Table, Value};

use crate::infra::fleet::{cargo, sqlx_offline_default};
use crate::infra::{process, workspace};

/// The kit's package name.
pub const KIT: &str = "service-kit";
/// Where `--vendor-kit` puts the kit inside a split repository.
pub const VENDOR_DIR: &str = "vendor/service-kit";

/// The kit as a split repository pins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kit {
    /// `service-kit/Cargo.toml`'s `package.version`.
    pub version: String,
    /// The git repository the kit is released from (`package.repository`).
    pub git: String,
}

impl Kit {
    /// Reads the kit's version and repository from `<root>/service-kit/Cargo.toml`.
    pub fn read(root: &Path) -> Result<Self> {
        let manifest = root.join(KIT).join("Cargo.toml");
        let doc = workspace::read_toml(&manifest)?;
        let field = |name: &str| {
            doc.get("package")
                .and_then(|p| p.get(name))
                .and_then(Item::as_str)
                .map(str::to_owned)
                .with_context(|| format!("{} has no package.{name}", manifest.display()))
        };
        Ok(Self {
            version: field("version")?,
            git: field("repository")?,
        })
    }

    /// The release tag of this version: `service-kit-v<version>`.
    pub fn tag(&self) -> String {
        tag_for(&self.version)
    }
}

/// The tag convention of the kit's releases.
pub fn tag_for(version: &str) -> String {
    format!("{KIT}-v{version}")
}

/// Options of `cargo xtask split`.
#[derive(Debug, Clone, Default)]
pub struct SplitOptions {
    /// Copy the kit into `vendor/service-kit` and `[patch]` the git dependency to it.
    pub vendor_kit: bool,
    /// Override the kit's git URL (default: `package.repository` of the kit).
    pub kit_git: Option<String>,
}

/// What a split wrote.
#[derive(Debug, Clone)]
pub struct Split {
    /// The new repository.
    pub dir: PathBuf,
    /// The kit it pins.
    pub kit: Kit,
    /// The commit of the kit's tag, when the tag exists in this clone.
    pub tag_commit: Option<String>,
}

/// Writes service `service` of the workspace at `root` as a repository in `dir`
/// (which must not exist or be empty).
pub fn split(root: &Path, service: &str, dir: &Path, opts: &SplitOptions) -> Result<Split> {
    let members = workspace::members(root)?;
    let Some(member) = members.iter().find(|m| m.package == service) else {
        bail!("`{service}` is no workspace member");
    };
    ensure!(
        member.template.is_some(),
        "`{service}` is not a service (no [package.metadata.template] in its Cargo.toml)"
    );
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .next()
            .is_none();
        ensure!(empty, "{} exists and is not empty", dir.display());
    }
    let mut kit = Kit::read(root)?;
    if let Some(git) = &opts.kit_git {
        kit.git.clone_from(git);
    }

    // The service's own files; its template copy of a workflow is replaced
    // by the rewrite of the one the monorepo runs.
    for file in tracked_files(root, &member.dir)? {
        if file.starts_with(".github") {
            continue;
        }
        copy(&member.dir.join(&file), &dir.join(&file))?;
    }
    // Its share of the workspace's query data, where the macros look first
    // (the crate's own `.sqlx/`): the split builds offline.
    copy_queries(root, &member.dir, dir)?;

    let manifest = std::fs::read_to_string(member.dir.join("Cargo.toml"))
        .with_context(|| format!("reading {service}/Cargo.toml"))?;
    let root_manifest = workspace::read_toml(&root.join("Cargo.toml"))?;
    write(
        &dir.join("Cargo.toml"),
        &rewrite_manifest(&manifest, &root_manifest, &kit, opts.vendor_kit)?,
    )?;
    if opts.vendor_kit {
        let kit_dir = root.join(KIT);
        for file in tracked_files(root, &kit_dir)? {
            copy(&kit_dir.join(&file), &dir.join(VENDOR_DIR).join(&file))?;
        }
        copy_queries(root, &kit_dir, &dir.join(VENDOR_DIR))?;
        let vendored = std::fs::read_to_string(dir.join(VENDOR_DIR).join("Cargo.toml"))?;
        let paths = path_dependencies(&vendored)?;
        ensure!(
            paths.is_empty(),
            "service-kit depends on another crate by path ({paths:?}): it cannot be released alone"
        );
    }

    let workflow = root
        .join(".github/workflows")
        .join(format!("{service}.yml"));
    let workflow = std::fs::read_to_string(&workflow)
        .with_context(|| format!("reading {}", workflow.display()))?;
    write(
        &dir.join(".github/workflows/ci.yml"),
        &rewrite_workflow(&workflow, service)?,
    )?;
    let dockerfile = std::fs::read_to_string(member.dir.join("Dockerfile"))
        .with_context(|| format!("reading {service}/Dockerfile"))?;
    write(
        &dir.join("Dockerfile"),
        &rewrite_dockerfile(&dockerfile, service)?,
    )?;
    let dockerignore =
        std::fs::read_to_string(root.join(".dockerignore")).context("reading .dockerignore")?;
    write(
        &dir.join(".dockerignore"),
        &rewrite_dockerignore(&dockerignore),
    )?;
    write(&dir.join(".gitignore"), "/target/\n")?;
    let readme = std::fs::read_to_string(member.dir.join("README.md"))
        .with_context(|| format!("reading {service}/README.md"))?;
    write(
        &dir.join("README.md"),
        &format!(
            "{}{readme}",
            readme_preamble(service, &kit, opts.vendor_kit)
        ),
    )?;

    derive_lockfile(root, dir, &kit, opts.vendor_kit)?;
    prune_profile_overrides(dir)?;
    let tag_commit = if opts.vendor_kit {
        None
    } else {
        let commit = tag_commit(root, &kit.tag());
        if let Some(commit) = &commit {
            pin_kit_source(&dir.join("Cargo.lock"), &kit, commit)?;
        }
        commit
    };
    Ok(Split {
        dir: dir.to_owned(),
        kit,
        tag_commit,
    })
}

/// The files git knows under `dir` (tracked, plus untracked ones not
/// ignored, so a working tree's new files come along), relative to `dir`.
fn tracked_files(root: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
        ])
        .arg(dir)
        .output()
        .context("running git ls-files")?;
    ensure!(
        output.status.success(),
        "git ls-files failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let prefix = dir.strip_prefix(root).unwrap_or(dir);
    let mut files: Vec<PathBuf> = output
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        .filter_map(|p| p.strip_prefix(prefix).ok().map(Path::to_path_buf))
        // Deleted in the working tree but still in the index.
        .filter(|p| dir.join(p).is_file())
        .collect();
    files.sort();
    files.dedup();
    ensure!(
        !files.is_empty(),
        "git knows no file under {}",
        dir.display()
    );
    Ok(files)
}

/// The query files of the workspace's `.sqlx/` whose statements `crate_dir`'s
/// sources spell out, into `<to>/.sqlx/`.
fn copy_queries(root: &Path, crate_dir: &Path, to: &Path) -> Result<()> {
    let sqlx = root.join(".sqlx");
    for file in crate::cmd::sqlx::owned_queries(&sqlx, &crate_dir.join("src"))? {
        if let Some(name) = file.file_name() {
            copy(&file, &to.join(".sqlx").join(name))?;
        }
    }
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The service's manifest as a workspace root: `service-kit` from its git
/// tag (features kept), the monorepo's profiles, optionally the `[patch]`.
pub fn rewrite_manifest(
    manifest: &str,
    root_manifest: &DocumentMut,
    kit: &Kit,
    vendor_kit: bool,
) -> Result<String> {
    let mut doc: DocumentMut = manifest
        .parse()
        .context("parsing the service's Cargo.toml")?;
    ensure!(
        doc.get("workspace").is_none(),
        "the service's Cargo.toml already has a [workspace]"
    );
    let mut found_kit = false;
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        let Some(table) = doc.get_mut(section).and_then(Item::as_table_like_mut) else {
            continue;
        };
        for (name, item) in table.iter_mut() {
            let path_dep = item
                .as_table_like()
                .is_some_and(|t| t.get("path").is_some());
            if !path_dep {
                continue;
            }
            ensure!(
                name.get() == KIT,
                "[{section}] {} is a path dependency: a service may depend on no other \
                 crate of this repository than {KIT}",
                name.get()
            );
            found_kit = true;
            let mut dep = InlineTable::new();
            dep.insert("git", kit.git.as_str().into());
            dep.insert("tag", kit.tag().into());
            if let Some(old) = item.as_table_like() {
                for (key, value) in old.iter() {
                    if key != "path"
                        && let Some(value) = value.as_value()
                    {
                        dep.insert(key, value.clone());
                    }
                }
            }
            *item = Item::Value(Value::InlineTable(dep));
        }
    }
    ensure!(found_kit, "the service does not depend on {KIT} by path");
    ensure!(
        doc.get("target").is_none(),
        "platform-specific dependencies are not supported by the split"
    );

    let mut workspace = Table::new();
    workspace
        .decor_mut()
        .set_prefix("\n# A repository of its own: this package is the workspace root.\n");
    workspace.insert("resolver", toml_edit::value("3"));
    if vendor_kit {
        let mut exclude = toml_edit::Array::new();
        exclude.push("vendor");
        workspace.insert("exclude", toml_edit::value(exclude));
    }
    doc.insert("workspace", Item::Table(workspace));
    if let Some(profile) = root_manifest.get("profile") {
        let mut profile = profile.clone();
        if let Some(table) = profile.as_table_mut() {
            table.decor_mut().set_prefix(
                "\n# The monorepo's profiles, so builds behave (and cache) the same.\n",
            );
        }
        doc.insert("profile", profile);
    }
    if vendor_kit {
        let mut patch = Table::new();
        patch.set_implicit(true);
        let mut source = Table::new();
        source.decor_mut().set_prefix(format!(
            "\n# The kit from {VENDOR_DIR} instead of its tag (an offline build); delete\n\
             # this table and {VENDOR_DIR} to build against the released kit.\n"
        ));
        let mut dep = InlineTable::new();
        dep.insert("path", VENDOR_DIR.into());
        source.insert(KIT, toml_edit::value(dep));
        patch.insert(&kit.git, Item::Table(source));
        doc.insert("patch", Item::Table(patch));
    }
    Ok(doc.to_string())
}

/// The monorepo's workflow for `service`, for a repository that holds only it.
pub fn rewrite_workflow(text: &str, service: &str) -> Result<String> {
    let mut out = vec![
        format!("# {service}: build, lint and test on every change; build the image on every"),
        "# run and push it to GHCR for release tags `v<semver>`.".to_owned(),
        format!(
            "# Written by `cargo xtask split` from the monorepo's .github/workflows/{service}.yml."
        ),
    ];
    let mut lines = text.lines().peekable();
    // The monorepo's header comment.
    while lines.peek().is_some_and(|l| l.starts_with('#')) {
        lines.next();
    }
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed == "paths:" {
            let indent = line.len() - trimmed.len();
            while lines.peek().is_some_and(|next| {
                let t = next.trim_start();
                next.len() - t.len() > indent && t.starts_with("- ")
            }) {
                lines.next();
            }
            continue;
        }
        if trimmed.starts_with("# Path filters")
            || trimmed.starts_with("# Repository root: the service depends on")
        {
            continue;
        }
        let line = line
            .replace(&format!("\"{service}-v*\""), "\"v*\"")
            .replace(&format!("refs/tags/{service}-v"), "refs/tags/v")
            .replace(&format!("pattern={service}-v("), "pattern=v(")
            .replace(&format!(" -p {service}"), "")
            .replace(&format!("file: {service}/Dockerfile"), "file: Dockerfile");
        out.push(line);
    }
    let out = out.join("\n") + "\n";
    ensure!(
        !out.contains(&format!("{service}/")),
        "the rewritten workflow still names a path of the monorepo (`{service}/...`)"
    );
    ensure!(
        !out.contains("paths:") && !out.contains(&format!("-p {service}")),
        "the rewritten workflow still has path filters or package selection"
    );
    ensure!(
        out.contains("tags: [\"v*\"]"),
        "the workflow's release tag `{service}-v*` was not found"
    );
    Ok(out)
}

/// The Dockerfile with its build context at the split repository's root.
pub fn rewrite_dockerfile(text: &str, service: &str) -> Result<String> {
    let monorepo = format!(
        "# The build context is the repository root (the service depends on the\n\
         # `service-kit` crate by path). BuildKit is required (Docker Compose v2 and\n\
         # `docker buildx` use it; docker-compose 1.x needs DOCKER_BUILDKIT=1 and\n\
         # COMPOSE_DOCKER_CLI_BUILD=1), e.g. from the monorepo root:\n\
         #\n\
         #   DOCKER_BUILDKIT=1 docker build -f {service}/Dockerfile -t {service}:local .\n"
    );
    let own = format!(
        "# The build context is this repository's root (service-kit comes from\n\
         # its git tag, or from vendor/service-kit where Cargo.toml patches it).\n\
         # BuildKit is required (Docker Compose v2 and `docker buildx` use it;\n\
         # docker-compose 1.x needs DOCKER_BUILDKIT=1 and COMPOSE_DOCKER_CLI_BUILD=1):\n\
         #\n\
         #   DOCKER_BUILDKIT=1 docker build -t {service}:local .\n"
    );
    ensure!(
        text.contains(&monorepo),
        "{service}/Dockerfile no longer has the monorepo's build-context comment: \
         teach `cargo xtask split` the new one"
    );
    Ok(text.replace(&monorepo, &own))
}

fn rewrite_dockerignore(text: &str) -> String {
    text.replace(
        "# Build context = repository root (services depend on ../service-kit by path).",
        "# Build context = this repository's root.",
    )
}

fn readme_preamble(service: &str, kit: &Kit, vendor_kit: bool) -> String {
    let kit_line = if vendor_kit {
        format!(
            "`service-kit` {} is vendored in `{VENDOR_DIR}` (the `[patch]` in `Cargo.toml`);\n\
             drop both to build against the tag `{}` of {}.",
            kit.version,
            kit.tag(),
            kit.git
        )
    } else {
        format!(
            "`service-kit` {} comes from the tag `{}` of {}.",
            kit.version,
            kit.tag(),
            kit.git
        )
    };
    format!(
        "<!-- Written by `cargo xtask split {service}` from the shop monorepo. -->\n\
         > This repository holds {service} alone. {kit_line}\n\
         > The providers' documents its contract tests read are pinned in\n\
         > `contracts/`. Tests: `DATABASE_URL=<a Postgres role that may create\n\
         > databases> cargo test`. Links below that leave this folder point into\n\
         > the monorepo.\n\n"
    )
}

/// The host's target triple (`rustc -vV`), so fetching and metadata stay
/// with the packages this machine builds.
fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV names no host")
}

/// `Cargo.lock` from the monorepo's: `cargo update --workspace` re-resolves
/// only the workspace's own package against the locked versions (no
/// dependency moves; it needs the registry index, no download) and drops
/// what the service does not use.
fn derive_lockfile(root: &Path, dir: &Path, kit: &Kit, vendor_kit: bool) -> Result<()> {
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).context("copying Cargo.lock")?;
    let mut cmd = Command::new(cargo());
    cmd.current_dir(dir)
        .args(["update", "--workspace", "--offline"])
        .stdout(std::process::Stdio::null());
    if !vendor_kit {
        // Resolve against the working tree's kit (what the tag holds once
        // released): no network needed to derive the lock.
        cmd.arg("--config").arg(format!(
            "patch.'{}'.{KIT}.path='{}'",
            kit.git,
            root.join(KIT).display()
        ));
    }
    let (status, output) = process::run_captured(&mut cmd)?;
    ensure!(
        status.success(),
        "deriving Cargo.lock (`{}`) failed:\n{output}",
        process::describe(&cmd)
    );
    Ok(())
}

/// Drops the monorepo's `[profile.*.package.<name>]` overrides for packages
/// the split does not use (cargo warns about each otherwise).
fn prune_profile_overrides(dir: &Path) -> Result<()> {
    let lock = workspace::read_toml(&dir.join("Cargo.lock"))?;
    let used: std::collections::BTreeSet<String> = lock
        .get("package")
        .and_then(Item::as_array_of_tables)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("name").and_then(Item::as_str).map(str::to_owned))
        .collect();
    let path = dir.join("Cargo.toml");
    let mut doc: DocumentMut = std::fs::read_to_string(&path)?
        .parse()
        .context("parsing the split's Cargo.toml")?;
    if let Some(profiles) = doc.get_mut("profile").and_then(Item::as_table_mut) {
        for (_, profile) in profiles.iter_mut() {
            if let Some(packages) = profile.get_mut("package").and_then(Item::as_table_mut) {
                packages.retain(|name, _| name == "*" || used.contains(name));
            }
        }
    }
    write(&path, &doc.to_string())
}

/// The commit of `tag` in the repository at `root`, if the tag exists.
fn tag_commit(root: &Path, tag: &str) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "-q", "--verify"])
        .arg(format!("refs/tags/{tag}^{{commit}}"))
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Records the kit's git source (tag and commit) in the split's lockfile.
fn pin_kit_source(lockfile: &Path, kit: &Kit, commit: &str) -> Result<()> {
    let text = std::fs::read_to_string(lockfile)?;
    let entry = format!(
        "[[package]]\nname = \"{KIT}\"\nversion = \"{}\"\n",
        kit.version
    );
    ensure!(
        text.contains(&entry),
        "Cargo.lock has no path entry for {KIT} {}",
        kit.version
    );
    let pinned = format!(
        "{entry}source = \"git+{}?tag={}#{commit}\"\n",
        kit.git,
        kit.tag()
    );
    std::fs::write(lockfile, text.replacen(&entry, &pinned, 1))?;
    Ok(())
}

/// Every package cargo would build in `dir` that comes from a path: each
/// must live inside `dir`.
pub fn assert_self_contained(dir: &Path) -> Result<usize> {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(dir)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .arg("--filter-platform")
        .arg(host_triple()?);
    let output = cmd
        .output()
        .with_context(|| format!("running {}", process::describe(&cmd)))?;
    ensure!(
        output.status.success(),
        "`cargo metadata --locked` in {} failed (is Cargo.lock current?):\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("parsing cargo metadata")?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let mut local = 0;
    for package in metadata["packages"].as_array().into_iter().flatten() {
        if !package["source"].is_null() {
            continue;
        }
        local += 1;
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        ensure!(
            manifest.starts_with(&dir),
            "{} comes from {}, outside the split repository",
            package["name"],
            manifest.display()
        );
    }
    Ok(local)
}

/// How one service's split went.
#[derive(Debug)]
pub struct CheckReport {
    /// The service.
    pub service: String,
    /// Splitting, fetching, checking paths and linting.
    pub prepare: Duration,
    /// `cargo test --offline --locked` (build included).
    pub test: Duration,
}

/// Splits every service into `<target>/xtask/split/<service>/<service>` with
/// the kit vendored, proves it uses no path outside itself, lints its
/// workflow and Dockerfile like `lint-deploy` does, and runs `cargo test
/// --offline --locked` there against `database_url` (dependencies compiled
/// once, in the monorepo's target directory).
pub fn check(root: &Path, database_url: &str, only: &[String]) -> Result<Vec<CheckReport>> {
    let target = workspace::target_dir(root);
    let scratch = target.join("xtask/split");
    let services: Vec<String> = workspace::members(root)?
        .into_iter()
        .filter(|m| m.template.is_some())
        .map(|m| m.package)
        .filter(|p| only.is_empty() || only.contains(p))
        .collect();
    ensure!(!services.is_empty(), "no service to split");
    let moto = crate::infra::pytools::ensure(root, &[&crate::infra::pytools::MOTO])?;
    let mut reports = Vec::new();
    for service in services {
        crate::infra::signals::check()?;
        let began = Instant::now();
        // One parent per service: a test reading `../<sibling>` finds nothing.
        let parent = scratch.join(&service);
        if parent.exists() {
            std::fs::remove_dir_all(&parent)
                .with_context(|| format!("cleaning {}", parent.display()))?;
        }
        let dir = parent.join(&service);
        let split = split(
            root,
            &service,
            &dir,
            &SplitOptions {
                vendor_kit: true,
                kit_git: None,
            },
        )?;
        eprintln!(
            "xtask: split {service} into {} (service-kit {} vendored)",
            dir.display(),
            split.kit.version
        );
        // The first fetch may use the network; everything after is offline.
        let mut fetch = Command::new(cargo());
        fetch
            .current_dir(&dir)
            .args(["fetch", "--locked", "--target"])
            .arg(host_triple()?);
        process::run_ok(&mut fetch).with_context(|| format!("cargo fetch in {service}'s split"))?;
        let local = assert_self_contained(&dir)?;
        eprintln!(
            "xtask: {service}: {local} path package(s), all inside the split; Cargo.lock is current"
        );
        crate::cmd::lint_deploy::lint_split(root, &dir)
            .with_context(|| format!("linting {service}'s split repository"))?;
        let prepared = began.elapsed();

        let mut test = Command::new(cargo());
        test.current_dir(&dir)
            .args(["test", "--offline", "--locked"])
            .env("CARGO_TARGET_DIR", &target)
            .env("DATABASE_URL", database_url)
            // catalog-service's S3 media tests (its workflow installs moto too).
            .env(
                "MOTO_SERVER",
                moto.join(crate::infra::pytools::MOTO.executable),
            );
        sqlx_offline_default(&mut test);
        eprintln!("xtask: ({service}) {}", process::describe(&test));
        process::run_ok(&mut test)
            .with_context(|| format!("cargo test in {service}'s split repository"))?;
        reports.push(CheckReport {
            service,
            prepare: prepared,
            test: began.elapsed() - prepared,
        });
    }
    for r in &reports {
        eprintln!(
            "xtask: split {:<22} prepare {:>5.1}s  cargo test {:>6.1}s",
            r.service,
            r.prepare.as_secs_f64(),
            r.test.as_secs_f64()
        );
    }
    // The scratch repositories are large only through `target/`, which is
    // shared; keep them for inspection.
    Ok(reports)
}

/// [`check`] against `DATABASE_URL`, or a private Postgres started for it.
pub fn check_with_postgres(root: &Path, only: &[String]) -> Result<()> {
    if let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        return check(root, &url, only).map(|_| ());
    }
    let mut cluster = crate::infra::pg::PgCluster::start(root, "split")?;
    let result = check(root, &cluster.superuser_url(), only);
    let stopped = cluster.stop();
    result?;
    stopped
}

/// The pairs (section, dependency) of a manifest that come from a path.
pub fn path_dependencies(manifest: &str) -> Result<BTreeMap<String, String>> {
    let doc: DocumentMut = manifest.parse()?;
    let mut out = BTreeMap::new();
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(table) = doc.get(section).and_then(Item::as_table_like) {
            for (name, item) in table.iter() {
                if let Some(path) = item
                    .as_table_like()
                    .and_then(|t| t.get("path"))
                    .and_then(Item::as_str)
                {
                    out.insert(format!("{section}.{name}"), path.to_owned());
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kit() -> Kit {
        Kit {
            version: "1.2.3".into(),
            git: "https://github.com/shop-fleet/shop".into(),
        }
    }

    const MANIFEST: &str = r#"[package]
name = "order-service"
version = "0.1.0"
edition = "2024"

[dependencies]
anyhow = "1"
service-kit = { path = "../service-kit" }

[dev-dependencies]
service-kit = { path = "../service-kit", features = ["testing"] }
"#;

    fn root_manifest() -> DocumentMut {
        "[workspace]\nmembers = []\n\n[profile.dev]\ndebug = \"line-tables-only\"\n\n[profile.dev.package.argon2]\nopt-level = 3\n"
            .parse()
            .unwrap()
    }

    #[test]
    fn the_kit_becomes_a_tagged_git_dependency_and_the_package_a_workspace_root() -> Result<()> {
        let out = rewrite_manifest(MANIFEST, &root_manifest(), &kit(), false)?;
        let deps = path_dependencies(&out)?;
        assert!(deps.is_empty(), "{deps:?}");
        let doc: DocumentMut = out.parse()?;
        let dep = &doc["dependencies"][KIT];
        assert_eq!(
            dep["git"].as_str(),
            Some("https://github.com/shop-fleet/shop")
        );
        assert_eq!(dep["tag"].as_str(), Some("service-kit-v1.2.3"));
        let dev = &doc["dev-dependencies"][KIT];
        assert_eq!(dev["tag"].as_str(), Some("service-kit-v1.2.3"));
        assert_eq!(dev["features"].as_array().map(|a| a.len()), Some(1));
        assert_eq!(doc["workspace"]["resolver"].as_str(), Some("3"));
        assert_eq!(
            doc["profile"]["dev"]["debug"].as_str(),
            Some("line-tables-only")
        );
        assert!(doc.get("patch").is_none());
        Ok(())
    }

    #[test]
    fn vendoring_patches_the_tag_to_the_copy() -> Result<()> {
        let out = rewrite_manifest(MANIFEST, &root_manifest(), &kit(), true)?;
        let doc: DocumentMut = out.parse()?;
        assert_eq!(
            doc["patch"]["https://github.com/shop-fleet/shop"][KIT]["path"].as_str(),
            Some(VENDOR_DIR)
        );
        assert!(
            out.contains("[patch.\"https://github.com/shop-fleet/shop\"]"),
            "{out}"
        );
        assert_eq!(
            doc["workspace"]["exclude"].as_array().map(|a| a.len()),
            Some(1)
        );
        Ok(())
    }

    #[test]
    fn a_sibling_crate_by_path_cannot_be_split() {
        let manifest = format!("{MANIFEST}catalog-service = {{ path = \"../catalog-service\" }}\n");
        let err = rewrite_manifest(&manifest, &root_manifest(), &kit(), false).unwrap_err();
        assert!(err.to_string().contains("catalog-service"), "{err}");
    }

    #[test]
    fn the_workflow_loses_path_filters_package_selection_and_monorepo_paths() -> Result<()> {
        let root = workspace::root();
        let text = std::fs::read_to_string(root.join(".github/workflows/order-service.yml"))?;
        let out = rewrite_workflow(&text, "order-service")?;
        assert!(!out.contains("paths:"), "{out}");
        assert!(!out.contains("order-service/"), "{out}");
        assert!(out.contains("cargo test --locked"), "{out}");
        assert!(out.contains("file: Dockerfile"), "{out}");
        assert!(out.contains("refs/tags/v"), "{out}");
        // Still a workflow with both jobs.
        assert!(
            out.contains("\njobs:\n") && out.contains("\n  image:\n"),
            "{out}"
        );
        Ok(())
    }

    #[test]
    fn every_service_can_be_rewritten() -> Result<()> {
        let root = workspace::root();
        for member in workspace::members(&root)? {
            if member.template.is_none() {
                continue;
            }
            let service = &member.package;
            let workflow =
                std::fs::read_to_string(root.join(format!(".github/workflows/{service}.yml")))?;
            rewrite_workflow(&workflow, service)?;
            let dockerfile = std::fs::read_to_string(member.dir.join("Dockerfile"))?;
            let out = rewrite_dockerfile(&dockerfile, service)?;
            assert!(!out.contains(&format!("-f {service}/Dockerfile")), "{out}");
            let manifest = std::fs::read_to_string(member.dir.join("Cargo.toml"))?;
            rewrite_manifest(
                &manifest,
                &workspace::read_toml(&root.join("Cargo.toml"))?,
                &Kit::read(&root)?,
                false,
            )?;
        }
        Ok(())
    }

    /// In the monorepo each service's workflow runs on a change to anything
    /// the service builds or tests from: its folder (pinned contracts
    /// included), the kit (its only path dependency), the lockfile and
    /// manifest, and the workflow itself, for pushes and pull requests.
    #[test]
    fn the_monorepo_workflows_filter_on_what_each_service_builds_from() -> Result<()> {
        let root = workspace::root();
        for member in workspace::members(&root)? {
            if member.template.is_none() {
                continue;
            }
            let service = &member.package;
            let manifest = std::fs::read_to_string(member.dir.join("Cargo.toml"))?;
            let deps = path_dependencies(&manifest)?;
            assert!(
                deps.values().all(|p| p == "../service-kit"),
                "{service} depends by path on more than the kit: {deps:?}"
            );
            let workflow =
                std::fs::read_to_string(root.join(format!(".github/workflows/{service}.yml")))?;
            for filter in [
                format!("{service}/**"),
                "service-kit/**".to_owned(),
                "Cargo.lock".to_owned(),
                ".sqlx/**".to_owned(),
                "Cargo.toml".to_owned(),
                format!(".github/workflows/{service}.yml"),
            ] {
                let line = format!("      - \"{filter}\"\n");
                assert_eq!(
                    workflow.matches(&line).count(),
                    2,
                    "{service}.yml: `{filter}` is not a path filter of both push and pull_request"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn the_kit_version_names_the_tag() -> Result<()> {
        let kit = Kit::read(&workspace::root())?;
        assert_eq!(kit.tag(), format!("service-kit-v{}", kit.version));
        assert!(kit.git.starts_with("https://"), "{}", kit.git);
        Ok(())
    }
}
