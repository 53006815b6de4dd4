//! OpenAPI pieces every service's document shares, and the finishing pass
//! every document goes through before it is served.

use axum::http::StatusCode;
use std::collections::BTreeMap;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, PartialSchema, ToSchema};

use crate::error::{PROBLEM_JSON, Problem};

/// Declares the `bearer` security scheme (JWT access or service tokens), so
/// handlers can say `security(("bearer" = []))`.
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Makes a service's document valid OpenAPI 3.1 whatever its handlers'
/// annotations forgot, and says what the kit really sends
/// ([`Server::bind`](crate::server::Server::bind) runs it on every document):
///
/// - every response has a `description` (required by the specification;
///   utoipa leaves it out when an annotation gives none): the status's
///   reason phrase (`OK`, `Not Found`, ...);
/// - every 4xx/5xx response is `application/problem+json`: one documented
///   without a body gets the [`Problem`] schema, one documented as
///   `application/json` is moved to `application/problem+json` (the kit
///   renders every error as a problem document, see [`crate::error`]);
/// - [`Problem`] and what it references are in `components.schemas` as
///   soon as a response uses them;
/// - an empty `info.license` (utoipa copies the empty `license` of a
///   `Cargo.toml`) is dropped rather than served as `{"name": ""}`.
///
/// What it cannot repair, a `$ref` to a schema no annotation registered, is
/// what [`unresolved_refs`] finds; the ops test suite fails on it.
pub fn finish(openapi: &mut OpenApi) {
    if openapi
        .info
        .license
        .as_ref()
        .is_some_and(|license| license.name.trim().is_empty())
    {
        openapi.info.license = None;
    }
    for item in openapi.paths.paths.values_mut() {
        let reads = [
            item.get.as_mut(),
            item.head.as_mut(),
            item.options.as_mut(),
            item.trace.as_mut(),
        ];
        for operation in reads.into_iter().flatten() {
            document_unavailable(&mut operation.responses.responses, true);
        }
        let writes = [
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
            item.query.as_mut(),
        ];
        for operation in writes
            .into_iter()
            .flatten()
            .chain(item.additional_operations.values_mut())
        {
            document_unavailable(&mut operation.responses.responses, false);
        }
        for operation in operations_mut(item) {
            for (status, response) in &mut operation.responses.responses {
                if let RefOr::T(response) = response {
                    finish_response(status, response);
                }
            }
        }
    }
    let mut schemas = Vec::new();
    <Problem as ToSchema>::schemas(&mut schemas);
    schemas.push((
        <Problem as ToSchema>::name().into_owned(),
        <Problem as PartialSchema>::schema(),
    ));
    let components = openapi.components.get_or_insert_with(Default::default);
    for (name, schema) in schemas {
        components.schemas.entry(name).or_insert(schema);
    }
}

/// Every `$ref` of `document` (a whole OpenAPI document as JSON) that does
/// not point at something the document itself defines, e.g.
/// `#/components/schemas/Sort` when `Sort` was never registered. Such a
/// document breaks every client generator.
pub fn unresolved_refs(document: &serde_json::Value) -> Vec<String> {
    let mut refs = Vec::new();
    collect_refs(document, &mut refs);
    refs.sort();
    refs.dedup();
    refs.retain(|reference| {
        let target = reference
            .strip_prefix('#')
            .and_then(|pointer| document.pointer(pointer));
        target.is_none()
    });
    refs
}

fn collect_refs(value: &serde_json::Value, refs: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", serde_json::Value::String(reference)) => refs.push(reference.clone()),
                    _ => collect_refs(value, refs),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                collect_refs(item, refs);
            }
        }
        _ => {}
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
        item.query.as_mut(),
    ]
    .into_iter()
    .flatten()
    .chain(item.additional_operations.values_mut())
}

