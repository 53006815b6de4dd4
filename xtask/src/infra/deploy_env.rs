//! What the Kubernetes overlays give the services, checked on kubectl's
//! rendering (as JSON) in two ways:
//!
//! - [`production_findings`]: nothing made for development reaches the prod
//!   overlay: another environment than `production`, a fake or log
//!   provider, a generated signing key, a local-only default, an empty SMTP
//!   host, a secret written into a ConfigMap or a container's `env`, a Secret
//!   with data rendered into the overlay, a workload that does not take
//!   every key of its service's documented Secret, or a server without
//!   HSTS of a year at least.
//! - [`start_check`]: each service workload (Deployment and migration Job)
//!   gets exactly its container's environment (its ConfigMaps and literals,
//!   every key of its documented Secret filled with a fresh random value)
//!   and the service binary's `check-config` must accept it: a configuration
//!   that `serve` or `migrate` would refuse fails here, naming the key.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::path::Path;
use std::process::Command;

/// One thing wrong with an overlay: the object, the key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `ConfigMap order-service-config-hmbd685dg2`, `Deployment user-service`.
    pub object: String,
    /// The environment variable (or `-` for the object as a whole).
    pub key: String,
    /// What is wrong, never the value of a secret.
    pub problem: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.object, self.key, self.problem)
    }
}

/// Values no production configuration may hold: (what is wrong, whether a
/// `(variable, value)` pair is it).
#[allow(clippy::type_complexity)]
const DEV_ONLY_VALUES: &[(&str, fn(&str, &str) -> bool)] = &[
    (
        "the fake payment provider charges nothing (development only)",
        |k, v| k.ends_with("__PROVIDER") && v.eq_ignore_ascii_case("fake"),
    ),
    ("a log provider sends nothing (development only)", |k, v| {
        k.ends_with("__PROVIDER") && v.eq_ignore_ascii_case("log")
    }),
    (
        "a signing key generated into the database (development only)",
        |k, v| k == "APP__JWT__GENERATE_DEV_KEY" && v.eq_ignore_ascii_case("true"),
    ),
    (
        "without an SMTP host emails are only logged (development only)",
        |k, v| k == "APP__SMTP__HOST" && v.trim().is_empty(),
    ),
    ("a local-only default", |_, v| {
        v.to_ascii_lowercase().contains("_local_only")
    }),
    ("not `production`", |k, v| {
        k == "APP__ENVIRONMENT" && v != "production"
    }),
];

/// The kit's HSTS setting, and the least max-age production may send.
const HSTS: &str = "APP__SERVER__HSTS_MAX_AGE_SECS";
const MIN_HSTS_SECS: u64 = 31_536_000;

/// Variable names that hold secrets even when no documented Secret lists
/// them (so a new secret put into a ConfigMap is still caught).
fn looks_secret(key: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "_SECRET",
        "_PASSWORD",
        "_API_KEY",
        "_TOKEN",
        "_PEM",
        "_SERVER_KEY",
        "DATABASE__URL",
    ];
    SUFFIXES.iter().any(|s| key.ends_with(s)) || key.contains("__SERVICE_CLIENTS__")
}

/// The documented Secrets (`deploy/k8s/base/*/secret.example.yaml`): name
/// to keys and example values.
#[derive(Debug, Default, Clone)]
pub struct DocumentedSecrets(pub BTreeMap<String, BTreeMap<String, String>>);

impl DocumentedSecrets {
    /// From the parsed example Secrets.
    pub fn from_objects(objects: &[Value]) -> Result<Self> {
        let mut secrets = BTreeMap::new();
        for object in objects {
            let name = str_at(object, &["metadata", "name"])
                .context("an example Secret without metadata.name")?;
            let data = object
                .get("stringData")
                .and_then(Value::as_object)
                .with_context(|| format!("example Secret {name} has no stringData"))?;
            let keys = data
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            secrets.insert(name.to_owned(), keys);
        }
        Ok(Self(secrets))
    }

    fn is_secret_key(&self, key: &str) -> bool {
        looks_secret(key) || self.0.values().any(|keys| keys.contains_key(key))
    }
}

/// Where a container's variable comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A ConfigMap's value (`envFrom` or `configMapKeyRef`).
    ConfigMap {
        /// The ConfigMap's name.
        name: String,
        /// The value.
        value: String,
    },
    /// A literal `value:` in the container's `env`.
    Literal(String),
    /// A Secret's key (`envFrom` or `secretKeyRef`).
    Secret {
        /// The Secret's name.
        name: String,
        /// The key in it.
        key: String,
    },
    /// The downward API (`fieldRef`, `resourceFieldRef`).
    Field,
}

