//! `cargo xtask new-service`: render `service-template/` into a new workspace member.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::cmd::template::{TEMPLATE_DIR, Template, TemplateVars};
use crate::infra::services::check_identifier;
use crate::infra::workspace;

/// The gateway's port, never given to a service.
const GATEWAY_PORT: u16 = 8080;
/// The first service port when no service exists yet.
const FIRST_PORT: u16 = 8001;

/// Checks NAME: lowercase kebab-case ending in `-service` (`^[a-z][a-z0-9]*(-[a-z0-9]+)*-service$`).
pub fn validate_name(name: &str) -> Result<()> {
    let ok = name.strip_suffix("-service").is_some_and(|stem| {
        let mut parts = stem.split('-');
        parts.next().is_some_and(|first| {
            first.starts_with(|c: char| c.is_ascii_lowercase())
                && first
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        }) && parts.all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
    });
    if !ok {
        bail!(
            "`{name}` is not a valid service name: use lowercase kebab-case ending in `-service`, \
             e.g. `inventory-service` or `gift-card-service`"
        );
    }
    Ok(())
}

/// The default schema: NAME without `-service`, `-` replaced by `_`.
pub fn default_schema(name: &str) -> String {
    name.strip_suffix("-service")
        .unwrap_or(name)
        .replace('-', "_")
}

/// What `new-service` did, for the caller to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The variables the service was rendered with.
    pub vars: TemplateVars,
    /// How many files were written.
    pub files: usize,
}

/// Renders the template into `<root>/<name>/` and adds it to the workspace members.
pub fn create(root: &Path, name: &str, schema: Option<&str>, port: Option<u16>) -> Result<Created> {
    validate_name(name)?;
    let dest = root.join(name);
    if dest.exists() {
        bail!(
            "{} already exists; pick another name or remove it first",
            dest.display()
        );
    }
    let members = workspace::members(root)?;
    let schema = schema
        .map(str::to_owned)
        .unwrap_or_else(|| default_schema(name));
    check_identifier(&schema)?;
    let taken: Vec<(String, u16, String)> = members
        .iter()
        .filter_map(|m| {
            m.template
                .as_ref()
                .map(|t| (m.package.clone(), t.port, t.schema.clone()))
        })
        .collect();
    if let Some((other, _, _)) = taken.iter().find(|(_, _, s)| *s == schema) {
        bail!("schema `{schema}` already belongs to {other}; pass --schema");
    }
    let port = match port {
        Some(port) => {
            if let Some((other, _, _)) = taken.iter().find(|(_, p, _)| *p == port) {
                bail!("port {port} already belongs to {other}");
            }
            if port == GATEWAY_PORT {
                bail!("port {GATEWAY_PORT} is the gateway's");
            }
            port
        }
        None => {
            let mut port = taken
                .iter()
                .map(|(_, p, _)| *p + 1)
                .max()
                .unwrap_or(FIRST_PORT);
            if port == GATEWAY_PORT {
                port += 1;
            }
            port
        }
    };

    let template = Template::load(&root.join(TEMPLATE_DIR))?;
    let vars = TemplateVars::new(name, &schema, port);
    let rendered = template.render(&vars, &dest);
    let files = match rendered {
        Ok(files) => files,
        Err(err) => {
            // Leave nothing half-made behind.
            let _ = std::fs::remove_dir_all(&dest);
            return Err(err.context(format!("rendering {TEMPLATE_DIR} into {name}/")));
        }
    };
    if !dest.join("Cargo.toml").is_file() {
        let _ = std::fs::remove_dir_all(&dest);
        bail!("the template did not produce a Cargo.toml; {name}/ removed");
    }
    let meta = workspace::template_meta(&workspace::read_toml(&dest.join("Cargo.toml"))?)
        .context("reading the new Cargo.toml")?;
    if meta.as_ref()
        != Some(&workspace::TemplateMeta {
            schema: schema.clone(),
            port,
        })
    {
        eprintln!(
            "xtask: warning: {name}/Cargo.toml lacks [package.metadata.template] schema = \"{schema}\", \
             port = {port}; template-check will not cover it"
        );
    }
    workspace::add_member(root, name).context("adding the service to the workspace")?;
    Ok(Created {
        vars,
        files: files.len(),
    })
}

/// Prints what to do after `new-service`.
pub fn print_next_steps(created: &Created) {
    let TemplateVars {
        project_name: name,
        schema,
        port,
        ..
    } = &created.vars;
    println!(
        "Created {name}/ ({} files) with schema `{schema}` and port {port}, and added it to the workspace.

Next steps:
  1. cargo xtask sqlx prepare        # its queries into .sqlx/ (commit it); again after each SQL or migration change
  2. cargo build -p {name} && cargo test -p {name}
  3. Add it to docs/CONVENTIONS.md (port {port}, schema `{schema}`, role `{role}`).
  4. Route it in the gateway and add it to deploy/ and docker-compose.yml.
  5. cargo xtask up                  # runs it with the rest of the fleet
  6. cargo xtask template-check      # files listed in {TEMPLATE_DIR}/template-owned.txt must stay identical",
        created.files,
        role = name.replace('-', "_"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for ok in [
            "catalog-service",
            "gift-card-service",
            "a2-service",
            "x-1-service",
        ] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "catalog",
            "Catalog-service",
            "-service",
            "catalog--service",
            "2a-service",
            "catalog_service",
            "catalog-service-",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_schemas() {
        assert_eq!(default_schema("gift-card-service"), "gift_card");
        assert_eq!(default_schema("catalog-service"), "catalog");
    }

    #[test]
    fn creates_a_service_that_passes_the_template_check() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path();
        std::fs::write(
            root.join("Cargo.toml"),
            "[workspace]\nresolver = \"3\"\nmembers = [\n    \"xtask\",\n]\n",
        )?;
        std::fs::create_dir_all(root.join("xtask"))?;
        std::fs::write(
            root.join("xtask/Cargo.toml"),
            "[package]\nname = \"xtask\"\n",
        )?;
        crate::cmd::template::tests::write_fixture(&root.join(TEMPLATE_DIR))?;

        let created = create(root, "inventory-service", None, None)?;
        assert_eq!(
            created.vars,
            TemplateVars::new("inventory-service", "inventory", FIRST_PORT)
        );
        let second = create(root, "gift-card-service", None, None)?;
        assert_eq!(second.vars.port, FIRST_PORT + 1);
        assert_eq!(second.vars.schema, "gift_card");
        assert!(
            create(root, "inventory-service", None, None).is_err(),
            "exists"
        );
        assert!(
            create(root, "stock-service", Some("inventory"), None).is_err(),
            "schema taken"
        );
        assert!(
            create(root, "stock-service", None, Some(FIRST_PORT)).is_err(),
            "port taken"
        );

        let manifest = std::fs::read_to_string(root.join("Cargo.toml"))?;
        assert!(
            manifest.contains("    \"inventory-service\",\n    \"gift-card-service\",\n]"),
            "{manifest}"
        );

        assert_eq!(crate::cmd::template::check_workspace(root)?, 0);
        std::fs::write(root.join("gift-card-service/Dockerfile"), "FROM busybox\n")?;
        assert_eq!(crate::cmd::template::check_workspace(root)?, 1);
        Ok(())
    }
}
