//! Rate limits, one mechanism for the fleet.
//!
//! - [`AddressLimiter`]: requests per client address, in this replica's
//!   memory (governor's keyed GCRA limiter, a burst of N refilled at N per
//!   period). An IPv6 client is its /64 ([`client_ip::limit_key`]), the
//!   smallest block one subscriber gets. Entries whose allowance is full
//!   again are dropped by [`spawn_housekeeping`] on a timer, so memory
//!   follows the addresses seen in the last period, whatever they send.
//! - [`WindowLimit`]: hits per key (an account, a user, an account and an
//!   address) in a fixed window, counted in Postgres by one statement that
//!   increments and returns the count, so every replica shares the count
//!   and concurrent requests cannot overtake the limit. A refused hit is not
//!   counted. Keys are SHA-256 digests ([`CounterKey`]) of what the caller
//!   counts by, so a counter row is small whatever the client sent.
//! - [`Admission`]: two window limits on one key (attempts, and an outcome
//!   such as a declined payment) counted in the statement that claims a
//!   request's idempotency key, the outcome's hit given back with its
//!   answer unless the request ended that way.
//! - [`RateLimited`]: the refusal, rendered as 429 problem+json with
//!   `Retry-After`.
//!
//! The counters live in the service's own schema; its migration creates
//! the table (the kit's SQL relies on these columns):
//!
//! ```sql
//! create table rate_limit_counters (
//!     scope          text not null check (char_length(scope) between 1 and 64),
//!     key_digest     bytea not null check (octet_length(key_digest) = 32),
//!     hits           integer not null check (hits >= 0),
//!     window_ends_at timestamptz not null,
//!     created_at     timestamptz not null default now(),
//!     updated_at     timestamptz not null default now(),
//!     primary key (scope, key_digest)
//! );
//! create index rate_limit_counters_window_idx on rate_limit_counters (window_ends_at);
//! ```

mod repository;

use aws_lc_rs::digest::{Context, SHA256};
use axum::http::StatusCode;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use sqlx::PgPool;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client_ip;
use crate::error::ApiError;

/// A request over a limit: it may be retried after [`RateLimited::retry_after_secs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited: retry after {retry_after_secs} s")]
pub struct RateLimited {
    retry_after_secs: u64,
}

impl RateLimited {
    /// Refused until `wait` has passed (rounded up to whole seconds, at least 1).
    pub fn after(wait: Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self {
            retry_after_secs: secs.max(1),
        }
    }

    /// Seconds until a retry may succeed (the `Retry-After` value).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_secs
    }
}

impl From<RateLimited> for ApiError {
    fn from(limited: RateLimited) -> Self {
        ApiError::too_many_requests(limited.retry_after_secs)
    }
}

/// Why a [`WindowLimit`] hit failed.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Over the limit.
    #[error(transparent)]
    Limited(#[from] RateLimited),
    /// The counter could not be read or written.
    #[error("counting a rate-limit hit failed")]
    Database(#[from] sqlx::Error),
}

/// 429 over the limit; 503 when the counters' database does not answer (a
/// dependency is down: the request may be retried, nothing was done).
impl From<LimitError> for ApiError {
    fn from(err: LimitError) -> Self {
        match err {
            LimitError::Limited(limited) => limited.into(),
            LimitError::Database(err) => ApiError::database(err),
        }
    }
}

/// Requests per client address, in this replica's memory. Cheap to clone
/// (clones share their counts).
#[derive(Clone)]
pub struct AddressLimiter {
    name: &'static str,
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
}

impl fmt::Debug for AddressLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddressLimiter")
            .field("name", &self.name)
            .field("addresses", &self.limiter.len())
            .finish()
    }
}

