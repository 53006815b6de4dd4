//! The checkout saga, its state persisted on the order at every step:
//!
//! 1. [`open`]: the cart, its discount code, the shipping method and the
//!    destination's tax rate are read and the order written `pending` at
//!    step `reserving`, the code redeemed (one statement; the database
//!    enforces the code's limits); its id doubles as the reservation id and
//!    the charge's idempotency key. A method or code that does not apply
//!    deletes the order again (nothing reserved or charged);
//! 2. [`Saga::reserve`]: catalog reserves the lines (all or nothing, with a
//!    TTL) and returns its authoritative prices; the breakdown is computed
//!    by [`rules::price`] (the quote's function) and recorded on the order
//!    with the move to `charging` (one statement);
//! 3. [`Saga::charge`]: the provider charges the total;
//! 4. [`Saga::commit`]: catalog commits the reservation;
//! 5. [`Saga::confirm`]: one statement records the charge, marks the order
//!    `confirmed`, takes what was ordered out of the cart and writes the
//!    `order_confirmed` outbox event.
//!
//! Every failure compensates (`compensation.rs`); what a crash interrupts,
//! the reconciler settles. The saga answers in domain terms
//! ([`CheckoutOutcome`], [`CheckoutError`]); `routes.rs` decides what they
//! mean over HTTP.

use std::collections::BTreeSet;
use uuid::Uuid;

use super::compensation;
use super::models::{CheckoutRequest, SagaStep};
use super::repository::{self, Confirmation, NewOrder, Opened};
use crate::catalog::{Reservation, ReserveOutcome, ShortLine, StockLine};
use crate::config::FaultAction;
use crate::features::discounts::models::DiscountCode;
use crate::features::orders::events::{self, Summary};
use crate::features::orders::models::{Order, OrderItem};
use crate::features::payments::PaymentState;
use crate::features::payments::provider::{ChargeOutcome, ChargeRequest};
use crate::features::pricing::rules::{
    self, DiscountProblem, PriceError, ShippingChoice, ShippingProblem,
};
use crate::features::pricing::totals::{Line, Totals, TotalsError};
use crate::features::shipping::models::ShippingMethod;
use crate::metrics;
use crate::state::AppState;
use service_kit::outbox::OutboxRow;

/// A checkout that went through.
#[derive(Debug)]
pub enum CheckoutOutcome {
    /// Reserved, charged, committed and confirmed.
    Confirmed(Order),
}

/// Why a checkout did not go through, and what it left behind.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// Nothing to buy; nothing written.
    #[error("the cart is empty")]
    EmptyCart,
    /// Catalog cannot meet these lines; nothing reserved, no order left.
    #[error("some products are not available in the requested quantity")]
    OutOfStock(Vec<ShortLine>),
    /// The cart holds products priced in different currencies.
    #[error("the cart holds products priced in different currencies")]
    MixedCurrencies,
    /// The shipping method cannot be used (required, unknown, deleted,
    /// inactive, not to this country, another currency); nothing reserved
    /// or charged, no order left.
    #[error("shipping method: {0}")]
    Shipping(ShippingProblem),
    /// The cart's discount code no longer applies (expired, exhausted,
    /// already used, below its minimum, ...); nothing reserved or charged,
    /// no order left.
    #[error("discount code: {0}")]
    Discount(DiscountProblem),
    /// The amounts cannot be charged (too large); nothing left.
    #[error("{0}")]
    Amounts(TotalsError),
    /// The card was declined: stock released, order `payment_failed`.
    #[error("the payment was declined")]
    Declined,
    /// The reservation expired while paying: the order is `cancelled`;
    /// `refunded` says whether the refund is done (else the reconciler
    /// finishes it).
    #[error("the stock reservation expired during payment")]
    ReservationExpired {
        /// Whether the payment is already refunded.
        refunded: bool,
    },
    /// A dependency (catalog, the provider, our database) is down and
    /// nothing is left to settle: a retry runs again.
    #[error("a dependency is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The checkout stopped with its order unsettled (a crash, an unknown
    /// payment state, our database down mid-saga): the reconciler settles
    /// the order, and the request's key with it.
    #[error("the checkout of order {order_id} is unsettled")]
    Unsettled {
        /// The order left for the reconciler.
        order_id: Uuid,
        /// Why.
        #[source]
        source: anyhow::Error,
    },
}

