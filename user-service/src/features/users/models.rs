//! Account types: what the API accepts and returns, and the newtypes every
//! input is parsed into at the boundary.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};
use service_kit::FieldError;
use service_kit::pagination::CursorTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An account as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct User {
    /// The user's id.
    #[sqlx(rename = "user_id")]
    pub id: Uuid,
    /// E-mail address, normalized (lower-case).
    pub email: String,
    /// Full name.
    pub full_name: String,
    /// Phone number (E.164), if given.
    pub phone: Option<String>,
    /// `customer`, and `admin` for administrators.
    pub roles: Vec<String>,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

/// A user's contact details, for notification-service.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Contact {
    /// The user's id.
    #[sqlx(rename = "user_id")]
    pub id: Uuid,
    /// E-mail address.
    pub email: String,
    /// Full name.
    pub full_name: String,
    /// Phone number (E.164), if given.
    pub phone: Option<String>,
}

/// A valid, normalized (trimmed, lower-case) e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses and normalizes an address.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = || FieldError::new("email", "must be a valid e-mail address");
        // Checked before anything is copied: a 1 MiB "address" costs nothing.
        let trimmed = raw.trim();
        if trimmed.len() > 254 * 4 || trimmed.chars().count() > 254 {
            return Err(FieldError::new("email", "must be at most 254 characters"));
        }
        let email = trimmed.to_lowercase();
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password of acceptable length (12-128 characters).
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl Password {
    /// Shortest accepted password, in characters.
    pub const MIN: usize = 12;
    /// Longest accepted password, in characters.
    pub const MAX: usize = 128;

    /// Checks the length; `field` names the field in the error.
    pub fn parse(raw: SecretString, field: &str) -> Result<Self, FieldError> {
        let length = raw.expose_secret().chars().count();
        if (Self::MIN..=Self::MAX).contains(&length) {
            Ok(Self(raw))
        } else {
            Err(FieldError::new(
                field,
                format!("must be between {} and {} characters", Self::MIN, Self::MAX),
            ))
        }
    }

    /// The password.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// A full name: 1-200 characters once trimmed.
pub fn parse_full_name(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    let length = name.chars().count();
    if (1..=200).contains(&length) && !name.chars().any(char::is_control) {
        Ok(name.to_owned())
    } else {
        Err(FieldError::new(
            "full_name",
            "must be between 1 and 200 characters",
        ))
    }
}

/// A phone number in E.164 (`+` and 7-15 digits; spaces, dashes and dots
/// between digits are dropped).
pub fn parse_phone(raw: &str) -> Result<String, FieldError> {
    let phone: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = phone.strip_prefix('+').unwrap_or_default();
    let valid = (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    if valid {
        Ok(phone)
    } else {
        Err(FieldError::new(
            "phone",
            "must be an international number in E.164 form, like +4915123456789",
        ))
    }
}

/// Body of `PATCH /users/me`: absent fields stay, `phone: null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfile {
    /// New full name.
    pub full_name: Option<String>,
    /// New phone number (E.164), or `null` to remove it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
}

/// A present field (even `null`) is `Some`; an absent one stays `None`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A validated profile change.
#[derive(Debug, Default)]
pub struct ProfileChange {
    /// New full name.
    pub full_name: Option<String>,
    /// New phone (`Some(None)` removes it).
    pub phone: Option<Option<String>>,
}

impl UpdateProfile {
    /// Validates every field, reporting all failures at once.
    pub fn parse(self) -> Result<ProfileChange, Vec<FieldError>> {
        let mut errors = Vec::new();
        let full_name = self
            .full_name
            .map(|n| parse_full_name(&n))
            .transpose()
            .unwrap_or_else(|e| {
                errors.push(e);
                None
            });
        let phone = match self.phone {
            Some(Some(p)) => match parse_phone(&p) {
                Ok(p) => Some(Some(p)),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
            other => other,
        };
        if errors.is_empty() {
            Ok(ProfileChange { full_name, phone })
        } else {
            Err(errors)
        }
    }
}

/// A user's preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// BCP 47 language tag (`en`, `de-CH`, `zh-Hant-TW`).
    pub language: String,
    /// ISO 4217 currency code (`EUR`).
    pub currency: String,
    /// IANA time zone (`Europe/Berlin`).
    pub timezone: String,
    /// Whether the user accepts marketing messages.
    pub marketing_opt_in: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            language: "en".into(),
            currency: "EUR".into(),
            timezone: "UTC".into(),
            marketing_opt_in: false,
        }
    }
}

impl Preferences {
    /// Checks language and currency (the time zone is checked against the
    /// database's IANA list by the service), normalizing their case.
    pub fn parse(mut self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        match normalize_language_tag(&self.language) {
            Some(tag) => self.language = tag,
            None => errors.push(FieldError::new(
                "language",
                "must be a BCP 47 language tag, like en or pt-BR",
            )),
        }
        let currency = self.currency.trim().to_ascii_uppercase();
        if ISO_4217.contains(&currency.as_str()) {
            self.currency = currency;
        } else {
            errors.push(FieldError::new(
                "currency",
                "must be an ISO 4217 currency code, like EUR",
            ));
        }
        self.timezone = self.timezone.trim().to_owned();
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }
}

