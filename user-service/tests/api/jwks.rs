//! The JWKS: another service, knowing only its URL, verifies user-service's
//! tokens with the kit's verifier, also across a key rotation.

use axum::Router;
use axum::routing::get;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use service_kit::auth::{AuthUser, JwksVerifier};
use service_kit::config::AuthSettings;
use std::time::Duration;

use crate::helpers::{header, new_user, spawn_app, spawn_configured};
use user_service::tokens::generate_pem;

/// A stand-in for another service of the fleet (order-service): its own
/// HTTP app whose only knowledge of user-service is the JWKS URL.
struct OtherService {
    address: String,
    http: reqwest::Client,
}

impl OtherService {
    async fn start(jwks_url: String) -> Self {
        let verifier = JwksVerifier::new(&AuthSettings {
            jwks_url,
            issuer: "user-service".into(),
            audience: "order-service".into(),
            jwks_refresh_secs: 300,
        })
        .unwrap();
        let app = Router::new()
            .route(
                "/whoami",
                get(|user: AuthUser| async move { user.id.to_string() }),
            )
            .with_state(verifier);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            address,
            http: reqwest::Client::new(),
        }
    }

    async fn whoami(&self, token: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}/whoami", self.address))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }
}

#[tokio::test]
async fn the_jwks_publishes_the_public_signing_key_only() {
    let app = spawn_app().await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert!(key.get("d").is_none(), "no private part");
    let session = new_user(&app).await;
    assert_eq!(header(&session.access_token)["kid"], key["kid"]);
}

#[tokio::test]
async fn another_service_verifies_tokens_with_only_the_jwks_url() {
    let app = spawn_app().await;
    let other = OtherService::start(app.url("/.well-known/jwks.json")).await;
    let session = new_user(&app).await;
    let (status, body) = other.whoami(&session.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, session.user_id.to_string());
    // A token signed by a key user-service does not publish is refused.
    let (_, forged) = app.user_token();
    assert_eq!(other.whoami(&forged).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_key_rotation_logs_nobody_out() {
    let old_key = generate_pem().unwrap();
    let new_key = generate_pem().unwrap();

    // Before: user-service signs with the old key.
    let old_pem = old_key.clone();
    let before =
        spawn_configured(move |s| s.jwt.private_key_pem = SecretString::from(old_pem)).await;
    let port: u16 = before.address.rsplit(':').next().unwrap().parse().unwrap();
    let other = OtherService::start(before.url("/.well-known/jwks.json")).await;
    let old_session = new_user(&before).await;
    assert_eq!(
        other.whoami(&old_session.access_token).await.0,
        StatusCode::OK
    );

    // The rotation: the same address now signs with the new key and keeps
    // publishing the old one.
    before.stop();
    drop(before);
    for _ in 0..100 {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (new_pem, old_pem) = (new_key.clone(), old_key.clone());
    let after = spawn_configured(move |s| {
        s.server.port = port;
        s.jwt.private_key_pem = SecretString::from(new_pem);
        s.jwt.extra_private_key_pem = SecretString::from(old_pem);
    })
    .await;
    let jwks: Value = after
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "both keys published"
    );
    let new_session = new_user(&after).await;
    assert_ne!(
        header(&new_session.access_token)["kid"],
        header(&old_session.access_token)["kid"],
        "signed by the rotated-in key"
    );

    // The other service has never seen the new kid: it refetches the JWKS.
    // (Its verifier refetches at most every few seconds; allow for that.)
    let mut status = StatusCode::UNAUTHORIZED;
    for _ in 0..80 {
        status = other.whoami(&new_session.access_token).await.0;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status,
        StatusCode::OK,
        "a token signed by the rotated-in key"
    );
    assert_eq!(
        other.whoami(&old_session.access_token).await.0,
        StatusCode::OK,
        "a token signed before the rotation still works"
    );
    // And user-service itself accepts both.
    for token in [&old_session.access_token, &new_session.access_token] {
        let response = after
            .http
            .get(after.url("/api/v1/users/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_ne!(response.status(), StatusCode::UNAUTHORIZED);
    }
}