impl AddressLimiter {
    /// `requests` per minute per address, as a burst of `requests` refilled
    /// evenly over the minute (0 is taken as 1). `name` labels the
    /// `rate_limit_refusals_total` metric.
    pub fn per_minute(name: &'static str, requests: u32) -> Self {
        let burst = NonZeroU32::new(requests.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            name,
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(burst))),
        }
    }

    /// Takes one request from `ip`'s allowance (its /64 for IPv6), or says
    /// how long until there is one.
    pub fn check(&self, ip: IpAddr) -> Result<(), RateLimited> {
        match self.limiter.check_key(&client_ip::limit_key(ip)) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                refused(self.name);
                Err(RateLimited::after(
                    not_until.wait_time_from(self.limiter.clock().now()),
                ))
            }
        }
    }

    /// Drops the addresses whose allowance is full again (they behave as if
    /// never seen) and releases the memory they took.
    pub fn retain_recent(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Addresses currently remembered.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

/// What a [`WindowLimit`] counts by: the SHA-256 of the caller's parts
/// (an e-mail, a user id, an e-mail and an address, ...).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CounterKey([u8; 32]);

impl CounterKey {
    /// The digest of `parts`, each length-prefixed so that no two different
    /// lists of parts share a key.
    pub fn of(parts: &[&[u8]]) -> Self {
        let mut context = Context::new(&SHA256);
        for part in parts {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(context.finish().as_ref());
        Self(key)
    }

    /// The digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for CounterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CounterKey({:02x}{:02x}{:02x}{:02x}..)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// At most `limit` hits per key in a window of `window` that starts with
/// the key's first hit, counted in the service's `rate_limit_counters`
/// table: shared by every replica, exact under concurrency.
#[derive(Clone)]
pub struct WindowLimit {
    pool: PgPool,
    scope: &'static str,
    limit: u32,
    window: Duration,
}

impl fmt::Debug for WindowLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowLimit")
            .field("scope", &self.scope)
            .field("limit", &self.limit)
            .field("window", &self.window)
            .finish()
    }
}

impl WindowLimit {
    /// A limit named `scope` (its counters are apart from other scopes';
    /// also the metric label): `limit` hits (0 is taken as 1) per `window`.
    pub fn new(pool: PgPool, scope: &'static str, limit: u32, window: Duration) -> Self {
        Self {
            pool,
            scope,
            limit: limit.max(1),
            window: window.max(Duration::from_secs(1)),
        }
    }

    /// Counts one hit for `key` and returns the count so far in the window,
    /// or refuses it (not counted) when the window already holds `limit`.
    /// One statement: concurrent hits are counted one after the other.
    pub async fn hit(&self, key: &CounterKey) -> Result<u32, LimitError> {
        let counted = repository::hit(
            &self.pool,
            self.scope,
            key.as_bytes(),
            self.window_secs(),
            self.limit_i32(),
        )
        .await?;
        match counted {
            Some(hits) => Ok(u32::try_from(hits).unwrap_or(0)),
            None => Err(self.refusal(key).await?.into()),
        }
    }

    pub(crate) fn scope(&self) -> &'static str {
        self.scope
    }

    pub(crate) fn limit_i32(&self) -> i32 {
        i32::try_from(self.limit).unwrap_or(i32::MAX)
    }

    pub(crate) fn window_secs(&self) -> f64 {
        self.window.as_secs_f64()
    }

    /// Counts a refusal of `key` and says how long until its window ends.
    pub(crate) async fn refusal(&self, key: &CounterKey) -> Result<RateLimited, sqlx::Error> {
        refused(self.scope);
        let wait = repository::seconds_left(&self.pool, self.scope, key.as_bytes())
            .await?
            .unwrap_or(1.0);
        Ok(RateLimited::after(Duration::from_secs_f64(
            wait.clamp(1.0, 1e9),
        )))
    }

    /// Takes back one counted hit of `key` (the request turned out to be
    /// one the limit is not about, like a login with the right password).
    pub async fn forgive(&self, key: &CounterKey) -> Result<(), sqlx::Error> {
        repository::forgive(&self.pool, self.scope, key.as_bytes()).await
    }

    /// Forgets every hit of `key`.
    pub async fn clear(&self, key: &CounterKey) -> Result<(), sqlx::Error> {
        repository::clear(&self.pool, self.scope, key.as_bytes()).await
    }
}

/// Two [`WindowLimit`]s on one key for requests that carry an idempotency
/// key ([`Idempotency::run_admitted`](crate::idempotency::Idempotency::run_admitted)):
/// `attempts` counts every request; `outcomes` holds a hit while the work
/// runs and keeps it only when the answer has the status `kept_on` (a
/// declined payment), so concurrent requests cannot end that way more
/// often than its limit. A refusal by `attempts` counts nothing in
/// `outcomes`; a refusal by `outcomes` keeps the attempt counted. Both are
/// counted by the statement that claims the key, and the held hit is given
/// back by the one that stores the answer: they cost no round trip of their
/// own. Both limits must count in the keys' database.
#[derive(Debug, Clone)]
pub struct Admission {
    pub(crate) attempts: WindowLimit,
    pub(crate) outcomes: WindowLimit,
    pub(crate) kept_on: StatusCode,
}

