//! Errors as RFC 9457 problem details (`application/problem+json`).
//!
//! Every error response of the fleet has the same shape, whatever produced it:
//! a handler, an extractor rejection, an unknown route, a timeout or a panic.
//! 5xx bodies are generic; their cause chain is logged once, here, where the
//! error becomes a response.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

use crate::request_id;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request, reported in a 422.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// Dotted path of the field (`shipping_address.city`, `items[0].quantity`).
    pub field: String,
    /// What is wrong with it, for humans.
    pub message: String,
}

impl FieldError {
    /// A field error for `field` with a human-readable `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document, as the fleet renders it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem (`/problems/validation-error`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation of this occurrence, safe to show to the caller.
    pub detail: String,
    /// The request's correlation id (also in the `X-Request-ID` header).
    pub request_id: Option<String>,
    /// Invalid fields, for validation failures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// The error type handlers return: a status, a problem body and optional
/// extra headers, plus the underlying cause for the log (never the body).
/// Boxed, so `Result<T, ApiError>` stays one pointer wide on the happy path.
pub struct ApiError(Box<Inner>);

struct Inner {
    status: StatusCode,
    kind: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    headers: HeaderMap,
    source: Option<anyhow::Error>,
}

impl ApiError {
    /// An error with `status` whose `detail` is shown to the caller.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            status,
            kind: default_kind(status),
            detail: detail.into(),
            errors: Vec::new(),
            headers: HeaderMap::new(),
            source: None,
        }))
    }

    /// 400: the request cannot be understood.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401 with a `WWW-Authenticate: Bearer` challenge (RFC 6750).
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let challenge = format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            detail.replace(['"', '\\'], "'")
        );
        let mut err = Self::new(StatusCode::UNAUTHORIZED, detail);
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            err.0.headers.insert(header::WWW_AUTHENTICATE, value);
        }
        err
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404: no such resource (also for another user's resource).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    /// 422 listing every invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The request has invalid fields.",
        );
        err.0.errors = errors;
        err
    }

    /// 422 for a single invalid field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    /// 429 with `Retry-After` in seconds.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests; retry later.",
        )
        .with_header(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after_secs.max(1)),
        )
    }

    /// 503: a dependency is unavailable; the cause is logged, not shown.
    pub fn unavailable(err: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "A dependency is temporarily unavailable; retry later.",
        );
        e.0.source = Some(err.into());
        e
    }

    /// A database error of a request: 503 with `Retry-After: 1` when a
    /// retry could succeed ([`crate::db::is_transient`]: the database down,
    /// the pool exhausted, a deadlock, a statement timeout), 500 otherwise.
    /// The cause is logged, not shown.
    pub fn database(err: sqlx::Error) -> Self {
        if crate::db::is_transient(&err) {
            Self::unavailable(err).with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
        } else {
            Self::internal(err)
        }
    }

    /// 500: the cause is logged once, the body stays generic.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error occurred.",
        );
        e.0.source = Some(err.into());
        e
    }

    /// Overrides the problem `type` slug (rendered as `/problems/<slug>`).
    pub fn with_kind(mut self, kind: &'static str) -> Self {
        self.0.kind = kind;
        self
    }

    /// Adds a response header (`Retry-After`, `Location`, ...).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers.insert(name, value);
        self
    }

    /// Attaches the underlying cause, for the log only.
    pub fn with_source(mut self, err: impl Into<anyhow::Error>) -> Self {
        self.0.source = Some(err.into());
        self
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The field errors, if any.
    pub fn field_errors(&self) -> &[FieldError] {
        &self.0.errors
    }

    /// The problem document this error renders as.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("/problems/{}", self.0.kind),
            title: self
                .0
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_owned(),
            status: self.0.status.as_u16(),
            detail: self.0.detail.clone(),
            request_id: request_id::current(),
            errors: self.0.errors.clone(),
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.0.status)
            .field("detail", &self.0.detail)
            .field("source", &self.0.source)
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.status, self.0.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The one place an error is logged: where it becomes a response.
        if self.0.status.is_server_error() {
            match &self.0.source {
                Some(source) => tracing::error!(
                    error = format!("{source:#}"),
                    status = self.0.status.as_u16(),
                    "request failed"
                ),
                None => {
                    tracing::error!(status = self.0.status.as_u16(), detail = %self.0.detail, "request failed")
                }
            }
        } else if let Some(source) = &self.0.source {
            tracing::debug!(
                error = format!("{source:#}"),
                status = self.0.status.as_u16(),
                "request rejected"
            );
        }
        let mut response = problem_response(&self.problem());
        response.headers_mut().extend(self.0.headers);
        response
    }
}

/// Renders a problem document with its status and media type.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

/// The problem `type` slug used for a status when a handler names none.
pub(crate) fn default_kind(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad-request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not-found",
        405 => "method-not-allowed",
        406 => "not-acceptable",
        408 => "request-timeout",
        409 => "conflict",
        412 => "precondition-failed",
        413 => "payload-too-large",
        415 => "unsupported-media-type",
        422 => "validation-error",
        429 => "rate-limited",
        503 => "service-unavailable",
        504 => "timeout",
        s if s >= 500 => "internal-error",
        _ => "about-blank",
    }
}

/// The `detail` given to error responses that no handler wrote (a 405 from
/// the router, a 413 from the body limit, a timeout).
pub(crate) fn default_detail(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "No resource matches this path.",
        405 => "This method is not allowed on this resource.",
        408 | 503 | 504 => "The request took too long and was abandoned.",
        413 => "The request body exceeds the 1 MiB limit.",
        415 => "Expected a body with Content-Type: application/json.",
        s if s >= 500 => "An unexpected error occurred.",
        _ => "The request could not be processed.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    #[tokio::test]
    async fn internal_errors_render_a_generic_body_without_the_cause() {
        let err = ApiError::internal(anyhow::anyhow!(
            "select * from secrets where password='hunter2'"
        ));
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("select"),
            "{text}"
        );
        let problem: Problem = serde_json::from_str(&text).unwrap();
        assert_eq!(problem.status, 500);
        assert_eq!(problem.kind, "/problems/internal-error");
    }

    #[tokio::test]
    async fn unauthorized_carries_a_bearer_challenge() {
        let response = ApiError::unauthorized("token \"expired\"").into_response();
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{challenge}"
        );
    }

    #[test]
    fn validation_errors_list_each_field() {
        let problem = ApiError::validation(vec![FieldError::new("email", "invalid")]).problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors, vec![FieldError::new("email", "invalid")]);
    }
}
