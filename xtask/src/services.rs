//! The fleet's services as docs/CONVENTIONS.md defines them.

use std::path::Path;

use anyhow::{Result, bail};

use crate::workspace;

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

/// The table of docs/CONVENTIONS.md: package, port, schema (role = crate name).
const CONVENTIONS: [(&str, u16, &str); 4] = [
    ("user-service", 8001, "users"),
    ("catalog-service", 8002, "catalog"),
    ("order-service", 8003, "orders"),
    ("notification-service", 8004, "notifications"),
];

/// The port of the user service, which serves the JWKS every service verifies tokens with.
pub const JWKS_URL: &str = "http://127.0.0.1:8001/.well-known/jwks.json";

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
}

/// The four services of docs/CONVENTIONS.md.
pub fn conventions() -> Vec<ServiceSpec> {
    CONVENTIONS
        .iter()
        .map(|(package, port, schema)| ServiceSpec::new(package, *port, schema))
        .collect()
}

/// Every service xtask knows: the conventions' four, plus any other workspace
/// member with `[package.metadata.template]` (a service made by `new-service`).
pub fn all(root: &Path) -> Result<Vec<ServiceSpec>> {
    let mut specs = conventions();
    for member in workspace::members(root)? {
        let Some(meta) = member.template else {
            continue;
        };
        if specs.iter().any(|s| s.package == member.package) {
            continue;
        }
        specs.push(ServiceSpec::new(&member.package, meta.port, &meta.schema));
    }
    for spec in &specs {
        check_identifier(&spec.schema)?;
        check_identifier(&spec.role)?;
    }
    Ok(specs)
}

/// Every known service that is a member of the workspace, in conventions order.
pub fn present(root: &Path) -> Result<Vec<ServiceSpec>> {
    let members = workspace::members(root)?;
    Ok(all(root)?
        .into_iter()
        .filter(|s| members.iter().any(|m| m.package == s.package))
        .collect())
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

    #[test]
    fn conventions_match_the_doc() {
        let user = &conventions()[0];
        assert_eq!(user.short, "user");
        assert_eq!(user.role, "user_service");
        assert_eq!(user.schema, "users");
        assert_eq!(user.port, 8001);
    }

    #[test]
    fn identifiers_are_checked() {
        assert!(check_identifier("catalog_2").is_ok());
        assert!(check_identifier("Catalog").is_err());
        assert!(check_identifier("a; drop").is_err());
        assert!(check_identifier("").is_err());
    }
}
