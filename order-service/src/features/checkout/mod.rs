//! Checkout: the saga that turns a cart into a confirmed order, its
//! compensations, and the reconciler that settles what a crash interrupts.
//!
//! - `saga.rs`: the steps, each persisted on the order before the next
//!   starts; a domain result ([`CheckoutOutcome`] / [`CheckoutError`]), no
//!   HTTP.
//! - `compensation.rs`: undoing a step (release, refund, restock).
//! - `reconciler.rs`: settles orders left `pending`, by their [`SagaStep`].
//! - `routes.rs`: the endpoint, and the one mapping from the saga's result
//!   to a response.

pub mod compensation;
pub mod models;
pub mod reconciler;
pub mod repository;
mod routes;
pub mod saga;

pub use models::{CheckoutRequest, SagaStep};
pub use routes::router;
pub use saga::{CheckoutError, CheckoutOutcome};
