//! The delivery queue: retries with backoff, `failed` after the last
//! attempt, leases, and several workers sending each message exactly once.

use crate::helpers::{
    FailAt, FakeProvider, order_confirmed, parse_mail, password_reset, sms_via, spawn_app,
    spawn_app_with, welcome,
};
use notification_service::delivery::Worker;
use notification_service::delivery::channels::Channels;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// An administrator's `retry` of `delivery`.
async fn admin_retry(
    app: &crate::helpers::TestApp,
    delivery: &str,
    admin: &str,
) -> reqwest::Response {
    app.send(
        Method::POST,
        &format!("/api/v1/admin/notifications/{delivery}/retry"),
        Some(admin),
        None,
    )
    .await
}

#[tokio::test]
async fn an_smtp_server_that_fails_twice_ends_in_exactly_one_sent_message() {
    for at in [FailAt::MailFrom, FailAt::EndOfData] {
        let app = spawn_app().await;
        app.smtp.fail_next(2, at);
        let body = app
            .notify_ok(&welcome(Uuid::now_v7(), "ada@example.com"))
            .await;
        let delivery = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
        app.wait_for_status(&delivery, "sent").await;
        assert_eq!(app.delivery_state(&delivery).await, ("sent".to_owned(), 3));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(app.smtp.message_count(), 1, "{at:?}");
        assert_eq!(app.smtp.refused(), 2, "{at:?}");
    }
}

