//! Orders: history, cancellation and admin fulfilment. (Checkout, which
//! creates them, is its own feature.)

pub mod events;
pub mod models;
pub(crate) mod repository;
mod routes;
pub mod service;

pub use routes::router;
