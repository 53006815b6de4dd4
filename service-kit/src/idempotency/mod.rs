//! Idempotency keys as Stripe defines them, as one combinator
//! (zero-to-production's `idempotency/` is the model).
//!
//! A handler takes the key ([`IdempotencyKey`], or `Option<IdempotencyKey>`
//! where it is optional) and the request's fingerprint ([`RequestHash`] for
//! a body-less request, [`HashedJson`] for a JSON body, hashed as sent and
//! parsed once), and hands its work to [`Idempotency::run`], which owns the
//! rest:
//!
//! - **claim**: the first request with a key claims it (one
//!   `insert .. on conflict`, so the work never runs twice for one key);
//! - **run**: the work runs in its own task, so a client that disconnects
//!   does not abort it halfway;
//! - **settle**: the work says what becomes of the key ([`Settle`]): its
//!   answer is stored, the key is forgotten (nothing happened; a retry runs
//!   again), or it is kept running for a reconciler to settle;
//! - **replay**: a repeat gets the stored status and body byte for byte,
//!   with `Idempotent-Replayed: true`; the same key with another request is
//!   422; a concurrent duplicate waits (bounded) for the first and replays
//!   it, or gets 409 with `Retry-After`;
//! - **stale-key recovery**: a key still running after the lease belongs
//!   to a request whose process died; the caller's `on_stale` judges it
//!   from its own records ([`Stale`]).
//!
//! [`Idempotency::run_admitted`] is the same with two rate limits
//! ([`Admission`](crate::rate_limit::Admission): attempts, and an outcome
//! such as a declined payment) counted by the claim's statement and the
//! outcome given back by the one that stores the answer, so a limited
//! route pays no round trip for its limits.
//!
//! Each request claims with its own claim id and settles only while the
//! claim is still its own, so a request that outlived its lease can never
//! overwrite or delete the key of the retry that took it over.
//!
//! Keys are scoped to a user. The table lives in the service's schema; its
//! migration creates it:
//!
//! ```sql
//! create table idempotency_keys (
//!     user_id         uuid not null,
//!     idempotency_key text not null check (char_length(idempotency_key) between 1 and 255),
//!     request_hash    text not null,
//!     status          text not null default 'running' check (status in ('running', 'completed')),
//!     response_status smallint check (response_status between 100 and 599),
//!     response_body   jsonb,
//!     claim_id        uuid not null default gen_random_uuid(),
//!     created_at      timestamptz not null default now(),
//!     updated_at      timestamptz not null default now(),
//!     primary key (user_id, idempotency_key),
//!     check (status = 'running' or (response_status is not null and response_body is not null))
//! );
//! create index idempotency_keys_created_idx on idempotency_keys (created_at);
//! ```

mod repository;

use aws_lc_rs::digest;
use axum::extract::{
    FromRequest, FromRequestParts, OptionalFromRequestParts, OriginalUri, Request,
};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use sqlx::PgPool;
use std::fmt::Write as _;
use std::future::Future;
use std::time::{Duration, Instant};
use uuid::Uuid;

