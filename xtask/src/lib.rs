//! The fleet's developer command line (`cargo xtask ...`), as a library:
//!
//! - [`cmd`]: one module per command (`up`, `test`, `e2e`, `bench`, ...),
//!   each with its options struct (a `clap::Args`) and its `run`;
//! - [`infra`]: what the commands share: the fleet table read from the
//!   workspace ([`infra::services`]), private Postgres clusters
//!   ([`infra::pg`]), the fleet as local processes ([`infra::fleet`]),
//!   child processes and signals that leave nothing behind, the shop's API
//!   client, Python tools.
//!
//! `cmd` modules use `infra`; `infra` uses no `cmd`.

pub mod cmd;
pub mod infra;
