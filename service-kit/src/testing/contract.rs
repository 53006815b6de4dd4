//! Consumer-driven contract checks against a provider's OpenAPI document,
//! as pinned inside the consumer (`contracts/<provider>.openapi.json`, a copy
//! of the provider's committed `openapi.json`, which the provider's own ops
//! suite keeps current). A consumer never reads a sibling folder, so it can
//! leave the monorepo with its pins.
//!
//! A consumer describes what it really sends and reads with the same Rust
//! types its client uses (deriving `utoipa::ToSchema`), and asserts them
//! against the provider's document:
//!
//! ```ignore
//! let catalog = Provider::load("contracts/catalog-service.openapi.json");
//! catalog.assert_request::<ReserveRequest>("POST", "/internal/v1/reservations");
//! catalog.assert_response::<ReserveResponse>("POST", "/internal/v1/reservations", 201);
//! ```
//!
//! A request is compatible when every field the consumer sends exists in
//! the provider's schema with a type it accepts, and every field the
//! provider requires is always sent. A response is compatible when every
//! field the consumer reads exists with a type it can parse, and every field
//! the consumer cannot do without is required by the provider. Renaming,
//! retyping or dropping a field the consumer uses, or making one optional,
//! fails the consumer's test.

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::Path;
use utoipa::ToSchema;

/// A provider's committed OpenAPI document.
pub struct Provider {
    name: String,
    doc: Value,
}

/// One side of a comparison: a schema and the document its `$ref`s point into.
#[derive(Clone, Copy)]
struct Side<'a> {
    schema: &'a Value,
    doc: &'a Value,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// The consumer sends, the provider reads.
    Request,
    /// The provider sends, the consumer reads.
    Response,
}

