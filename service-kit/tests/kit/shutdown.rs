use crate::helpers::spawn_app;
use reqwest::StatusCode;
use std::time::Duration;

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests_then_stops_accepting() {
    let app = spawn_app().await;
    let in_flight = tokio::spawn({
        let http = app.http.clone();
        let url = app.url("/slow");
        async move { http.get(url).send().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.shutdown.cancel();

    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "done");

    let health = app.url("/health");
    let stopped = tokio::time::timeout(Duration::from_secs(5), app.server).await;
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "server returns cleanly: {stopped:?}"
    );
    let refused = reqwest::Client::new()
        .get(health)
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(refused.is_err(), "no longer accepting connections");
}
