//! Orders: the checkout saga, order history, cancellation, admin
//! fulfilment, and the reconciler that settles interrupted checkouts.

pub mod checkout;
pub mod events;
pub mod models;
pub mod reconciler;
mod repository;
mod routes;
pub mod service;

pub use routes::router;
