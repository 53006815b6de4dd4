//! order-service as a consumer: what it sends to and reads from
//! catalog-service matches catalog's committed OpenAPI document. A breaking
//! change there fails here.

use order_service::catalog::{ProductPage, Reservation, ReserveRequest, RestockRequest, ShortBody};
use service_kit::testing::contract::Provider;

const RESERVATIONS: &str = "/internal/v1/reservations";

#[test]
fn catalog_accepts_the_reservations_order_service_sends_and_answers_what_it_reads() {
    let catalog = Provider::load("../catalog-service/openapi.json");
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
    let catalog = Provider::load("../catalog-service/openapi.json");
    catalog.assert_response::<ProductPage>("GET", "/api/v1/products", 200);
}

#[test]
fn notification_intake_accepts_what_the_outbox_sends() {
    // A file read of notification-service's committed document, no crate
    // dependency on it.
    let notifications = Provider::load("../notification-service/openapi.json");
    notifications.assert_request::<service_kit::outbox::Notification>(
        "POST",
        service_kit::outbox::NOTIFICATIONS_PATH,
    );
    notifications.assert_status("POST", service_kit::outbox::NOTIFICATIONS_PATH, 202);
}

/// The order events order-service writes are data notification-service
/// accepts and renders, breakdown included (a renamed or mistyped field
/// fails here, not in production's retry queue).
#[test]
fn notification_service_accepts_and_renders_the_order_events_with_their_breakdown() {
    use notification_service::templates::{TemplateName, Templates, check_data};
    use order_service::features::orders::events::{self, Summary};
    use order_service::features::orders::models::OrderItem;
    use uuid::Uuid;

    let summary = || Summary {
        order_id: Uuid::now_v7(),
        user_id: Uuid::now_v7(),
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
        product_id: Uuid::now_v7(),
        name: "Lamp".into(),
        unit_price_cents: 2_500,
        quantity: 2,
        line_total_cents: 5_000,
    }];
    let templates = Templates::load("http://localhost:5173").expect("templates load");
    let without_extras = Summary {
        discount_code: None,
        shipping_method: None,
        discount_cents: 0,
        shipping_cents: 0,
        tax_cents: 0,
        total_cents: 5_000,
        ..summary()
    };
    for (event, shows) in [
        (
            events::order_confirmed(summary(), &items),
            vec![
                "Discount (TEN): -5.00 EUR",
                "Shipping (Standard): 4.90 EUR",
                "Tax: 9.98 EUR",
                "Total: 59.88 EUR",
            ],
        ),
        (
            events::order_cancelled(summary(), 5_988),
            vec!["Discount (TEN): -5.00 EUR", "Tax: 9.98 EUR", "59.88 EUR"],
        ),
        (events::payment_failed(summary()), vec!["59.88 EUR"]),
        (
            events::order_confirmed(without_extras, &items),
            vec!["Total: 50.00 EUR"],
        ),
    ] {
        let template = TemplateName::parse(&event.template).expect("a known template");
        let errors = check_data(template, &event.data);
        assert!(errors.is_empty(), "{}: {errors:?}", event.template);
        let rendered = templates.render(template, &event.data).expect("renders");
        for line in shows {
            assert!(rendered.text.contains(line), "{line} in {}", rendered.text);
        }
    }
}
