//! `POST /internal/v1/user-deletions`: a deleted account's preferences,
//! devices, stored messages and event data are erased, once, and nothing
//! more is stored or sent for it; the retention sweep deletes finished
//! deliveries.

use crate::helpers::{
    AUDIENCE, TestApp, eventually, order_confirmed, problem, spawn_app, spawn_app_with, welcome,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

const PATH: &str = "/internal/v1/user-deletions";

fn user_deleted(user_id: Uuid) -> Value {
    json!({"event_id": Uuid::now_v7(), "user_id": user_id, "deleted_at": chrono::Utc::now()})
}

async fn report(app: &TestApp, event: &Value) -> reqwest::Response {
    let token = app.user_service_token();
    app.send(Method::POST, PATH, Some(&token), Some(event))
        .await
}

/// What this service still holds about `user_id`, as
/// `(preferences, devices, notifications with data, deliveries holding a
/// target/subject/body, pending deliveries)`.
async fn held(app: &TestApp, user_id: Uuid) -> (i64, i64, i64, i64, i64) {
    sqlx::query_as(
        "select
           (select count(*) from preferences where user_id = $1),
           (select count(*) from push_subscriptions where user_id = $1),
           (select count(*) from notifications where user_id = $1 and data <> '{}'::jsonb),
           (select count(*) from deliveries where user_id = $1
              and (target not like 'erased-%' or subject <> '' or body_text <> ''
                   or coalesce(body_html, '') <> '')),
           (select count(*) from deliveries where user_id = $1 and status = 'pending')",
    )
    .bind(user_id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// A user with preferences, two devices, a sent welcome and order mail, and
/// a delivery still waiting for a retry; returns their id and token.
async fn user_with_history(app: &TestApp, email: &str) -> (Uuid, String) {
    let user = app.users.add(email, None);
    let token = app.issuer.user_token(user, AUDIENCE);
    let response = app
        .send(
            Method::PUT,
            "/api/v1/notification-preferences",
            Some(&token),
            Some(&json!({"email": true, "sms": false, "push": false, "marketing": true})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    for device in ["device-a", "device-b"] {
        let response = app
            .send(
                Method::POST,
                "/api/v1/push-subscriptions",
                Some(&token),
                Some(&json!({"platform": "ios", "token": format!("{device}-{user}")})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let mut ids = Vec::new();
    for event in [
        welcome(user, email),
        order_confirmed(user),
        order_confirmed(user),
    ] {
        let body = app.notify_ok(&event).await;
        ids.push(body["deliveries"][0]["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        app.wait_for_status(id, "sent").await;
    }
    // The last one waits for a retry, as if its first attempt had failed.
    sqlx::query(
        "update deliveries set status = 'pending', sent_at = null,
                next_attempt_at = now() + interval '1 hour'
         where delivery_id = $1",
    )
    .bind(ids[2].parse::<Uuid>().unwrap())
    .execute(&app.pool)
    .await
    .unwrap();
    (user, token)
}

#[tokio::test]
async fn a_deleted_account_loses_its_preferences_devices_and_stored_messages() {
    let app = spawn_app().await;
    let (ada, ada_token) = user_with_history(&app, "ada@example.com").await;
    let (bob, _) = user_with_history(&app, "bob@example.com").await;
    assert_eq!(held(&app, ada).await, (1, 2, 3, 3, 1));

    let response = report(&app, &user_deleted(ada)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    assert_eq!(held(&app, ada).await, (0, 0, 0, 0, 0));
    let stored: String = sqlx::query_scalar(
        "select coalesce(string_agg(target || subject || body_text || coalesce(body_html, ''), ''), '')
         from deliveries where user_id = $1",
    )
    .bind(ada)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        !stored.contains("ada@example.com") && !stored.contains("Ada"),
        "{stored}"
    );
    // The pending one is not sent: it failed, saying why.
    let failed: Vec<(String, Option<String>)> = sqlx::query_as(
        "select status, last_error from deliveries where user_id = $1 and failed_at is not null",
    )
    .bind(ada)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        failed,
        vec![("failed".to_owned(), Some("recipient erased".to_owned()))]
    );
    // An administrator cannot send it again: it has no recipient.
    let scrubbed: Uuid = sqlx::query_scalar(
        "select delivery_id from deliveries where user_id = $1 and failed_at is not null",
    )
    .bind(ada)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let (_, admin) = app.admin_token();
    let response = app
        .send(
            Method::POST,
            &format!("/api/v1/admin/notifications/{scrubbed}/retry"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body = problem(response).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("deleted"),
        "{body}"
    );
    // Their own views are empty (an access token outlives the account a while).
    let devices = app.get_json("/api/v1/push-subscriptions", &ada_token).await;
    assert_eq!(devices, json!({"items": []}));
    let history = app.get_json("/api/v1/notifications", &ada_token).await;
    assert!(!history.to_string().contains("Ada"), "{history}");
    // Somebody else's data is untouched.
    assert_eq!(held(&app, bob).await, (1, 2, 3, 3, 1));
}

#[tokio::test]
async fn a_redelivered_deletion_is_harmless_and_later_events_about_the_account_are_refused() {
    let app = spawn_app().await;
    let (ada, ada_token) = user_with_history(&app, "ada@example.com").await;
    let event = user_deleted(ada);
    // Concurrent first deliveries and a later redelivery: all 204.
    let answers = futures::future::join_all((0..10).map(|_| report(&app, &event))).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::NO_CONTENT));
    assert_eq!(app.count("erased_users").await, 1);
    let after_first = held(&app, ada).await;
    assert_eq!(after_first, (0, 0, 0, 0, 0));

    // The access token still works for a few minutes: what it writes is
    // left alone by a redelivery, and swept by the erasure sweep.
    let response = app
        .send(
            Method::POST,
            "/api/v1/push-subscriptions",
            Some(&ada_token),
            Some(&json!({"platform": "web", "token": "late-device"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = report(&app, &event).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.count("erased_users").await, 1);
    assert_eq!(
        held(&app, ada).await,
        (0, 1, 0, 0, 0),
        "a redelivery changes nothing"
    );
    let touched = notification_service::features::erasure::service::reapply_recent(
        &app.pool,
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    assert_eq!(touched, 1);
    assert_eq!(held(&app, ada).await, (0, 0, 0, 0, 0));

    // A producer's event about the erased account stores and sends nothing.
    let before = app.count("deliveries").await;
    let response = app.notify(&order_confirmed(ada)).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["errors"][0]["field"], "user_id");
    let response = app.notify(&welcome(ada, "ada@example.com")).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("deliveries").await, before);
}

#[tokio::test]
async fn an_account_erased_while_its_event_is_being_addressed_gets_nothing() {
    let app = spawn_app().await;
    let ada = app.users.add("ada@example.com", None);
    let hold = app.users.hold().await;
    // The intake is waiting for ada's contact details when her account is
    // erased; once it has them, it must not store or send anything.
    let event = order_confirmed(ada);
    let (intake, ()) = tokio::join!(app.notify(&event), async {
        eventually(Duration::from_secs(10), || async {
            !app.users.calls().is_empty()
        })
        .await;
        let response = report(&app, &user_deleted(ada)).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        drop(hold);
    });
    assert_eq!(intake.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(held(&app, ada).await, (0, 0, 0, 0, 0));
    assert_eq!(app.count("notifications").await, 0);
}

/// Sessions of this test's database waiting for a lock.
async fn lock_waiters(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "select count(*) from pg_stat_activity
         where datname = current_database() and wait_event_type = 'Lock'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_erasure_waits_for_an_intake_that_checked_the_account_before_it() {
    let app = spawn_app().await;
    let ada = app.users.add("ada@example.com", None);
    let event = order_confirmed(ada);
    let deletion = user_deleted(ada);
    // An uncommitted row with the event's id stops the intake inside its
    // insert, after it found the account not erased and before it commits.
    let mut blocker = app.pool.begin().await.unwrap();
    sqlx::query(
        "insert into notifications (notification_id, event_id, user_id, template, producer, data)
         values ($1, $2, $3, 'order_confirmed', 'test', '{}')",
    )
    .bind(Uuid::now_v7())
    .bind(Uuid::parse_str(event["event_id"].as_str().unwrap()).unwrap())
    .bind(ada)
    .execute(&mut *blocker)
    .await
    .unwrap();
    let erased = std::sync::atomic::AtomicBool::new(false);
    let (intake, erasure, ()) = tokio::join!(
        app.notify(&event),
        async {
            eventually(Duration::from_secs(10), || async {
                lock_waiters(&app).await >= 1
            })
            .await;
            let response = report(&app, &deletion).await;
            erased.store(true, std::sync::atomic::Ordering::SeqCst);
            response
        },
        async {
            eventually(Duration::from_secs(10), || async {
                lock_waiters(&app).await >= 1
            })
            .await;
            // The erasure must wait for the intake (a second waiter); one
            // that finishes now would miss what the intake is writing.
            eventually(Duration::from_secs(10), || async {
                erased.load(std::sync::atomic::Ordering::SeqCst) || lock_waiters(&app).await >= 2
            })
            .await;
            blocker.rollback().await.unwrap();
        }
    );
    assert_eq!(intake.status(), StatusCode::ACCEPTED);
    assert_eq!(erasure.status(), StatusCode::NO_CONTENT);
    assert_eq!(held(&app, ada).await, (0, 0, 0, 0, 0));
}

#[tokio::test]
async fn intakes_racing_erasures_leave_nothing_of_the_erased_accounts() {
    // 48 requests at once: enough connections that none waits out the
    // pool's acquire timeout on a loaded machine.
    let app = spawn_app_with(|s| s.database.max_connections = 50).await;
    let users: Vec<Uuid> = (0..24)
        .map(|i| app.users.add(&format!("user{i}@example.com"), None))
        .collect();
    // Each account's erasure and an event about it arrive at once; whichever
    // wins, nothing of the account is left and nothing waits to be sent.
    let app = &app;
    let races = users.iter().map(|&user| async move {
        let (event, deletion) = (order_confirmed(user), user_deleted(user));
        let (intake, erasure) = tokio::join!(app.notify(&event), report(app, &deletion));
        let (erasure_status, intake_status) = (erasure.status(), intake.status());
        assert_eq!(
            erasure_status,
            StatusCode::NO_CONTENT,
            "{:?}",
            erasure.text().await
        );
        assert!(
            [StatusCode::ACCEPTED, StatusCode::UNPROCESSABLE_ENTITY].contains(&intake_status),
            "{intake_status}: {:?}",
            intake.text().await
        );
    });
    futures::future::join_all(races).await;
    for user in users {
        assert_eq!(held(app, user).await, (0, 0, 0, 0, 0), "{user}");
    }
}

#[tokio::test]
async fn the_sweep_erases_what_was_written_after_an_erasure_by_itself() {
    let app = spawn_app_with(|s| s.erasure.sweep_interval_secs = 1).await;
    let (ada, ada_token) = user_with_history(&app, "ada@example.com").await;
    assert_eq!(
        report(&app, &user_deleted(ada)).await.status(),
        StatusCode::NO_CONTENT
    );
    let response = app
        .send(
            Method::PUT,
            "/api/v1/notification-preferences",
            Some(&ada_token),
            Some(&json!({"email": true, "sms": true, "push": true, "marketing": true})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    eventually(Duration::from_secs(10), || async {
        held(&app, ada).await == (0, 0, 0, 0, 0)
    })
    .await;
}

#[tokio::test]
async fn only_user_service_reports_deleted_accounts() {
    let app = spawn_app().await;
    let (ada, ada_token) = user_with_history(&app, "ada@example.com").await;
    let event = user_deleted(ada);
    let response = app.send(Method::POST, PATH, None, Some(&event)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .send(Method::POST, PATH, Some(&ada_token), Some(&event))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let order_service = app.order_service_token();
    let response = app
        .send(Method::POST, PATH, Some(&order_service), Some(&event))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(problem(response).await["status"], 403);
    for bad in [
        json!({"event_id": Uuid::now_v7(), "user_id": "not-a-uuid", "deleted_at": chrono::Utc::now()}),
        json!({"event_id": Uuid::now_v7(), "deleted_at": chrono::Utc::now()}),
        json!({"event_id": Uuid::now_v7(), "user_id": ada, "deleted_at": "yesterday"}),
    ] {
        let response = report(&app, &bad).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(held(&app, ada).await, (1, 2, 3, 3, 1), "nothing erased");
}

#[tokio::test]
async fn finished_deliveries_are_deleted_after_the_retention_and_pending_ones_kept() {
    let app = spawn_app_with(|s| {
        s.retention.days = 7;
        s.retention.sweep_interval_secs = 1;
    })
    .await;
    let user = app.users.add("ada@example.com", None);
    let mut ids = Vec::new();
    for _ in 0..5 {
        let body = app.notify_ok(&order_confirmed(user)).await;
        let id: Uuid = body["deliveries"][0]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        app.wait_for_status(&id.to_string(), "sent").await;
        ids.push(id);
    }
    // Backdated: sent 8 days ago, failed 8 days ago, failed 6 days ago,
    // pending since 8 days, sent just now.
    let backdate = |sql: &'static str, id: Uuid| {
        let pool = app.pool.clone();
        async move {
            sqlx::query(sql).bind(id).execute(&pool).await.unwrap();
        }
    };
    backdate(
        "update deliveries set sent_at = now() - interval '8 days' where delivery_id = $1",
        ids[0],
    )
    .await;
    backdate(
        "update deliveries set status = 'failed', sent_at = null,
                failed_at = now() - interval '8 days', last_error = 'mailbox full'
         where delivery_id = $1",
        ids[1],
    )
    .await;
    backdate(
        "update deliveries set status = 'failed', sent_at = null,
                failed_at = now() - interval '6 days', last_error = 'mailbox full'
         where delivery_id = $1",
        ids[2],
    )
    .await;
    backdate(
        "update deliveries set status = 'pending', sent_at = null,
                created_at = now() - interval '8 days', next_attempt_at = now() + interval '1 hour'
         where delivery_id = $1",
        ids[3],
    )
    .await;
    sqlx::query("update notifications set created_at = now() - interval '9 days'")
        .execute(&app.pool)
        .await
        .unwrap();
    // A notification with no delivery at all (no channel left), 9 days old.
    let (silent, _) = app.user_token();
    app.send(
        Method::PUT,
        "/api/v1/notification-preferences",
        Some(&app.issuer.user_token(silent, AUDIENCE)),
        Some(&json!({"email": false, "sms": false, "push": false, "marketing": false})),
    )
    .await;
    let mut event = order_confirmed(silent);
    event["to"] = json!({"email": "silent@example.com"});
    let body = app.notify_ok(&event).await;
    assert_eq!(body["deliveries"], json!([]));
    sqlx::query(
        "update notifications set created_at = now() - interval '9 days' where user_id = $1",
    )
    .bind(silent)
    .execute(&app.pool)
    .await
    .unwrap();

    eventually(Duration::from_secs(10), || async {
        app.count("deliveries").await == 3
    })
    .await;
    let left: Vec<Uuid> =
        sqlx::query_scalar("select delivery_id from deliveries order by delivery_id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(left, vec![ids[2], ids[3], ids[4]]);
    assert_eq!(
        app.count("notifications").await,
        3,
        "a notification goes with its last delivery"
    );
    let silent_left: i64 =
        sqlx::query_scalar("select count(*) from notifications where user_id = $1")
            .bind(silent)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(silent_left, 0);
}