impl Provider {
    /// Loads `path`; a relative path is relative to the consumer's manifest
    /// directory (`CARGO_MANIFEST_DIR`), e.g. `contracts/catalog-service.openapi.json`.
    pub fn load(path: impl AsRef<Path>) -> Self {
        let path = match std::env::var_os("CARGO_MANIFEST_DIR") {
            Some(dir) if path.as_ref().is_relative() => Path::new(&dir).join(path.as_ref()),
            _ => path.as_ref().to_owned(),
        };
        let path = path.as_path();
        let text = std::fs::read_to_string(path).unwrap_or_else(|err| {
            panic!("reading the provider document {}: {err}", path.display())
        });
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()));
        let name = doc["info"]["title"]
            .as_str()
            .unwrap_or("provider")
            .to_owned();
        Self { name, doc }
    }

    fn operation(&self, method: &str, path: &str) -> &Value {
        let operation = &self.doc["paths"][path][method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{} documents no `{method} {path}`; it documents: {}",
            self.name,
            self.doc["paths"]
                .as_object()
                .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        );
        operation
    }

    /// Asserts the operation exists (for calls without a body the consumer reads).
    pub fn assert_operation(&self, method: &str, path: &str) {
        self.operation(method, path);
    }

    /// Asserts the operation answers `status` (documented).
    pub fn assert_status(&self, method: &str, path: &str, status: u16) {
        let responses = &self.operation(method, path)["responses"];
        assert!(
            responses[status.to_string()].is_object(),
            "{} documents no {status} answer for `{method} {path}`",
            self.name
        );
    }

    /// Asserts the JSON body the consumer sends (type `T`) is accepted.
    pub fn assert_request<T: ToSchema>(&self, method: &str, path: &str) {
        let body =
            &self.operation(method, path)["requestBody"]["content"]["application/json"]["schema"];
        assert!(
            body.is_object(),
            "{} documents no JSON request body for `{method} {path}`",
            self.name
        );
        let consumer = consumer_document::<T>();
        let mut errors = Vec::new();
        compare(
            Side {
                schema: &consumer["root"],
                doc: &consumer,
            },
            Side {
                schema: body,
                doc: &self.doc,
            },
            Direction::Request,
            "body",
            &mut errors,
        );
        self.report(method, path, "request", errors);
    }

    /// Asserts the JSON body answered with `status` can be read as `T`.
    pub fn assert_response<T: ToSchema>(&self, method: &str, path: &str, status: u16) {
        let response = &self.operation(method, path)["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{} documents no {status} answer for `{method} {path}`",
            self.name
        );
        let content = &response["content"];
        let body = content["application/json"]["schema"]
            .as_object()
            .or_else(|| content["application/problem+json"]["schema"].as_object())
            .map(|o| Value::Object(o.clone()))
            .unwrap_or_else(|| {
                panic!(
                    "{} documents no JSON body for {status} of `{method} {path}`",
                    self.name
                )
            });
        let consumer = consumer_document::<T>();
        let mut errors = Vec::new();
        compare(
            Side {
                schema: &consumer["root"],
                doc: &consumer,
            },
            Side {
                schema: &body,
                doc: &self.doc,
            },
            Direction::Response,
            "body",
            &mut errors,
        );
        self.report(method, path, &format!("{status} response"), errors);
    }

    /// Checks a request body a fake provider received against the document:
    /// the errors (empty when it conforms). For HTTP fakes that stand in for
    /// the provider in a consumer's tests.
    pub fn validate_request(&self, method: &str, path: &str, body: &Value) -> Vec<String> {
        let schema =
            &self.operation(method, path)["requestBody"]["content"]["application/json"]["schema"];
        let mut errors = Vec::new();
        if schema.is_object() {
            validate(
                Side {
                    schema,
                    doc: &self.doc,
                },
                body,
                "body",
                &mut errors,
            );
        } else {
            errors.push(format!(
                "{} documents no JSON request body for `{method} {path}`",
                self.name
            ));
        }
        errors
    }

    /// Checks an answer a fake provider gives (status and JSON body, `Null`
    /// for none) against the document: the errors (empty when it conforms).
    /// `path` is the documented template, e.g. `/internal/v1/reservations/{id}/commit`.
    pub fn validate_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Vec<String> {
        let response = &self.operation(method, path)["responses"][status.to_string()];
        if !response.is_object() {
            return vec![format!(
                "{} documents no {status} answer for `{method} {path}`",
                self.name
            )];
        }
        let content = &response["content"];
        let schema = content["application/json"]["schema"]
            .as_object()
            .or_else(|| content["application/problem+json"]["schema"].as_object());
        let mut errors = Vec::new();
        match schema {
            Some(schema) if !body.is_null() => validate(
                Side {
                    schema: &Value::Object(schema.clone()),
                    doc: &self.doc,
                },
                body,
                "body",
                &mut errors,
            ),
            Some(_) => errors.push(format!(
                "{status} of `{method} {path}` has a documented body, the answer none"
            )),
            None if !body.is_null() => errors.push(format!(
                "{status} of `{method} {path}` documents no body, the answer has one"
            )),
            None => {}
        }
        errors
    }

    fn report(&self, method: &str, path: &str, what: &str, errors: Vec<String>) {
        assert!(
            errors.is_empty(),
            "the {what} of `{method} {path}` no longer matches {}'s document:\n  - {}",
            self.name,
            errors.join("\n  - ")
        );
    }
}

/// `T`'s schema as a small document: `root` plus `components.schemas`, so
/// its `$ref`s resolve like the provider's.
fn consumer_document<T: ToSchema>() -> Value {
    let mut schemas = Vec::new();
    T::schemas(&mut schemas);
    let components: Map<String, Value> = schemas
        .into_iter()
        .map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or_default()))
        .collect();
    serde_json::json!({
        "root": serde_json::to_value(T::schema()).unwrap_or_default(),
        "components": {"schemas": components},
    })
}

