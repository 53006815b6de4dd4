//! order-service as a consumer: what it sends to and reads from
//! catalog-service and notification-service matches the copies of their
//! OpenAPI documents pinned in `contracts/` (kept equal to the providers'
//! committed documents by `cargo xtask test`; `cargo xtask contracts update`
//! refreshes them). A breaking change there fails here.

use order_service::catalog::{ProductPage, Reservation, ReserveRequest, RestockRequest, ShortBody};
use service_kit::testing::contract::Provider;

const RESERVATIONS: &str = "/internal/v1/reservations";

#[test]
fn catalog_accepts_the_reservations_order_service_sends_and_answers_what_it_reads() {
    let catalog = Provider::load("contracts/catalog-service.openapi.json");
    catalog.assert_request::<ReserveRequest<'static>>("POST", RESERVATIONS);
    catalog.assert_response::<Reservation>("POST", RESERVATIONS, 201);
    catalog.assert_response::<ShortBody>("POST", RESERVATIONS, 409);
    for action in ["commit", "release"] {
        let path = format!("{RESERVATIONS}/{{id}}/{action}");
        for status in [200, 404, 409] {
            catalog.assert_status("POST", &path, status);
        }
    }
    catalog.assert_request::<RestockRequest<'static>>("POST", "/internal/v1/restock");
    catalog.assert_status("POST", "/internal/v1/restock", 200);
}

#[test]
fn the_catalogs_batch_lookup_answers_what_the_cart_reads() {
    let catalog = Provider::load("contracts/catalog-service.openapi.json");
    catalog.assert_response::<ProductPage>("GET", "/api/v1/products", 200);
}

#[test]
fn notification_intake_accepts_what_the_outbox_sends() {
    let notifications = Provider::load("contracts/notification-service.openapi.json");
    notifications.assert_request::<service_kit::outbox::Notification>(
        "POST",
        service_kit::outbox::NOTIFICATIONS_PATH,
    );
    notifications.assert_status("POST", service_kit::outbox::NOTIFICATIONS_PATH, 202);
}

/// The order events order-service writes, as published in its committed
/// `events.json` (with the lines each rendering must show). notification-
/// service pins that document (`contracts/order-service.events.json`) and
/// renders every example with its real templates (its `contract.rs`), so a
/// renamed or mistyped field fails there, not in production's retry queue;
/// `cargo xtask test` fails while the pin differs from this document.
/// Regenerate after a deliberate change: `UPDATE_EVENTS=1 cargo test -p
/// order-service --test api contracts`.
#[test]
fn the_order_events_are_the_published_examples() {
    use order_service::features::orders::events::{self, Summary};
    use order_service::features::orders::models::OrderItem;
    use uuid::Uuid;

    let order_id = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
    let user_id = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002);
    let summary = || Summary {
        order_id,
        user_id,
        subtotal_cents: 5_000,
        discount_cents: 500,
        shipping_cents: 490,
        tax_cents: 998,
        total_cents: 5_988,
        currency: "EUR",
        discount_code: Some("TEN"),
        shipping_method: Some("Standard"),
    };
    let items = [OrderItem {
        product_id: Uuid::from_u128(3),
        name: "Lamp".into(),
        unit_price_cents: 2_500,
        quantity: 2,
        line_total_cents: 5_000,
    }];
    let without_extras = Summary {
        discount_code: None,
        shipping_method: None,
        discount_cents: 0,
        shipping_cents: 0,
        tax_cents: 0,
        total_cents: 5_000,
        ..summary()
    };
    let examples: Vec<serde_json::Value> = [
        (
            "order_confirmed with discount, shipping and tax",
            events::order_confirmed(summary(), &items),
            vec![
                "Discount (TEN): -5.00 EUR",
                "Shipping (Standard): 4.90 EUR",
                "Tax: 9.98 EUR",
                "Total: 59.88 EUR",
            ],
        ),
        (
            "order_cancelled with its breakdown",
            events::order_cancelled(summary(), 5_988),
            vec!["Discount (TEN): -5.00 EUR", "Tax: 9.98 EUR", "59.88 EUR"],
        ),
        (
            "payment_failed",
            events::payment_failed(summary()),
            vec!["59.88 EUR"],
        ),
        (
            "order_confirmed without extras",
            events::order_confirmed(without_extras, &items),
            vec!["Total: 50.00 EUR"],
        ),
    ]
    .into_iter()
    .map(|(name, event, shows)| {
        serde_json::json!({"example": name, "template": event.template, "data": event.data,
                           "shows": shows})
    })
    .collect();
    let document = serde_json::json!({
        "description": "The notifications order-service sends to notification-service's \
            intake (template and data), one example each with the lines its rendering shows. \
            Written by order-service's contract test; pinned by notification-service.",
        "examples": examples,
    });
    let text = serde_json::to_string_pretty(&document).expect("json") + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/events.json");
    if std::env::var_os("UPDATE_EVENTS").is_some() {
        std::fs::write(path, &text).expect("writing events.json");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == text,
        "order-service/events.json is not what order-service sends; review and regenerate \
         with `UPDATE_EVENTS=1 cargo test -p order-service --test api contracts`, then \
         `cargo xtask contracts update`.\nNow:\n{text}"
    );
}

