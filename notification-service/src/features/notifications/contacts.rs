//! Contact details from user-service's `GET /internal/v1/users/{id}`, with
//! a service token obtained by the client-credentials grant.

use anyhow::Context;
use serde::Deserialize;
use service_kit::auth::client_credentials::ClientCredentials;
use service_kit::client::{ClientOptions, ServiceClient};
use std::sync::Arc;
use uuid::Uuid;

use crate::config::Settings;

/// A user's contact details, as read from user-service (its document is
/// checked against this type in the contract tests).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct Contact {
    /// E-mail address (absent once the account's personal data is erased).
    #[serde(default)]
    pub email: Option<String>,
    /// Full name.
    #[serde(default)]
    pub full_name: Option<String>,
    /// Phone number (E.164), if given.
    #[serde(default)]
    pub phone: Option<String>,
}

/// Why no contact details came back.
#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    /// user-service does not know the user.
    #[error("unknown user")]
    UnknownUser,
    /// user-service could not be asked (down, timing out, refusing our token).
    #[error("user-service is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// The user-service client.
#[derive(Clone)]
pub struct UserDirectory {
    client: ServiceClient,
}

impl UserDirectory {
    /// A client for `services.user_url`, authenticated as `service_auth`.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let tokens = ClientCredentials::new(&settings.service_auth, "user-service")
            .context("building the client-credentials token source")?;
        let client = ServiceClient::new(
            "user-service",
            settings.services.user_url.clone(),
            ClientOptions::default(),
        )
        .context("building the user-service client")?
        .with_token_source(Arc::new(tokens));
        Ok(Self { client })
    }

    /// The contact details of `user_id`.
    pub async fn contact(&self, user_id: Uuid) -> Result<Contact, ContactError> {
        let response = self
            .client
            .get(&format!("/internal/v1/users/{user_id}"))
            .send()
            .await
            .map_err(|err| ContactError::Unavailable(err.into()))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(ContactError::UnknownUser);
        }
        if !status.is_success() {
            return Err(ContactError::Unavailable(anyhow::anyhow!(
                "user-service answered {status} to the contact lookup"
            )));
        }
        response.json().await.map_err(|err| {
            ContactError::Unavailable(anyhow::Error::new(err).context("reading the contact"))
        })
    }
}
