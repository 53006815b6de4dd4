//! Which shipping method and which discount code apply to a cart, and why
//! not: the same rules for the quote (`GET /cart`), applying a code
//! (`PUT /cart/discount`) and checkout. The amounts are [`totals`]'s.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::totals::{self, Inputs, Line, Shipping, Totals, TotalsError};
use crate::features::discounts::models::DiscountCode;
use crate::features::shipping::models::ShippingMethod;

/// Why a shipping method cannot be used (a 422 naming `shipping_method_id`,
/// or `country` for [`ShippingProblem::CountryRequired`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShippingProblem {
    /// A method was chosen without a destination country.
    #[error("is required with shipping_method_id")]
    CountryRequired,
    /// Unknown, deleted or inactive.
    #[error("is not an available shipping method (it may have been removed); choose another")]
    Unavailable,
    /// The method does not ship to the destination.
    #[error("does not ship to {0}; choose another")]
    NotToCountry(String),
    /// Methods ship to the destination, and none was chosen.
    #[error("is required: choose one of the shipping methods to {0}")]
    Required(String),
    /// Priced in another currency than the cart.
    #[error("is priced in {method}, the cart in {cart}")]
    OtherCurrency {
        /// The method's currency.
        method: String,
        /// The cart's.
        cart: String,
    },
}

/// Why a discount code does not apply (a 422 naming `code` when applying
/// it, `discount` at checkout; shown on the cart otherwise).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscountProblem {
    /// No such code.
    #[error("is not a valid discount code")]
    Unknown,
    /// Switched off.
    #[error("is no longer active")]
    Inactive,
    /// Before its window.
    #[error("is not valid yet")]
    NotYetValid,
    /// After its window.
    #[error("has expired")]
    Expired,
    /// Every redemption is taken.
    #[error("has been redeemed the maximum number of times")]
    Exhausted,
    /// Once per customer, and this customer has used it.
    #[error("has already been used by this customer")]
    AlreadyUsed,
    /// The cart does not reach its minimum.
    #[error("needs a subtotal of at least {minimum} minor units")]
    BelowMinimum {
        /// The minimum subtotal.
        minimum: i64,
    },
    /// A fixed code in another currency than the cart.
    #[error("is in {code}, the cart in {cart}")]
    OtherCurrency {
        /// The code's currency.
        code: String,
        /// The cart's.
        cart: String,
    },
}

/// Why a cart cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// The shipping method.
    #[error("shipping method: {0}")]
    Shipping(ShippingProblem),
    /// The discount code.
    #[error("discount code: {0}")]
    Discount(DiscountProblem),
    /// The amounts themselves (too large, or out of range).
    #[error(transparent)]
    Amounts(TotalsError),
}

/// Whether `code` may be used now by a customer (`used` says whether they
/// already hold a redemption of it). Its minimum and currency depend on
/// the cart: [`price`] checks them.
pub fn discount_status(
    code: &DiscountCode,
    now: DateTime<Utc>,
    used: bool,
) -> Result<(), DiscountProblem> {
    if !code.active {
        return Err(DiscountProblem::Inactive);
    }
    if code.starts_at.is_some_and(|starts| now < starts) {
        return Err(DiscountProblem::NotYetValid);
    }
    if code.ends_at.is_some_and(|ends| now >= ends) {
        return Err(DiscountProblem::Expired);
    }
    if code.once_per_customer && used {
        return Err(DiscountProblem::AlreadyUsed);
    }
    if code
        .max_redemptions
        .is_some_and(|max| code.redemptions >= max)
    {
        return Err(DiscountProblem::Exhausted);
    }
    Ok(())
}

/// What the shipping choice depends on.
#[derive(Debug, Clone, Copy)]
pub struct ShippingChoice<'a> {
    /// The destination.
    pub country: Option<&'a str>,
    /// The method asked for.
    pub requested: Option<Uuid>,
    /// That method if it exists and is not deleted.
    pub method: Option<&'a ShippingMethod>,
    /// Whether an active method ships to `country`.
    pub any_ships: bool,
}

/// The method to charge, if any. `required`: at checkout a method must be
/// chosen when one ships to the destination (the quote only reports it);
/// where none does, shipping is free.
pub fn shipping_method<'a>(
    choice: &ShippingChoice<'a>,
    required: bool,
) -> Result<Option<&'a ShippingMethod>, ShippingProblem> {
    let Some(requested) = choice.requested else {
        return match choice.country {
            Some(country) if required && choice.any_ships => {
                Err(ShippingProblem::Required(country.to_owned()))
            }
            _ => Ok(None),
        };
    };
    let Some(country) = choice.country else {
        return Err(ShippingProblem::CountryRequired);
    };
    match choice.method {
        Some(method) if method.id == requested && method.active => {
            if method.ships_to(country) {
                Ok(Some(method))
            } else {
                Err(ShippingProblem::NotToCountry(country.to_owned()))
            }
        }
        _ => Err(ShippingProblem::Unavailable),
    }
}

