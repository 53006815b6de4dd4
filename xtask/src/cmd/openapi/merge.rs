//! Merging the services' documents into the gateway's one document.
//!
//! Rules (each has a unit test below):
//! - only public operations: paths under `/internal/` and operations tagged
//!   `ops` or `internal` are left out (the gateway routes none of them);
//! - one tag per service (its package name, described by its `info.description`),
//!   replacing the operations' own tags;
//! - components (schemas, security schemes, ...) reachable from the public
//!   operations only; a name defined identically by several services appears
//!   once; a name whose definitions differ is prefixed with each defining
//!   service's short name in PascalCase (`Page` -> `CatalogPage`,
//!   `OrderPage`), and so is every name that references a renamed one and
//!   therefore differs too;
//! - an `operationId` used by several services is prefixed with each one's
//!   short name (`catalog_list`);
//! - `servers` is the gateway, the origin that serves the document (`/`).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

/// One service's committed document.
pub struct ServiceDocument {
    /// Package name (`catalog-service`): the tag of its operations.
    pub package: String,
    /// Short name (`catalog`): the prefix of its clashing names.
    pub short: String,
    /// The document as committed.
    pub document: Value,
}

/// HTTP methods an OpenAPI path item can hold operations for.
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace", "query",
];

/// Tags whose operations the gateway does not expose.
const PRIVATE_TAGS: &[&str] = &["ops", "internal"];

/// Merges `services` (in this order) into the gateway's public document.
pub fn merge(services: &[ServiceDocument]) -> Result<Value> {
    let mut version: Option<&str> = None;
    for service in services {
        let v = service.document["openapi"].as_str().unwrap_or_default();
        match version {
            Some(seen) if seen != v => bail!(
                "{} is OpenAPI {v} but another document is {seen}: make them agree before merging",
                service.package
            ),
            _ => version = Some(v),
        }
    }

    let publics: Vec<Public> = services.iter().map(Public::of).collect::<Result<_>>()?;
    let renames = clash_renames(&publics)?;

    let mut paths = Map::new();
    let mut components: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let operation_ids = clashing_operation_ids(&publics);
    let mut tags = Vec::new();
    for (public, service) in publics.iter().zip(services) {
        let rename = &renames[&service.package];
        tags.push(json!({
            "name": service.package,
            "description": service.document["info"]["description"].as_str().unwrap_or(&service.package),
        }));
        for (path, item) in &public.paths {
            if paths.contains_key(path) {
                bail!(
                    "{path} is documented by {} and by another service: the gateway routes a path to one service",
                    service.package
                );
            }
            let mut item = item.clone();
            rewrite_refs(&mut item, rename);
            for method in METHODS {
                if let Some(operation) = item.get_mut(*method).and_then(Value::as_object_mut) {
                    operation.insert("tags".into(), json!([service.package]));
                    if let Some(id) = operation.get("operationId").and_then(Value::as_str)
                        && operation_ids.contains(id)
                    {
                        let prefixed = format!("{}_{id}", snake(&service.short));
                        operation.insert("operationId".into(), Value::String(prefixed));
                    }
                }
            }
            paths.insert(path.clone(), item);
        }
        for ((section, name), definition) in &public.components {
            let mut definition = definition.clone();
            rewrite_refs(&mut definition, rename);
            let new_name = rename
                .get(&(section.clone(), name.clone()))
                .cloned()
                .unwrap_or_else(|| name.clone());
            let section = components.entry(section.clone()).or_default();
            match section.get(&new_name) {
                Some(existing) if *existing != definition => bail!(
                    "components/{new_name} of {} differs from another service's after renaming; this is a bug in the merge",
                    service.package
                ),
                Some(_) => {}
                None => {
                    section.insert(new_name, definition);
                }
            }
        }
    }

    let mut document = Map::new();
    document.insert("openapi".into(), json!(version.unwrap_or("3.1.0")));
    document.insert(
        "info".into(),
        json!({
            "title": "Shop API",
            "version": "v1",
            "description": "The shop's public API as the gateway serves it: every public operation of \
                the fleet's services, one tag per service. Generated by `cargo xtask openapi merge` \
                from each service's committed `openapi.json`; do not edit by hand.",
        }),
    );
    document.insert(
        "servers".into(),
        json!([{ "url": "/", "description": "The gateway: the origin that serves this document" }]),
    );
    document.insert("tags".into(), Value::Array(tags));
    document.insert("paths".into(), Value::Object(paths));
    if !components.is_empty() {
        document.insert(
            "components".into(),
            Value::Object(
                components
                    .into_iter()
                    .map(|(section, map)| (section, Value::Object(map)))
                    .collect(),
            ),
        );
    }
    Ok(Value::Object(document))
}

