use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use service_kit::auth::{AdminUser, AllowedCallers, AuthUser, JwksVerifier, ServiceCaller};
use service_kit::client::{ClientOptions, ServiceClient};
use service_kit::config::{DatabaseSettings, ServerSettings};
use service_kit::ops::Ops;
use service_kit::server::Server;
use service_kit::testing::{TestIssuer, init_tracing};
use service_kit::{ApiError, CancellationToken, Json, Path};
use sqlx::migrate::Migrator;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub static MIGRATOR: Migrator = sqlx::migrate!("tests/kit/migrations");

/// A fresh database with the kit's test tables, and a pool on it.
pub async fn migrated_database() -> (service_kit::testing::TestDatabase, sqlx::PgPool) {
    let db = service_kit::testing::TestDatabase::create("kit").await;
    let settings = db.settings();
    let pool = service_kit::db::connect(&settings, "kit-test").unwrap();
    service_kit::db::migrate(&pool, &settings, &MIGRATOR)
        .await
        .unwrap();
    (db, pool)
}
pub const AUDIENCE: &str = "kit-test-service";

#[derive(Clone)]
pub struct TestState {
    verifier: JwksVerifier,
    downstream: ServiceClient,
}

impl FromRef<TestState> for JwksVerifier {
    fn from_ref(state: &TestState) -> Self {
        state.verifier.clone()
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct Order {
    pub quantity: u32,
    pub note: String,
}

#[utoipa::path(post, path = "/orders", request_body = Order, responses((status = 200, body = Order)))]
async fn create_order(Json(order): Json<Order>) -> Json<Order> {
    Json(order)
}

#[utoipa::path(get, path = "/orders/{id}", params(("id" = uuid::Uuid, Path)), responses((status = 200)))]
async fn get_order(Path(id): Path<uuid::Uuid>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "id": id }))
}

#[utoipa::path(get, path = "/fail", responses((status = 500)))]
async fn fail() -> Result<(), ApiError> {
    Err(ApiError::internal(anyhow::anyhow!(
        "relation \"users\" does not exist: select password_hash from users where email = 'a@b.c'"
    )))
}

#[utoipa::path(get, path = "/panic", responses((status = 500)))]
async fn panics() -> &'static str {
    panic!("secret panic detail")
}

#[utoipa::path(get, path = "/slow", responses((status = 200)))]
async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    "done"
}

#[utoipa::path(get, path = "/me", responses((status = 200)))]
async fn me(user: AuthUser) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "id": user.id }))
}

/// A handler with its own cache policy (the kit must keep it).
#[utoipa::path(get, path = "/cached", responses((status = 200)))]
async fn cached(_user: AuthUser) -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    (
        [(axum::http::header::CACHE_CONTROL, "private, max-age=60")],
        "mine",
    )
}

#[utoipa::path(get, path = "/admin", responses((status = 204)))]
async fn admin(_admin: AdminUser) -> StatusCode {
    StatusCode::NO_CONTENT
}

#[utoipa::path(get, path = "/internal", responses((status = 204)))]
async fn internal(_caller: ServiceCaller) -> StatusCode {
    StatusCode::NO_CONTENT
}

/// An internal route whose author forgot to say who may call it.
#[utoipa::path(get, path = "/internal-undeclared", responses((status = 204)))]
async fn internal_undeclared(_caller: ServiceCaller) -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Calls the downstream with the kit's client, returning what it answered.
#[utoipa::path(get, path = "/relay", responses((status = 200)))]
async fn relay(State(state): State<TestState>) -> Result<String, ApiError> {
    let response = state
        .downstream
        .get("/downstream")
        .send()
        .await
        .map_err(ApiError::unavailable)?;
    Ok(response.status().as_u16().to_string())
}

pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub issuer: TestIssuer,
    pub shutdown: CancellationToken,
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub struct Options {
    pub database: Option<DatabaseSettings>,
    pub downstream: String,
    pub request_timeout_secs: u64,
    pub hsts_max_age_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            database: None,
            downstream: "http://127.0.0.1:9".into(),
            request_timeout_secs: 30,
            hsts_max_age_secs: 0,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    init_tracing();
    let issuer = TestIssuer::start().await;
    let verifier = JwksVerifier::new(&issuer.auth_settings(AUDIENCE)).unwrap();
    let client_options = ClientOptions {
        backoff_base: Duration::from_millis(5),
        ..ClientOptions::default()
    };
    let downstream = ServiceClient::new("downstream", options.downstream, client_options).unwrap();
    let state = TestState {
        verifier,
        downstream,
    };
    let database = options.database.unwrap_or_else(unreachable_database);
    let pool = service_kit::db::connect(&database, "kit-test").unwrap();
    if database.migrate_on_start {
        service_kit::db::migrate(&pool, &database, &MIGRATOR)
            .await
            .unwrap();
    }
    let api = OpenApiRouter::new()
        .routes(routes!(create_order))
        .routes(routes!(get_order))
        .routes(routes!(fail))
        .routes(routes!(panics))
        .routes(routes!(slow))
        .routes(routes!(me))
        .routes(routes!(cached))
        .routes(routes!(admin))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(internal))
                .route_layer(AllowedCallers::only(&["order-service", "user-service"])),
        )
        .routes(routes!(internal_undeclared))
        .routes(routes!(relay))
        .with_state(state);
    let settings = ServerSettings {
        host: "127.0.0.1".into(),
        port: 0,
        request_timeout_secs: options.request_timeout_secs,
        shutdown_timeout_secs: 10,
        cors_allowed_origins: vec!["https://shop.example".into()],
        hsts_max_age_secs: options.hsts_max_age_secs,
    };
    let server = Server::bind(&settings, api, Ops::new(pool, &MIGRATOR))
        .await
        .unwrap();
    let port = server.port();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(server.run(shutdown.clone()));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),

        http: reqwest::Client::new(),
        issuer,
        shutdown,
        server,
    }
}

/// A database nobody listens on: the pool is lazy, so the app still starts.
fn unreachable_database() -> DatabaseSettings {
    DatabaseSettings {
        url: "postgres://nobody:secret@127.0.0.1:9/none"
            .to_owned()
            .into(),
        schema: "kit".into(),
        max_connections: 2,
        min_connections: 0,
        acquire_timeout_secs: 1,
        idle_timeout_secs: 60,
        statement_timeout_secs: 5,
        migrate_on_start: false,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

/// Reads a problem+json body, checking the media type.
pub async fn problem(response: reqwest::Response) -> serde_json::Value {
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    response.json().await.unwrap()
}
