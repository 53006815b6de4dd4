//! The cart, one per user: lines of product and quantity (1-99), shown with
//! the catalog's current prices (one batch lookup per read).

pub mod models;
pub mod repository;
mod routes;
pub mod service;

pub use routes::router;