#[tokio::test]
async fn an_smtp_server_that_always_fails_ends_failed_and_an_admin_retry_sends_it() {
    let app = spawn_app().await;
    app.smtp.fail_all(FailAt::MailFrom);
    let body = app
        .notify_ok(&welcome(Uuid::now_v7(), "ada@example.com"))
        .await;
    let delivery = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&delivery, "failed").await;
    assert_eq!(
        app.delivery_state(&delivery).await,
        ("failed".to_owned(), 3)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.smtp.refused(), 3, "exactly max_attempts attempts");
    assert_eq!(app.smtp.message_count(), 0);

    let (_, admin) = app.admin_token();
    let failed = app
        .get_json("/api/v1/admin/notifications?status=failed", &admin)
        .await;
    let items = failed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], delivery.as_str());
    assert_eq!(items[0]["attempts"], 3);
    assert!(
        items[0]["last_error"].as_str().unwrap().contains("451"),
        "{}",
        items[0]
    );

    app.smtp.recover();
    let response = admin_retry(&app, &delivery, &admin).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let retried: serde_json::Value = response.json().await.unwrap();
    assert_eq!(retried["status"], "pending");
    assert_eq!(retried["attempts"], 0);
    app.wait_for_status(&delivery, "sent").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.smtp.message_count(), 1);
    let failed = app
        .get_json("/api/v1/admin/notifications?status=failed", &admin)
        .await;
    assert!(failed["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn an_http_provider_that_fails_twice_ends_in_exactly_one_sms() {
    let gateway = FakeProvider::start().await;
    let url = gateway.clone();
    let app = spawn_app_with(move |s| sms_via(s, &url)).await;
    // The contact lookup gives the phone number.
    let phone_user = app.users.add("ada@example.com", Some("+33612345678"));
    let token = app.issuer.user_token(phone_user, "notification-service");
    let response = app
        .send(
            Method::PUT,
            "/api/v1/notification-preferences",
            Some(&token),
            Some(&json!({"email": false, "sms": true, "push": false, "marketing": false})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    gateway.fail_next(2);
    let body = app.notify_ok(&order_confirmed(phone_user)).await;
    let deliveries = body["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "{body}");
    assert_eq!(deliveries[0]["channel"], "sms");
    let delivery = deliveries[0]["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&delivery, "sent").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let requests = gateway.requests();
    assert_eq!(requests.len(), 3);
    let accepted = gateway.accepted();
    assert_eq!(accepted.len(), 1);
    let sms = &accepted[0];
    assert_eq!(sms.path, "/2010-04-01/Accounts/AC123/Messages.json");
    // HTTP Basic AC123:sms-secret-token.
    assert_eq!(sms.authorization, "Basic QUMxMjM6c21zLXNlY3JldC10b2tlbg==");
    assert!(requests.iter().all(|r| r.idempotency_key == delivery));
    let form: Vec<(String, String)> = url::form_urlencoded::parse(sms.body.as_bytes())
        .into_owned()
        .collect();
    assert!(
        form.contains(&("To".into(), "+33612345678".into())),
        "{form:?}"
    );
    assert!(
        form.contains(&("From".into(), "+15550001111".into())),
        "{form:?}"
    );
    let text = &form.iter().find(|(k, _)| k == "Body").unwrap().1;
    assert!(
        text.contains("confirmed") && text.contains("39.98 EUR"),
        "{text}"
    );
    assert_eq!(app.smtp.message_count(), 0, "email was turned off");
}

#[tokio::test]
async fn two_workers_over_the_same_queue_send_each_message_exactly_once() {
    let app = spawn_app_with(|s| s.delivery.workers = 0).await;
    let mut expected = HashSet::new();
    for i in 0..30 {
        let email = format!("user{i}@example.com");
        app.notify_ok(&welcome(Uuid::now_v7(), &email)).await;
        expected.insert(email);
    }
    let settings = app.worker_settings();
    let second_pool = PgPoolOptions::new()
        .max_connections(5)
        .connect_lazy_with((*app.pool.connect_options()).clone());
    let a = Worker::new(
        app.pool.clone(),
        Channels::from_settings(&settings).unwrap(),
        settings.delivery.clone(),
    );
    let b = Worker::new(
        second_pool,
        Channels::from_settings(&settings).unwrap(),
        settings.delivery.clone(),
    );
    let (mut claimed_a, mut claimed_b) = (0, 0);
    loop {
        let (pass_a, pass_b) = tokio::join!(a.run_once(), b.run_once());
        let (pass_a, pass_b) = (pass_a.unwrap(), pass_b.unwrap());
        claimed_a += pass_a.claimed;
        claimed_b += pass_b.claimed;
        if pass_a.claimed == 0 && pass_b.claimed == 0 {
            break;
        }
    }
    assert_eq!(claimed_a + claimed_b, 30);
    assert!(
        claimed_a > 0 && claimed_b > 0,
        "both workers worked: {claimed_a} / {claimed_b}"
    );
    let mails = app.smtp.wait_for(30, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 30);
    let recipients: HashSet<String> = mails.iter().map(|m| m.to[0].clone()).collect();
    assert_eq!(recipients, expected);
    let ids: HashSet<String> = mails
        .iter()
        .map(|m| parse_mail(m).message_id().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 30);
    let sent: i64 = sqlx::query_scalar(
        "select count(*) from deliveries where status = 'sent' and attempts = 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(sent, 30);
}

#[tokio::test]
async fn a_crashed_workers_claim_is_taken_over_when_its_lease_runs_out() {
    let app = spawn_app_with(|s| s.delivery.workers = 0).await;
    let body = app
        .notify_ok(&welcome(Uuid::now_v7(), "ada@example.com"))
        .await;
    let delivery: Uuid = body["deliveries"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // A worker claimed it and died.
    sqlx::query("update deliveries set attempts = 1, claimed_until = now() + interval '1 hour' where delivery_id = $1")
        .bind(delivery)
        .execute(&app.pool)
        .await
        .unwrap();
    let settings = app.worker_settings();
    let worker = Worker::new(
        app.pool.clone(),
        Channels::from_settings(&settings).unwrap(),
        settings.delivery.clone(),
    );
    assert_eq!(worker.run_once().await.unwrap().claimed, 0, "still leased");
    sqlx::query(
        "update deliveries set claimed_until = now() - interval '1 second' where delivery_id = $1",
    )
    .bind(delivery)
    .execute(&app.pool)
    .await
    .unwrap();
    let pass = worker.run_once().await.unwrap();
    assert_eq!((pass.claimed, pass.sent), (1, 1));
    assert_eq!(
        app.delivery_state(&delivery.to_string()).await,
        ("sent".to_owned(), 2)
    );
    assert_eq!(app.smtp.wait_for(1, Duration::from_secs(5)).await.len(), 1);
}

#[tokio::test]
async fn metrics_count_sends_and_expose_the_queue() {
    let app = spawn_app().await;
    let body = app
        .notify_ok(&welcome(Uuid::now_v7(), "ada@example.com"))
        .await;
    app.wait_for_status(body["deliveries"][0]["id"].as_str().unwrap(), "sent")
        .await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("notifications_sent_total{")
                && l.contains("channel=\"email\"")
                && l.contains("outcome=\"sent\"")),
        "{metrics}"
    );
    assert!(metrics.contains("notification_queue_depth"));
    assert!(metrics.contains("notification_oldest_pending_seconds"));
}

#[tokio::test]
async fn a_permanent_refusal_fails_at_once_without_retrying() {
    let gateway = FakeProvider::start().await;
    let configured = gateway.clone();
    let app = spawn_app_with(move |s| sms_via(s, &configured)).await;
    let user = app.users.add("ada@example.com", Some("+33612345678"));
    let token = app.issuer.user_token(user, "notification-service");
    app.send(
        Method::PUT,
        "/api/v1/notification-preferences",
        Some(&token),
        Some(&json!({"email": false, "sms": true, "push": false, "marketing": false})),
    )
    .await;
    gateway.reject_next(5);
    let body = app.notify_ok(&order_confirmed(user)).await;
    let delivery = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&delivery, "failed").await;
    assert_eq!(
        app.delivery_state(&delivery).await,
        ("failed".to_owned(), 1)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(gateway.requests().len(), 1);
}

#[tokio::test]
async fn without_an_smtp_host_email_goes_to_the_log_provider() {
    let app = spawn_app_with(|s| s.smtp.host = String::new()).await;
    let body = app
        .notify_ok(&welcome(Uuid::now_v7(), "ada@example.com"))
        .await;
    let delivery = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&delivery, "sent").await;
    assert_eq!(app.smtp.message_count(), 0);
}

#[tokio::test]
async fn a_database_blip_after_the_send_does_not_send_the_message_again() {
    let app = spawn_app_with(|s| s.delivery.workers = 0).await;
    let body = app
        .notify_ok(&welcome(Uuid::now_v7(), "ada@example.com"))
        .await;
    let delivery = body["deliveries"][0]["id"].as_str().unwrap().to_owned();

    // A worker whose database connection the test can cut.
    let options = (*app.pool.connect_options()).clone();
    let server: std::net::SocketAddr = format!("127.0.0.1:{}", options.get_port()).parse().unwrap();
    let proxy = std::sync::Arc::new(service_kit::testing::TcpProxy::start(server).await);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy_with(options.host("127.0.0.1").port(proxy.addr().port()));
    let settings = app.worker_settings();
    let worker = Worker::new(
        pool,
        Channels::from_settings(&settings).unwrap(),
        settings.delivery.clone(),
    );

    // The database goes away while the mail is on the wire, so recording
    // `sent` fails at first, and comes back 400 ms later.
    let cut = proxy.clone();
    let smtp_transactions = {
        let smtp = &app.smtp;
        move || smtp.transactions()
    };
    let blip = async move {
        while smtp_transactions() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        cut.disable();
        tokio::time::sleep(Duration::from_millis(400)).await;
        cut.enable();
    };
    let (pass, ()) = tokio::join!(worker.run_once(), blip);
    let pass = pass.expect("the pass ends once the record is written");
    assert_eq!((pass.claimed, pass.sent), (1, 1));
    assert_eq!(app.delivery_state(&delivery).await, ("sent".to_owned(), 1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.smtp.message_count(), 1, "sent once");
}

#[tokio::test]
async fn a_password_reset_that_fails_is_wiped_and_never_sent_again() {
    let app = spawn_app().await;
    app.smtp.fail_all(FailAt::MailFrom);
    let body = app
        .notify_ok(&password_reset("ada@example.com", "SECRET-RESET-TOKEN-9"))
        .await;
    let delivery = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&delivery, "failed").await;

    // Nothing of the link is left in the database.
    let (text, html): (String, String) =
        sqlx::query_as("select body_text, body_html from deliveries where delivery_id = $1")
            .bind(Uuid::parse_str(&delivery).unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(text.is_empty() && html.is_empty(), "{text} {html}");
    let data: serde_json::Value = sqlx::query_scalar("select data from notifications")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!data.to_string().contains("SECRET-RESET-TOKEN"), "{data}");

    // An administrator cannot send it again, even with the server back.
    app.smtp.recover();
    let (_, admin) = app.admin_token();
    let response = admin_retry(&app, &delivery, &admin).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/delivery-not-resendable");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.smtp.message_count(), 0);
    assert_eq!(
        app.delivery_state(&delivery).await,
        ("failed".to_owned(), 3)
    );
}
