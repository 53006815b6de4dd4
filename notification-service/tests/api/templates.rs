//! Rendering: HTML escaping, money, the password-reset mail's special rules.

use crate::helpers::{order_confirmed, parse_mail, password_reset, spawn_app};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_product_name_with_markup_is_escaped_in_html_and_kept_in_text() {
    let app = spawn_app().await;
    let user = app.users.add("ada@example.com", None);
    let mut event = order_confirmed(user);
    event["data"]["items"] = json!([
        {"name": "<script>alert('x')</script><b>Lamp</b> & \"Co\"", "quantity": 1,
         "unit_price_cents": 1999, "line_total_cents": 1999},
        {"name": "Tea set", "quantity": 1, "unit_price_cents": 1999, "line_total_cents": 1999}
    ]);
    app.notify_ok(&event).await;
    let mails = app.smtp.wait_for(1, Duration::from_secs(10)).await;
    let message = parse_mail(&mails[0]);
    let html = message.body_html(0).unwrap().into_owned();
    let text = message.body_text(0).unwrap().into_owned();
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<b>Lamp"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(html.contains("&amp; &quot;Co&quot;"), "{html}");
    assert!(
        text.contains("<script>alert('x')</script><b>Lamp</b> & \"Co\""),
        "{text}"
    );
    // Money in minor units, rendered with the currency's decimals.
    assert!(
        text.contains("1 x Tea set @ 19.99 EUR = 19.99 EUR"),
        "{text}"
    );
    assert!(text.contains("Total: 39.98 EUR"), "{text}");
    assert!(html.contains("39.98 EUR"), "{html}");
}

#[tokio::test]
async fn zero_decimal_currencies_render_without_decimals() {
    let app = spawn_app().await;
    let user = app.users.add("ada@example.com", None);
    let event = json!({"event_id": uuid::Uuid::now_v7(), "user_id": user, "template": "payment_failed",
                       "data": {"order_id": "o-9", "total_cents": 1500, "currency": "JPY"}});
    app.notify_ok(&event).await;
    let mails = app.smtp.wait_for(1, Duration::from_secs(10)).await;
    let message = parse_mail(&mails[0]);
    assert_eq!(message.subject(), Some("Payment for your order o-9 failed"));
    assert!(message.body_text(0).unwrap().contains("1500 JPY"));
}

#[tokio::test]
async fn a_password_reset_is_mailed_whatever_the_preferences_and_its_token_is_never_listed() {
    let app = spawn_app().await;
    let (user_id, user_token) = app.user_token();
    // The user turned email off: the reset is sent anyway.
    let response = app
        .send(
            Method::PUT,
            "/api/v1/notification-preferences",
            Some(&user_token),
            Some(&json!({"email": false, "sms": false, "push": false, "marketing": false})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let mut event = password_reset("ada@example.com", "SECRET-RESET-TOKEN-123");
    event["user_id"] = json!(user_id);
    let body = app.notify_ok(&event).await;
    assert_eq!(body["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(body["deliveries"][0]["channel"], "email");
    let mails = app.smtp.wait_for(1, Duration::from_secs(10)).await;
    let message = parse_mail(&mails[0]);
    assert_eq!(mails[0].to, vec!["ada@example.com".to_owned()]);
    assert_eq!(message.subject(), Some("Reset your Shop password"));
    assert!(
        message
            .body_text(0)
            .unwrap()
            .contains("SECRET-RESET-TOKEN-123")
    );
    app.wait_for_status(body["deliveries"][0]["id"].as_str().unwrap(), "sent")
        .await;

    // Neither the user's history nor the admin list shows the token.
    let history = app.get_json("/api/v1/notifications", &user_token).await;
    assert_eq!(history["items"][0]["subject"], "Reset your Shop password");
    assert!(!history.to_string().contains("SECRET-RESET-TOKEN"));
    let (_, admin) = app.admin_token();
    let list = app.get_json("/api/v1/admin/notifications", &admin).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains("SECRET-RESET-TOKEN"));
}

#[tokio::test]
async fn a_name_carrying_a_link_markup_and_ten_kib_stays_out_of_subjects_and_is_cut_everywhere() {
    use crate::helpers::{FakeProvider, push_via, sms_via, spawn_app_with};
    let sms = FakeProvider::start().await;
    let push = FakeProvider::start().await;
    let (sms_gateway, push_gateway) = (sms.clone(), push.clone());
    let app = spawn_app_with(move |s| {
        sms_via(s, &sms_gateway);
        push_via(s, &push_gateway);
    })
    .await;
    let (user, token) = app.user_token();
    app.send(
        Method::PUT,
        "/api/v1/notification-preferences",
        Some(&token),
        Some(&json!({"email": true, "sms": true, "push": true, "marketing": false})),
    )
    .await;
    let response = app
        .send(
            Method::POST,
            "/api/v1/push-subscriptions",
            Some(&token),
            Some(&json!({"platform": "web", "token": "device-1"})),
        )
        .await;
    assert_eq!(response.status(), 201);
    let lure = "Your account is locked: log in at https://evil.example/login <a href=\"https://evil.example\">here</a>";
    let name = format!("{lure} {}", "A".repeat(10 * 1024));
    let event = json!({
        "event_id": uuid::Uuid::now_v7(), "user_id": user,
        "to": {"email": "victim@example.com", "phone": "+33612345678"},
        "template": "welcome", "data": {"full_name": name}
    });
    let body = app.notify_ok(&event).await;
    assert_eq!(body["deliveries"].as_array().unwrap().len(), 3, "{body}");
    for delivery in body["deliveries"].as_array().unwrap() {
        app.wait_for_status(delivery["id"].as_str().unwrap(), "sent")
            .await;
    }

    // The subject of every channel (email subject, push title) is fixed text.
    let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "select channel, subject, body_text, body_html from deliveries order by channel",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3);
    for (channel, subject, text, html) in &rows {
        assert_eq!(subject, "Welcome to Shop", "{channel}");
        // Cut to 100 characters of the name, in every channel.
        assert!(text.len() < 600, "{channel}: {} bytes", text.len());
        assert!(
            !text.contains("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            "{channel}"
        );
        assert!(text.contains('…'), "{channel}: {text}");
        if let Some(html) = html {
            assert!(!html.contains("<a href"), "{html}");
            assert!(html.contains("&lt;a href"), "{html}");
            assert!(html.len() < 1200, "{} bytes", html.len());
        }
    }
    let mails = app.smtp.wait_for(1, Duration::from_secs(10)).await;
    let message = parse_mail(&mails[0]);
    assert_eq!(message.subject(), Some("Welcome to Shop"));
    assert!(!message.body_html(0).unwrap().contains("<a href"));
    let pushed: serde_json::Value = serde_json::from_str(&push.accepted()[0].body).unwrap();
    assert_eq!(pushed["notification"]["title"], "Welcome to Shop");
    assert!(
        pushed["notification"]["body"]
            .as_str()
            .unwrap()
            .chars()
            .count()
            < 200
    );
    let texted = &sms.accepted()[0].body;
    assert!(texted.len() < 600, "{} bytes", texted.len());
    // The history shows the fixed subject too.
    let history = app.get_json("/api/v1/notifications", &token).await;
    assert!(!history.to_string().contains("evil.example"), "{history}");
}
