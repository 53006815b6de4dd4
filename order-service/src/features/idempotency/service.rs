//! Idempotency rules (see the module doc).

use aws_lc_rs::digest;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use service_kit::ApiError;
use service_kit::CancellationToken;
use service_kit::error::PROBLEM_JSON;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use uuid::Uuid;

use super::repository::{self, Holder};

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set on replayed responses (Stripe's name).
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// A validated key of a user's request.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The user it belongs to.
    pub user_id: Uuid,
    /// The key (1-255 printable ASCII characters).
    pub key: String,
    /// This request's claim on the key: it settles the key only while the
    /// key is still claimed by it.
    pub claim: Uuid,
}

impl IdempotencyKey {
    /// Reads the header: `None` when absent; 400 when malformed.
    pub fn from_headers(headers: &HeaderMap, user_id: Uuid) -> Result<Option<Self>, ApiError> {
        let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
            return Ok(None);
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| {
                (1..=255).contains(&k.len()) && k.bytes().all(|b| (0x21..0x7f).contains(&b))
            })
            .ok_or_else(|| {
                ApiError::bad_request(
                    "The Idempotency-Key header must be 1-255 printable ASCII characters.",
                )
                .with_kind("invalid-idempotency-key")
            })?;
        Ok(Some(Self {
            user_id,
            key: key.to_owned(),
            claim: Uuid::now_v7(),
        }))
    }

    /// Reads a required header: 400 when absent or malformed.
    pub fn required(headers: &HeaderMap, user_id: Uuid) -> Result<Self, ApiError> {
        Self::from_headers(headers, user_id)?.ok_or_else(|| {
            ApiError::bad_request("This request requires an Idempotency-Key header.")
                .with_kind("idempotency-key-required")
        })
    }
}

/// A response as stored with its key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body (a resource or a problem document).
    pub body: serde_json::Value,
}

impl StoredResponse {
    /// A success body.
    pub fn ok(status: StatusCode, body: &impl serde::Serialize) -> Self {
        Self {
            status,
            body: serde_json::to_value(body).unwrap_or(serde_json::Value::Null),
        }
    }

    /// An error's problem document.
    pub fn error(err: &ApiError) -> Self {
        Self {
            status: err.status(),
            body: serde_json::to_value(err.problem()).unwrap_or(serde_json::Value::Null),
        }
    }

    /// The HTTP response (`Idempotent-Replayed: true` on replays).
    pub fn into_response(self, replayed: bool) -> Response {
        let content_type = if self.status.is_success() {
            "application/json"
        } else {
            PROBLEM_JSON
        };
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if replayed {
            headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
        }
        response
    }
}

/// How a keyed request starts.
#[derive(Debug)]
pub enum Begin {
    /// This request owns the key and does the work.
    Owner,
    /// The key's first request finished: replay its response.
    Replay(StoredResponse),
    /// The key's first request stopped moving (its process died) longer
    /// than the lease ago: the caller decides from its own records whether
    /// to replay an outcome or [`take_over`] the key.
    Stale,
}

/// A fingerprint of the request: method, path and the JSON body in its
/// canonical form (keys sorted), so whitespace and key order do not matter.
pub fn request_hash(method: &str, path: &str, body: &serde_json::Value) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(method.as_bytes());
    ctx.update(b" ");
    ctx.update(path.as_bytes());
    ctx.update(b"\n");
    ctx.update(&serde_json::to_vec(body).unwrap_or_default());
    hex::encode(ctx.finish().as_ref())
}