fn finish_response(status: &str, response: &mut Response) {
    let code = status.parse::<u16>().ok();
    if response.description.trim().is_empty() {
        response.description = describe_status(status, code);
    }
    let is_error = match code {
        Some(code) => code >= 400,
        // `4XX`, `5XX` ranges; `default` is whatever the others are not,
        // which in this fleet is an error.
        None => status.starts_with('4') || status.starts_with('5') || status == "default",
    };
    if !is_error {
        return;
    }
    if response.content.is_empty() {
        response.content.insert(
            PROBLEM_JSON.to_owned(),
            RefOr::T(Content::new(Some(RefOr::Ref(
                utoipa::openapi::Ref::from_schema_name(<Problem as ToSchema>::name()),
            )))),
        );
    } else if let Some(json) = response.content.shift_remove("application/json") {
        response
            .content
            .entry(PROBLEM_JSON.to_owned())
            .or_insert(json);
    }
}

/// Why any request can get a 503.
const UNAVAILABLE: &str = "Service Unavailable: the service's database, or a service it \
     depends on, is unreachable or busy, or the request timed out.";

/// What to do about it.
const RETRY: &str = "Retry later, after `Retry-After` seconds when it is sent.";

/// What to do about it for a write, which may have taken effect.
const RETRY_WRITE: &str = "Retry later, after `Retry-After` seconds when it is sent. A \
     request that timed out may have taken effect: retry with the same `Idempotency-Key` \
     where the operation takes one.";

/// Added to a handler's own 503.
const ALSO: &str = "Any request can also get a 503 when the service's database is \
     unreachable or busy, or when it times out.";

/// Documents the `503` every operation can answer: added where the handler
/// documented none; where it did, its description keeps what it says and
/// gains the general causes, and the `Retry-After` header is declared.
/// `read` operations (GET, HEAD, ...) change nothing, so they are simply
/// retried. Running it again changes nothing.
fn document_unavailable(responses: &mut BTreeMap<String, RefOr<Response>>, read: bool) {
    let response = responses
        .entry("503".to_owned())
        .or_insert_with(|| RefOr::T(ResponseBuilder::new().build()));
    let RefOr::T(response) = response else {
        return;
    };
    let retry = if read { RETRY } else { RETRY_WRITE };
    let own = response.description.trim().trim_end_matches('.');
    if own.is_empty() {
        response.description = format!("{UNAVAILABLE} {retry}");
    } else if !own.starts_with(UNAVAILABLE) && !own.contains(ALSO) {
        response.description = format!("{own}. {ALSO} {retry}");
    }
    response
        .headers
        .entry("Retry-After".to_owned())
        .or_insert_with(|| {
            RefOr::T(
                HeaderBuilder::new()
                    .schema(Some(Object::with_type(Type::Integer)))
                    .description(Some(
                        "Seconds to wait before retrying, when the service knows (e.g. 1 \
                     while its database is unreachable).",
                    ))
                    .build(),
            )
        });
}

