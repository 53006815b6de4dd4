//! The message templates: a subject, a plain-text body, an HTML body and a
//! short text (SMS and push) per template, rendered by `minijinja` from the
//! event's `data`. The HTML templates (`.html`) are auto-escaped, so a
//! product name containing markup is shown, never interpreted; the others
//! are plain text. Every template is compiled, and rendered once with sample
//! data, when the service starts: a broken template stops start-up.
//!
//! The data each template needs is declared here ([`TemplateName::required`])
//! and checked at intake, so a missing field is a 422 for the producer, not
//! a failed send later.
//!
//! Text a person typed (a name: [`FieldKind::UserText`]) could carry a
//! phishing line ("your account is locked, go to https://..."), and an
//! account can be registered with anybody's address. So it never enters a
//! subject (nor a push title): subjects are rendered from the declared
//! fields that are not typed by a person only, so a subject template that
//! names one fails to start. In every body (text, HTML, SMS, push) it is
//! collapsed to one line and cut to [`MAX_USER_TEXT_CHARS`] characters, and
//! escaped in HTML.

use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use service_kit::FieldError;
use utoipa::ToSchema;

/// The templates this service knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateName {
    /// A new account (user-service): `{full_name}`.
    Welcome,
    /// A password reset code (user-service), transactional security mail:
    /// `{token, expires_at, full_name}`; it links to the storefront's reset
    /// page (the global `storefront_url`).
    PasswordReset,
    /// An order was placed and paid (order-service):
    /// `{order_id, total_cents, currency, items:[{name, quantity, unit_price_cents, line_total_cents}]}`.
    OrderConfirmed,
    /// An order was cancelled (order-service): `{order_id, refund_cents, currency}`.
    OrderCancelled,
    /// A payment was declined (order-service): `{order_id, total_cents, currency}`.
    PaymentFailed,
}

/// The shape a required data field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A string the producer made (an id, a token, a date).
    Text,
    /// A string a person typed (a name): never in a subject; one line of at
    /// most [`MAX_USER_TEXT_CHARS`] characters in bodies.
    UserText,
    /// A string of three upper-case letters (ISO 4217).
    Currency,
    /// A string, or `null`.
    OptionalText,
    /// An integer (minor units, quantities).
    Integer,
    /// The order lines: a non-empty array of
    /// `{name, quantity, unit_price_cents, line_total_cents}`.
    Items,
}

impl FieldKind {
    /// Whether a field of this kind may appear in a subject (the email
    /// subject and the push title): not text typed by a person, nor the
    /// order lines (product names).
    fn may_enter_subject(self) -> bool {
        matches!(self, Self::Text | Self::Integer | Self::Currency)
    }
}

/// The longest a user's text (a name) is in a message body, in characters;
/// longer text is cut and ends with `…`.
pub const MAX_USER_TEXT_CHARS: usize = 100;

/// Fields of each order line.
const ITEM_FIELDS: &[(&str, FieldKind)] = &[
    ("name", FieldKind::Text),
    ("quantity", FieldKind::Integer),
    ("unit_price_cents", FieldKind::Integer),
    ("line_total_cents", FieldKind::Integer),
];

impl TemplateName {
    /// Every template.
    pub const ALL: [TemplateName; 5] = [
        Self::Welcome,
        Self::PasswordReset,
        Self::OrderConfirmed,
        Self::OrderCancelled,
        Self::PaymentFailed,
    ];

