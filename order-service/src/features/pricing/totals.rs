//! The one function that prices a cart: the quote (`GET /cart`) and the
//! checkout both call [`totals`], so the customer is charged exactly what
//! the quote showed for the same cart, address and method.
//!
//! Integer minor units only, checked arithmetic throughout (an absurd input
//! is an error, never a panic or a wrapped number):
//!
//! 1. `subtotal` = sum of `unit_price * quantity`;
//! 2. `discount`: a percent code takes `subtotal * percent / 100` rounded
//!    half-up, a fixed code its amount but never more than the subtotal
//!    (the subtotal part becomes 0, never negative); a code with a minimum
//!    needs `subtotal >= min_subtotal`;
//! 3. `shipping`: the method's price, or 0 when the discounted subtotal
//!    reaches its `free_over` threshold (or no method applies);
//! 4. `tax` = `(subtotal - discount + shipping) * rate_bps / 10000`,
//!    rounded half-up to the minor unit;
//! 5. `total` = `subtotal - discount + shipping + tax`.
//!
//! A fixed code or a method priced in another currency than the cart is
//! an error: currencies never mix.

/// The largest tax rate: 100% (10 000 basis points).
pub const MAX_RATE_BPS: i64 = 10_000;

/// A priced line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// Unit price (minor units).
    pub unit_price_cents: i64,
    /// Units, at least 1.
    pub quantity: i32,
}

/// How much a discount takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscountValue {
    /// A percentage of the subtotal, 1-100.
    Percent(i64),
    /// An amount in the code's currency (minor units).
    Fixed(i64),
}

/// A discount code's terms, as far as the amounts go (its validity window,
/// active flag and redemption limits are checked where it is applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discount<'a> {
    /// Percent or fixed.
    pub value: DiscountValue,
    /// The currency of a fixed code.
    pub currency: Option<&'a str>,
    /// The subtotal the cart must reach for the code to apply.
    pub min_subtotal_cents: Option<i64>,
}

/// A shipping method's price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shipping<'a> {
    /// Its flat price (minor units).
    pub price_cents: i64,
    /// The price's currency.
    pub currency: &'a str,
    /// Free from this discounted subtotal on.
    pub free_over_cents: Option<i64>,
}

/// Everything a price depends on.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The cart's currency (its lines').
    pub currency: &'a str,
    /// The lines.
    pub lines: &'a [Line],
    /// The applied discount code, if any.
    pub discount: Option<Discount<'a>>,
    /// The chosen shipping method, if any (none: shipping is free).
    pub shipping: Option<Shipping<'a>>,
    /// The destination's tax rate in basis points (0-10 000).
    pub tax_rate_bps: i64,
}

/// The breakdown of a price.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// `unit_price * quantity` per line, in the input's order.
    pub line_totals: Vec<i64>,
    /// Sum of the lines.
    pub subtotal_cents: i64,
    /// Taken off the subtotal (at most the subtotal).
    pub discount_cents: i64,
    /// Shipping.
    pub shipping_cents: i64,
    /// Tax on `subtotal - discount + shipping`.
    pub tax_cents: i64,
    /// `subtotal - discount + shipping + tax`: what is charged.
    pub total_cents: i64,
}

/// Why a cart cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotalsError {
    /// A sum or product does not fit 64 bits.
    #[error("the amounts are too large to be charged")]
    Overflow,
    /// A negative price or amount, a quantity below 1, a percentage outside
    /// 1-100 or a rate outside 0-10 000 basis points.
    #[error("a price, quantity, percentage or rate is out of range")]
    OutOfRange,
    /// A fixed code in another currency than the cart.
    #[error("the discount code is in {code}, the cart in {cart}")]
    DiscountCurrency {
        /// The code's currency.
        code: String,
        /// The cart's.
        cart: String,
    },
    /// A shipping method priced in another currency than the cart.
    #[error("the shipping method is priced in {method}, the cart in {cart}")]
    ShippingCurrency {
        /// The method's currency.
        method: String,
        /// The cart's.
        cart: String,
    },
    /// The cart does not reach the code's minimum subtotal.
    #[error("the discount code needs a subtotal of at least {minimum} (the cart's is {subtotal})")]
    BelowMinimum {
        /// The code's minimum.
        minimum: i64,
        /// The cart's subtotal.
        subtotal: i64,
    },
}

