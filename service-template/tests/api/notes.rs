//! The example feature, end to end.

use crate::helpers::{problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;

#[tokio::test]
async fn a_user_creates_and_reads_back_a_note() {
    let app = spawn_app().await;
    let (user_id, token) = app.user_token();
    let response = app
        .http
        .post(app.url("/api/v1/notes"))
        .bearer_auth(&token)
        .json(&json!({"title": "Groceries", "body": "milk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let note: Value = response.json().await.unwrap();
    assert_eq!(note["owner_id"], user_id.to_string());

    let id = note["id"].as_str().unwrap();
    let fetched: Value = app
        .http
        .get(app.url(&format!("/api/v1/notes/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["title"], "Groceries");
}

#[tokio::test]
async fn creating_a_note_needs_a_token() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/api/v1/notes"))
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    problem(response).await;
}

#[tokio::test]
async fn an_invalid_note_is_a_422_listing_the_field() {
    let app = spawn_app().await;
    let (_, token) = app.user_token();
    let response = app
        .http
        .post(app.url("/api/v1/notes"))
        .bearer_auth(&token)
        .json(&json!({"title": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["errors"][0]["field"], "title");
}

#[tokio::test]
async fn another_users_note_is_404() {
    let app = spawn_app().await;
    let (_, owner) = app.user_token();
    let (_, stranger) = app.user_token();
    let note: Value = app
        .http
        .post(app.url("/api/v1/notes"))
        .bearer_auth(&owner)
        .json(&json!({"title": "private"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = app
        .http
        .get(app.url(&format!("/api/v1/notes/{}", note["id"].as_str().unwrap())))
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pages_cover_every_note_once_newest_first() {
    let app = spawn_app().await;
    let (_, token) = app.user_token();
    for i in 0..7 {
        let response = app
            .http
            .post(app.url("/api/v1/notes"))
            .bearer_auth(&token)
            .json(&json!({"title": format!("note {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = app
            .http
            .get(app.url("/api/v1/notes"))
            .bearer_auth(&token)
            .query(&[("limit", "3")]);
        if let Some(c) = &cursor {
            request = request.query(&[("cursor", c)]);
        }
        let page: Value = request.send().await.unwrap().json().await.unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["title"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).rev().map(|i| format!("note {i}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);
}

#[tokio::test]
async fn bad_paging_parameters_are_422() {
    let app = spawn_app().await;
    let (_, token) = app.user_token();
    for query in [("limit", "0"), ("limit", "abc"), ("cursor", "not-a-cursor")] {
        let response = app
            .http
            .get(app.url("/api/v1/notes"))
            .bearer_auth(&token)
            .query(&[query])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query:?}"
        );
        problem(response).await;
    }
}

#[tokio::test]
async fn a_database_failure_is_a_generic_500() {
    let app = spawn_app().await;
    let (_, token) = app.user_token();
    sqlx::query("alter table notes drop column body")
        .execute(&app.pool)
        .await
        .unwrap();
    let response = app
        .http
        .get(app.url("/api/v1/notes"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = problem(response).await;
    assert_eq!(body["detail"], "An unexpected error occurred.");
    assert!(
        !body.to_string().contains("column"),
        "no SQL detail leaks: {body}"
    );
}