    /// Its name in requests and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Welcome => "welcome",
            Self::PasswordReset => "password_reset",
            Self::OrderConfirmed => "order_confirmed",
            Self::OrderCancelled => "order_cancelled",
            Self::PaymentFailed => "payment_failed",
        }
    }

    /// Parses a template name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The data fields the template needs (extra fields are allowed).
    pub fn required(self) -> &'static [(&'static str, FieldKind)] {
        match self {
            Self::Welcome => &[("full_name", FieldKind::UserText)],
            Self::PasswordReset => &[
                ("token", FieldKind::Text),
                ("expires_at", FieldKind::Text),
                ("full_name", FieldKind::UserText),
            ],
            Self::OrderConfirmed => &[
                ("order_id", FieldKind::Text),
                ("total_cents", FieldKind::Integer),
                ("currency", FieldKind::Currency),
                ("items", FieldKind::Items),
            ],
            Self::OrderCancelled => &[
                ("order_id", FieldKind::Text),
                ("refund_cents", FieldKind::Integer),
                ("currency", FieldKind::Currency),
            ],
            Self::PaymentFailed => &[
                ("order_id", FieldKind::Text),
                ("total_cents", FieldKind::Integer),
                ("currency", FieldKind::Currency),
            ],
        }
    }

    /// Fields the template shows when they are present, checked then:
    /// the breakdown of what an order was charged (order-service sends it
    /// since shipping, tax and discount codes; events queued before still
    /// render, without it).
    pub fn optional(self) -> &'static [(&'static str, FieldKind)] {
        const BREAKDOWN: &[(&str, FieldKind)] = &[
            ("subtotal_cents", FieldKind::Integer),
            ("discount_cents", FieldKind::Integer),
            ("shipping_cents", FieldKind::Integer),
            ("tax_cents", FieldKind::Integer),
            ("total_cents", FieldKind::Integer),
            ("discount_code", FieldKind::OptionalText),
            ("shipping_method", FieldKind::OptionalText),
        ];
        match self {
            Self::OrderConfirmed | Self::OrderCancelled => BREAKDOWN,
            _ => &[],
        }
    }

    /// Transactional security mail: sent by email only, whatever the
    /// preferences, and its data is never logged or listed.
    pub fn is_security(self) -> bool {
        self == Self::PasswordReset
    }

    /// Marketing messages are sent only to users who opted in. None of the
    /// current templates is marketing; a future newsletter would be.
    pub fn is_marketing(self) -> bool {
        false
    }

    /// Data that renders every part of the template (the start-up check).
    fn sample(self) -> Value {
        match self {
            Self::Welcome => json!({"full_name": "Ada Lovelace"}),
            Self::PasswordReset => json!({
                "token": "sample-token", "expires_at": "2026-01-01T00:30:00Z", "full_name": "Ada Lovelace"
            }),
            Self::OrderConfirmed => json!({
                "order_id": "0190a3c8-0000-7000-8000-000000000000", "total_cents": 3454, "currency": "EUR",
                "items": [{"name": "Lamp", "quantity": 2, "unit_price_cents": 1499, "line_total_cents": 2998}],
                "subtotal_cents": 2998, "discount_cents": 300, "shipping_cents": 495, "tax_cents": 261,
                "discount_code": "WELCOME10", "shipping_method": "Standard"
            }),
            Self::OrderCancelled => json!({
                "order_id": "0190a3c8-0000-7000-8000-000000000000", "refund_cents": 3454, "currency": "EUR",
                "subtotal_cents": 2998, "discount_cents": 300, "shipping_cents": 495, "tax_cents": 261,
                "total_cents": 3454, "discount_code": "WELCOME10", "shipping_method": "Standard"
            }),
            Self::PaymentFailed => json!({
                "order_id": "0190a3c8-0000-7000-8000-000000000000", "total_cents": 2998, "currency": "EUR"
            }),
        }
    }
}

/// Checks that `data` has every field `template` needs, with the right
/// shape; the errors name the fields (`data.items[0].name`).
pub fn check_data(template: TemplateName, data: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(object) = data.as_object() else {
        errors.push(FieldError::new("data", "must be an object"));
        return errors;
    };
    for (field, kind) in template.required() {
        check_field(
            &format!("data.{field}"),
            object.get(*field),
            *kind,
            &mut errors,
        );
    }
    // A field both required and optional (`total_cents` of an order
    // confirmation) was checked above.
    let required = template.required();
    for (field, kind) in template.optional() {
        if required.iter().any(|(r, _)| r == field) {
            continue;
        }
        let value = object.get(*field);
        if value.is_some_and(|v| !v.is_null() || *kind == FieldKind::OptionalText) {
            check_field(&format!("data.{field}"), value, *kind, &mut errors);
        }
    }
    errors
}

