//! Idempotency keys as Stripe defines them: stored per user and key with a
//! hash of the request; a replay returns the stored status and body, a
//! different request with the same key is 422, a concurrent duplicate waits
//! (bounded) for the first to finish and replays it, or gets a 409.

mod repository;
pub mod service;

pub use service::{Begin, IdempotencyKey, StoredResponse};
