//! The payment provider seam: a trait with the built-in `fake` provider
//! (ledger in this service's database) and an HTTP gateway provider.

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use service_kit::client::{ClientOptions, ServiceClient, TokenSource};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use super::repository;
use crate::config::{PaymentSettings, ProviderKind};

/// A charge to make: the order id is the provider's idempotency key.
#[derive(Clone)]
pub struct ChargeRequest {
    /// The order paid for (idempotency key).
    pub order_id: Uuid,
    /// Amount in minor units.
    pub amount_cents: i64,
    /// ISO 4217.
    pub currency: String,
    /// The card token. Secret: never logged.
    pub token: SecretString,
}

/// How a charge ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// Money taken; the provider's reference.
    Succeeded {
        /// The provider's charge id.
        provider_ref: String,
    },
    /// The card was declined; nothing taken.
    Declined {
        /// The provider's reason code.
        reason: String,
    },
}

/// What the provider knows about an order's payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentState {
    /// No charge was ever made for the order.
    NotFound,
    /// Charged and not (fully) refunded.
    Succeeded {
        /// The provider's charge id.
        provider_ref: String,
    },
    /// Declined; nothing taken.
    Declined,
    /// Charged, then refunded.
    Refunded {
        /// The provider's charge id.
        provider_ref: String,
    },
}

/// The provider gave no usable answer (outage, timeout, 5xx): whether a
/// charge happened is unknown until [`PaymentProvider::status`] says.
#[derive(Debug, thiserror::Error)]
#[error("the payment provider is unavailable: {0:#}")]
pub struct ProviderUnavailable(pub anyhow::Error);

/// A payment provider. Every operation is idempotent on the order id.
pub trait PaymentProvider: Send + Sync {
    /// The provider's name (`fake`, `http`), recorded on orders.
    fn name(&self) -> &'static str;

    /// Charges the card (authorize and capture at once).
    fn charge(
        &self,
        request: ChargeRequest,
    ) -> BoxFuture<'_, Result<ChargeOutcome, ProviderUnavailable>>;

    /// Refunds `amount_cents` of the order's charge (no-op when already refunded).
    fn refund(
        &self,
        order_id: Uuid,
        amount_cents: i64,
    ) -> BoxFuture<'_, Result<(), ProviderUnavailable>>;

    /// What the provider knows about the order's payment.
    fn status(&self, order_id: Uuid) -> BoxFuture<'_, Result<PaymentState, ProviderUnavailable>>;
}

/// The provider the settings name.
pub fn from_settings(
    settings: &PaymentSettings,
    pool: &PgPool,
) -> anyhow::Result<Arc<dyn PaymentProvider>> {
    Ok(match settings.provider {
        ProviderKind::Fake => Arc::new(FakeProvider { pool: pool.clone() }),
        ProviderKind::Http => Arc::new(HttpGateway::new(settings)?),
    })
}

/// Card token that always succeeds.
pub const TOKEN_OK: &str = "tok_visa";
/// Card token that behaves like a provider outage.
pub const TOKEN_ERROR: &str = "tok_error";

/// The built-in fake: `tok_visa` succeeds, `tok_declined` (and any other
/// token) is declined, `tok_error` fails like an outage. Its ledger is the
/// `fake_payments` table, one row per order at most.
pub struct FakeProvider {
    pool: PgPool,
}

impl PaymentProvider for FakeProvider {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn charge(
        &self,
        request: ChargeRequest,
    ) -> BoxFuture<'_, Result<ChargeOutcome, ProviderUnavailable>> {
        Box::pin(async move {
            let status = match request.token.expose_secret() {
                TOKEN_ERROR => {
                    return Err(ProviderUnavailable(anyhow::anyhow!(
                        "fake provider outage (test token)"
                    )));
                }
                TOKEN_OK => "succeeded",
                _ => "declined",
            };
            let row = repository::fake_charge(
                &self.pool,
                request.order_id,
                request.amount_cents,
                &request.currency,
                status,
            )
            .await
            .map_err(|e| ProviderUnavailable(e.into()))?;
            Ok(if row.status == "succeeded" {
                ChargeOutcome::Succeeded {
                    provider_ref: row.payment_id.to_string(),
                }
            } else {
                ChargeOutcome::Declined {
                    reason: "card_declined".to_owned(),
                }
            })
        })
    }

    fn refund(
        &self,
        order_id: Uuid,
        amount_cents: i64,
    ) -> BoxFuture<'_, Result<(), ProviderUnavailable>> {
        Box::pin(async move {
            repository::fake_refund(&self.pool, order_id, amount_cents)
                .await
                .map_err(|e| ProviderUnavailable(e.into()))
        })
    }

    fn status(&self, order_id: Uuid) -> BoxFuture<'_, Result<PaymentState, ProviderUnavailable>> {
        Box::pin(async move {
            let row = repository::fake_find(&self.pool, order_id)
                .await
                .map_err(|e| ProviderUnavailable(e.into()))?;
            Ok(match row {
                None => PaymentState::NotFound,
                Some(row) if row.status != "succeeded" => PaymentState::Declined,
                Some(row) if row.refunded_cents > 0 => PaymentState::Refunded {
                    provider_ref: row.payment_id.to_string(),
                },
                Some(row) => PaymentState::Succeeded {
                    provider_ref: row.payment_id.to_string(),
                },
            })
        })
    }
}

