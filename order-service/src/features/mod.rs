//! The service's features, one module each (routes, service, repository,
//! models).

pub mod cart;
pub mod erasure;
pub mod idempotency;
pub mod orders;
pub mod payments;
