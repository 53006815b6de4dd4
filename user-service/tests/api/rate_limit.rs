//! Rate limits: per client address and per account, 429 with Retry-After;
//! the forwarded address counts only from a trusted proxy.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    PASSWORD, login, new_user, post, problem, spawn_app, spawn_configured, unique_email,
};

#[tokio::test]
async fn repeated_login_failures_lock_the_account_with_429_and_retry_after() {
    let app = spawn_configured(|s| s.rate_limit.login_failures_per_account = 3).await;
    let victim = new_user(&app).await;
    let bystander = new_user(&app).await;
    for _ in 0..3 {
        assert_eq!(
            login(&app, &victim.email, "wrong password!!")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let response = login(&app, &victim.email, "wrong password!!").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    problem(response).await;
    // Even the right password waits: guessing cannot go on.
    assert_eq!(
        login(&app, &victim.email, PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Case does not make another account.
    assert_eq!(
        login(&app, &victim.email.to_uppercase(), PASSWORD)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login(&app, &bystander.email, PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn one_address_is_limited_across_the_auth_endpoints() {
    let app = spawn_configured(|s| s.rate_limit.per_ip_per_minute = 3).await;
    for _ in 0..3 {
        let response = post(
            &app,
            "/api/v1/auth/register",
            None,
            &json!({"email": unique_email(), "password": PASSWORD, "full_name": "A"}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let response = login(&app, &unique_email(), PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let response = post(
        &app,
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": unique_email()}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // Other endpoints are not limited.
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn password_resets_are_limited_per_address() {
    let app = spawn_configured(|s| s.rate_limit.password_resets_per_account = 2).await;
    let email = unique_email();
    for _ in 0..2 {
        let response = post(
            &app,
            "/api/v1/auth/password-reset",
            None,
            &json!({"email": email}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let response = post(
        &app,
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": email}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = post(
        &app,
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": unique_email()}),
    )
    .await;
    assert_eq!(other.status(), StatusCode::ACCEPTED);
}

async fn login_from(app: &service_kit::testing::TestApp, forwarded_for: &str) -> StatusCode {
    app.http
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"email": unique_email(), "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let app = spawn_configured(|s| {
        s.rate_limit.per_ip_per_minute = 2;
        s.rate_limit.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    assert_eq!(
        login_from(&app, "198.51.100.1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, "198.51.100.1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, "198.51.100.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_from(&app, "198.51.100.2").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_untrusted_client_cannot_escape_its_limit_by_forging_the_header() {
    let app = spawn_configured(|s| s.rate_limit.per_ip_per_minute = 2).await;
    assert_eq!(
        login_from(&app, "203.0.113.1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, "203.0.113.2").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, "203.0.113.3").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn post_from(
    app: &service_kit::testing::TestApp,
    path: &str,
    forwarded_for: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.url(path))
        .header("x-forwarded-for", forwarded_for)
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

fn tally(statuses: &[StatusCode]) -> std::collections::BTreeMap<u16, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for status in statuses {
        *counts.entry(status.as_u16()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn thirty_concurrent_wrong_passwords_get_no_more_401s_than_the_limit() {
    let app = spawn_configured(|s| {
        s.rate_limit.login_failures_per_account_and_address = 5;
        s.rate_limit.login_failures_per_account = 5;
    })
    .await;
    let victim = new_user(&app).await;
    let responses =
        futures::future::join_all((0..30).map(|_| login(&app, &victim.email, "wrong password!!")))
            .await;
    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();
    assert_eq!(
        tally(&statuses),
        [(401, 5), (429, 25)].into_iter().collect(),
        "each guess is counted before the password is checked"
    );
}

#[tokio::test]
async fn an_overlong_email_is_422_naming_the_field_on_login_and_reset() {
    let app = spawn_app().await;
    // Just under the 1 MiB body limit, so the body itself is accepted.
    let huge = format!("{}@example.com", "a".repeat(1024 * 1024 - 100));
    let just_over = format!("{}@{}.example.com", "a".repeat(60), "b".repeat(182));
    assert_eq!(just_over.len(), 255);
    for email in [&huge, &just_over] {
        for (path, body) in [
            (
                "/api/v1/auth/login",
                json!({"email": email, "password": PASSWORD}),
            ),
            ("/api/v1/auth/password-reset", json!({"email": email})),
        ] {
            let response = post(&app, path, None, &body).await;
            assert_eq!(
                response.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path} with {} characters",
                email.len()
            );
            assert_eq!(problem(response).await["errors"][0]["field"], "email");
        }
    }
}

#[tokio::test]
async fn per_account_counters_are_kept_under_a_digest_never_the_address() {
    let app = spawn_app().await;
    let email = unique_email();
    let response = post(
        &app,
        "/api/v1/auth/password-reset",
        None,
        &json!({"email": email.to_uppercase()}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(
        login(&app, &email, "wrong password!!").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("select scope, key_digest from rate_limit_counters order by scope")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(rows.len() >= 2, "{rows:?}");
    for (_, key) in &rows {
        assert_eq!(key.len(), 32);
        assert!(!String::from_utf8_lossy(key).contains("example"));
    }
}

#[tokio::test]
async fn ended_windows_are_deleted_by_time_whatever_their_number() {
    let app = spawn_configured(|s| {
        s.rate_limit.account_window_secs = 1;
        s.rate_limit.housekeeping_interval_secs = 1;
    })
    .await;
    for _ in 0..20 {
        let response = post(
            &app,
            "/api/v1/auth/password-reset",
            None,
            &json!({"email": unique_email()}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let count = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from rate_limit_counters")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    assert_eq!(count().await, 20);
    let mut left = 20;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = count().await;
        if left == 0 {
            break;
        }
    }
    assert_eq!(left, 0, "counters whose window ended are swept");
}

#[tokio::test]
async fn two_replicas_share_the_per_account_limits() {
    let replicas = crate::helpers::spawn_replicas(2, |s| {
        s.rate_limit.login_failures_per_account_and_address = 4;
        s.rate_limit.login_failures_per_account = 4;
        s.rate_limit.password_resets_per_account = 2;
    })
    .await;
    let victim = new_user(&replicas[0]).await;
    for i in 0..4 {
        assert_eq!(
            login(&replicas[i % 2], &victim.email, "wrong password!!")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    for replica in &replicas {
        assert_eq!(
            login(replica, &victim.email, "wrong password!!")
                .await
                .status(),
            StatusCode::TOO_MANY_REQUESTS,
            "four failures in all, whichever replica counted them"
        );
    }
    let email = unique_email();
    let body = json!({"email": email});
    let reset = |i: usize| post(&replicas[i % 2], "/api/v1/auth/password-reset", None, &body);
    assert_eq!(reset(0).await.status(), StatusCode::ACCEPTED);
    assert_eq!(reset(1).await.status(), StatusCode::ACCEPTED);
    assert_eq!(reset(0).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reset(1).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn ipv6_clients_share_the_limit_of_their_64() {
    let app = spawn_configured(|s| {
        s.rate_limit.per_ip_per_minute = 2;
        s.rate_limit.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    assert_eq!(
        login_from(&app, "2001:db8:1:2::1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, "2001:db8:1:2:ffff:ffff:ffff:9").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, "2001:db8:1:2::77").await,
        StatusCode::TOO_MANY_REQUESTS,
        "one /64 is one client"
    );
    assert_eq!(
        login_from(&app, "2001:db8:1:3::1").await,
        StatusCode::UNAUTHORIZED,
        "the next /64 is another"
    );
}

#[tokio::test]
async fn a_stranger_locks_only_themselves_out_not_the_owner() {
    let app = spawn_configured(|s| {
        s.rate_limit.trusted_proxies = vec!["127.0.0.1/32".into()];
        s.rate_limit.login_failures_per_account_and_address = 5;
        s.rate_limit.login_failures_per_account = 12;
    })
    .await;
    let owner = new_user(&app).await;
    let app = &app;
    let attempt = |from: &'static str, password: &'static str| {
        let body = json!({"email": owner.email, "password": password});
        async move { post_from(app, "/api/v1/auth/login", from, None, &body).await }
    };
    for _ in 0..5 {
        assert_eq!(
            attempt("203.0.113.66", "wrong password!!").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    for _ in 0..20 {
        let response = attempt("203.0.113.66", "wrong password!!").await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(response.headers().contains_key("retry-after"));
    }
    // The owner, from their own address, is not affected.
    assert_eq!(
        attempt("198.51.100.20", PASSWORD).await.status(),
        StatusCode::OK
    );
    // Not even the right password gets through from the stranger's address.
    assert_eq!(
        attempt("203.0.113.66", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Only many addresses together reach the account's own limit.
    let mut statuses = Vec::new();
    for i in 1..=3u8 {
        for _ in 0..5 {
            statuses.push(
                post_from(
                    app,
                    "/api/v1/auth/login",
                    &format!("192.0.2.{i}"),
                    None,
                    &json!({"email": owner.email, "password": "wrong password!!"}),
                )
                .await
                .status(),
            );
        }
    }
    assert_eq!(
        tally(&statuses),
        [(401, 7), (429, 8)].into_iter().collect(),
        "5 + 7 failures reach the account's 12"
    );
}

#[tokio::test]
async fn refresh_is_limited_per_address() {
    let app = spawn_configured(|s| {
        s.rate_limit.per_ip_per_minute = 3;
        s.rate_limit.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let session = new_user(&app).await;
    let mut token = session.refresh_token.clone();
    for _ in 0..3 {
        let response = post_from(
            &app,
            "/api/v1/auth/refresh",
            "198.51.100.30",
            None,
            &json!({"refresh_token": token}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value = response.json().await.unwrap();
        token = body["refresh_token"].as_str().unwrap().to_owned();
    }
    let response = post_from(
        &app,
        "/api/v1/auth/refresh",
        "198.51.100.30",
        None,
        &json!({"refresh_token": token}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    problem(response).await;
}

#[tokio::test]
async fn wrong_current_passwords_are_limited_per_user_even_when_concurrent() {
    let app = spawn_configured(|s| s.rate_limit.password_change_failures_per_user = 3).await;
    let session = new_user(&app).await;
    let (app, token) = (&app, session.access_token.as_str());
    let change = |current: &'static str| {
        let body = json!({"current_password": current, "new_password": "a brand new passphrase"});
        async move { post(app, "/api/v1/auth/password", Some(token), &body).await }
    };
    let responses =
        futures::future::join_all((0..30).map(|_| change("not my password at all"))).await;
    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();
    assert_eq!(
        tally(&statuses),
        [(422, 3), (429, 27)].into_iter().collect()
    );
    let response = change(PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
}
