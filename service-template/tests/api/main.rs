//! {{project-name}}'s black-box tests: one binary, one module per feature.

mod helpers;
mod notes;
mod ops;
