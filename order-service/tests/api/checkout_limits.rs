//! Checkout cannot be used for card testing or mail flooding: attempts per
//! address and per user, declines per user (429 with Retry-After), exact
//! under concurrency and shared by replicas.

use futures::future::join_all;
use reqwest::StatusCode;
use std::collections::BTreeMap;

use crate::helpers::{Fleet, FleetOptions, checkout_body, problem, spawn_fleet_with};

fn tally(statuses: impl IntoIterator<Item = StatusCode>) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for status in statuses {
        *counts.entry(status.as_u16()).or_insert(0) += 1;
    }
    counts
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// `payment_failed` events written to order-service's outbox (each one a
/// mail, and an SMS, to the customer).
async fn payment_failed_events(fleet: &Fleet) -> i64 {
    sqlx::query_scalar("select count(*) from outbox where payload->>'template' = 'payment_failed'")
        .fetch_one(&fleet.order.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn thirty_concurrent_declined_checkouts_decline_no_more_often_than_the_limit() {
    let fleet = spawn_fleet_with(
        FleetOptions {
            big_pools: true,
            ..Default::default()
        },
        |s, _| s.checkout_limits.declines_per_user = 3,
    )
    .await;
    let lamp = fleet.product("Lamp", 1_000, 100).await;
    let mallory = fleet.customer();
    assert_eq!(
        fleet.add_to_cart(&mallory, &lamp, 1).await.status(),
        StatusCode::OK
    );
    let keys: Vec<String> = (0..30).map(|i| format!("card-test-{i}")).collect();
    let responses = join_all(
        keys.iter()
            .map(|key| fleet.checkout_with_key(&mallory, "tok_declined", key)),
    )
    .await;
    let statuses = tally(responses.iter().map(|r| r.status()));
    assert_eq!(
        statuses,
        [(402, 3), (429, 27)].into_iter().collect(),
        "each decline is counted before the attempt runs"
    );
    assert_eq!(fleet.count_orders("payment_failed").await, 3);
    assert_eq!(
        payment_failed_events(&fleet).await,
        3,
        "three mails at most"
    );
    for response in responses {
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let wait = retry_after(&response);
            assert!((3500..=3600).contains(&wait), "{wait}");
            problem(response).await;
        }
    }
}

#[tokio::test]
async fn after_the_declines_of_the_hour_even_a_good_card_waits_and_replays_are_not_declines() {
    let fleet = spawn_fleet_with(FleetOptions::default(), |s, _| {
        s.checkout_limits.declines_per_user = 2;
    })
    .await;
    let lamp = fleet.product("Lamp", 1_000, 100).await;
    let ada = fleet.customer();
    // Successful checkouts take their provisional decline back.
    for _ in 0..4 {
        assert_eq!(
            fleet.buy(&ada, &lamp, 1, "tok_visa").await.status(),
            StatusCode::CREATED
        );
    }
    fleet.add_to_cart(&ada, &lamp, 1).await;
    let first = fleet.checkout_with_key(&ada, "tok_declined", "d-1").await;
    assert_eq!(first.status(), StatusCode::PAYMENT_REQUIRED);
    // The replay of a decline is not another decline.
    let replay = fleet.checkout_with_key(&ada, "tok_declined", "d-1").await;
    assert_eq!(replay.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let second = fleet.checkout_with_key(&ada, "tok_declined", "d-2").await;
    assert_eq!(second.status(), StatusCode::PAYMENT_REQUIRED);
    let blocked = fleet.checkout(&ada, "tok_visa").await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&blocked) > 3000);
    assert_eq!(payment_failed_events(&fleet).await, 2);
    // Another customer is not affected.
    let bob = fleet.customer();
    assert_eq!(
        fleet.buy(&bob, &lamp, 1, "tok_visa").await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn checkout_attempts_are_limited_per_user() {
    let fleet = spawn_fleet_with(FleetOptions::default(), |s, _| {
        s.checkout_limits.attempts_per_user = 3;
    })
    .await;
    let (ada, bob) = (fleet.customer(), fleet.customer());
    // Empty carts: every attempt is a cheap 422, and still an attempt.
    for _ in 0..3 {
        assert_eq!(
            fleet.checkout(&ada, "tok_visa").await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    let response = fleet.checkout(&ada, "tok_visa").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&response) > 3000);
    problem(response).await;
    assert_eq!(
        fleet.checkout(&bob, "tok_visa").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn checkout_attempts_are_limited_per_client_address() {
    let fleet = spawn_fleet_with(FleetOptions::default(), |s, _| {
        s.checkout_limits.attempts_per_address_per_minute = 2;
        s.checkout_limits.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let attempt = |from: &'static str| {
        let customer = fleet.customer();
        let request = fleet
            .order
            .http
            .post(fleet.order.url("/api/v1/checkout"))
            .bearer_auth(customer.token)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .header("x-forwarded-for", from)
            .json(&checkout_body("tok_visa"));
        async move { request.send().await.unwrap() }
    };
    assert_eq!(
        attempt("2001:db8:5::1").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        attempt("2001:db8:5::2").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let response = attempt("2001:db8:5::3").await;
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "new accounts from one /64 share its allowance"
    );
    assert!(retry_after(&response) >= 1);
    assert_eq!(
        attempt("198.51.100.4").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn replicas_share_the_per_user_counts() {
    let replicas = service_kit::testing::spawn_replicas::<order_service::Application>(2, |s| {
        s.checkout_limits.attempts_per_user = 4;
    })
    .await;
    let (_, token) = replicas[0].user_token();
    let mut statuses = Vec::new();
    for i in 0..8 {
        let replica = &replicas[i % 2];
        let response = replica
            .http
            .post(replica.url("/api/v1/checkout"))
            .bearer_auth(&token)
            .header("idempotency-key", format!("k-{i}"))
            .json(&checkout_body("tok_visa"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
    }
    assert_eq!(
        tally(statuses),
        [(422, 4), (429, 4)].into_iter().collect(),
        "four attempts in all, whichever replica counted them"
    );
}