/// A well-formed BCP 47 tag (RFC 5646 `langtag` syntax: language, optional
/// script, region, variants, extensions, private use), in its canonical case;
/// `None` when malformed.
pub fn normalize_language_tag(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 35 {
        return None;
    }
    let subtags: Vec<&str> = raw.split('-').collect();
    if subtags
        .iter()
        .any(|s| s.is_empty() || s.len() > 8 || !s.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return None;
    }
    let alpha = |s: &str| s.chars().all(|c| c.is_ascii_alphabetic());
    let digit = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let language = subtags[0];
    if !(alpha(language) && (2..=3).contains(&language.len())) {
        return None;
    }
    let mut out = vec![language.to_ascii_lowercase()];
    let mut i = 1;
    let mut stage = 0; // 0 extlang/script, 1 region, 2 variants, 3 extensions
    while i < subtags.len() {
        let s = subtags[i];
        if s.len() == 1 {
            // An extension or private use: a singleton and at least one
            // subtag of 2-8 (1-8 for private use) characters after it.
            let rest = &subtags[i + 1..];
            let min = if s.eq_ignore_ascii_case("x") { 1 } else { 2 };
            if rest.is_empty() || rest[0].len() < min {
                return None;
            }
            out.extend(subtags[i..].iter().map(|s| s.to_ascii_lowercase()));
            break;
        }
        if stage == 0 && s.len() == 4 && alpha(s) {
            let mut script = s.to_ascii_lowercase();
            script[..1].make_ascii_uppercase();
            out.push(script);
            stage = 1;
        } else if stage <= 1 && ((s.len() == 2 && alpha(s)) || (s.len() == 3 && digit(s))) {
            out.push(s.to_ascii_uppercase());
            stage = 2;
        } else if (s.len() >= 5) || (s.len() == 4 && s.starts_with(|c: char| c.is_ascii_digit())) {
            out.push(s.to_ascii_lowercase());
            stage = 2;
        } else {
            return None;
        }
        i += 1;
    }
    Some(out.join("-"))
}

/// Current ISO 4217 alphabetic codes (active currencies and the common
/// supranational units).
pub const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// Body of `PUT /users/{id}/roles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoles {
    /// The complete new set: `customer`, `admin`.
    pub roles: Vec<String>,
}

/// Roles a user can hold.
pub const USER_ROLES: &[&str] = &[
    service_kit::auth::ROLE_CUSTOMER,
    service_kit::auth::ROLE_ADMIN,
];

impl SetRoles {
    /// Known roles, deduplicated, sorted, at least one.
    pub fn parse(self) -> Result<Vec<String>, FieldError> {
        let mut roles = self.roles;
        roles.sort();
        roles.dedup();
        if roles.is_empty() || roles.iter().any(|r| !USER_ROLES.contains(&r.as_str())) {
            return Err(FieldError::new(
                "roles",
                "must be a non-empty list of: customer, admin",
            ));
        }
        Ok(roles)
    }
}

/// Query of the admin listing.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Only users whose e-mail contains this text (case-insensitive).
    pub email: Option<String>,
    /// Page size, 1-100 (default 20).
    pub limit: Option<u32>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Keyset position of the oldest-first admin listing.
#[derive(Debug, Serialize, Deserialize)]
pub struct UserCursor {
    /// `created_at` of the last user of the previous page.
    pub created_at: CursorTime,
    /// Its id, breaking ties.
    pub id: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "a b@example.com",
            "a@example",
            "a@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let at_most = format!("{}@{}.example.com", "a".repeat(60), "b".repeat(181));
        assert_eq!(at_most.len(), 254);
        assert!(Email::parse(&at_most).is_ok());
        assert!(Email::parse(&format!("a{at_most}")).is_err());
        let huge = format!("{}@example.com", "a".repeat(1 << 20));
        assert_eq!(Email::parse(&huge).unwrap_err().field, "email");
    }

    #[test]
    fn passwords_must_have_12_to_128_characters() {
        assert!(Password::parse(SecretString::from("short"), "password").is_err());
        assert!(Password::parse(SecretString::from("x".repeat(12)), "password").is_ok());
        assert!(Password::parse(SecretString::from("é".repeat(128)), "password").is_ok());
        assert!(Password::parse(SecretString::from("x".repeat(129)), "password").is_err());
    }

    #[test]
    fn language_tags_follow_bcp_47() {
        for (raw, tag) in [
            ("en", "en"),
            ("pt-br", "pt-BR"),
            ("zh-hant-tw", "zh-Hant-TW"),
            ("es-419", "es-419"),
            ("de-CH-1996", "de-CH-1996"),
            ("en-US-x-twain", "en-US-x-twain"),
        ] {
            assert_eq!(normalize_language_tag(raw).as_deref(), Some(tag), "{raw}");
        }
        for bad in ["", "e", "english-language", "en--US", "en_US", "12", "en-x"] {
            assert!(normalize_language_tag(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn phones_are_e164() {
        assert_eq!(parse_phone("+49 151 2345-6789").unwrap(), "+4915123456789");
        assert!(parse_phone("0151 23456789").is_err());
        assert!(parse_phone("+12").is_err());
    }

    #[test]
    fn roles_are_known_and_deduplicated() {
        let roles = SetRoles {
            roles: vec!["admin".into(), "customer".into(), "admin".into()],
        };
        assert_eq!(roles.parse().unwrap(), vec!["admin", "customer"]);
        assert!(SetRoles { roles: vec![] }.parse().is_err());
        assert!(
            SetRoles {
                roles: vec!["root".into()]
            }
            .parse()
            .is_err()
        );
    }
}
