//! Start-up rules, through the real binary's `check-config` with nothing but
//! the given environment.

use service_kit::testing::{assert_startup_rules, check_config};

const BIN: &str = env!("CARGO_BIN_EXE_order-service");

/// What a production deployment gives: real secrets, the real gateway.
const PRODUCTION: &[(&str, &str)] = &[
    ("APP__ENVIRONMENT", "production"),
    (
        "APP__DATABASE__URL",
        "postgres://order_service:Zq8v3kL1pXw9tR4m@db.internal:5432/shop?sslmode=require",
    ),
    (
        "APP__SERVICE_AUTH__CLIENT_SECRET",
        "3f9a1c7e5b2d8f4a6c0e9b1d7a3f5c2e",
    ),
    ("APP__PAYMENTS__PROVIDER", "http"),
    ("APP__PAYMENTS__BASE_URL", "https://payments.internal"),
    ("APP__PAYMENTS__API_KEY", "sk_live_51HxQeRT8n2wq9Lm"),
    (
        "APP__PAYMENTS__WEBHOOK_SECRET",
        "whsec_8d7c6b5a4f3e2d1c0b9a",
    ),
];

#[test]
fn production_refuses_fake_payments_and_every_default_empty_or_placeholder_secret() {
    assert_startup_rules(
        BIN,
        PRODUCTION,
        &[
            ("APP__PAYMENTS__PROVIDER", Some("fake")),
            ("APP__PAYMENTS__PROVIDER", None),
            ("APP__PAYMENTS__WEBHOOK_SECRET", None),
            ("APP__PAYMENTS__WEBHOOK_SECRET", Some("")),
            ("APP__PAYMENTS__WEBHOOK_SECRET", Some("whsec_change-me")),
            ("APP__PAYMENTS__API_KEY", None),
            ("APP__PAYMENTS__API_KEY", Some("sk_placeholder_key")),
            ("APP__SERVICE_AUTH__CLIENT_SECRET", None),
            (
                "APP__SERVICE_AUTH__CLIENT_SECRET",
                Some("order_client_secret_local_only"),
            ),
            ("APP__DATABASE__URL", None),
            (
                "APP__DATABASE__URL",
                Some("postgres://order_service:order_service@db.internal:5432/shop"),
            ),
            (
                "APP__DATABASE__URL",
                Some("postgres://order_service:REPLACE-ME@db.internal:5432/shop"),
            ),
        ],
    );
}

#[test]
fn a_real_gateway_needs_real_credentials_in_every_environment() {
    for environment in ["local", "staging"] {
        let check = check_config(
            BIN,
            &[
                ("APP__ENVIRONMENT", environment),
                ("APP__PAYMENTS__PROVIDER", "http"),
                ("APP__PAYMENTS__WEBHOOK_SECRET", ""),
            ],
        );
        assert!(!check.accepted, "{environment}: {}", check.output);
        assert!(
            check
                .output
                .contains("(APP__PAYMENTS__WEBHOOK_SECRET) is empty")
        );
        assert!(
            check
                .output
                .contains("(APP__PAYMENTS__API_KEY) still has its built-in default")
        );
    }
}

#[test]
fn the_local_defaults_start_locally_and_an_unknown_environment_is_refused() {
    let local = check_config(BIN, &[]);
    assert!(local.accepted, "{}", local.output);
    assert!(local.output.contains("APP__ENVIRONMENT=local"));
    let staging = check_config(BIN, &[("APP__ENVIRONMENT", "staging")]);
    assert!(!staging.accepted, "default secrets are refused in staging");
    assert!(
        !staging.output.contains("APP__PAYMENTS__PROVIDER"),
        "fake payments are fine in staging"
    );
    let typo = check_config(BIN, &[("APP__ENVIRONMENT", "prod")]);
    assert!(!typo.accepted);
    assert!(typo.output.contains("environment"), "{}", typo.output);
}
