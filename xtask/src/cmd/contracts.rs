//! Pinned provider contracts: a consumer's tests never read a sibling
//! folder. Each consumer keeps a copy of every provider document it checks
//! against, `<consumer>/contracts/<provider>.<document>`, as it would in
//! its own repository; here the copy must equal the provider's committed
//! `<provider>/<document>`, so a provider change is a reviewed update of
//! each consumer's pin (`cargo xtask contracts update`). Documents:
//! `openapi.json` (the API) and `events.json` (the notifications a service
//! sends, with examples, e.g. order-service's order events).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::infra::workspace;

/// The folder of pinned documents inside a consumer.
pub const DIR: &str = "contracts";
/// A pinned OpenAPI document is named `<provider><SUFFIX>`.
pub const SUFFIX: &str = ".openapi.json";
/// The documents a provider publishes for its consumers to pin.
pub const DOCUMENTS: [&str; 2] = ["openapi.json", "events.json"];
/// The command that refreshes every pin.
pub const UPDATE_COMMAND: &str = "cargo xtask contracts update";

/// One consumer's pinned copy of one provider's document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The consumer's package name.
    pub consumer: String,
    /// The provider's package name.
    pub provider: String,
    /// The pinned copy.
    pub path: PathBuf,
    /// The provider's committed document.
    pub source: PathBuf,
}

