//! A stand-in for catalog-service over HTTP, checked against catalog's
//! document as order-service pins it (`contracts/catalog-service.openapi.json`):
//! every request it receives and every answer it gives is validated against
//! that document, and a mismatch is answered with a 500 naming it (so the
//! order-service test that caused it fails) and recorded
//! ([`FakeCatalog::violations`]).
//!
//! It keeps catalog's semantics for what order-service uses: the batch
//! product lookup (unknown and deleted products absent, inactive ones
//! present with `active: false`), all-or-nothing reservations idempotent on
//! their id (replayed while active or committed, refused once released or
//! expired), idempotent commit/release with 404/409, restock once per
//! reference, and service tokens for the audience `catalog-service`
//! verified with the fleet's issuer. The real conversation (real catalog,
//! real binaries) is `cargo xtask e2e`.

use axum::Router;
use axum::extract::{Path as AxPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use service_kit::auth::JwksVerifier;
use service_kit::auth::ROLE_SERVICE;
use service_kit::testing::TestIssuer;
use service_kit::testing::contract::Provider;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use uuid::Uuid;

/// The pinned document the fake answers by.
pub const CONTRACT: &str = "contracts/catalog-service.openapi.json";
const AUDIENCE: &str = "catalog-service";

#[derive(Debug, Clone)]
struct Product {
    id: Uuid,
    sku: String,
    name: String,
    price_cents: i64,
    currency: String,
    category_id: Option<String>,
    active: bool,
    deleted: bool,
    on_hand: i64,
    reserved: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Product {
    fn json(&self) -> Value {
        json!({
            "id": self.id, "sku": self.sku, "name": self.name,
            "slug": format!("p-{}", self.id.simple()), "description": "",
            "price_cents": self.price_cents, "currency": self.currency,
            "category_id": self.category_id, "attributes": {}, "active": self.active,
            "available": self.on_hand - self.reserved, "images": [],
            "created_at": self.created_at, "updated_at": self.updated_at,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Active,
    Committed,
    Released,
    Expired,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Committed => "committed",
            Self::Released => "released",
            Self::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone)]
struct Reservation {
    id: Uuid,
    status: Status,
    expires_at: DateTime<Utc>,
    /// (product, quantity, unit price, currency, name), by product id.
    items: Vec<(Uuid, i64, i64, String, String)>,
}

impl Reservation {
    fn json(&self) -> Value {
        json!({
            "reservation_id": self.id, "status": self.status.name(),
            "expires_at": self.expires_at,
            "items": self.items.iter().map(|(id, q, price, currency, name)| json!({
                "product_id": id, "quantity": q, "unit_price_cents": price,
                "currency": currency, "name": name,
            })).collect::<Vec<_>>(),
        })
    }

    fn same_items(&self, lines: &[(Uuid, i64)]) -> bool {
        let mut mine: Vec<(Uuid, i64)> = self.items.iter().map(|i| (i.0, i.1)).collect();
        let mut theirs = lines.to_vec();
        mine.sort();
        theirs.sort();
        mine == theirs
    }
}

#[derive(Default)]
struct Stock {
    products: HashMap<Uuid, Product>,
    reservations: HashMap<Uuid, Reservation>,
    restocks: HashSet<Uuid>,
}

impl Stock {
    /// Expired holds return their stock (catalog's sweeper).
    fn sweep(&mut self) {
        let now = Utc::now();
        for reservation in self.reservations.values_mut() {
            if reservation.status == Status::Active && reservation.expires_at <= now {
                reservation.status = Status::Expired;
                for (id, quantity, ..) in &reservation.items {
                    if let Some(p) = self.products.get_mut(id) {
                        p.reserved -= quantity;
                    }
                }
            }
        }
    }
}

struct Inner {
    stock: Mutex<Stock>,
    contract: Provider,
    verifier: JwksVerifier,
    violations: Mutex<Vec<String>>,
    requests: Mutex<Vec<String>>,
}

/// The running fake.
pub struct FakeCatalog {
    pub url: String,
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    shutdown: tokio::sync::watch::Sender<bool>,
}

fn problem(status: StatusCode, detail: &str) -> Value {
    json!({"type": "/problems/fake", "title": "fake catalog", "status": status.as_u16(),
           "detail": detail})
}

impl Inner {
    /// Validates the answer against the pinned document, then sends it.
    fn answer(&self, method: &str, template: &str, status: StatusCode, body: Value) -> Response {
        let errors = self
            .contract
            .validate_response(method, template, status.as_u16(), &body);
        if !errors.is_empty() {
            return self.violation(format!(
                "answer {status} to `{method} {template}`: {}",
                errors.join("; ")
            ));
        }
        let content_type = if status.is_success() {
            "application/json"
        } else {
            "application/problem+json"
        };
        (
            status,
            [(axum::http::header::CONTENT_TYPE, content_type)],
            body.to_string(),
        )
            .into_response()
    }

    fn violation(&self, what: String) -> Response {
        eprintln!("fake catalog-service: not in the pinned contract: {what}");
        self.violations.lock().unwrap().push(what.clone());
        (StatusCode::INTERNAL_SERVER_ERROR, what).into_response()
    }

    /// A service token for catalog-service, or the answer refusing it.
    async fn authorize(
        &self,
        method: &str,
        template: &str,
        headers: &HeaderMap,
    ) -> Option<Response> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(token) = token else {
            let status = StatusCode::UNAUTHORIZED;
            return Some(self.answer(method, template, status, problem(status, "no token")));
        };
        match self.verifier.verify(token).await {
            Ok(claims) if claims.has_role(ROLE_SERVICE) => None,
            Ok(_) => {
                let status = StatusCode::FORBIDDEN;
                Some(self.answer(method, template, status, problem(status, "not a service")))
            }
            Err(_) => {
                let status = StatusCode::UNAUTHORIZED;
                Some(self.answer(method, template, status, problem(status, "bad token")))
            }
        }
    }

    fn request(&self, method: &str, template: &str, body: &Value) -> Option<Response> {
        self.requests
            .lock()
            .unwrap()
            .push(format!("{method} {template}"));
        let errors = self.contract.validate_request(method, template, body);
        (!errors.is_empty()).then(|| {
            self.violation(format!(
                "request `{method} {template}`: {}",
                errors.join("; ")
            ))
        })
    }
}

/// `[(product, quantity)]` of a reservation or restock body (validated).
fn lines(body: &Value) -> Vec<(Uuid, i64)> {
    body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            Some((
                i["product_id"].as_str()?.parse().ok()?,
                i["quantity"].as_i64()?,
            ))
        })
        .collect()
}

async fn products(
    State(inner): State<Arc<Inner>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    const PATH: &str = "/api/v1/products";
    inner.requests.lock().unwrap().push(format!("GET {PATH}"));
    let ids: Vec<Uuid> = query
        .get("ids")
        .map(|ids| ids.split(',').filter_map(|id| id.parse().ok()).collect())
        .unwrap_or_default();
    let items: Vec<Value> = {
        let mut stock = inner.stock.lock().unwrap();
        stock.sweep();
        ids.iter()
            .filter_map(|id| stock.products.get(id))
            .filter(|p| !p.deleted)
            .map(Product::json)
            .collect()
    };
    let page = json!({"items": items, "next_cursor": null});
    inner.answer("GET", PATH, StatusCode::OK, page)
}

async fn reserve(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    const PATH: &str = "/internal/v1/reservations";
    if let Some(refused) = inner.request("POST", PATH, &body) {
        return refused;
    }
    if let Some(refused) = inner.authorize("POST", PATH, &headers).await {
        return refused;
    }
    let id: Uuid = body["reservation_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let ttl = body["ttl_seconds"].as_i64().unwrap_or(900);
    let wanted = lines(&body);
    let (status, answer) = {
        let mut stock = inner.stock.lock().unwrap();
        stock.sweep();
        if let Some(existing) = stock.reservations.get(&id) {
            if !existing.same_items(&wanted) {
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                (
                    status,
                    problem(status, "reservation_id reused with other items"),
                )
            } else if matches!(existing.status, Status::Active | Status::Committed) {
                (StatusCode::CREATED, existing.json())
            } else {
                let status = StatusCode::CONFLICT;
                let mut body = problem(status, existing.status.name());
                body["short_items"] = json!([]);
                (status, body)
            }
        } else {
            let mut short = Vec::new();
            let mut items = Vec::new();
            for (product_id, quantity) in &wanted {
                match stock.products.get(product_id) {
                    Some(p) if p.active && !p.deleted && p.on_hand - p.reserved >= *quantity => {
                        items.push((*product_id, *quantity, p.price_cents, p.currency.clone(), p.name.clone()));
                    }
                    Some(p) if p.active && !p.deleted => short.push(json!({
                        "product_id": product_id, "requested": quantity,
                        "available": (p.on_hand - p.reserved).max(0), "reason": "insufficient_stock"})),
                    _ => short.push(json!({
                        "product_id": product_id, "requested": quantity,
                        "available": 0, "reason": "not_sellable"})),
                }
            }
            if short.is_empty() {
                for (product_id, quantity, ..) in &items {
                    if let Some(p) = stock.products.get_mut(product_id) {
                        p.reserved += quantity;
                    }
                }
                items.sort_by_key(|i| i.0);
                let reservation = Reservation {
                    id,
                    status: Status::Active,
                    expires_at: Utc::now() + chrono::Duration::seconds(ttl),
                    items,
                };
                let json = reservation.json();
                stock.reservations.insert(id, reservation);
                (StatusCode::CREATED, json)
            } else {
                let status = StatusCode::CONFLICT;
                let mut body = problem(status, "insufficient stock");
                body["short_items"] = Value::Array(short);
                (status, body)
            }
        }
    };
    inner.answer("POST", PATH, status, answer)
}

async fn settle(inner: Arc<Inner>, headers: HeaderMap, id: String, commit: bool) -> Response {
    let template = if commit {
        "/internal/v1/reservations/{id}/commit"
    } else {
        "/internal/v1/reservations/{id}/release"
    };
    inner
        .requests
        .lock()
        .unwrap()
        .push(format!("POST {template}"));
    if let Some(refused) = inner.authorize("POST", template, &headers).await {
        return refused;
    }
    let (status, answer) = {
        let mut stock = inner.stock.lock().unwrap();
        stock.sweep();
        let stock = &mut *stock;
        match id
            .parse::<Uuid>()
            .ok()
            .and_then(|id| stock.reservations.get_mut(&id))
        {
            None => {
                let status = StatusCode::NOT_FOUND;
                (status, problem(status, "no such reservation"))
            }
            Some(r) => match (commit, r.status) {
                (true, Status::Committed) | (false, Status::Released | Status::Expired) => {
                    (StatusCode::OK, r.json())
                }
                (true, Status::Released | Status::Expired) | (false, Status::Committed) => {
                    let status = StatusCode::CONFLICT;
                    (status, problem(status, r.status.name()))
                }
                (_, Status::Active) => {
                    for (product_id, quantity, ..) in &r.items {
                        if let Some(p) = stock.products.get_mut(product_id) {
                            p.reserved -= quantity;
                            if commit {
                                p.on_hand -= quantity;
                            }
                        }
                    }
                    r.status = if commit {
                        Status::Committed
                    } else {
                        Status::Released
                    };
                    (StatusCode::OK, r.json())
                }
            },
        }
    };
    inner.answer("POST", template, status, answer)
}

async fn restock(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    const PATH: &str = "/internal/v1/restock";
    if let Some(refused) = inner.request("POST", PATH, &body) {
        return refused;
    }
    if let Some(refused) = inner.authorize("POST", PATH, &headers).await {
        return refused;
    }
    let reference: Uuid = body["reference_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let wanted = lines(&body);
    {
        let mut stock = inner.stock.lock().unwrap();
        if stock.restocks.insert(reference) {
            for (product_id, quantity) in &wanted {
                if let Some(p) = stock.products.get_mut(product_id) {
                    p.on_hand += quantity;
                }
            }
        }
    }
    let answer = json!({"reference_id": reference, "items": body["items"]});
    inner.answer("POST", PATH, StatusCode::OK, answer)
}

impl FakeCatalog {
    /// Starts the fake on a free port, trusting `issuer`'s tokens.
    pub async fn start(issuer: &TestIssuer) -> Self {
        let inner = Arc::new(Inner {
            stock: Mutex::new(Stock::default()),
            contract: Provider::load(CONTRACT),
            verifier: JwksVerifier::new(&issuer.auth_settings(AUDIENCE)).expect("verifier"),
            violations: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .route("/api/v1/products", get(products))
            .route("/internal/v1/reservations", post(reserve))
            .route(
                "/internal/v1/reservations/{id}/commit",
                post(
                    |State(inner): State<Arc<Inner>>,
                     headers: HeaderMap,
                     AxPath(id): AxPath<String>| {
                        settle(inner, headers, id, true)
                    },
                ),
            )
            .route(
                "/internal/v1/reservations/{id}/release",
                post(
                    |State(inner): State<Arc<Inner>>,
                     headers: HeaderMap,
                     AxPath(id): AxPath<String>| {
                        settle(inner, headers, id, false)
                    },
                ),
            )
            .route("/internal/v1/restock", post(restock))
            .with_state(inner.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (shutdown, mut stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        });
        Self {
            url: format!("http://{addr}"),
            addr,
            inner,
            shutdown,
        }
    }

    /// Stops serving (catalog unreachable from now on).
    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Adds a sellable product with `stock` units on hand; returns its id.
    pub fn add_product(
        &self,
        name: &str,
        price_cents: i64,
        stock: i32,
        category_id: &str,
    ) -> String {
        let id = Uuid::now_v7();
        let now = Utc::now();
        self.inner.stock.lock().unwrap().products.insert(
            id,
            Product {
                id,
                sku: format!("SKU-{}", id.simple()),
                name: name.to_owned(),
                price_cents,
                currency: "EUR".to_owned(),
                category_id: Some(category_id.to_owned()),
                active: true,
                deleted: false,
                on_hand: i64::from(stock),
                reserved: 0,
                created_at: now,
                updated_at: now,
            },
        );
        id.to_string()
    }

    /// An admin's change: `name`, `price_cents`, `currency`, `active`.
    pub fn patch_product(&self, id: &str, patch: &Value) {
        let id: Uuid = id.parse().expect("a product id");
        let mut stock = self.inner.stock.lock().unwrap();
        let product = stock.products.get_mut(&id).expect("a known product");
        if let Some(name) = patch["name"].as_str() {
            name.clone_into(&mut product.name);
        }
        if let Some(price) = patch["price_cents"].as_i64() {
            product.price_cents = price;
        }
        if let Some(currency) = patch["currency"].as_str() {
            currency.clone_into(&mut product.currency);
        }
        if let Some(active) = patch["active"].as_bool() {
            product.active = active;
        }
        for key in patch.as_object().map(|o| o.keys()).into_iter().flatten() {
            assert!(
                ["name", "price_cents", "currency", "active"].contains(&key.as_str()),
                "the fake catalog cannot change `{key}`"
            );
        }
        product.updated_at = Utc::now();
    }

    /// An admin's (soft) delete.
    pub fn delete_product(&self, id: &str) {
        let id: Uuid = id.parse().expect("a product id");
        let mut stock = self.inner.stock.lock().unwrap();
        stock
            .products
            .get_mut(&id)
            .expect("a known product")
            .deleted = true;
    }

    /// `{product_id, on_hand, reserved, available}` as catalog's inventory
    /// endpoint answers it.
    pub fn inventory(&self, id: &str) -> Value {
        let id: Uuid = id.parse().expect("a product id");
        let mut stock = self.inner.stock.lock().unwrap();
        stock.sweep();
        let p = stock.products.get(&id).expect("a known product");
        json!({"product_id": id, "on_hand": p.on_hand, "reserved": p.reserved,
               "available": p.on_hand - p.reserved})
    }

    /// What was not in the pinned document (empty when everything was).
    pub fn violations(&self) -> Vec<String> {
        self.inner.violations.lock().unwrap().clone()
    }

    /// `METHOD template` of every request received, in order.
    pub fn requests(&self) -> Vec<String> {
        self.inner.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeCatalog {
    fn drop(&mut self) {
        self.stop();
        let violations = self.violations();
        if !violations.is_empty() && !std::thread::panicking() {
            panic!("the fake catalog-service saw what its contract does not allow: {violations:?}");
        }
    }
}
