use crate::helpers::{AUDIENCE, problem, spawn_app};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use service_kit::testing::TestIssuer;
use uuid::Uuid;

async fn assert_rejected(app: &crate::helpers::TestApp, token: &str, why: &str) {
    let response = app.get_with_token("/me", token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{why}: {challenge}");
    problem(response).await;
}

#[tokio::test]
async fn a_valid_user_token_is_accepted() {
    let app = spawn_app().await;
    let user = Uuid::new_v4();
    let response = app
        .get_with_token("/me", &app.issuer.user_token(user, AUDIENCE))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["id"], user.to_string());
}

#[tokio::test]
async fn a_missing_token_is_401_with_a_challenge() {
    let app = spawn_app().await;
    let response = app.get("/me").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn an_expired_token_is_rejected() {
    let app = spawn_app().await;
    let mut claims = TestIssuer::claims(&Uuid::new_v4().to_string(), &["customer"], AUDIENCE);
    let now = chrono::Utc::now().timestamp();
    claims["iat"] = (now - 3600).into();
    claims["exp"] = (now - 120).into();
    assert_rejected(&app, &app.issuer.sign(&claims), "expired").await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_rejected() {
    let app = spawn_app().await;
    let token = app.issuer.user_token(Uuid::new_v4(), "some-other-service");
    assert_rejected(&app, &token, "wrong audience").await;
}

#[tokio::test]
async fn a_token_from_another_issuer_is_rejected() {
    let app = spawn_app().await;
    let mut claims = TestIssuer::claims(&Uuid::new_v4().to_string(), &["customer"], AUDIENCE);
    claims["iss"] = "evil-issuer".into();
    assert_rejected(&app, &app.issuer.sign(&claims), "wrong issuer").await;
}

#[tokio::test]
async fn a_tampered_token_is_rejected() {
    let app = spawn_app().await;
    let token = app.issuer.user_token(Uuid::new_v4(), AUDIENCE);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    claims["roles"] = serde_json::json!(["customer", "admin"]);
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let forged = parts.join(".");
    assert_rejected(&app, &forged, "tampered payload").await;
    let response = app.get_with_token("/admin", &forged).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_alg_none_token_is_rejected() {
    let app = spawn_app().await;
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"test-key-1"}"#);
    let claims = TestIssuer::claims(
        &Uuid::new_v4().to_string(),
        &["customer", "admin"],
        AUDIENCE,
    );
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    assert_rejected(&app, &format!("{header}.{payload}."), "alg none").await;
}

#[tokio::test]
async fn a_token_signed_by_an_unknown_key_is_rejected() {
    let app = spawn_app().await;
    let stranger = TestIssuer::start().await; // same kid naming, different key material
    assert_rejected(
        &app,
        &stranger.user_token(Uuid::new_v4(), AUDIENCE),
        "foreign key, known kid",
    )
    .await;
    stranger.rotate();
    stranger.rotate();
    assert_rejected(
        &app,
        &stranger.user_token(Uuid::new_v4(), AUDIENCE),
        "unknown kid",
    )
    .await;
}

#[tokio::test]
async fn a_token_signed_by_a_rotated_in_key_is_accepted_and_old_tokens_keep_working() {
    let app = spawn_app().await;
    let user = Uuid::new_v4();
    let old = app.issuer.user_token(user, AUDIENCE);
    assert_eq!(
        app.get_with_token("/me", &old).await.status(),
        StatusCode::OK
    );
    app.issuer.rotate();
    let new = app.issuer.user_token(user, AUDIENCE);
    assert_eq!(
        app.get_with_token("/me", &new).await.status(),
        StatusCode::OK,
        "new kid fetched on demand"
    );
    assert_eq!(
        app.get_with_token("/me", &old).await.status(),
        StatusCode::OK,
        "old key still published"
    );
}

#[tokio::test]
async fn admin_routes_need_the_admin_role() {
    let app = spawn_app().await;
    let customer = app.issuer.user_token(Uuid::new_v4(), AUDIENCE);
    let response = app.get_with_token("/admin", &customer).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    let admin = app.issuer.admin_token(Uuid::new_v4(), AUDIENCE);
    assert_eq!(
        app.get_with_token("/admin", &admin).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn internal_routes_refuse_user_tokens_and_accept_service_tokens() {
    let app = spawn_app().await;
    let user = app.issuer.admin_token(Uuid::new_v4(), AUDIENCE);
    assert_eq!(
        app.get_with_token("/internal", &user).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/internal").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let service = app.issuer.service_token("order-service", AUDIENCE);
    assert_eq!(
        app.get_with_token("/internal", &service).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get_with_token("/me", &service).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn internal_routes_admit_only_the_clients_they_list() {
    let app = spawn_app().await;
    for (client, expected) in [
        ("order-service", StatusCode::NO_CONTENT),
        ("user-service", StatusCode::NO_CONTENT),
        ("catalog-service", StatusCode::FORBIDDEN),
        ("evil-service", StatusCode::FORBIDDEN),
    ] {
        let token = app.issuer.service_token(client, AUDIENCE);
        let response = app.get_with_token("/internal", &token).await;
        assert_eq!(response.status(), expected, "{client}");
        if expected == StatusCode::FORBIDDEN {
            problem(response).await;
        }
    }
}

#[tokio::test]
async fn an_internal_route_that_lists_no_client_admits_none() {
    let app = spawn_app().await;
    let token = app.issuer.service_token("order-service", AUDIENCE);
    let response = app.get_with_token("/internal-undeclared", &token).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
}
