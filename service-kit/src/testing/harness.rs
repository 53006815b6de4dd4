//! Spawns a real service on a random port against a fresh database, with a
//! token issuer it trusts: what every service's integration tests start from.

use sqlx::PgPool;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{TcpProxy, TestDatabase, TestIssuer, init_tracing};
use crate::config::DatabaseSettings;
use crate::service::{Service, ServiceSettings, load_settings};

/// A running service under test.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// A plain HTTP client.
    pub http: reqwest::Client,
    /// Issues tokens the service trusts (shared by services spawned with
    /// [`spawn_with_issuer`], so one token works across them).
    pub issuer: Arc<TestIssuer>,
    /// The service's own pool (to inspect or break its tables).
    pub pool: PgPool,
    /// The audience tokens for this service carry (its package name).
    pub audience: &'static str,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Spawns `S` with its default settings on a fresh database.
pub async fn spawn<S: Service>() -> TestApp {
    spawn_configured::<S>(|_| {}).await
}

/// Spawns `S` after `configure` has adjusted its settings (fake peers'
/// URLs, short timeouts, ...).
pub async fn spawn_configured<S: Service>(configure: impl FnOnce(&mut S::Settings)) -> TestApp {
    let db = TestDatabase::create(&default_schema::<S>()).await;
    spawn_on::<S>(db.settings(), configure).await
}

/// Spawns `S` trusting an existing issuer (another [`TestApp`]'s), so
/// several services under test accept the same tokens and obtain service
/// tokens for each other from [`TestIssuer::token_url`].
pub async fn spawn_with_issuer<S: Service>(
    issuer: &Arc<TestIssuer>,
    configure: impl FnOnce(&mut S::Settings),
) -> TestApp {
    let db = TestDatabase::create(&default_schema::<S>()).await;
    spawn_on_with::<S>(db.settings(), Arc::clone(issuer), configure).await
}

/// Spawns `count` replicas of `S` on one fresh database, trusting one
/// issuer: what a deployment with several pods looks like, for tests of
/// state that every replica must share (rate limits, sessions).
pub async fn spawn_replicas<S: Service>(
    count: usize,
    configure: impl Fn(&mut S::Settings),
) -> Vec<TestApp> {
    let db = TestDatabase::create(&default_schema::<S>()).await;
    let issuer = Arc::new(TestIssuer::start().await);
    let mut replicas = Vec::with_capacity(count);
    for _ in 0..count {
        replicas.push(spawn_on_with::<S>(db.settings(), Arc::clone(&issuer), &configure).await);
    }
    replicas
}

/// Spawns `S` reaching its database through a proxy the test can cut.
pub async fn spawn_behind_proxy<S: Service>() -> (TestApp, TcpProxy) {
    let db = TestDatabase::create(&default_schema::<S>()).await;
    let proxy = TcpProxy::start(db.server_addr()).await;
    let app = spawn_on::<S>(db.settings_via(&proxy), |_| {}).await;
    (app, proxy)
}

async fn spawn_on<S: Service>(
    database: DatabaseSettings,
    configure: impl FnOnce(&mut S::Settings),
) -> TestApp {
    let issuer = Arc::new(TestIssuer::start().await);
    spawn_on_with::<S>(database, issuer, configure).await
}

async fn spawn_on_with<S: Service>(
    database: DatabaseSettings,
    issuer: Arc<TestIssuer>,
    configure: impl FnOnce(&mut S::Settings),
) -> TestApp {
    init_tracing();
    let mut settings = load_settings::<S>().expect("the default settings load");
    settings.server().host = "127.0.0.1".into();
    settings.server().port = 0;
    *settings.database() = database;
    *settings.auth() = issuer.auth_settings(S::NAME);
    configure(&mut settings);
    let app = S::build(settings).await.expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let pool = app.pool().clone();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    TestApp {
        address,
        http: reqwest::Client::new(),
        issuer,
        pool,
        audience: S::NAME,
        shutdown,
    }
}

fn default_schema<S: Service>() -> String {
    load_settings::<S>()
        .expect("the default settings load")
        .database()
        .schema
        .clone()
}

impl TestApp {
    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// `GET path` without credentials.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// A fresh customer and their access token for this service.
    pub fn user_token(&self) -> (Uuid, String) {
        let id = Uuid::new_v4();
        (id, self.issuer.user_token(id, self.audience))
    }

    /// A fresh administrator and their access token for this service.
    pub fn admin_token(&self) -> (Uuid, String) {
        let id = Uuid::new_v4();
        (id, self.issuer.admin_token(id, self.audience))
    }

    /// A service token of `client_id` for this service.
    pub fn service_token(&self, client_id: &str) -> String {
        self.issuer.service_token(client_id, self.audience)
    }

    /// Stops the service (graceful shutdown).
    pub fn stop(&self) {
        self.shutdown.cancel();
    }
}

/// Reads a problem+json body, checking the media type.
pub async fn problem(response: reqwest::Response) -> serde_json::Value {
    assert_eq!(
        response.headers()["content-type"],
        crate::error::PROBLEM_JSON
    );
    response.json().await.expect("a JSON problem body")
}
