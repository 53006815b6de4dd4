//! The fleet's developer command line (`cargo xtask ...`), as a library so
//! that every command, and later ones (`e2e`, `chaos`, `bench`), share the
//! same machinery: [`fleet::Fleet`] runs the services, [`pg::PgCluster`] a
//! private Postgres, [`template`] renders and checks `service-template/`.

pub mod bench;
pub mod chaos;
pub mod compose_check;
pub mod contracts;
pub mod coverage;
pub mod db;
pub mod deploy_env;
pub mod disk;
pub mod e2e;
pub mod fleet;
pub mod frontend;
pub mod fuzz;
pub mod http;
pub mod lint_deploy;
pub mod load;
pub mod local_extras;
pub mod memory;
pub mod new_service;
pub mod openapi;
pub mod pg;
pub mod process;
pub mod pytools;
pub mod seed;
pub mod services;
pub mod shop;
pub mod signals;
pub mod split;
pub mod stack;
pub mod storefront;
pub mod template;
pub mod test_suite;
#[doc(hidden)]
pub mod testing;
pub mod up;
pub mod workspace;