/// A service workload's container and the environment Kubernetes gives it.
#[derive(Debug, Clone)]
pub struct Workload {
    /// `Deployment user-service`, `Job user-service-migrate`.
    pub object: String,
    /// The service (`app.kubernetes.io/name`): the binary to run.
    pub service: String,
    /// Every variable, `env` over `envFrom` as Kubernetes resolves them.
    pub env: BTreeMap<String, Source>,
    /// Secrets taken whole by `envFrom` (their keys come from the documented Secret).
    pub secrets_from: Vec<String>,
    /// ConfigMaps or Secrets referenced but not rendered or documented.
    pub missing: Vec<String>,
}

/// The `app.kubernetes.io/component` of the fleet's own binaries: the
/// services (`server`) and their migrations (`migration`). The static web
/// images (api-docs, storefront) are nginx, configured by no `APP__*`.
const SERVICE_COMPONENTS: [&str; 2] = ["server", "migration"];

/// Reads every service Deployment's and Job's first container and what it
/// gets.
pub fn workloads(objects: &[Value], secrets: &DocumentedSecrets) -> Vec<Workload> {
    let config_maps: BTreeMap<&str, &serde_json::Map<String, Value>> = objects
        .iter()
        .filter(|o| kind(o) == "ConfigMap")
        .filter_map(|o| {
            let name = str_at(o, &["metadata", "name"])?;
            let data = o.get("data").and_then(Value::as_object)?;
            Some((name, data))
        })
        .collect();
    let mut found = Vec::new();
    for object in objects {
        let kind = kind(object);
        if kind != "Deployment" && kind != "Job" {
            continue;
        }
        let component = str_at(
            object,
            &["metadata", "labels", "app.kubernetes.io/component"],
        );
        if !component.is_some_and(|c| SERVICE_COMPONENTS.contains(&c)) {
            continue;
        }
        let name = str_at(object, &["metadata", "name"]).unwrap_or("?");
        let service = str_at(object, &["metadata", "labels", "app.kubernetes.io/name"])
            .unwrap_or(name)
            .to_owned();
        let Some(container) = object
            .pointer("/spec/template/spec/containers/0")
            .and_then(Value::as_object)
        else {
            continue;
        };
        let mut workload = Workload {
            object: format!("{kind} {name}"),
            service,
            env: BTreeMap::new(),
            secrets_from: Vec::new(),
            missing: Vec::new(),
        };
        for from in container
            .get("envFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(cm) = str_at(from, &["configMapRef", "name"]) {
                match config_maps.get(cm) {
                    Some(data) => {
                        for (key, value) in data.iter() {
                            workload.env.insert(
                                key.clone(),
                                Source::ConfigMap {
                                    name: cm.to_owned(),
                                    value: value.as_str().unwrap_or_default().to_owned(),
                                },
                            );
                        }
                    }
                    None => workload.missing.push(format!("ConfigMap {cm}")),
                }
            }
            if let Some(secret) = str_at(from, &["secretRef", "name"]) {
                match secrets.0.get(secret) {
                    Some(keys) => {
                        for key in keys.keys() {
                            workload.env.insert(
                                key.clone(),
                                Source::Secret {
                                    name: secret.to_owned(),
                                    key: key.clone(),
                                },
                            );
                        }
                    }
                    None => workload.missing.push(format!(
                        "Secret {secret} (no secret.example.yaml documents it)"
                    )),
                }
                workload.secrets_from.push(secret.to_owned());
            }
        }
        for var in container
            .get("env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(key) = var.get("name").and_then(Value::as_str) else {
                continue;
            };
            let source = if let Some(value) = var.get("value").and_then(Value::as_str) {
                Source::Literal(value.to_owned())
            } else if let (Some(secret), Some(secret_key)) = (
                str_at(var, &["valueFrom", "secretKeyRef", "name"]),
                str_at(var, &["valueFrom", "secretKeyRef", "key"]),
            ) {
                if !secrets
                    .0
                    .get(secret)
                    .is_some_and(|keys| keys.contains_key(secret_key))
                {
                    workload
                        .missing
                        .push(format!("key {secret_key} of Secret {secret}"));
                }
                Source::Secret {
                    name: secret.to_owned(),
                    key: secret_key.to_owned(),
                }
            } else if let (Some(cm), Some(cm_key)) = (
                str_at(var, &["valueFrom", "configMapKeyRef", "name"]),
                str_at(var, &["valueFrom", "configMapKeyRef", "key"]),
            ) {
                match config_maps.get(cm).and_then(|data| data.get(cm_key)) {
                    Some(value) => Source::ConfigMap {
                        name: cm.to_owned(),
                        value: value.as_str().unwrap_or_default().to_owned(),
                    },
                    None => {
                        workload
                            .missing
                            .push(format!("key {cm_key} of ConfigMap {cm}"));
                        continue;
                    }
                }
            } else {
                Source::Field
            };
            workload.env.insert(key.to_owned(), source);
        }
        found.push(workload);
    }
    found
}

