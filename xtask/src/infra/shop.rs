//! A small blocking client of the shop's REST API (API.md), shared by the
//! end-to-end journey, the chaos run and the fleet benchmarks.

use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::infra::services::{self, ServiceSpec};
use serde_json::{Value, json};
use ureq::Agent;
use ureq::http::Request;

/// Where each service answers: the gateway for all four, or each directly.
#[derive(Debug, Clone)]
pub struct Bases {
    /// user-service (`/api/v1/auth`, `/api/v1/users`).
    pub user: String,
    /// catalog-service (`/api/v1/products`, `/api/v1/categories`).
    pub catalog: String,
    /// order-service (`/api/v1/cart`, `/api/v1/checkout`, `/api/v1/orders`).
    pub order: String,
    /// notification-service (`/api/v1/notifications`).
    pub notification: String,
}

impl Bases {
    /// Every service behind one gateway origin.
    pub fn gateway(origin: &str) -> Self {
        Self {
            user: origin.to_owned(),
            catalog: origin.to_owned(),
            order: origin.to_owned(),
            notification: origin.to_owned(),
        }
    }

    /// The services on their local ports (each one's template metadata).
    pub fn direct(specs: &[ServiceSpec]) -> Result<Self> {
        let url = |name: &str| services::find(specs, name).map(ServiceSpec::local_url);
        Ok(Self {
            user: url("user-service")?,
            catalog: url("catalog-service")?,
            order: url("order-service")?,
            notification: url("notification-service")?,
        })
    }
}

/// One answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The JSON body (`Null` when empty or not JSON).
    pub body: Value,
    /// The `X-Request-ID` echoed.
    pub request_id: Option<String>,
    /// The `ETag`, if any.
    pub etag: Option<String>,
    /// Every response header (lower-case names), in order.
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// Fails naming `what` unless the status is `expected`.
    pub fn expect(self, expected: u16, what: &str) -> Result<Self> {
        if self.status != expected {
            bail!(
                "{what}: expected {expected}, got {} with {}",
                self.status,
                self.body
            );
        }
        Ok(self)
    }

    /// The values of header `name` (lower-case).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A string field of the body.
    pub fn str(&self, field: &str) -> Result<String> {
        self.body[field]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no string `{field}` in {}", self.body))
    }
}

/// A request under construction.
pub struct Call<'a> {
    api: &'a Api,
    method: &'static str,
    url: String,
    token: Option<String>,
    body: Option<Value>,
    headers: Vec<(String, String)>,
}

impl Call<'_> {
    /// `Authorization: Bearer token`.
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// A JSON body.
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Any header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends it; transport errors are errors, every status is a [`Reply`].
    pub fn send(self) -> Result<Reply> {
        let mut request = Request::builder().method(self.method).uri(&self.url);
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let body = match &self.body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                serde_json::to_vec(body)?
            }
            None => Vec::new(),
        };
        let request = request.body(body)?;
        let mut response = self
            .api
            .agent
            .run(request)
            .with_context(|| format!("{} {}", self.method, self.url))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (request_id, etag) = (header("x-request-id"), header("etag"));
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let status = response.status().as_u16();
        let bytes = response.body_mut().read_to_vec().unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            body,
            request_id,
            etag,
            headers,
        })
    }
}

/// Access and refresh token of a logged-in user.
#[derive(Debug, Clone)]
pub struct Session {
    /// Bearer token.
    pub access: String,
    /// Opaque refresh token.
    pub refresh: String,
}

/// The shop's API.
pub struct Api {
    agent: Agent,
    /// Where the services are.
    pub bases: Bases,
}

impl Api {
    /// A client with a per-request timeout.
    pub fn new(bases: Bases, timeout: Duration) -> Self {
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Self { agent, bases }
    }

    fn call(&self, method: &'static str, url: String) -> Call<'_> {
        Call {
            api: self,
            method,
            url,
            token: None,
            body: None,
            headers: Vec::new(),
        }
    }

    /// `GET base + path`.
    pub fn get(&self, base: &str, path: &str) -> Call<'_> {
        self.call("GET", format!("{base}{path}"))
    }

