//! user-service as a consumer: what its outbox relay sends to
//! notification-service matches the copy of notification-service's OpenAPI
//! document pinned in `contracts/` (kept equal to the committed one by
//! `cargo xtask test`). A breaking change to the intake fails here.

use service_kit::outbox::Notification;
use service_kit::testing::contract::Provider;

#[test]
fn notification_intake_accepts_what_the_outbox_sends() {
    let notifications = Provider::load("contracts/notification-service.openapi.json");
    notifications.assert_request::<Notification>("POST", service_kit::outbox::NOTIFICATIONS_PATH);
    notifications.assert_status("POST", service_kit::outbox::NOTIFICATIONS_PATH, 202);
}
