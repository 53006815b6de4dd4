//! One module per `cargo xtask` command (see `cargo xtask --help`), and
//! what several commands compose from others: [`stack`] (the whole shop
//! for e2e, fuzz, chaos, browser), [`local_extras`] and [`frontend`]
//! (what `up` adds around the fleet: the gateway, the admin, the API docs).

pub mod bench;
pub mod chaos;
pub mod compose_check;
pub mod contracts;
pub mod coverage;
pub mod db;
pub mod e2e;
pub mod frontend;
pub mod fuzz;
pub mod lint_deploy;
pub mod local_extras;
pub mod new_service;
pub mod openapi;
pub mod seed;
pub mod split;
pub mod sqlx;
pub mod stack;
pub mod storefront;
pub mod template;
pub mod test_suite;
pub mod up;
