//! Black-box tests of the kit: a small app built on `Server` exactly as a
//! service builds itself, exercised over real HTTP.

mod auth;
mod client;
mod errors;
mod helpers;
mod observability;
mod outbox;
mod pagination;
mod rate_limit;
mod readiness;
mod security;
mod shutdown;