/// The fake catalog-service the other tests run against answers every
/// operation order-service uses, with every status order-service handles,
/// only as the pinned document allows (it validates each request and answer
/// itself; here each path is taken once), and keeps catalog's stock rules.
#[tokio::test]
async fn the_fake_catalog_answers_only_what_the_pinned_document_allows() {
    use crate::helpers::{FakeCatalog, TestIssuer};
    use serde_json::json;
    use uuid::Uuid;

    let issuer = TestIssuer::start().await;
    let catalog = FakeCatalog::start(&issuer).await;
    let http = reqwest::Client::new();
    let token = issuer.service_token("order-service", "catalog-service");
    let category = Uuid::new_v4().to_string();
    let lamp = catalog.add_product("Lamp", 2_500, 3, &category);
    let gone = catalog.add_product("Gone", 100, 3, &category);
    catalog.delete_product(&gone);
    let url = |path: &str| format!("{}{path}", catalog.url);
    let post = |path: &str, token: Option<&str>, body: serde_json::Value| {
        let mut request = http.post(url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    let page: serde_json::Value = http
        .get(url(&format!(
            "/api/v1/products?ids={lamp},{gone},{}&limit=100",
            Uuid::new_v4()
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");

    let id = Uuid::now_v7();
    let body = json!({"reservation_id": id, "items": [{"product_id": lamp, "quantity": 2}],
                      "ttl_seconds": 60});
    assert_eq!(
        post(RESERVATIONS, None, body.clone())
            .await
            .unwrap()
            .status(),
        401
    );
    let customer = issuer.user_token(Uuid::new_v4(), "catalog-service");
    assert_eq!(
        post(RESERVATIONS, Some(&customer), body.clone())
            .await
            .unwrap()
            .status(),
        403
    );
    for _ in 0..2 {
        let reserved = post(RESERVATIONS, Some(&token), body.clone())
            .await
            .unwrap();
        assert_eq!(reserved.status(), 201, "reserved, then replayed");
    }
    assert_eq!(catalog.inventory(&lamp)["reserved"], 2);
    let short = post(
        RESERVATIONS,
        Some(&token),
        json!({"reservation_id": Uuid::now_v7(), "items": [
            {"product_id": lamp, "quantity": 2}, {"product_id": gone, "quantity": 1}]}),
    )
    .await
    .unwrap();
    assert_eq!(short.status(), 409);
    let short: serde_json::Value = short.json().await.unwrap();
    assert_eq!(
        short["short_items"][0]["reason"], "insufficient_stock",
        "{short}"
    );
    assert_eq!(short["short_items"][1]["reason"], "not_sellable", "{short}");

    let settle = |id: Uuid, action: &str| format!("{RESERVATIONS}/{id}/{action}");
    for _ in 0..2 {
        let status = post(&settle(id, "commit"), Some(&token), json!(null))
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "committed, then again");
    }
    assert_eq!(
        post(&settle(id, "release"), Some(&token), json!(null))
            .await
            .unwrap()
            .status(),
        409
    );
    let unknown = Uuid::now_v7();
    for action in ["commit", "release"] {
        let status = post(&settle(unknown, action), Some(&token), json!(null))
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404);
    }
    assert_eq!(
        catalog.inventory(&lamp),
        json!({"product_id": lamp, "on_hand": 1, "reserved": 0, "available": 1})
    );

    let other = Uuid::now_v7();
    let body = json!({"reservation_id": other, "items": [{"product_id": lamp, "quantity": 1}]});
    assert_eq!(
        post(RESERVATIONS, Some(&token), body)
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        post(&settle(other, "release"), Some(&token), json!(null))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        post(&settle(other, "commit"), Some(&token), json!(null))
            .await
            .unwrap()
            .status(),
        409
    );

    let restock = json!({"reference_id": id, "items": [{"product_id": lamp, "quantity": 2}]});
    for _ in 0..2 {
        let status = post("/internal/v1/restock", Some(&token), restock.clone())
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "restocked once, then replayed");
    }
    assert_eq!(catalog.inventory(&lamp)["on_hand"], 3);
    assert!(
        catalog.violations().is_empty(),
        "{:?}",
        catalog.violations()
    );

    // The validation the fake relies on catches a drifted answer or request.
    let pinned = Provider::load(crate::fake_catalog::CONTRACT);
    let drifted = json!({"reservation_id": id, "status": "held", "expires_at": "soon",
                         "items": [{"product_id": lamp, "quantity": "2"}]});
    let errors = pinned.validate_response("POST", RESERVATIONS, 201, &drifted);
    assert!(errors.len() >= 4, "{errors:?}");
    let errors = pinned.validate_request(
        "POST",
        RESERVATIONS,
        &json!({"reservation_id": id, "items": [], "hold_for": 5}),
    );
    assert!(errors.iter().any(|e| e.contains("hold_for")), "{errors:?}");
}
