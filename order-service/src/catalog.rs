//! catalog-service, as order-service uses it: the public batch product
//! lookup (one call per cart read) and the internal reservation API
//! (service token, audience `catalog-service`), all idempotent on their ids.

use anyhow::Context;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use service_kit::auth::client_credentials::{ClientCredentials, ClientCredentialsSettings};
use service_kit::client::{ClientError, ClientOptions, ServiceClient};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

/// catalog-service's package name: the audience of our service tokens.
pub const CATALOG_SERVICE: &str = "catalog-service";

/// A product as the batch lookup returns it (the fields order-service uses).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CatalogProduct {
    /// Its id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Current unit price.
    pub price_cents: i64,
    /// ISO 4217.
    pub currency: String,
    /// Listed and sellable.
    pub active: bool,
}

/// A page of the product listing (the part order-service reads).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProductPage {
    /// The products.
    pub items: Vec<CatalogProduct>,
}

/// Body of `POST /internal/v1/reservations`, as sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReserveRequest<'a> {
    /// The order id.
    pub reservation_id: Uuid,
    /// The cart's lines.
    pub items: &'a [StockLine],
    /// How long catalog holds the stock unless committed.
    pub ttl_seconds: u32,
}

/// Body of `POST /internal/v1/restock`, as sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestockRequest<'a> {
    /// The cancelled order's id.
    pub reference_id: Uuid,
    /// The lines to put back.
    pub items: &'a [StockLine],
}

/// One line to reserve or restock.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct StockLine {
    /// The product.
    pub product_id: Uuid,
    /// Units.
    pub quantity: i32,
}

/// A reserved line with catalog's authoritative price and name.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ReservedLine {
    /// The product.
    pub product_id: Uuid,
    /// Units held.
    pub quantity: i32,
    /// Unit price at reservation time.
    pub unit_price_cents: i64,
    /// ISO 4217.
    pub currency: String,
    /// Product name at reservation time.
    pub name: String,
}

/// A reservation catalog holds for us.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Reservation {
    /// When the stock returns by itself unless committed.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The lines.
    pub items: Vec<ReservedLine>,
}

/// A line catalog cannot reserve.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ShortLine {
    /// The product.
    pub product_id: Uuid,
    /// Units requested.
    pub requested: i32,
    /// Units available.
    pub available: i32,
}

/// The 409 of a reservation that cannot be met (the part order-service reads).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ShortBody {
    /// The short lines.
    #[serde(default)]
    pub short_items: Vec<ShortLine>,
}

/// How a reservation attempt ended.
#[derive(Debug)]
pub enum ReserveOutcome {
    /// All lines are held.
    Reserved(Reservation),
    /// Some lines cannot be met; nothing is held.
    Short(Vec<ShortLine>),
}

/// How a commit or release attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleOutcome {
    /// Done (or already done).
    Done,
    /// No such reservation (never made).
    NotFound,
    /// The reservation is in the other final state (released or expired for
    /// a commit, committed for a release).
    Conflict,
}

/// Why catalog gave no usable answer: unreachable, 5xx, or an answer this
/// service does not understand. Always a 503 to our callers.
#[derive(Debug, thiserror::Error)]
#[error("catalog-service is unavailable: {0:#}")]
pub struct CatalogUnavailable(pub anyhow::Error);

impl From<ClientError> for CatalogUnavailable {
    fn from(err: ClientError) -> Self {
        Self(err.into())
    }
}

/// Pooled clients for catalog-service (one for the public API, one with
/// service tokens for the internal API).
#[derive(Clone)]
pub struct CatalogClient {
    public: ServiceClient,
    internal: ServiceClient,
}

