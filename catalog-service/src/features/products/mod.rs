//! Products: admin CRUD with soft delete and optimistic concurrency, and the
//! public listing with filters, sorts, keyset pagination and search.

mod models;
mod repository;
mod routes;
mod service;

pub use routes::router;
