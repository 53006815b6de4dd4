//! Configuration: the defaults run with no environment at all, and the
//! variables deploy/ sets (compose, Kubernetes) load.

use notification_service::Settings;
use notification_service::config::{DEFAULTS, ProviderKind, SmtpTls};
use notification_service::delivery::channels::Channels;
use secrecy::ExposeSecret;
use std::collections::HashMap;

fn load(vars: &[(&str, &str)]) -> Result<Settings, config::ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    service_kit::config::load_from(
        DEFAULTS,
        None,
        config::Environment::with_prefix("APP").source(Some(map)),
    )
}

#[test]
fn the_defaults_need_no_environment_and_log_every_channel() {
    let settings = load(&[]).unwrap();
    assert_eq!(settings.services.user_url, "http://127.0.0.1:8001");
    assert_eq!(settings.service_auth.client_id, "notification-service");
    assert_eq!(
        settings.service_auth.token_url,
        "http://127.0.0.1:8001/api/v1/auth/token"
    );
    assert_eq!(
        settings.service_auth.client_secret.expose_secret(),
        "notification_client_secret_local_only"
    );
    assert!(settings.smtp.host.is_empty(), "email goes to the log");
    assert_eq!(settings.sms.provider, ProviderKind::Log);
    assert_eq!(settings.push.provider, ProviderKind::Log);
    assert!(settings.delivery.max_attempts > 1);
    Channels::from_settings(&settings).unwrap();
}

/// (The pooled SMTP transport needs a runtime to start its pool.)
#[tokio::test]
async fn the_compose_and_kubernetes_variables_load() {
    let settings = load(&[
        ("APP__SERVICE_AUTH__CLIENT_ID", "notification-service"),
        ("APP__SERVICE_AUTH__CLIENT_SECRET", "s3cret-client"),
        (
            "APP__SERVICE_AUTH__TOKEN_URL",
            "http://user-service:8001/api/v1/auth/token",
        ),
        ("APP__SERVICES__USER_URL", "http://user-service:8001"),
        ("APP__SMTP__HOST", "mailpit"),
        ("APP__SMTP__PORT", "1025"),
        ("APP__SMTP__TLS", "none"),
        ("APP__SMTP__USERNAME", ""),
        ("APP__SMTP__PASSWORD", ""),
        ("APP__SMTP__FROM", "Shop <no-reply@shop.localhost>"),
        ("APP__SMS__PROVIDER", "log"),
        ("APP__PUSH__PROVIDER", "log"),
    ])
    .unwrap();
    assert_eq!(settings.smtp.host, "mailpit");
    assert_eq!(settings.smtp.port, 1025);
    assert_eq!(settings.smtp.tls, SmtpTls::None);
    Channels::from_settings(&settings).unwrap();

    let settings = load(&[
        ("APP__SMTP__HOST", "smtp.example.com"),
        ("APP__SMTP__PORT", "587"),
        ("APP__SMTP__TLS", "starttls"),
        ("APP__SMTP__USERNAME", "mailer"),
        ("APP__SMTP__PASSWORD", "smtp-password-123"),
        ("APP__SMTP__FROM", "Shop <no-reply@example.com>"),
        ("APP__SMS__PROVIDER", "http"),
        ("APP__SMS__BASE_URL", "https://api.twilio.example"),
        ("APP__SMS__ACCOUNT_SID", "AC1"),
        ("APP__SMS__AUTH_TOKEN", "sms-token-123"),
        ("APP__SMS__FROM", "+15550001111"),
        ("APP__PUSH__PROVIDER", "http"),
        ("APP__PUSH__BASE_URL", "https://fcm.example"),
        ("APP__PUSH__SERVER_KEY", "push-key-123"),
        ("APP__DELIVERY__MAX_ATTEMPTS", "5"),
    ])
    .unwrap();
    assert_eq!(settings.smtp.tls, SmtpTls::Starttls);
    assert_eq!(settings.delivery.max_attempts, 5);
    Channels::from_settings(&settings).unwrap();
    // Secrets stay out of debug output.
    let debug = format!("{settings:?}");
    for secret in ["smtp-password-123", "sms-token-123", "push-key-123"] {
        assert!(!debug.contains(secret), "{secret} leaked");
    }
}

