//! Start-up refuses configurations that would be unsafe in production.

use secrecy::SecretString;
use service_kit::testing::{TestDatabase, assert_startup_rules, check_config};
use user_service::tokens::generate_pem;
use user_service::{Application, Settings};

async fn production_like() -> (TestDatabase, Settings) {
    let db = TestDatabase::create("users").await;
    let mut settings = service_kit::service::load_settings::<Application>().unwrap();
    settings.database = db.settings();
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.jwt.generate_dev_key = false;
    (db, settings)
}

#[tokio::test]
async fn without_a_signing_key_a_production_start_fails_naming_the_variable() {
    let (_db, settings) = production_like().await;
    let err = Application::build(settings).await.err().expect("refused");
    assert!(
        format!("{err:#}").contains("APP__JWT__PRIVATE_KEY_PEM"),
        "{err:#}"
    );
}

const BIN: &str = env!("CARGO_BIN_EXE_user-service");

#[test]
fn production_refuses_a_generated_key_and_every_default_empty_or_placeholder_secret() {
    let pem = generate_pem().unwrap();
    let good = [
        ("APP__ENVIRONMENT", "production"),
        (
            "APP__DATABASE__URL",
            "postgres://user_service:Kp2m9Xq4Lr7vWz1s@db.internal:5432/shop",
        ),
        ("APP__JWT__GENERATE_DEV_KEY", "false"),
        ("APP__JWT__PRIVATE_KEY_PEM", pem.as_str()),
        (
            "APP__SERVICE_CLIENTS__ORDER_SERVICE",
            "b7e3c1a9f5d2e8c4a6f0b3d9e1c7a5f2",
        ),
        (
            "APP__SERVICE_CLIENTS__NOTIFICATION_SERVICE",
            "e1d4c7b0a3f6e9d2c5b8a1f4e7d0c3b6",
        ),
    ];
    assert_startup_rules(
        BIN,
        &good,
        &[
            ("APP__JWT__GENERATE_DEV_KEY", None),
            ("APP__JWT__GENERATE_DEV_KEY", Some("true")),
            ("APP__JWT__PRIVATE_KEY_PEM", Some("")),
            (
                "APP__JWT__PRIVATE_KEY_PEM",
                Some("-----BEGIN PRIVATE KEY-----\nREPLACE-ME\n-----END PRIVATE KEY-----"),
            ),
            ("APP__JWT__EXTRA_PRIVATE_KEY_PEM", Some("change-me")),
            ("APP__SERVICE_CLIENTS__ORDER_SERVICE", None),
            ("APP__SERVICE_CLIENTS__ORDER_SERVICE", Some("changeme")),
            ("APP__SERVICE_CLIENTS__NOTIFICATION_SERVICE", Some("")),
            ("APP__SERVICE_CLIENTS__NOTIFICATION_SERVICE", None),
            ("APP__DATABASE__URL", None),
        ],
    );
}

#[test]
fn the_local_defaults_start_locally() {
    let check = check_config(BIN, &[]);
    assert!(check.accepted, "{}", check.output);
}

#[tokio::test]
async fn a_malformed_signing_key_fails_the_start() {
    let (_db, mut settings) = production_like().await;
    settings.jwt.private_key_pem =
        SecretString::from("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----");
    let err = Application::build(settings).await.err().expect("refused");
    assert!(
        format!("{err:#}").contains("jwt.private_key_pem"),
        "{err:#}"
    );
    assert!(
        !format!("{err:#}").contains("nope"),
        "the secret is not echoed"
    );
}
