//! Spawns the real application on a random port against a fresh database.
#![allow(dead_code)] // Shared by every test module; each uses a different part.

pub use service_kit::testing::problem;

use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

use catalog_service::{Application, Settings};
use service_kit::testing::{TcpProxy, TestDatabase};

/// The audience tokens for this service carry.
pub const AUDIENCE: &str = env!("CARGO_PKG_NAME");

/// The kit's running service, plus catalog's own request helpers and the
/// directory its images are stored in (removed with the last replica).
pub struct TestApp {
    app: service_kit::testing::TestApp,
    media: Arc<tempfile::TempDir>,
}

impl std::ops::Deref for TestApp {
    type Target = service_kit::testing::TestApp;

    fn deref(&self) -> &Self::Target {
        &self.app
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The app with settings adjusted by `configure` (short TTLs, a bigger pool).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let media = Arc::new(tempfile::tempdir().expect("a media directory"));
    let path = media.path().to_string_lossy().into_owned();
    let app = service_kit::testing::spawn_configured::<Application>(|settings| {
        settings.media.path = path;
        configure(settings);
    })
    .await;
    TestApp { app, media }
}

/// The app with its database behind a proxy that counts the statement
/// round trips it makes ([`TcpProxy::round_trips`]).
pub async fn spawn_app_via_proxy(
    configure: impl FnOnce(&mut Settings),
) -> (TestApp, Arc<TcpProxy>) {
    let db = TestDatabase::create("catalog").await;
    let proxy = Arc::new(TcpProxy::start(db.server_addr()).await);
    let database = db.settings_via(&proxy);
    let app = spawn_app_with(|settings| {
        settings.database = database;
        configure(settings);
    })
    .await;
    (app, proxy)
}

/// Two replicas on one database, trusting the same issuer (a token works on
/// both), each with its settings adjusted.
pub async fn spawn_replicas(
    configure_a: impl FnOnce(&mut Settings),
    configure_b: impl FnOnce(&mut Settings),
) -> (TestApp, TestApp) {
    let mut database = None;
    let a = spawn_app_with(|settings| {
        configure_a(settings);
        database = Some(settings.database.clone());
    })
    .await;
    let database = database.expect("the first replica's database settings");
    let path = a.media_dir().to_string_lossy().into_owned();
    let b = service_kit::testing::spawn_with_issuer::<Application>(&a.issuer, |settings| {
        settings.media.path = path;
        configure_b(settings);
        settings.database = database;
    })
    .await;
    let media = Arc::clone(&a.media);
    (a, TestApp { app: b, media })
}

impl TestApp {
    /// Where the filesystem backend stores this app's images.
    pub fn media_dir(&self) -> &std::path::Path {
        self.media.path()
    }

    /// Uploads `bytes` as a product image (admin), declared as `content_type`.
    pub async fn upload_image(
        &self,
        product_id: &str,
        bytes: Vec<u8>,
        content_type: &str,
        alt: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.url(&format!("/api/v1/products/{product_id}/images")))
            .bearer_auth(self.admin_token())
            .header("content-type", content_type)
            .body(bytes);
        if let Some(alt) = alt {
            request = request.query(&[("alt", alt)]);
        }
        request.send().await.expect("request sent")
    }

    /// An administrator's access token.
    pub fn admin_token(&self) -> String {
        self.issuer.admin_token(Uuid::new_v4(), AUDIENCE)
    }

    /// order-service's service token.
    pub fn service_token(&self) -> String {
        self.issuer.service_token("order-service", AUDIENCE)
    }

    /// Sends `method path` with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }

    /// POSTs `body` as an admin.
    pub async fn admin_post(&self, path: &str, body: &Value) -> reqwest::Response {
        let token = self.admin_token();
        self.send(reqwest::Method::POST, path, Some(&token), Some(body))
            .await
    }

    /// PATCHes `body` as an admin.
    pub async fn admin_patch(&self, path: &str, body: &Value) -> reqwest::Response {
        let token = self.admin_token();
        self.send(reqwest::Method::PATCH, path, Some(&token), Some(body))
            .await
    }

    /// DELETEs as an admin.
    pub async fn admin_delete(&self, path: &str) -> reqwest::Response {
        let token = self.admin_token();
        self.send(reqwest::Method::DELETE, path, Some(&token), None)
            .await
    }

    /// POSTs `body` to an internal endpoint with order-service's token.
    pub async fn internal_post(&self, path: &str, body: &Value) -> reqwest::Response {
        let token = self.service_token();
        self.send(reqwest::Method::POST, path, Some(&token), Some(body))
            .await
    }

    /// GETs and decodes a JSON body, expecting 200.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), reqwest::StatusCode::OK, "GET {path}");
        response.json().await.expect("a JSON body")
    }

    /// Creates a category (admin) and returns its id.
    pub async fn create_category(&self, slug: &str, parent_id: Option<&str>) -> String {
        let response = self
            .admin_post(
                "/api/v1/categories",
                &json!({"name": slug.replace('-', " "), "slug": slug, "parent_id": parent_id}),
            )
            .await;
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        let category: Value = response.json().await.expect("a category");
        category["id"].as_str().expect("an id").to_owned()
    }

    /// Creates a product (admin) with `stock` units and returns it.
    pub async fn create_product(
        &self,
        category_id: &str,
        sku: &str,
        name: &str,
        price_cents: i64,
        stock: i32,
    ) -> Value {
        let response = self
            .admin_post(
                "/api/v1/products",
                &json!({
                    "sku": sku, "name": name, "description": format!("The {name}."),
                    "price_cents": price_cents, "currency": "EUR",
                    "category_id": category_id, "initial_stock": stock,
                }),
            )
            .await;
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        response.json().await.expect("a product")
    }

    /// A product's `{on_hand, reserved, available}`.
    pub async fn inventory(&self, product_id: &str) -> Value {
        self.get_json(&format!("/api/v1/products/{product_id}/inventory"))
            .await
    }
}
