//! The outbound HTTP client every service-to-service call goes through.
//!
//! Each call carries the current `X-Request-ID` and W3C `traceparent`, and a
//! service token when a [`TokenSource`] is configured; it has a per-call
//! timeout; idempotent calls (safe methods, PUT/DELETE, or a POST with an
//! `Idempotency-Key`) are retried a bounded number of times with jittered
//! exponential backoff; a circuit breaker per target fails fast while the
//! target is down; every attempt is counted by target, method and status.

use futures::future::BoxFuture;
use opentelemetry::global;
use opentelemetry_http::HeaderInjector;
use rand::Rng;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::request_id::{self, X_REQUEST_ID};

/// Supplies bearer tokens for outbound calls (service tokens obtained by the
/// client-credentials grant, cached until shortly before they expire).
pub trait TokenSource: Send + Sync {
    /// A currently valid access token.
    fn token(&self) -> BoxFuture<'_, anyhow::Result<String>>;
}

/// Why a call produced no HTTP response.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The target refused, reset or timed out on every attempt.
    #[error("{target} is unreachable: {source}")]
    Unreachable {
        /// The target's name.
        target: String,
        /// The last transport error.
        #[source]
        source: reqwest::Error,
    },
    /// Recent calls failed; calls are refused until the breaker's cool-down.
    #[error("{target} circuit is open after repeated failures")]
    CircuitOpen {
        /// The target's name.
        target: String,
    },
    /// No token could be obtained for the call.
    #[error("no service token for {target}")]
    Token {
        /// The target's name.
        target: String,
        /// Why.
        #[source]
        source: anyhow::Error,
    },
    /// The request could not be built (bad URL or body).
    #[error("invalid request to {target}: {message}")]
    Invalid {
        /// The target's name.
        target: String,
        /// What was wrong.
        message: String,
    },
}

/// Tunables of a [`ServiceClient`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Retries after the first attempt (idempotent calls only).
    pub max_retries: u32,
    /// First backoff; doubled each retry, with full jitter.
    pub backoff_base: Duration,
    /// Longest single backoff.
    pub backoff_max: Duration,
    /// Consecutive failures that open the circuit.
    pub breaker_threshold: u32,
    /// How long an open circuit refuses calls before letting one through.
    pub breaker_cooldown: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_retries: 2,
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(10),
        }
    }
}

/// A client for one target service.
#[derive(Clone)]
pub struct ServiceClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    target: String,
    base_url: String,
    options: ClientOptions,
    tokens: Option<Arc<dyn TokenSource>>,
    breaker: Mutex<Breaker>,
}

impl ServiceClient {
    /// A client for `target` (a name used in metrics and errors) at `base_url`.
    pub fn new(
        target: impl Into<String>,
        base_url: impl Into<String>,
        options: ClientOptions,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(options.timeout.min(Duration::from_secs(2)))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("service-kit/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                target: target.into(),
                base_url: base_url.into().trim_end_matches('/').to_owned(),
                options,
                tokens: None,
                breaker: Mutex::new(Breaker::default()),
            }),
        })
    }

    /// Authenticates every call with tokens from `source`.
    pub fn with_token_source(self, source: Arc<dyn TokenSource>) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                http: inner.http.clone(),
                target: inner.target.clone(),
                base_url: inner.base_url.clone(),
                options: inner.options.clone(),
                tokens: Some(source),
                breaker: Mutex::new(Breaker::default()),
            }),
        }
    }

    /// The target's name.
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// Starts a call to `path` (relative to the base URL).
    pub fn request(&self, method: Method, path: &str) -> Call {
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
        );
        Call {
            client: self.clone(),
            method,
            url: format!("{}{}", self.inner.base_url, path),
            query: Vec::new(),
            body: None,
            headers: HeaderMap::new(),
            idempotent,
            timeout: None,
            error: None,
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Call {
        self.request(Method::GET, path)
    }

    /// `POST path`.
    pub fn post(&self, path: &str) -> Call {
        self.request(Method::POST, path)
    }
}

/// One outbound call being built.
#[must_use = "a call does nothing until sent"]
pub struct Call {
    client: ServiceClient,
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    headers: HeaderMap,
    idempotent: bool,
    timeout: Option<Duration>,
    error: Option<String>,
}

