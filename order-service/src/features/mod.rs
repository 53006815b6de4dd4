//! The service's features, one module each (routes, service, repository,
//! models).

pub mod cart;
pub mod checkout;
pub mod checkout_limits;
pub mod discounts;
pub mod erasure;
pub mod orders;
pub mod payments;
pub mod pricing;
pub mod shipping;
pub mod tax;
