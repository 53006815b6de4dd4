//! Response headers every service sends whatever is in front of it.

use crate::helpers::{AUDIENCE, Options, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use uuid::Uuid;

#[tokio::test]
async fn every_response_says_nosniff_and_only_credentialed_ones_say_no_store() {
    let app = spawn_app().await;
    let anonymous = app.get("/health").await;
    assert_eq!(anonymous.headers()["x-content-type-options"], "nosniff");
    assert!(anonymous.headers().get("cache-control").is_none());
    assert!(
        anonymous
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
    let not_found = app.get("/nowhere").await;
    assert_eq!(not_found.headers()["x-content-type-options"], "nosniff");

    let token = app.issuer.user_token(Uuid::new_v4(), AUDIENCE);
    for (path, status) in [
        ("/me", StatusCode::OK),
        ("/nowhere", StatusCode::NOT_FOUND),
        ("/admin", StatusCode::FORBIDDEN),
    ] {
        let response = app.get_with_token(path, &token).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    let rejected = app.get_with_token("/me", "not-a-token").await;
    assert_eq!(rejected.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(rejected.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn a_handlers_own_cache_policy_is_kept() {
    let app = spawn_app().await;
    let token = app.issuer.user_token(Uuid::new_v4(), AUDIENCE);
    let response = app.get_with_token("/cached", &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "private, max-age=60");
}

#[tokio::test]
async fn hsts_is_sent_when_configured() {
    let app = spawn_app_with(Options {
        hsts_max_age_secs: 63_072_000,
        ..Options::default()
    })
    .await;
    let response = app.get("/health").await;
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
}
