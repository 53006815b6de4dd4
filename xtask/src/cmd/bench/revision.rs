//! The two sides of a comparison: the working tree (the candidate) and a
//! git revision (the baseline), each as a workspace with its release
//! binaries and its own xtask.
//!
//! The baseline is checked out with `git worktree add --detach` under
//! `target/xtask/against/<commit>/` and built there with its own target
//! directory (`.../<commit>/target`), so the working tree's build is never
//! touched. A commit never changes, so once its build has succeeded it is
//! reused as it is; the first build starts from a copy of the working tree's
//! compiled release dependencies, which cargo reuses where they match.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd::bench::report::SideInfo;
use crate::infra::services::{self, ServiceSpec};
use crate::infra::{fleet, process, workspace};

/// A workspace whose fleet a benchmark can start.
#[derive(Debug, Clone)]
pub struct Side {
    /// Label, revision and commit, as reported.
    pub info: SideInfo,
    /// The workspace root.
    pub root: PathBuf,
    /// Its cargo target directory (release binaries in `release/`).
    pub target: PathBuf,
    /// The xtask binary built from that workspace: its `up` starts the fleet
    /// with the configuration that revision's services expect.
    pub xtask: PathBuf,
}

/// The working tree, the running xtask's own workspace; builds its release
/// binaries unless `build` is false.
pub fn working_tree(root: &Path, label: &str, build: bool) -> Result<Side> {
    let specs = services::present(root)?;
    if build {
        fleet::build(root, &specs, true)?;
    }
    let target = workspace::target_dir(root);
    check_binaries(&target, &specs)?;
    let commit = git(root, &["rev-parse", "HEAD"])?;
    let dirty = !git(root, &["status", "--porcelain"])?.is_empty();
    Ok(Side {
        info: SideInfo {
            label: label.to_owned(),
            revision: "working tree".into(),
            commit,
            dirty,
        },
        root: root.to_owned(),
        target,
        xtask: std::env::current_exe().context("locating the running xtask binary")?,
    })
}

/// `rev` checked out in its own worktree and built there (or the build kept
/// from an earlier run).
pub fn baseline(root: &Path, rev: &str, label: &str) -> Result<Side> {
    let commit = resolve(root, rev)?;
    let dir = worktree_dir(root, &commit);
    ensure_worktree(root, &dir, &commit)?;
    let target = dir.join("target");
    let specs = services::present(&dir)
        .with_context(|| format!("reading the services of {rev} in {}", dir.display()))?;
    let marker = target.join(BUILT_MARKER);
    // Binaries deleted since (`cargo clean` of that directory) mean a rebuild.
    let xtask_exe = target.join("release/xtask");
    if marker.is_file() && check_binaries(&target, &specs).is_ok() && xtask_exe.is_file() {
        eprintln!(
            "xtask: reusing the build of {rev} ({}) in {}",
            short(&commit),
            dir.display()
        );
    } else {
        seed_dependencies(&workspace::target_dir(root), &target)?;
        eprintln!(
            "xtask: building {rev} ({}) in {}",
            short(&commit),
            dir.display()
        );
        let mut services = fleet::build_command(&dir, &specs, true);
        services.env("CARGO_TARGET_DIR", &target);
        eprintln!("xtask: {}", process::describe(&services));
        process::run_ok(&mut services)?;
        let mut xtask = Command::new(fleet::cargo());
        xtask
            .current_dir(&dir)
            .args(["build", "--release", "-p", "xtask", "--bin", "xtask"])
            .env("CARGO_TARGET_DIR", &target);
        eprintln!("xtask: {}", process::describe(&xtask));
        process::run_ok(&mut xtask)?;
        std::fs::write(&marker, format!("{commit}\n"))
            .with_context(|| format!("writing {}", marker.display()))?;
    }
    check_binaries(&target, &specs)?;
    Ok(Side {
        info: SideInfo {
            label: label.to_owned(),
            revision: rev.to_owned(),
            commit,
            dirty: false,
        },
        root: dir,
        xtask: xtask_exe,
        target,
    })
}

/// Written into the baseline's target directory once its build succeeded.
const BUILT_MARKER: &str = "xtask-against-built";