use self::repository::{AdmittedClaim, Holder};
use crate::error::{ApiError, PROBLEM_JSON};
use crate::extract::{json_bytes, parse_json, report_errors};
use crate::rate_limit::{CounterKey, KeyedAdmission, LimitError, WindowLimit};

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set on replayed responses (Stripe's name).
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// A validated `Idempotency-Key` header: 1-255 printable ASCII characters.
/// As an extractor it is required (400 when absent); take
/// `Option<IdempotencyKey>` where it is optional (a malformed one is 400
/// either way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Validates a header value.
    pub fn parse(value: &str) -> Result<Self, ApiError> {
        if (1..=255).contains(&value.len()) && value.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ApiError::bad_request(
                "The Idempotency-Key header must be 1-255 printable ASCII characters.",
            )
            .with_kind("invalid-idempotency-key"))
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_parts(parts: &Parts) -> Result<Option<Self>, ApiError> {
        let Some(value) = parts.headers.get(IDEMPOTENCY_KEY) else {
            return Ok(None);
        };
        // A value that is not even visible ASCII fails the same check.
        Self::parse(value.to_str().unwrap_or_default()).map(Some)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Self::from_parts(parts)?.ok_or_else(|| {
            ApiError::bad_request("This request requires an Idempotency-Key header.")
                .with_kind("idempotency-key-required")
        })
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, ApiError> {
        Self::from_parts(parts)
    }
}

/// A request's fingerprint: SHA-256 of the method, the path and the body's
/// bytes as sent. A repeat must send the same bytes; the same key with any
/// other request is 422. As an extractor: a body-less request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHash(String);

impl RequestHash {
    /// The fingerprint of `method path` with `body`.
    pub fn of(method: &str, path: &str, body: &[u8]) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(method.as_bytes());
        ctx.update(b" ");
        ctx.update(path.as_bytes());
        ctx.update(b"\n");
        ctx.update(body);
        let mut hex = String::with_capacity(64);
        for byte in ctx.finish().as_ref() {
            let _ = write!(hex, "{byte:02x}");
        }
        Self(hex)
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestHash {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(parts.uri.path(), |uri| uri.path());
        Ok(Self::of(parts.method.as_str(), path, b""))
    }
}

/// A JSON body with its fingerprint: the bytes are hashed as sent, then
/// parsed once and validated (rejections as the kit's `ValidJson`).
#[derive(Debug)]
pub struct HashedJson<T> {
    /// The parsed, validated body.
    pub body: T,
    /// The request's fingerprint.
    pub hash: RequestHash,
}

impl<S, T> FromRequest<S> for HashedJson<T>
where
    T: DeserializeOwned + garde::Validate,
    T::Context: Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let method = req.method().clone();
        // The path as the client sent it (a nested router sees less of it).
        let path = req
            .extensions()
            .get::<OriginalUri>()
            .map_or(req.uri().path(), |uri| uri.path())
            .to_owned();
        let bytes = json_bytes(req, state).await?;
        let body: T = parse_json(&bytes)?;
        body.validate()
            .map_err(|report| ApiError::validation(report_errors(&report)))?;
        let hash = RequestHash::of(method.as_str(), &path, &bytes);
        Ok(Self { body, hash })
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

/// What the work says becomes of its key (and what the client gets).
#[derive(Debug)]
pub enum Settle {
    /// Store the answer: a repeat replays it.
    Store(StoredResponse),
    /// Forget the key and answer with the error: nothing happened that a
    /// retry could duplicate.
    Forget(ApiError),
    /// Leave the key running and answer with the error: a record is still
    /// unsettled; whoever settles it (a reconciler) settles the key too,
    /// with [`Idempotency::complete_stale`] or [`Idempotency::release_stale`].
    Keep(ApiError),
}

impl Settle {
    fn into_response(self, replayed: bool) -> Result<Response, ApiError> {
        match self {
            Self::Store(stored) => Ok(stored.into_response(replayed)),
            Self::Forget(err) | Self::Keep(err) => Err(err),
        }
    }
}

/// What a stale key (its request died) stands for, judged by the caller
/// from its own records.
#[derive(Debug)]
pub enum Stale {
    /// The work had finished: this is its answer (stored, and replayed).
    Replay(StoredResponse),
    /// The work is still unsettled: 409, retry later.
    InProgress,
    /// Nothing stands: this request takes the key over and runs.
    Rerun,
}

/// How long keys live, wait and lease.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyOptions {
    /// Keys are deleted (or taken over on use) this long after their
    /// first use.
    pub ttl: Duration,
    /// How long a concurrent duplicate waits for the first request before
    /// a 409.
    pub wait: Duration,
    /// A running key that has not moved this long belongs to a request
    /// whose process died.
    pub lease: Duration,
}

/// The combinator: claim, run, settle, replay and stale-key recovery.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pool: PgPool,
    options: IdempotencyOptions,
}

/// A request's claim on its key.
struct Claim {
    user_id: Uuid,
    key: IdempotencyKey,
    /// Settles the key only while it is still this request's.
    id: Uuid,
}

impl Claim {
    fn new(user_id: Uuid, key: IdempotencyKey) -> Self {
        Self {
            user_id,
            key,
            id: Uuid::now_v7(),
        }
    }
}

/// A hit an [`Admission`](crate::rate_limit::Admission) holds on its
/// outcomes limit while the work runs.
#[derive(Clone)]
struct Held {
    limit: WindowLimit,
    key: CounterKey,
    kept_on: StatusCode,
}

