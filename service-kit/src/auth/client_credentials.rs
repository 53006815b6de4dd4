//! Service tokens by the OAuth 2.0 client-credentials grant (RFC 6749 4.4):
//! a [`TokenSource`] that asks user-service's `POST /api/v1/auth/token` for a
//! token with the requested audience, and caches it until shortly before it
//! expires. Concurrent callers share one refresh (single flight).
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use service_kit::auth::client_credentials::{ClientCredentials, ClientCredentialsSettings};
//! # use service_kit::client::{ClientOptions, ServiceClient};
//! # fn wire(settings: &ClientCredentialsSettings) -> anyhow::Result<ServiceClient> {
//! let tokens = ClientCredentials::new(settings, "catalog-service")?;
//! let catalog = ServiceClient::new("catalog-service", "http://127.0.0.1:8002", ClientOptions::default())?
//!     .with_token_source(Arc::new(tokens));
//! # Ok(catalog) }
//! ```

use anyhow::Context;
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

use crate::client::TokenSource;

/// Where and as whom a service obtains its tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentialsSettings {
    /// user-service's token endpoint
    /// (`http://127.0.0.1:8001/api/v1/auth/token` locally).
    pub token_url: String,
    /// This service's client id (its package name).
    pub client_id: String,
    /// This service's client secret. Secret.
    pub client_secret: SecretString,
}

/// A token is refreshed this long before it expires (or at half its
/// lifetime, if that is shorter), so no call goes out with a token about
/// to expire in flight.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

struct Cached {
    token: String,
    refresh_at: Instant,
}

/// Obtains and caches service tokens for one audience.
pub struct ClientCredentials {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    audience: String,
    cached: Mutex<Option<Cached>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

impl ClientCredentials {
    /// A source of tokens for calling `audience` (the target's package name).
    pub fn new(
        settings: &ClientCredentialsSettings,
        audience: impl Into<String>,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            http,
            token_url: settings.token_url.clone(),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            audience: audience.into(),
            cached: Mutex::new(None),
        })
    }

    /// A valid token, from the cache or freshly obtained.
    pub async fn access_token(&self) -> anyhow::Result<String> {
        // Holding the lock across the fetch is the single flight: callers
        // arriving meanwhile wait for it and then read its result.
        let mut cached = self.cached.lock().await;
        if let Some(entry) = cached.as_ref()
            && Instant::now() < entry.refresh_at
        {
            return Ok(entry.token.clone());
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    async fn fetch(&self) -> anyhow::Result<Cached> {
        let body = serde_urlencoded::to_string([
            ("grant_type", "client_credentials"),
            ("audience", self.audience.as_str()),
        ])
        .context("encoding the token request")?;
        let response = self
            .http
            .post(&self.token_url)
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .with_context(|| format!("requesting a service token from {}", self.token_url))?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!(
                "the token endpoint answered {status} for client {} and audience {}",
                self.client_id,
                self.audience
            );
        }
        let token: TokenResponse = response
            .json()
            .await
            .context("reading the token response")?;
        let lifetime = Duration::from_secs(token.expires_in);
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        Ok(Cached {
            token: token.access_token,
            refresh_at: Instant::now() + lifetime.saturating_sub(margin),
        })
    }
}

impl TokenSource for ClientCredentials {
    fn token(&self) -> BoxFuture<'_, anyhow::Result<String>> {
        Box::pin(self.access_token())
    }
}
