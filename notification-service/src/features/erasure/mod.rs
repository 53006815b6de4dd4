//! Erasure of a deleted account (the `user_deleted` event user-service
//! publishes through its outbox, at `POST /internal/v1/user-deletions`):
//! the user's preferences and push subscriptions are deleted; their
//! notifications keep no event data and their deliveries no address,
//! subject or body (the rows stay, for the delivery statistics, until the
//! retention sweep); deliveries still pending are not sent. Applied once
//! per event id; intake then refuses events about the account (atomically:
//! see [`service::hold_off`]), and a background sweep re-applies recent
//! erasures to what an outliving access token wrote after them.

pub mod repository;
mod routes;
pub mod service;

pub use routes::internal_router;