/// Prices a cart (module docs: the rules).
pub fn totals(input: &Inputs<'_>) -> Result<Totals, TotalsError> {
    let (line_totals, subtotal) = subtotal(input.lines)?;
    let discount = match input.discount {
        None => 0,
        Some(discount) => discount_cents(&discount, input.currency, subtotal)?,
    };
    // Never negative: the discount is at most the subtotal.
    let discounted = subtotal - discount;
    let shipping = match input.shipping {
        None => 0,
        Some(shipping) => shipping_cents(&shipping, input.currency, discounted)?,
    };
    let taxable = discounted
        .checked_add(shipping)
        .ok_or(TotalsError::Overflow)?;
    let tax = tax_cents(taxable, input.tax_rate_bps)?;
    let total = taxable.checked_add(tax).ok_or(TotalsError::Overflow)?;
    Ok(Totals {
        line_totals,
        subtotal_cents: subtotal,
        discount_cents: discount,
        shipping_cents: shipping,
        tax_cents: tax,
        total_cents: total,
    })
}

fn subtotal(lines: &[Line]) -> Result<(Vec<i64>, i64), TotalsError> {
    let mut line_totals = Vec::with_capacity(lines.len());
    let mut subtotal: i64 = 0;
    for line in lines {
        if line.unit_price_cents < 0 || line.quantity < 1 {
            return Err(TotalsError::OutOfRange);
        }
        let line_total = line
            .unit_price_cents
            .checked_mul(i64::from(line.quantity))
            .ok_or(TotalsError::Overflow)?;
        subtotal = subtotal
            .checked_add(line_total)
            .ok_or(TotalsError::Overflow)?;
        line_totals.push(line_total);
    }
    Ok((line_totals, subtotal))
}

fn discount_cents(
    discount: &Discount<'_>,
    currency: &str,
    subtotal: i64,
) -> Result<i64, TotalsError> {
    if let Some(minimum) = discount.min_subtotal_cents {
        if minimum < 0 {
            return Err(TotalsError::OutOfRange);
        }
        if subtotal < minimum {
            return Err(TotalsError::BelowMinimum { minimum, subtotal });
        }
    }
    match discount.value {
        DiscountValue::Percent(percent) => {
            if !(1..=100).contains(&percent) {
                return Err(TotalsError::OutOfRange);
            }
            // At most the subtotal, since percent <= 100.
            round_half_up(i128::from(subtotal) * i128::from(percent), 100)
        }
        DiscountValue::Fixed(amount) => {
            if amount < 0 {
                return Err(TotalsError::OutOfRange);
            }
            match discount.currency {
                Some(code) if code == currency => Ok(amount.min(subtotal)),
                other => Err(TotalsError::DiscountCurrency {
                    code: other.unwrap_or("no currency").to_owned(),
                    cart: currency.to_owned(),
                }),
            }
        }
    }
}

fn shipping_cents(
    shipping: &Shipping<'_>,
    currency: &str,
    discounted: i64,
) -> Result<i64, TotalsError> {
    if shipping.price_cents < 0 || shipping.free_over_cents.is_some_and(|t| t < 0) {
        return Err(TotalsError::OutOfRange);
    }
    if shipping.currency != currency {
        return Err(TotalsError::ShippingCurrency {
            method: shipping.currency.to_owned(),
            cart: currency.to_owned(),
        });
    }
    Ok(match shipping.free_over_cents {
        Some(threshold) if discounted >= threshold => 0,
        _ => shipping.price_cents,
    })
}

fn tax_cents(taxable: i64, rate_bps: i64) -> Result<i64, TotalsError> {
    if !(0..=MAX_RATE_BPS).contains(&rate_bps) {
        return Err(TotalsError::OutOfRange);
    }
    round_half_up(
        i128::from(taxable) * i128::from(rate_bps),
        i128::from(MAX_RATE_BPS),
    )
}

