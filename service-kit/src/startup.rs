//! Start-up validation: what a service refuses to start with.
//!
//! Every service runs in an [`Environment`] (`APP__ENVIRONMENT`: `local`,
//! the default, `staging` or `production`) and lists its rules as data,
//! [`ServiceSettings::startup_rules`](crate::ServiceSettings::startup_rules):
//! a configuration key and what it must satisfy. The kit adds
//! `database.url` for every service. The kit's command line checks the rules
//! before `serve`, `migrate`, a service's own commands and `check-config`;
//! a service refuses to start naming every offending key with its
//! environment variable, never a value.
//!
//! | rule | `local` | `staging` | `production` |
//! |---|---|---|---|
//! | [`Rule::secret`]: not empty, not a placeholder, not the built-in default | allowed | refused | refused |
//! | [`Rule::secret`] + [`Rule::everywhere`] (a real provider's credential) | refused | refused | refused |
//! | [`Rule::database_url`]: its password is not the built-in default or a placeholder | allowed | refused | refused |
//! | [`Rule::dev_only`]: a development-only switch that is on | allowed | allowed | refused |
//!
//! ```
//! # use secrecy::SecretString;
//! # use service_kit::startup::Rule;
//! # let webhook_secret = SecretString::from("whsec_local_only");
//! # let fake = true;
//! let rules = vec![
//!     Rule::dev_only("payments.provider", fake, "the fake payment provider charges nothing"),
//!     Rule::secret("payments.webhook_secret", &webhook_secret),
//! ];
//! # let _ = rules;
//! ```