/// A component's address: (section, name), e.g. ("schemas", "Page").
type Key = (String, String);

/// What one service contributes: its public paths and the components they reach.
struct Public {
    package: String,
    short: String,
    paths: BTreeMap<String, Value>,
    components: BTreeMap<Key, Value>,
}

impl Public {
    fn of(service: &ServiceDocument) -> Result<Self> {
        let mut paths = BTreeMap::new();
        let empty = Map::new();
        let all_paths = service.document["paths"].as_object().unwrap_or(&empty);
        for (path, item) in all_paths {
            if path.starts_with("/internal/") {
                continue;
            }
            let Some(item) = item.as_object() else {
                continue;
            };
            let mut kept = item.clone();
            for method in METHODS {
                let private = item.get(*method).is_some_and(|operation| {
                    operation["tags"].as_array().is_some_and(|tags| {
                        tags.iter()
                            .any(|t| PRIVATE_TAGS.contains(&t.as_str().unwrap_or_default()))
                    })
                });
                if private {
                    kept.remove(*method);
                }
            }
            if METHODS.iter().any(|m| kept.contains_key(*m)) {
                paths.insert(path.clone(), Value::Object(kept));
            }
        }

        // Components reachable from the public paths (and from security
        // requirements, which name schemes without a $ref).
        let defined = &service.document["components"];
        let mut reached: BTreeMap<Key, Value> = BTreeMap::new();
        let mut pending: Vec<Key> = Vec::new();
        for item in paths.values() {
            refs_in(item, &mut pending);
            security_schemes_in(item, &mut pending);
        }
        // The document-wide default requirement, if any.
        security_schemes_in(
            &json!({ "security": service.document["security"] }),
            &mut pending,
        );
        while let Some(key) = pending.pop() {
            if reached.contains_key(&key) {
                continue;
            }
            let Some(definition) = defined.get(&key.0).and_then(|s| s.get(&key.1)) else {
                bail!(
                    "{} refers to #/components/{}/{}, which it does not define",
                    service.package,
                    key.0,
                    key.1
                );
            };
            refs_in(definition, &mut pending);
            reached.insert(key, definition.clone());
        }
        Ok(Self {
            package: service.package.clone(),
            short: service.short.clone(),
            paths,
            components: reached,
        })
    }
}

/// Every `#/components/<section>/<name>` reference under `value`.
fn refs_in(value: &Value, out: &mut Vec<Key>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "$ref"
                    && let Some(parsed) = value.as_str().and_then(parse_ref)
                {
                    out.push(parsed);
                } else {
                    refs_in(value, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs_in(item, out)),
        _ => {}
    }
}

/// The security schemes named by `security` requirements under `value`.
fn security_schemes_in(value: &Value, out: &mut Vec<Key>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "security"
                    && let Some(requirements) = value.as_array()
                {
                    for requirement in requirements.iter().filter_map(Value::as_object) {
                        out.extend(
                            requirement
                                .keys()
                                .map(|name| ("securitySchemes".to_owned(), name.clone())),
                        );
                    }
                } else {
                    security_schemes_in(value, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| security_schemes_in(item, out)),
        _ => {}
    }
}

fn parse_ref(reference: &str) -> Option<Key> {
    let rest = reference.strip_prefix("#/components/")?;
    let (section, name) = rest.split_once('/')?;
    Some((section.to_owned(), unescape_pointer(name)))
}

fn unescape_pointer(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Rewrites `$ref`s under `value` to the renamed components.
fn rewrite_refs(value: &mut Value, renames: &BTreeMap<Key, String>) {
    if renames.is_empty() {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "$ref" {
                    if let Some(((section, _), new_name)) = value
                        .as_str()
                        .and_then(parse_ref)
                        .and_then(|k| renames.get(&k).map(|n| (k, n)))
                    {
                        *value = Value::String(format!(
                            "#/components/{section}/{}",
                            escape_pointer(new_name)
                        ));
                    }
                } else {
                    rewrite_refs(value, renames);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, renames)),
        _ => {}
    }
}