/// Everything development-only that reaches a production rendering.
pub fn production_findings(objects: &[Value], secrets: &DocumentedSecrets) -> Vec<Finding> {
    let mut findings = Vec::new();
    let dev_only = |object: &str, key: &str, value: &str, findings: &mut Vec<Finding>| {
        for (problem, matches) in DEV_ONLY_VALUES {
            if matches(key, value) {
                findings.push(Finding {
                    object: object.to_owned(),
                    key: key.to_owned(),
                    problem: (*problem).to_owned(),
                });
            }
        }
    };
    for object in objects {
        let name = str_at(object, &["metadata", "name"]).unwrap_or("?");
        match kind(object) {
            "Secret" => findings.push(Finding {
                object: format!("Secret {name}"),
                key: "-".into(),
                problem: "a Secret with its data is part of the overlay; the operator creates \
                          Secrets (secret.example.yaml), the overlay only references them"
                    .into(),
            }),
            "ConfigMap" => {
                let label = format!("ConfigMap {name}");
                let data = object.get("data").and_then(Value::as_object);
                for (key, value) in data.into_iter().flatten() {
                    let value = value.as_str().unwrap_or_default();
                    if secrets.is_secret_key(key) {
                        findings.push(Finding {
                            object: label.clone(),
                            key: key.clone(),
                            problem: "a secret written into a ConfigMap (it belongs in the \
                                      service's Secret)"
                                .into(),
                        });
                    }
                    dev_only(&label, key, value, &mut findings);
                }
            }
            _ => {}
        }
    }
    for workload in workloads(objects, secrets) {
        for missing in &workload.missing {
            findings.push(Finding {
                object: workload.object.clone(),
                key: "-".into(),
                problem: format!("references {missing}, which is neither rendered nor documented"),
            });
        }
        match workload.env.get("APP__ENVIRONMENT") {
            None => findings.push(Finding {
                object: workload.object.clone(),
                key: "APP__ENVIRONMENT".into(),
                problem: "not set, so the service runs as `local`".into(),
            }),
            Some(Source::Secret { .. } | Source::Field) => findings.push(Finding {
                object: workload.object.clone(),
                key: "APP__ENVIRONMENT".into(),
                problem: "must be a plain value (`production`)".into(),
            }),
            Some(_) => {}
        }
        if workload.object.starts_with("Deployment ") {
            let hsts = match workload.env.get(HSTS) {
                Some(Source::ConfigMap { value, .. } | Source::Literal(value)) => {
                    value.parse::<u64>().unwrap_or(0)
                }
                _ => 0,
            };
            if hsts < MIN_HSTS_SECS {
                findings.push(Finding {
                    object: workload.object.clone(),
                    key: HSTS.into(),
                    problem: format!(
                        "Strict-Transport-Security needs a max-age of a year at least \
                         ({MIN_HSTS_SECS})"
                    ),
                });
            }
        }
        for (key, source) in &workload.env {
            if let Source::Literal(value) = source {
                if secrets.is_secret_key(key) && !value.is_empty() {
                    findings.push(Finding {
                        object: workload.object.clone(),
                        key: key.clone(),
                        problem: "a literal secret in the container's env (reference the \
                                  service's Secret instead)"
                            .into(),
                    });
                }
                dev_only(&workload.object, key, value, &mut findings);
            }
        }
        let own = format!("{}-secrets", workload.service);
        if let Some(keys) = secrets.0.get(&own) {
            for key in keys.keys() {
                let from_secret = matches!(
                    workload.env.get(key),
                    Some(Source::Secret { name, .. }) if *name == own
                );
                if !from_secret {
                    findings.push(Finding {
                        object: workload.object.clone(),
                        key: key.clone(),
                        problem: format!("not taken from the Secret {own}"),
                    });
                }
            }
        }
    }
    findings
}