impl CatalogClient {
    /// Clients for `base_url`, authenticating internal calls with service
    /// tokens obtained by `credentials`.
    pub fn new(
        base_url: &str,
        credentials: &ClientCredentialsSettings,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let options = ClientOptions {
            timeout,
            ..ClientOptions::default()
        };
        let public = ServiceClient::new(CATALOG_SERVICE, base_url, options.clone())
            .context("building the catalog-service client")?;
        let tokens = ClientCredentials::new(credentials, CATALOG_SERVICE)?;
        let internal = ServiceClient::new(CATALOG_SERVICE, base_url, options)
            .context("building the catalog-service client")?
            .with_token_source(Arc::new(tokens));
        Ok(Self { public, internal })
    }

    /// Looks up `ids` (at most 100) in one call; products that are unknown,
    /// deleted or inactive are absent from the map.
    pub async fn products(
        &self,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, CatalogProduct>, CatalogUnavailable> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let joined = ids
            .iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let response = self
            .public
            .get("/api/v1/products")
            .query(&[("ids", joined.as_str()), ("limit", "100")])
            .send()
            .await?;
        let status = response.status();
        if status != StatusCode::OK {
            return Err(CatalogUnavailable(anyhow::anyhow!(
                "product lookup answered {status}"
            )));
        }
        let page: ProductPage = response
            .json()
            .await
            .map_err(|e| CatalogUnavailable(e.into()))?;
        Ok(page
            .items
            .into_iter()
            .filter(|p| p.active)
            .map(|p| (p.id, p))
            .collect())
    }

    /// Reserves every line or none for `ttl_seconds`; idempotent on `id`.
    pub async fn reserve(
        &self,
        id: Uuid,
        lines: &[StockLine],
        ttl_seconds: u32,
    ) -> Result<ReserveOutcome, CatalogUnavailable> {
        let body = ReserveRequest {
            reservation_id: id,
            items: lines,
            ttl_seconds,
        };
        let response = self
            .internal
            .post("/internal/v1/reservations")
            .json(&body)
            .retryable()
            .send()
            .await?;
        let status = response.status();
        match status {
            StatusCode::CREATED | StatusCode::OK => Ok(ReserveOutcome::Reserved(
                response
                    .json()
                    .await
                    .map_err(|e| CatalogUnavailable(e.into()))?,
            )),
            StatusCode::CONFLICT => {
                let body: ShortBody = response
                    .json()
                    .await
                    .map_err(|e| CatalogUnavailable(e.into()))?;
                Ok(ReserveOutcome::Short(body.short_items))
            }
            other => Err(CatalogUnavailable(anyhow::anyhow!(
                "reservation answered {other}"
            ))),
        }
    }

    /// Commits reservation `id` (its stock leaves for good).
    pub async fn commit(&self, id: Uuid) -> Result<SettleOutcome, CatalogUnavailable> {
        self.settle(&format!("/internal/v1/reservations/{id}/commit"))
            .await
    }

    /// Releases reservation `id` (its stock returns to available).
    pub async fn release(&self, id: Uuid) -> Result<SettleOutcome, CatalogUnavailable> {
        self.settle(&format!("/internal/v1/reservations/{id}/release"))
            .await
    }

    /// Puts a cancelled order's units back on hand; idempotent on `reference_id`.
    pub async fn restock(
        &self,
        reference_id: Uuid,
        lines: &[StockLine],
    ) -> Result<(), CatalogUnavailable> {
        let body = RestockRequest {
            reference_id,
            items: lines,
        };
        let response = self
            .internal
            .post("/internal/v1/restock")
            .json(&body)
            .retryable()
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(CatalogUnavailable(anyhow::anyhow!(
                "restock answered {status}"
            )))
        }
    }

    async fn settle(&self, path: &str) -> Result<SettleOutcome, CatalogUnavailable> {
        let response = self.internal.post(path).retryable().send().await?;
        match response.status() {
            status if status.is_success() => Ok(SettleOutcome::Done),
            StatusCode::NOT_FOUND => Ok(SettleOutcome::NotFound),
            StatusCode::CONFLICT => Ok(SettleOutcome::Conflict),
            other => Err(CatalogUnavailable(anyhow::anyhow!(
                "{path} answered {other}"
            ))),
        }
    }
}
