//! Access-token verification for the fleet.
//!
//! user-service signs JWTs (EdDSA) and publishes its public keys as a JWKS;
//! every service verifies tokens against that JWKS through [`JwksVerifier`]
//! and reads the caller through the [`AuthUser`], [`AdminUser`] and
//! [`ServiceCaller`] extractors. Missing or invalid tokens are 401 with a
//! `WWW-Authenticate` challenge; a valid token without the role is 403, and
//! so is a service token on an internal route that does not list its client
//! ([`AllowedCallers`]).

pub mod client_credentials;
mod extract;
mod keys;
mod verifier;

pub use extract::{AdminUser, AllowedCallers, AuthUser, ServiceCaller};
pub use keys::{SigningKey, jwk_set};
pub use verifier::{AuthError, Claims, JwksVerifier};

/// Role of every registered user.
pub const ROLE_CUSTOMER: &str = "customer";
/// Role of administrators.
pub const ROLE_ADMIN: &str = "admin";
/// Role of service tokens (client-credentials grant).
pub const ROLE_SERVICE: &str = "service";