impl CheckoutError {
    /// The `checkouts_total{outcome}` label.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::EmptyCart => "empty_cart",
            Self::OutOfStock(_) => "out_of_stock",
            Self::MixedCurrencies => "invalid",
            Self::Shipping(_) => "invalid_shipping",
            Self::Discount(_) => "invalid_discount",
            Self::Amounts(_) => "invalid_amounts",
            Self::Declined => "declined",
            Self::ReservationExpired { .. } => "reservation_expired",
            Self::Unavailable(_) => "unavailable",
            Self::Unsettled { .. } => "interrupted",
        }
    }
}

impl From<PriceError> for CheckoutError {
    fn from(err: PriceError) -> Self {
        match err {
            PriceError::Shipping(problem) => Self::Shipping(problem),
            PriceError::Discount(problem) => Self::Discount(problem),
            PriceError::Amounts(err) => Self::Amounts(err),
        }
    }
}

/// One checkout in progress: its order and what the steps need.
pub struct Saga<'a> {
    state: &'a AppState,
    /// The order (also the reservation id and the charge's idempotency key).
    pub order_id: Uuid,
    user_id: Uuid,
    /// What the price depends on besides the lines.
    pricing: Pricing,
}

/// The code, method and rate a checkout is priced with (read when the
/// order was opened).
#[derive(Debug, Default)]
struct Pricing {
    code: Option<DiscountCode>,
    method: Option<ShippingMethod>,
    rate_bps: i64,
}

/// What the reservation step yields.
#[derive(Debug)]
pub struct Reserved {
    /// The lines at catalog's prices.
    pub items: Vec<OrderItem>,
    /// Their single currency.
    pub currency: String,
}

/// The reserved lines with their breakdown.
#[derive(Debug)]
pub struct Priced {
    /// The lines at catalog's prices.
    pub items: Vec<OrderItem>,
    /// Their single currency.
    pub currency: String,
    /// What is charged.
    pub totals: Totals,
}

/// Runs the checkout of `user_id`'s cart.
pub async fn checkout(
    state: &AppState,
    user_id: Uuid,
    idempotency_key: Option<&str>,
    request: CheckoutRequest,
) -> Result<CheckoutOutcome, CheckoutError> {
    let (saga, lines) = open(state, user_id, idempotency_key, &request).await?;
    let reserved = saga.reserve(&lines).await?;
    let provider_ref = saga.charge(&reserved, request).await?;
    saga.commit().await?;
    saga.confirm(&reserved, &provider_ref).await
}

/// Step 1: reads the cart and opens the order at `reserving`, redeeming
/// its discount code; a method or code that does not apply deletes it.
pub async fn open<'a>(
    state: &'a AppState,
    user_id: Uuid,
    idempotency_key: Option<&str>,
    request: &CheckoutRequest,
) -> Result<(Saga<'a>, Vec<StockLine>), CheckoutError> {
    let order_id = Uuid::now_v7();
    let address = serde_json::to_value(&request.shipping_address)
        .map_err(|e| CheckoutError::Unavailable(e.into()))?;
    let order = NewOrder {
        order_id,
        user_id,
        shipping_address: &address,
        country: &request.shipping_address.country,
        shipping_method_id: request.shipping_method_id,
        provider: state.payments.name(),
        idempotency_key,
    };
    // Until the order exists, a failure leaves nothing to settle.
    let opened = repository::open(&state.pool, &order)
        .await
        .map_err(refused_redemption)?;
    if opened.lines.is_empty() {
        return Err(CheckoutError::EmptyCart);
    }
    let lines = opened.lines.clone();
    let choice = applicable(&opened, request);
    let saga = Saga {
        state,
        order_id,
        user_id,
        pricing: Pricing {
            code: opened.code,
            method: opened.method,
            rate_bps: i64::from(opened.rate_bps),
        },
    };
    if let Err(refused) = choice {
        // Nothing reserved yet: the order (and its redemption) goes.
        repository::delete_pending(&state.pool, order_id)
            .await
            .map_err(|e| saga.unsettled(e))?;
        return Err(refused);
    }
    saga.hook(SagaStep::Reserving)?;
    Ok((saga, lines))
}

/// Whether the method and the code read with the order apply: the same
/// rules as the quote, with the method required where one ships.
fn applicable(opened: &Opened, request: &CheckoutRequest) -> Result<(), CheckoutError> {
    let choice = ShippingChoice {
        country: Some(&request.shipping_address.country),
        requested: request.shipping_method_id,
        method: opened.method.as_ref(),
        any_ships: opened.any_ships,
    };
    rules::shipping_method(&choice, true).map_err(CheckoutError::Shipping)?;
    if let Some(code) = &opened.code
        && !opened.redeemed
    {
        // Not redeemed: the statement judged it as `discount_status` does
        // (same clock); an exhausted code fails the statement instead.
        let problem = rules::discount_status(code, opened.checked_at, opened.used)
            .err()
            .unwrap_or(DiscountProblem::AlreadyUsed);
        return Err(CheckoutError::Discount(problem));
    }
    Ok(())
}

