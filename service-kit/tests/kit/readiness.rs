use crate::helpers::{Options, problem, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use service_kit::testing::{TcpProxy, TestDatabase};
use std::time::Duration;

#[tokio::test]
async fn health_answers_even_without_a_database() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    let response = app.get("/ready").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        problem(response).await["detail"]
            .as_str()
            .unwrap()
            .contains("database")
    );
}

#[tokio::test]
async fn ready_is_503_while_the_database_is_down_and_200_again_when_it_returns() {
    let db = TestDatabase::create("kit").await;
    let proxy = TcpProxy::start(db.server_addr()).await;
    let app = spawn_app_with(Options {
        database: Some(db.settings_via(&proxy)),
        ..Options::default()
    })
    .await;
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

#[tokio::test]
async fn ready_is_503_until_migrations_are_applied() {
    let db = TestDatabase::create("kit").await;
    let mut settings = db.settings();
    settings.migrate_on_start = false;
    let app = spawn_app_with(Options {
        database: Some(settings.clone()),
        ..Options::default()
    })
    .await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        problem(response).await["detail"]
            .as_str()
            .unwrap()
            .contains("migrations")
    );

    let pool = service_kit::db::connect(&settings, "migrate").unwrap();
    service_kit::db::migrate(&pool, &settings, &crate::helpers::MIGRATOR)
        .await
        .unwrap();
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn migrations_create_the_schema_and_are_idempotent() {
    let db = TestDatabase::create("kit_schema").await;
    let settings = db.settings();
    let pool = service_kit::db::connect(&settings, "migrate").unwrap();
    service_kit::db::migrate(&pool, &settings, &crate::helpers::MIGRATOR)
        .await
        .unwrap();
    service_kit::db::migrate(&pool, &settings, &crate::helpers::MIGRATOR)
        .await
        .unwrap();
    let schema: String = sqlx::query_scalar(
        "select table_schema::text from information_schema.tables where table_name = 'widgets'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        schema, "kit_schema",
        "tables land in the service's own schema"
    );
}