fn check_field(path: &str, value: Option<&Value>, kind: FieldKind, errors: &mut Vec<FieldError>) {
    if kind == FieldKind::OptionalText && value.is_some_and(Value::is_null) {
        return;
    }
    let Some(value) = value.filter(|v| !v.is_null()) else {
        errors.push(FieldError::new(path, "is required"));
        return;
    };
    match kind {
        FieldKind::Text | FieldKind::UserText if !value.is_string() => {
            errors.push(FieldError::new(path, "must be a string"));
        }
        FieldKind::OptionalText if !value.is_string() => {
            errors.push(FieldError::new(path, "must be a string or null"));
        }
        FieldKind::Integer if !(value.is_i64() || value.is_u64()) => {
            errors.push(FieldError::new(path, "must be an integer"));
        }
        FieldKind::Integer if value.as_i64().is_none() => {
            errors.push(FieldError::new(path, "is out of range"));
        }
        FieldKind::Currency
            if !value
                .as_str()
                .is_some_and(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())) =>
        {
            errors.push(FieldError::new(
                path,
                "must be an ISO 4217 code (three upper-case letters)",
            ));
        }
        FieldKind::Items => match value.as_array() {
            None => errors.push(FieldError::new(path, "must be an array")),
            Some(items) if items.is_empty() => {
                errors.push(FieldError::new(path, "must list at least one item"));
            }
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    let Some(item) = item.as_object() else {
                        errors.push(FieldError::new(item_path, "must be an object"));
                        continue;
                    };
                    for (field, kind) in ITEM_FIELDS {
                        check_field(
                            &format!("{item_path}.{field}"),
                            item.get(*field),
                            *kind,
                            errors,
                        );
                    }
                }
            }
        },
        _ => {}
    }
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One line: the email subject and the push title.
    pub subject: String,
    /// The plain-text email body.
    pub text: String,
    /// The HTML email body (escaped).
    pub html: String,
    /// A short text for SMS and push bodies.
    pub short: String,
}

/// The parts of a template, by file name.
const PARTS: [&str; 4] = ["subject.txt", "body.txt", "body.html", "short.txt"];

/// The template sources compiled into the binary.
fn embedded_sources() -> Vec<(String, &'static str)> {
    macro_rules! template {
        ($name:literal) => {
            [
                (
                    concat!($name, "/subject.txt"),
                    include_str!(concat!("../templates/", $name, "/subject.txt")),
                ),
                (
                    concat!($name, "/body.txt"),
                    include_str!(concat!("../templates/", $name, "/body.txt")),
                ),
                (
                    concat!($name, "/body.html"),
                    include_str!(concat!("../templates/", $name, "/body.html")),
                ),
                (
                    concat!($name, "/short.txt"),
                    include_str!(concat!("../templates/", $name, "/short.txt")),
                ),
            ]
        };
    }
    [
        template!("welcome"),
        template!("password_reset"),
        template!("order_confirmed"),
        template!("order_cancelled"),
        template!("payment_failed"),
    ]
    .into_iter()
    .flatten()
    .map(|(name, source)| (name.to_owned(), source))
    .collect()
}