/// Database failures here are 503 (transient: retry with the same key).
///
/// Claims `key` for a request with `hash`, or waits up to `wait` for the
/// request that holds it and replays its response; 409 if it is still
/// running then, 422 if the key was used for another request.
pub async fn begin(
    pool: &PgPool,
    key: &IdempotencyKey,
    hash: &str,
    ttl: Duration,
    wait: Duration,
    lease: Duration,
) -> Result<Begin, ApiError> {
    let lease_secs = i64::try_from(lease.as_secs()).unwrap_or(i64::MAX);
    let deadline = Instant::now() + wait;
    let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let mut pause = Duration::from_millis(20);
    loop {
        if repository::claim(pool, key.user_id, &key.key, key.claim, hash, ttl_secs)
            .await
            .map_err(ApiError::unavailable)?
        {
            return Ok(Begin::Owner);
        }
        let Some(row) = repository::find(pool, key.user_id, &key.key, lease_secs)
            .await
            .map_err(ApiError::unavailable)?
        else {
            // Released meanwhile: try to claim it again.
            continue;
        };
        if row.request_hash != hash {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "This Idempotency-Key was used with a different request.",
            )
            .with_kind("idempotency-key-reused"));
        }
        if row.status == "completed"
            && let (Some(status), Some(body)) = (row.response_status, row.response_body)
        {
            let status = u16::try_from(status)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Ok(Begin::Replay(StoredResponse { status, body }));
        }
        if row.status == "running" && row.stale {
            return Ok(Begin::Stale);
        }
        if Instant::now() >= deadline {
            return Err(in_progress());
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// The 409 of a key whose request is still in progress.
pub fn in_progress() -> ApiError {
    ApiError::conflict("A request with this Idempotency-Key is still in progress; retry later.")
        .with_kind("idempotency-key-in-use")
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
}

/// Takes over a stale key (see [`Begin::Stale`]); false when another
/// request took it first.
pub async fn take_over(
    pool: &PgPool,
    key: &IdempotencyKey,
    lease: Duration,
) -> Result<bool, ApiError> {
    let lease_secs = i64::try_from(lease.as_secs()).unwrap_or(i64::MAX);
    repository::take_over(pool, key.user_id, &key.key, key.claim, lease_secs)
        .await
        .map_err(ApiError::unavailable)
}

/// Stores the owner's response (nothing when another request took the
/// key over meanwhile).
pub async fn complete(
    pool: &PgPool,
    key: &IdempotencyKey,
    response: &StoredResponse,
) -> Result<(), ApiError> {
    let status = i16::try_from(response.status.as_u16()).unwrap_or(500);
    let holder = Holder::Claim(key.claim);
    repository::complete(pool, key.user_id, &key.key, holder, status, &response.body)
        .await
        .map_err(ApiError::unavailable)
}

/// Forgets the key (the request did nothing; a retry may run again),
/// unless another request took it over meanwhile.
pub async fn release(pool: &PgPool, key: &IdempotencyKey) -> Result<(), ApiError> {
    repository::release(pool, key.user_id, &key.key, Holder::Claim(key.claim))
        .await
        .map_err(ApiError::unavailable)
}

/// Stores a response for a key whose request died: running, and stale for
/// `lease` (the reconciler settling a checkout that a crash interrupted,
/// or a retry settling it from the order). A key a live request holds is
/// left to that request.
pub async fn complete_stale(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
    lease: Duration,
    response: &StoredResponse,
) -> sqlx::Result<()> {
    let status = i16::try_from(response.status.as_u16()).unwrap_or(500);
    let holder = Holder::StaleFor(i64::try_from(lease.as_secs()).unwrap_or(i64::MAX));
    repository::complete(pool, user_id, key, holder, status, &response.body).await
}

/// Forgets a key whose request died (running, stale for `lease`).
pub async fn release_stale(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
    lease: Duration,
) -> sqlx::Result<()> {
    let holder = Holder::StaleFor(i64::try_from(lease.as_secs()).unwrap_or(i64::MAX));
    repository::release(pool, user_id, key, holder).await
}

/// Deletes expired keys every `interval` until `shutdown`.
pub async fn sweep(pool: PgPool, ttl: Duration, interval: Duration, shutdown: CancellationToken) {
    let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    loop {
        match repository::delete_expired(&pool, ttl_secs).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired idempotency keys deleted"),
            Err(err) => tracing::warn!(error = %err, "idempotency key sweep failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
