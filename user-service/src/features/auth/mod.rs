//! Authentication: registration, login, refresh-token rotation, logout,
//! passwords and their reset, the client-credentials grant, and the JWKS.

pub mod clients;
pub mod models;
mod repository;
mod routes;
pub mod service;

pub use routes::{jwks_router, router};