use config::{Config, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;

use crate::config::{Environment, KIT_DEFAULTS};

/// Fragments that mark a value as a placeholder wherever they appear
/// (compared case-insensitively, ignoring everything but letters and digits,
/// so `change-me`, `CHANGE_ME` and `changeMe` are one).
const PLACEHOLDER_FRAGMENTS: &[&str] = &[
    "changeme",
    "replaceme",
    "placeholder",
    "example",
    "localonly",
    "dummy",
    "fixme",
    "yoursecret",
];

/// Whole values that are placeholders (too short to look for inside a
/// random secret without false alarms).
const PLACEHOLDER_VALUES: &[&str] = &[
    "secret", "password", "passwd", "todo", "tbd", "xxx", "test", "none", "null", "default",
];

/// One start-up rule: a configuration key and what its value must satisfy.
#[derive(Debug, Clone)]
pub struct Rule {
    key: String,
    check: Check,
    everywhere: bool,
}

/// What a rule checks (secrets stay `SecretString`: `Debug` redacts them).
#[derive(Debug, Clone)]
enum Check {
    Secret(SecretString),
    DatabaseUrl(SecretString),
    DevOnly { on: bool, reason: &'static str },
}

impl Rule {
    /// A secret (`payments.webhook_secret`): in staging and production it
    /// must not be empty, a placeholder (`change-me`, `REPLACE-ME`, `...example...`,
    /// `..._local_only`) or its built-in default.
    pub fn secret(key: impl Into<String>, value: &SecretString) -> Self {
        Self {
            key: key.into(),
            check: Check::Secret(value.clone()),
            everywhere: false,
        }
    }

    /// A database URL: in staging and production its password must not be
    /// the built-in default's, the role name, or a placeholder.
    pub fn database_url(key: impl Into<String>, value: &SecretString) -> Self {
        Self {
            key: key.into(),
            check: Check::DatabaseUrl(value.clone()),
            everywhere: false,
        }
    }

    /// A development-only switch (`payments.provider = "fake"`,
    /// `jwt.generate_dev_key`): refused in production when `on`; `reason`
    /// says why, for the operator.
    pub fn dev_only(key: impl Into<String>, on: bool, reason: &'static str) -> Self {
        Self {
            key: key.into(),
            check: Check::DevOnly { on, reason },
            everywhere: false,
        }
    }

    /// Applies the rule in every environment, `local` included: for the
    /// credentials of a real provider, which no built-in default can serve.
    pub fn everywhere(mut self) -> Self {
        self.everywhere = true;
        self
    }

    /// The dotted configuration key (`payments.webhook_secret`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The environment variable that sets the key (`APP__PAYMENTS__WEBHOOK_SECRET`).
    pub fn variable(&self) -> String {
        variable_of(&self.key)
    }

    fn applies_in(&self, environment: Environment) -> bool {
        if self.everywhere {
            return true;
        }
        match self.check {
            Check::Secret(_) | Check::DatabaseUrl(_) => environment != Environment::Local,
            Check::DevOnly { .. } => environment == Environment::Production,
        }
    }

    /// What is wrong with the value, if anything (never the value itself).
    fn problem(&self, defaults: &Defaults) -> Option<String> {
        match &self.check {
            Check::DevOnly { on, reason } => on.then(|| format!("{reason} (development only)")),
            Check::Secret(value) => {
                secret_problem(value.expose_secret(), defaults.string(&self.key).as_deref())
            }
            Check::DatabaseUrl(value) => {
                database_url_problem(value.expose_secret(), defaults.string(&self.key).as_deref())
            }
        }
    }
}

/// `payments.webhook_secret` -> `APP__PAYMENTS__WEBHOOK_SECRET`.
pub fn variable_of(key: &str) -> String {
    format!("APP__{}", key.replace('.', "__").to_uppercase())
}

fn secret_problem(value: &str, default: Option<&str>) -> Option<String> {
    if value.trim().is_empty() {
        return Some("is empty".into());
    }
    if default.is_some_and(|default| !default.is_empty() && default == value) {
        return Some("still has its built-in default".into());
    }
    is_placeholder(value).then(|| "looks like a placeholder".into())
}

fn database_url_problem(value: &str, default: Option<&str>) -> Option<String> {
    if value.trim().is_empty() {
        return Some("is empty".into());
    }
    if default.is_some_and(|default| default == value) {
        return Some("still has its built-in default".into());
    }
    let Ok(url) = url::Url::parse(value) else {
        return Some("is not a valid URL".into());
    };
    let password = url.password().unwrap_or_default();
    if password.is_empty() {
        // Certificate or cloud IAM authentication need no password.
        return None;
    }
    let default_password = default
        .and_then(|d| url::Url::parse(d).ok())
        .and_then(|d| d.password().map(str::to_owned));
    if default_password.as_deref() == Some(password) || password == url.username() {
        return Some("still has the built-in default password".into());
    }
    is_placeholder(password).then(|| "has a placeholder password".into())
}

/// Whether `value` is an obvious placeholder rather than a real secret.
pub fn is_placeholder(value: &str) -> bool {
    let normalized: String = value
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    PLACEHOLDER_VALUES.contains(&normalized.as_str())
        || PLACEHOLDER_FRAGMENTS
            .iter()
            .any(|fragment| normalized.contains(fragment))
}

/// The built-in defaults (the kit's and the service's), to recognise a
/// secret nobody replaced.
pub struct Defaults(Config);

impl Defaults {
    /// Parses the kit's defaults and `service_defaults` (TOML).
    pub fn load(service_defaults: &str) -> Result<Self, config::ConfigError> {
        Config::builder()
            .add_source(File::from_str(KIT_DEFAULTS, FileFormat::Toml))
            .add_source(File::from_str(service_defaults, FileFormat::Toml))
            .build()
            .map(Self)
    }

    fn string(&self, key: &str) -> Option<String> {
        self.0.get_string(key).ok()
    }
}

/// One refused key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The dotted key.
    pub key: String,
    /// Its environment variable.
    pub variable: String,
    /// What is wrong (never the value).
    pub problem: String,
}

/// Why a service refuses to start: every offending key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct StartupError {
    /// The environment the rules were checked for.
    pub environment: Environment,
    /// The offending keys, in rule order.
    pub violations: Vec<Violation>,
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refusing to start with APP__ENVIRONMENT={}: {} setting(s) refused",
            self.environment,
            self.violations.len()
        )?;
        for v in &self.violations {
            write!(f, "\n  - {} ({}) {}", v.key, v.variable, v.problem)?;
        }
        Ok(())
    }
}

/// Checks `rules` for `environment`, reporting every violation at once.
pub fn check(
    environment: Environment,
    rules: &[Rule],
    defaults: &Defaults,
) -> Result<(), StartupError> {
    let violations: Vec<Violation> = rules
        .iter()
        .filter(|rule| rule.applies_in(environment))
        .filter_map(|rule| {
            rule.problem(defaults).map(|problem| Violation {
                key: rule.key.clone(),
                variable: rule.variable(),
                problem,
            })
        })
        .collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(StartupError {
            environment,
            violations,
        })
    }
}

