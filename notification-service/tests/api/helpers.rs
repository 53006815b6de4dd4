//! The kit's harness spawns this service on a random port against a fresh
//! database, trusting a test token issuer; here: a real SMTP server (the
//! kit's), a fake user-service and fake SMS and push gateways.
#![allow(dead_code, unused_imports)]

pub use service_kit::testing::smtp::{FailAt, ReceivedMail, SmtpServer};
pub use service_kit::testing::{TestIssuer, problem};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use notification_service::config::{ProviderKind, SmtpTls};
use notification_service::{Application, Settings};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use uuid::Uuid;

/// The audience tokens for this service carry.
pub const AUDIENCE: &str = "notification-service";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The service wired to a fresh SMTP server and fake user-service, with
/// fast retries (3 attempts, ~10-40 ms apart); `configure` adjusts the rest.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let smtp = SmtpServer::start().await;
    let users = FakeUsers::start().await;
    let issuer = Arc::new(TestIssuer::start().await);
    let credentials = issuer.client_credentials("notification-service");
    let (host, port, users_url) = (smtp.host(), smtp.port(), users.url.clone());
    let app = service_kit::testing::spawn_with_issuer::<Application>(&issuer, |s| {
        s.services.user_url = users_url;
        s.service_auth = credentials;
        s.smtp.host = host;
        s.smtp.port = port;
        s.smtp.tls = SmtpTls::None;
        s.delivery.workers = 1;
        s.delivery.max_attempts = 3;
        s.delivery.backoff_base_ms = 10;
        s.delivery.backoff_max_secs = 1;
        s.delivery.poll_interval_ms = 20;
        s.delivery.claim_lease_secs = 30;
        configure(s);
    })
    .await;
    TestApp { app, smtp, users }
}

/// The running service and its peers.
pub struct TestApp {
    pub app: service_kit::testing::TestApp,
    /// The SMTP server email goes to.
    pub smtp: SmtpServer,
    /// user-service's contact lookup.
    pub users: FakeUsers,
}

impl std::ops::Deref for TestApp {
    type Target = service_kit::testing::TestApp;

    fn deref(&self) -> &Self::Target {
        &self.app
    }
}

impl TestApp {
    /// order-service's service token.
    pub fn order_service_token(&self) -> String {
        self.issuer.service_token("order-service", AUDIENCE)
    }

    /// user-service's service token.
    pub fn user_service_token(&self) -> String {
        self.issuer.service_token("user-service", AUDIENCE)
    }

    /// Sends `method path` with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
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

    /// Posts a notification event with order-service's token.
    pub async fn notify(&self, event: &Value) -> reqwest::Response {
        let token = self.order_service_token();
        self.send(
            Method::POST,
            "/internal/v1/notifications",
            Some(&token),
            Some(event),
        )
        .await
    }

    /// Posts an event and expects 202; returns the answer.
    pub async fn notify_ok(&self, event: &Value) -> Value {
        let response = self.notify(event).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{event}");
        response.json().await.expect("a JSON answer")
    }

    /// GETs `path` with `token`, expecting 200, and decodes the body.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        let response = self.send(Method::GET, path, Some(token), None).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("a JSON body")
    }

    /// The `(status, attempts)` of a delivery.
    pub async fn delivery_state(&self, delivery_id: &str) -> (String, i32) {
        let id: Uuid = delivery_id.parse().expect("a delivery id");
        sqlx::query_as("select status, attempts from deliveries where delivery_id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .expect("the delivery exists")
    }

    /// Waits until a delivery has `status`.
    pub async fn wait_for_status(&self, delivery_id: &str, status: &str) {
        let wanted = status.to_owned();
        eventually(Duration::from_secs(15), || async {
            self.delivery_state(delivery_id).await.0 == wanted
        })
        .await;
    }

    /// Rows in a table of the service's schema.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
            .fetch_one(&self.pool)
            .await
            .expect("counting")
    }

    /// Settings like the running service's, for workers a test drives itself.
    pub fn worker_settings(&self) -> Settings {
        let mut settings: Settings =
            service_kit::service::load_settings::<Application>().expect("the default settings");
        settings.smtp.host = self.smtp.host();
        settings.smtp.port = self.smtp.port();
        settings.smtp.tls = SmtpTls::None;
        settings.delivery.max_attempts = 3;
        settings.delivery.backoff_base_ms = 10;
        settings.delivery.backoff_max_secs = 1;
        settings.delivery.batch_size = 5;
        settings
    }
}

