//! Products: admin CRUD with soft delete and optimistic concurrency, and the
//! public listing with filters, sorts, keyset pagination and search.

mod known_words;
mod models;
mod repository;
mod routes;
mod service;

pub use known_words::KnownWords;
pub use routes::router;
