//! Stock reservations for order-service (service tokens only): reserve all
//! or nothing with a TTL, commit, release, restock; all idempotent on their
//! ids, and a sweeper that releases expired reservations.

mod models;
mod repository;
mod routes;
mod service;
pub mod sweeper;

pub use routes::router;