fn describe_status(status: &str, code: Option<u16>) -> String {
    let reason = code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .and_then(|code| code.canonical_reason());
    match (reason, status) {
        (Some(reason), _) => reason.to_owned(),
        (None, "default") => "Any other status: a problem document".to_owned(),
        (None, other) => format!("Status {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder};
    use utoipa::openapi::{InfoBuilder, OpenApiBuilder, PathsBuilder};

    fn document(responses: Vec<(&str, Response)>) -> serde_json::Value {
        let mut operation = OperationBuilder::new();
        for (status, response) in responses {
            operation = operation.response(status, response);
        }
        let mut openapi = OpenApiBuilder::new()
            .info(InfoBuilder::new().title("t").version("1").build())
            .paths(PathsBuilder::new().path("/things", PathItem::new(HttpMethod::Get, operation)))
            .build();
        finish(&mut openapi);
        serde_json::to_value(&openapi).expect("serializable")
    }

    #[test]
    fn responses_without_a_description_get_the_reason_phrase() {
        let doc = document(vec![
            ("200", ResponseBuilder::new().build()),
            ("404", ResponseBuilder::new().build()),
            ("409", Response::new("Already taken")),
            ("5XX", ResponseBuilder::new().build()),
        ]);
        let responses = &doc["paths"]["/things"]["get"]["responses"];
        assert_eq!(responses["200"]["description"], "OK");
        assert_eq!(responses["404"]["description"], "Not Found");
        assert_eq!(responses["409"]["description"], "Already taken");
        assert_eq!(responses["5XX"]["description"], "Status 5XX");
    }

    #[test]
    fn error_responses_are_problem_documents_and_the_schema_is_registered() {
        let json_body = Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "Problem",
        ))));
        let doc = document(vec![
            ("200", ResponseBuilder::new().build()),
            ("401", ResponseBuilder::new().build()),
            (
                "422",
                ResponseBuilder::new()
                    .content("application/json", json_body)
                    .build(),
            ),
        ]);
        let responses = &doc["paths"]["/things"]["get"]["responses"];
        let problem = json!({"schema": {"$ref": "#/components/schemas/Problem"}});
        assert_eq!(
            responses["401"]["content"],
            json!({ PROBLEM_JSON: problem })
        );
        assert_eq!(
            responses["422"]["content"],
            json!({ PROBLEM_JSON: problem })
        );
        assert!(responses["200"].get("content").is_none(), "{responses}");
        assert!(doc["components"]["schemas"]["Problem"].is_object());
        assert!(doc["components"]["schemas"]["FieldError"].is_object());
        assert_eq!(unresolved_refs(&doc), Vec::<String>::new());
    }

    #[test]
    fn every_operation_documents_the_503_the_kit_can_answer() {
        let doc = document(vec![("200", ResponseBuilder::new().build())]);
        let unavailable = &doc["paths"]["/things"]["get"]["responses"]["503"];
        assert!(
            unavailable["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("Service Unavailable")),
            "{unavailable}"
        );
        assert_eq!(
            unavailable["content"][PROBLEM_JSON]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        assert_eq!(
            unavailable["headers"]["Retry-After"]["schema"]["type"],
            "integer"
        );

        // A handler's own 503 keeps what it says, and gains the rest.
        let doc = document(vec![
            ("200", ResponseBuilder::new().build()),
            ("503", Response::new("Catalog is down.")),
        ]);
        let own = &doc["paths"]["/things"]["get"]["responses"]["503"];
        let description = own["description"].as_str().unwrap_or_default();
        assert!(
            description.starts_with("Catalog is down. Any request can also get a 503"),
            "{description}"
        );
        assert!(description.contains("`Retry-After`"), "{description}");
        assert!(
            !description.contains("Idempotency-Key"),
            "a read: {description}"
        );
        assert_eq!(own["headers"]["Retry-After"]["schema"]["type"], "integer");
        assert_eq!(
            own["content"][PROBLEM_JSON]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
    }

    #[test]
    fn a_write_is_told_about_its_idempotency_key_and_a_second_pass_changes_nothing() {
        let mut openapi = OpenApiBuilder::new()
            .info(InfoBuilder::new().title("t").version("1").build())
            .paths(
                PathsBuilder::new().path(
                    "/things",
                    PathItem::new(
                        HttpMethod::Post,
                        OperationBuilder::new()
                            .response("201", ResponseBuilder::new().build())
                            .response("503", Response::new("The gateway is down")),
                    ),
                ),
            )
            .build();
        finish(&mut openapi);
        let once = serde_json::to_value(&openapi).expect("serializable");
        let description = once["paths"]["/things"]["post"]["responses"]["503"]["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            description.starts_with("The gateway is down. Any request")
                && description.ends_with("where the operation takes one."),
            "{description}"
        );
        finish(&mut openapi);
        assert_eq!(serde_json::to_value(&openapi).expect("serializable"), once);
    }

    #[test]
    fn unresolved_refs_names_what_is_missing() {
        let doc = json!({
            "paths": {"/a": {"get": {"parameters": [{"schema": {"$ref": "#/components/schemas/Sort"}}]}}},
            "components": {"schemas": {"Page": {"items": {"$ref": "#/components/schemas/Page"}}}}
        });
        assert_eq!(unresolved_refs(&doc), vec!["#/components/schemas/Sort"]);
    }
}
