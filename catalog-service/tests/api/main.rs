//! catalog-service's black-box tests: one binary, one module per feature.

mod cache;
mod categories;
mod config;
mod cursors;
mod helpers;
mod images;
mod inventory;
mod ops;
mod products;
mod reservations;
mod s3;
mod search;
mod search_bounds;
mod seed;
