//! `cargo xtask fuzz`: schemathesis against every running service's
//! `/openapi.json`, with valid tokens: an administrator's for the public
//! routes and a service token for `/internal`. A run fails on any 5xx and on
//! any response that does not match the documented schema.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::cmd::stack::{Stack, StackOptions};
use crate::infra::pytools;
use crate::infra::workspace;

/// Options of `cargo xtask fuzz` (its command line).
#[derive(Debug, Clone, clap::Args)]
pub struct FuzzOptions {
    /// Build first.
    #[arg(
        long = "no-build",
        action = clap::ArgAction::SetFalse,
        help = "Run the binaries already built"
    )]
    pub build: bool,
    /// Run the release binaries.
    #[arg(
        long = "debug",
        action = clap::ArgAction::SetFalse,
        help = "Use the debug binaries"
    )]
    pub release: bool,
    /// Generated examples per operation.
    #[arg(long, default_value_t = 30)]
    pub max_examples: u32,
    /// Only these services (short or package names); all when empty.
    #[arg(long, help = "Only these services")]
    pub only: Vec<String>,
}

/// The checks every response must pass.
const CHECKS: &str = "not_a_server_error,response_schema_conformance,content_type_conformance";

/// The client each service's internal routes admit, with its local-only
/// secret (user-service's defaults): order-service for catalog's and
/// notification-service's, notification-service for user-service's, and
/// user-service for order-service's (`user_deleted`).
fn caller_of(service: &str) -> (&'static str, &'static str) {
    match service {
        "user-service" => (
            "notification-service",
            "notification_client_secret_local_only",
        ),
        "order-service" => ("user-service", USER_SERVICE_FUZZ_SECRET),
        _ => ("order-service", "order_client_secret_local_only"),
    }
}

/// user-service mints its own service tokens (its outbox) and has no client
/// of the client-credentials grant; the fuzz fleet gives it one, allowed
/// order-service's audience only, so order-service's internal route is
/// fuzzed as its real caller sees it.
const USER_SERVICE_FUZZ_SECRET: &str = "fuzz_user_service_client_secret_local_only";

/// The fuzz fleet's extra environment: the client of
/// [`USER_SERVICE_FUZZ_SECRET`], and the rate limits lifted (schemathesis
/// sends thousands of requests from 127.0.0.1, the token requests of the
/// later services among them; the limits have tests of their own).
fn fuzz_env() -> Vec<(String, String)> {
    let mut env = crate::cmd::stack::unlimited_env();
    env.extend([
        (
            "APP__SERVICE_CLIENTS__USER_SERVICE".into(),
            USER_SERVICE_FUZZ_SECRET.into(),
        ),
        (
            "APP__CLIENT_AUDIENCES__USER_SERVICE".into(),
            "order-service".into(),
        ),
    ]);
    env
}

/// Starts the fleet and fuzzes each service's API.
pub fn run(opts: &FuzzOptions) -> Result<()> {
    let root = workspace::root();
    let bin = pytools::ensure(&root, &[&pytools::SCHEMATHESIS])?;
    let stack = Stack::start(
        &root,
        StackOptions {
            release: opts.release,
            build: opts.build,
            name: "fuzz".into(),
            smtp: false,
            gateway: false,
            env: fuzz_env(),
        },
    )?;
    let result = fuzz_all(&stack, &bin.join("schemathesis"), opts);
    if result.is_err() {
        eprintln!("fuzz: service logs are in {}", stack.logs.display());
    }
    stack.stop()?;
    result
}

fn fuzz_all(stack: &Stack, schemathesis: &std::path::Path, opts: &FuzzOptions) -> Result<()> {
    let mut failed = Vec::new();
    let services: Vec<_> = stack
        .fleet
        .services()
        .filter(|s| opts.only.is_empty() || opts.only.iter().any(|o| s.is_named(o)))
        .cloned()
        .collect();
    for spec in services {
        let base = stack.fleet.base_url(&spec.package)?;
        let document = stack.api.get(&base, "/openapi.json").send()?.body;
        let has_internal = document["paths"]
            .as_object()
            .is_some_and(|paths| paths.keys().any(|p| p.starts_with("/internal/")));
        let mut passes = vec![(
            "public",
            stack.admin_token.clone(),
            "--exclude-path-regex",
            "^/internal/",
        )];
        if has_internal {
            // The client its internal routes admit (each client may get
            // tokens only for the audiences it calls: invalid_scope otherwise).
            let (client, secret) = caller_of(&spec.package);
            let service_token = stack.api.service_token(client, secret, &spec.package)?;
            passes.push((
                "internal",
                service_token,
                "--include-path-regex",
                "^/internal/",
            ));
        }
        for (label, token, filter, regex) in passes {
            let began = Instant::now();
            let status = Command::new(schemathesis)
                .current_dir(&stack.logs)
                .arg("run")
                .arg(format!("{base}/openapi.json"))
                .args(["--url", &base])
                .args(["--checks", CHECKS])
                .args(["--phases", "examples,fuzzing"])
                .args(["--max-examples", &opts.max_examples.to_string()])
                // One worker: with two, hypothesis intermittently crashed
                // while describing a strategy ("AST constructor recursion
                // depth mismatch", CPython 3.11's parser used from threads).
                .args(["--workers", "1"])
                .args(["--request-timeout", "10"])
                .args(["--suppress-health-check", "all"])
                .args(["--mode", "all"])
                .args([filter, regex])
                .args(["-H", &format!("Authorization: Bearer {token}")])
                .status()
                .context("running schemathesis")?;
            let outcome = match status.code() {
                Some(0) => "ok",
                _ => {
                    failed.push(format!("{} ({label})", spec.package));
                    "FAILED"
                }
            };
            println!(
                "fuzz: {outcome:<6} {} {label} in {:.0} s",
                spec.package,
                began.elapsed().as_secs_f64()
            );
        }
    }
    if !failed.is_empty() {
        bail!("schemathesis found problems in: {}", failed.join(", "));
    }
    Ok(())
}
