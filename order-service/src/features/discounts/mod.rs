//! Discount codes: percent or fixed, with an optional minimum subtotal,
//! validity window, maximum redemptions and once-per-customer rule.
//! Admins manage them; customers apply one to their cart
//! (`PUT /cart/discount`, in the cart feature), and checkout redeems it.
//! `max_redemptions` and once-per-customer hold under any concurrency
//! because the database enforces them (migration 0005).

pub mod models;
pub(crate) mod repository;
mod routes;
pub mod service;

pub use routes::router;
