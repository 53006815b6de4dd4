//! The client-credentials clients of the token endpoint: who may ask for a
//! service token, with which secret, for which audiences. Built from the
//! configuration and held in the state.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, HashMap};

use crate::config::CommaList;
use crate::tokens::token_digest;

/// The client-credentials clients: id, SHA-256 of the secret, and the
/// audiences each may ask a token for.
pub struct ServiceClients {
    digests: HashMap<String, Vec<u8>>,
    audiences: HashMap<String, Vec<String>>,
}

impl ServiceClients {
    /// From configuration: `service_clients.order_service = <secret>`
    /// declares client `order-service`, `client_audiences.order_service` its
    /// allowed audiences. The secrets themselves are not kept.
    pub fn from_config(
        clients: &BTreeMap<String, SecretString>,
        audiences: &BTreeMap<String, CommaList>,
    ) -> Self {
        Self {
            digests: clients
                .iter()
                .filter(|(_, secret)| !secret.expose_secret().is_empty())
                .map(|(name, secret)| (client_id(name), token_digest(secret.expose_secret())))
                .collect(),
            audiences: audiences
                .iter()
                .map(|(name, list)| (client_id(name), list.0.clone()))
                .collect(),
        }
    }

    /// Whether `secret` is `client_id`'s, in constant time for a given
    /// client (and the same work for an unknown one).
    pub fn authenticate(&self, client_id: &str, secret: &SecretString) -> bool {
        let presented = token_digest(secret.expose_secret());
        match self.digests.get(client_id) {
            Some(expected) => verify_slices_are_equal(expected, &presented).is_ok(),
            None => {
                let _ = verify_slices_are_equal(&[0u8; 32], &presented);
                false
            }
        }
    }

    /// Whether `client_id` may obtain a token for `audience`.
    pub fn may_call(&self, client_id: &str, audience: &str) -> bool {
        self.audiences
            .get(client_id)
            .is_some_and(|allowed| allowed.iter().any(|a| a == audience))
    }
}

/// `order_service` (a configuration key) -> `order-service`.
fn client_id(key: &str) -> String {
    key.replace('_', "-")
}
