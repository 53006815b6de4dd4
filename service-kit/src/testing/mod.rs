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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// What a service binary's `check-config` said.
#[derive(Debug)]
pub struct ConfigCheck {
    /// Whether it exited 0 (`serve` would accept the configuration).
    pub accepted: bool,
    /// Its stdout and stderr together.
    pub output: String,
}

/// Runs `binary check-config` (a test passes `env!("CARGO_BIN_EXE_<name>")`)
/// with exactly `env`: nothing is inherited from the test's environment, as
/// in a container that only has what its deployment gives it. The one
/// exception is `LLVM_PROFILE_FILE`, where a coverage run (`cargo llvm-cov`)
/// collects what the binary ran; without it an instrumented binary writes
/// its profile into the working directory.
pub fn check_config(binary: &str, env: &[(&str, &str)]) -> ConfigCheck {
    let mut command = std::process::Command::new(binary);
    command.arg("check-config").env_clear();
    if let Some(profile) = std::env::var_os("LLVM_PROFILE_FILE") {
        command.env("LLVM_PROFILE_FILE", profile);
    }
    let output = command
        .envs(env.iter().copied())
        .output()
        .expect("running the service binary");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    ConfigCheck {
        accepted: output.status.success(),
        output: text,
    }
}

/// Asserts that `binary` accepts the configuration `good`, and refuses each
/// one-variable change of it in `bad` (`None`: the variable unset, so the
/// built-in default applies), naming that variable and never its value.
pub fn assert_startup_rules(binary: &str, good: &[(&str, &str)], bad: &[(&str, Option<&str>)]) {
    let check = check_config(binary, good);
    assert!(
        check.accepted,
        "the good configuration is refused:\n{}",
        check.output
    );
    for (variable, value) in bad {
        let mut env: Vec<(&str, &str)> = good
            .iter()
            .copied()
            .filter(|(k, _)| k != variable)
            .collect();
        if let Some(value) = value {
            env.push((variable, value));
        }
        let check = check_config(binary, &env);
        assert!(
            !check.accepted,
            "{variable}={value:?} is accepted:\n{}",
            check.output
        );
        assert!(
            check.output.contains(&format!("({variable})")),
            "{variable}={value:?} is refused without naming it:\n{}",
            check.output
        );
        if let Some(value) = value.filter(|v| v.len() >= 8) {
            assert!(
                !check.output.contains(value),
                "the refusal shows the value of {variable}:\n{}",
                check.output
            );
        }
    }
}

/// A TCP forwarder that can be switched off (severing every connection and
/// refusing new ones) and on again: a database outage on demand.
///
/// In front of Postgres it also counts the round trips its clients make
/// for statements ([`TcpProxy::round_trips`]): every simple `Query`, and
/// every `Sync` that ends a batch of extended-protocol messages. A lone
/// `Sync` is a ping (sqlx pings each connection as it goes back to the
/// pool, after the caller has its answer) and is not counted. In front of an
/// HTTP/1.1 server it counts the requests ([`TcpProxy::http_requests`]).
pub struct TcpProxy {
    addr: SocketAddr,
    enabled: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    round_trips: Arc<AtomicU64>,
    http_requests: Arc<AtomicU64>,
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
        let round_trips = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&round_trips);
        let http_requests = Arc::new(AtomicU64::new(0));
        let requests = Arc::clone(&http_requests);
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                // Subscribe before checking: `disable` clears the flag and
                // then cuts, so a connection that finds the flag still set
                // is subscribed before that cut and is severed by it (the
                // other order would let a connection accepted during
                // `disable`, on a multi-threaded runtime, live on).
                let mut cut = cuts.subscribe();
                if !accepting.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let counter = Arc::clone(&counter);
                let requests = Arc::clone(&requests);
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let mut inbound = Observed {
                        inner: inbound,
                        frontend: PgFrontend::default(),
                        http: HttpRequestLines::default(),
                        round_trips: counter,
                        http_requests: requests,
                    };
                    tokio::select! {
                        // A cut wins over data ready at the same time.
                        biased;
                        _ = cut.changed() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        Self {
            addr,
            enabled,
            cut,
            round_trips,
            http_requests,
        }
    }

    /// HTTP/1.1 requests sent through this proxy so far (request lines
    /// seen; meaningless in front of anything else).
    pub fn http_requests(&self) -> u64 {
        self.http_requests.load(Ordering::SeqCst)
    }

    /// Statement round trips made to Postgres through this proxy so far (see the
    /// type's documentation; meaningless in front of anything else).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::SeqCst)
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

/// A client's end of a proxied connection: what it sends is observed (and
/// counted) on its way to the server.
struct Observed {
    inner: TcpStream,
    frontend: PgFrontend,
    http: HttpRequestLines,
    round_trips: Arc<AtomicU64>,
    http_requests: Arc<AtomicU64>,
}

