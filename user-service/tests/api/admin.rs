//! Administration: listing users, setting roles, bootstrapping an admin.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;

use crate::helpers::{
    PASSWORD, claims, login_ok, new_admin, new_user, problem, register, send, spawn_app,
};

#[tokio::test]
async fn an_admin_lists_users_filtered_by_email() {
    let app = spawn_app().await;
    let admin = new_admin(&app).await;
    register(&app, "Needle.One@Haystack.test", PASSWORD).await;
    register(&app, "needle.two@haystack.test", PASSWORD).await;
    register(&app, "straw@haystack.test", PASSWORD).await;
    let response = send(
        &app,
        Method::GET,
        "/api/v1/users?email=NEEDLE",
        &admin.access_token,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.unwrap();
    let emails: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["needle.one@haystack.test", "needle.two@haystack.test"]
    );
    assert!(page["next_cursor"].is_null());
}

#[tokio::test]
async fn pages_of_users_cover_everyone_once() {
    let app = spawn_app().await;
    let admin = new_admin(&app).await;
    for i in 0..6 {
        register(&app, &format!("page{i}@example.com"), PASSWORD).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/users?limit=3".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Value = send(&app, Method::GET, &path, &admin.access_token, None)
            .await
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "six users and the admin");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);
    let response = send(
        &app,
        Method::GET,
        "/api/v1/users?limit=0",
        &admin.access_token,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = send(
        &app,
        Method::GET,
        "/api/v1/users?cursor=bogus",
        &admin.access_token,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn admin_routes_refuse_customers_with_403_and_anonymous_callers_with_401() {
    let app = spawn_app().await;
    let customer = new_user(&app).await;
    let path = format!("/api/v1/users/{}/roles", customer.user_id);
    let body = json!({"roles": ["customer", "admin"]});

    let response = send(
        &app,
        Method::GET,
        "/api/v1/users",
        &customer.access_token,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    let response = send(
        &app,
        Method::PUT,
        &path,
        &customer.access_token,
        Some(&body),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    assert_eq!(
        app.get("/api/v1/users").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let response = app
        .http
        .put(app.url(&path))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    problem(response).await;
}

#[tokio::test]
async fn an_admin_sets_roles_which_the_next_token_carries() {
    let app = spawn_app().await;
    let admin = new_admin(&app).await;
    let user = new_user(&app).await;
    let response = send(
        &app,
        Method::PUT,
        &format!("/api/v1/users/{}/roles", user.user_id),
        &admin.access_token,
        Some(&json!({"roles": ["admin", "customer", "admin"]})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["roles"], json!(["admin", "customer"]));
    let tokens = login_ok(&app, &user.email, PASSWORD).await;
    assert_eq!(
        claims(tokens["access_token"].as_str().unwrap())["roles"],
        json!(["admin", "customer"])
    );
    let promoted = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        send(&app, Method::GET, "/api/v1/users", promoted, None)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn setting_unknown_roles_or_on_an_unknown_user_fails() {
    let app = spawn_app().await;
    let admin = new_admin(&app).await;
    let user = new_user(&app).await;
    let path = format!("/api/v1/users/{}/roles", user.user_id);
    for roles in [json!([]), json!(["root"])] {
        let response = send(
            &app,
            Method::PUT,
            &path,
            &admin.access_token,
            Some(&json!({"roles": roles})),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem(response).await["errors"][0]["field"], "roles");
    }
    let response = send(
        &app,
        Method::PUT,
        &format!("/api/v1/users/{}/roles", uuid::Uuid::new_v4()),
        &admin.access_token,
        Some(&json!({"roles": ["customer"]})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = send(
        &app,
        Method::PUT,
        "/api/v1/users/not-a-uuid/roles",
        &admin.access_token,
        Some(&json!({"roles": ["customer"]})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// `user-service create-admin`, the real binary against a fresh database.
#[tokio::test]
async fn create_admin_bootstraps_an_administrator_and_is_idempotent() {
    let db = service_kit::testing::TestDatabase::create("users").await;
    let binary = env!("CARGO_BIN_EXE_user-service");
    let run = |args: &[&str], password: Option<&str>| {
        let mut command = std::process::Command::new(binary);
        command
            .args(args)
            .env("APP__DATABASE__URL", db.url())
            .env("APP__DATABASE__SCHEMA", "users")
            .env("APP__DATABASE__MIGRATE_ON_START", "true")
            .env("LOG_FORMAT", "pretty")
            .env_remove("ADMIN_PASSWORD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(password) = password {
            command.env("ADMIN_PASSWORD", password);
        }
        command
    };
    let output = run(
        &["create-admin", "--email", "Root@Example.com"],
        Some(PASSWORD),
    )
    .output()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("created administrator root@example.com")
    );

    // Again, the password on stdin this time: the account stays as it is.
    let mut child = run(&["create-admin", "--email", "root@example.com"], None)
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"another long password\n").unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("password unchanged"));

    let weak = run(&["create-admin", "--email", "x@example.com"], Some("short"))
        .output()
        .unwrap();
    assert!(!weak.status.success());

    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect(db.url())
        .await
        .unwrap();
    let rows: Vec<(String, Vec<String>)> = sqlx::query_as("select email, roles from users.users")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![(
            "root@example.com".to_owned(),
            vec!["admin".to_owned(), "customer".to_owned()]
        )]
    );
}

#[tokio::test]
async fn a_forged_cursor_outside_postgres_range_is_422_not_500() {
    let app = spawn_app().await;
    let admin = new_admin(&app).await;
    for time in ["-100000-01-01T00:00:00Z", "-4713-11-23T23:59:59Z"] {
        let cursor = service_kit::pagination::encode_cursor(
            &json!({"created_at": time, "id": uuid::Uuid::new_v4()}),
        );
        let path = format!("/api/v1/users?cursor={cursor}");
        let response = send(&app, Method::GET, &path, &admin.access_token, None).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{time}"
        );
        assert_eq!(problem(response).await["errors"][0]["field"], "cursor");
    }
}