impl Held {
    fn binds(&self) -> (&str, &[u8]) {
        (self.limit.scope(), self.key.as_bytes())
    }

    /// Gives the hit back on its own (paths that store no answer).
    async fn give_back(&self) {
        if let Err(err) = self.limit.forgive(&self.key).await {
            tracing::warn!(error = %err, "giving back a held rate-limit hit failed");
        }
    }
}

/// How a keyed request starts.
enum Begin {
    Owner,
    Replay(StoredResponse),
    Stale,
}

impl Idempotency {
    /// Keys in `pool`'s `idempotency_keys` table.
    pub fn new(pool: PgPool, options: IdempotencyOptions) -> Self {
        Self { pool, options }
    }

    /// Runs `work` at most once per `(user_id, key)` (README above): with
    /// no key it simply runs. The work runs in its own task, in the
    /// request's span and with its request id. `on_stale` is asked only for
    /// a key whose request died.
    pub async fn run<W, Fut, R, RFut>(
        &self,
        user_id: Uuid,
        key: Option<IdempotencyKey>,
        hash: &RequestHash,
        on_stale: R,
        work: W,
    ) -> Result<Response, ApiError>
    where
        W: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Settle> + Send + 'static,
        R: FnOnce() -> RFut,
        RFut: Future<Output = Result<Stale, ApiError>>,
    {
        let Some(key) = key else {
            let task = crate::request_id::spawn(async move { work().await });
            return task.await.map_err(ApiError::internal)?.into_response(false);
        };
        let claim = Claim::new(user_id, key);
        let begin = self.begin(&claim, hash).await?;
        self.proceed(claim, begin, None, on_stale, work).await
    }

    /// [`run`](Self::run) for a request that `admission`'s limits admit
    /// ([`Admission`](crate::rate_limit::Admission)): counted, and its
    /// outcome held, by the statement that claims the key (429 with
    /// `Retry-After` over a limit, nothing claimed); the held hit is given
    /// back by the statement that stores the answer, unless the stored
    /// answer has the status the limit counts, and on every other path
    /// (forgotten or kept keys, a panic, and wherever this request does
    /// not run the work: a replay, a key in use). A request whose client
    /// goes away while it waits for a concurrent duplicate keeps its hit:
    /// the safe side.
    pub async fn run_admitted<W, Fut, R, RFut>(
        &self,
        user_id: Uuid,
        key: IdempotencyKey,
        hash: &RequestHash,
        admission: KeyedAdmission<'_>,
        on_stale: R,
        work: W,
    ) -> Result<Response, ApiError>
    where
        W: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Settle> + Send + 'static,
        R: FnOnce() -> RFut,
        RFut: Future<Output = Result<Stale, ApiError>>,
    {
        let KeyedAdmission {
            admission,
            key: counter,
        } = admission;
        let (attempts, outcomes) = (&admission.attempts, &admission.outcomes);
        let limits = repository::Limits {
            key_digest: counter.as_bytes(),
            attempts: (
                attempts.scope(),
                attempts.window_secs(),
                attempts.limit_i32(),
            ),
            outcomes: (
                outcomes.scope(),
                outcomes.window_secs(),
                outcomes.limit_i32(),
            ),
        };
        let claim = Claim::new(user_id, key);
        let claimed = repository::claim_admitted(
            &self.pool,
            user_id,
            claim.key.as_str(),
            claim.id,
            hash.as_str(),
            self.options.ttl.as_secs_f64(),
            &limits,
        )
        .await
        .map_err(ApiError::database)?;
        let refused_by = match claimed {
            AdmittedClaim::OverAttempts => attempts,
            AdmittedClaim::OverOutcomes => outcomes,
            AdmittedClaim::Claimed | AdmittedClaim::Held => {
                let held = Held {
                    limit: outcomes.clone(),
                    key: counter,
                    kept_on: admission.kept_on,
                };
                let begin = if claimed == AdmittedClaim::Claimed {
                    Ok(Begin::Owner)
                } else {
                    self.begin(&claim, hash).await
                };
                return match begin {
                    Ok(begin) => self.proceed(claim, begin, Some(held), on_stale, work).await,
                    Err(err) => {
                        held.give_back().await;
                        Err(err)
                    }
                };
            }
        };
        let refusal = match refused_by.refusal(&counter).await {
            Ok(limited) => LimitError::from(limited),
            Err(err) => LimitError::from(err),
        };
        Err(refusal.into())
    }

