//! What the commands share. Nothing here depends on a command module.

pub mod cargo_tools;
pub mod deploy_env;
pub mod disk;
pub mod fleet;
pub mod http;
pub mod pg;
pub mod process;
pub mod pytools;
pub mod services;
pub mod shop;
pub mod signals;
#[doc(hidden)]
pub mod testing;
pub mod workspace;
