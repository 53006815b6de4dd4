//! Products: admin CRUD with soft delete and optimistic concurrency, reads
//! by id from the coherent cache, and the public listing with filters,
//! sorts, keyset pagination and search (`search/`).

mod models;
mod repository;
mod routes;
pub mod search;
mod service;

pub use models::ProductEntry;
pub use routes::router;
pub use search::SearchMemory;