/// A fresh value for a documented Secret key: the example with every
/// `REPLACE-ME` replaced by random hex (an empty example stays empty: that
/// key is optional).
fn fill(example: &str) -> String {
    if example.trim().is_empty() {
        return String::new();
    }
    let random = || {
        let state = RandomState::new();
        format!(
            "{:016x}{:016x}",
            state.hash_one(example),
            state.hash_one(std::time::Instant::now())
        )
    };
    if example.contains("REPLACE-ME") {
        example.replace("REPLACE-ME", &random())
    } else {
        random()
    }
}

/// The environment a workload's container gets, Secret keys filled.
pub fn container_env(workload: &Workload, secrets: &DocumentedSecrets) -> Vec<(String, String)> {
    workload
        .env
        .iter()
        .map(|(key, source)| {
            let value = match source {
                Source::ConfigMap { value, .. } | Source::Literal(value) => value.clone(),
                Source::Secret { name, key } => secrets
                    .0
                    .get(name)
                    .and_then(|keys| keys.get(key))
                    .map(|example| fill(example))
                    .unwrap_or_default(),
                Source::Field => "lint-downward-api".into(),
            };
            (key.clone(), value)
        })
        .collect()
}

/// Runs `<bin_dir>/<service> check-config` with exactly each workload's
/// environment; fails naming every workload refused, with what the service said.
pub fn start_check(
    objects: &[Value],
    secrets: &DocumentedSecrets,
    bin_dir: &Path,
) -> Result<String> {
    let workloads = workloads(objects, secrets);
    if workloads.is_empty() {
        bail!("the overlay renders no Deployment or Job");
    }
    let mut refused = Vec::new();
    for workload in &workloads {
        let binary = bin_dir.join(&workload.service);
        if !binary.is_file() {
            bail!(
                "{}: no binary {} (build the services first)",
                workload.object,
                binary.display()
            );
        }
        let output = Command::new(&binary)
            .arg("check-config")
            .env_clear()
            .envs(container_env(workload, secrets))
            .output()
            .with_context(|| format!("running {}", binary.display()))?;
        if !output.status.success() {
            let mut said = String::from_utf8_lossy(&output.stdout).into_owned();
            said.push_str(&String::from_utf8_lossy(&output.stderr));
            refused.push(format!(
                "{} refuses to start:\n{}",
                workload.object,
                said.trim_end()
            ));
        }
    }
    if !refused.is_empty() {
        bail!("{}", refused.join("\n"));
    }
    Ok(format!(
        "{} workloads accepted by check-config",
        workloads.len()
    ))
}

