use crate::helpers::spawn_app;
use reqwest::StatusCode;

#[tokio::test]
async fn a_valid_request_id_is_echoed() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "abc.DEF_123-x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc.DEF_123-x");
}

#[tokio::test]
async fn an_invalid_request_id_is_replaced_by_a_generated_one() {
    let app = spawn_app().await;
    for bad in ["has space", &"a".repeat(129), "semi;colon"] {
        let response = app
            .http
            .get(app.url("/health"))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let echoed = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_ne!(echoed, bad);
        assert!(
            uuid::Uuid::parse_str(&echoed).is_ok(),
            "generated id {echoed}"
        );
    }
}

#[tokio::test]
async fn a_missing_request_id_is_generated_and_put_in_error_bodies() {
    let app = spawn_app().await;
    let response = app.get("/nowhere").await;
    let echoed = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], echoed.as_str());
}

#[tokio::test]
async fn metrics_count_requests_by_matched_route_not_raw_path() {
    let app = spawn_app().await;
    let id = uuid::Uuid::new_v4();
    for _ in 0..3 {
        assert_eq!(
            app.get(&format!("/orders/{id}")).await.status(),
            StatusCode::OK
        );
    }
    app.get("/orders/not-a-uuid").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total")
                && l.contains(r#"route="/orders/{id}""#)
                && l.contains(r#"status="200""#)
        })
        .unwrap_or_else(|| panic!("no counter for the matched route in:\n{metrics}"));
    let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3.0, "{line}");
    assert!(
        !metrics.contains(&id.to_string()),
        "raw paths must not become labels"
    );
    assert!(
        metrics.contains("http_request_duration_seconds_bucket"),
        "latency is a histogram with buckets"
    );
    assert!(
        metrics.contains(r#"le="0.2""#),
        "the 200 ms objective is a bucket boundary"
    );
    assert!(metrics.contains(r#"db_pool_max_connections{pool="main"}"#));
}

#[tokio::test]
async fn openapi_and_docs_are_served() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"]["/orders"].is_object());
    assert!(
        doc["paths"]["/ready"].is_object(),
        "ops endpoints are documented"
    );
    let docs = app.get("/docs/").await;
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

/// The `method` label values of the HTTP series.
fn method_labels(metrics: &str) -> std::collections::BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| l.starts_with("http_request"))
        .filter_map(|l| l.split(r#"method=""#).nth(1))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn ten_thousand_random_methods_add_no_series() {
    use futures::StreamExt;
    let app = spawn_app().await;
    let send = |method: String, path: &'static str| {
        let request = app.http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            app.url(path),
        );
        async move { request.send().await.unwrap().status() }
    };
    // Every status a random method can get: 405 on a route, 404 elsewhere.
    for path in ["/orders", "/nowhere"] {
        send("WARMUP".into(), path).await;
    }
    // The first scrape records its own series; measure from the second.
    app.get("/metrics").await;
    let before = app.get("/metrics").await.text().await.unwrap();
    let statuses: Vec<StatusCode> = futures::stream::iter(0..10_000)
        .map(|i| {
            let method = format!("M{}X{}", uuid::Uuid::new_v4().simple(), i);
            send(method, if i % 2 == 0 { "/orders" } else { "/nowhere" })
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| s.is_client_error()));
    let after = app.get("/metrics").await.text().await.unwrap();
    let series = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
    eprintln!(
        "/metrics series lines: {} before, {} after 10,000 requests with random methods",
        series(&before),
        series(&after)
    );
    let allowed = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "other",
    ];
    let methods = method_labels(&after);
    assert!(
        methods.iter().all(|m| allowed.contains(&m.as_str())),
        "unbounded method labels: {methods:?}"
    );
    // Other tests of this process may add standard-method series meanwhile;
    // the random methods' own series are the `other` ones, unchanged.
    let other = |text: &str| {
        text.lines()
            .filter(|l| l.contains(r#"method="other""#))
            .count()
    };
    assert!(other(&before) > 0, "the warm-up created the `other` series");
    assert_eq!(other(&before), other(&after));
}
