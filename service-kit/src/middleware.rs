//! The middleware stack every service runs, outermost first:
//! sensitive headers -> request id -> security headers -> span, access log
//! and metrics -> compression -> CORS -> panic to 500 -> problem+json for
//! bare errors -> timeout -> body limit -> the router (with problem+json 404
//! and 405).

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use opentelemetry::global;
use opentelemetry_http::HeaderExtractor;
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::ServerSettings;
use crate::error::{
    ApiError, PROBLEM_JSON, Problem, default_detail, default_kind, problem_response,
};
use crate::request_id::{self, RequestId};

/// Largest accepted request body (API.md: 413 beyond).
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// Routes that are polled constantly: logged at DEBUG to keep logs readable.
const QUIET_ROUTES: &[&str] = &["/health", "/ready", "/metrics"];

/// Routes (matched patterns, `/api/v1/products/{id}/images`) allowed a
/// larger request body than [`BODY_LIMIT_BYTES`]; every other route keeps it.
#[derive(Debug, Clone, Default)]
pub struct BodyLimits(Arc<HashMap<String, usize>>);

impl BodyLimits {
    /// Allows `route` bodies of up to `bytes`.
    pub fn allow(mut self, route: &str, bytes: usize) -> Self {
        Arc::make_mut(&mut self.0).insert(route.to_owned(), bytes);
        self
    }

    fn of(&self, request: &Request) -> usize {
        request
            .extensions()
            .get::<MatchedPath>()
            .and_then(|route| self.0.get(route.as_str()).copied())
            .unwrap_or(BODY_LIMIT_BYTES)
    }
}

/// Applies the fleet's stack to `router`, including problem+json fallbacks
/// for unknown routes and wrong methods.
pub fn apply(router: Router, settings: &ServerSettings) -> Router {
    apply_with(router, settings, BodyLimits::default())
}

/// [`apply`], with larger body limits on the routes `limits` names.
pub fn apply_with(router: Router, settings: &ServerSettings, limits: BodyLimits) -> Router {
    router
        .fallback(|| async { ApiError::not_found(default_detail(StatusCode::NOT_FOUND)) })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                default_detail(StatusCode::METHOD_NOT_ALLOWED),
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(middleware::from_fn_with_state(limits, limit_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(settings.request_timeout_secs),
        ))
        .layer(middleware::from_fn(problem_for_bare_errors))
        .layer(CatchPanicLayer::custom(panic_to_problem))
        .layer(cors(&settings.cors_allowed_origins))
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn(observe))
        .layer(middleware::from_fn_with_state(
            SecurityHeaders::from_settings(settings),
            security_headers,
        ))
        .layer(middleware::from_fn(request_id::middleware))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
            header::PROXY_AUTHORIZATION,
        ]))
}

/// One span per request (request id, method, matched route, status, latency),
/// continuing the caller's trace; one access-log line; the HTTP metrics,
/// whose labels a client cannot multiply: the method is bounded
/// ([`method_label`]), the route is the matched pattern or `unmatched`,
/// never the raw path, and the status is a number.
async fn observe(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.as_str().to_owned())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = %route,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let parent =
        global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(request.headers())));
    let _ = span.set_parent(parent);

    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();

    span.record("status", status);
    span.record("latency_ms", elapsed.as_secs_f64() * 1000.0);
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(
                status,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                "request completed"
            );
        } else if QUIET_ROUTES.contains(&route.as_str()) {
            tracing::debug!(
                status,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                "request completed"
            );
        } else {
            tracing::info!(
                status,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                "request completed"
            );
        }
    });

    let labels = [
        ("method", method_label(&method).to_owned()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    response
}

/// Response headers every service sends, whatever gateway is in front.
#[derive(Clone)]
struct SecurityHeaders {
    /// `Strict-Transport-Security`, when `server.hsts_max_age_secs` > 0.
    hsts: Option<HeaderValue>,
}

impl SecurityHeaders {
    fn from_settings(settings: &ServerSettings) -> Self {
        let hsts = (settings.hsts_max_age_secs > 0)
            .then(|| format!("max-age={}; includeSubDomains", settings.hsts_max_age_secs))
            .and_then(|value| HeaderValue::from_str(&value).ok());
        Self { hsts }
    }
}

/// `X-Content-Type-Options: nosniff` on every response; `Cache-Control:
/// no-store` on the answer to any request that carried credentials
/// (`Authorization`) unless the handler chose a cache policy itself, so no
/// shared or browser cache keeps one user's data; HSTS when configured
/// (browsers honour it only over HTTPS, i.e. behind the TLS gateway).
async fn security_headers(
    axum::extract::State(security): axum::extract::State<SecurityHeaders>,
    request: Request,
    next: Next,
) -> Response {
    let authenticated = request.headers().contains_key(header::AUTHORIZATION);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    if authenticated {
        headers
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    if let Some(hsts) = &security.hsts {
        headers
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(hsts.clone());
    }
    response
}

/// The `method` label: the standard methods as they are, anything else
/// `other`. A client chooses the method (`curl -X ANYTHING`): used raw, each
/// new one would add a counter and a histogram to every scrape, forever.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The body limit of the route (`tower_http`'s `RequestBodyLimit`, per
/// route): a declared length above it is refused at once, and a body that
/// streams past it fails when read (413 either way), never buffered whole.
async fn limit_body(
    axum::extract::State(limits): axum::extract::State<BodyLimits>,
    request: Request,
    next: Next,
) -> Response {
    let limit = limits.of(&request);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        let detail = if limit == BODY_LIMIT_BYTES {
            default_detail(StatusCode::PAYLOAD_TOO_LARGE).to_owned()
        } else {
            format!(
                "The request body exceeds the {} KiB limit of this resource.",
                limit / 1024
            )
        };
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, detail).into_response();
    }
    let request = request.map(|body| Body::new(http_body_util::Limited::new(body, limit)));
    next.run(request).await
}

/// Errors produced below the handlers (axum's own 405 or 413, a timeout)
/// arrive with an empty or plain-text body: give them the problem shape,
/// keeping their headers (`Allow`, `Retry-After`, ...).
async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let problem = Problem {
        kind: format!("/problems/{}", default_kind(status)),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: default_detail(status).to_owned(),
        request_id: request_id::current(),
        errors: Vec::new(),
    };
    let fresh = problem_response(&problem);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    Response::from_parts(parts, fresh.into_body())
}

/// A panicking handler becomes a generic 500; the panic message is logged.
fn panic_to_problem(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    ApiError::internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}

fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if allowed.is_empty() {
        // No allow-list: no CORS headers, browsers keep same-origin rules.
        return CorsLayer::new();
    }
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("idempotency-key"),
            request_id::X_REQUEST_ID.clone(),
        ])
        .expose_headers([
            header::ETAG,
            header::RETRY_AFTER,
            header::LOCATION,
            request_id::X_REQUEST_ID.clone(),
        ])
        .max_age(Duration::from_secs(600))
}
