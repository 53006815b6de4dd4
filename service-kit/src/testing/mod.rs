//! Test support (feature `testing`): a fresh database per test, a token
//! issuer with a live JWKS endpoint, a TCP proxy that can cut a service off
//! from its database, and log capture for test runs.

pub mod contract;
mod harness;
pub mod ops_suite;
mod repository;
pub mod smtp;

pub use harness::{
    TestApp, problem, spawn, spawn_behind_proxy, spawn_configured, spawn_replicas,
    spawn_with_issuer,
};

use axum::Router;
use axum::routing::{get, post};
use secrecy::SecretString;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once, RwLock};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use uuid::Uuid;

use crate::auth::client_credentials::ClientCredentialsSettings;
use crate::auth::{ROLE_ADMIN, ROLE_CUSTOMER, ROLE_SERVICE, SigningKey, jwk_set};
use crate::config::{AuthSettings, DatabaseSettings};

/// Installs a subscriber once per test process: the OpenTelemetry layer (so
/// `traceparent` propagation works) and, with `TEST_LOG=1`, log output.
pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let fmt = std::env::var_os("TEST_LOG")
            .map(|_| tracing_subscriber::fmt::layer().with_test_writer());
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(otel)
            .with(fmt)
            .try_init();
    });
}

/// A database of its own for one test, on the server named by `DATABASE_URL`
/// (a role allowed to create databases; `cargo xtask test` provides one).
pub struct TestDatabase {
    url: String,
    schema: String,
}

impl TestDatabase {
    /// Creates a fresh, empty database; the service's schema is created by
    /// its migrations.
    pub async fn create(schema: &str) -> Self {
        let admin_url = std::env::var("DATABASE_URL").expect(
            "DATABASE_URL must name a Postgres role that can create databases; \
             run the tests through `cargo xtask test`, which starts one",
        );
        let name = format!("test_{}", Uuid::new_v4().simple());
        repository::create_database(&admin_url, &name)
            .await
            .expect("creating the test database");
        let mut url = url::Url::parse(&admin_url).expect("DATABASE_URL is a URL");
        url.set_path(&name);
        Self {
            url: url.to_string(),
            schema: schema.to_owned(),
        }
    }

    /// Settings pointing a service at this database, migrating on start.
    pub fn settings(&self) -> DatabaseSettings {
        self.settings_for_url(self.url.clone())
    }

    /// Settings reaching this database through `proxy` instead.
    pub fn settings_via(&self, proxy: &TcpProxy) -> DatabaseSettings {
        let mut url = url::Url::parse(&self.url).expect("test URL");
        url.set_host(Some("127.0.0.1")).expect("IP host");
        url.set_port(Some(proxy.addr().port())).expect("port");
        self.settings_for_url(url.to_string())
    }

    /// The connection URL (with the admin role).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The Postgres host and port this database lives on.
    pub fn server_addr(&self) -> SocketAddr {
        let url = url::Url::parse(&self.url).expect("test URL");
        let host = url.host_str().unwrap_or("127.0.0.1");
        let host = if host == "localhost" {
            "127.0.0.1"
        } else {
            host
        };
        format!("{host}:{}", url.port().unwrap_or(5432))
            .parse()
            .expect("host:port")
    }

    fn settings_for_url(&self, url: String) -> DatabaseSettings {
        DatabaseSettings {
            url: SecretString::from(url),
            schema: self.schema.clone(),
            max_connections: 5,
            min_connections: 0,
            acquire_timeout_secs: 2,
            idle_timeout_secs: 60,
            statement_timeout_secs: 30,
            migrate_on_start: true,
        }
    }
}

/// Signs tokens the way user-service does and serves their JWKS.
pub struct TestIssuer {
    keys: Arc<RwLock<Vec<SigningKey>>>,
    addr: SocketAddr,
}

/// The issuer name test tokens carry (the kit's default expected `iss`).
pub const TEST_ISSUER: &str = "user-service";

