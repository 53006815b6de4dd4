//! The kit's harness spawns this service on a random port against a fresh
//! database, trusting a test token issuer; add this service's own helpers
//! (fake peers, request builders) here.
// Feature test modules use these; a service with no features yet does not.
#![allow(dead_code, unused_imports)]

pub use service_kit::testing::{TestApp, problem};

use notification_service::Application;

pub async fn spawn_app() -> TestApp {
    service_kit::testing::spawn::<Application>().await
}
