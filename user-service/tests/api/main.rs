//! user-service's black-box tests: one binary, one module per feature.

mod admin;
mod auth;
mod config;
mod contracts;
mod erasure;
mod flood;
mod helpers;
mod internal;
mod jwks;
mod ops;
mod outbox;
mod password;
mod rate_limit;
mod sessions;
mod users;