#[tokio::test]
async fn bad_values_are_refused_by_name() {
    let err = load(&[("APP__SMTP__TLS", "ssl")]).unwrap_err();
    assert!(err.to_string().contains("tls"), "{err}");
    let err = load(&[("APP__SMTP__HOSTNAME", "x")]).unwrap_err();
    assert!(err.to_string().contains("hostname"), "{err}");
    let settings = load(&[("APP__SMS__PROVIDER", "http")]).unwrap();
    let err = Channels::from_settings(&settings).err().unwrap();
    assert!(err.to_string().contains("sms.base_url"), "{err}");
    let settings = load(&[("APP__SMTP__FROM", "not a mailbox")]).unwrap();
    let err = Channels::from_settings(&settings).err().unwrap();
    assert!(err.to_string().contains("smtp.from"), "{err}");
}

const BIN: &str = env!("CARGO_BIN_EXE_notification-service");

/// What a production deployment gives: real secrets, real providers.
const PRODUCTION: &[(&str, &str)] = &[
    ("APP__ENVIRONMENT", "production"),
    (
        "APP__DATABASE__URL",
        "postgres://notification_service:Vb6n1Qx8Tr3kLm5p@db.internal:5432/shop",
    ),
    (
        "APP__SERVICE_AUTH__CLIENT_SECRET",
        "e1d4c7b0a3f6e9d2c5b8a1f4e7d0c3b6",
    ),
    ("APP__SMTP__HOST", "smtp.mail.internal"),
    ("APP__SMTP__TLS", "starttls"),
    ("APP__SMTP__USERNAME", "shop-mailer"),
    ("APP__SMTP__PASSWORD", "Wq7e2Rt9Yu4iOp1a"),
    ("APP__SMS__PROVIDER", "http"),
    ("APP__SMS__BASE_URL", "https://sms.internal"),
    ("APP__SMS__ACCOUNT_SID", "AC7f3e9d1c5b"),
    ("APP__SMS__AUTH_TOKEN", "c4e8a2f6b0d3e7a1c5f9b2d6"),
    ("APP__PUSH__PROVIDER", "http"),
    ("APP__PUSH__BASE_URL", "https://push.internal"),
    ("APP__PUSH__SERVER_KEY", "AAAAq1w2e3r4t5y6u7i8o9p0"),
];

#[test]
fn production_refuses_log_providers_and_every_default_empty_or_placeholder_secret() {
    service_kit::testing::assert_startup_rules(
        BIN,
        PRODUCTION,
        &[
            ("APP__SMTP__HOST", None),
            ("APP__SMTP__PASSWORD", Some("")),
            ("APP__SMTP__PASSWORD", Some("REPLACE-ME")),
            ("APP__SMS__PROVIDER", Some("log")),
            ("APP__SMS__AUTH_TOKEN", None),
            ("APP__PUSH__PROVIDER", None),
            ("APP__PUSH__SERVER_KEY", Some("your-server-key-example")),
            ("APP__SERVICE_AUTH__CLIENT_SECRET", None),
            ("APP__DATABASE__URL", None),
        ],
    );
}

#[test]
fn a_shop_without_sms_or_push_says_so_explicitly() {
    let mut env: Vec<(&str, &str)> = PRODUCTION
        .iter()
        .copied()
        .filter(|(k, _)| !k.starts_with("APP__SMS__") && !k.starts_with("APP__PUSH__"))
        .collect();
    let refused = service_kit::testing::check_config(BIN, &env);
    assert!(!refused.accepted);
    assert!(
        refused.output.contains("(APP__SMS__PROVIDER)"),
        "{}",
        refused.output
    );
    assert!(
        refused.output.contains("(APP__PUSH__PROVIDER)"),
        "{}",
        refused.output
    );
    env.push(("APP__SMS__ALLOW_LOG_IN_PRODUCTION", "true"));
    env.push(("APP__PUSH__ALLOW_LOG_IN_PRODUCTION", "true"));
    let allowed = service_kit::testing::check_config(BIN, &env);
    assert!(allowed.accepted, "{}", allowed.output);
}

#[test]
fn the_local_defaults_start_locally() {
    let check = service_kit::testing::check_config(BIN, &[]);
    assert!(check.accepted, "{}", check.output);
}