/// Follows `$ref`s (local `#/components/schemas/...` only).
fn resolve<'a>(side: Side<'a>) -> Side<'a> {
    let mut schema = side.schema;
    for _ in 0..32 {
        let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let name = reference.rsplit('/').next().unwrap_or_default();
        schema = &side.doc["components"]["schemas"][name];
    }
    Side {
        schema,
        doc: side.doc,
    }
}

/// The schema without its `null` alternative, and whether it had one.
fn unwrap_nullable<'a>(side: Side<'a>) -> (Side<'a>, bool) {
    let side = resolve(side);
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = side.schema.get(key).and_then(Value::as_array) {
            let is_null = |s: &Value| s.get("type").and_then(Value::as_str) == Some("null");
            let non_null: Vec<&Value> = options.iter().filter(|s| !is_null(s)).collect();
            if non_null.len() == 1 && non_null.len() < options.len() {
                let inner = resolve(Side {
                    schema: non_null[0],
                    doc: side.doc,
                });
                return (inner, true);
            }
        }
    }
    let nullable = types(side.schema).contains("null")
        || side.schema.get("nullable").and_then(Value::as_bool) == Some(true);
    (side, nullable)
}

fn types(schema: &Value) -> BTreeSet<String> {
    match schema.get("type") {
        Some(Value::String(t)) => [t.clone()].into(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// Whether every value of type `from` is a value of one of `into`.
fn accepts(into: &BTreeSet<String>, from: &str) -> bool {
    into.contains(from) || (from == "integer" && into.contains("number"))
}

fn required(schema: &Value) -> BTreeSet<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn compare(
    consumer: Side,
    provider: Side,
    direction: Direction,
    at: &str,
    errors: &mut Vec<String>,
) {
    let (consumer, _) = unwrap_nullable(consumer);
    let (provider, provider_nullable) = unwrap_nullable(provider);
    if direction == Direction::Response && provider_nullable {
        let (_, consumer_nullable) = unwrap_nullable(consumer);
        let consumer_any = types(consumer.schema).is_empty();
        if !consumer_nullable && !consumer_any && at != "body" {
            errors.push(format!(
                "`{at}` may be null in the provider's answer, the consumer cannot read null"
            ));
        }
    }
    let (ct, pt) = (types(consumer.schema), types(provider.schema));
    let (ct, pt): (BTreeSet<String>, BTreeSet<String>) = (
        ct.into_iter().filter(|t| t != "null").collect(),
        pt.into_iter().filter(|t| t != "null").collect(),
    );
    if !ct.is_empty() && !pt.is_empty() {
        let (from, into) = match direction {
            Direction::Request => (&ct, &pt),
            Direction::Response => (&pt, &ct),
        };
        if let Some(bad) = from.iter().find(|t| !accepts(into, t)) {
            errors.push(format!(
                "`{at}`: the consumer's type is {ct:?}, the provider's {pt:?} ({bad} does not fit)"
            ));
            return;
        }
    }
    compare_enums(consumer.schema, provider.schema, direction, at, errors);
    if (ct.contains("array") || pt.contains("array"))
        && let (Some(ci), Some(pi)) = (consumer.schema.get("items"), provider.schema.get("items"))
    {
        compare(
            Side {
                schema: ci,
                doc: consumer.doc,
            },
            Side {
                schema: pi,
                doc: provider.doc,
            },
            direction,
            &format!("{at}[]"),
            errors,
        );
    }
    let (Some(cprops), Some(pprops)) = (
        consumer.schema.get("properties").and_then(Value::as_object),
        provider.schema.get("properties").and_then(Value::as_object),
    ) else {
        return;
    };
    let (creq, preq) = (required(consumer.schema), required(provider.schema));
    for (name, cschema) in cprops {
        let field = format!("{at}.{name}");
        let Some(pschema) = pprops.get(name) else {
            errors.push(match direction {
                Direction::Request => {
                    format!("`{field}` is sent but the provider has no such field")
                }
                Direction::Response => {
                    format!("`{field}` is read but the provider does not send it")
                }
            });
            continue;
        };
        if direction == Direction::Response && creq.contains(name) && !preq.contains(name) {
            errors.push(format!(
                "`{field}` is required by the consumer but optional in the provider's answer"
            ));
        }
        compare(
            Side {
                schema: cschema,
                doc: consumer.doc,
            },
            Side {
                schema: pschema,
                doc: provider.doc,
            },
            direction,
            &field,
            errors,
        );
    }
    if direction == Direction::Request {
        for name in preq.iter().filter(|n| !creq.contains(*n)) {
            errors.push(if cprops.contains_key(name) {
                format!("`{at}.{name}` is required by the provider but the consumer may omit it")
            } else {
                format!("`{at}.{name}` is required by the provider and never sent")
            });
        }
    }
}

/// Whether `value` is an instance of `side` (the OpenAPI subset our
/// documents use: `$ref`, `type`, nullable, `oneOf`/`anyOf`/`allOf`,
/// `enum`, `properties`, `required`, `additionalProperties: false`, `items`,
/// `format: uuid`/`date-time`, `minimum`/`maximum`).
fn validate(side: Side, value: &Value, at: &str, errors: &mut Vec<String>) {
    let side = resolve(side);
    let schema = side.schema;
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let fits = options.iter().any(|option| {
                let mut inner = Vec::new();
                validate(
                    Side {
                        schema: option,
                        doc: side.doc,
                    },
                    value,
                    at,
                    &mut inner,
                );
                inner.is_empty()
            });
            if !fits {
                errors.push(format!(
                    "`{at}`: {value} fits none of the {key} alternatives"
                ));
            }
            return;
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for part in all {
            validate(
                Side {
                    schema: part,
                    doc: side.doc,
                },
                value,
                at,
                errors,
            );
        }
    }
    if value.is_null()
        && (types(schema).contains("null")
            || schema.get("nullable").and_then(Value::as_bool) == Some(true))
    {
        return;
    }
    let expected = types(schema);
    if !expected.is_empty() {
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        if !accepts(&expected, actual) {
            errors.push(format!(
                "`{at}`: {value} is {actual}, the document says {expected:?}"
            ));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        errors.push(format!("`{at}`: {value} is none of {options:?}"));
    }
    if let (Some(s), Some(format)) = (value.as_str(), schema.get("format").and_then(Value::as_str))
    {
        let ok = match format {
            "uuid" => uuid::Uuid::parse_str(s).is_ok(),
            "date-time" => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
            _ => true,
        };
        if !ok {
            errors.push(format!("`{at}`: {s:?} is no {format}"));
        }
    }
    if let Some(n) = value.as_f64() {
        if schema
            .get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|min| n < min)
        {
            errors.push(format!("`{at}`: {n} is below the minimum"));
        }
        if schema
            .get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|max| n > max)
        {
            errors.push(format!("`{at}`: {n} is above the maximum"));
        }
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, item) in values.iter().enumerate() {
            validate(
                Side {
                    schema: items,
                    doc: side.doc,
                },
                item,
                &format!("{at}[{i}]"),
                errors,
            );
        }
    }
    if let Some(object) = value.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for name in required(schema) {
            if !object.contains_key(&name) {
                errors.push(format!("`{at}.{name}` is required and missing"));
            }
        }
        for (name, field) in object {
            match props.and_then(|p| p.get(name)) {
                Some(field_schema) => validate(
                    Side {
                        schema: field_schema,
                        doc: side.doc,
                    },
                    field,
                    &format!("{at}.{name}"),
                    errors,
                ),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errors.push(format!("`{at}.{name}` is not in the document"));
                }
                None => {}
            }
        }
    }
}