/// Polls `check` until it holds; panics after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// An `order_confirmed` event for `user_id`.
pub fn order_confirmed(user_id: Uuid) -> Value {
    json!({
        "event_id": Uuid::now_v7(),
        "user_id": user_id,
        "template": "order_confirmed",
        "data": {
            "order_id": "0190a3c8-1111-7000-8000-000000000001",
            "total_cents": 3998,
            "currency": "EUR",
            "items": [
                {"name": "Desk lamp", "quantity": 2, "unit_price_cents": 1999, "line_total_cents": 3998}
            ]
        }
    })
}

/// A `welcome` event for `user_id` at `email`.
pub fn welcome(user_id: Uuid, email: &str) -> Value {
    json!({
        "event_id": Uuid::now_v7(),
        "user_id": user_id,
        "to": {"email": email},
        "template": "welcome",
        "data": {"full_name": "Ada Lovelace"}
    })
}

/// A `password_reset` event to `email`.
pub fn password_reset(email: &str, token: &str) -> Value {
    json!({
        "event_id": Uuid::now_v7(),
        "to": {"email": email},
        "template": "password_reset",
        "data": {"token": token, "expires_at": "2026-11-24T21:00:00Z", "full_name": "Ada Lovelace"}
    })
}

/// Parses a received email.
pub fn parse_mail(mail: &ReceivedMail) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default()
        .parse(&mail.data)
        .expect("a MIME message")
}

/// A fake user-service: `GET /internal/v1/users/{id}` from a map, bearer
/// token required.
#[derive(Clone)]
pub struct FakeUsers {
    pub url: String,
    contacts: Arc<Mutex<HashMap<Uuid, Value>>>,
    calls: Arc<Mutex<Vec<String>>>,
    gate: Arc<tokio::sync::RwLock<()>>,
}

impl FakeUsers {
    pub async fn start() -> Self {
        let contacts: Arc<Mutex<HashMap<Uuid, Value>>> = Arc::default();
        let calls: Arc<Mutex<Vec<String>>> = Arc::default();
        let gate: Arc<tokio::sync::RwLock<()>> = Arc::default();
        let state = (Arc::clone(&contacts), Arc::clone(&calls), Arc::clone(&gate));
        let app = Router::new()
            .route("/internal/v1/users/{id}", get(contact))
            .with_state(state);
        let url = serve(app).await;
        Self {
            url,
            contacts,
            calls,
            gate,
        }
    }

    /// Holds every lookup's answer (after it is counted in [`Self::calls`])
    /// until the guard is dropped.
    pub async fn hold(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        Arc::clone(&self.gate).write_owned().await
    }

    /// Adds a user; returns their id.
    pub fn add(&self, email: &str, phone: Option<&str>) -> Uuid {
        let id = Uuid::now_v7();
        self.contacts.lock().unwrap().insert(
            id,
            json!({"id": id, "email": email, "full_name": "Ada Lovelace", "phone": phone}),
        );
        id
    }

