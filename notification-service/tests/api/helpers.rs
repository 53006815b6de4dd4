//! Spawns the real application on a random port against a fresh database.
#![allow(dead_code)] // Shared by every test module; each uses a different part.

use service_kit::CancellationToken;
use service_kit::testing::{TcpProxy, TestDatabase, TestIssuer, init_tracing};
use sqlx::PgPool;
use uuid::Uuid;

use notification_service::{Application, Settings};

/// The audience tokens for this service carry.
pub const AUDIENCE: &str = env!("CARGO_PKG_NAME");

pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub issuer: TestIssuer,
    pub pool: PgPool,
    pub shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_app() -> TestApp {
    let db = TestDatabase::create(&schema()).await;
    let settings = db.settings();
    spawn_with(settings).await
}

/// The app reaching its database through a proxy the test can cut.
pub async fn spawn_app_behind_proxy() -> (TestApp, TcpProxy) {
    let db = TestDatabase::create(&schema()).await;
    let proxy = TcpProxy::start(db.server_addr()).await;
    let app = spawn_with(db.settings_via(&proxy)).await;
    (app, proxy)
}

async fn spawn_with(database: service_kit::config::DatabaseSettings) -> TestApp {
    init_tracing();
    let issuer = TestIssuer::start().await;
    let mut settings = Settings::load().expect("default settings load");
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.database = database;
    settings.auth = issuer.auth_settings(AUDIENCE);
    let app = Application::build(settings)
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let pool = app.state().pool.clone();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    TestApp {
        address,
        http: reqwest::Client::new(),
        issuer,
        pool,
        shutdown,
    }
}

fn schema() -> String {
    Settings::load()
        .expect("default settings load")
        .database
        .schema
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// A customer's access token for a fresh user.
    pub fn user_token(&self) -> (Uuid, String) {
        let id = Uuid::new_v4();
        (id, self.issuer.user_token(id, AUDIENCE))
    }
}

/// Reads a problem+json body, checking the media type.
pub async fn problem(response: reqwest::Response) -> serde_json::Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.expect("a JSON problem body")
}
