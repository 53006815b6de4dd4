//! No session survives what should end it, even while it is being
//! refreshed: password reset, password change, logout, reuse detection and
//! account deletion each race refresh chains that spin as fast as they can.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::helpers::{
    PASSWORD, Session, TestApp, login_ok, new_user, post, reset_token_for, send, spawn_app,
};

/// How a refresh chain ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// Its token was refused (401): the session is over.
    Revoked,
    /// Still refreshing when the test stopped it: the session survived.
    Survived,
    /// Any other answer.
    Failed(u16),
}

/// Refresh chains: each refreshes its family's newest token in a loop.
struct Chains {
    tasks: Vec<tokio::task::JoinHandle<End>>,
    stop: Arc<AtomicBool>,
    refreshes: Arc<AtomicUsize>,
}

impl Chains {
    fn spin(app: &TestApp, tokens: Vec<String>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let refreshes = Arc::new(AtomicUsize::new(0));
        let tasks = tokens
            .into_iter()
            .map(|mut token| {
                let (http, url) = (app.http.clone(), app.url("/api/v1/auth/refresh"));
                let (stop, refreshes) = (Arc::clone(&stop), Arc::clone(&refreshes));
                tokio::spawn(async move {
                    loop {
                        if stop.load(Ordering::SeqCst) {
                            return End::Survived;
                        }
                        let response = http
                            .post(&url)
                            .json(&json!({"refresh_token": token}))
                            .send()
                            .await
                            .expect("request sent");
                        match response.status() {
                            StatusCode::OK => {
                                let body: Value = response.json().await.expect("JSON");
                                token = body["refresh_token"].as_str().expect("token").to_owned();
                                refreshes.fetch_add(1, Ordering::SeqCst);
                            }
                            StatusCode::UNAUTHORIZED => return End::Revoked,
                            other => return End::Failed(other.as_u16()),
                        }
                    }
                })
            })
            .collect();
        Self {
            tasks,
            stop,
            refreshes,
        }
    }

    /// Waits until the chains refreshed `n` times in all: they are spinning.
    async fn spinning(&self, n: usize) {
        for _ in 0..500 {
            if self.refreshes.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the chains do not refresh");
    }

    /// How each chain ended, once the revoking action has returned: a chain
    /// still refreshing after two seconds survived it.
    async fn ends(self) -> Vec<End> {
        for _ in 0..200 {
            if self.tasks.iter().all(|t| t.is_finished()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.stop.store(true, Ordering::SeqCst);
        let mut ends = Vec::new();
        for task in self.tasks {
            ends.push(task.await.expect("chain task"));
        }
        ends
    }
}

/// `n` more logins of the session's account: `n` more families.
async fn families(app: &TestApp, session: &Session, n: usize) -> Vec<String> {
    let mut tokens = Vec::new();
    for _ in 0..n {
        let tokens_body = login_ok(app, &session.email, &session.password).await;
        tokens.push(tokens_body["refresh_token"].as_str().unwrap().to_owned());
    }
    tokens
}

const CHAINS: usize = 6;
const ROUNDS: usize = 3;

fn assert_all_revoked(ends: &[End], what: &str) {
    assert!(
        ends.iter().all(|e| *e == End::Revoked),
        "after {what}, every chain must be refused: {ends:?}"
    );
}

#[tokio::test]
async fn a_password_reset_ends_every_session_even_while_refreshing() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    for round in 0..ROUNDS {
        let chains = Chains::spin(&app, families(&app, &session, CHAINS).await);
        let requested = post(
            &app,
            "/api/v1/auth/password-reset",
            None,
            &json!({"email": session.email}),
        )
        .await;
        assert_eq!(requested.status(), StatusCode::ACCEPTED);
        let token = reset_token_for(&app, &session.email).await;
        chains.spinning(CHAINS * 3).await;
        let confirmed = post(
            &app,
            "/api/v1/auth/password-reset/confirm",
            None,
            &json!({"token": token, "new_password": PASSWORD}),
        )
        .await;
        assert_eq!(confirmed.status(), StatusCode::NO_CONTENT);
        assert_all_revoked(&chains.ends().await, &format!("reset {round}"));
    }
}

#[tokio::test]
async fn a_password_change_ends_every_session_even_while_refreshing() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    for round in 0..ROUNDS {
        let chains = Chains::spin(&app, families(&app, &session, CHAINS).await);
        chains.spinning(CHAINS * 3).await;
        let changed = post(
            &app,
            "/api/v1/auth/password",
            Some(&session.access_token),
            &json!({"current_password": PASSWORD, "new_password": PASSWORD}),
        )
        .await;
        assert_eq!(changed.status(), StatusCode::NO_CONTENT);
        assert_all_revoked(&chains.ends().await, &format!("change {round}"));
    }
}

#[tokio::test]
async fn logout_ends_its_family_even_while_it_is_refreshing() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    for round in 0..ROUNDS {
        let first_tokens = families(&app, &session, CHAINS).await;
        let chains = Chains::spin(&app, first_tokens.clone());
        chains.spinning(CHAINS * 3).await;
        // Any token of a family names it, the long-rotated first one too.
        let (app_ref, access) = (&app, session.access_token.as_str());
        let logouts = futures::future::join_all(first_tokens.iter().map(|token| {
            let body = json!({"refresh_token": token});
            async move { post(app_ref, "/api/v1/auth/logout", Some(access), &body).await }
        }))
        .await;
        assert!(logouts.iter().all(|r| r.status() == StatusCode::NO_CONTENT));
        assert_all_revoked(&chains.ends().await, &format!("logout {round}"));
    }
}

#[tokio::test]
async fn a_reused_token_ends_its_family_even_while_it_is_refreshing() {
    let app = spawn_app().await;
    let session = new_user(&app).await;
    for round in 0..ROUNDS {
        let first_tokens = families(&app, &session, CHAINS).await;
        let chains = Chains::spin(&app, first_tokens.clone());
        chains.spinning(CHAINS * 3).await;
        // The first token of each family was rotated long ago: presenting
        // it again means it leaked.
        let app_ref = &app;
        let reuses = futures::future::join_all(first_tokens.iter().map(|token| {
            let body = json!({"refresh_token": token});
            async move { post(app_ref, "/api/v1/auth/refresh", None, &body).await }
        }))
        .await;
        assert!(
            reuses
                .iter()
                .all(|r| r.status() == StatusCode::UNAUTHORIZED)
        );
        assert_all_revoked(&chains.ends().await, &format!("reuse {round}"));
    }
}

#[tokio::test]
async fn deleting_the_account_ends_every_session_even_while_refreshing() {
    let app = spawn_app().await;
    for round in 0..ROUNDS {
        let session = new_user(&app).await;
        let chains = Chains::spin(&app, families(&app, &session, CHAINS).await);
        chains.spinning(CHAINS * 3).await;
        let deleted = send(
            &app,
            Method::DELETE,
            "/api/v1/users/me",
            &session.access_token,
            None,
        )
        .await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        assert_all_revoked(&chains.ends().await, &format!("deletion {round}"));
        let left: i64 = sqlx::query_scalar("select count(*) from refresh_tokens")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(left, 0, "no token of the deleted account is left");
    }
}
