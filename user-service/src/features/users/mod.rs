//! Accounts: the caller's profile and preferences, administration of users
//! and roles, and contact details for the fleet's internal callers.

pub mod models;
pub mod repository;
mod routes;
pub mod service;

pub use routes::{internal_router, router};