fn compare_enums(
    consumer: &Value,
    provider: &Value,
    direction: Direction,
    at: &str,
    errors: &mut Vec<String>,
) {
    let values = |s: &Value| -> Option<BTreeSet<String>> {
        s.get("enum")
            .and_then(Value::as_array)
            .map(|v| v.iter().map(Value::to_string).collect())
    };
    let (Some(c), Some(p)) = (values(consumer), values(provider)) else {
        return;
    };
    let (from, into) = match direction {
        Direction::Request => (&c, &p),
        Direction::Response => (&p, &c),
    };
    let unknown: Vec<&String> = from.difference(into).collect();
    if !unknown.is_empty() {
        errors.push(format!(
            "`{at}`: values {unknown:?} are not understood by the other side"
        ));
    }
}

/// A short description of how two documents differ: operations and schemas
/// added, removed or changed.
pub fn describe_difference(committed: &Value, served: &Value) -> String {
    let mut notes = Vec::new();
    for (section, label) in [("paths", "path"), ("components", "components")] {
        let (a, b) = (&committed[section], &served[section]);
        let keys = |v: &Value| -> BTreeSet<String> {
            v.as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let (ka, kb) = (keys(a), keys(b));
        for added in kb.difference(&ka) {
            notes.push(format!("{label} {added} added"));
        }
        for removed in ka.difference(&kb) {
            notes.push(format!("{label} {removed} removed"));
        }
        for key in ka.intersection(&kb) {
            if section == "components" {
                let (sa, sb) = (keys(&a[key]), keys(&b[key]));
                for name in sa.union(&sb) {
                    if a[key][name] != b[key][name] {
                        notes.push(format!("schema {name} changed"));
                    }
                }
            } else if a[key] != b[key] {
                notes.push(format!("{label} {key} changed"));
            }
        }
    }
    if notes.is_empty() {
        notes.push("info or other top-level fields changed".into());
    }
    notes.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    struct Item {
        product_id: uuid::Uuid,
        quantity: u32,
    }

    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    struct Reserve {
        reservation_id: uuid::Uuid,
        items: Vec<Item>,
        ttl_seconds: u32,
    }

    fn provider(ttl_required: bool, quantity_type: &str) -> Provider {
        let required: Vec<&str> = if ttl_required {
            vec!["reservation_id", "items", "ttl_seconds"]
        } else {
            vec!["reservation_id", "items"]
        };
        Provider {
            name: "catalog-service".into(),
            doc: json!({
                "paths": {"/internal/v1/reservations": {"post": {
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/R"}}}},
                    "responses": {"201": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/R"}}}}}
                }}},
                "components": {"schemas": {
                    "R": {"type": "object", "required": required, "properties": {
                        "reservation_id": {"type": "string", "format": "uuid"},
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/I"}},
                        "ttl_seconds": {"type": ["integer", "null"]}
                    }},
                    "I": {"type": "object", "required": ["product_id", "quantity"], "properties": {
                        "product_id": {"type": "string"},
                        "quantity": {"type": quantity_type}
                    }}
                }}
            }),
        }
    }

    #[test]
    fn a_matching_request_passes() {
        provider(true, "integer").assert_request::<Reserve>("POST", "/internal/v1/reservations");
    }

    #[test]
    #[should_panic(expected = "body.items[].quantity")]
    fn a_retyped_nested_field_fails() {
        provider(true, "string").assert_request::<Reserve>("POST", "/internal/v1/reservations");
    }

    #[test]
    #[should_panic(expected = "required by the consumer but optional")]
    fn a_field_the_consumer_needs_becoming_optional_fails() {
        provider(false, "integer").assert_response::<Reserve>(
            "POST",
            "/internal/v1/reservations",
            201,
        );
    }

    #[test]
    #[should_panic(expected = "documents no `POST /internal/v1/other`")]
    fn a_missing_operation_fails() {
        provider(true, "integer").assert_request::<Reserve>("POST", "/internal/v1/other");
    }
}
