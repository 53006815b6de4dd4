//! Delivery: the queue of deliveries in the database and the workers that
//! send them.
//!
//! A worker claims due deliveries with `FOR UPDATE SKIP LOCKED` and a lease
//! (`claimed_until`) in one short statement, sends them without holding any
//! lock, then records the outcome in another short statement: `sent`, a
//! retry after an exponential backoff with jitter, or `failed` after the
//! last attempt (or at once for a permanent error). Several workers, in one
//! process or in several replicas, never claim the same delivery at once.
//!
//! Delivery toward the provider is at least once: a worker that dies (or
//! stalls past its lease) after the provider accepted a message but before
//! `sent` is recorded leaves the delivery pending, and another worker sends
//! it again when the lease has run out. The window is the time between the
//! provider's acceptance and the `update` that records it (milliseconds; a
//! database outage does not widen it: the record is retried for up to one
//! lease length, and a late record is still true, the message was sent);
//! a send is abandoned (and retried) after half the lease, so it cannot
//! outlive its claim. Emails carry `Message-ID: <delivery id@...>` and
//! HTTP providers an `Idempotency-Key` so a receiver can deduplicate.

pub mod channels;
mod repository;
pub mod retention;

use futures::future::join_all;
use rand::Rng;
use service_kit::CancellationToken;
use sqlx::PgPool;
use std::time::Duration;

use crate::config::DeliverySettings;
use crate::templates::TemplateName;
use channels::{Channel, Channels, Outgoing, SendError};
use repository::ClaimedDelivery;

/// Sends queued deliveries. Cheap to clone; clones share nothing but the
/// pool and the providers' clients.
#[derive(Clone)]
pub struct Worker {
    pool: PgPool,
    channels: Channels,
    settings: DeliverySettings,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Deliveries claimed.
    pub claimed: usize,
    /// Sent.
    pub sent: usize,
    /// Scheduled for another attempt.
    pub retried: usize,
    /// Given up.
    pub failed: usize,
}

impl Worker {
    /// A worker over `pool`'s queue sending through `channels`.
    pub fn new(pool: PgPool, channels: Channels, settings: DeliverySettings) -> Self {
        Self {
            pool,
            channels,
            settings,
        }
    }

    /// Claims one batch of due deliveries and sends them (concurrently).
    pub async fn run_once(&self) -> anyhow::Result<Pass> {
        let lease = Duration::from_secs(self.settings.claim_lease_secs.max(1));
        let claimed = repository::claim(&self.pool, self.settings.batch_size.max(1), lease).await?;
        let mut pass = Pass {
            claimed: claimed.len(),
            ..Pass::default()
        };
        let outcomes = join_all(claimed.into_iter().map(|d| self.deliver(d))).await;
        for outcome in outcomes {
            match outcome? {
                Outcome::Sent => pass.sent += 1,
                Outcome::Retry => pass.retried += 1,
                Outcome::Failed => pass.failed += 1,
                Outcome::Lost => {}
            }
        }
        Ok(pass)
    }

