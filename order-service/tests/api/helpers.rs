//! The kit's harness spawns this service on a random port against a fresh
//! database, trusting a test token issuer; here: HTTP fakes of its providers
//! checked against the documents pinned in `contracts/` (catalog-service:
//! [`FakeCatalog`]; notification-service: [`FakeNotifications`]), a fake
//! payment gateway, and request helpers. No sibling crate: order-service's
//! tests run the same in its own repository (`cargo xtask split`); the
//! real services talking to each other are `cargo xtask e2e`.
// Feature test modules each use a different part.
#![allow(dead_code, unused_imports)]

pub use crate::fake_catalog::FakeCatalog;
pub use service_kit::testing::{TcpProxy, TestApp, TestIssuer, problem};

use axum::Router;
use axum::extract::{Path as AxPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use order_service::config::{FaultAction, SagaStep};
use order_service::{AppState, Application, Settings};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use uuid::Uuid;

pub async fn spawn_app() -> TestApp {
    service_kit::testing::spawn::<Application>().await
}

/// Starts an axum router on a free local port.
async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// notification-service's document as order-service pins it.
static NOTIFICATIONS_CONTRACT: std::sync::LazyLock<service_kit::testing::contract::Provider> =
    std::sync::LazyLock::new(|| {
        service_kit::testing::contract::Provider::load(
            "contracts/notification-service.openapi.json",
        )
    });

type NotificationState = (Arc<Mutex<Vec<Value>>>, Arc<AtomicBool>, Arc<Mutex<usize>>);

/// A stand-in for notification-service: records every body it accepts
/// (deduplicated by `event_id` like the real one) after checking it against
/// the pinned document (`contracts/notification-service.openapi.json`), or
/// answers 503 while down.
#[derive(Clone)]
pub struct FakeNotifications {
    pub url: String,
    received: Arc<Mutex<Vec<Value>>>,
    down: Arc<AtomicBool>,
    attempts: Arc<Mutex<usize>>,
}

impl FakeNotifications {
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(AtomicBool::new(false));
        let attempts = Arc::new(Mutex::new(0));
        let state = (received.clone(), down.clone(), attempts.clone());
        let router = Router::new()
            .route(
                "/internal/v1/notifications",
                post(
                    |State((received, down, attempts)): State<NotificationState>,
                     headers: HeaderMap,
                     axum::Json(body): axum::Json<Value>| async move {
                        *attempts.lock().unwrap() += 1;
                        if down.load(Ordering::SeqCst) {
                            return StatusCode::SERVICE_UNAVAILABLE.into_response();
                        }
                        if !headers.contains_key("authorization") {
                            return StatusCode::UNAUTHORIZED.into_response();
                        }
                        // What the pinned document accepts, or a 500 naming the difference.
                        let errors = NOTIFICATIONS_CONTRACT.validate_request(
                            "POST",
                            "/internal/v1/notifications",
                            &body,
                        );
                        if !errors.is_empty() {
                            eprintln!(
                                "fake notification-service: not in the pinned contract: {errors:?}"
                            );
                            return (StatusCode::INTERNAL_SERVER_ERROR, errors.join("; "))
                                .into_response();
                        }
                        let mut list = received.lock().unwrap();
                        if !list.iter().any(|b| b["event_id"] == body["event_id"]) {
                            list.push(body);
                        }
                        (
                            StatusCode::ACCEPTED,
                            axum::Json(json!({"id": Uuid::new_v4(), "deliveries": []})),
                        )
                            .into_response()
                    },
                ),
            )
            .with_state(state);
        let addr = serve(router).await;
        Self {
            url: format!("http://{addr}"),
            received,
            down,
            attempts,
        }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Every delivery attempt (also the refused ones).
    pub fn attempts(&self) -> usize {
        *self.attempts.lock().unwrap()
    }

    /// Accepted events of `template`.
    pub fn events(&self, template: &str) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b["template"] == template)
            .cloned()
            .collect()
    }

    /// Waits until `n` events of `template` arrived (panics after 10 s).
    pub async fn wait_for(&self, template: &str, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let events = self.events(template);
            if events.len() >= n {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "expected {n} {template} events, got {:?}",
            self.events(template)
        );
    }
}

/// How the fake payment gateway behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum GatewayMode {
    Normal = 0,
    Fail500 = 1,
    Slow = 2,
    /// Charges, then answers 500 (the answer is lost, the money is taken).
    ChargeThenFail = 3,
}

/// A Stripe-like payment gateway: `POST /v1/charges` (idempotent on the
/// `Idempotency-Key`), `GET /v1/charges/{order_id}`, `POST /v1/refunds`.
#[derive(Clone)]
pub struct FakeGateway {
    pub url: String,
    pub api_key: String,
    mode: Arc<AtomicU8>,
    charges: Arc<Mutex<HashMap<String, Value>>>,
    charge_calls: Arc<Mutex<usize>>,
}

