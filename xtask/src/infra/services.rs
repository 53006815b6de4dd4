//! The fleet's services: the one table of them, read from each workspace
//! member's `[package.metadata.template]` (its schema and port; the role is
//! the crate name), as `new-service` writes it and `template-check` keeps it.

use std::path::Path;

use anyhow::{Result, bail};

use crate::infra::workspace;

/// One service of the fleet: names, port, schema and database role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Short name used in prefixes and on the command line (`user`).
    pub short: String,
    /// Cargo package and binary name (`user-service`).
    pub package: String,
    /// HTTP port (`8001`).
    pub port: u16,
    /// Postgres schema the service owns (`users`).
    pub schema: String,
    /// Postgres role that owns the schema (`user_service`).
    pub role: String,
}

/// The service whose JWKS every service verifies tokens with.
pub const JWKS_PROVIDER: &str = "user-service";

impl ServiceSpec {
    /// Builds the spec of a service from its package name, port and schema.
    pub fn new(package: &str, port: u16, schema: &str) -> Self {
        Self {
            short: package
                .strip_suffix("-service")
                .unwrap_or(package)
                .to_owned(),
            package: package.to_owned(),
            port,
            schema: schema.to_owned(),
            role: package.replace('-', "_"),
        }
    }

    /// True if `name` names this service (short or package name).
    pub fn is_named(&self, name: &str) -> bool {
        self.short == name || self.package == name
    }

    /// `http://127.0.0.1:<port>`.
    pub fn local_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Every workspace member with `[package.metadata.template]`, by port (the
/// JWKS provider, user-service on 8001, first). Fails when two share a
/// port or a schema, or a schema or role is not a plain SQL identifier.
pub fn present(root: &Path) -> Result<Vec<ServiceSpec>> {
    let mut specs: Vec<ServiceSpec> = workspace::members(root)?
        .into_iter()
        .filter_map(|m| {
            m.template
                .map(|t| ServiceSpec::new(&m.package, t.port, &t.schema))
        })
        .collect();
    specs.sort_by_key(|s| s.port);
    for (i, spec) in specs.iter().enumerate() {
        check_identifier(&spec.schema)?;
        check_identifier(&spec.role)?;
        if let Some(other) = specs[..i].iter().find(|o| o.port == spec.port) {
            bail!(
                "{} and {} both have port {} in [package.metadata.template]",
                other.package,
                spec.package,
                spec.port
            );
        }
        if let Some(other) = specs[..i].iter().find(|o| o.schema == spec.schema) {
            bail!(
                "{} and {} both have schema `{}` in [package.metadata.template]",
                other.package,
                spec.package,
                spec.schema
            );
        }
    }
    Ok(specs)
}

/// Where the services verify tokens: the JWKS provider's local port.
pub fn jwks_url(specs: &[ServiceSpec]) -> Option<String> {
    specs
        .iter()
        .find(|s| s.package == JWKS_PROVIDER)
        .map(|s| format!("{}/.well-known/jwks.json", s.local_url()))
}

/// The spec of `name` (short or package name) among `specs`.
pub fn find<'a>(specs: &'a [ServiceSpec], name: &str) -> Result<&'a ServiceSpec> {
    match specs.iter().find(|s| s.is_named(name)) {
        Some(spec) => Ok(spec),
        None => bail!(
            "no service `{name}` in this workspace (it has: {})",
            specs
                .iter()
                .map(|s| s.package.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Accepts only plain lowercase SQL identifiers, because names are interpolated into SQL.
pub fn check_identifier(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63;
    if !ok {
        bail!("`{name}` is not a valid schema/role name (use [a-z_][a-z0-9_]*, at most 63 bytes)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace_of(members: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = members.iter().map(|(p, _)| format!("\"{p}\"")).collect();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            format!("[workspace]\nmembers = [{}]\n", names.join(", ")),
        )
        .unwrap();
        for (package, template) in members {
            std::fs::create_dir_all(dir.path().join(package)).unwrap();
            std::fs::write(
                dir.path().join(package).join("Cargo.toml"),
                format!("[package]\nname = \"{package}\"\n{template}"),
            )
            .unwrap();
        }
        dir
    }

    #[test]
    fn the_fleet_is_read_from_this_workspaces_metadata() {
        let specs = present(&workspace::root()).unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.package.as_str()).collect();
        assert_eq!(
            names,
            [
                "user-service",
                "catalog-service",
                "order-service",
                "notification-service"
            ]
        );
        let user = &specs[0];
        assert_eq!(user.short, "user");
        assert_eq!(user.role, "user_service");
        assert_eq!(user.schema, "users");
        assert_eq!(user.port, 8001);
        assert_eq!(
            jwks_url(&specs).as_deref(),
            Some("http://127.0.0.1:8001/.well-known/jwks.json")
        );
        assert_eq!(find(&specs, "order").unwrap().port, 8003);
        assert!(find(&specs, "billing").is_err());
    }

    #[test]
    fn members_without_metadata_are_not_services_and_ports_order_the_rest() {
        let dir = workspace_of(&[
            (
                "zeta-service",
                "[package.metadata.template]\nschema = \"zeta\"\nport = 8005\n",
            ),
            ("some-kit", ""),
            (
                "alpha-service",
                "[package.metadata.template]\nschema = \"alpha\"\nport = \"8001\"\n",
            ),
        ]);
        let specs = present(dir.path()).unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.package.as_str()).collect();
        assert_eq!(names, ["alpha-service", "zeta-service"]);
        assert_eq!(jwks_url(&specs), None);
    }

    #[test]
    fn two_services_on_one_port_or_schema_are_refused() {
        let port = workspace_of(&[
            (
                "a-service",
                "[package.metadata.template]\nschema = \"a\"\nport = 8001\n",
            ),
            (
                "b-service",
                "[package.metadata.template]\nschema = \"b\"\nport = 8001\n",
            ),
        ]);
        let err = present(port.path()).unwrap_err().to_string();
        assert!(err.contains("both have port 8001"), "{err}");
        let schema = workspace_of(&[
            (
                "a-service",
                "[package.metadata.template]\nschema = \"a\"\nport = 8001\n",
            ),
            (
                "b-service",
                "[package.metadata.template]\nschema = \"a\"\nport = 8002\n",
            ),
        ]);
        let err = present(schema.path()).unwrap_err().to_string();
        assert!(err.contains("both have schema `a`"), "{err}");
    }

    #[test]
    fn identifiers_are_checked() {
        assert!(check_identifier("catalog_2").is_ok());
        assert!(check_identifier("Catalog").is_err());
        assert!(check_identifier("a; drop").is_err());
        assert!(check_identifier("").is_err());
    }
}