impl Admission {
    /// `attempts` and `outcomes` as above; `kept_on` is the status of the
    /// outcome `outcomes` limits.
    pub fn new(attempts: WindowLimit, outcomes: WindowLimit, kept_on: StatusCode) -> Self {
        Self {
            attempts,
            outcomes,
            kept_on,
        }
    }

    /// The admission of the requests counted by `key`.
    pub fn for_key(&self, key: CounterKey) -> KeyedAdmission<'_> {
        KeyedAdmission {
            admission: self,
            key,
        }
    }
}

/// An [`Admission`] and the key a request is counted by.
#[derive(Debug, Clone, Copy)]
pub struct KeyedAdmission<'a> {
    pub(crate) admission: &'a Admission,
    pub(crate) key: CounterKey,
}

fn refused(limit: &'static str) {
    metrics::counter!("rate_limit_refusals_total", "limit" => limit).increment(1);
}

/// Deletes the counters of `pool`'s `rate_limit_counters` whose window has
/// ended; returns how many.
pub async fn purge_ended_windows(pool: &PgPool) -> Result<u64, sqlx::Error> {
    repository::purge_ended(pool).await
}

/// Every `every`: drops stale addresses from `limiters` and, with a pool,
/// deletes the counters whose window has ended, until `shutdown`.
pub fn spawn_housekeeping(
    every: Duration,
    limiters: Vec<AddressLimiter>,
    counters: Option<PgPool>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let every = every.max(Duration::from_millis(100));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            for limiter in &limiters {
                limiter.retain_recent();
            }
            if let Some(pool) = &counters {
                match purge_ended_windows(pool).await {
                    Ok(0) => {}
                    Ok(purged) => tracing::debug!(purged, "ended rate-limit windows deleted"),
                    Err(err) => {
                        tracing::warn!(error = %err, "deleting ended rate-limit windows failed");
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_rounds_its_wait_up_to_whole_seconds() {
        assert_eq!(RateLimited::after(Duration::ZERO).retry_after_secs(), 1);
        assert_eq!(
            RateLimited::after(Duration::from_millis(1001)).retry_after_secs(),
            2
        );
        assert_eq!(
            RateLimited::after(Duration::from_secs(60)).retry_after_secs(),
            60
        );
    }

    #[test]
    fn an_address_gets_its_burst_then_waits_and_ipv6_counts_by_64() {
        let limiter = AddressLimiter::per_minute("test", 2);
        let a: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:0:1:ffff::2".parse().unwrap();
        let other_64: IpAddr = "2001:db8:0:2::1".parse().unwrap();
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(same_64).is_ok());
        let wait = limiter.check(a).unwrap_err().retry_after_secs();
        assert!((1..=30).contains(&wait), "{wait}");
        assert!(limiter.check(other_64).is_ok());
        assert!(limiter.check("192.0.2.1".parse().unwrap()).is_ok());
        assert_eq!(limiter.len(), 3);
    }

    #[test]
    fn addresses_whose_allowance_is_full_again_are_dropped() {
        // 600 a minute: one request is refilled every 100 ms.
        let limiter = AddressLimiter::per_minute("test", 600);
        for i in 0..1000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(limiter.check(ip).is_ok());
        }
        assert_eq!(limiter.len(), 1000);
        std::thread::sleep(Duration::from_millis(250));
        limiter.retain_recent();
        assert_eq!(limiter.len(), 0);
    }

    #[test]
    fn counter_keys_are_digests_of_length_prefixed_parts() {
        let ab_c = CounterKey::of(&[b"ab", b"c"]);
        let a_bc = CounterKey::of(&[b"a", b"bc"]);
        assert_ne!(ab_c, a_bc);
        assert_eq!(ab_c, CounterKey::of(&[b"ab", b"c"]));
        assert_eq!(ab_c.as_bytes().len(), 32);
        assert!(format!("{ab_c:?}").len() < 24, "Debug shows a prefix only");
    }
}
