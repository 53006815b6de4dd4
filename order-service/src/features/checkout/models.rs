//! Checkout types: the request, and the saga's steps as stored.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};
use utoipa::ToSchema;

use crate::features::orders::models::ShippingAddress;

/// The payment method: only cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethodKind {
    /// A tokenized card.
    Card,
}

/// How the order is paid.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethod {
    /// `card`.
    #[garde(skip)]
    pub method: PaymentMethodKind,
    /// The provider's card token (`tok_visa`, `tok_declined`, `tok_error` with
    /// the fake provider), 1-255 characters. Never logged or echoed.
    #[garde(custom(valid_token))]
    #[schema(value_type = String)]
    pub token: SecretString,
}

/// Body of `POST /checkout`.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// Where to ship.
    #[garde(dive)]
    pub shipping_address: ShippingAddress,
    /// The shipping method (`GET /shipping-methods?country=`); required
    /// when an active method ships to the address's country, where none
    /// does shipping is free.
    #[garde(skip)]
    #[serde(default)]
    pub shipping_method_id: Option<uuid::Uuid>,
    /// How to pay.
    #[garde(dive)]
    pub payment: PaymentMethod,
}

fn valid_token(value: &SecretString, _ctx: &()) -> garde::Result {
    let token = value.expose_secret();
    if (1..=255).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(garde::Error::new("must be 1-255 printable characters"))
    }
}

/// Where an order's checkout stands (`orders.saga_step`, a text column
/// with a check constraint); meaningful while the order is `pending`, and
/// for a confirmed order being cancelled.
///
/// The happy path writes `Reserving` -> `Charging` -> `Completed`: the
/// reservation is recorded together with the move to `Charging`, and the
/// charge together with the confirmation. `Reserved` and `Charged` are
/// written by the reconciler (and by older versions of the saga), and the
/// fault-injection hook names the points in between by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SagaStep {
    /// The order exists; catalog is being asked to reserve its stock.
    Reserving,
    /// Stock is reserved and the lines recorded.
    Reserved,
    /// The provider is being asked to charge (or may have charged).
    Charging,
    /// The charge succeeded; catalog is to commit the reservation.
    Charged,
    /// Being undone: refund, then release or restock.
    Compensating,
    /// Confirmed (the saga's end).
    Completed,
    /// Declined or compensated (the saga's other end).
    Failed,
    /// A confirmed order being cancelled (restock, refund).
    Cancelling,
}

impl SagaStep {
    /// Every step, in saga order.
    pub const ALL: [Self; 8] = [
        Self::Reserving,
        Self::Reserved,
        Self::Charging,
        Self::Charged,
        Self::Compensating,
        Self::Completed,
        Self::Failed,
        Self::Cancelling,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserving => "reserving",
            Self::Reserved => "reserved",
            Self::Charging => "charging",
            Self::Charged => "charged",
            Self::Compensating => "compensating",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelling => "cancelling",
        }
    }

    /// The step stored as `value`.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|step| step.as_str() == value)
    }
}

impl std::fmt::Display for SagaStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Type<Postgres> for SagaStep {
    fn type_info() -> PgTypeInfo {
        <&str as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <&str as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for SagaStep {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&str as Encode<Postgres>>::encode_by_ref(&self.as_str(), buf)
    }
}

impl Decode<'_, Postgres> for SagaStep {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Postgres>>::decode(value)?;
        Self::parse(text).ok_or_else(|| format!("unknown saga step {text:?}").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_round_trips_through_its_stored_spelling() {
        for step in SagaStep::ALL {
            assert_eq!(SagaStep::parse(step.as_str()), Some(step));
        }
        assert_eq!(SagaStep::parse("shipping"), None);
    }

    #[test]
    fn the_stored_spellings_are_the_ones_the_check_constraint_allows() {
        let migrations = [
            include_str!("../../../migrations/0002_orders.sql"),
            include_str!("../../../migrations/0004_checkout.sql"),
        ]
        .concat();
        for step in SagaStep::ALL {
            assert!(
                migrations.contains(&format!("'{}'", step.as_str())),
                "{step} is not allowed by the migrations"
            );
        }
    }
}