/// Prices `lines` in `currency` with the code, method and rate that apply
/// (already chosen by [`discount_status`] and [`shipping_method`]).
pub fn price(
    currency: &str,
    lines: &[Line],
    code: Option<&DiscountCode>,
    method: Option<&ShippingMethod>,
    tax_rate_bps: i64,
) -> Result<Totals, PriceError> {
    let input = Inputs {
        currency,
        lines,
        discount: code.map(DiscountCode::terms),
        shipping: method.map(|m| Shipping {
            price_cents: m.price_cents,
            currency: &m.currency,
            free_over_cents: m.free_over_cents,
        }),
        tax_rate_bps,
    };
    totals::totals(&input).map_err(|err| match err {
        TotalsError::BelowMinimum { minimum, .. } => {
            PriceError::Discount(DiscountProblem::BelowMinimum { minimum })
        }
        TotalsError::DiscountCurrency { code, cart } => {
            PriceError::Discount(DiscountProblem::OtherCurrency { code, cart })
        }
        TotalsError::ShippingCurrency { method, cart } => {
            PriceError::Shipping(ShippingProblem::OtherCurrency { method, cart })
        }
        other => PriceError::Amounts(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::discounts::models::DiscountKind;
    use chrono::Duration;

    fn code() -> DiscountCode {
        DiscountCode {
            id: Uuid::now_v7(),
            code: "SAVE10".into(),
            kind: DiscountKind::Percent,
            value: 10,
            currency: None,
            min_subtotal_cents: None,
            starts_at: None,
            ends_at: None,
            max_redemptions: None,
            once_per_customer: false,
            active: true,
            redemptions: 0,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn method(countries: &[&str]) -> ShippingMethod {
        ShippingMethod {
            id: Uuid::now_v7(),
            name: "Standard".into(),
            price_cents: 495,
            currency: "EUR".into(),
            free_over_cents: None,
            min_days: 2,
            max_days: 4,
            countries: countries.iter().map(|c| (*c).to_owned()).collect(),
            active: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn a_code_applies_within_its_window_while_active_and_not_exhausted() {
        let now = Utc::now();
        assert_eq!(discount_status(&code(), now, false), Ok(()));
        let mut c = code();
        c.active = false;
        assert_eq!(
            discount_status(&c, now, false),
            Err(DiscountProblem::Inactive)
        );
        let mut c = code();
        c.starts_at = Some(now + Duration::hours(1));
        assert_eq!(
            discount_status(&c, now, false),
            Err(DiscountProblem::NotYetValid)
        );
        let mut c = code();
        c.ends_at = Some(now);
        assert_eq!(
            discount_status(&c, now, false),
            Err(DiscountProblem::Expired),
            "the end is exclusive"
        );
        let mut c = code();
        c.max_redemptions = Some(5);
        c.redemptions = 5;
        assert_eq!(
            discount_status(&c, now, false),
            Err(DiscountProblem::Exhausted)
        );
        let mut c = code();
        assert_eq!(discount_status(&c, now, true), Ok(()), "reusable code");
        c.once_per_customer = true;
        assert_eq!(
            discount_status(&c, now, true),
            Err(DiscountProblem::AlreadyUsed)
        );
    }

    #[test]
    fn the_shipping_choice_follows_the_destination() {
        let standard = method(&["DE", "FR"]);
        let choice = |country, requested, m, any_ships| ShippingChoice {
            country,
            requested,
            method: m,
            any_ships,
        };
        let chosen = shipping_method(
            &choice(Some("DE"), Some(standard.id), Some(&standard), true),
            true,
        );
        assert_eq!(chosen.map(|m| m.map(|m| m.id)), Ok(Some(standard.id)));
        assert_eq!(
            shipping_method(
                &choice(Some("GB"), Some(standard.id), Some(&standard), false),
                true
            )
            .unwrap_err(),
            ShippingProblem::NotToCountry("GB".into())
        );
        assert_eq!(
            shipping_method(&choice(Some("DE"), None, None, true), true).unwrap_err(),
            ShippingProblem::Required("DE".into())
        );
        assert!(
            shipping_method(&choice(Some("DE"), None, None, true), false)
                .unwrap()
                .is_none(),
            "the quote does not insist"
        );
        assert!(
            shipping_method(&choice(Some("JP"), None, None, false), true)
                .unwrap()
                .is_none(),
            "no method ships there: shipping is free"
        );
        assert_eq!(
            shipping_method(&choice(Some("DE"), Some(Uuid::now_v7()), None, true), true)
                .unwrap_err(),
            ShippingProblem::Unavailable,
            "a deleted method"
        );
        let mut inactive = standard.clone();
        inactive.active = false;
        assert_eq!(
            shipping_method(
                &choice(Some("DE"), Some(inactive.id), Some(&inactive), false),
                true
            )
            .unwrap_err(),
            ShippingProblem::Unavailable
        );
        assert_eq!(
            shipping_method(
                &choice(None, Some(standard.id), Some(&standard), false),
                false
            )
            .unwrap_err(),
            ShippingProblem::CountryRequired
        );
    }

    #[test]
    fn pricing_names_the_part_that_does_not_fit() {
        let lines = [Line {
            unit_price_cents: 1_000,
            quantity: 1,
        }];
        let mut fixed = code();
        fixed.kind = DiscountKind::Fixed;
        fixed.value = 500;
        fixed.currency = Some("USD".into());
        assert!(matches!(
            price("EUR", &lines, Some(&fixed), None, 0),
            Err(PriceError::Discount(DiscountProblem::OtherCurrency { .. }))
        ));
        let mut minimum = code();
        minimum.min_subtotal_cents = Some(2_000);
        assert_eq!(
            price("EUR", &lines, Some(&minimum), None, 0),
            Err(PriceError::Discount(DiscountProblem::BelowMinimum {
                minimum: 2_000
            }))
        );
        let mut usd = method(&["US"]);
        usd.currency = "USD".into();
        assert!(matches!(
            price("EUR", &lines, None, Some(&usd), 0),
            Err(PriceError::Shipping(ShippingProblem::OtherCurrency { .. }))
        ));
        let totals = price("EUR", &lines, Some(&code()), Some(&method(&["DE"])), 2_000).unwrap();
        // 10.00 - 1.00 + 4.95 = 13.95; 20% = 2.79.
        assert_eq!(totals.total_cents, 1_395 + 279);
    }
}
