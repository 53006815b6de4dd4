//! user-service's black-box tests: one binary, one module per feature.

mod helpers;
mod ops;
