use crate::helpers::{Options, spawn_app_with};
use reqwest::StatusCode;
use service_kit::client::{ClientOptions, ServiceClient};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn outbound_calls_carry_the_request_id_and_traceparent() {
    let downstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/downstream"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&downstream)
        .await;
    let app = spawn_app_with(Options {
        downstream: downstream.uri(),
        ..Options::default()
    })
    .await;

    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = app
        .http
        .get(app.url("/relay"))
        .header("x-request-id", "relay-test-42")
        .header("traceparent", traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let received = downstream.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].headers["x-request-id"], "relay-test-42");
    let forwarded = received[0].headers["traceparent"].to_str().unwrap();
    assert!(
        forwarded.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "same trace id: {forwarded}"
    );
    assert!(
        !forwarded.contains("00f067aa0ba902b7"),
        "a child span of ours, not the caller's span"
    );
}

#[tokio::test]
async fn idempotent_calls_are_retried_on_503_and_succeed() {
    let downstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&downstream)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&downstream)
        .await;
    let client = fast_client(&downstream.uri());
    let response = client.get("/x").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(downstream.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn non_idempotent_calls_are_not_retried() {
    let downstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&downstream)
        .await;
    let client = fast_client(&downstream.uri());
    let response = client
        .post("/x")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(downstream.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_post_with_an_idempotency_key_is_retried() {
    let downstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&downstream)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&downstream)
        .await;
    let client = fast_client(&downstream.uri());
    let response = client
        .post("/x")
        .idempotency_key("key-1")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let received = downstream.received_requests().await.unwrap();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].headers["idempotency-key"], "key-1");
}

#[tokio::test]
async fn a_slow_target_times_out_and_the_breaker_then_fails_fast() {
    let downstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&downstream)
        .await;
    let options = ClientOptions {
        timeout: Duration::from_millis(100),
        max_retries: 0,
        breaker_threshold: 2,
        breaker_cooldown: Duration::from_secs(60),
        ..ClientOptions::default()
    };
    let client = ServiceClient::new("slow", downstream.uri(), options).unwrap();
    for _ in 0..2 {
        let err = client.get("/x").send().await.unwrap_err();
        assert!(
            matches!(err, service_kit::client::ClientError::Unreachable { .. }),
            "{err}"
        );
    }
    let err = client.get("/x").send().await.unwrap_err();
    assert!(
        matches!(err, service_kit::client::ClientError::CircuitOpen { .. }),
        "{err}"
    );
}

fn fast_client(base: &str) -> ServiceClient {
    let options = ClientOptions {
        backoff_base: Duration::from_millis(5),
        ..ClientOptions::default()
    };
    ServiceClient::new("downstream", base, options).unwrap()
}
