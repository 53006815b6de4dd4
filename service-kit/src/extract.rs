//! Extractors whose rejections are problem+json like every other error:
//! malformed JSON is 400, a well-formed body of the wrong shape is 422 naming
//! the field, a missing or foreign content type is 415, an oversized body 413.
//!
//! Text holding a NUL character (`\u0000` in JSON, `%00` in a query) is
//! refused here with a 422 naming the field: Postgres cannot store it, and
//! no text a user means to send contains one.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// JSON body extractor and response; rejections are problem+json.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

/// JSON body that must also pass its `garde` validation rules (422 otherwise,
/// every failing field listed).
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidJson<T>(pub T);

/// Query string extractor whose rejection is a 422 naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

/// Path parameters; a segment that cannot be parsed (a malformed id) cannot
/// name any resource, so it is a 404 like any unknown resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// The raw bytes of a JSON body: 415 without a JSON content type, 413 when
/// over the body limit (for extractors that need the bytes as sent, e.g. to
/// fingerprint them, before parsing them once with [`parse_json`]).
pub async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if !has_json_content_type(&req) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Expected a body with Content-Type: application/json.",
        ));
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                crate::error::default_detail(StatusCode::PAYLOAD_TOO_LARGE),
            )
        } else {
            ApiError::bad_request("The request body could not be read.")
        }
    })
}

impl<S, T> FromRequest<S> for ValidJson<T>
where
    T: DeserializeOwned + garde::Validate,
    T::Context: Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        value
            .validate()
            .map_err(|report| ApiError::validation(report_errors(&report)))?;
        Ok(ValidJson(value))
    }
}

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        // A URI cannot carry a raw NUL: only `%00` decodes to one, so the
        // pairs are decoded twice only for a query that holds it.
        if query.contains("%00")
            && let Some((name, _)) =
                form_urlencoded_parse(query).find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(ApiError::validation(vec![FieldError::new(
                name.replace('\0', ""),
                NUL_MESSAGE,
            )]));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|err| {
                let path = err.path().to_string();
                let message = strip_position(&err.into_inner().to_string());
                let field = field_name(&path, &message).unwrap_or_else(|| "query".to_owned());
                ApiError::validation(vec![FieldError::new(field, message)])
            })
    }
}

fn form_urlencoded_parse(query: &str) -> url::form_urlencoded::Parse<'_> {
    url::form_urlencoded::parse(query.as_bytes())
}

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.path().contains("%00") {
            return Err(ApiError::not_found("No resource matches this path."));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|rejection| {
                ApiError::not_found("No resource matches this path.")
                    .with_source(anyhow::anyhow!(rejection.body_text()))
            })
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

const NUL_MESSAGE: &str = "must not contain NUL characters (\\u0000)";

/// Decodes a JSON document: syntax errors are 400, shape errors 422, text
/// with a NUL character 422.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if has_nul_escape(bytes)
        && let Ok(document) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(field) = nul_field(&document, "")
    {
        return Err(ApiError::validation(vec![FieldError::new(
            if field.is_empty() {
                "body".to_owned()
            } else {
                field
            },
            NUL_MESSAGE,
        )]));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        // A shape error in a document that is not even valid JSON is a
        // syntax error first (`{} trailing` lacks fields, but is malformed).
        let well_formed = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
        match inner.classify() {
            serde_json::error::Category::Data if well_formed => {
                let message = strip_position(&inner.to_string());
                let field = field_name(&path, &message).unwrap_or_else(|| "body".to_owned());
                ApiError::validation(vec![FieldError::new(field, message)])
            }
            _ => ApiError::bad_request(format!(
                "Malformed JSON: {}",
                strip_position(&inner.to_string())
            )),
        }
    })?;
    de.end().map_err(|_| {
        ApiError::bad_request("Malformed JSON: trailing characters after the document.")
    })?;
    Ok(value)
}

/// Whether a JSON text holds the escape `\u0000` (an unescaped NUL is not
/// valid JSON at all). A run of backslashes before `u0000` escapes the
/// `u` only when it is odd.
fn has_nul_escape(bytes: &[u8]) -> bool {
    bytes.windows(5).enumerate().any(|(i, window)| {
        window == b"u0000" && bytes[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 1
    })
}

/// The path (`items[0].name`) of the first key or string holding a NUL.
fn nul_field(value: &serde_json::Value, at: &str) -> Option<String> {
    match value {
        serde_json::Value::String(text) if text.contains('\0') => Some(at.to_owned()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_field(item, &format!("{at}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let path = if at.is_empty() {
                key.replace('\0', "")
            } else {
                format!("{at}.{}", key.replace('\0', ""))
            };
            if key.contains('\0') {
                Some(path)
            } else {
                nul_field(item, &path)
            }
        }),
        _ => None,
    }
}

/// Turns a garde report into field errors (`items[0].quantity`).
pub fn report_errors(report: &garde::Report) -> Vec<FieldError> {
    report
        .iter()
        .map(|(path, error)| {
            let field = path.to_string();
            let field = if field.is_empty() {
                "body".to_owned()
            } else {
                field
            };
            FieldError::new(field, error.message())
        })
        .collect()
}

fn has_json_content_type(req: &Request) -> bool {
    let Some(content_type) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// serde appends "at line 1 column 7"; the caller has the field name instead.
fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// The field a serde error is about: its path, plus the missing field's name
/// for "missing field `x`" (serde reports those at the parent's path).
fn field_name(path: &str, message: &str) -> Option<String> {
    let parent = if path == "." { "" } else { path };
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return Some(if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}.{name}")
        });
    }
    (!parent.is_empty()).then(|| parent.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Order {
        quantity: u32,
        address: Address,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Address {
        city: String,
    }

    #[test]
    fn text_with_a_nul_is_422_naming_the_field() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Prefs {
            language: String,
            tags: Vec<String>,
        }
        let err = parse_json::<Prefs>(br#"{"language":"en\u0000x","tags":[]}"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.field_errors()[0].field, "language");
        let err = parse_json::<Prefs>(br#"{"language":"en","tags":["a","\u0000"]}"#).unwrap_err();
        assert_eq!(err.field_errors()[0].field, "tags[1]");
        // An escaped backslash followed by `u0000` is six ordinary characters.
        assert!(parse_json::<Prefs>(br#"{"language":"\\u0000","tags":[]}"#).is_ok());
        assert!(has_nul_escape(br#""\\\u0000""#));
        assert!(!has_nul_escape(br#""\\u0000""#));
    }

    #[test]
    fn syntax_errors_are_400() {
        let err = parse_json::<Order>(b"{\"quantity\": ").unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        let err = parse_json::<Order>(b"{} trailing").unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn wrong_types_are_422_naming_the_nested_field() {
        let err = parse_json::<Order>(br#"{"quantity": 1, "address": {"city": 5}}"#).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.field_errors()[0].field, "address.city");
    }

    #[test]
    fn missing_fields_are_422_naming_the_missing_field() {
        let err = parse_json::<Order>(br#"{"address": {"city": "Oslo"}}"#).unwrap_err();
        assert_eq!(err.field_errors()[0].field, "quantity");
        let err = parse_json::<Order>(br#"{"quantity": 2, "address": {}}"#).unwrap_err();
        assert_eq!(err.field_errors()[0].field, "address.city");
    }
}