/// Supplies the gateway's API key as the bearer token.
struct ApiKey(SecretString);

impl TokenSource for ApiKey {
    fn token(&self) -> BoxFuture<'_, anyhow::Result<String>> {
        let key = self.0.expose_secret().to_owned();
        Box::pin(async move { Ok(key) })
    }
}

/// A charge as the gateway returns it.
#[derive(Debug, Deserialize)]
struct GatewayCharge {
    id: String,
    status: String,
    #[serde(default)]
    decline_code: Option<String>,
}

/// A small Stripe-like HTTP gateway (README, Payments):
/// `POST {base}/v1/charges` with `Idempotency-Key: <order id>`,
/// `GET {base}/v1/charges/{order_id}`, `POST {base}/v1/refunds` with
/// `Idempotency-Key: refund-<order id>`; `Authorization: Bearer <api_key>`.
pub struct HttpGateway {
    client: ServiceClient,
}

impl HttpGateway {
    /// A gateway client from the settings.
    pub fn new(settings: &PaymentSettings) -> anyhow::Result<Self> {
        let options = ClientOptions {
            timeout: Duration::from_millis(settings.timeout_ms),
            ..ClientOptions::default()
        };
        let client = ServiceClient::new("payment-gateway", settings.base_url.clone(), options)?
            .with_token_source(Arc::new(ApiKey(settings.api_key.clone())));
        Ok(Self { client })
    }

    fn unavailable(what: &str, status: axum::http::StatusCode) -> ProviderUnavailable {
        ProviderUnavailable(anyhow::anyhow!("payment gateway {what} answered {status}"))
    }
}

impl PaymentProvider for HttpGateway {
    fn name(&self) -> &'static str {
        "http"
    }

    fn charge(
        &self,
        request: ChargeRequest,
    ) -> BoxFuture<'_, Result<ChargeOutcome, ProviderUnavailable>> {
        Box::pin(async move {
            let body = serde_json::json!({
                "order_id": request.order_id,
                "amount_cents": request.amount_cents,
                "currency": request.currency,
                "source": request.token.expose_secret(),
            });
            let response = self
                .client
                .post("/v1/charges")
                .idempotency_key(&request.order_id.to_string())
                .json(&body)
                .send()
                .await
                .map_err(|e| ProviderUnavailable(e.into()))?;
            let status = response.status();
            if !(status.is_success() || status.as_u16() == 402) {
                return Err(Self::unavailable("charge", status));
            }
            let charge: GatewayCharge = response
                .json()
                .await
                .map_err(|e| ProviderUnavailable(e.into()))?;
            Ok(if charge.status == "succeeded" && status.is_success() {
                ChargeOutcome::Succeeded {
                    provider_ref: charge.id,
                }
            } else {
                ChargeOutcome::Declined {
                    reason: charge
                        .decline_code
                        .unwrap_or_else(|| "card_declined".to_owned()),
                }
            })
        })
    }

    fn refund(
        &self,
        order_id: Uuid,
        amount_cents: i64,
    ) -> BoxFuture<'_, Result<(), ProviderUnavailable>> {
        Box::pin(async move {
            let body = serde_json::json!({"order_id": order_id, "amount_cents": amount_cents});
            let response = self
                .client
                .post("/v1/refunds")
                .idempotency_key(&format!("refund-{order_id}"))
                .json(&body)
                .send()
                .await
                .map_err(|e| ProviderUnavailable(e.into()))?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(Self::unavailable("refund", status))
            }
        })
    }

    fn status(&self, order_id: Uuid) -> BoxFuture<'_, Result<PaymentState, ProviderUnavailable>> {
        Box::pin(async move {
            let response = self
                .client
                .get(&format!("/v1/charges/{order_id}"))
                .send()
                .await
                .map_err(|e| ProviderUnavailable(e.into()))?;
            let status = response.status();
            if status.as_u16() == 404 {
                return Ok(PaymentState::NotFound);
            }
            if !status.is_success() {
                return Err(Self::unavailable("status", status));
            }
            let charge: GatewayCharge = response
                .json()
                .await
                .map_err(|e| ProviderUnavailable(e.into()))?;
            Ok(match charge.status.as_str() {
                "succeeded" => PaymentState::Succeeded {
                    provider_ref: charge.id,
                },
                "refunded" => PaymentState::Refunded {
                    provider_ref: charge.id,
                },
                _ => PaymentState::Declined,
            })
        })
    }
}
