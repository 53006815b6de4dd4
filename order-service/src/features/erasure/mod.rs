//! Erasure of a deleted account (the `user_deleted` event user-service
//! publishes through its outbox, at `POST /internal/v1/user-deletions`):
//! the cart is deleted, the shipping address of every order of the user is
//! scrubbed (the orders themselves, amounts, lines and payment state, are
//! kept for accounting), stored checkout answers (idempotency keys, which
//! repeat the address) and undelivered notification events about the user
//! are deleted. Applied once per event id; a background sweep re-applies
//! recent erasures to what was written after them.

pub mod repository;
mod routes;
pub mod service;

pub use routes::internal_router;
