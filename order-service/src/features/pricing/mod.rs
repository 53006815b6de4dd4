//! Pricing: the totals function every price goes through (`totals.rs`),
//! and what shipping methods, tax rates and discount codes share: the
//! rules that decide which method and which code apply to a cart
//! (`rules.rs`), and the input checks of their admin endpoints.

pub(crate) mod repository;
pub mod rules;
pub mod totals;

use serde::{Deserialize, Deserializer};

/// The largest amount an admin may set (a shipping price, a fixed
/// discount, a threshold): catalog's largest price, so no sum overflows.
pub const MAX_AMOUNT_CENTS: i64 = 1_000_000_000_000;

/// Whether `value` is an ISO 3166-1 alpha-2 code as the API spells it
/// (two upper-case letters).
pub fn is_country(value: &str) -> bool {
    value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase())
}

/// Whether `value` is an ISO 4217 code (three upper-case letters).
pub fn is_currency(value: &str) -> bool {
    value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase())
}

/// garde check of a country code.
pub fn country(value: &str, _ctx: &()) -> garde::Result {
    if is_country(value) {
        Ok(())
    } else {
        Err(garde::Error::new(
            "must be an ISO 3166-1 alpha-2 code (two upper-case letters)",
        ))
    }
}

/// garde check of a currency code.
pub fn currency(value: &str, _ctx: &()) -> garde::Result {
    if is_currency(value) {
        Ok(())
    } else {
        Err(garde::Error::new(
            "must be an ISO 4217 code (three upper-case letters)",
        ))
    }
}

/// garde check of a name shown to customers: not blank.
pub fn not_blank(value: &str, _ctx: &()) -> garde::Result {
    if value.trim().is_empty() {
        Err(garde::Error::new("must not be blank"))
    } else {
        Ok(())
    }
}

/// For PATCH bodies: a field that is present (even `null`) is `Some`, so
/// `Option<Option<T>>` tells "leave it" (absent) from "clear it" (`null`).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_upper_case_letters_of_the_right_length() {
        assert!(is_country("DE") && !is_country("de") && !is_country("DEU"));
        assert!(is_currency("EUR") && !is_currency("eur") && !is_currency("EU"));
        assert!(!is_country("É1"));
    }

    #[test]
    fn a_patch_tells_absent_from_null() {
        #[derive(Deserialize)]
        struct Patch {
            #[serde(default, deserialize_with = "present")]
            limit: Option<Option<i64>>,
        }
        let absent: Patch = serde_json::from_str("{}").unwrap();
        let null: Patch = serde_json::from_str(r#"{"limit": null}"#).unwrap();
        let set: Patch = serde_json::from_str(r#"{"limit": 5}"#).unwrap();
        assert_eq!(
            (absent.limit, null.limit, set.limit),
            (None, Some(None), Some(Some(5)))
        );
    }
}