/// The compiled templates.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles the embedded templates and renders each with sample data:
    /// any error (syntax, unknown variable or filter) fails start-up.
    /// `storefront_url` (the storefront's public base URL) is the global
    /// `storefront_url` of every template, without a trailing slash.
    pub fn load(storefront_url: &str) -> anyhow::Result<Self> {
        Self::compile(embedded_sources(), storefront_url)
    }

    /// Compiles `sources` (`<template>/<part>` -> source) and checks that
    /// every part of every template exists and renders its sample data.
    pub fn compile(
        sources: Vec<(String, &'static str)>,
        storefront_url: &str,
    ) -> anyhow::Result<Self> {
        let storefront_url = storefront_url.trim().trim_end_matches('/');
        let is_http = |url: &str| {
            url.strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace))
        };
        if !is_http(storefront_url) {
            anyhow::bail!(
                "links.storefront_url (APP__LINKS__STOREFRONT_URL) must be an http(s) URL, not `{storefront_url}`"
            );
        }
        let mut env = Environment::new();
        env.add_global("storefront_url", storefront_url.to_owned());
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(false);
        env.add_filter("money", money_filter);
        for (name, source) in sources {
            env.add_template_owned(name.clone(), source)
                .map_err(|err| anyhow::anyhow!("template {name} does not compile: {err:#}"))?;
        }
        let templates = Self { env };
        for template in TemplateName::ALL {
            templates
                .render(template, &template.sample())
                .map_err(|err| {
                    anyhow::anyhow!(
                        "template {} does not render its sample data: {err}",
                        template.as_str()
                    )
                })?;
        }
        Ok(templates)
    }

    /// Renders every part of `template` with `data` (checked by
    /// [`check_data`] first): the subject from the fields that may enter
    /// it only, the bodies with the user's text bounded.
    pub fn render(&self, template: TemplateName, data: &Value) -> Result<Rendered, String> {
        let subject_data = subject_context(template, data);
        let body_data = bounded(template, data);
        let part = |part: &str, data: &Value| -> Result<String, String> {
            let name = format!("{}/{part}", template.as_str());
            self.env
                .get_template(&name)
                .and_then(|t| t.render(data))
                .map_err(|err| format!("{name}: {err}"))
        };
        let [subject, text, html, short] = PARTS;
        Ok(Rendered {
            subject: one_line(&part(subject, &subject_data)?),
            text: part(text, &body_data)?.trim().to_owned() + "\n",
            html: part(html, &body_data)?.trim().to_owned() + "\n",
            short: one_line(&part(short, &body_data)?),
        })
    }
}

/// The data a subject is rendered from: the declared fields that may
/// enter one ([`FieldKind::may_enter_subject`]), nothing else.
fn subject_context(template: TemplateName, data: &Value) -> Value {
    let fields = template
        .required()
        .iter()
        .filter(|(_, kind)| kind.may_enter_subject())
        .filter_map(|(field, _)| Some(((*field).to_owned(), data.get(*field)?.clone())))
        .collect();
    Value::Object(fields)
}

/// `data` with each field a person typed bounded by [`bound_user_text`].
fn bounded(template: TemplateName, data: &Value) -> Value {
    let mut data = data.clone();
    if let Some(object) = data.as_object_mut() {
        for (field, kind) in template.required() {
            if *kind == FieldKind::UserText
                && let Some(Value::String(text)) = object.get_mut(*field)
            {
                *text = bound_user_text(text);
            }
        }
    }
    data
}

/// A person's text as it may appear in a body: whitespace runs (newlines
/// included) collapsed to one space, at most [`MAX_USER_TEXT_CHARS`]
/// characters, `…` where it was cut.
pub fn bound_user_text(text: &str) -> String {
    let mut words = text.split_whitespace();
    let mut bounded = String::new();
    let mut chars = 0;
    let mut cut = false;
    'words: for (i, word) in words.by_ref().enumerate() {
        for c in (i > 0).then_some(' ').into_iter().chain(word.chars()) {
            if chars == MAX_USER_TEXT_CHARS {
                cut = true;
                break 'words;
            }
            bounded.push(c);
            chars += 1;
        }
    }
    if cut {
        bounded.truncate(bounded.trim_end().len());
        bounded.push('…');
    }
    bounded
}

/// Collapses whitespace runs, newlines included: a subject is one line
/// (no header injection through the data).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn money_filter(cents: i64, currency: &str) -> String {
    format_money(cents, currency)
}

