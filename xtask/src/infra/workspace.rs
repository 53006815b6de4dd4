//! The Cargo workspace: its root, its members and their template metadata.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use toml_edit::{DocumentMut, Item, Value};

/// The workspace root (the parent of the `xtask/` package).
///
/// `XTASK_WORKSPACE_ROOT` overrides it; xtask's own tests use that to run the
/// binary against a fixture workspace.
pub fn root() -> PathBuf {
    if let Some(dir) = std::env::var_os("XTASK_WORKSPACE_ROOT").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest_dir.to_path_buf())
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` or `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Where xtask keeps its own scratch files (Postgres clusters, renders, logs).
pub fn scratch_dir(root: &Path) -> PathBuf {
    target_dir(root).join("xtask")
}

/// The `[package.metadata.template]` table of a service generated from `service-template/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateMeta {
    /// The service's Postgres schema.
    pub schema: String,
    /// The service's HTTP port.
    pub port: u16,
}

/// One workspace member.
#[derive(Debug, Clone)]
pub struct Member {
    /// Absolute path of the member's directory.
    pub dir: PathBuf,
    /// The member's `[package] name`.
    pub package: String,
    /// Its template variables, if it was generated from the service template.
    pub template: Option<TemplateMeta>,
}

/// Reads a TOML file into an editable document.
pub fn read_toml(path: &Path) -> Result<DocumentMut> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.parse::<DocumentMut>()
        .with_context(|| format!("parsing {}", path.display()))
}

/// The `[workspace] members` entries of the root manifest, as written (may be globs).
fn member_entries(root: &Path) -> Result<Vec<String>> {
    let manifest = root.join("Cargo.toml");
    let doc = read_toml(&manifest)?;
    let Some(members) = doc
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(Item::as_array)
    else {
        bail!("{} has no [workspace] members array", manifest.display());
    };
    Ok(members
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect())
}

/// Every workspace member with its package name and template metadata.
pub fn members(root: &Path) -> Result<Vec<Member>> {
    let mut dirs = Vec::new();
    for entry in member_entries(root)? {
        if entry.contains(['*', '?', '[']) {
            dirs.extend(expand_member_glob(root, &entry)?);
        } else {
            dirs.push(root.join(&entry));
        }
    }
    dirs.sort();
    dirs.dedup();
    let mut out = Vec::new();
    for dir in dirs {
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            // Cargo would refuse to build; say so, but keep listing the others.
            eprintln!(
                "xtask: warning: workspace member {} has no Cargo.toml",
                dir.display()
            );
            continue;
        }
        let doc = read_toml(&manifest)?;
        let Some(package) = doc
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(Item::as_str)
        else {
            continue; // A virtual manifest: not a package.
        };
        let template = template_meta(&doc).with_context(|| {
            format!(
                "reading [package.metadata.template] of {}",
                manifest.display()
            )
        })?;
        out.push(Member {
            dir,
            package: package.to_owned(),
            template,
        });
    }
    Ok(out)
}

/// Parses `[package.metadata.template]` (`schema`, `port` as integer or string).
pub fn template_meta(doc: &DocumentMut) -> Result<Option<TemplateMeta>> {
    let Some(table) = doc
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("template"))
    else {
        return Ok(None);
    };
    let schema = table
        .get("schema")
        .and_then(Item::as_str)
        .context("`schema` is missing or not a string")?
        .to_owned();
    let port = match table.get("port").and_then(Item::as_value) {
        Some(Value::Integer(i)) => u16::try_from(*i.value()).ok(),
        Some(Value::String(s)) => s.value().parse::<u16>().ok(),
        _ => None,
    }
    .context("`port` is missing or not a port number")?;
    Ok(Some(TemplateMeta { schema, port }))
}

