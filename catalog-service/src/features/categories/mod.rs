//! Categories: a tree (`parent_id`) with unique slugs; admins edit it.

mod models;
mod repository;
mod routes;
mod service;

pub use models::CategoryTree;
pub use routes::router;
