//! A flood of logins (argon2 on every request) must not starve the runtime:
//! `/health` keeps answering quickly meanwhile.

use reqwest::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::helpers::{PASSWORD, login, new_user, spawn_app};

/// Concurrent login loops.
const FLOODERS: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_does_not_starve_health_checks() {
    let app = Arc::new(spawn_app().await);
    let user = new_user(&app).await;

    let stop = Arc::new(AtomicBool::new(false));
    let logins = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for _ in 0..FLOODERS {
        let (app, stop, logins, email) = (
            Arc::clone(&app),
            Arc::clone(&stop),
            Arc::clone(&logins),
            user.email.clone(),
        );
        flood.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let status = login(&app, &email, PASSWORD).await.status();
                assert_eq!(status, StatusCode::OK);
                logins.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Let the flood build up, then probe /health for three seconds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let probe = reqwest::Client::new();
    let mut latencies = Vec::new();
    let started = Instant::now();
    let logins_before = logins.load(Ordering::Relaxed);
    while started.elapsed() < Duration::from_secs(3) {
        let sent = Instant::now();
        let status = probe.get(app.url("/health")).send().await.unwrap().status();
        latencies.push(sent.elapsed());
        assert_eq!(status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logins_during = logins.load(Ordering::Relaxed) - logins_before;
    stop.store(true, Ordering::Relaxed);
    for task in flood {
        task.await.unwrap();
    }

    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let (p50, p99, max) = (pick(0.5), pick(0.99), *latencies.last().unwrap());
    eprintln!(
        "login flood: {FLOODERS} concurrent clients, {logins_during} logins in 3 s; \
         /health over {} probes: p50 {p50:?}, p99 {p99:?}, max {max:?}",
        latencies.len()
    );
    assert!(
        logins_during >= 10,
        "the flood was running: {logins_during} logins"
    );
    // Hashing on the runtime's workers would put whole argon2 runs (tens of
    // milliseconds each, 32 queued) in front of every probe.
    assert!(p50 < Duration::from_millis(50), "p50 {p50:?}");
    assert!(p99 < Duration::from_millis(500), "p99 {p99:?}");
}