type GatewayState = (
    Arc<AtomicU8>,
    Arc<Mutex<HashMap<String, Value>>>,
    Arc<Mutex<usize>>,
    String,
);

impl FakeGateway {
    pub async fn start() -> Self {
        let api_key = "sk_test_gateway".to_owned();
        let mode = Arc::new(AtomicU8::new(0));
        let charges = Arc::new(Mutex::new(HashMap::new()));
        let charge_calls = Arc::new(Mutex::new(0));
        let state: GatewayState = (
            mode.clone(),
            charges.clone(),
            charge_calls.clone(),
            api_key.clone(),
        );
        let router = Router::new()
            .route("/v1/charges", post(gateway_charge))
            .route("/v1/charges/{order_id}", get(gateway_status))
            .route("/v1/refunds", post(gateway_refund))
            .with_state(state);
        let addr = serve(router).await;
        Self {
            url: format!("http://{addr}"),
            api_key,
            mode,
            charges,
            charge_calls,
        }
    }

    pub fn set_mode(&self, mode: GatewayMode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    pub fn charge(&self, order_id: &str) -> Option<Value> {
        self.charges.lock().unwrap().get(order_id).cloned()
    }

    pub fn charge_count(&self) -> usize {
        self.charges.lock().unwrap().len()
    }
}

async fn gateway_gate(state: &GatewayState, headers: &HeaderMap) -> Option<Response> {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {}", state.3))
    {
        return Some(StatusCode::UNAUTHORIZED.into_response());
    }
    match state.0.load(Ordering::SeqCst) {
        1 => Some(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        2 => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Some(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        _ => None,
    }
}

async fn gateway_charge(
    State(state): State<GatewayState>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    *state.2.lock().unwrap() += 1;
    if let Some(refused) = gateway_gate(&state, &headers).await {
        return refused;
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let order_id = body["order_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(key, order_id, "the idempotency key is the order id");
    let mut charges = state.1.lock().unwrap();
    let charge = charges
        .entry(order_id.clone())
        .or_insert_with(|| {
            let declined = body["source"] == "tok_declined";
            json!({
                "id": format!("ch_{}", Uuid::new_v4().simple()),
                "order_id": order_id,
                "amount_cents": body["amount_cents"],
                "status": if declined { "declined" } else { "succeeded" },
                "decline_code": if declined { Some("card_declined") } else { None },
            })
        })
        .clone();
    if state.0.load(Ordering::SeqCst) == GatewayMode::ChargeThenFail as u8 {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let status = if charge["status"] == "declined" {
        StatusCode::PAYMENT_REQUIRED
    } else {
        StatusCode::CREATED
    };
    (status, axum::Json(charge)).into_response()
}

async fn gateway_status(
    State(state): State<GatewayState>,
    headers: HeaderMap,
    AxPath(order_id): AxPath<String>,
) -> Response {
    if let Some(refused) = gateway_gate(&state, &headers).await {
        return refused;
    }
    match state.1.lock().unwrap().get(&order_id) {
        Some(charge) => axum::Json(charge.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn gateway_refund(
    State(state): State<GatewayState>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(refused) = gateway_gate(&state, &headers).await {
        return refused;
    }
    let order_id = body["order_id"].as_str().unwrap_or_default().to_owned();
    let mut charges = state.1.lock().unwrap();
    match charges.get_mut(&order_id) {
        Some(charge) => {
            charge["status"] = json!("refunded");
            axum::Json(json!({"id": "re_1", "status": "succeeded"})).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// What to vary when spawning the fleet.
#[derive(Default)]
pub struct FleetOptions {
    /// Put a TCP proxy between order-service and catalog-service.
    pub catalog_proxy: bool,
    /// Use the HTTP gateway (a [`FakeGateway`]) instead of the fake provider.
    pub gateway: bool,
    /// Larger pools for the race tests.
    pub big_pools: bool,
    /// Reach order-service's own database through a TCP proxy the test can cut.
    pub database_proxy: bool,
    /// Deliver the outbox to this URL instead of the fake notification-service.
    pub notification_url: Option<String>,
}

/// order-service with a fake catalog-service, a fake notification-service
/// and (optionally) a fake payment gateway.
pub struct Fleet {
    pub order: TestApp,
    pub catalog: FakeCatalog,
    pub issuer: Arc<TestIssuer>,
    pub notifications: FakeNotifications,
    pub gateway: Option<FakeGateway>,
    pub catalog_proxy: Option<Arc<TcpProxy>>,
    pub database_proxy: Option<Arc<TcpProxy>>,
    /// The settings order-service runs with.
    pub settings: Settings,
    category_id: String,
}

pub async fn spawn_fleet() -> Fleet {
    spawn_fleet_with(FleetOptions::default(), |_, _| {}).await
}

pub async fn spawn_fleet_with(
    options: FleetOptions,
    configure: impl FnOnce(&mut Settings, Option<&Arc<TcpProxy>>),
) -> Fleet {
    let big = options.big_pools;
    let issuer = Arc::new(TestIssuer::start().await);
    let catalog = FakeCatalog::start(&issuer).await;
    let notifications = FakeNotifications::start().await;
    let gateway = if options.gateway {
        Some(FakeGateway::start().await)
    } else {
        None
    };
    let catalog_proxy = if options.catalog_proxy {
        Some(Arc::new(TcpProxy::start(catalog.addr).await))
    } else {
        None
    };
    let catalog_url = match &catalog_proxy {
        Some(proxy) => format!("http://{}", proxy.addr()),
        None => catalog.url.clone(),
    };
    let (database, database_proxy) = if options.database_proxy {
        let db = service_kit::testing::TestDatabase::create("orders").await;
        let proxy = Arc::new(TcpProxy::start(db.server_addr()).await);
        (Some(db.settings_via(&proxy)), Some(proxy))
    } else {
        (None, None)
    };
    let captured = Arc::new(Mutex::new(None));
    let capture = captured.clone();
    let credentials = issuer.client_credentials("order-service");
    let notification_url = options
        .notification_url
        .clone()
        .unwrap_or_else(|| notifications.url.clone());
    let gateway_settings = gateway.as_ref().map(|g| (g.url.clone(), g.api_key.clone()));
    let proxy_for_config = catalog_proxy.clone();
    let order = service_kit::testing::spawn_with_issuer::<Application>(&issuer, |s| {
        s.services.catalog_url = catalog_url;
        s.services.notification_url = notification_url;
        s.service_auth = credentials;
        s.outbox.poll_interval_ms = 50;
        s.outbox.backoff_base_ms = 100;
        s.outbox.backoff_max_secs = 1;
        // Tests run the reconciler themselves.
        s.checkout.reconciler_interval_secs = 3600;
        // Limits out of the way (checkout_limits.rs sets them on purpose).
        s.checkout_limits.attempts_per_address_per_minute = 100_000;
        s.checkout_limits.attempts_per_user = 100_000;
        s.checkout_limits.declines_per_user = 100_000;
        s.checkout.catalog_timeout_ms = 2000;
        if let Some((url, key)) = gateway_settings {
            s.payments.provider = order_service::config::ProviderKind::Http;
            s.payments.base_url = url;
            s.payments.api_key = key.into();
            s.payments.webhook_secret = "whsec_gateway_test".to_owned().into();
            s.payments.timeout_ms = 1000;
        }
        if big {
            s.database.max_connections = 40;
            s.database.acquire_timeout_secs = 15;
        }
        if let Some(database) = database {
            s.database = database;
        }
        configure(s, proxy_for_config.as_ref());
        *capture.lock().unwrap() = Some(s.clone());
    })
    .await;
    let settings = captured.lock().unwrap().take().expect("settings captured");
    Fleet {
        order,
        catalog,
        issuer,
        notifications,
        gateway,
        catalog_proxy,
        database_proxy,
        settings,
        category_id: Uuid::new_v4().to_string(),
    }
}

/// A customer of the shop.
pub struct Customer {
    pub id: Uuid,
    pub token: String,
}

pub fn address() -> Value {
    json!({"name": "Ada Lovelace", "line1": "1 Analytical St", "city": "London",
           "postal_code": "N1 1AA", "country": "GB"})
}

pub fn checkout_body(token: &str) -> Value {
    json!({"shipping_address": address(), "payment": {"method": "card", "token": token}})
}

impl Fleet {
    /// Creates a product with `stock` units in the catalog; returns its id.
    pub async fn product(&self, name: &str, price_cents: i64, stock: i32) -> String {
        self.catalog
            .add_product(name, price_cents, stock, &self.category_id)
    }

    /// Changes a product in the catalog (what an admin's PATCH does).
    pub async fn patch_product(&self, id: &str, patch: &Value) {
        self.catalog.patch_product(id, patch);
    }

    /// Deletes a product in the catalog (soft delete).
    pub async fn delete_product(&self, id: &str) {
        self.catalog.delete_product(id);
    }

    /// `{on_hand, reserved, available}` of a product.
    pub async fn inventory(&self, id: &str) -> Value {
        self.catalog.inventory(id)
    }

    pub fn customer(&self) -> Customer {
        let (id, token) = self.order.user_token();
        Customer { id, token }
    }

    pub fn admin(&self) -> String {
        self.order.admin_token().1
    }

    /// Sends a request to order-service.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.order.http.request(method, self.order.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("request sent")
    }

    pub async fn add_to_cart(
        &self,
        customer: &Customer,
        product_id: &str,
        quantity: i32,
    ) -> reqwest::Response {
        self.send(
            Method::POST,
            "/api/v1/cart/items",
            Some(&customer.token),
            Some(&json!({"product_id": product_id, "quantity": quantity})),
            None,
        )
        .await
    }

    pub async fn cart(&self, customer: &Customer) -> Value {
        let response = self
            .send(
                Method::GET,
                "/api/v1/cart",
                Some(&customer.token),
                None,
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Checks out with card `token` and a fresh key.
    pub async fn checkout(&self, customer: &Customer, card: &str) -> reqwest::Response {
        let key = Uuid::new_v4().to_string();
        self.checkout_with_key(customer, card, &key).await
    }

    pub async fn checkout_with_key(
        &self,
        customer: &Customer,
        card: &str,
        key: &str,
    ) -> reqwest::Response {
        self.send(
            Method::POST,
            "/api/v1/checkout",
            Some(&customer.token),
            Some(&checkout_body(card)),
            Some(key),
        )
        .await
    }

    /// Fills a cart with `quantity` of `product` and checks out with `card`.
    pub async fn buy(
        &self,
        customer: &Customer,
        product: &str,
        quantity: i32,
        card: &str,
    ) -> reqwest::Response {
        assert_eq!(
            self.add_to_cart(customer, product, quantity).await.status(),
            StatusCode::OK
        );
        self.checkout(customer, card).await
    }

    /// Orders in order-service's database by status.
    pub async fn count_orders(&self, status: &str) -> i64 {
        sqlx::query_scalar("select count(*) from orders where status = $1")
            .bind(status)
            .fetch_one(&self.order.pool)
            .await
            .unwrap()
    }

    pub async fn count_all_orders(&self) -> i64 {
        sqlx::query_scalar("select count(*) from orders")
            .fetch_one(&self.order.pool)
            .await
            .unwrap()
    }

    /// Successful (and not refunded) charges in the fake provider's ledger.
    pub async fn live_charges(&self) -> i64 {
        sqlx::query_scalar(
            "select count(*) from fake_payments where status = 'succeeded' and refunded_cents = 0",
        )
        .fetch_one(&self.order.pool)
        .await
        .unwrap()
    }

    /// The ledger audit: every live charge has a confirmed order and every
    /// confirmed order a live charge of its total.
    pub async fn assert_ledger_matches_orders(&self) {
        let orphans: i64 = sqlx::query_scalar(
            "select count(*) from fake_payments p
             where p.status = 'succeeded' and p.refunded_cents = 0 and not exists (
                select 1 from orders o where o.order_id = p.order_id
                  and o.status in ('confirmed', 'shipped', 'delivered')
                  and o.total_cents = p.amount_cents)",
        )
        .fetch_one(&self.order.pool)
        .await
        .unwrap();
        assert_eq!(orphans, 0, "a charge without a confirmed order");
        let unpaid: i64 = sqlx::query_scalar(
            "select count(*) from orders o
             where o.status in ('confirmed', 'shipped', 'delivered') and not exists (
                select 1 from fake_payments p where p.order_id = o.order_id
                  and p.status = 'succeeded' and p.refunded_cents = 0)",
        )
        .fetch_one(&self.order.pool)
        .await
        .unwrap();
        assert_eq!(unpaid, 0, "a confirmed order without a charge");
    }

    /// An order's stored status and saga step.
    pub async fn order_step(&self, order_id: &str) -> (String, String) {
        sqlx::query_as("select status, saga_step from orders where order_id = $1::uuid")
            .bind(order_id)
            .fetch_one(&self.order.pool)
            .await
            .unwrap()
    }

    /// An app state like the running service's, to drive the saga's steps
    /// one by one.
    pub fn state(&self) -> AppState {
        AppState::new(self.settings.clone(), self.order.pool.clone()).expect("state")
    }

    /// The app state for running the reconciler once (every pending order stale).
    pub fn reconciler_state(&self) -> AppState {
        let mut settings = self.settings.clone();
        settings.checkout.reconciler_stale_after_secs = 0;
        settings.faults = Default::default();
        AppState::new(settings, self.order.pool.clone()).expect("state")
    }

    pub async fn reconcile(&self) -> order_service::features::checkout::reconciler::Report {
        order_service::features::checkout::reconciler::reconcile_once(&self.reconciler_state())
            .await
            .expect("a reconciler pass")
    }
}

/// A hook that halts the saga right after `step` (a simulated crash).
pub fn halt_after(step: SagaStep) -> order_service::config::StepHook {
    Arc::new(move |s| {
        if s == step {
            FaultAction::Halt
        } else {
            FaultAction::Continue
        }
    })
}
