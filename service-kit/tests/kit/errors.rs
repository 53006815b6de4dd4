use crate::helpers::{Options, problem, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/orders"))
        .header("content-type", "application/json")
        .body("{\"quantity\": 1,")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = problem(response).await;
    assert_eq!(body["status"], 400);
    assert_eq!(body["type"], "/problems/bad-request");
    assert_eq!(body["request_id"], request_id.as_str());
}

#[tokio::test]
async fn a_wrong_type_is_a_422_naming_the_field() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/orders"))
        .json(&json!({"quantity": "three", "note": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = problem(response).await;
    assert_eq!(body["errors"][0]["field"], "quantity");
}

#[tokio::test]
async fn a_missing_field_is_a_422_naming_the_field() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/orders"))
        .json(&json!({"quantity": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["errors"][0]["field"], "note");
}

#[tokio::test]
async fn a_body_without_json_content_type_is_a_415_problem() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/orders"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    problem(response).await;
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;
    let response = app.get("/no/such/route").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(response).await["type"], "/problems/not-found");
}

#[tokio::test]
async fn a_malformed_path_id_is_a_404_problem() {
    let app = spawn_app().await;
    let response = app.get("/orders/not-a-uuid").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    problem(response).await;
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let app = spawn_app().await;
    let response = app.http.delete(app.url("/orders")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(problem(response).await["status"], 405);
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_a_413_problem() {
    let app = spawn_app().await;
    let note = "x".repeat(1024 * 1024 + 1);
    let response = app
        .http
        .post(app.url("/orders"))
        .json(&json!({"quantity": 1, "note": note}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem(response).await["status"], 413);

    // Streamed without a Content-Length, the limit still holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"{\"quantity\":1,\"note\":\"".to_vec()),
        Ok(vec![b'x'; 1024 * 1024 + 1]),
    ];
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let response = app
        .http
        .post(app.url("/orders"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    problem(response).await;
}

#[tokio::test]
async fn an_internal_error_is_a_generic_500_without_sql_or_secrets() {
    let app = spawn_app().await;
    let response = app.get("/fail").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = problem(response).await;
    let text = body.to_string();
    assert!(
        !text.contains("select") && !text.contains("password") && !text.contains("users"),
        "{text}"
    );
    assert_eq!(body["detail"], "An unexpected error occurred.");
}

#[tokio::test]
async fn a_panicking_handler_is_a_generic_500_problem() {
    let app = spawn_app().await;
    let response = app.get("/panic").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = problem(response).await;
    assert!(!body.to_string().contains("secret panic detail"));
    assert!(body["request_id"].is_string());
    // The server survives the panic.
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_request_running_past_the_timeout_is_a_503_problem() {
    let app = spawn_app_with(Options {
        request_timeout_secs: 1,
        ..Options::default()
    })
    .await;
    let response = app.get("/slow").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    problem(response).await;
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let app = spawn_app().await;
    let allowed = app
        .http
        .get(app.url("/health"))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let other = app
        .http
        .get(app.url("/health"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_preflight_allows_what_a_browser_frontend_sends_and_exposes_what_it_reads() {
    let app = spawn_app().await;
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/orders"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,idempotency-key,if-none-match,if-match,x-request-id",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let listed = |response: &reqwest::Response, name: &str| -> Vec<String> {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect()
    };
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let methods = listed(&preflight, "access-control-allow-methods");
    for method in ["get", "post", "put", "patch", "delete"] {
        assert!(methods.contains(&method.to_owned()), "{methods:?}");
    }
    let headers = listed(&preflight, "access-control-allow-headers");
    for header in [
        "authorization",
        "content-type",
        "idempotency-key",
        "if-none-match",
        "if-match",
        "x-request-id",
    ] {
        assert!(
            headers.contains(&header.to_owned()),
            "{header} in {headers:?}"
        );
    }
    let simple = app
        .http
        .get(app.url("/health"))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    let exposed = listed(&simple, "access-control-expose-headers");
    for header in ["etag", "retry-after", "x-request-id", "location"] {
        assert!(
            exposed.contains(&header.to_owned()),
            "{header} in {exposed:?}"
        );
    }
}

#[tokio::test]
async fn responses_are_gzip_compressed_when_asked() {
    let app = spawn_app().await;
    let response = reqwest::Client::builder()
        .no_gzip()
        .build()
        .unwrap()
        .get(app.url("/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
}

/// The error Postgres answers `do $$ ... raise ... using errcode = code`
/// with: a real `sqlx::Error::Database` carrying that SQLSTATE.
async fn raised(pool: &sqlx::PgPool, code: &str) -> sqlx::Error {
    // The code is one of the test's own constants.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "do $$ begin raise exception 'raised on purpose' using errcode = '{code}'; end $$"
    )))
    .execute(pool)
    .await
    .unwrap_err()
}

#[tokio::test]
async fn database_errors_a_retry_could_cure_are_503_with_retry_after_the_rest_500() {
    use axum::response::IntoResponse;
    use service_kit::ApiError;

    let db = service_kit::testing::TestDatabase::create("kit").await;
    let pool = service_kit::db::connect(&db.settings(), "kit-test").unwrap();
    let cases = [
        ("40P01", 503), // deadlock detected
        ("40001", 503), // serialization failure
        ("55P03", 503), // lock not available
        ("57P01", 503), // admin shutdown
        ("53300", 503), // too many connections
        ("08006", 503), // connection failure
        ("23505", 500), // unique violation: the same request fails again
        ("22012", 500), // division by zero
        ("42P01", 500), // undefined table: a bug
        ("08P01", 500), // protocol violation: a client bug
        ("53100", 500), // disk full: not cured in a second
        ("57P04", 500), // database dropped
    ];
    for (code, status) in cases {
        let response = ApiError::database(raised(&pool, code).await).into_response();
        assert_eq!(response.status().as_u16(), status, "{code}");
        let retry_after = response.headers().get("retry-after");
        assert_eq!(
            retry_after.map(|v| v.to_str().unwrap()),
            (status == 503).then_some("1"),
            "{code}"
        );
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("raised on purpose"), "cause shown: {text}");
    }

    // A real statement timeout (57014).
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("set local statement_timeout = 20")
        .execute(&mut *tx)
        .await
        .unwrap();
    let timeout = sqlx::query("select pg_sleep(1)")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    drop(tx);
    assert_eq!(ApiError::database(timeout).status().as_u16(), 503);

    // A database nobody answers on: the pool gives up waiting.
    let mut settings = db.settings();
    settings.url = "postgres://nobody:secret@127.0.0.1:9/none"
        .to_owned()
        .into();
    settings.acquire_timeout_secs = 1;
    let unreachable = service_kit::db::connect(&settings, "kit-test").unwrap();
    let down = sqlx::query("select 1")
        .execute(&unreachable)
        .await
        .unwrap_err();
    assert_eq!(ApiError::database(down).status().as_u16(), 503);
}
