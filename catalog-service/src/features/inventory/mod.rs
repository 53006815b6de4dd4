//! Inventory: stock on hand, reserved and available per product, and admin
//! adjustments kept as an audit trail.

mod models;
mod repository;
mod routes;
mod service;

pub use routes::router;
