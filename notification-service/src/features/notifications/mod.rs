//! Notifications: the internal intake (service tokens), a user's history,
//! and the administrators' view of deliveries with retry.

pub mod contacts;
pub mod models;
mod repository;
mod routes;
pub mod service;

pub use routes::{internal_router, router};
