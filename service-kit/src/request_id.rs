//! Correlation ids: `X-Request-ID` accepted when it is 1-128 characters of
//! `[A-Za-z0-9._-]`, otherwise replaced by a generated one; echoed on every
//! response and available to the rest of the request through a task-local,
//! so error bodies and outbound calls carry it without threading it around.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The correlation header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT: RequestId;
}

/// A validated correlation id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// Accepts `value` if it follows the API's rules.
    pub fn parse(value: &str) -> Option<Self> {
        let valid = (1..=128).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        valid.then(|| Self(value.to_owned()))
    }

    /// A fresh id (UUID v7: unique and roughly time-ordered in logs).
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id of the request being served by the current task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(|id| id.0.clone()).ok()
}

/// Runs `fut` with `id` as the current request id (for background work that
/// continues a request, e.g. a spawned task).
pub async fn scope<F: Future>(id: RequestId, fut: F) -> F::Output {
    CURRENT.scope(id, fut).await
}

/// Spawns `fut` as its own task (so it runs to its end even if the client
/// goes away) in the current span and with the current request id, which
/// every log line, outbound call and outbox event of the task then carries.
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    use tracing::Instrument;
    let span = tracing::Span::current();
    let id = current().and_then(|id| RequestId::parse(&id));
    tokio::spawn(async move {
        match id {
            Some(id) => scope(id, fut.instrument(span)).await,
            None => fut.instrument(span).await,
        }
    })
}

/// Middleware: validates or generates the id, stores it in the request's
/// extensions and the task-local, and echoes it on the response.
pub async fn middleware(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::parse)
        .unwrap_or_else(RequestId::generate);
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        // Downstream code (spans, handlers) sees the validated id only.
        request.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    request.extensions_mut().insert(id.clone());
    let mut response = CURRENT.scope(id.clone(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ids_of_the_allowed_alphabet_and_length() {
        assert!(RequestId::parse("abc-DEF_123.x").is_some());
        assert!(RequestId::parse(&"a".repeat(128)).is_some());
    }

    #[test]
    fn rejects_empty_long_or_foreign_ids() {
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse(&"a".repeat(129)).is_none());
        assert!(RequestId::parse("has space").is_none());
        assert!(RequestId::parse("inject\nheader").is_none());
        assert!(RequestId::parse("ünïcode").is_none());
    }

    #[test]
    fn generated_ids_are_valid() {
        let id = RequestId::generate();
        assert!(RequestId::parse(id.as_str()).is_some());
    }
}