impl tokio::io::AsyncRead for Observed {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut this.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = &polled {
            let read = &buf.filled()[before..];
            this.frontend.feed(read, &this.round_trips);
            this.http.feed(read, &this.http_requests);
        }
        polled
    }
}

impl tokio::io::AsyncWrite for Observed {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Reads a Postgres client's byte stream just enough to count the
/// exchanges that run statements (a simple `Query`, a `Sync` ending a
/// batch; a lone `Sync`, a ping, is not one). Untyped
/// start-up packets (SSL and GSS requests, the start-up message) come
/// first; typed messages follow. Assumes a connection without TLS, as the
/// test databases are.
#[derive(Default)]
struct PgFrontend {
    started: bool,
    pending: Vec<u8>,
    /// Messages since the last `Sync`.
    batch: usize,
}

impl PgFrontend {
    const PROTOCOL_3: u32 = 196_608;

    fn feed(&mut self, bytes: &[u8], round_trips: &AtomicU64) {
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        loop {
            let rest = &self.pending[at..];
            if !self.started {
                let (Some(len), Some(code)) = (be_u32(rest, 0), be_u32(rest, 4)) else {
                    break;
                };
                let len = len as usize;
                if len < 8 || rest.len() < len {
                    break;
                }
                self.started = code == Self::PROTOCOL_3;
                at += len;
                continue;
            }
            let (Some(&tag), Some(len)) = (rest.first(), be_u32(rest, 1)) else {
                break;
            };
            let len = len as usize;
            if rest.len() < 1 + len {
                break;
            }
            match tag {
                b'S' if self.batch > 0 => {
                    round_trips.fetch_add(1, Ordering::SeqCst);
                    self.batch = 0;
                }
                b'S' => {}
                b'Q' => {
                    round_trips.fetch_add(1, Ordering::SeqCst);
                }
                _ => self.batch += 1,
            }
            at += 1 + len;
        }
        self.pending.drain(..at);
    }
}

/// Counts HTTP/1.1 request lines (` HTTP/1.1\r\n`) in a client's byte
/// stream, also when one is split across reads.
#[derive(Default)]
struct HttpRequestLines {
    tail: Vec<u8>,
}

impl HttpRequestLines {
    const MARK: &'static [u8] = b" HTTP/1.1\r\n";

    fn feed(&mut self, bytes: &[u8], requests: &AtomicU64) {
        self.tail.extend_from_slice(bytes);
        let found = self
            .tail
            .windows(Self::MARK.len())
            .filter(|w| *w == Self::MARK)
            .count();
        requests.fetch_add(found as u64, Ordering::SeqCst);
        let keep = Self::MARK.len() - 1;
        if self.tail.len() > keep {
            self.tail.drain(..self.tail.len() - keep);
        }
    }
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let slice: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(slice))
}

#[cfg(test)]
mod pg_frontend_tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn counts_statement_exchanges_not_pings_even_when_split() {
        let mut stream = Vec::new();
        // SSLRequest, then the start-up message.
        stream.extend_from_slice(&8u32.to_be_bytes());
        stream.extend_from_slice(&80_877_103u32.to_be_bytes());
        stream.extend_from_slice(&12u32.to_be_bytes());
        stream.extend_from_slice(&PgFrontend::PROTOCOL_3.to_be_bytes());
        stream.extend_from_slice(b"\0\0\0\0");
        for (tag, body) in [
            (b'P', &b"select 1\0"[..]),
            (b'B', b"xx"),
            (b'E', b""),
            (b'S', b""),
        ] {
            stream.extend(message(tag, body));
        }
        stream.extend(message(b'S', b""));
        stream.extend(message(b'Q', b"begin\0"));
        let counter = AtomicU64::new(0);
        let mut frontend = PgFrontend::default();
        for chunk in stream.chunks(3) {
            frontend.feed(chunk, &counter);
        }
        assert_eq!(counter.load(Ordering::SeqCst), 2);
        assert!(frontend.pending.is_empty());
    }

    #[tokio::test]
    async fn the_proxy_forwards_both_ways_and_counts() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 64];
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                socket.write_all(&buf[..n]).await.unwrap();
            }
        });
        let proxy = TcpProxy::start(target).await;
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        let request = b"GET / HTTP/1.1\r\n\r\n";
        client.write_all(request).await.unwrap();
        let mut echoed = vec![0u8; request.len()];
        client.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, request);
        assert_eq!(proxy.http_requests(), 1);
    }

    #[test]
    fn counts_http_request_lines_split_across_reads() {
        let stream = b"POST /a HTTP/1.1\r\nhost: x\r\n\r\n{}GET /b HTTP/1.1\r\n\r\n";
        let requests = AtomicU64::new(0);
        let mut lines = HttpRequestLines::default();
        for chunk in stream.chunks(4) {
            lines.feed(chunk, &requests);
        }
        assert_eq!(requests.load(Ordering::SeqCst), 2);
    }
}
