//! Email over real SMTP: the kit's test server, spoken to by lettre (and by
//! hand, to pin the server's protocol).

use crate::helpers::{FailAt, SmtpServer, parse_mail, spawn_app, welcome};
use mail_parser::MimeHeaders;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

#[tokio::test]
async fn a_welcome_email_arrives_with_recipient_subject_text_and_html() {
    let app = spawn_app().await;
    let body = app
        .notify_ok(&welcome(Uuid::now_v7(), "ada@example.com"))
        .await;
    let mails = app.smtp.wait_for(1, Duration::from_secs(10)).await;
    let mail = &mails[0];
    assert_eq!(mail.to, vec!["ada@example.com".to_owned()]);
    assert_eq!(mail.from, "no-reply@shop.localhost");
    let message = parse_mail(mail);
    assert_eq!(message.subject(), Some("Welcome to Shop"));
    let to = message.to().unwrap().first().unwrap();
    assert_eq!(to.address(), Some("ada@example.com"));
    assert_eq!(
        message.from().unwrap().first().unwrap().address(),
        Some("no-reply@shop.localhost")
    );
    let text = message.body_text(0).unwrap();
    assert!(text.contains("Hello Ada Lovelace,"), "{text}");
    assert!(!text.contains('<'), "{text}");
    let html = message.body_html(0).unwrap();
    assert!(html.contains("<p>Hello Ada Lovelace,</p>"), "{html}");
    assert_eq!(message.text_body.len(), 1);
    assert_eq!(message.html_body.len(), 1);
    assert!(
        message
            .content_type()
            .is_some_and(|ct| ct.subtype() == Some("alternative")),
        "multipart/alternative"
    );
    // The Message-ID names the delivery, for deduplication downstream.
    let delivery_id = body["deliveries"][0]["id"].as_str().unwrap();
    assert_eq!(
        message.message_id(),
        Some(format!("{delivery_id}@notification-service").as_str())
    );
    app.wait_for_status(delivery_id, "sent").await;
}

async fn reply(stream: &mut TcpStream, expected: &str) -> String {
    let mut buf = vec![0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        text.starts_with(expected),
        "expected {expected}, got {text}"
    );
    text
}

async fn command(stream: &mut TcpStream, line: &str, expected: &str) -> String {
    stream.write_all(line.as_bytes()).await.unwrap();
    reply(stream, expected).await
}

#[tokio::test]
async fn the_test_server_speaks_smtp_unstuffs_dots_and_fails_on_demand() {
    let server = SmtpServer::start().await;
    server.fail_next(1, FailAt::MailFrom);
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    reply(&mut s, "220").await;
    let ehlo = command(&mut s, "EHLO client.test\r\n", "250-").await;
    assert!(ehlo.contains("8BITMIME"), "{ehlo}");
    command(&mut s, "NOOP\r\n", "250").await;
    command(&mut s, "RCPT TO:<b@y.test>\r\n", "503").await;
    command(&mut s, "MAIL FROM:<a@x.test>\r\n", "451").await;
    command(&mut s, "RSET\r\n", "250").await;
    command(&mut s, "MAIL FROM:<a@x.test> BODY=8BITMIME\r\n", "250").await;
    command(&mut s, "RCPT TO:<b@y.test>\r\n", "250").await;
    command(&mut s, "RCPT TO:<c@y.test>\r\n", "250").await;
    command(&mut s, "DATA\r\n", "354").await;
    command(
        &mut s,
        "Subject: hi\r\n\r\n..leading dot\r\nline\r\n.\r\n",
        "250",
    )
    .await;
    // A second transaction on the same connection, refused at end of DATA.
    server.fail_next(1, FailAt::EndOfData);
    command(&mut s, "HELO client.test\r\n", "250").await;
    command(&mut s, "MAIL FROM:<a@x.test>\r\n", "250").await;
    command(&mut s, "RCPT TO:<b@y.test>\r\n", "250").await;
    command(&mut s, "DATA\r\n", "354").await;
    command(&mut s, "Subject: refused\r\n\r\nbody\r\n.\r\n", "451").await;
    command(&mut s, "QUIT\r\n", "221").await;

    let mails = server.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].from, "a@x.test");
    assert_eq!(
        mails[0].to,
        vec!["b@y.test".to_owned(), "c@y.test".to_owned()]
    );
    assert_eq!(
        mails[0].data_str(),
        "Subject: hi\r\n\r\n.leading dot\r\nline\r\n"
    );
    assert_eq!(server.refused(), 2);
    assert_eq!(server.transactions(), 3);
}
