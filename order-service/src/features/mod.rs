//! The service's features, one module each (routes, service, repository,
//! models).

pub mod cart;
pub mod checkout;
pub mod orders;
pub mod payments;
