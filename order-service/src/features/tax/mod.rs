//! Tax rates per destination country, in basis points (2000 = 20%),
//! admin-managed. Catalog prices are net; a country without a rate is
//! taxed at 0.

pub mod models;
pub(crate) mod repository;
mod routes;
pub mod service;

pub use routes::router;
