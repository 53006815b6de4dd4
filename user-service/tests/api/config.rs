//! Start-up refuses configurations that would be unsafe in production.

use secrecy::SecretString;
use service_kit::testing::TestDatabase;
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

#[tokio::test]
async fn local_default_client_secrets_are_refused_in_production() {
    let (_db, mut settings) = production_like().await;
    settings.jwt.private_key_pem = SecretString::from(generate_pem().unwrap());
    let err = Application::build(settings.clone())
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{err:#}").contains("APP__SERVICE_CLIENTS__"),
        "{err:#}"
    );
    for secret in settings.service_clients.values_mut() {
        *secret = SecretString::from("a-long-random-secret-from-the-vault");
    }
    assert!(Application::build(settings).await.is_ok());
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