    /// After [`begin`](Self::begin): answers a replay or a key in use
    /// (giving `held` back), or runs the work as the key's owner and
    /// settles it.
    async fn proceed<W, Fut, R, RFut>(
        &self,
        claim: Claim,
        begin: Begin,
        held: Option<Held>,
        on_stale: R,
        work: W,
    ) -> Result<Response, ApiError>
    where
        W: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Settle> + Send + 'static,
        R: FnOnce() -> RFut,
        RFut: Future<Output = Result<Stale, ApiError>>,
    {
        if let Some(answer) = self.answer_unless_owner(&claim, begin, on_stale).await {
            if let Some(held) = &held {
                held.give_back().await;
            }
            return answer;
        }
        let this = self.clone();
        let on_panic = held.clone();
        let task = crate::request_id::spawn(async move {
            let settle = work().await;
            this.settle(&claim, &settle, held.as_ref()).await;
            settle
        });
        match task.await {
            Ok(settle) => settle.into_response(false),
            Err(panicked) => {
                // Nothing was settled: the key waits for its lease, the
                // held hit goes back now (no outcome was reached).
                if let Some(held) = on_panic {
                    held.give_back().await;
                }
                Err(ApiError::internal(panicked))
            }
        }
    }

    /// The answer of a request that does not own its key (a replay, a key
    /// in use, a stale key judged by `on_stale`); `None` when it owns it
    /// (claimed, or a stale key taken over) and runs the work.
    async fn answer_unless_owner<R, RFut>(
        &self,
        claim: &Claim,
        begin: Begin,
        on_stale: R,
    ) -> Option<Result<Response, ApiError>>
    where
        R: FnOnce() -> RFut,
        RFut: Future<Output = Result<Stale, ApiError>>,
    {
        let stale = match begin {
            Begin::Owner => return None,
            Begin::Replay(stored) => return Some(Ok(stored.into_response(true))),
            Begin::Stale => on_stale().await,
        };
        Some(match stale {
            Err(err) => Err(err),
            Ok(Stale::Replay(stored)) => self
                .complete_stale(claim.user_id, claim.key.as_str(), &stored)
                .await
                .map(|()| stored.into_response(true))
                .map_err(ApiError::database),
            Ok(Stale::InProgress) => Err(in_progress()),
            Ok(Stale::Rerun) => {
                let lease = self.options.lease.as_secs_f64();
                let (user_id, key) = (claim.user_id, claim.key.as_str());
                match repository::take_over(&self.pool, user_id, key, claim.id, lease).await {
                    Ok(true) => return None,
                    Ok(false) => Err(in_progress()),
                    Err(err) => Err(ApiError::database(err)),
                }
            }
        })
    }

    /// Claims the key, or waits up to `wait` for the request that holds it
    /// and replays its answer; 409 if it still runs then, 422 if the key
    /// was used for another request. A database failure is 503 when a
    /// retry could cure it (`ApiError::database`), 500 otherwise.
    async fn begin(&self, claim: &Claim, hash: &RequestHash) -> Result<Begin, ApiError> {
        let IdempotencyOptions { ttl, wait, lease } = self.options;
        let (user_id, key, claim) = (claim.user_id, &claim.key, claim.id);
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(20);
        loop {
            let claimed = repository::claim(
                &self.pool,
                user_id,
                key.as_str(),
                claim,
                hash.as_str(),
                ttl.as_secs_f64(),
            )
            .await
            .map_err(ApiError::database)?;
            if claimed {
                return Ok(Begin::Owner);
            }
            let found = repository::find(&self.pool, user_id, key.as_str(), lease.as_secs_f64())
                .await
                .map_err(ApiError::database)?;
            let Some(row) = found else {
                // Released meanwhile: try to claim it again.
                continue;
            };
            if row.request_hash != hash.as_str() {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "This Idempotency-Key was used with a different request.",
                )
                .with_kind("idempotency-key-reused"));
            }
            if row.completed
                && let (Some(status), Some(body)) = (row.response_status, row.response_body)
            {
                let status = u16::try_from(status)
                    .ok()
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return Ok(Begin::Replay(StoredResponse { status, body }));
            }
            if row.stale {
                return Ok(Begin::Stale);
            }
            if Instant::now() >= deadline {
                return Err(in_progress());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Stores or forgets the key as the work said, while the claim is still
    /// this request's, and gives back `held` unless the answer is the
    /// outcome it counts (in the same statement). A failure is logged: the
    /// key then stays running and its lease decides.
    async fn settle(&self, claim: &Claim, settle: &Settle, held: Option<&Held>) {
        let holder = Holder::Claim(claim.id);
        let (user_id, key) = (claim.user_id, claim.key.as_str());
        let result = match settle {
            Settle::Store(stored) => {
                let status = i16::try_from(stored.status.as_u16()).unwrap_or(500);
                let give_back = held.filter(|held| held.kept_on != stored.status);
                let give_back = give_back.map(Held::binds);
                let response = (status, &stored.body);
                repository::complete(&self.pool, user_id, key, holder, response, give_back).await
            }
            Settle::Forget(_) => {
                let give_back = held.map(Held::binds);
                repository::release(&self.pool, user_id, key, holder, give_back).await
            }
            Settle::Keep(_) => {
                if let Some(held) = held {
                    held.give_back().await;
                }
                Ok(())
            }
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "settling an idempotency key failed");
        }
    }