fn expand_member_glob(root: &Path, pattern: &str) -> Result<Vec<PathBuf>> {
    let glob = globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .with_context(|| format!("invalid workspace member glob `{pattern}`"))?
        .compile_matcher();
    let depth = pattern.split('/').count();
    let mut found = Vec::new();
    let mut frontier = vec![(PathBuf::new(), 0usize)];
    while let Some((rel, level)) = frontier.pop() {
        if level == depth {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.path().is_dir() {
                continue;
            }
            let child = rel.join(entry.file_name());
            if level + 1 == depth && glob.is_match(&child) {
                found.push(root.join(&child));
            }
            frontier.push((child, level + 1));
        }
    }
    Ok(found)
}

/// Appends `member` to `[workspace] members` of the root manifest, keeping its formatting.
pub fn add_member(root: &Path, member: &str) -> Result<()> {
    let manifest = root.join("Cargo.toml");
    let mut doc = read_toml(&manifest)?;
    let members = doc
        .get_mut("workspace")
        .and_then(|w| w.get_mut("members"))
        .and_then(Item::as_array_mut)
        .with_context(|| format!("{} has no [workspace] members array", manifest.display()))?;
    if members.iter().any(|v| v.as_str() == Some(member)) {
        return Ok(());
    }
    // Copy the layout of the existing entries: one per line stays one per line.
    let prefix = members
        .iter()
        .last()
        .and_then(|v| v.decor().prefix())
        .and_then(|p| p.as_str())
        .map(str::to_owned);
    let multiline = prefix.as_deref().is_some_and(|p| p.contains('\n'));
    let mut value = Value::from(member);
    match prefix {
        Some(prefix) => value.decor_mut().set_prefix(prefix),
        None => value.decor_mut().set_prefix(""),
    }
    value.decor_mut().set_suffix("");
    members.push_formatted(value);
    if multiline {
        members.set_trailing_comma(true);
        if !members.trailing().as_str().unwrap_or("").contains('\n') {
            members.set_trailing("\n");
        }
    }
    std::fs::write(&manifest, doc.to_string())
        .with_context(|| format!("writing {}", manifest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_member_keeps_one_entry_per_line() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let original = "# comment\n[workspace]\nresolver = \"3\"\nmembers = [\n    \"service-kit\",\n    \"xtask\",\n]\n\n[profile.dev]\ndebug = false\n";
        std::fs::write(dir.path().join("Cargo.toml"), original)?;
        add_member(dir.path(), "catalog-service")?;
        let text = std::fs::read_to_string(dir.path().join("Cargo.toml"))?;
        assert_eq!(
            text,
            "# comment\n[workspace]\nresolver = \"3\"\nmembers = [\n    \"service-kit\",\n    \"xtask\",\n    \"catalog-service\",\n]\n\n[profile.dev]\ndebug = false\n"
        );
        // Idempotent.
        add_member(dir.path(), "catalog-service")?;
        assert_eq!(
            std::fs::read_to_string(dir.path().join("Cargo.toml"))?,
            text
        );
        Ok(())
    }

    #[test]
    fn add_member_inline_array() -> Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[workspace]\nmembers = [\"a\", \"b\"]\n",
        )?;
        add_member(dir.path(), "c-service")?;
        let text = std::fs::read_to_string(dir.path().join("Cargo.toml"))?;
        assert_eq!(
            text,
            "[workspace]\nmembers = [\"a\", \"b\", \"c-service\"]\n"
        );
        Ok(())
    }

    #[test]
    fn template_meta_accepts_integer_and_string_ports() -> Result<()> {
        let doc: DocumentMut =
            "[package]\nname='x'\n[package.metadata.template]\nschema='catalog'\nport=8002\n"
                .parse()?;
        assert_eq!(
            template_meta(&doc)?,
            Some(TemplateMeta {
                schema: "catalog".into(),
                port: 8002
            })
        );
        let doc: DocumentMut =
            "[package]\nname='x'\n[package.metadata.template]\nschema='c'\nport='8003'\n"
                .parse()?;
        assert_eq!(template_meta(&doc)?.map(|m| m.port), Some(8003));
        Ok(())
    }
}