impl TestIssuer {
    /// Starts the JWKS endpoint on a free port with one active key, and a
    /// client-credentials token endpoint shaped like user-service's
    /// (`POST /api/v1/auth/token`, HTTP Basic, form `audience`): any client
    /// whose secret is not `wrong-secret` gets a service token for the
    /// requested audience, so services under test can call each other.
    pub async fn start() -> Self {
        let keys = Arc::new(RwLock::new(vec![
            SigningKey::generate("test-key-1").expect("key generation"),
        ]));
        let served = Arc::clone(&keys);
        let signing = Arc::clone(&keys);
        let app = Router::new()
            .route(
                "/.well-known/jwks.json",
                get(move || {
                    let keys = Arc::clone(&served);
                    async move {
                        let keys = keys.read().expect("lock");
                        axum::Json(jwk_set(keys.iter()))
                    }
                }),
            )
            .route(
                "/api/v1/auth/token",
                post(move |headers: axum::http::HeaderMap, body: String| {
                    let keys = Arc::clone(&signing);
                    async move { issue_service_token(&keys, &headers, &body) }
                }),
            );
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the JWKS server");
        let addr = listener.local_addr().expect("bound address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { keys, addr }
    }

    /// Where the JWKS is served.
    pub fn jwks_url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.addr)
    }

    /// Where service tokens are issued (client credentials).
    pub fn token_url(&self) -> String {
        format!("http://{}/api/v1/auth/token", self.addr)
    }

    /// Client-credentials settings for `client_id` against this issuer.
    pub fn client_credentials(&self, client_id: &str) -> ClientCredentialsSettings {
        ClientCredentialsSettings {
            token_url: self.token_url(),
            client_id: client_id.to_owned(),
            client_secret: SecretString::from(format!("{client_id}-test-secret")),
        }
    }

    /// Auth settings for a service called `audience` trusting this issuer.
    pub fn auth_settings(&self, audience: &str) -> AuthSettings {
        AuthSettings {
            jwks_url: self.jwks_url(),
            issuer: TEST_ISSUER.to_owned(),
            audience: audience.to_owned(),
            jwks_refresh_secs: 300,
        }
    }

    /// Adds a new key and signs with it from now on; the old keys stay
    /// published (rotation without logging anyone out).
    pub fn rotate(&self) -> String {
        let mut keys = self.keys.write().expect("lock");
        let kid = format!("test-key-{}", keys.len() + 1);
        keys.push(SigningKey::generate(kid.clone()).expect("key generation"));
        kid
    }

    /// Signs arbitrary claims with the active key (for negative tests).
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        let keys = self.keys.read().expect("lock");
        keys.last()
            .expect("one key at least")
            .sign(claims)
            .expect("signing")
    }

    /// Valid claims for `sub` with `roles`, for `audience`, expiring in 15 min.
    pub fn claims(sub: &str, roles: &[&str], audience: &str) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": TEST_ISSUER, "sub": sub, "aud": audience,
            "iat": now, "exp": now + 900, "jti": Uuid::new_v4().to_string(), "roles": roles,
        })
    }

    /// A customer's token for `audience`.
    pub fn user_token(&self, user_id: Uuid, audience: &str) -> String {
        self.sign(&Self::claims(
            &user_id.to_string(),
            &[ROLE_CUSTOMER],
            audience,
        ))
    }

    /// An administrator's token for `audience`.
    pub fn admin_token(&self, user_id: Uuid, audience: &str) -> String {
        self.sign(&Self::claims(
            &user_id.to_string(),
            &[ROLE_CUSTOMER, ROLE_ADMIN],
            audience,
        ))
    }

    /// A service token (client-credentials) of `client_id` for `audience`.
    pub fn service_token(&self, client_id: &str, audience: &str) -> String {
        self.sign(&Self::claims(client_id, &[ROLE_SERVICE], audience))
    }
}

/// The test issuer's token endpoint: HTTP Basic `client_id:secret`, form
/// `grant_type=client_credentials&audience=...`.
fn issue_service_token(
    keys: &RwLock<Vec<SigningKey>>,
    headers: &axum::http::HeaderMap,
    body: &str,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use base64::Engine;
    let credentials = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .and_then(|decoded| String::from_utf8(decoded).ok());
    let Some((client_id, secret)) = credentials
        .as_deref()
        .and_then(|pair| pair.split_once(':'))
        .map(|(id, secret)| (id.to_owned(), secret.to_owned()))
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if secret == "wrong-secret" {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let form: std::collections::HashMap<String, String> =
        serde_urlencoded::from_str(body).unwrap_or_default();
    let Some(audience) = form.get("audience") else {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    };
    let claims = TestIssuer::claims(&client_id, &[ROLE_SERVICE], audience);
    let keys = keys.read().expect("lock");
    let token = keys
        .last()
        .expect("one key at least")
        .sign(&claims)
        .expect("signing");
    axum::Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": 900}))
        .into_response()
}

/// A TCP forwarder that can be switched off (severing every connection and
/// refusing new ones) and on again: a database outage on demand.
pub struct TcpProxy {
    addr: SocketAddr,
    enabled: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl TcpProxy {
    /// Starts forwarding a free local port to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the proxy");
        let addr = listener.local_addr().expect("bound address");
        let enabled = Arc::new(AtomicBool::new(true));
        let (cut, _) = watch::channel(0u64);
        let accepting = Arc::clone(&enabled);
        let cuts = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { addr, enabled, cut }
    }

    /// The proxy's own address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Severs every open connection and refuses new ones.
    pub fn disable(&self) {
        self.enabled.store(false, Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
    }

    /// Accepts connections again.
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::SeqCst);
    }
}
