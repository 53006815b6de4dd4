//! What every service of the fleet needs and no service owns.
//!
//! A service's `main` is one call to [`cli::main`]; its `Application::build`
//! uses [`config`], [`db`], [`auth`] and [`client`], and hands its API router
//! to [`server::Server`], which adds the operations endpoints and the
//! middleware stack (request ids, tracing, metrics, timeouts, limits, CORS,
//! compression, problem+json errors, graceful shutdown).

pub mod auth;
pub mod cli;
pub mod client;
pub mod client_ip;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod outbox;
pub mod pagination;
pub mod rate_limit;
pub mod request_id;
pub mod server;
pub mod service;
pub mod startup;
pub mod tasks;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{ApiError, FieldError, Problem};
pub use extract::{Json, Path, Query, ValidJson};
pub use service::{Service, ServiceSettings};
pub use tokio_util::sync::CancellationToken;

/// Every binary that links the kit (each service, its tests) allocates with
/// mimalloc. A request makes many small, short-lived allocations on both
/// runtime threads; glibc's allocator made them wait on its arena locks and
/// consolidate free lists (about 15% of catalog-service's CPU on a cached
/// product read, in `perf`). The figures are in catalog-service's README.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