/// The database refused the code's redemption (exhausted, or already held
/// by this customer, even by a concurrent checkout): nothing was written.
fn refused_redemption(err: sqlx::Error) -> CheckoutError {
    let constraint = match &err {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    };
    match constraint {
        Some(repository::MAX_REDEMPTIONS_CHECK) => {
            CheckoutError::Discount(DiscountProblem::Exhausted)
        }
        Some(repository::ONCE_PER_CUSTOMER_KEY) => {
            CheckoutError::Discount(DiscountProblem::AlreadyUsed)
        }
        _ => CheckoutError::Unavailable(err.into()),
    }
}

impl Saga<'_> {
    /// Step 2: reserves the lines, prices them with the code, method and
    /// rate, and records them with the breakdown (`reserving` ->
    /// `charging`).
    pub async fn reserve(&self, lines: &[StockLine]) -> Result<Priced, CheckoutError> {
        let ttl = self.state.settings.checkout.reservation_ttl_secs;
        let answer = metrics::step(
            "reserve",
            self.state.catalog.reserve(self.order_id, lines, ttl),
        );
        let reservation = match answer.await {
            Ok(ReserveOutcome::Reserved(reservation)) => reservation,
            Ok(ReserveOutcome::Short(short)) => {
                repository::delete_pending(&self.state.pool, self.order_id)
                    .await
                    .map_err(|e| self.unsettled(e))?;
                return Err(CheckoutError::OutOfStock(short));
            }
            Err(err) => {
                // The reservation may exist with its answer lost: release it.
                compensation::release_then_delete(self.state, self.order_id)
                    .await
                    .map_err(|e| self.unsettled(e))?;
                return Err(CheckoutError::Unavailable(err.into()));
            }
        };
        let Some(reserved) = priced(&reservation) else {
            compensation::release_then_delete(self.state, self.order_id)
                .await
                .map_err(|e| self.unsettled(e))?;
            return Err(CheckoutError::MixedCurrencies);
        };
        let priced = match self.price(reserved) {
            Ok(priced) => priced,
            Err(refused) => {
                // The code's minimum or a currency does not fit the
                // reserved prices: give everything back.
                compensation::release_then_delete(self.state, self.order_id)
                    .await
                    .map_err(|e| self.unsettled(e))?;
                return Err(refused);
            }
        };
        let pool = &self.state.pool;
        let recorded = repository::record_reservation(
            pool,
            self.order_id,
            &priced.items,
            &priced.currency,
            &priced.totals,
            reservation.expires_at,
        );
        self.moved(recorded.await)?;
        self.hook(SagaStep::Reserved)?;
        Ok(priced)
    }

    /// The breakdown of the reserved lines, by the quote's function.
    fn price(&self, reserved: Reserved) -> Result<Priced, CheckoutError> {
        let lines: Vec<Line> = reserved
            .items
            .iter()
            .map(|i| Line {
                unit_price_cents: i.unit_price_cents,
                quantity: i.quantity,
            })
            .collect();
        let pricing = &self.pricing;
        let totals = rules::price(
            &reserved.currency,
            &lines,
            pricing.code.as_ref(),
            pricing.method.as_ref(),
            pricing.rate_bps,
        )?;
        let mut items = reserved.items;
        for (item, line_total) in items.iter_mut().zip(&totals.line_totals) {
            item.line_total_cents = *line_total;
        }
        Ok(Priced {
            items,
            currency: reserved.currency,
            totals,
        })
    }

    /// Step 3: charges the total; a provider that gives no answer is asked
    /// what happened. Returns the provider's reference.
    pub async fn charge(
        &self,
        reserved: &Priced,
        request: CheckoutRequest,
    ) -> Result<String, CheckoutError> {
        let charge = ChargeRequest {
            order_id: self.order_id,
            amount_cents: reserved.totals.total_cents,
            currency: reserved.currency.clone(),
            token: request.payment.token,
        };
        let answer = metrics::step("charge", self.state.payments.charge(charge)).await;
        let provider_ref = match answer {
            Ok(ChargeOutcome::Succeeded { provider_ref }) => provider_ref,
            Ok(ChargeOutcome::Declined { reason }) => {
                tracing::info!(order_id = %self.order_id, %reason, "payment declined");
                return Err(self.declined().await);
            }
            Err(err) => {
                tracing::warn!(order_id = %self.order_id, error = %err, "charge failed; asking the provider");
                self.charge_unknown(err.into()).await?
            }
        };
        self.hook(SagaStep::Charged)?;
        Ok(provider_ref)
    }

    /// The charge gave no answer: the provider's own record decides.
    async fn charge_unknown(&self, err: anyhow::Error) -> Result<String, CheckoutError> {
        match self.state.payments.status(self.order_id).await {
            Ok(PaymentState::Succeeded { provider_ref }) => Ok(provider_ref),
            Ok(PaymentState::Declined) => Err(self.declined().await),
            Ok(PaymentState::NotFound | PaymentState::Refunded { .. }) => {
                // Nothing charged: give the stock back, forget the order.
                compensation::release_uncharged(self.state, self.order_id)
                    .await
                    .map_err(|e| self.unsettled(e))?;
                Err(CheckoutError::Unavailable(err))
            }
            Err(status_err) => {
                // Unknown: release the stock now; the reconciler asks the
                // provider again and refunds if it did charge.
                tracing::warn!(order_id = %self.order_id, error = %status_err, "payment state unknown");
                if let Err(release) = self.state.catalog.release(self.order_id).await {
                    tracing::warn!(order_id = %self.order_id, error = %release, "releasing stock failed; the reservation expires by itself");
                }
                Err(self.unsettled(err))
            }
        }
    }

    /// A declined payment: stock released, order `payment_failed`.
    async fn declined(&self) -> CheckoutError {
        match compensation::mark_declined(self.state, self.order_id).await {
            Ok(true) => CheckoutError::Declined,
            Ok(false) => self.unsettled(anyhow::anyhow!("the order moved while paying")),
            Err(err) => self.unsettled(err),
        }
    }

    /// Step 4: commits the reservation; if that fails, the payment is
    /// refunded and the stock returned.
    pub async fn commit(&self) -> Result<(), CheckoutError> {
        use crate::catalog::SettleOutcome;
        let committed = metrics::step("commit", self.state.catalog.commit(self.order_id)).await;
        let (reason, cause) = match committed {
            Ok(SettleOutcome::Done) => return Ok(()),
            Ok(SettleOutcome::NotFound | SettleOutcome::Conflict) => ("reservation_expired", None),
            Err(err) => ("dependency_unavailable", Some(anyhow::Error::from(err))),
        };
        let pool = &self.state.pool;
        let moved = repository::move_step(
            pool,
            self.order_id,
            SagaStep::Charging,
            SagaStep::Compensating,
        );
        self.moved(moved.await)?;
        // An incomplete compensation stays `compensating` for the reconciler.
        let refunded = match compensation::compensate(self.state, self.order_id, reason).await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(order_id = %self.order_id, error = format!("{err:#}"), "compensation incomplete; the reconciler retries");
                false
            }
        };
        Err(match (cause, refunded) {
            (None, _) => CheckoutError::ReservationExpired { refunded },
            // Refunded and released: nothing left, a retry starts afresh.
            (Some(cause), true) => CheckoutError::Unavailable(cause),
            // The charge may stand until the reconciler refunds it: the
            // key stays with the order, so a retry cannot charge again.
            (Some(cause), false) => self.unsettled(cause),
        })
    }

    /// Step 5: records the charge and confirms, clears what was ordered
    /// from the cart, and writes the event: one statement.
    pub async fn confirm(
        &self,
        reserved: &Priced,
        provider_ref: &str,
    ) -> Result<CheckoutOutcome, CheckoutError> {
        let totals = &reserved.totals;
        let summary = Summary {
            order_id: self.order_id,
            user_id: self.user_id,
            subtotal_cents: totals.subtotal_cents,
            discount_cents: totals.discount_cents,
            shipping_cents: totals.shipping_cents,
            tax_cents: totals.tax_cents,
            total_cents: totals.total_cents,
            currency: &reserved.currency,
            discount_code: self.pricing.code.as_ref().map(|c| c.code.as_str()),
            shipping_method: self.pricing.method.as_ref().map(|m| m.name.as_str()),
        };
        let event = OutboxRow::of(&events::order_confirmed(summary, &reserved.items))
            .map_err(|e| self.unsettled(e))?;
        let confirmation = Confirmation {
            provider_ref,
            take_from_cart: true,
            event: &event,
        };
        let confirmed = repository::confirm(&self.state.pool, self.order_id, &confirmation);
        match metrics::step("confirm", confirmed).await {
            Ok(Some(row)) => Ok(CheckoutOutcome::Confirmed(
                row.into_order(reserved.items.clone()),
            )),
            Ok(None) => Err(self.lost()),
            Err(err) => Err(self.unsettled(err)),
        }
    }

    /// The test-only fault hook: stop right after `step`, as a crash would.
    fn hook(&self, step: SagaStep) -> Result<(), CheckoutError> {
        match self.state.settings.faults.after(step) {
            FaultAction::Continue => Ok(()),
            FaultAction::Halt => Err(self.unsettled(anyhow::anyhow!(
                "saga halted by fault injection after {step}"
            ))),
        }
    }

    /// A conditional move's answer: moved, or the order was taken over.
    fn moved(&self, result: sqlx::Result<bool>) -> Result<(), CheckoutError> {
        match result {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.lost()),
            Err(err) => Err(self.unsettled(err)),
        }
    }

    /// The order moved under the saga (the reconciler took it): its
    /// outcome is the reconciler's.
    fn lost(&self) -> CheckoutError {
        self.unsettled(anyhow::anyhow!(
            "the order was taken over by the reconciler"
        ))
    }

    fn unsettled(&self, source: impl Into<anyhow::Error>) -> CheckoutError {
        CheckoutError::Unsettled {
            order_id: self.order_id,
            source: source.into(),
        }
    }
}