/// Per service (by package), the components to rename: every name defined
/// differently by two services, then every name whose definition differs
/// because it refers to a renamed one, until nothing changes.
fn clash_renames(publics: &[Public]) -> Result<BTreeMap<String, BTreeMap<Key, String>>> {
    let renames_of = |clashing: &BTreeSet<Key>, public: &Public| {
        public
            .components
            .keys()
            .filter(|key| clashing.contains(*key))
            .map(|key| (key.clone(), format!("{}{}", pascal(&public.short), key.1)))
            .collect::<BTreeMap<Key, String>>()
    };
    let mut clashing: BTreeSet<Key> = BTreeSet::new();
    loop {
        let mut definitions: BTreeMap<&Key, Vec<Value>> = BTreeMap::new();
        for public in publics {
            let rename = renames_of(&clashing, public);
            for (key, definition) in &public.components {
                let mut definition = definition.clone();
                rewrite_refs(&mut definition, &rename);
                definitions.entry(key).or_default().push(definition);
            }
        }
        let before = clashing.len();
        for (key, defs) in definitions {
            if defs.iter().any(|d| *d != defs[0]) {
                clashing.insert(key.clone());
            }
        }
        if clashing.len() == before {
            break;
        }
    }
    let mut taken: BTreeSet<Key> = publics
        .iter()
        .flat_map(|p| p.components.keys().cloned())
        .filter(|key| !clashing.contains(key))
        .collect();
    let mut all = BTreeMap::new();
    for public in publics {
        let rename = renames_of(&clashing, public);
        for ((section, name), new_name) in &rename {
            if !taken.insert((section.clone(), new_name.clone())) {
                bail!(
                    "components/{section}/{name} differs between services and its prefixed name {new_name} is taken: rename one of them in its service"
                );
            }
        }
        all.insert(public.package.clone(), rename);
    }
    Ok(all)
}

/// operationIds used by more than one service.
fn clashing_operation_ids(publics: &[Public]) -> BTreeSet<String> {
    let mut owners: BTreeMap<String, usize> = BTreeMap::new();
    for public in publics {
        let mut mine = BTreeSet::new();
        for item in public.paths.values() {
            for method in METHODS {
                if let Some(id) = item[*method]["operationId"].as_str() {
                    mine.insert(id.to_owned());
                }
            }
        }
        for id in mine {
            *owners.entry(id).or_default() += 1;
        }
    }
    owners
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(id, _)| id)
        .collect()
}