/// Checks `S`'s settings: the kit's rule (`database.url`) and the service's
/// own, in the configured environment. The kit's command line calls this
/// before running any command.
pub fn validate<S: crate::Service>(settings: &mut S::Settings) -> anyhow::Result<()> {
    use crate::ServiceSettings;
    let defaults = Defaults::load(S::default_config())?;
    let mut rules = vec![Rule::database_url("database.url", &settings.database().url)];
    rules.extend(settings.startup_rules());
    check(settings.environment(), &rules, &defaults)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: &str = r#"
[database]
url = "postgres://order_service:order_service@127.0.0.1:5432/shop"
[payments]
webhook_secret = "whsec_local"
"#;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn problems(environment: Environment, rules: &[Rule]) -> Vec<String> {
        match check(environment, rules, &Defaults::load(DEFAULTS).unwrap()) {
            Ok(()) => Vec::new(),
            Err(err) => err
                .violations
                .into_iter()
                .map(|v| format!("{} {}", v.variable, v.problem))
                .collect(),
        }
    }

    #[test]
    fn secrets_are_refused_when_empty_default_or_placeholder_outside_local() {
        for value in [
            "",
            "  ",
            "whsec_local",
            "change-me",
            "CHANGE_ME",
            "REPLACE-ME",
            "-----BEGIN PRIVATE KEY-----\nREPLACE-ME\n-----END PRIVATE KEY-----",
            "placeholder",
            "sk_example_123",
            "order_client_secret_local_only",
            "secret",
            "Password",
        ] {
            let rules = [Rule::secret("payments.webhook_secret", &secret(value))];
            for environment in [Environment::Staging, Environment::Production] {
                let found = problems(environment, &rules);
                assert_eq!(found.len(), 1, "{value:?} in {environment}: {found:?}");
                assert!(found[0].starts_with("APP__PAYMENTS__WEBHOOK_SECRET "));
            }
            assert!(problems(Environment::Local, &rules).is_empty(), "{value:?}");
        }
        let real = [Rule::secret(
            "payments.webhook_secret",
            &secret("whsec_9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c"),
        )];
        assert!(problems(Environment::Production, &real).is_empty());
    }

    #[test]
    fn a_rule_for_every_environment_applies_locally_too() {
        let rules = [Rule::secret("payments.api_key", &secret("")).everywhere()];
        assert_eq!(
            problems(Environment::Local, &rules),
            ["APP__PAYMENTS__API_KEY is empty"]
        );
    }

    #[test]
    fn dev_only_switches_are_refused_in_production_only() {
        let rules = [
            Rule::dev_only(
                "payments.provider",
                true,
                "the fake provider charges nothing",
            ),
            Rule::dev_only("jwt.generate_dev_key", false, "unused"),
        ];
        assert!(problems(Environment::Local, &rules).is_empty());
        assert!(problems(Environment::Staging, &rules).is_empty());
        assert_eq!(
            problems(Environment::Production, &rules),
            ["APP__PAYMENTS__PROVIDER the fake provider charges nothing (development only)"]
        );
    }

    #[test]
    fn database_urls_need_a_password_of_their_own() {
        let cases = [
            (
                "postgres://order_service:order_service@127.0.0.1:5432/shop",
                Some("still has its built-in default"),
            ),
            (
                "postgres://order_service:order_service@db.internal:5432/shop",
                Some("still has the built-in default password"),
            ),
            (
                "postgres://order_service:order_service_local_only@postgres:5432/shop",
                Some("has a placeholder password"),
            ),
            (
                "postgres://order_service:REPLACE-ME@postgres.example.internal:5432/shop",
                Some("has a placeholder password"),
            ),
            ("not a url", Some("is not a valid URL")),
            ("", Some("is empty")),
            (
                "postgres://order_service:Zq8v3kL1pXw9@db.internal:5432/shop?sslmode=require",
                None,
            ),
            ("postgres://order_service@db.internal:5432/shop", None),
        ];
        for (url, expected) in cases {
            let rules = [Rule::database_url("database.url", &secret(url))];
            let found = problems(Environment::Production, &rules);
            match expected {
                None => assert!(found.is_empty(), "{url}: {found:?}"),
                Some(problem) => {
                    assert_eq!(found, [format!("APP__DATABASE__URL {problem}")], "{url}")
                }
            }
        }
    }

    #[test]
    fn the_error_names_every_key_and_no_value() {
        let rules = [
            Rule::secret(
                "service_clients.order_service",
                &secret("hunter2-change-me"),
            ),
            Rule::dev_only("sms.provider", true, "the log provider sends nothing"),
        ];
        let err = check(
            Environment::Production,
            &rules,
            &Defaults::load(DEFAULTS).unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("APP__ENVIRONMENT=production"), "{err}");
        assert!(
            err.contains("service_clients.order_service (APP__SERVICE_CLIENTS__ORDER_SERVICE)"),
            "{err}"
        );
        assert!(err.contains("sms.provider (APP__SMS__PROVIDER)"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn random_secrets_are_not_placeholders() {
        for value in [
            "3q2+7wAAAAB4bWw=",
            "sk_live_51HxQeRT8n2",
            "Tr0ub4dor&3",
            "whsec_MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQ",
        ] {
            assert!(!is_placeholder(value), "{value}");
        }
    }
}