/// `target/xtask/against/<first 12 hex digits of the commit>`.
pub fn worktree_dir(root: &Path, commit: &str) -> PathBuf {
    workspace::scratch_dir(root)
        .join("against")
        .join(short(commit))
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// The full commit id `rev` names, or an error naming `rev`.
pub fn resolve(root: &Path, rev: &str) -> Result<String> {
    if rev.is_empty() || rev.starts_with('-') {
        bail!("`{rev}` is not a git revision");
    }
    git(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .with_context(|| format!("`{rev}` does not name a commit of this repository"))
}

/// A detached worktree of `commit` at `dir`, created unless one is there already.
fn ensure_worktree(root: &Path, dir: &Path, commit: &str) -> Result<()> {
    if dir.join(".git").exists() {
        match git(dir, &["rev-parse", "HEAD"]) {
            Ok(head) if head == commit => return Ok(()),
            _ => {
                eprintln!(
                    "xtask: {} is not a clean checkout of {}; recreating it",
                    dir.display(),
                    short(commit)
                );
                let _ = git(
                    root,
                    &["worktree", "remove", "--force", &dir.to_string_lossy()],
                );
            }
        }
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    // A worktree directory deleted by hand (`cargo clean`) leaves a stale
    // registration that would refuse the new one.
    git(root, &["worktree", "prune"])?;
    git(
        root,
        &[
            "worktree",
            "add",
            "--detach",
            &dir.to_string_lossy(),
            commit,
        ],
    )
    .map(drop)
}

/// Copies the working tree's compiled release dependencies into a new target
/// directory. Cargo rebuilds whatever does not match (other versions, other
/// features, every workspace member), so this only saves time.
fn seed_dependencies(from: &Path, to: &Path) -> Result<()> {
    let release = from.join("release");
    if to.exists() || !release.join("deps").is_dir() {
        return Ok(());
    }
    let into = to.join("release");
    std::fs::create_dir_all(&into).with_context(|| format!("creating {}", into.display()))?;
    for dir in [".fingerprint", "build", "deps"] {
        let source = release.join(dir);
        if !source.is_dir() {
            continue;
        }
        let mut cp = Command::new("cp");
        cp.arg("-a").arg(&source).arg(&into);
        process::run_ok(&mut cp)
            .with_context(|| format!("copying {} into {}", source.display(), into.display()))?;
    }
    Ok(())
}

fn check_binaries(target: &Path, specs: &[ServiceSpec]) -> Result<()> {
    for spec in specs {
        let exe = target.join("release").join(&spec.package);
        if !exe.is_file() {
            bail!(
                "{} is missing; build it (`cargo build --release -p {}`) or drop --no-build",
                exe.display(),
                spec.package
            );
        }
    }
    Ok(())
}

/// `git <args>` in `dir`; its trimmed stdout, or an error with its stderr.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .context("running git")?;
    if !output.status.success() {
        bail!(
            "`git {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> Result<tempfile::TempDir> {
        let dir = tempfile::tempdir()?;
        let run = |args: &[&str]| git(dir.path(), args);
        run(&["init", "-q"])?;
        std::fs::write(dir.path().join("a.txt"), "one")?;
        run(&["add", "a.txt"])?;
        run(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "one",
        ])?;
        Ok(dir)
    }

    #[test]
    fn revisions_resolve_to_full_commits_and_nonsense_is_refused() -> Result<()> {
        let repo = repo()?;
        let head = resolve(repo.path(), "HEAD")?;
        assert_eq!(head.len(), 40);
        assert_eq!(resolve(repo.path(), "HEAD~0")?, head);
        assert_eq!(resolve(repo.path(), &head[..10])?, head);
        let err = resolve(repo.path(), "no-such-branch").expect_err("unknown rev");
        assert!(format!("{err:#}").contains("`no-such-branch` does not name a commit"));
        assert!(resolve(repo.path(), "--all").is_err());
        assert!(resolve(repo.path(), "").is_err());
        Ok(())
    }

    #[test]
    fn the_worktree_is_created_once_at_the_commit_and_recreated_when_gone() -> Result<()> {
        let repo = repo()?;
        let commit = resolve(repo.path(), "HEAD")?;
        let dir = repo
            .path()
            .join("target/xtask/against")
            .join(short(&commit));
        ensure_worktree(repo.path(), &dir, &commit)?;
        assert_eq!(std::fs::read_to_string(dir.join("a.txt"))?, "one");
        assert_eq!(git(&dir, &["rev-parse", "HEAD"])?, commit);

        // Reused as it is: a file left in it survives.
        std::fs::write(dir.join("kept"), "")?;
        ensure_worktree(repo.path(), &dir, &commit)?;
        assert!(dir.join("kept").exists());

        // Deleted by hand (cargo clean): the stale registration is pruned.
        std::fs::remove_dir_all(&dir)?;
        ensure_worktree(repo.path(), &dir, &commit)?;
        assert_eq!(git(&dir, &["rev-parse", "HEAD"])?, commit);
        Ok(())
    }
}
