//! Notes: the template's example feature, showing the layering every
//! feature follows (routes -> service -> repository) with auth, validation,
//! pagination and errors. Delete it once the service has real features.

mod models;
mod repository;
mod routes;
mod service;

pub use routes::router;
