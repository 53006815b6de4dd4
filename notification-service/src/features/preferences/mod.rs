//! A user's notification preferences and push subscriptions.

pub mod models;
pub mod repository;
mod routes;
pub mod service;

pub use routes::router;
