//! notification-service's black-box tests: one binary, one module per feature.

mod admin;
mod config;
mod contract;
mod delivery;
mod email;
mod erasure;
mod helpers;
mod history;
mod intake;
mod ops;
mod preferences;
mod push;
mod templates;
