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
