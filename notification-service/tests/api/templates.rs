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