/// `numerator / denominator` rounded half-up, for a non-negative numerator
/// and an even positive denominator (100, 10 000): exact in `i128`.
fn round_half_up(numerator: i128, denominator: i128) -> Result<i64, TotalsError> {
    let rounded = (numerator + denominator / 2) / denominator;
    i64::try_from(rounded).map_err(|_| TotalsError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigInt;
    use proptest::prelude::*;

    fn line(unit_price_cents: i64, quantity: i32) -> Line {
        Line {
            unit_price_cents,
            quantity,
        }
    }

    fn percent(p: i64) -> Discount<'static> {
        Discount {
            value: DiscountValue::Percent(p),
            currency: None,
            min_subtotal_cents: None,
        }
    }

    fn fixed(amount: i64, currency: &str) -> Discount<'_> {
        Discount {
            value: DiscountValue::Fixed(amount),
            currency: Some(currency),
            min_subtotal_cents: None,
        }
    }

    fn eur(price_cents: i64, free_over_cents: Option<i64>) -> Shipping<'static> {
        Shipping {
            price_cents,
            currency: "EUR",
            free_over_cents,
        }
    }

    fn inputs<'a>(
        lines: &'a [Line],
        discount: Option<Discount<'a>>,
        shipping: Option<Shipping<'a>>,
        tax_rate_bps: i64,
    ) -> Inputs<'a> {
        Inputs {
            currency: "EUR",
            lines,
            discount,
            shipping,
            tax_rate_bps,
        }
    }

    #[test]
    fn lines_alone_cost_their_sum() {
        let lines = [line(2_500, 2), line(900, 3)];
        let t = totals(&inputs(&lines, None, None, 0)).unwrap();
        assert_eq!(t.line_totals, vec![5_000, 2_700]);
        assert_eq!((t.subtotal_cents, t.total_cents), (7_700, 7_700));
        assert_eq!((t.discount_cents, t.shipping_cents, t.tax_cents), (0, 0, 0));
    }

    #[test]
    fn a_worked_example_with_every_part() {
        // 100.00 - 10% = 90.00; + 4.95 shipping = 94.95; 19% tax = 18.0405 -> 18.04.
        let lines = [line(5_000, 2)];
        let t = totals(&inputs(
            &lines,
            Some(percent(10)),
            Some(eur(495, None)),
            1_900,
        ))
        .unwrap();
        assert_eq!(
            (
                t.subtotal_cents,
                t.discount_cents,
                t.shipping_cents,
                t.tax_cents,
                t.total_cents
            ),
            (10_000, 1_000, 495, 1_804, 11_299)
        );
    }

    #[test]
    fn tax_rounds_half_up_to_the_minor_unit() {
        let lines = [line(25, 1)];
        // 25 * 20% = 5.0; 25 * 2% = 0.5 -> 1; 25 * 1.9% = 0.475 -> 0.
        assert_eq!(
            totals(&inputs(&lines, None, None, 2_000))
                .unwrap()
                .tax_cents,
            5
        );
        assert_eq!(
            totals(&inputs(&lines, None, None, 200)).unwrap().tax_cents,
            1
        );
        assert_eq!(
            totals(&inputs(&lines, None, None, 190)).unwrap().tax_cents,
            0
        );
    }

    #[test]
    fn a_percent_discount_rounds_half_up() {
        // 15% of 0.99 = 0.1485 -> 0.15; 50% of 0.01 = 0.005 -> 0.01.
        let lines = [line(99, 1)];
        let t = totals(&inputs(&lines, Some(percent(15)), None, 0)).unwrap();
        assert_eq!(t.discount_cents, 15);
        let lines = [line(1, 1)];
        let t = totals(&inputs(&lines, Some(percent(50)), None, 0)).unwrap();
        assert_eq!((t.discount_cents, t.total_cents), (1, 0));
    }

    #[test]
    fn a_fixed_discount_larger_than_the_subtotal_makes_it_zero_not_negative() {
        let lines = [line(300, 1)];
        let t = totals(&inputs(
            &lines,
            Some(fixed(1_000, "EUR")),
            Some(eur(500, None)),
            2_000,
        ))
        .unwrap();
        assert_eq!(
            (
                t.discount_cents,
                t.shipping_cents,
                t.tax_cents,
                t.total_cents
            ),
            (300, 500, 100, 600)
        );
    }

    #[test]
    fn shipping_is_free_from_the_threshold_on_the_discounted_subtotal() {
        let lines = [line(5_000, 1)];
        let free_over = Some(eur(495, Some(5_000)));
        assert_eq!(
            totals(&inputs(&lines, None, free_over, 0))
                .unwrap()
                .shipping_cents,
            0,
            "reaching the threshold is enough"
        );
        // 10% off brings 50.00 under the threshold: shipping is charged.
        assert_eq!(
            totals(&inputs(&lines, Some(percent(10)), free_over, 0))
                .unwrap()
                .shipping_cents,
            495
        );
    }

    #[test]
    fn currencies_never_mix() {
        let lines = [line(1_000, 1)];
        assert_eq!(
            totals(&inputs(&lines, Some(fixed(100, "USD")), None, 0)),
            Err(TotalsError::DiscountCurrency {
                code: "USD".into(),
                cart: "EUR".into()
            })
        );
        let usd = Shipping {
            price_cents: 500,
            currency: "USD",
            free_over_cents: None,
        };
        assert!(matches!(
            totals(&inputs(&lines, None, Some(usd), 0)),
            Err(TotalsError::ShippingCurrency { .. })
        ));
        // A percent code has no currency and fits any cart.
        assert!(totals(&inputs(&lines, Some(percent(5)), None, 0)).is_ok());
    }

    #[test]
    fn a_minimum_subtotal_is_checked_before_the_discount() {
        let lines = [line(999, 1)];
        let mut code = percent(10);
        code.min_subtotal_cents = Some(1_000);
        assert_eq!(
            totals(&inputs(&lines, Some(code), None, 0)),
            Err(TotalsError::BelowMinimum {
                minimum: 1_000,
                subtotal: 999
            })
        );
        let lines = [line(1_000, 1)];
        assert_eq!(
            totals(&inputs(&lines, Some(code), None, 0))
                .unwrap()
                .discount_cents,
            100
        );
    }

    #[test]
    fn absurd_inputs_are_errors_not_panics() {
        let huge = [line(i64::MAX, 2)];
        assert_eq!(
            totals(&inputs(&huge, None, None, 0)),
            Err(TotalsError::Overflow)
        );
        let max = [line(i64::MAX, 1)];
        assert_eq!(
            totals(&inputs(&max, None, Some(eur(1, None)), 0)),
            Err(TotalsError::Overflow)
        );
        assert_eq!(
            totals(&inputs(&max, None, None, 1)),
            Err(TotalsError::Overflow)
        );
        for bad in [
            inputs(&[line(-1, 1)], None, None, 0),
            inputs(&[line(1, 0)], None, None, 0),
            inputs(&[line(1, 1)], Some(percent(101)), None, 0),
            inputs(&[line(1, 1)], Some(percent(0)), None, 0),
            inputs(&[line(1, 1)], Some(fixed(-5, "EUR")), None, 0),
            inputs(&[line(1, 1)], None, Some(eur(-1, None)), 0),
            inputs(&[line(1, 1)], None, None, 10_001),
            inputs(&[line(1, 1)], None, None, -1),
        ] {
            assert_eq!(totals(&bad), Err(TotalsError::OutOfRange), "{bad:?}");
        }
    }

    /// The same rules over unbounded integers: `None` where a value would
    /// not fit 64 bits, or the input is refused.
    fn reference(input: &Inputs<'_>) -> Option<[BigInt; 5]> {
        let max = BigInt::from(i64::MAX);
        let fits = |v: &BigInt| *v <= max;
        let mut subtotal = BigInt::from(0);
        for l in input.lines {
            let line_total = BigInt::from(l.unit_price_cents) * BigInt::from(l.quantity);
            if !fits(&line_total) {
                return None;
            }
            subtotal += line_total;
            if !fits(&subtotal) {
                return None;
            }
        }
        let discount = match input.discount.map(|d| d.value) {
            None => BigInt::from(0),
            // floor((2 s p + 100) / 200) = round half-up of s p / 100.
            Some(DiscountValue::Percent(p)) => {
                (BigInt::from(2) * &subtotal * BigInt::from(p) + 100) / BigInt::from(200)
            }
            Some(DiscountValue::Fixed(a)) => BigInt::from(a).min(subtotal.clone()),
        };
        let discounted = &subtotal - &discount;
        let shipping = match input.shipping {
            Some(s)
                if s.free_over_cents
                    .is_none_or(|t| discounted < BigInt::from(t)) =>
            {
                BigInt::from(s.price_cents)
            }
            _ => BigInt::from(0),
        };
        let taxable = &discounted + &shipping;
        let rate = BigInt::from(input.tax_rate_bps);
        let tax = (BigInt::from(2) * &taxable * rate + 10_000) / BigInt::from(20_000);
        let total = &taxable + &tax;
        if !fits(&taxable) || !fits(&total) {
            return None;
        }
        Some([subtotal, discount, shipping, tax, total])
    }

    fn any_discount() -> impl Strategy<Value = Option<Discount<'static>>> {
        prop_oneof![
            Just(None),
            (1i64..=100).prop_map(|p| Some(percent(p))),
            (0i64..=i64::MAX).prop_map(|a| Some(fixed(a, "EUR"))),
            (0i64..=2_000_000).prop_map(|a| Some(fixed(a, "EUR"))),
        ]
    }

    fn any_shipping() -> impl Strategy<Value = Option<Shipping<'static>>> {
        prop_oneof![
            Just(None),
            (0i64..=i64::MAX, proptest::option::of(0i64..=i64::MAX))
                .prop_map(|(p, t)| Some(eur(p, t))),
            (0i64..=10_000, proptest::option::of(0i64..=100_000))
                .prop_map(|(p, t)| Some(eur(p, t))),
        ]
    }

    fn any_lines() -> impl Strategy<Value = Vec<Line>> {
        prop_oneof![
            // Realistic carts: catalog prices, 1-99 units, up to 100 lines.
            proptest::collection::vec(
                (0i64..=1_000_000_000_000, 1i32..=99).prop_map(|(p, q)| line(p, q)),
                0..100
            ),
            // Anything at all.
            proptest::collection::vec(
                (0i64..=i64::MAX, 1i32..=i32::MAX).prop_map(|(p, q)| line(p, q)),
                0..4
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn totals_match_the_unbounded_reference_exactly(
            lines in any_lines(),
            discount in any_discount(),
            shipping in any_shipping(),
            rate in 0i64..=MAX_RATE_BPS,
        ) {
            let input = inputs(&lines, discount, shipping, rate);
            match (totals(&input), reference(&input)) {
                (Ok(t), Some([subtotal, discount, shipping, tax, total])) => {
                    prop_assert_eq!(BigInt::from(t.subtotal_cents), subtotal);
                    prop_assert_eq!(BigInt::from(t.discount_cents), discount);
                    prop_assert_eq!(BigInt::from(t.shipping_cents), shipping);
                    prop_assert_eq!(BigInt::from(t.tax_cents), tax);
                    prop_assert_eq!(BigInt::from(t.total_cents), total);
                }
                (Err(TotalsError::Overflow), None) => {}
                (got, want) => prop_assert!(false, "{:?} but the reference says {:?}", got, want),
            }
        }

        #[test]
        fn totals_are_never_negative_and_add_up(
            lines in any_lines(),
            discount in any_discount(),
            shipping in any_shipping(),
            rate in 0i64..=MAX_RATE_BPS,
        ) {
            if let Ok(t) = totals(&inputs(&lines, discount, shipping, rate)) {
                for part in [t.subtotal_cents, t.discount_cents, t.shipping_cents, t.tax_cents, t.total_cents] {
                    prop_assert!(part >= 0);
                }
                prop_assert!(t.discount_cents <= t.subtotal_cents, "the discount is at most the subtotal");
                prop_assert_eq!(
                    i128::from(t.total_cents),
                    i128::from(t.subtotal_cents) - i128::from(t.discount_cents)
                        + i128::from(t.shipping_cents) + i128::from(t.tax_cents)
                );
                prop_assert_eq!(t.line_totals.iter().map(|v| i128::from(*v)).sum::<i128>(), i128::from(t.subtotal_cents));
            }
        }

        #[test]
        fn tax_is_the_exact_rate_rounded_half_up(
            lines in any_lines(),
            discount in any_discount(),
            shipping in any_shipping(),
            rate in 0i64..=MAX_RATE_BPS,
        ) {
            if let Ok(t) = totals(&inputs(&lines, discount, shipping, rate)) {
                // As rationals: tax - taxable * rate / 10000 lies in (-1/2, 1/2].
                let taxable = BigInt::from(t.subtotal_cents - t.discount_cents + t.shipping_cents);
                let error = BigInt::from(2) * (BigInt::from(t.tax_cents) * 10_000 - taxable * rate);
                prop_assert!(error > BigInt::from(-10_000) && error <= BigInt::from(10_000), "{}", error);
            }
        }

        #[test]
        fn no_input_makes_it_panic(
            lines in proptest::collection::vec(any::<(i64, i32)>().prop_map(|(p, q)| line(p, q)), 0..5),
            value in any::<i64>(),
            is_percent in any::<bool>(),
            min in proptest::option::of(any::<i64>()),
            price in any::<i64>(),
            free_over in proptest::option::of(any::<i64>()),
            rate in any::<i64>(),
        ) {
            let discount = Discount {
                value: if is_percent { DiscountValue::Percent(value) } else { DiscountValue::Fixed(value) },
                currency: Some("EUR"),
                min_subtotal_cents: min,
            };
            let result = totals(&inputs(&lines, Some(discount), Some(eur(price, free_over)), rate));
            if let Ok(t) = result {
                prop_assert!(t.total_cents >= 0 && t.discount_cents <= t.subtotal_cents);
            }
        }
    }
}