    /// Runs passes until `shutdown` is cancelled, pausing `poll_interval_ms`
    /// when a pass found less than a full batch; refreshes the queue gauges.
    pub async fn run(self, shutdown: CancellationToken) {
        let pause = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        tracing::info!(
            poll_interval_ms = pause.as_millis() as u64,
            "delivery worker started"
        );
        while !shutdown.is_cancelled() {
            let full = match self.run_once().await {
                Ok(pass) => pass.claimed as i64 >= self.settings.batch_size.max(1),
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), "delivery pass failed; retrying");
                    false
                }
            };
            self.update_gauges().await;
            if !full {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
        tracing::info!("delivery worker stopped");
    }

    /// Sets `notification_queue_depth` and `notification_oldest_pending_seconds`.
    pub async fn update_gauges(&self) {
        match repository::queue_stats(&self.pool).await {
            Ok((depth, oldest)) => {
                metrics::gauge!("notification_queue_depth").set(depth as f64);
                metrics::gauge!("notification_oldest_pending_seconds").set(oldest);
            }
            Err(err) => tracing::warn!(error = %err, "reading the queue depth failed"),
        }
    }

    async fn deliver(&self, delivery: ClaimedDelivery) -> anyhow::Result<Outcome> {
        let Some(channel) = Channel::parse(&delivery.channel) else {
            // The check constraint makes this unreachable; fail it visibly.
            repository::mark_failed(
                &self.pool,
                delivery.id,
                delivery.claimed_until,
                "unknown channel",
                TemplateName::PasswordReset.as_str(),
            )
            .await?;
            return Ok(Outcome::Failed);
        };
        let message = Outgoing {
            delivery_id: delivery.id,
            channel,
            target: delivery.target,
            subject: delivery.subject,
            text: delivery.body_text,
            html: delivery.body_html,
            template: delivery.template,
        };
        // A send never outlives half the lease, so no other worker can take
        // the delivery over while this one may still succeed.
        let budget = Duration::from_secs(self.settings.claim_lease_secs.max(2)) / 2;
        let result = tokio::time::timeout(budget, self.channels.send(&message))
            .await
            .unwrap_or_else(|_| Err(SendError::Transient("the send timed out".to_owned())));
        let outcome = match result {
            Ok(()) => {
                // The provider has the message: losing that fact to a database
                // blip would send it again once the lease runs out, so the
                // record is retried for up to one lease length (recording it
                // late is still right, and spares a resend if nobody has
                // reclaimed the delivery yet).
                let scrub = TemplateName::PasswordReset.as_str();
                let deadline = tokio::time::Instant::now()
                    + Duration::from_secs(self.settings.claim_lease_secs.max(1));
                let mut pause = Duration::from_millis(100);
                let recorded = loop {
                    match repository::mark_sent(&self.pool, delivery.id, scrub).await {
                        Ok(recorded) => break recorded,
                        Err(err) if tokio::time::Instant::now() + pause < deadline => {
                            tracing::warn!(
                                delivery_id = %delivery.id,
                                error = %err,
                                retry_in_ms = pause.as_millis() as u64,
                                "recording a sent delivery failed; retrying"
                            );
                            tokio::time::sleep(pause).await;
                            pause = (pause * 2).min(Duration::from_secs(2));
                        }
                        Err(err) => return Err(err.into()),
                    }
                };
                if recorded {
                    Outcome::Sent
                } else {
                    Outcome::Lost
                }
            }
            Err(err) => {
                let last_attempt = delivery.attempts >= self.settings.max_attempts;
                let give_up = last_attempt || matches!(err, SendError::Permanent(_));
                tracing::warn!(
                    delivery_id = %delivery.id,
                    channel = channel.as_str(),
                    template = %message.template,
                    attempt = delivery.attempts,
                    give_up,
                    error = err.message(),
                    "delivery attempt failed"
                );
                if give_up {
                    repository::mark_failed(
                        &self.pool,
                        delivery.id,
                        delivery.claimed_until,
                        err.message(),
                        TemplateName::PasswordReset.as_str(),
                    )
                    .await?;
                    Outcome::Failed
                } else {
                    let delay = self.backoff(delivery.attempts);
                    repository::mark_retry(
                        &self.pool,
                        delivery.id,
                        delivery.claimed_until,
                        delay,
                        err.message(),
                    )
                    .await?;
                    Outcome::Retry
                }
            }
        };
        let label = match outcome {
            Outcome::Sent => "sent",
            Outcome::Retry => "retry",
            Outcome::Failed => "failed",
            Outcome::Lost => "lost_claim",
        };
        metrics::counter!("notifications_sent_total", "channel" => channel.as_str(), "outcome" => label)
            .increment(1);
        Ok(outcome)
    }

    /// The pause after the `attempt`-th failure: `base * 2^(attempt-1)`,
    /// capped, then jittered uniformly into its upper half.
    fn backoff(&self, attempt: i32) -> Duration {
        backoff(
            Duration::from_millis(self.settings.backoff_base_ms),
            Duration::from_secs(self.settings.backoff_max_secs),
            attempt,
        )
    }
}

/// Exponential backoff with jitter: uniform in `[d/2, d]` where
/// `d = min(max, base * 2^(attempt-1))`.
pub fn backoff(base: Duration, max: Duration, attempt: i32) -> Duration {
    let exponent = attempt.saturating_sub(1).clamp(0, 20) as u32;
    let ceiling = base.saturating_mul(1u32 << exponent).min(max);
    let ceiling_ms = ceiling.as_millis() as u64;
    let ms = rand::rng().random_range(ceiling_ms / 2..=ceiling_ms.max(1));
    Duration::from_millis(ms)
}

enum Outcome {
    Sent,
    Retry,
    Failed,
    /// Sent, but another worker took the delivery over meanwhile (lease ran
    /// out): recorded by whoever holds it now.
    Lost,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(60);
        for _ in 0..50 {
            let first = backoff(base, max, 1);
            assert!(
                first >= Duration::from_secs(1) && first <= base,
                "{first:?}"
            );
            let third = backoff(base, max, 3);
            assert!(third >= Duration::from_secs(4) && third <= Duration::from_secs(8));
            assert!(backoff(base, max, 30) <= max);
        }
    }
}