/// Digits after the decimal point of `currency` (ISO 4217 minor units):
/// 0 for JPY, KRW and the like, 3 for the dinars, 2 otherwise.
pub fn minor_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Renders integer minor units: 1999 EUR is "19.99 EUR", 500 JPY "500 JPY".
pub fn format_money(minor: i64, currency: &str) -> String {
    let digits = minor_digits(currency);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if digits == 0 {
        return format!("{sign}{abs} {currency}");
    }
    let scale = 10u64.pow(digits);
    format!(
        "{sign}{}.{:0width$} {currency}",
        abs / scale,
        abs % scale,
        width = digits as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: &str = "http://127.0.0.1:8080";

    #[test]
    fn the_reset_mail_links_to_the_configured_storefront() {
        let templates = Templates::load("https://shop.example.com/").unwrap();
        let data =
            json!({"token": "a+b/c d", "expires_at": "2026-01-01T00:30:00Z", "full_name": "Ada"});
        let rendered = templates
            .render(TemplateName::PasswordReset, &data)
            .unwrap();
        let link = "https://shop.example.com/reset-password?token=a%2Bb/c%20d";
        assert!(rendered.text.contains(link), "{}", rendered.text);
        // HTML-escaped like every value (`/` is `&#x2f;`), which a mail
        // client decodes back to the same link.
        assert!(
            rendered.html.contains(
                r#"href="https:&#x2f;&#x2f;shop.example.com/reset-password?token=a%2Bb&#x2f;c%20d""#
            ),
            "{}",
            rendered.html
        );
        assert!(rendered.text.contains("a+b/c d"), "the code is shown too");
    }

    #[test]
    fn a_storefront_url_that_is_not_http_stops_start_up() {
        for bad in [
            "",
            "shop.example.com",
            "ftp://shop.example.com",
            "https://",
            "http://a b",
        ] {
            assert!(Templates::load(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Templates::load("http://localhost:5173").is_ok());
    }

    #[test]
    fn money_uses_the_currencys_minor_units() {
        assert_eq!(format_money(1999, "EUR"), "19.99 EUR");
        assert_eq!(format_money(5, "USD"), "0.05 USD");
        assert_eq!(format_money(-250, "EUR"), "-2.50 EUR");
        assert_eq!(format_money(500, "JPY"), "500 JPY");
        assert_eq!(format_money(1234, "KWD"), "1.234 KWD");
    }

    #[test]
    fn the_embedded_templates_load() {
        let templates = Templates::load(LOCAL).unwrap();
        let rendered = templates
            .render(
                TemplateName::OrderConfirmed,
                &TemplateName::OrderConfirmed.sample(),
            )
            .unwrap();
        assert!(rendered.text.contains("2 x Lamp @ 14.99 EUR = 29.98 EUR"));
        assert!(rendered.html.contains("29.98 EUR"));
        assert!(rendered.short.contains("34.54 EUR"));
    }

    #[test]
    fn order_mails_show_the_breakdown_when_it_is_sent() {
        let templates = Templates::load(LOCAL).unwrap();
        let rendered = templates
            .render(
                TemplateName::OrderConfirmed,
                &TemplateName::OrderConfirmed.sample(),
            )
            .unwrap();
        for line in [
            "Subtotal: 29.98 EUR",
            "Discount (WELCOME10): -3.00 EUR",
            "Shipping (Standard): 4.95 EUR",
            "Tax: 2.61 EUR",
            "Total: 34.54 EUR",
        ] {
            assert!(rendered.text.contains(line), "{line} in {}", rendered.text);
            let (label, amount) = line.split_once(": ").unwrap();
            assert!(
                rendered.html.contains(label) && rendered.html.contains(amount),
                "{line} in {}",
                rendered.html
            );
        }
        let cancelled = templates
            .render(
                TemplateName::OrderCancelled,
                &TemplateName::OrderCancelled.sample(),
            )
            .unwrap();
        assert!(
            cancelled.text.contains("Shipping (Standard): 4.95 EUR"),
            "{}",
            cancelled.text
        );
        assert!(
            cancelled.text.contains("34.54 EUR will be refunded"),
            "{}",
            cancelled.text
        );
    }

    #[test]
    fn order_mails_without_a_breakdown_still_render() {
        let templates = Templates::load(LOCAL).unwrap();
        let old = json!({"order_id": "o-1", "total_cents": 2998, "currency": "EUR",
                         "items": [{"name": "Lamp", "quantity": 2, "unit_price_cents": 1499, "line_total_cents": 2998}]});
        assert!(check_data(TemplateName::OrderConfirmed, &old).is_empty());
        let rendered = templates
            .render(TemplateName::OrderConfirmed, &old)
            .unwrap();
        assert!(rendered.text.contains("Total: 29.98 EUR"));
        assert!(!rendered.text.contains("Subtotal"), "{}", rendered.text);
        let free = json!({"order_id": "o-2", "refund_cents": 100, "currency": "EUR",
                          "subtotal_cents": 100, "discount_cents": 0, "shipping_cents": 0,
                          "tax_cents": 0, "total_cents": 100, "discount_code": null, "shipping_method": null});
        assert!(check_data(TemplateName::OrderCancelled, &free).is_empty());
        let rendered = templates
            .render(TemplateName::OrderCancelled, &free)
            .unwrap();
        assert!(!rendered.text.contains("Discount"), "{}", rendered.text);
        assert!(
            rendered.text.contains("Shipping: 0.00 EUR"),
            "{}",
            rendered.text
        );
    }

    #[test]
    fn a_mistyped_breakdown_is_named() {
        let errors = check_data(
            TemplateName::OrderCancelled,
            &json!({"order_id": "o", "refund_cents": 1, "currency": "EUR",
                    "tax_cents": "1", "shipping_method": 5}),
        );
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["data.tax_cents", "data.shipping_method"]);
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let templates = Templates::load(LOCAL).unwrap();
        let data = json!({"full_name": "<b>Eve</b> & \"Co\"\r\nBcc: x@evil.test"});
        let rendered = templates.render(TemplateName::Welcome, &data).unwrap();
        assert!(
            rendered
                .html
                .contains("&lt;b&gt;Eve&lt;&#x2f;b&gt; &amp; &quot;Co&quot;")
        );
        assert!(!rendered.html.contains("<b>"));
        assert!(rendered.text.contains("<b>Eve</b> & \"Co\""));
        assert!(!rendered.subject.contains('\n') && !rendered.subject.contains('\r'));
    }

    #[test]
    fn user_text_is_one_bounded_line() {
        assert_eq!(bound_user_text("  Ada \r\n  Lovelace "), "Ada Lovelace");
        let long = "x".repeat(10 * 1024);
        let bounded = bound_user_text(&long);
        assert_eq!(bounded.chars().count(), MAX_USER_TEXT_CHARS + 1);
        assert!(bounded.ends_with('…'));
        let exact = "é".repeat(MAX_USER_TEXT_CHARS);
        assert_eq!(bound_user_text(&exact), exact);
        let words = format!("{} tail", "w".repeat(MAX_USER_TEXT_CHARS - 1));
        assert_eq!(
            bound_user_text(&words),
            format!("{}…", "w".repeat(MAX_USER_TEXT_CHARS - 1))
        );
    }

    #[test]
    fn user_text_never_reaches_a_subject() {
        let templates = Templates::load(LOCAL).unwrap();
        let name = "Visit https://evil.example/login <b>now</b>";
        for template in [TemplateName::Welcome, TemplateName::PasswordReset] {
            let mut data = template.sample();
            data["full_name"] = json!(name);
            let rendered = templates.render(template, &data).unwrap();
            assert!(!rendered.subject.contains("evil"), "{}", rendered.subject);
            assert!(rendered.text.contains("https://evil.example/login"));
        }
        // A subject template that names user text does not even load.
        let mut sources = embedded_sources();
        let subject = sources
            .iter_mut()
            .find(|(name, _)| name == "welcome/subject.txt")
            .unwrap();
        subject.1 = "Welcome to Shop, {{ full_name }}";
        let err = Templates::compile(sources, LOCAL).unwrap_err().to_string();
        assert!(err.contains("welcome"), "{err}");
    }

    #[test]
    fn a_broken_template_fails_to_load() {
        let mut sources = embedded_sources();
        sources[0].1 = "Welcome {{ full_name ";
        assert!(Templates::compile(sources, LOCAL).is_err());
        let mut sources = embedded_sources();
        sources[1].1 = "Hello {{ no_such_variable }}";
        assert!(Templates::compile(sources, LOCAL).is_err());
        let mut sources = embedded_sources();
        sources.retain(|(name, _)| name != "payment_failed/body.html");
        assert!(Templates::compile(sources, LOCAL).is_err());
    }

    #[test]
    fn missing_and_mistyped_data_is_named() {
        let errors = check_data(
            TemplateName::OrderConfirmed,
            &json!({"order_id": "o", "total_cents": "12", "currency": "eur",
                    "items": [{"name": "x", "quantity": 1, "unit_price_cents": 1}]}),
        );
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "data.total_cents",
                "data.currency",
                "data.items[0].line_total_cents"
            ]
        );
        assert!(
            check_data(
                TemplateName::Welcome,
                &json!({"full_name": "A", "extra": 1})
            )
            .is_empty()
        );
    }
}