/// `gift-card` -> `GiftCard`.
fn pascal(short: &str) -> String {
    short
        .split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// `gift-card` -> `gift_card`.
fn snake(short: &str) -> String {
    short.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(short: &str, document: Value) -> ServiceDocument {
        ServiceDocument {
            package: format!("{short}-service"),
            short: short.to_owned(),
            document,
        }
    }

    fn get(schema: &str, id: &str, tag: &str) -> Value {
        json!({"get": {
            "operationId": id,
            "tags": [tag],
            "security": [{"bearer": []}],
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}}}
        }})
    }

    fn doc(paths: Value, schemas: Value) -> Value {
        json!({
            "openapi": "3.1.0",
            "info": {"title": "x", "version": "1", "description": "the x service"},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        })
    }

    fn problem() -> Value {
        json!({"type": "object", "properties": {"title": {"type": "string"}}})
    }

    #[test]
    fn internal_and_ops_operations_and_what_only_they_use_are_left_out() {
        let user = doc(
            json!({
                "/api/v1/users/me": get("Me", "me", "users"),
                "/internal/v1/users/{id}": get("Contact", "contact", "internal"),
                "/health": get("Status", "health", "ops"),
            }),
            json!({"Me": {"type": "object"}, "Contact": {"type": "object"}, "Status": {"type": "object"}}),
        );
        let merged = merge(&[service("user", user)]).expect("merges");
        let paths: Vec<&String> = merged["paths"].as_object().expect("paths").keys().collect();
        assert_eq!(paths, ["/api/v1/users/me"]);
        let schemas: Vec<&String> = merged["components"]["schemas"]
            .as_object()
            .expect("schemas")
            .keys()
            .collect();
        assert_eq!(schemas, ["Me"]);
        assert!(merged["components"]["securitySchemes"]["bearer"].is_object());
        assert_eq!(
            merged["servers"],
            json!([{"url": "/", "description": "The gateway: the origin that serves this document"}])
        );
    }

    #[test]
    fn one_tag_per_service() {
        let user = doc(
            json!({"/api/v1/auth/login": get("Problem", "login", "auth")}),
            json!({"Problem": problem()}),
        );
        let catalog = doc(
            json!({"/api/v1/products": get("Problem", "list", "products")}),
            json!({"Problem": problem()}),
        );
        let merged = merge(&[service("user", user), service("catalog", catalog)]).expect("merges");
        assert_eq!(
            merged["paths"]["/api/v1/auth/login"]["get"]["tags"],
            json!(["user-service"])
        );
        assert_eq!(
            merged["paths"]["/api/v1/products"]["get"]["tags"],
            json!(["catalog-service"])
        );
        let tags: Vec<&str> = merged["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| t["name"].as_str().expect("name"))
            .collect();
        assert_eq!(tags, ["user-service", "catalog-service"]);
    }

    #[test]
    fn identical_schemas_once_and_clashes_prefixed_with_what_refers_to_them() {
        let page = |item: &str| json!({"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}}}});
        let catalog = doc(
            json!({"/api/v1/products": get("Listing", "list", "products")}),
            json!({
                "Problem": problem(),
                "Item": {"type": "object", "properties": {"sku": {"type": "string"}}},
                "Listing": page("Item"),
            }),
        );
        let order = doc(
            json!({"/api/v1/orders": get("Listing", "list", "orders"), "/api/v1/cart": get("Problem", "cart", "cart")}),
            json!({
                "Problem": problem(),
                "Item": {"type": "object", "properties": {"quantity": {"type": "integer"}}},
                "Listing": page("Item"),
            }),
        );
        let merged =
            merge(&[service("catalog", catalog), service("order", order)]).expect("merges");
        let schemas = merged["components"]["schemas"]
            .as_object()
            .expect("schemas");
        let names: Vec<&String> = schemas.keys().collect();
        assert_eq!(
            names,
            [
                "CatalogItem",
                "CatalogListing",
                "OrderItem",
                "OrderListing",
                "Problem"
            ],
            "Listing's definitions are equal text but refer to different Items"
        );
        assert_eq!(
            schemas["OrderListing"]["properties"]["items"]["items"]["$ref"],
            "#/components/schemas/OrderItem"
        );
        let ref_of = |path: &str| {
            merged["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].clone()
        };
        assert_eq!(
            ref_of("/api/v1/products"),
            "#/components/schemas/CatalogListing"
        );
        assert_eq!(
            ref_of("/api/v1/orders"),
            "#/components/schemas/OrderListing"
        );
        assert_eq!(ref_of("/api/v1/cart"), "#/components/schemas/Problem");
        // `list` is an operationId of both services: prefixed; `cart` is not.
        assert_eq!(
            merged["paths"]["/api/v1/products"]["get"]["operationId"],
            "catalog_list"
        );
        assert_eq!(
            merged["paths"]["/api/v1/orders"]["get"]["operationId"],
            "order_list"
        );
        assert_eq!(
            merged["paths"]["/api/v1/cart"]["get"]["operationId"],
            "cart"
        );
    }

    #[test]
    fn a_prefixed_name_that_is_already_taken_is_an_error() {
        let a = doc(
            json!({"/api/v1/a": get("Item", "a", "a")}),
            json!({"Item": {"type": "string"}, "BItem": {"type": "object"}}),
        );
        let a = {
            let mut a = a;
            a["paths"]["/api/v1/a2"] = get("BItem", "a2", "a");
            a
        };
        let b = doc(
            json!({"/api/v1/b": get("Item", "b", "b")}),
            json!({"Item": {"type": "integer"}}),
        );
        let err = merge(&[service("a", a), service("b", b)]).expect_err("clash");
        assert!(err.to_string().contains("BItem is taken"), "{err}");
    }

    #[test]
    fn a_path_in_two_services_and_a_dangling_ref_are_errors() {
        let a = doc(
            json!({"/api/v1/x": get("Problem", "a", "a")}),
            json!({"Problem": problem()}),
        );
        let b = doc(
            json!({"/api/v1/x": get("Problem", "b", "b")}),
            json!({"Problem": problem()}),
        );
        let err = merge(&[service("a", a), service("b", b)]).expect_err("same path");
        assert!(
            err.to_string()
                .contains("/api/v1/x is documented by b-service"),
            "{err}"
        );
        let dangling = doc(json!({"/api/v1/p": get("Sort", "p", "p")}), json!({}));
        let err = merge(&[service("catalog", dangling)]).expect_err("dangling");
        assert!(
            err.to_string().contains("#/components/schemas/Sort"),
            "{err}"
        );
    }
}
