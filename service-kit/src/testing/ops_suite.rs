//! The operations surface every service must keep, as a test suite each
//! service instantiates with [`ops_tests!`](crate::ops_tests).

use reqwest::StatusCode;
use std::time::Duration;

use super::harness::{problem, spawn, spawn_behind_proxy};
use crate::service::Service;

/// `/health` and `/ready` answer 200 once migrated.
pub async fn health_and_ready<S: Service>() {
    let app = spawn::<S>().await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
}

/// `/ready` is 503 while the database is unreachable, 200 when it returns.
pub async fn ready_follows_the_database<S: Service>() {
    let (app, proxy) = spawn_behind_proxy::<S>().await;
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
    proxy.disable();
    let response = app.get("/ready").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    problem(response).await;
    proxy.enable();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = app.get("/ready").await.status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK, "recovers without a restart");
}

/// `/metrics` exposes request counters by matched route and pool gauges.
pub async fn metrics_are_exposed<S: Service>() {
    let app = spawn::<S>().await;
    app.get("/health").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("a text body");
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/health",status="200"}"#),
        "{text}"
    );
    assert!(text.contains("db_pool_connections"));
}

/// `/openapi.json` documents the service, every `$ref` in it resolves
/// (client generators fail on the first that does not), and `/docs` serves
/// Swagger UI.
pub async fn openapi_and_docs<S: Service>() {
    let app = spawn::<S>().await;
    let doc: serde_json::Value = app.get("/openapi.json").await.json().await.expect("JSON");
    assert_eq!(doc["info"]["title"], S::NAME);
    assert!(doc["paths"]["/health"].is_object());
    let unresolved = crate::openapi::unresolved_refs(&doc);
    assert!(
        unresolved.is_empty(),
        "$refs to nothing in {}'s document (register the schema, e.g. `components(schemas(...))`): {unresolved:?}",
        S::NAME
    );
    assert_eq!(app.get("/docs/").await.status(), StatusCode::OK);
}

/// The document `/openapi.json` serves equals the committed
/// `<manifest_dir>/openapi.json`, so every API change shows up in review
/// and consumers' contract tests check against what is really served.
///
/// `UPDATE_OPENAPI=1` rewrites the file. A missing file is written (and the
/// test passes) except under `CI`, where it fails.
pub async fn openapi_is_committed<S: Service>(manifest_dir: &str) {
    let app = spawn::<S>().await;
    let served: serde_json::Value = app.get("/openapi.json").await.json().await.expect("JSON");
    let path = std::path::Path::new(manifest_dir).join("openapi.json");
    let pretty = serde_json::to_string_pretty(&served).expect("serializable") + "\n";
    let update = std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| !v.is_empty());
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    let committed = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(_) if update || !ci => None,
        Err(err) => panic!(
            "{} is not committed ({err}); generate it with `UPDATE_OPENAPI=1 cargo test -p {}` and commit it",
            path.display(),
            S::NAME
        ),
    };
    if update || committed.is_none() {
        std::fs::write(&path, pretty).expect("writing openapi.json");
        return;
    }
    let committed: serde_json::Value = serde_json::from_str(&committed.unwrap_or_default())
        .unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()));
    if committed != served {
        panic!(
            "{} differs from the served document ({}).\n\
             If the API change is intended, run `UPDATE_OPENAPI=1 cargo test -p {}` and commit the \
             file; consumers' contract tests then check the new document.",
            path.display(),
            super::contract::describe_difference(&committed, &served),
            S::NAME
        );
    }
}

/// A valid `X-Request-ID` is echoed; an invalid one is replaced.
pub async fn request_ids<S: Service>() {
    let app = spawn::<S>().await;
    let ok = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "req-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(ok.headers()["x-request-id"], "req-123");
    let bad = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "bad id!")
        .send()
        .await
        .expect("sent");
    assert_ne!(bad.headers()["x-request-id"], "bad id!");
}

/// Unknown routes (404) and wrong methods (405) are problem+json.
pub async fn unknown_routes_and_methods<S: Service>() {
    let app = spawn::<S>().await;
    let response = app.get("/api/v1/does-not-exist").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    problem(response).await;
    let response = app
        .http
        .post(app.url("/health"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    problem(response).await;
}

/// Instantiates the operations test suite for a service type.
#[macro_export]
macro_rules! ops_tests {
    ($service:ty) => {
        #[tokio::test]
        async fn health_and_ready_answer_200_once_migrated() {
            $crate::testing::ops_suite::health_and_ready::<$service>().await;
        }

        #[tokio::test]
        async fn ready_is_503_while_the_database_is_down_and_recovers_without_a_restart() {
            $crate::testing::ops_suite::ready_follows_the_database::<$service>().await;
        }

        #[tokio::test]
        async fn metrics_are_exposed_in_prometheus_format() {
            $crate::testing::ops_suite::metrics_are_exposed::<$service>().await;
        }

        #[tokio::test]
        async fn the_openapi_document_and_docs_are_served() {
            $crate::testing::ops_suite::openapi_and_docs::<$service>().await;
        }

        #[tokio::test]
        async fn request_ids_are_echoed_or_replaced() {
            $crate::testing::ops_suite::request_ids::<$service>().await;
        }

        #[tokio::test]
        async fn the_committed_openapi_document_is_the_served_one() {
            $crate::testing::ops_suite::openapi_is_committed::<$service>(env!(
                "CARGO_MANIFEST_DIR"
            ))
            .await;
        }

        #[tokio::test]
        async fn unknown_routes_and_wrong_methods_are_problems() {
            $crate::testing::ops_suite::unknown_routes_and_methods::<$service>().await;
        }
    };
}