fn kind(object: &Value) -> &str {
    object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(*key))
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secrets() -> DocumentedSecrets {
        DocumentedSecrets::from_objects(&[json!({
            "kind": "Secret",
            "metadata": {"name": "order-service-secrets"},
            "stringData": {
                "APP__DATABASE__URL": "postgres://order_service:REPLACE-ME@db:5432/shop",
                "APP__PAYMENTS__WEBHOOK_SECRET": "REPLACE-ME",
                "APP__JWT__EXTRA_PRIVATE_KEY_PEM": "",
            },
        })])
        .unwrap()
    }

    /// The shape of today's (before the fix) prod overlay for order-service.
    fn overlay(config: Value, job_env: Value) -> Vec<Value> {
        vec![
            json!({"kind": "ConfigMap", "metadata": {"name": "order-service-config-abc"}, "data": config}),
            json!({
                "kind": "Deployment",
                "metadata": {"name": "order-service", "labels": {"app.kubernetes.io/name": "order-service", "app.kubernetes.io/component": "server"}},
                "spec": {"template": {"spec": {"containers": [{
                    "envFrom": [
                        {"configMapRef": {"name": "order-service-config-abc"}},
                        {"secretRef": {"name": "order-service-secrets"}},
                    ],
                    "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                }]}}},
            }),
            json!({
                "kind": "Job",
                "metadata": {"name": "order-service-migrate", "labels": {"app.kubernetes.io/name": "order-service", "app.kubernetes.io/component": "migration"}},
                "spec": {"template": {"spec": {"containers": [{
                    "envFrom": [{"configMapRef": {"name": "order-service-config-abc"}}],
                    "env": job_env,
                }]}}},
            }),
        ]
    }

    fn described(findings: &[Finding]) -> Vec<String> {
        findings
            .iter()
            .map(|f| format!("{} {}", f.object, f.key))
            .collect()
    }

    #[test]
    fn todays_overlay_is_refused_naming_object_and_key() {
        let objects = overlay(
            json!({"APP__PAYMENTS__PROVIDER": "fake", "RUST_LOG": "info"}),
            json!([{"name": "APP__DATABASE__URL", "valueFrom": {"secretKeyRef": {"name": "order-service-secrets", "key": "APP__DATABASE__URL"}}}]),
        );
        let findings = described(&production_findings(&objects, &secrets()));
        assert_eq!(
            findings,
            [
                "ConfigMap order-service-config-abc APP__PAYMENTS__PROVIDER",
                "Deployment order-service APP__ENVIRONMENT",
                "Deployment order-service APP__SERVER__HSTS_MAX_AGE_SECS",
                "Job order-service-migrate APP__ENVIRONMENT",
                "Job order-service-migrate APP__JWT__EXTRA_PRIVATE_KEY_PEM",
                "Job order-service-migrate APP__PAYMENTS__WEBHOOK_SECRET",
            ]
        );
    }

    #[test]
    fn a_production_overlay_passes() {
        let objects = overlay(
            json!({
                "APP__ENVIRONMENT": "production",
                "APP__PAYMENTS__PROVIDER": "http",
                "APP__SERVER__HSTS_MAX_AGE_SECS": "63072000",
            }),
            json!([]),
        );
        let mut objects = objects;
        objects[2]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
            .as_array_mut()
            .unwrap()
            .push(json!({"secretRef": {"name": "order-service-secrets"}}));
        assert_eq!(production_findings(&objects, &secrets()), []);
    }

    #[test]
    fn secrets_in_config_maps_or_literals_and_rendered_secrets_are_refused() {
        let mut objects = overlay(
            json!({
                "APP__ENVIRONMENT": "production",
                "APP__PAYMENTS__WEBHOOK_SECRET": "whsec_real",
                "APP__SOMETHING__API_KEY": "k",
                "APP__SMS__PROVIDER": "log",
                "APP__JWT__GENERATE_DEV_KEY": "true",
                "APP__SERVICE_AUTH__TOKEN_URL": "http://x/order_client_secret_local_only",
            }),
            json!([{"name": "APP__DATABASE__URL", "value": "postgres://u:p@db/shop"}]),
        );
        objects.push(json!({"kind": "Secret", "metadata": {"name": "leaked"}, "data": {}}));
        let findings = described(&production_findings(&objects, &secrets()));
        for expected in [
            "ConfigMap order-service-config-abc APP__PAYMENTS__WEBHOOK_SECRET",
            "ConfigMap order-service-config-abc APP__SOMETHING__API_KEY",
            "ConfigMap order-service-config-abc APP__SMS__PROVIDER",
            "ConfigMap order-service-config-abc APP__JWT__GENERATE_DEV_KEY",
            "ConfigMap order-service-config-abc APP__SERVICE_AUTH__TOKEN_URL",
            "Job order-service-migrate APP__DATABASE__URL",
            "Secret leaked -",
        ] {
            assert!(
                findings.iter().any(|f| f == expected),
                "{expected} missing from {findings:#?}"
            );
        }
    }

    #[test]
    fn secret_keys_are_filled_with_fresh_values_and_env_overrides_env_from() {
        let objects = overlay(
            json!({"APP__ENVIRONMENT": "production", "RUST_LOG": "info"}),
            json!([{"name": "RUST_LOG", "value": "debug"}]),
        );
        let secrets = secrets();
        let all = workloads(&objects, &secrets);
        let env: BTreeMap<String, String> = container_env(&all[0], &secrets).into_iter().collect();
        assert!(!env["APP__DATABASE__URL"].contains("REPLACE-ME"));
        assert!(env["APP__DATABASE__URL"].starts_with("postgres://order_service:"));
        assert_ne!(env["APP__PAYMENTS__WEBHOOK_SECRET"], "REPLACE-ME");
        assert_eq!(
            env["APP__JWT__EXTRA_PRIVATE_KEY_PEM"], "",
            "optional keys stay empty"
        );
        assert_eq!(env["POD_NAME"], "lint-downward-api");
        let job: BTreeMap<String, String> = container_env(&all[1], &secrets).into_iter().collect();
        assert_eq!(job["RUST_LOG"], "debug");
    }
}