    /// `POST base + path`.
    pub fn post(&self, base: &str, path: &str) -> Call<'_> {
        self.call("POST", format!("{base}{path}"))
    }

    /// `PUT base + path`.
    pub fn put(&self, base: &str, path: &str) -> Call<'_> {
        self.call("PUT", format!("{base}{path}"))
    }

    /// `PATCH base + path`.
    pub fn patch(&self, base: &str, path: &str) -> Call<'_> {
        self.call("PATCH", format!("{base}{path}"))
    }

    /// `DELETE base + path`.
    pub fn delete(&self, base: &str, path: &str) -> Call<'_> {
        self.call("DELETE", format!("{base}{path}"))
    }

    /// Registers an account (201 expected).
    pub fn register(&self, email: &str, password: &str, full_name: &str) -> Result<Value> {
        Ok(self
            .post(&self.bases.user, "/api/v1/auth/register")
            .json(json!({"email": email, "password": password, "full_name": full_name}))
            .send()?
            .expect(201, "register")?
            .body)
    }

    /// Logs in (200 expected).
    pub fn login(&self, email: &str, password: &str) -> Result<Session> {
        let reply = self
            .post(&self.bases.user, "/api/v1/auth/login")
            .json(json!({"email": email, "password": password}))
            .send()?
            .expect(200, "login")?;
        Ok(Session {
            access: reply.str("access_token")?,
            refresh: reply.str("refresh_token")?,
        })
    }

    /// A client-credentials token of `client_id` for `audience`.
    pub fn service_token(&self, client_id: &str, secret: &str, audience: &str) -> Result<String> {
        let url = format!("{}/api/v1/auth/token", self.bases.user);
        let mut response = self
            .agent
            .post(&url)
            .send_form([
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("audience", audience),
            ])
            .with_context(|| format!("POST {url}"))?;
        let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
        if response.status() != 200 {
            bail!(
                "service token for {client_id} -> {audience}: {} {body}",
                response.status()
            );
        }
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .context("token answer without access_token")
    }

    /// Registers and logs in a fresh customer.
    pub fn new_customer(&self, email: &str, password: &str) -> Result<Session> {
        self.register(email, password, "Test Customer")?;
        self.login(email, password)
    }

    /// Adds `quantity` of a product to the cart (200 expected).
    pub fn add_to_cart(&self, token: &str, product_id: &str, quantity: u32) -> Result<Value> {
        Ok(self
            .post(&self.bases.order, "/api/v1/cart/items")
            .token(token)
            .json(json!({"product_id": product_id, "quantity": quantity}))
            .send()?
            .expect(200, "add to cart")?
            .body)
    }

    /// `POST /api/v1/checkout` with a card token and an idempotency key.
    pub fn checkout(
        &self,
        token: &str,
        idempotency_key: &str,
        card: &str,
        request_id: Option<&str>,
    ) -> Result<Reply> {
        let mut call = self
            .post(&self.bases.order, "/api/v1/checkout")
            .token(token)
            .header("idempotency-key", idempotency_key)
            .json(checkout_body(card));
        if let Some(id) = request_id {
            call = call.header("x-request-id", id);
        }
        call.send()
    }
}

/// A valid checkout body paying with `card` (`tok_visa`, `tok_declined`, ...).
pub fn checkout_body(card: &str) -> Value {
    json!({
        "shipping_address": {
            "name": "Ada Lovelace", "line1": "12 Analytical Row", "city": "London",
            "postal_code": "NW1 6XE", "country": "GB"
        },
        "payment": {"method": "card", "token": card}
    })
}

/// Logs in as an admin and creates a category and `count` products with
/// `stock` units each; returns their ids.
pub fn create_products(
    api: &Api,
    admin_token: &str,
    label: &str,
    count: usize,
    stock: u32,
    price_cents: u32,
) -> Result<Vec<String>> {
    let category = api
        .post(&api.bases.catalog, "/api/v1/categories")
        .token(admin_token)
        .json(json!({"name": format!("{label} category"), "slug": slug(label)}))
        .send()?;
    let category_id = match category.status {
        201 => category.str("id")?,
        409 => {
            let list = api
                .get(&api.bases.catalog, "/api/v1/categories?limit=100")
                .send()?
                .expect(200, "list categories")?;
            list.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["slug"] == slug(label))
                .and_then(|c| c["id"].as_str())
                .map(str::to_owned)
                .context("the existing category is not listed")?
        }
        other => bail!("create category: {other} {}", category.body),
    };
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let reply = api
            .post(&api.bases.catalog, "/api/v1/products")
            .token(admin_token)
            .json(json!({
                "sku": format!("{}-{i}-{}", slug(label).to_uppercase(), uuid_like()),
                "name": format!("{label} item {i}"),
                "description": format!("A {label} item for the fleet tools."),
                "price_cents": price_cents,
                "currency": "EUR",
                "category_id": category_id,
                "initial_stock": stock,
            }))
            .send()?
            .expect(201, "create product")?;
        ids.push(reply.str("id")?);
    }
    Ok(ids)
}

fn slug(label: &str) -> String {
    label
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// A unique-enough token for names and keys (time + counter).
pub fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{:x}{:x}{:x}",
        nanos,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