impl Call {
    /// A JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => self.body = Some(bytes),
            Err(err) => self.error = Some(format!("body does not serialize: {err}")),
        }
        self
    }

    /// Query parameters.
    pub fn query(mut self, pairs: &[(&str, &str)]) -> Self {
        self.query.extend(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self
    }

    /// Sets an `Idempotency-Key`, which also makes a POST retryable.
    pub fn idempotency_key(mut self, key: &str) -> Self {
        match HeaderValue::from_str(key) {
            Ok(value) => {
                self.headers
                    .insert(HeaderName::from_static("idempotency-key"), value);
                self.idempotent = true;
            }
            Err(_) => self.error = Some("idempotency key is not a valid header value".to_owned()),
        }
        self
    }

    /// Declares the call safe to repeat (the receiver deduplicates it).
    pub fn retryable(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// Overrides the per-attempt timeout for this call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the call, retrying when allowed. Any HTTP response is returned
    /// as is (the caller judges 4xx); `Err` means no usable response.
    pub async fn send(self) -> Result<Response, ClientError> {
        let inner = Arc::clone(&self.client.inner);
        let target = inner.target.clone();
        if let Some(message) = self.error {
            return Err(ClientError::Invalid { target, message });
        }
        let mut headers = self.headers;
        if let Some(id) = request_id::current().and_then(|id| HeaderValue::from_str(&id).ok()) {
            headers.insert(X_REQUEST_ID.clone(), id);
        }
        let context = tracing::Span::current().context();
        global::get_text_map_propagator(|p| {
            p.inject_context(&context, &mut HeaderInjector(&mut headers))
        });
        if let Some(tokens) = &inner.tokens {
            let token = tokens.token().await.map_err(|source| ClientError::Token {
                target: target.clone(),
                source,
            })?;
            let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                ClientError::Invalid {
                    target: target.clone(),
                    message: "token is not a header value".into(),
                }
            })?;
            headers.insert(AUTHORIZATION, value);
        }
        if self.body.is_some() {
            headers.insert(
                reqwest::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        let timeout = self.timeout.unwrap_or(inner.options.timeout);
        let attempts = if self.idempotent {
            inner.options.max_retries + 1
        } else {
            1
        };
        let method_label = self.method.to_string();

        let mut attempt = 0;
        loop {
            attempt += 1;
            if !inner.breaker_allows() {
                metrics::counter!("http_client_requests_total", "target" => target.clone(), "method" => method_label.clone(), "status" => "circuit_open").increment(1);
                return Err(ClientError::CircuitOpen { target });
            }
            let mut request = inner
                .http
                .request(self.method.clone(), &self.url)
                .headers(headers.clone())
                .timeout(timeout);
            if !self.query.is_empty() {
                request = request.query(&self.query);
            }
            if let Some(body) = &self.body {
                request = request.body(body.clone());
            }
            let started = Instant::now();
            let outcome = request.send().await;
            metrics::histogram!("http_client_request_duration_seconds", "target" => target.clone(), "method" => method_label.clone())
                .record(started.elapsed().as_secs_f64());
            let status_label = match &outcome {
                Ok(response) => response.status().as_u16().to_string(),
                Err(err) if err.is_timeout() => "timeout".to_owned(),
                Err(_) => "error".to_owned(),
            };
            metrics::counter!("http_client_requests_total", "target" => target.clone(), "method" => method_label.clone(), "status" => status_label).increment(1);

            let retry_after = match &outcome {
                Ok(response) => {
                    let failed = response.status().is_server_error();
                    inner.breaker_record(!failed);
                    if !is_retryable_status(response.status()) || attempt >= attempts {
                        return outcome
                            .map_err(|source| ClientError::Unreachable { target, source });
                    }
                    retry_after(response.headers())
                }
                Err(err) => {
                    inner.breaker_record(false);
                    if attempt >= attempts
                        || !(err.is_connect() || err.is_timeout() || err.is_request())
                    {
                        return outcome
                            .map_err(|source| ClientError::Unreachable { target, source });
                    }
                    None
                }
            };
            let delay = retry_after
                .unwrap_or_else(|| inner.backoff(attempt))
                .min(inner.options.backoff_max);
            tracing::debug!(target = %target, attempt, delay_ms = delay.as_millis() as u64, "retrying outbound call");
            tokio::time::sleep(delay).await;
        }
    }
}

impl Inner {
    /// Full-jitter exponential backoff: uniform in [0, base * 2^(attempt-1)].
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .options
            .backoff_base
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let ceiling = ceiling.min(self.options.backoff_max);
        let millis = rand::rng().random_range(0..=ceiling.as_millis().max(1) as u64);
        Duration::from_millis(millis)
    }

    fn breaker_allows(&self) -> bool {
        let Ok(mut breaker) = self.breaker.lock() else {
            return true;
        };
        breaker.allows(Instant::now(), self.options.breaker_cooldown)
    }

    fn breaker_record(&self, success: bool) {
        if let Ok(mut breaker) = self.breaker.lock() {
            breaker.record(success, Instant::now(), self.options.breaker_threshold);
        }
    }
}

fn is_retryable_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// Consecutive-failure circuit breaker: closed -> open (refuse) -> half-open
/// (one trial call) -> closed on success, open again on failure.
#[derive(Debug, Default)]
struct Breaker {
    consecutive_failures: u32,
    open_since: Option<Instant>,
    trial_in_flight: bool,
}

impl Breaker {
    fn allows(&mut self, now: Instant, cooldown: Duration) -> bool {
        match self.open_since {
            None => true,
            Some(since) if now.duration_since(since) >= cooldown && !self.trial_in_flight => {
                self.trial_in_flight = true;
                true
            }
            Some(_) => false,
        }
    }

    fn record(&mut self, success: bool, now: Instant, threshold: u32) {
        self.trial_in_flight = false;
        if success {
            self.consecutive_failures = 0;
            self.open_since = None;
        } else {
            self.consecutive_failures += 1;
            if self.consecutive_failures >= threshold {
                self.open_since = Some(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_the_threshold_and_lets_one_trial_through_after_cooldown() {
        let mut breaker = Breaker::default();
        let start = Instant::now();
        let cooldown = Duration::from_secs(10);
        for _ in 0..3 {
            assert!(breaker.allows(start, cooldown));
            breaker.record(false, start, 3);
        }
        assert!(!breaker.allows(start + Duration::from_secs(1), cooldown));
        let later = start + Duration::from_secs(11);
        assert!(
            breaker.allows(later, cooldown),
            "one trial after the cool-down"
        );
        assert!(!breaker.allows(later, cooldown), "only one trial at a time");
        breaker.record(true, later, 3);
        assert!(
            breaker.allows(later, cooldown),
            "closed again after a success"
        );
    }

    #[test]
    fn backoff_stays_within_its_ceiling() {
        let client =
            ServiceClient::new("t", "http://127.0.0.1:1", ClientOptions::default()).unwrap();
        for attempt in 1..10 {
            assert!(client.inner.backoff(attempt) <= ClientOptions::default().backoff_max);
        }
    }
}
