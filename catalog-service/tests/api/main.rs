//! catalog-service's black-box tests: one binary, one module per feature.

mod cache;
mod categories;
mod config;
mod cursors;
mod helpers;
mod inventory;
mod ops;
mod products;
mod reservations;
mod search;
mod search_bounds;
mod seed;
