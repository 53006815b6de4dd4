//! Payments: the provider trait with the `fake` and HTTP gateway providers,
//! and the signed webhook that updates payment state.

mod models;
pub mod provider;
mod repository;
mod routes;
pub mod service;

pub use provider::{PaymentProvider, PaymentState};
pub use routes::router;