/// Every pin of every workspace member, sorted by path.
pub fn pins(root: &Path) -> Result<Vec<Pin>> {
    let members = workspace::members(root)?;
    let mut pins = Vec::new();
    for member in &members {
        let dir = member.dir.join(DIR);
        if !dir.is_dir() {
            continue;
        }
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
        {
            let path = entry?.path();
            let Some((provider, document)) =
                path.file_name().and_then(|n| n.to_str()).and_then(|n| {
                    DOCUMENTS
                        .iter()
                        .find_map(|d| n.strip_suffix(&format!(".{d}")).map(|p| (p.to_owned(), *d)))
                })
            else {
                continue;
            };
            let provider = provider.as_str();
            let Some(source) = members.iter().find(|m| m.package == provider) else {
                bail!(
                    "{} pins `{provider}`, which is no workspace member",
                    path.display()
                );
            };
            pins.push(Pin {
                consumer: member.package.clone(),
                provider: provider.to_owned(),
                source: source.dir.join(document),
                path,
            });
        }
    }
    pins.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(pins)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The pins that differ from their provider's document, each with a
/// unified diff (pinned -> provider).
pub fn stale(root: &Path) -> Result<Vec<(Pin, String)>> {
    let mut out = Vec::new();
    for pin in pins(root)? {
        let (pinned, current) = (read(&pin.path)?, read(&pin.source)?);
        if pinned != current {
            let diff = similar::TextDiff::from_lines(&pinned, &current)
                .unified_diff()
                .context_radius(3)
                .header(&relative(root, &pin.path), &relative(root, &pin.source))
                .to_string();
            out.push((pin, diff));
        }
    }
    Ok(out)
}

/// Fails, with each diff and the command to update the pins, when any pin
/// differs from its provider's committed document. Part of `cargo xtask test`.
pub fn check(root: &Path) -> Result<()> {
    let pins = pins(root)?;
    let stale = stale(root)?;
    if stale.is_empty() {
        eprintln!(
            "xtask: {} pinned contract(s) match their providers",
            pins.len()
        );
        return Ok(());
    }
    for (pin, diff) in &stale {
        eprintln!(
            "xtask: {} pins {}'s document, which changed:\n{diff}",
            pin.consumer, pin.provider
        );
    }
    let names: Vec<String> = stale.iter().map(|(p, _)| relative(root, &p.path)).collect();
    bail!(
        "{} pinned contract(s) differ from the provider's committed document: {}. \
         Review the change with each consumer (its contract tests then run against it), \
         then run `{UPDATE_COMMAND}` and commit the pins",
        stale.len(),
        names.join(", ")
    )
}

/// Copies each provider's committed document over every pin of it; returns
/// the pins that changed.
pub fn update(root: &Path) -> Result<Vec<Pin>> {
    let mut changed = Vec::new();
    for (pin, _) in stale(root)? {
        std::fs::copy(&pin.source, &pin.path)
            .with_context(|| format!("writing {}", pin.path.display()))?;
        changed.push(pin);
    }
    Ok(changed)
}

/// Pins `provider`'s current document inside `consumer` (a new pin).
pub fn add(root: &Path, consumer: &str, provider: &str) -> Result<PathBuf> {
    let members = workspace::members(root)?;
    let find = |name: &str| {
        members
            .iter()
            .find(|m| m.package == name)
            .with_context(|| format!("`{name}` is no workspace member"))
    };
    let (consumer_dir, provider_dir) = (&find(consumer)?.dir, &find(provider)?.dir);
    if consumer == provider {
        bail!("a service does not pin its own document");
    }
    let source = provider_dir.join("openapi.json");
    if !source.is_file() {
        bail!("{} does not exist", source.display());
    }
    let dir = consumer_dir.join(DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{provider}{SUFFIX}"));
    std::fs::copy(&source, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace of two services, `order-service` pinning `catalog-service`.
    fn fixture(dir: &Path, catalog_doc: &str) -> Result<()> {
        std::fs::write(
            dir.join("Cargo.toml"),
            "[workspace]\nmembers = [\"catalog-service\", \"order-service\"]\n",
        )?;
        for name in ["catalog-service", "order-service"] {
            std::fs::create_dir_all(dir.join(name))?;
            std::fs::write(
                dir.join(name).join("Cargo.toml"),
                format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\n"),
            )?;
        }
        std::fs::write(dir.join("catalog-service/openapi.json"), catalog_doc)?;
        Ok(())
    }

    const DOC: &str = "{\n  \"paths\": {\n    \"/internal/v1/reservations\": {\n      \"price_cents\": 1\n    }\n  }\n}\n";

    #[test]
    fn a_provider_change_fails_the_check_with_the_diff_and_the_update_command() -> Result<()> {
        let dir = tempfile::tempdir()?;
        fixture(dir.path(), DOC)?;
        let pin = add(dir.path(), "order-service", "catalog-service")?;
        assert_eq!(
            pin,
            dir.path()
                .join("order-service/contracts/catalog-service.openapi.json")
        );
        check(dir.path())?;

        // A breaking change: a field order-service reads is renamed.
        std::fs::write(
            dir.path().join("catalog-service/openapi.json"),
            DOC.replace("price_cents", "unit_price"),
        )?;
        let err = format!("{:#}", check(dir.path()).unwrap_err());
        assert!(
            err.contains("order-service/contracts/catalog-service.openapi.json"),
            "{err}"
        );
        assert!(err.contains(UPDATE_COMMAND), "{err}");
        let stale = stale(dir.path())?;
        assert_eq!(stale.len(), 1);
        assert!(
            stale[0].1.contains("-      \"price_cents\": 1"),
            "{}",
            stale[0].1
        );
        assert!(
            stale[0].1.contains("+      \"unit_price\": 1"),
            "{}",
            stale[0].1
        );

        // The reviewed update makes the pin current again.
        let changed = update(dir.path())?;
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].consumer, "order-service");
        check(dir.path())?;
        assert!(update(dir.path())?.is_empty());
        Ok(())
    }

    #[test]
    fn a_pin_of_an_unknown_provider_is_an_error() -> Result<()> {
        let dir = tempfile::tempdir()?;
        fixture(dir.path(), DOC)?;
        std::fs::create_dir_all(dir.path().join("order-service/contracts"))?;
        std::fs::write(
            dir.path()
                .join("order-service/contracts/payment-service.openapi.json"),
            "{}",
        )?;
        let err = format!("{:#}", check(dir.path()).unwrap_err());
        assert!(err.contains("no workspace member"), "{err}");
        assert!(add(dir.path(), "order-service", "order-service").is_err());
        Ok(())
    }

    /// The real workspace's pins are current (the same check `cargo xtask
    /// test` runs), and each consumer pins what its contract tests read.
    #[test]
    fn the_workspace_pins_are_current() -> Result<()> {
        let root = workspace::root();
        let pins = pins(&root)?;
        let pairs: Vec<(&str, &str)> = pins
            .iter()
            .map(|p| (p.consumer.as_str(), p.provider.as_str()))
            .collect();
        for expected in [
            ("notification-service", "user-service"),
            ("order-service", "catalog-service"),
            ("order-service", "notification-service"),
            ("user-service", "notification-service"),
            ("user-service", "order-service"),
            ("notification-service", "order-service"),
        ] {
            assert!(
                pairs.contains(&expected),
                "{expected:?} not pinned: {pairs:?}"
            );
        }
        check(&root)
    }
}
