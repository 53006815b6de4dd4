//! In-memory rate limiting (token buckets), per client address and per
//! account. Each replica counts for itself: behind N replicas the effective
//! limit is up to N times the configured one, which is what these limits are
//! for (slowing guessing down by orders of magnitude), not exact quotas.

use service_kit::ApiError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request over its limit: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited(pub u64);

impl From<RateLimited> for ApiError {
    fn from(RateLimited(retry_after_secs): RateLimited) -> Self {
        ApiError::too_many_requests(retry_after_secs)
    }
}

/// Entries kept before idle, refilled buckets are swept.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// A family of token buckets sharing one rule: `capacity` tokens, refilled
/// at `capacity` per `period`.
#[derive(Clone)]
pub struct Limiter {
    capacity: f64,
    per_second: f64,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

impl Limiter {
    /// `capacity` requests per `period` (with a burst of `capacity`).
    pub fn new(capacity: u32, period: Duration) -> Self {
        let capacity = f64::from(capacity.max(1));
        Self {
            capacity,
            per_second: capacity / period.as_secs_f64().max(0.001),
            buckets: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Takes one token from `key`'s bucket, or says how long until one is
    /// available (as a 429 with `Retry-After`).
    pub fn take(&self, key: &str) -> Result<(), RateLimited> {
        self.update(key, true)
    }

    /// Fails like [`Limiter::take`] when the bucket is empty, without taking.
    pub fn check(&self, key: &str) -> Result<(), RateLimited> {
        self.update(key, false)
    }

    /// Takes a token if there is one (recording a failure after the fact).
    pub fn record(&self, key: &str) {
        let _ = self.update(key, true);
    }

    /// Forgets `key` (a successful login clears its failures).
    pub fn reset(&self, key: &str) {
        if let Ok(mut buckets) = self.buckets.lock() {
            buckets.remove(key);
        }
    }

    fn update(&self, key: &str, take: bool) -> Result<(), RateLimited> {
        let now = Instant::now();
        // A poisoned lock only means another request panicked mid-update:
        // the map is still usable.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > SWEEP_ABOVE {
            let (capacity, rate) = (self.capacity, self.per_second);
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < capacity
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.capacity,
            updated: now,
        });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            if take {
                bucket.tokens -= 1.0;
            }
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.per_second;
            Err(RateLimited((wait.ceil() as u64).max(1)))
        }
    }
}

/// The limits of the public authentication endpoints.
#[derive(Clone)]
pub struct RateLimits {
    /// Requests per client address (login, register, reset, token).
    pub per_ip: Limiter,
    /// Failed logins per account.
    pub login_failures: Limiter,
    /// Password-reset requests per e-mail address.
    pub password_resets: Limiter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_then_tells_how_long_to_wait() {
        let limiter = Limiter::new(2, Duration::from_secs(60));
        assert!(limiter.take("a").is_ok());
        assert!(limiter.take("a").is_ok());
        let RateLimited(retry_after) = limiter.take("a").unwrap_err();
        assert!((1..=30).contains(&retry_after), "{retry_after}");
        assert!(limiter.take("b").is_ok(), "keys are independent");
        limiter.reset("a");
        assert!(limiter.check("a").is_ok());
    }
}
