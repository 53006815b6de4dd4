//! Shipping methods: a flat price per order in one currency, an optional
//! free-over threshold, a delivery estimate and the countries served.
//! Customers list them by country; admins manage them.

pub mod models;
pub(crate) mod repository;
mod routes;
pub mod service;

pub use routes::router;