    /// The `Authorization` headers of the lookups so far.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

type UsersState = (
    Arc<Mutex<HashMap<Uuid, Value>>>,
    Arc<Mutex<Vec<String>>>,
    Arc<tokio::sync::RwLock<()>>,
);

async fn contact(
    State((contacts, calls, gate)): State<UsersState>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> axum::response::Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    calls.lock().unwrap().push(auth.clone());
    let _open = gate.read().await;
    if !auth.starts_with("Bearer ") || auth.len() < 20 {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match contacts.lock().unwrap().get(&id) {
        Some(contact) => axum::Json(contact.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// One request a fake provider received.
#[derive(Debug, Clone)]
pub struct ProviderRequest {
    pub path: String,
    pub authorization: String,
    pub idempotency_key: String,
    pub body: String,
    /// Whether the provider accepted it.
    pub accepted: bool,
}

/// A fake SMS gateway (Twilio-style, 201) or push gateway (FCM-style, 200
/// with `{success, failure}`), which can fail the next N requests with 503.
#[derive(Clone)]
pub struct FakeProvider {
    pub url: String,
    requests: Arc<Mutex<Vec<ProviderRequest>>>,
    fail_next: Arc<Mutex<(usize, StatusCode)>>,
}

type ProviderState = (
    Arc<Mutex<Vec<ProviderRequest>>>,
    Arc<Mutex<(usize, StatusCode)>>,
);

impl FakeProvider {
    pub async fn start() -> Self {
        let requests: Arc<Mutex<Vec<ProviderRequest>>> = Arc::default();
        let fail_next = Arc::new(Mutex::new((0, StatusCode::SERVICE_UNAVAILABLE)));
        let app = Router::new()
            .fallback(provider)
            .with_state((Arc::clone(&requests), Arc::clone(&fail_next)));
        let url = serve(app).await;
        Self {
            url,
            requests,
            fail_next,
        }
    }

    /// Answers the next `n` requests with 503.
    pub fn fail_next(&self, n: usize) {
        *self.fail_next.lock().unwrap() = (n, StatusCode::SERVICE_UNAVAILABLE);
    }

    /// Answers the next `n` requests with 400 (a permanent refusal).
    pub fn reject_next(&self, n: usize) {
        *self.fail_next.lock().unwrap() = (n, StatusCode::BAD_REQUEST);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<ProviderRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests it accepted.
    pub fn accepted(&self) -> Vec<ProviderRequest> {
        self.requests().into_iter().filter(|r| r.accepted).collect()
    }
}

async fn provider(
    State((requests, fail_next)): State<ProviderState>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let fail = {
        let mut next = fail_next.lock().unwrap();
        let fail = (next.0 > 0).then_some(next.1);
        next.0 = next.0.saturating_sub(1);
        fail
    };
    requests.lock().unwrap().push(ProviderRequest {
        path: uri.path().to_owned(),
        authorization: header("authorization"),
        idempotency_key: header("idempotency-key"),
        body,
        accepted: fail.is_none(),
    });
    if let Some(status) = fail {
        return status.into_response();
    }
    if uri.path().ends_with("/Messages.json") {
        (
            StatusCode::CREATED,
            axum::Json(json!({"sid": "SM123", "status": "queued"})),
        )
            .into_response()
    } else {
        axum::Json(json!({"success": 1, "failure": 0, "results": [{"message_id": "m1"}]}))
            .into_response()
    }
}

async fn serve(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a fake peer");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Points the SMS channel at `provider` (HTTP adapter).
pub fn sms_via(settings: &mut Settings, provider: &FakeProvider) {
    settings.sms.provider = ProviderKind::Http;
    settings.sms.base_url = provider.url.clone();
    settings.sms.account_sid = "AC123".into();
    settings.sms.auth_token = "sms-secret-token".to_owned().into();
    settings.sms.from = "+15550001111".into();
}

/// Points the push channel at `provider` (HTTP adapter).
pub fn push_via(settings: &mut Settings, provider: &FakeProvider) {
    settings.push.provider = ProviderKind::Http;
    settings.push.base_url = provider.url.clone();
    settings.push.server_key = "push-server-key".to_owned().into();
}
