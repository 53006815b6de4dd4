//! Product images: admin upload (checked, re-encoded, stored once per
//! content), alt text and order, removal; the sweep that deletes stored
//! objects no image uses any more. Serving is in `crate::media`.

mod models;
mod repository;
mod routes;
mod service;
pub mod sweeper;

pub use models::{ImageBytes, ProductImage};
pub use routes::{UPLOAD_BODY_LIMIT, UPLOAD_ROUTE, router};