/// The reservation's lines as order lines, if they share one currency.
pub fn priced(reservation: &Reservation) -> Option<Reserved> {
    let currencies: BTreeSet<&str> = reservation
        .items
        .iter()
        .map(|i| i.currency.as_str())
        .collect();
    let (1, Some(currency)) = (currencies.len(), currencies.first()) else {
        return None;
    };
    let items: Vec<OrderItem> = reservation
        .items
        .iter()
        .map(|i| OrderItem {
            product_id: i.product_id,
            name: i.name.clone(),
            unit_price_cents: i.unit_price_cents,
            quantity: i.quantity,
            // Set from the totals (checked arithmetic) when priced.
            line_total_cents: i.unit_price_cents.saturating_mul(i64::from(i.quantity)),
        })
        .collect();
    Some(Reserved {
        currency: (*currency).to_owned(),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ReservedLine;

    fn line(currency: &str, unit_price_cents: i64, quantity: i32) -> ReservedLine {
        ReservedLine {
            product_id: Uuid::now_v7(),
            quantity,
            unit_price_cents,
            currency: currency.to_owned(),
            name: "Lamp".to_owned(),
        }
    }

    fn reservation(items: Vec<ReservedLine>) -> Reservation {
        Reservation {
            expires_at: chrono::Utc::now(),
            items,
        }
    }

    #[test]
    fn the_reservation_is_priced_with_catalogs_prices() {
        let reserved = priced(&reservation(vec![
            line("EUR", 1_250, 2),
            line("EUR", 99, 3),
        ]))
        .expect("one currency");
        assert_eq!(reserved.currency, "EUR");
        assert_eq!(reserved.items[0].line_total_cents, 2_500);
        assert_eq!(reserved.items[1].quantity, 3);
    }

    #[test]
    fn a_reservation_in_two_currencies_cannot_be_priced() {
        assert!(priced(&reservation(vec![line("EUR", 100, 1), line("USD", 100, 1)])).is_none());
        assert!(
            priced(&reservation(Vec::new())).is_none(),
            "nothing to price"
        );
    }

    #[test]
    fn every_error_has_its_metric_label() {
        let labels = [
            CheckoutError::EmptyCart.outcome(),
            CheckoutError::OutOfStock(Vec::new()).outcome(),
            CheckoutError::MixedCurrencies.outcome(),
            CheckoutError::Shipping(ShippingProblem::Unavailable).outcome(),
            CheckoutError::Discount(DiscountProblem::Expired).outcome(),
            CheckoutError::Amounts(TotalsError::Overflow).outcome(),
            CheckoutError::Declined.outcome(),
            CheckoutError::ReservationExpired { refunded: false }.outcome(),
            CheckoutError::Unavailable(anyhow::anyhow!("down")).outcome(),
            CheckoutError::Unsettled {
                order_id: Uuid::now_v7(),
                source: anyhow::anyhow!("halted"),
            }
            .outcome(),
        ];
        let distinct: std::collections::BTreeSet<_> = labels.iter().collect();
        assert_eq!(distinct.len(), labels.len());
    }

    #[test]
    fn an_unsettled_checkout_keeps_its_cause_chain() {
        let err = CheckoutError::Unsettled {
            order_id: Uuid::nil(),
            source: anyhow::anyhow!("provider down").context("charging"),
        };
        let chain = format!("{:#}", anyhow::Error::from(err));
        assert!(
            chain.contains("charging") && chain.contains("provider down"),
            "{chain}"
        );
    }
}