    /// Stores an answer for a key whose request died (running, and stale
    /// for the lease): a reconciler settling the work a crash interrupted,
    /// or a retry settling it from records. A key a live request holds is
    /// left to that request.
    pub async fn complete_stale(
        &self,
        user_id: Uuid,
        key: &str,
        response: &StoredResponse,
    ) -> sqlx::Result<()> {
        let status = i16::try_from(response.status.as_u16()).unwrap_or(500);
        let holder = Holder::StaleFor(self.options.lease.as_secs_f64());
        let response = (status, &response.body);
        repository::complete(&self.pool, user_id, key, holder, response, None).await
    }

    /// Forgets a key whose request died (running, stale for the lease).
    pub async fn release_stale(&self, user_id: Uuid, key: &str) -> sqlx::Result<()> {
        let holder = Holder::StaleFor(self.options.lease.as_secs_f64());
        repository::release(&self.pool, user_id, key, holder, None).await
    }

    /// Deletes expired keys (older than the TTL); returns how many. Meant
    /// for a periodic background task.
    pub async fn sweep_expired(&self) {
        match repository::delete_expired(&self.pool, self.options.ttl.as_secs_f64()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired idempotency keys deleted"),
            Err(err) => tracing::warn!(error = %err, "idempotency key sweep failed"),
        }
    }
}

/// The 409 of a key whose request is still in progress.
pub fn in_progress() -> ApiError {
    ApiError::conflict("A request with this Idempotency-Key is still in progress; retry later.")
        .with_kind("idempotency-key-in-use")
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_printable_ascii_characters() {
        assert!(IdempotencyKey::parse("order-1").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in ["", "has space", "tab\t", "ünï", &"k".repeat(256)] {
            let err = IdempotencyKey::parse(bad).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn the_fingerprint_covers_method_path_and_the_exact_bytes() {
        let a = RequestHash::of("POST", "/api/v1/checkout", br#"{"a":1}"#);
        assert_eq!(
            a,
            RequestHash::of("POST", "/api/v1/checkout", br#"{"a":1}"#)
        );
        assert_eq!(a.as_str().len(), 64);
        assert_ne!(
            a,
            RequestHash::of("POST", "/api/v1/checkout", br#"{"a":2}"#)
        );
        assert_ne!(a, RequestHash::of("POST", "/api/v1/other", br#"{"a":1}"#));
        assert_ne!(a, RequestHash::of("PUT", "/api/v1/checkout", br#"{"a":1}"#));
    }

    #[test]
    fn a_replay_says_so_and_keeps_status_and_body() {
        let stored = StoredResponse::ok(StatusCode::CREATED, &serde_json::json!({"id": 1}));
        let response = stored.clone().into_response(true);
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()[IDEMPOTENT_REPLAYED], "true");
        let first = stored.into_response(false);
        assert!(first.headers().get(IDEMPOTENT_REPLAYED).is_none());
        let problem = StoredResponse::error(&ApiError::conflict("no")).into_response(false);
        assert_eq!(problem.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }
}
