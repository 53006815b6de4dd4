//! order-service's black-box tests: one binary, one module per feature.

mod cart;
mod checkout;
mod checkout_limits;
mod config;
mod contracts;
mod efficiency;
mod erasure;
mod fake_catalog;
mod helpers;
mod idempotency;
mod ops;
mod orders;
mod payments;
mod pricing;
mod races;
mod reconciler;
mod saga_steps;
