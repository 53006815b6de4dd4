//! The service's features, one module each (routes, service, repository,
//! models).

pub mod erasure;
pub mod notifications;
pub mod preferences;
